"""Figures of a director's pool from a timeline: the checker's decisions against what the
client saw."""

from __future__ import annotations

from pytest_halab.poolmeasures import (
    measure_pool_change,
    pool_has,
    probes_complete,
    server_ip,
    traffic_split,
)
from pytest_halab.timeline import Event, Timeline

RS1, RS2 = "[10.0.0.20]:tcp:80", "[10.0.0.30]:tcp:80"


def pool(ts: float, node: str, *dests: tuple[str, int]) -> Event:
    return Event(
        ts,
        node,
        "checker",
        {
            "event": "pool",
            "vs": "[10.0.0.3]:tcp:80",
            "destinations": [{"rs": rs, "weight": w} for rs, w in dests],
        },
    )


def rs_state(ts: float, node: str, rs: str, up: bool) -> Event:
    return Event(ts, node, "checker", {"event": "rs_state", "rs": rs, "up": up})


def probe(ts: float, ok: bool, body: str | None = None, status: int | None = None) -> Event:
    return Event(ts, "client", "probe", {"vip": "VI_1", "ok": ok, "body": body, "status": status})


def test_names_and_pools() -> None:
    assert server_ip(RS1) == "10.0.0.20"
    assert server_ip("[fd00::20]:tcp:80") == "fd00::20"
    ev = pool(1.0, "lvs1", (RS1, 2), (RS2, 0))
    assert pool_has(ev, "10.0.0.20") and not pool_has(ev, "10.0.0.30")


def test_removal_counts_from_the_fault_to_the_pool_without_the_server() -> None:
    tl = Timeline(
        [
            pool(99.0, "lvs1", (RS1, 2), (RS2, 1)),
            probe(100.1, True, "2222", 200),
            probe(100.2, False, None, None),  # refused by the dead server
            probe(100.3, False, "oops", 500),
            rs_state(102.5, "lvs1", RS1, False),
            pool(102.5004, "lvs2", (RS2, 1)),  # the other director's: not ours
            pool(102.501, "lvs1", (RS2, 1)),
            probe(102.6, True, "2222", 200),
        ]
    )
    m = measure_pool_change(
        tl,
        vip="VI_1",
        server="web1",
        server_ip="10.0.0.20",
        fault_at=100.0,
        director="lvs1",
        bound_s=3.0,
    )
    assert m.happened and m.director == "lvs1"
    assert m.decided_s == 2.5 and m.applied_s == 2.501
    assert (m.requests, m.failed_requests, m.bad_answers) == (3, 2, 1)
    assert m.over_bound_s == -0.499
    assert "web1 removed from lvs1's pool for VI_1 after 2.501 s" in m.summary()


def test_a_change_that_never_came_is_said() -> None:
    tl = Timeline([pool(99.0, "lvs1", (RS1, 2)), probe(100.5, False)])
    m = measure_pool_change(tl, vip="VI_1", server="web1", server_ip="10.0.0.20", fault_at=100.0)
    assert not m.happened and m.applied_s is None and m.failed_requests == 1
    assert "was not removed from the pool" in m.summary()


def test_readding_and_weight_zero() -> None:
    tl = Timeline(
        [
            pool(101.0, "lvs1", (RS1, 0), (RS2, 1)),  # inhibit_on_failure: weight 0, out
            rs_state(104.0, "lvs1", RS1, True),
            pool(104.001, "lvs1", (RS1, 2), (RS2, 1)),
        ]
    )
    m = measure_pool_change(
        tl, vip="VI_1", server="web1", server_ip="10.0.0.20", fault_at=103.0, removed=False
    )
    assert m.applied_s == 1.001 and m.decided_s == 1.0 and m.director == "lvs1"
    assert "added back to lvs1's pool" in m.summary()


def test_traffic_split_counts_successful_answers_per_body() -> None:
    tl = Timeline(
        [
            probe(1, True, "1111"),
            probe(2, True, "1111"),
            probe(3, True, "2222"),
            probe(4, False, "1111", 500),
        ]
    )
    assert traffic_split(tl, "VI_1") == {"1111": 2, "2222": 1}
    assert traffic_split(tl, "VI_1", 2.5, None) == {"2222": 1}


def started(ts: float, seq: int, vip: str = "VI_1") -> Event:
    return Event(ts, "client", "probe", {"vip": vip, "seq": seq, "ok": True, "body": "1111"})


def test_a_window_is_complete_once_no_request_started_in_it_is_still_running() -> None:
    # requests start every 20 ms; their lines come as each ends
    lines = [started(1.00, 0), started(1.02, 1), started(1.06, 3), started(1.08, 4)]
    # seq 2 (started at 1.04) has not ended: the window 1.01-1.07 is not complete
    assert not probes_complete(Timeline(lines), "VI_1", 1.01, 1.07)
    # nor when nothing that started after its end has ended yet
    assert not probes_complete(Timeline(lines), "VI_1", 1.01, 1.09)
    done = Timeline([*lines, started(1.04, 2)])
    assert probes_complete(done, "VI_1", 1.01, 1.07)
    # the window's first request missing counts as well; one started before the window
    # still running does not, once a later one before the window ended (where it starts)
    assert not probes_complete(Timeline([*lines[2:], started(1.04, 2)]), "VI_1", 1.01, 1.07)
    early = [started(0.98, 0), started(1.00, 1), started(1.02, 2), started(1.04, 3)]
    assert probes_complete(Timeline([*early[1:], started(1.06, 4)]), "VI_1", 1.01, 1.05)
    # another VIP's probe says nothing of this one's
    assert not probes_complete(
        Timeline([started(1.0, 0, "VI_2"), started(1.1, 1, "VI_2")]), "VI_1", None, 1.05
    )

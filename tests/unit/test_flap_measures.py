"""Link-flap figures (flapmeasures.measure_flaps) on synthetic timelines with exact timestamps."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_halab.flapmeasures import FLAP_FAULT, LINK_DOWN, LINK_UP, VipMove, measure_flaps
from pytest_halab.measures import MeasureContext, VipInfo
from pytest_halab.timeline import Event, Timeline

T0_US = 1_700_000_000_000_000
VIP1 = "10.213.5.3"
VIPS = {"VI_1": VIP1}
CTX = MeasureContext(vips={"VI_1": VipInfo(VIP1)}, initial_holders={"VI_1": frozenset({"lb1"})})
NOTE_LAG_MS = 80.0  # the fault reads the node's log a poll later than each transition


def at(ms: float) -> float:
    """The flap fault is injected at at(0); times are milliseconds relative to it."""
    return (T0_US + round(ms * 1000)) / 1_000_000


def ev(ms: float, node: str, kind: str, /, **data: Any) -> Event:
    return Event(at(ms), node, kind, data)


def added(ms: float, node: str) -> Event:
    return ev(ms, node, "vip_added", addr=VIP1, dev="eth0")


def removed(ms: float, node: str) -> Event:
    return ev(ms, node, "vip_removed", addr=VIP1, dev="eth0")


def fault(ms: float, phase: str, name: str = FLAP_FAULT, **data: Any) -> Event:
    return ev(ms, "lab", "fault", name=name, phase=phase, target="lb1", detail="eth0", **data)


def flap(n: int, down_ms: float, up_ms: float | None, target: str = "lb1") -> list[Event]:
    """One flap's two transitions as Faults.flap_link notes them: timed by ``at`` (the
    node's clock), noted a little later."""
    out = [
        ev(down_ms + NOTE_LAG_MS, "lab", "fault", name=FLAP_FAULT, phase=LINK_DOWN,
           target=target, flap=n, at=at(down_ms), operstate="down"),
    ]  # fmt: skip
    if up_ms is not None:
        out.append(
            ev(up_ms + NOTE_LAG_MS, "lab", "fault", name=FLAP_FAULT, phase=LINK_UP,
               target=target, flap=n, at=at(up_ms), operstate="up")
        )  # fmt: skip
    return out


def probes(from_ms: float, to_ms: float, ok: bool = True, step: float = 20) -> list[Event]:
    out, t = [], from_ms
    while t <= to_ms:
        out.append(ev(t, "client", "probe", vip="VI_1", ok=ok))
        t += step
    return out


def timeline(*events: Event | list[Event]) -> Timeline:
    flat: list[Event] = []
    for e in events:
        flat.extend(e if isinstance(e, list) else [e])
    return Timeline(flat, vips=VIPS)


def moves(m: Any) -> list[tuple[str | None, str]]:
    return [(mv.from_node, mv.to_node) for mv in m.moves]


def test_short_flaps_that_move_nothing() -> None:
    tl = timeline(
        added(-5000, "lb1"),
        fault(0, "inject"),
        flap(1, 100, 500),
        flap(2, 1500, 1900),
        flap(3, 2900, 3300),
        fault(4400, "effective"),
        probes(-1000, 4500),
    )
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(4500))
    assert m.flaps == 3 and m.moves == () and m.moves_per_flap == 0.0
    assert m.holder_changes == 0 and m.no_holder_s == 0.0 and m.multi_holder_s == 0.0
    assert m.split_brain == ()
    assert m.holders_before == m.holders_after == {"lb1"}
    assert m.window_start == at(100) and m.window_end == at(4500)
    assert m.duration_s == 4.4
    assert [(f.flap, f.start, f.end, f.down_s) for f in m.per_flap] == [
        (1, at(100), at(1500), 0.4),
        (2, at(1500), at(2900), 0.4),
        (3, at(2900), at(4500), 0.4),
    ]
    assert m.probes == len(probes(100, 4500)) and m.failed_requests == 0
    assert m.fault == FLAP_FAULT and m.target == "lb1"


def test_a_tracked_master_drops_the_vip_and_it_moves_away_and_back() -> None:
    """lb1 enters FAULT at the link down: nobody holds the VIP until lb2's timer runs out;
    lb1 comes back as backup and preempts: a short overlap, then lb1 alone."""
    tl = timeline(
        added(-5000, "lb1"),
        fault(0, "inject"),
        flap(1, 100, 500),
        removed(101.5, "lb1"),
        added(1801.5, "lb2"),
        added(2300, "lb1"),
        removed(2300.75, "lb2"),
        flap(2, 3000, 3400),
        removed(3000.25, "lb1"),
        added(4700, "lb2"),
        added(5200, "lb1"),
        removed(5200.5, "lb2"),
        fault(6000, "effective"),
        probes(0, 6500),
    )
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(6500))
    assert moves(m) == [("lb1", "lb2"), ("lb2", "lb1"), ("lb1", "lb2"), ("lb2", "lb1")]
    assert [mv.ts for mv in m.moves] == [at(1801.5), at(2300), at(4700), at(5200)]
    assert m.moves_per_flap == 2.0
    assert [len(f.moves) for f in m.per_flap] == [2, 2]
    assert m.holder_changes == 8
    first, second = m.per_flap
    assert first.no_holder_s == 1.7 and first.multi_holder_s == 0.00075
    assert second.no_holder_s == 1.69975 and second.multi_holder_s == 0.0005
    assert m.no_holder_s == 3.39975 and m.multi_holder_s == 0.00125
    assert len(m.split_brain) == 2
    assert m.holders_after == {"lb1"}


def test_an_untracked_master_keeps_the_vip_two_holders_and_two_moves() -> None:
    """lb1 stays MASTER with its link down and keeps the address: lb2's takeover makes two
    holders; lb2 gives the VIP up when lb1's adverts reach it: away and back."""
    tl = timeline(
        added(-5000, "lb1"),
        fault(0, "inject"),
        flap(1, 100, 3000),
        added(1500, "lb2"),
        removed(3020, "lb2"),
        fault(5000, "effective"),
    )
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(5000))
    assert moves(m) == [("lb1", "lb2"), ("lb2", "lb1")]
    assert m.moves[1] == VipMove(at(3020), "lb2", "lb1")
    assert m.no_holder_s == 0.0 and m.multi_holder_s == 1.52
    assert [(sb.start, sb.end, sb.holders) for sb in m.split_brain] == [
        (at(1500), at(3020), frozenset({"lb1", "lb2"}))
    ]
    assert m.holder_changes == 2


def test_what_counts_as_a_move() -> None:
    """A, nobody, A: none; A, A+B, B: one; nobody, then B: one from nobody."""
    back_on_a = timeline(added(-100, "lb1"), fault(0, "inject"), flap(1, 10, 50),
                         removed(20, "lb1"), added(500, "lb1"))  # fmt: skip
    m = measure_flaps(back_on_a, CTX, "VI_1", at=at(0), window_end=at(1000))
    assert m.moves == () and m.holder_changes == 2 and m.no_holder_s == 0.48

    through_both = timeline(added(-100, "lb1"), fault(0, "inject"), flap(1, 10, 50),
                            added(300, "lb2"), removed(400, "lb1"))  # fmt: skip
    m = measure_flaps(through_both, CTX, "VI_1", at=at(0), window_end=at(1000))
    assert moves(m) == [("lb1", "lb2")] and m.moves[0].ts == at(300)
    assert m.multi_holder_s == 0.1 and m.holders_after == {"lb2"}

    from_nobody = timeline(fault(0, "inject"), flap(1, 10, 50), added(300, "lb2"))
    nobody = MeasureContext(vips={"VI_1": VipInfo(VIP1)})
    m = measure_flaps(from_nobody, nobody, "VI_1", at=at(0), window_end=at(1000))
    assert moves(m) == [(None, "lb2")] and m.holders_before == frozenset()
    assert m.no_holder_s == 0.29


def test_flaps_at_the_edges_of_the_window() -> None:
    tl = timeline(
        added(-5000, "lb1"),
        fault(0, "inject"),
        flap(1, 100, 500),
        removed(101, "lb1"),
        added(1000, "lb2"),  # exactly when flap 2 begins: flap 2's
        flap(2, 1000, 1400),
        added(2000, "lb1"),  # exactly at the window's end: counted, in the last flap
        flap(3, 2500, 2900),  # after the window: left out
    )
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(2000))
    assert m.flaps == 2 and [f.flap for f in m.per_flap] == [1, 2]
    assert [len(f.moves) for f in m.per_flap] == [0, 2]
    assert moves(m) == [("lb1", "lb2"), ("lb2", "lb1")]
    assert m.per_flap[0].no_holder_s == 0.899 and m.per_flap[1].multi_holder_s == 0.0
    assert m.per_flap[-1].end == at(2000)

    # the window ends while the link is down: that flap has no up yet
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(1200))
    assert m.per_flap[-1].up_ts is None and m.per_flap[-1].down_s is None
    assert m.per_flap[-1].end == at(1200)


def test_transitions_are_timed_by_the_nodes_clock_not_when_they_were_noted() -> None:
    """lb2 takes the VIP 50 ms after the link down, before the down was noted (80 ms)."""
    tl = timeline(added(-100, "lb1"), fault(0, "inject"), flap(1, 100, 400),
                  removed(100.5, "lb1"), added(150, "lb2"))  # fmt: skip
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(1000))
    assert m.window_start == at(100)
    assert moves(m) == [("lb1", "lb2")] and m.per_flap[0].no_holder_s == 0.0495


def test_only_the_flaps_of_the_fault_injected_at_the_given_time() -> None:
    tl = timeline(
        added(-100, "lb1"),
        fault(0, "inject"),
        flap(1, 100, 200),
        fault(300, "effective"),
        fault(1000, "inject", name="kill_process"),
        fault(2000, "inject"),
        flap(1, 2100, 2200),
        flap(2, 2300, 2400),
    )
    first = measure_flaps(tl, CTX, "VI_1", at=at(0))
    assert first.flaps == 1 and first.window_end == at(1000)  # the next fault's inject
    second = measure_flaps(tl, CTX, "VI_1", at=at(2000))
    assert second.flaps == 2 and second.window_start == at(2100)
    assert second.window_end == tl.end  # no fault after it: the timeline's end


def test_no_flap_or_a_window_before_the_first_is_an_error() -> None:
    tl = timeline(added(-100, "lb1"), fault(0, "inject", name="link_down"))
    with pytest.raises(ValueError, match="no flap_link link_down event after"):
        measure_flaps(tl, CTX, "VI_1", at=at(0))
    tl = timeline(added(-100, "lb1"), fault(0, "inject"), flap(1, 100, 200))
    with pytest.raises(ValueError, match=r"window ends .* before the first flap"):
        measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(50))


def test_failed_requests_in_the_window() -> None:
    tl = timeline(
        added(-100, "lb1"),
        fault(0, "inject"),
        flap(1, 100, 500),
        probes(0, 90),
        probes(100, 480, ok=False),
        probes(500, 1000),
    )
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(1000))
    assert m.failed_requests == len(probes(100, 480)) and m.probes == len(probes(100, 1000))


def test_as_dict_and_summary() -> None:
    tl = timeline(added(-100, "lb1"), fault(0, "inject"), flap(1, 100, 3000),
                  added(1500, "lb2"), removed(3020, "lb2"))  # fmt: skip
    m = measure_flaps(tl, CTX, "VI_1", at=at(0), window_end=at(4000))
    d = json.loads(json.dumps(m.as_dict()))
    assert d["flaps"] == 1 and d["move_count"] == 2 and d["moves_per_flap"] == 2.0
    assert d["moves"][0] == {"ts": at(1500), "from": "lb1", "to": "lb2"}
    assert d["per_flap"][0]["down_s"] == 2.9 and d["multi_holder_s"] == 1.52
    assert d["holders_after"] == ["lb1"]
    assert m.summary() == (
        "VI_1 over 1 flap(s) of lb1 (3.900 s): 2 move(s) (2.00 per flap: 2), no holder "
        "0.0 ms, two or more holders 1520.0 ms, 0 of 0 requests failed, holders after: lb1"
    )

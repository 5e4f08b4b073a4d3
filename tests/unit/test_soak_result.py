"""What the soak reports of a window: the master's gaps, not a backup's."""

from __future__ import annotations

from pytest_halab.soak import SoakResult, gap_summary


def test_the_master_is_the_source_that_sent_most() -> None:
    master = gap_summary([0.01] * 999 + [0.16])
    backup = gap_summary([2.7, 33.5, 60.3])  # it sent only while it wrongly took over
    r = SoakResult(
        topology="t",
        engine="halab",
        seconds=600.0,
        busy=3,
        adverts={"10.0.0.11": 4, "10.0.0.10": 1000},
        advert_gap_s={"10.0.0.11": backup, "10.0.0.10": master},
        vip_events=2,
        holders_changes=[],
        failed_probes=1,
        probes=10,
        cpu_percent={},
        rss_mb={},
    )
    assert r.master_source == "10.0.0.10"
    assert r.master_gap("max") == 0.16 and r.master_gap() == master["p99.9"]
    assert r.spurious == 3
    empty = SoakResult("t", "halab", 1.0, 0, {}, {}, 0, [], 0, 0, {}, {})
    assert empty.master_source is None and empty.master_gap() is None


def test_the_result_says_where_the_longest_gaps_and_the_incidents_were() -> None:
    """A soak's JSON carries what S1 of a closing note needed a script for: each source's
    longest gaps and every VIP event and failed request, timed from the window's start."""
    from types import SimpleNamespace

    from pytest_halab.soak import LONGEST, _result
    from pytest_halab.timeline import Event, Timeline

    t0 = 1000.0
    adverts = [t0 + 0.01 * i for i in range(50)] + [t0 + 0.52 + 0.01 * i for i in range(48)]
    adverts[10] += 0.004  # 14 ms then 6 ms; 30 ms from 0.49 s
    events = [Event(ts, "client", "advert", {"src": "10.0.0.10"}) for ts in adverts]
    events += [
        Event(t0 + 0.3, "lb2", "vip_added", {"addr": "10.0.0.3"}),
        Event(t0 + 0.31, "client", "probe", {"ok": False, "error": "timeout"}),
        Event(t0 + 0.32, "client", "probe", {"ok": True, "status": 200}),
        Event(t0 + 0.6, "lb2", "vip_removed", {"addr": "10.0.0.3"}),
        Event(t0 - 5, "lb2", "vip_added", {"addr": "10.0.0.3"}),  # before the window
    ]
    topo = SimpleNamespace(name="t")
    window = (t0, t0 + 1.0)
    r = _result(topo, "halab", 0, Timeline(events), window, ({}, {}))  # type: ignore[arg-type]
    gaps = r.longest_gaps["10.0.0.10"]
    assert len(gaps) == LONGEST
    assert abs(gaps[0]["at_s"] - 0.49) < 1e-6 and abs(gaps[0]["gap_s"] - 0.03) < 1e-6
    assert abs(gaps[1]["at_s"] - 0.09) < 1e-6 and abs(gaps[1]["gap_s"] - 0.014) < 1e-6
    assert [(i["node"], i["what"]) for i in r.incidents] == [
        ("lb2", "vip_added 10.0.0.3"),
        ("client", "request failed: timeout"),
        ("lb2", "vip_removed 10.0.0.3"),
    ]
    assert [round(i["at_s"], 6) for i in r.incidents] == [0.3, 0.31, 0.6]
    assert r.vip_events == 2 and r.failed_probes == 1 and r.probes == 2

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

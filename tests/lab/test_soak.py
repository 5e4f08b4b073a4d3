"""`halab soak` side by side: one lab per engine over the same window, beside CPU hogs.

A short window: what is checked is that the soak does what it says (both labs observed
over one window, the hogs running throughout and gone after, the adverts' gaps measured
at the topology's interval), not how either engine fares under load: that is a figure
for the benchmark (README, "Soaks")."""

from __future__ import annotations

import pytest

from pytest_halab import topology
from pytest_halab.busyloops import BusyLoops
from pytest_halab.soak import run_soaks

SECONDS = 4.0
ADVERT_S = 0.02  # nginx_v3_20ms


def test_engines_soak_side_by_side_beside_busy_loops() -> None:
    topo = topology.load("nginx_v3_20ms")
    seen: list[str] = []
    # one hog: each takes a core from the rest of the suite for the whole window
    results = run_soaks(topo, ["keepalived", "halab"], SECONDS, busy=1, progress=seen.append)
    assert [r.engine for r in results] == ["keepalived", "halab"]
    assert any("1 busy loop running" in line for line in seen), seen
    for r in results:
        # the window is at least what was asked; it ends after the check that the hogs
        # still run, which a loaded host makes late (5.1 s for 4 in one CI run)
        assert r.busy == 1 and r.seconds >= SECONDS, r
        # the master advertises about every 20 ms over the window (a loaded host may make
        # the backup take over now and then: that is what a soak counts, not a failure)
        source = r.master_source
        assert source is not None, r
        assert r.seconds / ADVERT_S * 0.5 < r.adverts[source] < r.seconds / ADVERT_S * 1.2, r
        gaps = r.advert_gap_s[source]
        assert 0.015 < gaps["p50"] < 0.03, gaps  # a generous sanity bound
        assert gaps["p99"] <= gaps["p99.9"] <= gaps["max"], gaps
        assert r.master_gap() == gaps["p99.9"]
        # where to look: the longest gap is the max, and every VIP event and failed request
        # is listed with its time in the window
        assert abs(r.longest_gaps[source][0]["gap_s"] - gaps["max"]) < 1e-5, r.longest_gaps
        assert len(r.incidents) == r.vip_events + r.failed_probes, r.incidents
        assert all(0 <= i["at_s"] <= r.seconds + 0.001 for i in r.incidents), r.incidents
        assert r.probes > 0 and set(r.cpu_percent) == {"lb1", "lb2"}


@pytest.mark.lab("nginx_v3_20ms")
def test_busy_loops_are_counted_and_stopped(lab_factory) -> None:  # type: ignore[no-untyped-def]
    client = lab_factory("nginx_v3_20ms").client_node()
    with BusyLoops(client, 2) as hogs:
        assert hogs.running() == 2
    assert hogs.running() == 0

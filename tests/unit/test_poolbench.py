"""The pool bench's and the director figures' results, percentiles and tables, from
synthetic runs; the config's bounds from the shipped topologies; the command line's
refusals (all before any lab starts: no Docker)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from pytest_halab import tables, topology
from pytest_halab.cli import main as halab_main
from pytest_halab.directorbench import (
    ChurnRequest,
    DirectorResult,
    LatencyResult,
    churn_figures,
)
from pytest_halab.errors import HalabError
from pytest_halab.poolbench import PoolBenchResult, PoolRun, config_bounds
from pytest_halab.poolmeasures import PoolChange


def change(applied: float | None, *, removed: bool = True, bound: float = 4.0) -> PoolChange:
    return PoolChange(
        vip="VI_1",
        server="web1",
        director="lvs1",
        removed=removed,
        fault_at=100.0,
        decided_s=None if applied is None else applied - 0.02,
        applied_s=applied,
        requests=100,
        failed_requests=10,
        bad_answers=0,
        bound_s=bound,
    )


def run(
    out: float | None, back: float | None, *, n: int = 0, engine: str = "halab", failed: int = 3
) -> PoolRun:
    readd = None if out is None else change(back, removed=False, bound=2.0)
    return PoolRun(engine, "stop_web", n, "web1", change(out), readd, 300, failed)


def render(table: object) -> str:
    buf = io.StringIO()
    Console(file=buf, width=250).print(table)
    return buf.getvalue()


def test_a_run_gives_detection_removal_and_readd_with_their_bounds() -> None:
    r = run(1.5, 0.6)
    assert r.figure("detection") == pytest.approx(1.48)
    assert (r.figure("removal"), r.figure("readd")) == (1.5, 0.6)
    assert (r.bound("removal"), r.bound("detection"), r.bound("readd")) == (4.0, 4.0, 2.0)
    assert r.complete
    assert "removed 1500.0 ms (bound 4000.0 ms)" in r.line()
    assert "3 of 300 requests failed" in r.line()
    with pytest.raises(KeyError):
        r.figure("outage")


def test_a_server_never_taken_out_has_no_readd_and_says_so() -> None:
    r = run(None, None)
    assert r.readd is None and not r.complete and r.figure("readd") is None
    assert "was not removed from lvs1's pool" in r.line()


def test_percentiles_and_distance_to_the_bound() -> None:
    res = PoolBenchResult("lvs_nat", "VI_1", "web1")
    res.runs = [run(float(i), 0.5, n=i) for i in range(1, 11)]  # removal 1..10 s
    st = res.stats("halab", "stop_web", "removal")
    assert st is not None
    assert st["n"] == 10 and st["p50"] == pytest.approx(5.5) and st["max"] == 10.0
    assert st["p95"] == pytest.approx(9.55)  # linear between ranks (stats.percentile)
    assert res.bound("halab", "stop_web", "removal") == 4.0
    assert res.over_bound("halab", "stop_web", "removal") == pytest.approx(5.55)
    assert res.within_goal("halab", "stop_web") is False
    assert res.failed("halab", "stop_web") == [3] * 10


def test_the_goal_is_p95_within_the_bound_plus_50_ms() -> None:
    res = PoolBenchResult("lvs_nat", "VI_1", "web1")
    res.runs = [run(4.04, 1.0), run(1.0, 2.049, n=1)]
    assert res.within_goal("halab", "stop_web") is True
    res.runs.append(run(4.2, 1.0, n=2))
    assert res.within_goal("halab", "stop_web") is False


def test_a_change_that_never_came_misses_the_goal_and_is_listed() -> None:
    res = PoolBenchResult("lvs_dr", "VI_1", "web1")
    res.runs = [run(1.0, 0.5), run(None, None, n=1), run(1.0, None, n=2)]
    assert not res.all_complete
    assert res.within_goal("halab", "stop_web") is False
    lines = res.incomplete_lines()
    assert any("was not taken out of the pool after stop_web in 1 of 3" in ln for ln in lines)
    assert any("did not come back into the pool" in ln and "1 of 3" in ln for ln in lines)


def test_json_summary_per_engine_and_fault() -> None:
    res = PoolBenchResult("lvs_nat", "VI_1", "web1")
    res.runs = [run(1.0, 0.5, engine="keepalived"), run(2.0, 0.7, engine="halab")]
    doc = res.as_dict()
    assert doc["bench"] == "pool" and doc["goal_margin_s"] == 0.05
    assert [(s["engine"], s["fault"]) for s in doc["summary"]] == [
        ("keepalived", "stop_web"),
        ("halab", "stop_web"),
    ]
    first = doc["summary"][0]
    assert first["removal"]["p95"] == 1.0 and first["removal_bound_s"] == 4.0
    assert first["removal_p95_over_bound_s"] == -3.0 and first["within_goal"] is True
    assert doc["runs"][1]["readd_s"] == 0.7 and doc["runs"][1]["failed_requests"] == 3


def test_pool_table_shows_figures_bounds_and_goal() -> None:
    res = PoolBenchResult("lvs_dr", "VI_1", "web1")
    res.runs = [run(9.0, 3.0), run(10.0, 4.0, n=1, failed=5)]
    text = render(tables.pool_table(res))
    assert "pool benchmark: lvs_dr, VI_1, faults on web1; random phase" in text
    assert "9500.0 / 9950.0" in text  # removal p50 / p95
    assert "4000.0" in text and "+5950.0" in text  # bound out, p95 - bound
    assert "3-5" in text and "MISSED" in text and "2 of 2" in text


def test_config_bounds_from_the_shipped_lvs_topologies() -> None:
    nat = config_bounds(topology.load("lvs_nat"), "VI_1", "web1")
    assert (nat.director, nat.removal_s, nat.readd_s, nat.delay_loop_s) == ("lvs1", 4, 2, 1)
    # seed 003: delay_loop 6, connect_timeout 5 (web1) / 10 (web2), retry 1, dbr 3
    dr = topology.load("lvs_dr")
    assert config_bounds(dr, "VI_1", "web1").removal_s == 6 + 2 * 5 + 3
    assert config_bounds(dr, "VI_1", "web2").readd_s == 6 + 10
    assert config_bounds(dr, "VI_1", "web1").delay_loop_s == 6
    # haproxy's own checks: inter 2s + (fall 3 - 1) x fastinter 2s + 3 x check timeout 2s
    # out, check timeout 2s + downinter 2s + (rise 2 - 1) x 2s back in, each + the 20 ms
    # poll; faults spread over inter
    hap = config_bounds(topology.load("haproxy_master_backup"), "VI_1", "web1")
    assert (hap.director, hap.removal_s, hap.readd_s, hap.delay_loop_s) == (
        "lb1", 12.02, 6.02, 2,
    )  # fmt: skip


def test_config_bounds_refuse_a_topology_without_a_checker() -> None:
    with pytest.raises(HalabError, match="nothing on lb1 health-checks web1"):
        config_bounds(topology.load("nginx_master_backup"), "VI_1", "web1")
    with pytest.raises(HalabError, match="not a web node of lvs_nat; its web nodes: web1, web2"):
        config_bounds(topology.load("lvs_nat"), "VI_1", "lvs2")


def test_churn_counts_failures_resets_and_connections_open_at_an_update() -> None:
    reqs = [
        ChurnRequest(10.0, 10.3, True, "1111"),
        ChurnRequest(10.1, 10.4, True, "2222"),
        ChurnRequest(10.5, 10.6, False, "", "ConnectionResetError"),
        ChurnRequest(10.7, 10.9, False, "", "HTTP 503"),
        ChurnRequest(11.0, 11.2, True, "1111"),
    ]
    res = churn_figures(reqs, [10.2, 10.55, 12.0], "halab", "web2")
    assert (res.requests, res.failed, res.resets) == (5, 2, 1)
    assert res.pool_updates == 3 and res.in_flight_at_updates == 3
    assert res.errors == {"ConnectionResetError": 1, "HTTP 503": 1}
    assert res.seconds == pytest.approx(1.2)
    assert res.complete  # no change asked: nothing missing
    assert churn_figures([], [], "halab", "web2").seconds == 0.0


def test_latency_overhead_is_the_difference_of_percentiles() -> None:
    lat = LatencyResult(
        "halab", tuple(0.0003 + i * 1e-6 for i in range(101)), tuple(0.0002 for _ in range(101))
    )
    assert lat.pct("vip", 50) == pytest.approx(0.00035)
    assert lat.overhead(50) == pytest.approx(0.00015)
    assert lat.within_goal is True
    slow = LatencyResult("halab", (0.001,), (0.0005,))
    assert slow.within_goal is False
    assert LatencyResult("halab", (), ()).within_goal is None
    doc = lat.as_dict()
    assert doc["requests"] == {"vip": 101, "direct": 101}
    assert doc["overhead_p99_s"] == pytest.approx(0.000399 - 0.0002 + 1e-6 * 0.0, abs=2e-6)


def test_director_tables() -> None:
    res = DirectorResult("lvs_nat", "VI_1")
    res.latency = [LatencyResult("keepalived", (0.00025,) * 10, (0.0002,) * 10)]
    res.churn = [
        churn_figures(
            [ChurnRequest(1.0, 1.2, True, "2222")] * 4,
            [1.1],
            "keepalived",
            "web2",
            [change(1.0)],
        )
    ]
    assert res.clean
    text = render(tables.latency_table(res)) + render(tables.churn_table(res))
    assert "0.250" in text and "0.050" in text and "met" in text
    assert "web2: 1 of 1 changes" in " ".join(text.split())
    assert "keeps 100" in text
    assert res.as_dict()["churn"][0]["requests_in_flight_at_updates"] == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fault", "stop_web,crash_node"], "run them in separate benches"),
        (["--fault", "stop_web", "--baseline", "b.json"], "the regression gate is the failover"),
        (["--fault", "stop_web", "--phase", "advert"], "random phase"),
        (["--fault", "crash_node", "--target", "web2"], "--target names the web node"),
        (["--measure", "latency", "--fault", "stop_web"], "run the director's figures"),
        (["--measure", "speed"], "--measure: unknown ['speed']"),
        (["--fault", "stop_web", "--target", "client"], "'client' is not a web node"),
    ],
)
def test_bench_refusals_before_any_lab(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert halab_main(["bench", "lvs_nat", "--vrrp", "halab", *argv]) == 2
    assert message in capsys.readouterr().err


def test_a_web_fault_on_a_topology_without_directors_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert halab_main(["bench", "nginx_master_backup", "--fault", "stop_web"]) == 2
    assert "nothing on lb1 health-checks web1" in capsys.readouterr().err

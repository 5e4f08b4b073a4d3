"""What `halab bench` prints, without a lab: the table's headings and cells, and the runs
in which the fault moved no VIP (lines, exit status, JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_halab import baseline as bl
from pytest_halab import bench as bench_mod
from pytest_halab import cli, cliout, tables
from pytest_halab.bench import BenchResult, BenchRun, _run_line
from pytest_halab.cli import main as halab_main
from pytest_halab.measures import FailoverMeasure

T0 = 1_700_000_000.0


def moved(vip_move: float = 0.36, garp_after: float = 0.0004) -> FailoverMeasure:
    return FailoverMeasure(
        vip="VI_1",
        fault="crash_node SIGKILL to init",
        fault_ts=T0,
        old_holder="lb1",
        new_holder="lb2",
        detection_s=vip_move - 0.001,
        vip_move_s=vip_move,
        garp_s=vip_move + garp_after,
        outage_s=0.35,
        outage_from_fault_s=0.4,
        failed_requests=35,
        probes=400,
        last_failure_ts=T0 + 0.39,
        holders_before=frozenset({"lb1"}),
        holders_after=frozenset({"lb2"}),
        first_failure_ts=T0 + 0.04,
        recovery_ts=T0 + 0.4,
        window_end=T0 + 4.0,
        fault_target="lb1",
    )


def stayed_put(failed: int, first_failure_ms: float, end_s: float = 4.2) -> FailoverMeasure:
    """nginx killed on lb1, no track script: lb1 keeps the VIP, requests fail to the end."""
    return FailoverMeasure(
        vip="VI_1",
        fault="kill_process nginx SIGKILL",
        fault_ts=T0,
        old_holder="lb1",
        new_holder=None,
        detection_s=None,
        vip_move_s=None,
        garp_s=None,
        outage_s=None,
        outage_from_fault_s=None,
        failed_requests=failed,
        probes=failed,
        last_failure_ts=T0 + end_s - 0.01,
        holders_before=frozenset({"lb1"}),
        holders_after=frozenset({"lb1"}),
        first_failure_ts=T0 + first_failure_ms / 1000,
        window_end=T0 + end_s,
        fault_target="lb1",
    )


def result() -> BenchResult:
    """keepalived and halab: crash_node moves the VIP in every run; kill_nginx in none (as
    if the topology, the command's default, tracked no script)."""
    res = BenchResult("nginx_master_backup", "VI_1", phase="advert", probe_interval=0.01)
    for engine in ("keepalived", "halab"):
        for i, garp in enumerate((0.0004, -0.0012)):
            res.runs.append(
                BenchRun(
                    engine, "crash_node", i, moved(garp_after=garp), 0.361, garp, 0.0002, "lb1"
                )
            )
        for i, (failed, first) in enumerate(((400, 5.0), (390, 12.5))):
            res.runs.append(
                BenchRun(
                    engine, "kill_nginx", i, stayed_put(failed, first), None, None, 0.0003, "lb1"
                )
            )
    return res


def cells(res: BenchResult) -> dict[str, list[Any]]:
    """Column heading (its lines joined) -> cells."""
    table = tables.bench_table(res)
    return {" ".join(str(c.header).split()): [str(x) for x in c.cells] for c in table.columns}


def test_the_table_says_where_the_fault_hit_and_in_plain_words_with_units() -> None:
    table = tables.bench_table(result())
    assert "median / 90th percentile" in str(table.caption)
    got = cells(result())
    assert list(got) == [
        "VRRP engine",
        "fault, on node",
        "VIP moved in",
        "new master detected (ms)",
        "VIP on new master (ms)",
        "client outage (ms)",
        "takeover on the wire (ms)",
        "GARP after address set (ms)",
        "fault after the master's advert (ms)",
    ]
    assert got["fault, on node"] == ["crash_node on lb1", "kill_nginx on lb1"] * 2
    assert got["VIP moved in"] == ["2 of 2 runs", "0 of 2 runs"] * 2
    assert got["VIP on new master (ms)"] == ["360.0 / 360.0", "-"] * 2
    assert got["takeover on the wire (ms)"] == ["361.0 / 361.0 / 361.0", "-"] * 2
    # the gap of largest magnitude, with its sign (the GARP came before netlink's event)
    assert got["GARP after address set (ms)"] == ["-1.2", "-"] * 2
    # a VIP that did not move has no figure: no detection, no move, no outage that ended
    for col in ("new master detected (ms)", "client outage (ms)"):
        assert got[col][1] == "-", col


def test_the_figures_keep_their_line_in_a_ci_log() -> None:
    """160 columns (the width when piped): no figure is split over two lines."""
    console = cliout._Console(width=160, emoji=False, highlight=False)
    with console.capture() as captured:
        console.print(tables.bench_table(result()))
    text = captured.get()
    assert max(len(line) for line in text.splitlines()) <= 160
    assert "361.0 / 361.0 / 361.0" in text and "360.0 / 360.0" in text


def test_no_move_lines_say_who_held_the_vip_and_what_the_client_saw() -> None:
    res = result()
    assert res.no_move_lines() == [
        f"{engine}: VI_1 did not move after kill_nginx on lb1 in 2 of 2 run(s) (held by lb1 "
        "throughout); client outage at least 4187.5 ms (requests still failing when each run "
        "ended), 390 to 400 failed requests per run"
        for engine in ("keepalived", "halab")
    ]
    assert not res.all_moved and res.moved("halab", "kill_nginx") == 0


def test_a_run_that_did_not_move_is_one_clean_progress_line() -> None:
    run = BenchRun("halab", "kill_nginx", 0, stayed_put(400, 5.0), None, None, node="lb1")
    assert _run_line(run) == (
        "halab kill_nginx on lb1 #1: VI_1 did not move after kill_process nginx SIGKILL on lb1, "
        "held by lb1 throughout 4.2 s; outage at least 4195.0 ms (requests still failing at "
        "the end), 400 of 400 requests failed"
    )
    ok = BenchRun("halab", "crash_node", 1, moved(), 0.361, 0.0004, 0.0002, "lb1")
    assert _run_line(ok) == (
        "halab crash_node on lb1 #2: VIP on lb2 360.0 ms, client outage 350.0 ms, takeover on "
        "the wire 361.0 ms, fault 0.2 ms after the master's advert"
    )


@pytest.fixture
def fake_bench(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[BenchResult]:
    """`halab bench` without a lab: returns the results given here."""
    results: list[BenchResult] = []
    monkeypatch.setattr(bench_mod, "run_bench", lambda *_a, **_k: results.pop(0))
    monkeypatch.setattr(cliout, "console", cliout._Console(width=160, emoji=False, highlight=False))
    monkeypatch.chdir(tmp_path)
    return results


ARGV = ["bench", "--vrrp", "keepalived,halab", "--fault", "crash_node,kill_nginx"]


def test_a_bench_whose_fault_moved_nothing_exits_4_with_its_lines(
    fake_bench: list[BenchResult], capsys: pytest.CaptureFixture[str]
) -> None:
    fake_bench.append(result())
    assert halab_main([*ARGV, "--json", "out.json"]) == cli.EXIT_NO_MOVE == 4
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    lines = captured.out.splitlines()
    assert (
        "keepalived: VI_1 did not move after kill_nginx on lb1 in 2 of 2 run(s) (held by lb1 "
        "throughout); client outage at least 4187.5 ms (requests still failing when each run "
        "ended), 390 to 400 failed requests per run"
    ) in lines
    assert "exit status 4: in some run the fault moved no VIP (no failover figures)" in lines
    doc = json.loads(Path("out.json").read_text())
    summary = {(s["engine"], s["fault"]): s for s in doc["summary"]}
    assert summary[("halab", "kill_nginx")]["moved"] == 0
    assert summary[("halab", "kill_nginx")]["runs"] == 2
    assert summary[("halab", "crash_node")]["moved"] == 2
    assert {s["node"] for s in doc["summary"]} == {"lb1"}
    run = next(r for r in doc["runs"] if r["fault"] == "kill_nginx")
    assert run["node"] == "lb1" and run["measure"]["moved"] is False


def test_a_bench_where_every_fault_moved_the_vip_exits_0(
    fake_bench: list[BenchResult], capsys: pytest.CaptureFixture[str]
) -> None:
    res = result()
    res.runs = [r for r in res.runs if r.fault == "crash_node"]
    fake_bench.append(res)
    assert halab_main(ARGV) == 0
    assert "did not move" not in capsys.readouterr().out


def test_the_regression_gate_takes_precedence_over_no_move(
    fake_bench: list[BenchResult], capsys: pytest.CaptureFixture[str]
) -> None:
    """kill_nginx moved the VIP when the baseline was saved and not now: its figures are
    missing, the gate fails (3), and the did-not-move line still says why."""
    before = result()
    for r in before.runs:
        r.measure = moved()
    bl.save(before.baseline(), "b.json")
    fake_bench.append(result())
    assert halab_main([*ARGV, "--baseline", "b.json"]) == cli.EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "MISSING vip_move (engine halab, fault kill_nginx)" in out
    assert "halab: VI_1 did not move after kill_nginx on lb1 in 2 of 2 run(s)" in out
    assert "exit status 4" not in out

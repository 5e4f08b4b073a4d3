"""`halab` refuses bad arguments before it starts anything (no Docker needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_halab import bench
from pytest_halab.baseline import Baseline, Entry, save
from pytest_halab.bench import BenchResult
from pytest_halab.cli import main as halab_main


def test_bench_refuses_unknown_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert halab_main(["bench", "--fault", "meteor"]) == 2
    assert "unknown fault(s) ['meteor']" in capsys.readouterr().err


@pytest.mark.parametrize("ms", ["0.5", "101"])
def test_bench_refuses_a_probe_interval_out_of_range(
    ms: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert halab_main(["bench", "--probe-interval", ms]) == 2
    assert "--probe-interval must be between 1 and 100 (ms)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--busy", "17"], "--busy must be between 0 and 16"),
        (["--busy", "-1"], "--busy must be between 0 and 16"),
        (["lvs_nat", "--fault", "stop_web", "--busy", "2"], "--busy: CPU hogs load the failover"),
        (["lvs_nat", "--measure", "latency", "--busy", "1"], "--busy: CPU hogs load the failover"),
    ],
)
def test_bench_refuses_busy_loops_out_of_range_or_outside_the_failover_bench(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert halab_main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- regression gates


def no_runs(*_a: Any, **_k: Any) -> BenchResult:
    raise AssertionError("the bench started although its arguments were bad")


@pytest.fixture
def no_bench(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(bench, "run_bench", no_runs)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def saved(path: Path, topology: str = "nginx_master_backup", engine: str = "keepalived") -> Path:
    entries = {
        bench.baseline_key(engine, "crash_node", "vip_move"): Entry(
            "vip_move", (3.6, 3.61), {"engine": engine, "fault": "crash_node"}
        )
    }
    conditions = bench.bench_conditions("VI_1", "advert", 0.01)
    save(Baseline(topology, "bench", entries, conditions), path)
    return path


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert halab_main(["bench", *argv]) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("pct", ["-5", "abc", "nan", "inf", "1e999", ""])
def test_bench_refuses_a_max_regression_that_is_no_percentage(
    pct: str, no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = saved(no_bench / "b.json")
    err = refused(["--baseline", str(base), "--max-regression", pct], capsys)
    assert f"halab: error: --max-regression: expected a percentage >= 0, got {pct!r}" in err


def test_bench_refuses_max_regression_without_a_baseline(
    no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["--max-regression", "5"], capsys)
    assert "--max-regression needs --baseline FILE" in err


def test_bench_refuses_a_baseline_it_cannot_read(
    no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["--baseline", "none.json"], capsys)
    assert "halab: error: --baseline none.json: cannot read: No such file or directory" in err
    (no_bench / "bad.json").write_text('{"format": "halab-baseline/1",}')
    err = refused(["--baseline", "bad.json"], capsys)
    assert "halab: error: --baseline bad.json:1:31: invalid JSON: Expecting property name" in err
    (no_bench / "shape.json").write_text('{"format": "halab-baseline/1", "entries": 1}')
    err = refused(["--baseline", "shape.json"], capsys)
    assert "--baseline shape.json: created: missing" in err


def test_bench_refuses_a_baseline_of_another_topology(
    no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved(no_bench / "b.json", topology="nginx_v3_fast")
    err = refused(["--baseline", "b.json"], capsys)
    assert (
        "halab: error: --baseline b.json is for topology nginx_v3_fast, "
        "this bench runs nginx_master_backup" in err
    )


def test_bench_refuses_a_baseline_with_nothing_for_this_bench(
    no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved(no_bench / "b.json", engine="halab")
    err = refused(["--baseline", "b.json", "--fault", "crash_node,link_down"], capsys)
    assert (
        "--baseline b.json has no entry for any engine/fault of this bench "
        "(keepalived/crash_node, keepalived/link_down); it has: halab/crash_node" in err
    )


def test_bench_refuses_a_baseline_taken_under_other_conditions(
    no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved(no_bench / "b.json")
    err = refused(["--baseline", "b.json", "--probe-interval", "2"], capsys)
    assert (
        "--baseline b.json was measured with probe_interval_ms 10.0, this bench runs "
        "probe_interval_ms 2.0" in err
    )


@pytest.mark.parametrize("where", ["missing/dir/b.json", ".", "nul\0.json"])
def test_bench_refuses_an_unwritable_save_baseline(
    where: str, no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "halab: error: --save-baseline " in refused(["--save-baseline", where], capsys)
    assert list(no_bench.iterdir()) == []  # the check leaves nothing behind


def test_bench_refuses_to_save_over_its_own_baseline(
    no_bench: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved(no_bench / "b.json")
    (no_bench / "link.json").symlink_to("b.json")
    err = refused(["--baseline", "b.json", "--save-baseline", "./link.json"], capsys)
    assert "--baseline b.json and --save-baseline ./link.json are the same file" in err
    err = refused(["--save-baseline", "new.json", "--json", "new.json"], capsys)
    assert "--save-baseline new.json and --json new.json are the same file" in err
    assert sorted(p.name for p in no_bench.iterdir()) == ["b.json", "link.json"]

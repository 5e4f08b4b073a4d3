"""Baselines and the regression gate: the file format, its errors, the comparison rule, and
the bench's side (keys, what is gated, what a baseline must match before a bench runs)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_halab import baseline as bl
from pytest_halab import bench as bench_mod
from pytest_halab import cli, cliout
from pytest_halab.baseline import MIN_RISE_S, Baseline, Entry, compare
from pytest_halab.bench import (
    BenchGate,
    BenchResult,
    BenchRun,
    baseline_key,
    bench_conditions,
    bench_gate,
)
from pytest_halab.cli import main as halab_main
from pytest_halab.errors import BaselineError, HalabError
from pytest_halab.measures import FailoverMeasure

KC = {"engine": "keepalived", "fault": "crash_node"}


def entry(*samples: float, figure: str = "vip_move") -> Entry:
    return Entry(figure, samples, KC)


def one(key: str, e: Entry, topology: str | None = "nginx_v3_fast") -> Baseline:
    return Baseline(topology, "bench", {key: e})


# ---------------------------------------------------------------- the file


def test_save_then_load_gives_the_same_baseline(tmp_path: Path) -> None:
    base = Baseline(
        "nginx_v3_fast",
        "bench",
        {
            "keepalived/crash_node/vip_move": entry(0.361, 0.3615, 0.362),
            "tests/test_x.py::test_a[lb1/lb2]/outage": Entry("outage", (1.5,)),
        },
        {"vip": "VI_1", "probe_interval_ms": 10.0},
    )
    path = tmp_path / "b.json"
    bl.save(base, path)
    assert bl.load(path) == base
    doc = json.loads(path.read_text())
    assert doc["format"] == "halab-baseline/1" and doc["source"] == "bench"
    written = doc["entries"]["keepalived/crash_node/vip_move"]
    assert written["n"] == 3 and written["median"] == 0.3615
    assert written["p90"] == pytest.approx(0.3619)
    assert list(doc["entries"]) == list(base.entries)  # order kept


def test_samples_are_the_data_the_summary_is_for_readers(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    bl.save(one("k", entry(0.1, 0.2, 0.3)), path)
    doc = json.loads(path.read_text())
    doc["entries"]["k"]["median"] = 99.0
    path.write_text(json.dumps(doc))
    assert bl.load(path).entries["k"].median == 0.2


def test_topology_may_be_null_and_conditions_absent(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    doc = one("k", entry(0.1), topology=None).as_dict()
    del doc["conditions"]
    path.write_text(json.dumps(doc))
    got = bl.load(path)
    assert got.topology is None and got.conditions == {}


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "b.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


KEY = "keepalived/crash_node/vip_move"
AT = f"entries[{json.dumps(KEY)}]"


def good() -> dict[str, Any]:
    return one(KEY, entry(0.1, 0.2)).as_dict()


def ent(doc: dict[str, Any]) -> dict[str, Any]:
    e: dict[str, Any] = doc["entries"][KEY]
    return e


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n "format": "halab-baseline/1",\n "topology" "x"\n}')
    with pytest.raises(BaselineError) as exc:
        bl.load(path)
    assert str(exc.value) == f"{path}:3:13: invalid JSON: Expecting ':' delimiter"
    assert isinstance(exc.value, HalabError)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("entries"), "entries: missing"),
        (lambda d: d.update(format="halab-baseline/2"), 'format: "halab-baseline/2" is not a'),
        (lambda d: d.pop("format"), "format: missing (a halab baseline has format"),
        (lambda d: d.update(source="ci"), 'source: "ci": expected one of bench, pytest'),
        (lambda d: d.update(created="yesterday"), 'created: "yesterday" is not an ISO 8601'),
        (lambda d: d.update(topology=3), "topology: expected a non-empty string, got a number"),
        (lambda d: d.update(conditions=[]), "conditions: expected an object, got an array"),
        (lambda d: d.update(conditions={"vip": None}), "conditions.vip: expected a string or"),
        (lambda d: d.update(extra=1), "extra: unknown field (known: conditions, created,"),
        (lambda d: d.update(entries=[]), "entries: expected an object, got an array"),
        (
            lambda d: ent(d)["samples"].append("0.3"),
            f"{AT}.samples[2]: expected a number, got a string",
        ),
        (
            lambda d: ent(d)["samples"].append(True),
            f"{AT}.samples[2]: expected a number, got a boolean",
        ),
        (
            lambda d: ent(d).update(samples=[]),
            f"{AT}.samples: empty",
        ),
        (
            lambda d: ent(d).pop("figure"),
            f"{AT}.figure: missing",
        ),
        (
            lambda d: ent(d).update(medain=1),
            f"{AT}.medain: unknown field",
        ),
        (
            lambda d: ent(d)["subject"].update(run=1),
            f"{AT}.subject.run: expected a non-empty string",
        ),
        (
            lambda d: ent(d).update(median="x"),
            f"{AT}.median: expected a number",
        ),
    ],
)
def test_a_wrong_shape_names_file_and_field(tmp_path: Path, change: object, message: str) -> None:
    doc = good()
    change(doc)  # type: ignore[operator]
    path = write(tmp_path, json.dumps(doc))
    with pytest.raises(BaselineError) as exc:
        bl.load(path)
    assert str(exc.value).startswith(f"{path}: {message}"), str(exc.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[1]", "expected an object (a halab baseline), got an array"),
        (b'{"format": NaN}', "invalid JSON: NaN is not a number JSON allows"),
        (b'{"format": 1, "format": 2}', 'invalid JSON: duplicate key "format"'),
        (b"[" * 100_000, "invalid JSON: nested too deeply"),
    ],
)
def test_json_that_python_would_take_is_refused(tmp_path: Path, text: bytes, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BaselineError, match="^" + str(path)) as exc:
        bl.load(path)
    assert message in str(exc.value)


def test_an_infinite_sample_is_refused(tmp_path: Path) -> None:
    text = json.dumps(good()).replace("0.2", "1e999")
    with pytest.raises(
        BaselineError, match=r"samples\[1\]: expected a finite number, got one out of range"
    ):
        bl.load(write(tmp_path, text))


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="cannot read: No such file or directory"):
        bl.load(tmp_path / "none.json")
    with pytest.raises(BaselineError, match=f"^{tmp_path}: not a regular file$"):
        bl.load(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(BaselineError, match="not a regular file"):  # and does not block
        bl.load(fifo)
    with pytest.raises(BaselineError, match=r"^.*b\.json:2: not UTF-8 text \(byte 0xff\)"):
        bl.load(write(tmp_path, b'{\n"\xff": 1}'))


def test_entries_and_baselines_refuse_what_could_not_be_saved() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        Entry("vip_move", ())
    with pytest.raises(ValueError, match="finite"):
        Entry("vip_move", (float("nan"),))
    with pytest.raises(ValueError, match="source 'ci'"):
        Baseline("t", "ci", {})


# ---------------------------------------------------------------- the gate


def test_a_rise_beyond_the_percentage_but_inside_the_spread_passes() -> None:
    # median 1.0, p90 1.9: +50% is 1.5, so 1.8 is over the percentage but within the spread
    base = one("k", entry(0.5, 1.0, 2.0))
    assert base.entries["k"].spread == pytest.approx(1.8)
    assert compare(base, one("k", entry(1.8)), 50) == []
    assert len(compare(base, one("k", entry(1.81)), 50)) == 1


def test_a_rise_beyond_the_spread_but_inside_the_percentage_passes() -> None:
    base = one("k", entry(1.0, 1.0, 1.0, 1.01))  # tight: p90 1.007
    assert compare(base, one("k", entry(1.05)), 10) == []
    (r,) = compare(base, one("k", entry(1.11, 1.2)), 10)
    assert r.current is not None and r.current.median == pytest.approx(1.155)


def test_exactly_at_the_threshold_passes() -> None:
    base = one("k", entry(0.5, 0.5))  # p90 0.5; +50% is exactly 0.75
    assert compare(base, one("k", entry(0.75)), 50) == []
    assert compare(base, one("k", entry(0.75 + 2e-9)), 50) != []
    # float rounding never decides: 0.1 * 1.1 is 0.11000000000000001
    assert compare(one("k", entry(0.1)), one("k", entry(0.11)), 10) == []
    # at the spread, when the spread is the larger bound
    wide = one("k", entry(1.0, 1.0, 3.0))  # median 1.0, p90 2.6
    assert compare(wide, one("k", entry(2.6)), 10) == []
    assert compare(wide, one("k", entry(2.61)), 10) != []


def test_a_rise_within_the_noise_floor_never_regresses() -> None:
    # A CI run saw garp_vs_netlink go from 0.10 ms to 1.34 ms (+1206%) on a busy host.
    gap = one("k", entry(0.0001, 0.0001))
    assert compare(gap, one("k", entry(0.00134)), 1000) == []
    assert compare(gap, one("k", entry(0.0001 + MIN_RISE_S)), 0) == []
    (r,) = compare(gap, one("k", entry(0.0001 + MIN_RISE_S + 1e-6)), 0)
    assert r.threshold_s == pytest.approx(0.0101)
    # a baseline median of 0 allows the floor and no more
    zero = one("k", entry(0.0))
    assert compare(zero, one("k", entry(0.01)), 10) == []
    assert compare(zero, one("k", entry(0.02)), 10) != []
    # a figure of hundreds of ms is gated by its percentage, the floor being smaller
    assert compare(one("k", entry(0.3)), one("k", entry(0.331)), 10) != []


def test_the_regression_line_says_figure_subject_medians_change_and_threshold() -> None:
    base = one("keepalived/crash_node/vip_move", entry(0.36, 0.37, 0.38))
    (r,) = compare(base, one("keepalived/crash_node/vip_move", entry(0.5)), 10)
    assert str(r) == (
        "REGRESSED vip_move (engine keepalived, fault crash_node): median 370.00 ms -> "
        "500.00 ms (+35.1%); threshold 407.00 ms, the largest of +10% (407.00 ms), the "
        "baseline p90 (378.00 ms) and +10 ms (380.00 ms)"
    )
    assert r.threshold_s == pytest.approx(0.407) and r.change_pct == pytest.approx(35.135, 1e-3)


def test_a_figure_missing_from_the_run_fails_a_new_one_does_not() -> None:
    base = Baseline(
        "t", "bench", {"a/outage": Entry("outage", (0.3, 0.31)), "a/vip_move": entry(0.2)}
    )
    run = Baseline("t", "bench", {"a/vip_move": entry(0.2), "a/takeover": entry(9.0)})
    (r,) = compare(base, run, 10)
    assert r.key == "a/outage" and r.current is None
    assert str(r) == "MISSING a/outage: baseline median 305.00 ms (n=2), no sample in this run"


def test_lower_is_better_also_below_zero_and_at_zero() -> None:
    # a median of -1.0 with 10% allows up to -0.9 (worse is higher)
    base = one("k", entry(-1.0, -1.0))
    assert compare(base, one("k", entry(-0.9)), 10) == []
    assert compare(base, one("k", entry(-0.8)), 10) != []
    (r,) = compare(one("k", entry(0.0)), one("k", entry(0.011)), 10)
    assert r.change_pct is None and "(+" not in str(r)


def test_the_percentage_must_be_a_finite_number_not_below_zero() -> None:
    base = one("k", entry(1.0))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_regression_pct"):
            compare(base, base, bad)
    assert compare(base, one("k", entry(1.0 + MIN_RISE_S)), 0) == []  # the floor
    assert compare(base, one("k", entry(1.0 + MIN_RISE_S + 1e-6)), 0) != []


def test_same_subject_compares_only_entries_measured_on_the_same_thing() -> None:
    base = one("k", Entry("vip_move", (0.3,), {"engine": "keepalived", "test": "t"}))
    other = one("k", Entry("vip_move", (0.3,), {"engine": "halab", "vip": "VI_1"}))
    assert compare(base, other, 10) == []  # keys alone: the same figure
    (r,) = compare(base, other, 10, same_subject=True)
    assert r.differs == (("engine", "keepalived", "halab"),)  # fields both have, only
    assert str(r) == (
        "DIFFERENT vip_move (engine keepalived, test t): the baseline measured it on engine "
        "keepalived, this run on engine halab; not compared"
    )
    same = one("k", Entry("vip_move", (0.3,), {"engine": "keepalived"}))
    assert compare(base, same, 10, same_subject=True) == []
    assert bl.subject_differences(base.entries["k"], same.entries["k"]) == ()


def test_the_bench_and_pytest_share_the_default_percentage() -> None:
    from pytest_halab import settings

    assert cli.DEFAULT_MAX_REGRESSION_PCT == bl.DEFAULT_MAX_REGRESSION_PCT == 10.0
    assert settings.MAX_REGRESSION.default == bl.DEFAULT_MAX_REGRESSION_PCT


# ---------------------------------------------------------------- the bench's side


def measure(vip_move: float, outage: float | None, garp: float) -> FailoverMeasure:
    return FailoverMeasure(
        vip="VI_1",
        fault="crash_node",
        fault_ts=100.0,
        old_holder="lb1",
        new_holder="lb2",
        detection_s=vip_move - 0.001,
        vip_move_s=vip_move,
        garp_s=vip_move + garp,
        outage_s=outage,
        outage_from_fault_s=outage,
        failed_requests=3,
        probes=40,
        last_failure_ts=None,
    )


def bench_result(topology: str = "nginx_v3_fast") -> BenchResult:
    res = BenchResult(topology, "VI_1", phase="advert", probe_interval=0.01)
    for i, (move, garp) in enumerate([(0.36, -0.0002), (0.37, 0.0004)]):
        res.runs.append(BenchRun("halab", "crash_node", i, measure(move, None, garp), 0.361, garp))
        res.runs[-1].phase_s = 0.0002
    return res


def test_a_bench_baseline_keys_engine_fault_figure_without_phase() -> None:
    base = bench_result().baseline()
    assert base.source == "bench" and base.topology == "nginx_v3_fast"
    assert base.conditions == {"vip": "VI_1", "phase": "advert", "probe_interval_ms": 10.0}
    # no outage measured (None in every run): not in the baseline; phase is never
    assert list(base.entries) == [
        baseline_key("halab", "crash_node", f)
        for f in ("detection", "vip_move", "takeover", "garp_vs_netlink")
    ]
    assert base.entries["halab/crash_node/vip_move"].samples == (0.36, 0.37)
    assert base.entries["halab/crash_node/vip_move"].subject == {
        "engine": "halab",
        "fault": "crash_node",
    }
    # either clock may be ahead: the magnitude is gated
    assert base.entries["halab/crash_node/garp_vs_netlink"].samples == (0.0002, 0.0004)


def gate_of(base: Baseline, **over: Any) -> BenchGate:
    args: dict[str, Any] = {
        "topology": "nginx_v3_fast",
        "engines": ["halab"],
        "faults": ["crash_node"],
        "conditions": bench_conditions("VI_1", "advert", 0.01),
        "max_regression_pct": 10.0,
    }
    args.update(over)
    return bench_gate(base, "--baseline b.json", **args)


def test_bench_gate_refuses_a_baseline_that_does_not_fit_the_bench() -> None:
    base = bench_result().baseline()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"topology": "nginx_master_backup"}, "is for topology nginx_v3_fast, this bench runs "),
        ({"conditions": bench_conditions("VI_1", "random", 0.01)}, "with phase advert, this "),
        ({"conditions": bench_conditions("VI_1", "advert", 0.002)}, "probe_interval_ms 10.0, "),
        ({"engines": ["keepalived"]}, "has no entry for any engine/fault of this bench "),
    ]
    for over, message in cases:
        with pytest.raises(BaselineError, match=r"^--baseline b\.json ") as exc:
            gate_of(base, **over)
        assert message in str(exc.value)
    assert str(exc.value).endswith("(keepalived/crash_node); it has: halab/crash_node")
    with pytest.raises(BaselineError, match="measured with busy 0, this bench runs busy 3"):
        gate_of(base, conditions=bench_conditions("VI_1", "advert", 0.01, busy=3))
    pytest_made = Baseline("nginx_v3_fast", "pytest", base.entries, base.conditions)
    with pytest.raises(BaselineError, match="was saved by pytest, not by halab bench"):
        gate_of(pytest_made)


def test_busy_loops_are_a_condition_of_the_baseline_both_ways() -> None:
    """A bench beside CPU hogs records how many; a baseline without ``busy`` (all taken
    before the option, or with none) compares only with a bench without hogs."""
    loaded = bench_result()
    loaded.busy = 3
    base = loaded.baseline()
    assert base.conditions["busy"] == 3
    assert gate_of(base, conditions=bench_conditions("VI_1", "advert", 0.01, busy=3))
    with pytest.raises(BaselineError, match="measured with busy 3, this bench runs busy 0"):
        gate_of(base)
    assert "busy" not in bench_result().baseline().conditions
    assert gate_of(bench_result().baseline())


def test_bench_gate_keeps_the_bench_entries_and_names_what_it_cannot_gate() -> None:
    res = bench_result()
    base = res.baseline()
    extra = dict(base.entries)
    extra["halab/crash_node/phase"] = Entry("phase", (0.0,))  # an input: never gated
    extra["keepalived/link_down/vip_move"] = entry(0.1)  # not in this bench
    gate = gate_of(
        Baseline(base.topology, "bench", extra, base.conditions),
        faults=["crash_node", "link_down"],
    )
    assert list(gate.baseline.entries) == list(base.entries)
    assert gate.ungated == [("halab", "link_down")]
    assert gate.check(res) == []
    for r in res.runs:
        assert r.measure.vip_move_s is not None
        r.measure = measure(r.measure.vip_move_s * 2, None, 0.0)
    assert [r.key for r in gate.check(res)] == [
        "halab/crash_node/detection",
        "halab/crash_node/vip_move",
    ]


# ---------------------------------------------------------------- the command


@pytest.fixture
def fake_bench(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[BenchResult]:
    """`halab bench nginx_master_backup` without a lab: returns the results given here."""
    results: list[BenchResult] = []

    def run_bench(*_a: object, **_k: object) -> BenchResult:
        res = results.pop(0)
        res.topology = "nginx_master_backup"  # the command's default
        return res

    monkeypatch.setattr(bench_mod, "run_bench", run_bench)
    # as in CI: not a terminal, so the console is 160 columns wide; verdicts are not wrapped
    monkeypatch.setattr(cliout, "console", cliout._Console(width=160, emoji=False, highlight=False))
    monkeypatch.chdir(tmp_path)
    return results


def slower(res: BenchResult, factor: float) -> BenchResult:
    for r in res.runs:
        assert r.measure.vip_move_s is not None
        r.measure = measure(r.measure.vip_move_s * factor, None, 0.0)
        r.takeover_s = None
    return res


def test_bench_saves_a_baseline_then_gates_on_it(
    fake_bench: list[BenchResult], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bench", "--vrrp", "halab", "--fault", "crash_node"]
    fake_bench += [bench_result(), bench_result(), slower(bench_result(), 2)]
    assert halab_main([*argv, "--save-baseline", "b.json"]) == 0
    assert "baseline written to b.json" in capsys.readouterr().out
    assert set(bl.load("b.json").entries) == {
        f"halab/crash_node/{f}" for f in ("detection", "vip_move", "takeover", "garp_vs_netlink")
    }

    assert halab_main([*argv, "--baseline", "b.json"]) == 0
    out = capsys.readouterr().out
    assert (
        "gate passed: 4 figure(s) compared with b.json, none +10% over the baseline median, "
        "above its p90 and by more than 10 ms" in out
    )

    assert halab_main([*argv, "--baseline", "b.json", "--max-regression", "50"]) == 3
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines if ln.startswith(("REGRESSED", "MISSING"))] == [
        "REGRESSED detection (engine halab, fault crash_node)",
        "REGRESSED vip_move (engine halab, fault crash_node)",
        "MISSING takeover (engine halab, fault crash_node)",
    ]
    (vip_move,) = [ln for ln in lines if ln.startswith("REGRESSED vip_move")]
    assert vip_move == (  # one line, however long
        "REGRESSED vip_move (engine halab, fault crash_node): median 365.00 ms -> 730.00 ms "
        "(+100.0%); threshold 547.50 ms, the largest of +50% (547.50 ms), the baseline p90 "
        "(369.00 ms) and +10 ms (375.00 ms)"
    )
    assert lines[-1] == (
        "gate FAILED: of 4 figure(s) in b.json, 2 regressed (+50% over the baseline median, "
        "above its p90 and by more than 10 ms) and 1 not measured; exit status 3"
    )


def test_bench_gate_says_which_pairs_it_cannot_gate(
    fake_bench: list[BenchResult], capsys: pytest.CaptureFixture[str]
) -> None:
    bl.save(bench_result("nginx_master_backup").baseline(), "b.json")
    both = bench_result()
    both.runs += [
        BenchRun("halab", "link_down", 0, measure(0.4, None, 0.0), 0.4, 0.0),
    ]
    fake_bench.append(both)
    argv = ["bench", "--vrrp", "halab", "--fault", "crash_node,link_down", "--baseline", "b.json"]
    assert halab_main(argv) == 0
    assert "not gated: halab/link_down has no entry in b.json" in capsys.readouterr().out


def test_a_regression_outranks_a_baseline_that_could_not_be_written(
    fake_bench: list[BenchResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bl.save(bench_result("nginx_master_backup").baseline(), "b.json")
    target = tmp_path / "gone" / "new.json"
    target.parent.mkdir()
    res = slower(bench_result("nginx_master_backup"), 3)

    def bench_then_lose_the_dir(*_a: object, **_k: object) -> BenchResult:
        target.parent.rmdir()  # writable when checked, gone when the bench ends
        return res

    monkeypatch.setattr(bench_mod, "run_bench", bench_then_lose_the_dir)
    argv = ["bench", "--vrrp", "halab", "--fault", "crash_node", "--baseline", "b.json"]
    assert halab_main([*argv, "--save-baseline", str(target)]) == 3
    captured = capsys.readouterr()
    assert '"format": "halab-baseline/1"' in captured.out  # printed rather than lost
    assert f"could not write {target} (No such file or directory); the baseline is above" in (
        captured.err
    )

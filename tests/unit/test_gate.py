"""The pytest side of the failover regression gate without Docker: a run's figures as a
baseline (keys, figures, subjects), the verdict on fake records, and the checks made at
configure time (settings resolved from a fake config)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest

from pytest_halab import baseline as bl
from pytest_halab import gate
from pytest_halab.baseline import Baseline, Entry
from pytest_halab.gate import baseline_key, figures, judge, run_baseline
from pytest_halab.measures import FailoverMeasure
from pytest_halab.report import FailoverRecord, ReportCollector
from pytest_halab.settings import SETTINGS, HalabSettings, resolve

TEST = "tests/test_ha.py::test_crash[lb1]"
OTHER = "tests/test_ha.py::test_kill_nginx"


def measure(
    vip_move: float | None = 0.3,
    *,
    vip: str = "VI_1",
    fault: str | None = "crash_node",
    phase: str = "failover",
    garp_after: float | None = 0.001,  # GARP on the wire minus VIP move (netlink)
    outage: float | None = 0.2,
) -> FailoverMeasure:
    return FailoverMeasure(
        vip=vip,
        fault=fault,
        fault_ts=1000.0,
        old_holder="lb1",
        new_holder="lb2",
        detection_s=None if vip_move is None else vip_move - 0.01,
        vip_move_s=vip_move,
        garp_s=None if garp_after is None or vip_move is None else vip_move + garp_after,
        outage_s=outage,
        outage_from_fault_s=None if outage is None else 0.25,
        failed_requests=3,
        probes=40,
        last_failure_ts=None,
        phase=phase,
    )


def records(
    *items: tuple[str, FailoverMeasure], engine: str = "keepalived", topology: str = "mb"
) -> ReportCollector:
    rc = ReportCollector()
    for nodeid, m in items:
        rc.record(nodeid, topology, engine, m)
    return rc


# ---------------------------------------------------------------- the run's figures


def test_figures_are_the_measures_times_lower_is_better() -> None:
    m = measure(0.3, garp_after=-0.01)
    assert figures(m) == pytest.approx(
        {
            "detection": 0.29,
            "vip_move": 0.3,
            "garp": 0.29,
            "outage": 0.2,
            "outage_from_fault": 0.25,
            "garp_vs_netlink": 0.01,  # GARP before netlink: signed -0.01, kept as a magnitude
        }
    )
    assert set(figures(m)) == set(gate.FIGURES)


def test_a_figure_that_did_not_happen_gives_no_sample() -> None:
    assert figures(measure(None, garp_after=None, outage=None)) == {}
    assert set(figures(measure(0.3, garp_after=None))) == {
        "detection",
        "vip_move",
        "outage",
        "outage_from_fault",
    }


def test_keys_name_the_test_vip_fault_and_figure() -> None:
    assert baseline_key(TEST, "VI_1", "crash_node", "vip_move") == (
        "tests/test_ha.py::test_crash[lb1]/VI_1/crash_node/vip_move"
    )
    assert baseline_key(TEST, "VI_1", "crash_node", "vip_move", "recovery") == (
        "tests/test_ha.py::test_crash[lb1]/VI_1/crash_node (recovery)/vip_move"
    )


def test_a_test_measured_several_times_gives_several_samples_under_one_key() -> None:
    rc = records(
        (TEST, measure(0.3)),
        (TEST, measure(0.31)),
        (TEST, measure(0.5, phase="recovery")),
        (TEST, measure(0.4, vip="VI_2")),
        (OTHER, measure(0.35, fault="kill_process nginx SIGKILL")),
    )
    base = run_baseline(rc, "nginx_master_backup")
    assert base.source == "pytest" and base.topology == "nginx_master_backup"
    move = base.entries[f"{TEST}/VI_1/crash_node/vip_move"]
    assert move.samples == (0.3, 0.31) and move.figure == "vip_move"
    assert move.subject == {
        "test": TEST,
        "topology": "mb",
        "engine": "keepalived",
        "vip": "VI_1",
        "fault": "crash_node",
    }
    back = base.entries[f"{TEST}/VI_1/crash_node (recovery)/vip_move"]
    assert back.samples == (0.5,) and back.subject["phase"] == "recovery"
    assert base.entries[f"{TEST}/VI_2/crash_node/vip_move"].samples == (0.4,)
    assert f"{OTHER}/VI_1/kill_process nginx SIGKILL/outage" in base.entries
    assert len(base.entries) == 4 * len(gate.FIGURES)


def test_one_key_measured_on_two_engines_names_both() -> None:
    rc = records((TEST, measure(0.3)))
    rc.record(TEST, "mb", "halab", measure(0.2))
    entry = run_baseline(rc, None).entries[f"{TEST}/VI_1/crash_node/vip_move"]
    assert entry.samples == (0.3, 0.2) and entry.subject["engine"] == "halab,keepalived"


def test_an_unnamed_fault_is_a_question_mark() -> None:
    base = run_baseline(records((TEST, measure(0.3, fault=None))), None)
    assert f"{TEST}/VI_1/?/vip_move" in base.entries


def test_the_run_baseline_is_a_file_pytest_reads_back(tmp_path: Path) -> None:
    base = run_baseline(records((TEST, measure(0.3)), (TEST, measure(0.5, phase="recovery"))), None)
    path = tmp_path / "b.json"
    bl.save(base, path)
    assert bl.load(path) == base
    gate.check_baseline(bl.load(path), str(path))
    assert json.loads(path.read_text())["topology"] is None


def test_records_sent_by_xdist_workers_give_the_same_baseline() -> None:
    rc = records((TEST, measure(0.3)), (OTHER, measure(0.4, phase="recovery")))
    back = ReportCollector()
    for d in rc.to_dicts():
        back.add(FailoverRecord.from_dict(json.loads(json.dumps(d))))
    a, b = run_baseline(rc, "t"), run_baseline(back, "t")
    assert a.entries == b.entries


# ---------------------------------------------------------------- the verdict


def saved(*items: tuple[str, FailoverMeasure], engine: str = "keepalived") -> Baseline:
    return run_baseline(records(*items, engine=engine), "mb")


def test_the_same_figures_pass() -> None:
    base = saved((TEST, measure(0.3)), (TEST, measure(0.3)))
    verdict = judge(base, "b.json", base, {TEST}, 10)
    assert verdict.passed and verdict.compared == len(gate.FIGURES)
    assert verdict.lines() == []
    assert verdict.summary() == (
        f"halab regression gate passed: {len(gate.FIGURES)} figure(s) compared with b.json, "
        "none +10% over the baseline median, above its p90 and by more than 10 ms"
    )


def test_a_slower_vip_move_fails_and_the_line_names_the_test_and_figure() -> None:
    base = saved((TEST, measure(0.3)))
    now = saved((TEST, measure(0.4)))
    verdict = judge(base, "b.json", now, {TEST}, 10)
    assert not verdict.passed
    failed = {r.baseline.figure for r in verdict.regressions}
    assert failed == {"detection", "vip_move", "garp"}  # the outage did not move
    line = next(x for x in verdict.lines() if x.startswith("REGRESSED vip_move"))
    assert line.startswith(
        f"REGRESSED vip_move (test {TEST}, topology mb, engine keepalived, vip VI_1, "
        "fault crash_node): median 300.00 ms -> 400.00 ms (+33.3%)"
    )
    assert verdict.summary().startswith(
        "halab regression gate FAILED: of 6 figure(s) compared with b.json, 3 regressed "
    )
    assert verdict.summary().endswith(
        "0 not measured, 0 measured on another topology or engine; exit status 1"
    )


def test_within_the_allowance_passes() -> None:
    base = saved((TEST, measure(0.3)))
    assert judge(base, "b", saved((TEST, measure(0.32))), {TEST}, 10).passed
    assert not judge(base, "b", saved((TEST, measure(0.32))), {TEST}, 5).passed


def test_a_test_that_ran_without_the_figure_is_missing() -> None:
    base = saved((TEST, measure(0.3)))
    now = saved((TEST, measure(0.3, garp_after=None)))  # no GARP seen this time
    verdict = judge(base, "b.json", now, {TEST}, 10)
    assert {(r.baseline.figure, r.current) for r in verdict.regressions} == {
        ("garp", None),
        ("garp_vs_netlink", None),
    }
    assert verdict.lines()[0].startswith(f"MISSING garp (test {TEST}, ")
    assert "2 not measured" in verdict.summary()


def test_a_test_that_ran_and_measured_nothing_is_missing_every_figure() -> None:
    base = saved((TEST, measure(0.3)))
    verdict = judge(base, "b.json", saved(), {TEST}, 10)  # it failed before measuring
    assert len(verdict.regressions) == len(gate.FIGURES)
    assert all(r.current is None for r in verdict.regressions)


def test_a_test_that_did_not_run_is_not_gated() -> None:
    base = saved((TEST, measure(0.3)), (OTHER, measure(0.3)))
    now = saved((TEST, measure(0.3)))
    verdict = judge(base, "b.json", now, {TEST}, 10)  # OTHER deselected with -k
    assert verdict.passed and verdict.compared == len(gate.FIGURES)
    assert len(verdict.not_run) == len(gate.FIGURES) and verdict.not_run_tests == 1
    assert verdict.lines() == [
        f"not gated: {len(gate.FIGURES)} figure(s) in b.json of 1 test(s) that did not run "
        "in this session"
    ]


def test_a_test_that_measured_is_gated_even_if_not_reported_as_run() -> None:
    base = saved((TEST, measure(0.3)))
    verdict = judge(base, "b", saved((TEST, measure(0.3, garp_after=None))), set(), 10)
    assert not verdict.passed


def test_figures_the_baseline_lacks_are_listed_not_gated() -> None:
    base = saved((TEST, measure(0.3, garp_after=None)))
    now = saved((TEST, measure(0.3)), (OTHER, measure(0.3)))
    verdict = judge(base, "b.json", now, {TEST, OTHER}, 10)
    assert verdict.passed
    assert len(verdict.ungated) == 2 + len(gate.FIGURES)
    (line,) = verdict.lines()
    assert line.startswith(f"not gated: {2 + len(gate.FIGURES)} figure(s) of this run have ")
    assert line.endswith(" and 3 more")


def test_a_figure_measured_on_another_engine_is_not_compared() -> None:
    base = saved((TEST, measure(0.3)))
    now = saved((TEST, measure(0.1)), engine="halab")  # faster, but not the same thing
    verdict = judge(base, "b.json", now, {TEST}, 10)
    assert len(verdict.regressions) == len(gate.FIGURES)
    assert all(r.differs == (("engine", "keepalived", "halab"),) for r in verdict.regressions)
    assert verdict.lines()[0] == (
        f"DIFFERENT detection (test {TEST}, topology mb, engine keepalived, vip VI_1, "
        "fault crash_node): the baseline measured it on engine keepalived, this run on "
        "engine halab; not compared"
    )
    assert f"{len(gate.FIGURES)} measured on another topology or engine" in verdict.summary()


def test_a_baseline_from_the_bench_or_without_tests_is_refused() -> None:
    bench = Baseline("mb", "bench", {"keepalived/crash_node/vip_move": Entry("vip_move", (0.3,))})
    with pytest.raises(bl.BaselineError, match=r'b.json: source: "bench": saved by halab bench'):
        gate.check_baseline(bench, "b.json")
    blind = Baseline("mb", "pytest", {"k/vip_move": Entry("vip_move", (0.3,), {"vip": "VI_1"})})
    with pytest.raises(bl.BaselineError, match=r'b.json: entries\["k/vip_move"\].subject.test'):
        gate.check_baseline(blind, "b.json")


# ---------------------------------------------------------------- configure time


class FakeConfig:
    def __init__(self, options: dict[str, object], ini: dict[str, str] | None = None) -> None:
        self.options, self.ini = options, ini or {}

    def getoption(self, name: str) -> object:
        return self.options.get(name)

    def getini(self, name: str) -> str:
        return self.ini.get(name, "")


@pytest.fixture(autouse=True)
def _no_halab_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)


def settings(options: dict[str, object], ini: dict[str, str] | None = None) -> HalabSettings:
    return resolve(cast(pytest.Config, FakeConfig(options, ini)))


def a_baseline(tmp_path: Path, topology: str | None = "nginx_master_backup") -> Path:
    path = tmp_path / "base.json"
    base = run_baseline(records((TEST, measure(0.3))), topology)
    bl.save(base, path)
    return path


def test_no_gate_without_a_baseline() -> None:
    assert gate.plan(settings({})) is None
    assert gate.plan(settings({}, {"halab_max_regression": "20"})) is None  # a project default


def test_the_plan_holds_the_loaded_baseline(tmp_path: Path) -> None:
    path = a_baseline(tmp_path)
    got = gate.plan(
        settings({"hal_baseline": str(path), "hal_topology": "nginx_master_backup"}),
    )
    assert got is not None and got.baseline == bl.load(path)
    assert got.max_regression_pct == 10 and got.save_to is None
    assert got.topology == "nginx_master_backup" and got.baseline_name == str(path)
    worker = gate.plan(settings({"hal_baseline": str(path)}), load_baseline=False)
    assert worker is not None and worker.baseline is None


@pytest.mark.parametrize(
    ("place", "source"),
    [
        ("cli", "--hal-baseline"),
        ("env", "environment HALAB_BASELINE"),
        ("ini", "ini option halab_baseline"),
    ],
)
def test_a_bad_baseline_names_its_source_file_and_line(
    place: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "b.json"
    path.write_text('{\n "format": "halab-baseline/1",\n "source": pytest\n}\n')
    options: dict[str, object] = {"hal_baseline": str(path)} if place == "cli" else {}
    ini = {"halab_baseline": str(path)} if place == "ini" else {}
    if place == "env":
        monkeypatch.setenv("HALAB_BASELINE", str(path))
    with pytest.raises(pytest.UsageError) as info:
        gate.plan(settings(options, ini))
    assert str(info.value) == (
        f"halab: baseline from {source}: {path}:3:12: invalid JSON: Expecting value"
    )


def test_a_missing_baseline_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError, match=r"from --hal-baseline: .*nope.json: cannot read"):
        gate.plan(settings({"hal_baseline": str(tmp_path / "nope.json")}))


def test_a_bench_baseline_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    bl.save(Baseline("mb", "bench", {"k/f/vip_move": Entry("vip_move", (0.3,))}), path)
    with pytest.raises(pytest.UsageError) as info:
        gate.plan(settings({}, {"halab_baseline": str(path)}))
    assert str(info.value) == (
        f'halab: baseline from ini option halab_baseline: {path}: source: "bench": saved by '
        "halab bench, not by pytest --hal-save-baseline (compare with it in halab bench "
        "--baseline)"
    )


def test_a_baseline_of_another_topology_is_a_usage_error(tmp_path: Path) -> None:
    path = a_baseline(tmp_path, topology="nginx_dual_master")
    with pytest.raises(pytest.UsageError) as info:
        gate.plan(settings({"hal_baseline": str(path), "hal_topology": "nginx_master_backup"}))
    assert str(info.value) == (
        f"halab: baseline from --hal-baseline: baseline {path} is for topology "
        "nginx_dual_master, this run's topology is nginx_master_backup (from --hal-topology)"
    )


def test_a_baseline_of_no_topology_or_a_run_of_none_is_fine(tmp_path: Path) -> None:
    free = a_baseline(tmp_path, topology=None)
    assert gate.plan(settings({"hal_baseline": str(free), "hal_topology": "nginx_dual_master"}))
    tied = a_baseline(tmp_path, topology="nginx_dual_master")
    assert gate.plan(settings({"hal_baseline": str(tied)}))


def test_the_same_file_to_compare_and_to_save_is_refused(tmp_path: Path) -> None:
    path = a_baseline(tmp_path)
    with pytest.raises(pytest.UsageError, match="the run would overwrite the figures it compares"):
        gate.plan(settings({"hal_baseline": str(path), "hal_save_baseline": str(path)}))


def test_max_regression_on_the_command_line_needs_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(pytest.UsageError) as info:
        gate.plan(settings({"hal_max_regression": "20"}))
    assert str(info.value) == (
        "halab: maximum regression from --hal-max-regression: needs --hal-baseline FILE "
        "(the figures to compare with)"
    )
    save = gate.plan(settings({"hal_save_baseline": str(tmp_path / "new.json")}))
    assert save is not None and save.baseline is None and save.save_to == tmp_path / "new.json"


def test_the_run_baseline_keeps_the_probe_interval_as_a_condition(tmp_path: Path) -> None:
    assert run_baseline(records((TEST, measure(0.3))), None).conditions == {
        "probe_interval_ms": 20.0
    }
    base = run_baseline(records((TEST, measure(0.3))), None, 10.0)
    path = tmp_path / "b.json"
    bl.save(base, path)
    assert bl.load(path).conditions == {"probe_interval_ms": 10.0}
    got = gate.plan(settings({"hal_baseline": str(path), "hal_probe_interval": "10"}))
    assert got is not None and got.probe_interval_ms == 10.0


def test_a_baseline_of_another_probe_interval_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = a_baseline(tmp_path)  # probed every 20 ms, the default
    monkeypatch.setenv("HALAB_PROBE_INTERVAL", "50")
    with pytest.raises(pytest.UsageError) as info:
        gate.plan(settings({"hal_baseline": str(path)}))
    assert str(info.value) == (
        f"halab: baseline from --hal-baseline: baseline {path} was measured with the client "
        "probing every 20 ms, this run probes every 50 ms (from environment "
        "HALAB_PROBE_INTERVAL): the client outage is resolved to the probe's interval; give "
        "the run --hal-probe-interval 20, or save a new baseline"
    )


def test_a_baseline_saved_before_the_probe_interval_was_recorded_is_at_the_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.json"
    old = run_baseline(records((TEST, measure(0.3))), None)
    bl.save(Baseline(old.topology, old.source, old.entries), path)  # no conditions
    assert bl.load(path).conditions == {}
    assert gate.plan(settings({"hal_baseline": str(path)}))
    with pytest.raises(pytest.UsageError, match="probing every 20 ms, this run probes every 10"):
        gate.plan(settings({"hal_baseline": str(path), "hal_probe_interval": "10"}))

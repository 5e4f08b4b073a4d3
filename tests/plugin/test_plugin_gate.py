"""The failover regression gate as a user meets it: ``pytest --hal-save-baseline`` then
``pytest --hal-baseline``, driven through pytester in a separate pytest process.

Without Docker, the user tests record made-up measures in the run's records (what the
``hal`` fixture does after a failover), so the whole path is real but the lab: saving, the
verdict, the exit status, ``-k``, pytest-xdist workers. One test does it on a real lab."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pytest_halab import baseline as bl
from pytest_halab.baseline import Baseline, Entry

FAKE_TESTS = textwrap.dedent("""
    import os

    import pytest

    from pytest_halab import distribute
    from pytest_halab.measures import FailoverMeasure

    MOVE = float(os.environ.get("FAKE_VIP_MOVE", "0.3"))


    def measure(vip_move, fault="crash_node"):
        return FailoverMeasure(
            vip="VI_1", fault=fault, fault_ts=1000.0, old_holder="lb1", new_holder="lb2",
            detection_s=None, vip_move_s=vip_move, garp_s=None, outage_s=None,
            outage_from_fault_s=None, failed_requests=0, probes=0, last_failure_ts=None,
        )


    @pytest.fixture
    def record(request):
        run = request.config.pluginmanager.get_plugin("halab-run")
        nodeid = distribute.original_nodeid(request.node.nodeid, request.node)
        return lambda m: run.records.record(nodeid, "nginx_master_backup", "keepalived", m)


    def test_crash(record):
        record(measure(MOVE))
        record(measure(MOVE + 0.001))


    @pytest.mark.xdist_group("kills")  # under xdist its node id gets "@kills" in the worker
    def test_kill(record):
        if os.environ.get("FAKE_SKIP_KILL"):
            pytest.skip("not today")
        if not os.environ.get("FAKE_NO_KILL"):
            record(measure(0.5, fault="kill_process nginx SIGKILL"))


    def test_measures_nothing():
        pass
""")

CRASH = "test_user.py::test_crash/VI_1/crash_node/vip_move"
KILL = "test_user.py::test_kill/VI_1/kill_process nginx SIGKILL/vip_move"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:randomly", *args)


def saved(pytester: pytest.Pytester, *args: str) -> Path:
    pytester.makepyfile(test_user=FAKE_TESTS)
    path = pytester.path / "base.json"
    result = run(pytester, f"--hal-save-baseline={path}", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*= halab regression gate =*",
            f"halab: baseline of 2 figure(s) from 2 test(s) written to {path}",
        ]
    )
    return path


def test_save_then_gate_without_docker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = saved(pytester)
    base = bl.load(path)
    assert base.source == "pytest" and base.topology is None
    assert list(base.entries) == [CRASH, KILL]
    assert base.entries[CRASH].samples == (0.3, 0.301)
    assert base.entries[KILL].subject == {
        "test": "test_user.py::test_kill",
        "topology": "nginx_master_backup",
        "engine": "keepalived",
        "vip": "VI_1",
        "fault": "kill_process nginx SIGKILL",
    }

    same = run(pytester, f"--hal-baseline={path}")
    assert same.ret == pytest.ExitCode.OK, same.stdout.str()
    same.stdout.fnmatch_lines(
        [
            "*= halab regression gate =*",
            f"halab regression gate passed: 2 figure(s) compared with {path}, none +10% over "
            "the baseline median, above its p90 and by more than 10 ms",
        ]
    )

    monkeypatch.setenv("FAKE_VIP_MOVE", "0.4")
    slower = run(pytester, f"--hal-baseline={path}")
    slower.assert_outcomes(passed=3)  # every test passed; the gate fails the run
    assert slower.ret == pytest.ExitCode.TESTS_FAILED
    slower.stdout.fnmatch_lines(
        [
            "REGRESSED vip_move (test test_user.py::test_crash, topology nginx_master_backup, "
            "engine keepalived, vip VI_1, fault crash_node): median 300.50 ms -> 400.50 ms *",
            f"halab regression gate FAILED: of 2 figure(s) compared with {path}, 1 regressed "
            "(+10% over the baseline median, above its p90 and by more than 10 ms), 0 not "
            "measured, 0 measured on another topology or engine; exit status 1",
        ]
    )
    allowed = run(pytester, f"--hal-baseline={path}", "--hal-max-regression=50")
    assert allowed.ret == pytest.ExitCode.OK, allowed.stdout.str()


def test_only_tests_that_ran_are_gated(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = saved(pytester)
    monkeypatch.setenv("FAKE_NO_KILL", "1")
    deselected = run(pytester, f"--hal-baseline={path}", "-k", "not test_kill")
    assert deselected.ret == pytest.ExitCode.OK, deselected.stdout.str()
    deselected.stdout.fnmatch_lines(
        [
            f"not gated: 1 figure(s) in {path} of 1 test(s) that did not run in this session",
            "halab regression gate passed: 1 figure(s) compared with *",
        ]
    )
    monkeypatch.setenv("FAKE_SKIP_KILL", "1")  # skipped from its body: did not run either
    skipped = run(pytester, f"--hal-baseline={path}")
    assert skipped.ret == pytest.ExitCode.OK, skipped.stdout.str()
    skipped.stdout.fnmatch_lines([f"not gated: 1 figure(s) in {path} of 1 test(s) *"])
    monkeypatch.delenv("FAKE_SKIP_KILL")
    ran = run(pytester, f"--hal-baseline={path}")
    assert ran.ret == pytest.ExitCode.TESTS_FAILED
    ran.stdout.fnmatch_lines(
        [
            "MISSING vip_move (test test_user.py::test_kill, *): baseline median 500.00 ms (n=1), "
            "no sample in this run",
            "halab regression gate FAILED: *, 0 regressed *, 1 not measured, *; exit status 1",
        ]
    )


def test_xdist_workers_send_what_they_measured_and_ran(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = saved(pytester, "-n", "2")
    # in the order the workers sent them; never a node id with xdist's "@kills"
    assert set(bl.load(path).entries) == {CRASH, KILL}
    monkeypatch.setenv("FAKE_NO_KILL", "1")
    result = run(pytester, f"--hal-baseline={path}", "-n", "2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    result.stdout.fnmatch_lines(["MISSING vip_move (test test_user.py::test_kill, *"])


def test_a_run_that_measured_nothing_writes_no_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(): pass\n")
    path = pytester.path / "base.json"
    result = run(pytester, f"--hal-save-baseline={path}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [f"halab: no failover figure was measured in this run: {path} not written; exit status 1"]
    )
    assert not path.exists()
    collect = run(pytester, f"--hal-save-baseline={path}", "--collect-only")
    assert collect.ret == pytest.ExitCode.OK and not path.exists()


# ---------------------------------------------------------------- refused before anything runs


def test_a_bad_baseline_from_the_ini_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.json"
    bad.write_text('{"format": "halab-baseline/1",\n "entries": {}, }\n')
    pytester.makeini(f"[pytest]\nhalab_baseline = {bad}\n")
    pytester.makepyfile(test_user="def test_x(lab): pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*halab: baseline from ini option halab_baseline: {bad}:2:17: invalid JSON: "
            "Expecting property name*"
        ]
    )


def test_a_bench_baseline_from_the_environment_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = pytester.path / "bench.json"
    bl.save(
        Baseline("nginx_master_backup", "bench", {"a/b/vip_move": Entry("vip_move", (1,))}), path
    )
    monkeypatch.setenv("HALAB_BASELINE", str(path))
    pytester.makepyfile(test_user="def test_x(lab): pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f'*halab: baseline from environment HALAB_BASELINE: {path}: source: "bench": saved '
            "by halab bench, not by pytest --hal-save-baseline*"
        ]
    )


def test_a_baseline_of_another_topology_is_refused_before_any_lab_starts(
    pytester: pytest.Pytester,
) -> None:
    path = pytester.path / "dual.json"
    entry = Entry("vip_move", (0.3,), {"test": "test_user.py::test_x"})
    bl.save(Baseline("nginx_dual_master", "pytest", {"test_user.py::test_x/a/b/c": entry}), path)
    pytester.makepyfile(test_user="def test_x(lab): pass\n")
    result = run(pytester, f"--hal-baseline={path}", "--hal-topology=nginx_master_backup")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*halab: baseline from --hal-baseline: baseline {path} is for topology "
            "nginx_dual_master, this run's topology is nginx_master_backup (from --hal-topology)"
        ]
    )


def test_max_regression_on_the_command_line_without_a_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(): pass\n")
    result = run(pytester, "--hal-max-regression=5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*halab: maximum regression from --hal-max-regression: needs --hal-baseline FILE*"]
    )


def test_the_gate_options_are_in_the_help(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(
        ["*--hal-save-baseline=FILE*", "*--hal-baseline=FILE*", "*--hal-max-regression=PCT*"]
    )


# ---------------------------------------------------------------- on a real lab

LAB_TEST = textwrap.dedent("""
    def test_sigterm_hands_over(hal):
        fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")
        m = hal.failover("VI_1", fault, to="lb2")
        assert m.new_holder == "lb2" and m.vip_move_s is not None
""")


@pytest.mark.lab
def test_a_real_failover_saved_then_gated(pytester: pytest.Pytester) -> None:
    """Save the figures of a real failover, then gate a second run on a baseline of
    impossibly fast figures (fails). A passing gate is shown on recorded figures above: on a
    real lab it would need an allowance wide enough for one noisy failover, which proves
    little."""
    pytester.makepyfile(test_user=LAB_TEST)
    topology = "--hal-topology=nginx_master_backup"
    path = pytester.path / "base.json"

    first = run(pytester, topology, f"--hal-save-baseline={path}")
    first.assert_outcomes(passed=1)
    assert first.ret == pytest.ExitCode.OK
    first.stdout.fnmatch_lines(["*halab failover measures*", "*= halab regression gate =*"])
    base = bl.load(path)
    assert base.topology == "nginx_master_backup" and base.source == "pytest"
    (move,) = [k for k, e in base.entries.items() if e.figure == "vip_move"]
    assert move == "test_user.py::test_sigterm_hands_over/VI_1/kill_process vrrp SIGTERM/vip_move"
    assert base.entries[move].subject["engine"] == "keepalived"

    fast = pytester.path / "fast.json"
    tiny = {k: Entry(e.figure, (1e-6,), e.subject) for k, e in base.entries.items()}
    bl.save(Baseline(base.topology, base.source, tiny), fast)
    slow = run(pytester, topology, f"--hal-baseline={fast}")
    slow.assert_outcomes(passed=1)
    assert slow.ret == pytest.ExitCode.TESTS_FAILED, slow.stdout.str()
    slow.stdout.fnmatch_lines(
        [
            "REGRESSED vip_move (test test_user.py::test_sigterm_hands_over, topology "
            "nginx_master_backup, engine keepalived, vip VI_1, fault kill_process vrrp SIGTERM): "
            "median 0.00 ms -> *",
            "halab regression gate FAILED: *; exit status 1",
        ]
    )
    assert json.loads(path.read_text())["entries"][move]["n"] == 1

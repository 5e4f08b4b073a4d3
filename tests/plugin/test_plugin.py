"""The plugin as a user meets it, driven through pytester in a separate pytest process."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import pytest

from pytest_halab.session import report_stem

REPO = Path(__file__).resolve().parents[2]

USER_TEST = textwrap.dedent("""
    import json

    def test_vips_where_the_configs_say(lab):
        assert lab.layout.topology == "nginx_dual_master"
        assert lab.vip_holders() == {"VI_1": ["lb1"], "VI_2": ["lb2"]}

    def test_node_handles(lab):
        res = lab.node("lb1").exec("hostname")
        assert res.ok and res.output.strip() == "lb1"
        vip = str(lab.layout.vips["VI_2"].ip)
        # a generous timeout: this checks the path, not its speed on a loaded host
        out = lab.node("client").exec(
            ["halab-probe", vip, "--count", "4", "--timeout", "5"]
        ).output
        bodies = {json.loads(line)["body"] for line in out.splitlines()}
        assert bodies == {"1111", "2222"}

    def test_same_lab_for_the_session(lab, lab_factory):
        assert lab_factory("nginx_dual_master") is lab
""")


@pytest.mark.lab
def test_user_test_file_gets_a_working_lab(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TEST)
    report = pytester.path / "report"
    result = pytester.runpytest_subprocess(
        "--hal-topology=nginx_dual_master", "-v", f"--hal-report={report}"
    )
    result.stdout.fnmatch_lines(["halab: topology nginx_dual_master (*), vrrp keepalived"])
    result.assert_outcomes(passed=3)
    (entry,) = json.loads((report / "labs.json").read_text())
    assert entry["status"]["topology"] == "nginx_dual_master"
    assert {v["name"]: v["holders"] for v in entry["status"]["vips"]} == {
        "VI_1": ["lb1"],
        "VI_2": ["lb2"],
    }
    assert entry["timings_s"]["up"] > 0


def test_bad_topology_is_a_usage_error_before_anything_runs(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nnodes: {}\nvips: {}\nextra: 1\n")
    pytester.makepyfile(test_user="def test_x(lab): pass\n")
    result = pytester.runpytest_subprocess(f"--hal-topology={bad}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"*halab: topology from --hal-topology: {bad}:4: extra: unknown field*"]
    )


def test_topology_from_environment_names_its_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALAB_TOPOLOGY", "no_such_topology")
    pytester.makepyfile(test_user="def test_x(): pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*topology from environment HALAB_TOPOLOGY: unknown topology 'no_such_topology'*"]
    )


def test_lab_fixture_without_topology_says_how(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_x(lab): pass\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the `lab` fixture needs a topology: pass --hal-topology*"])


def test_bad_engine_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhalab_vrrp = vrrpd2\n")
    pytester.makepyfile(test_user="def test_x(): pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*halab: VRRP engine from ini option halab_vrrp: 'vrrpd2' is not one of keepalived, halab"]
    )


def test_options_and_marker_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        ["*--hal-topology=NAME|PATH*", "*--hal-vrrp=*", "*--hal-keep*", "*--hal-report=DIR*"]
    )
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.lab(*topologies, vrrp=None): the test needs a real Docker lab; *"]
    )
    assert _lab_marker_lines(result) == 1


def test_lab_marker_registered_once_in_this_project(pytester: pytest.Pytester) -> None:
    """The project's own configuration does not register the marker a second time."""
    result = pytester.runpytest_subprocess("--markers", "-c", str(REPO / "pyproject.toml"))
    assert result.ret == pytest.ExitCode.OK
    assert _lab_marker_lines(result) == 1


def _lab_marker_lines(result: pytest.RunResult) -> int:
    return sum(line.startswith("@pytest.mark.lab(") for line in result.outlines)


FAULT_TEST = textwrap.dedent("""
    def test_sigterm_hands_over(hal):
        fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")
        m = hal.failover("VI_1", fault, to="lb2")
        assert m.new_holder == "lb2" and m.vip_move_s is not None

    def test_lab_was_restored(lab):
        assert lab.vip_holders() == {"VI_1": ["lb1"]}
""")


@pytest.mark.lab
def test_faults_measures_reach_summary_junit_and_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=FAULT_TEST)
    report = pytester.path / "report"
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--hal-topology=nginx_master_backup",
        f"--hal-report={report}",
        f"--junitxml={junit}",
        "--hal-probe-interval=10",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*halab failover measures*", "*nginx_master_backup*keepalived*kill_process vrrp SIGTERM*"]
    )
    xml = junit.read_text()
    assert 'name="halab.VI_1.vip_move_ms"' in xml
    stem = report_stem("test_user.py::test_sigterm_hands_over")
    assert stem.startswith("test_user.py_test_sigterm_hands_over-")
    doc = json.loads((report / f"{stem}.json").read_text())
    assert doc["meta"]["topology"] == "nginx_master_backup"
    kinds = {e["kind"] for e in doc["events"]}
    assert {"fault", "probe", "advert", "vip_added", "vip_removed"} <= kinds
    # the probe's requests start on the cadence --hal-probe-interval gave (20 ms by default)
    starts = sorted(e["ts"] for e in doc["events"] if e["kind"] == "probe")
    gaps = sorted(b - a for a, b in itertools.pairwise(starts))
    assert len(gaps) > 50 and 0.008 <= gaps[len(gaps) // 2] <= 0.012, gaps[len(gaps) // 2]
    assert (report / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_keep_from_the_environment_names_its_source(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HALAB_KEEP", "maybe")
    pytester.makepyfile(test_user="def test_x(): pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*halab: keep setting from environment HALAB_KEEP: 'maybe' is not a boolean*"]
    )


BROKEN_BEYOND_RESTORE = textwrap.dedent("""
    def test_outranks_the_master_for_good(hal, lab):
        # not a fault (faults are reverted): the config itself now says lb2 wins
        lab.node("lb2").exec(
            "sed -i 's/priority 100/priority 200/' /etc/keepalived/keepalived.conf && "
            "kill -HUP $(cat /run/keepalived.pid)", check=True
        )
        lab.wait_for_holders({"VI_1": ["lb2"]}, timeout=15)
""")


@pytest.mark.lab
def test_a_test_whose_lab_cannot_be_restored_errors_with_the_reason_and_keeps_its_report(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=BROKEN_BEYOND_RESTORE)
    report = pytester.path / "report"
    result = pytester.runpytest_subprocess(
        "--hal-topology=nginx_master_backup", f"--hal-report={report}", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=1, errors=1)  # the body passed; the restore failed
    result.stdout.fnmatch_lines(
        [
            "*LabMismatchError*VRRP settled the VIPs elsewhere than the topology's `master:`*",
            "*VI_1 is held by lb2, not by lb1*lb2 has the higher priority (200 > 150)*",
        ]
    )
    stem = report_stem("test_user.py::test_outranks_the_master_for_good")
    doc = json.loads((report / f"{stem}.json").read_text())
    assert any(e["kind"] == "vip_added" and e["node"] == "lb2" for e in doc["events"])
    assert (report / f"{stem}.png").exists()

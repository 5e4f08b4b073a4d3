"""pytest-xdist across Docker engines, as a user runs it: `pytest -n 2 --hal-docker-host A
--hal-docker-host B`. Each worker builds its own lab on its own engine; the summary table,
the JUnit properties and the --hal-report files come out whole."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

from pytest_halab.session import report_stem
from pytest_halab.settings import SETTINGS_KEY

TOPOLOGIES = ("nginx_master_backup", "nginx_v3_fast")

XDIST_TEST = textwrap.dedent(f"""
    import pytest

    @pytest.mark.parametrize("topo", {list(TOPOLOGIES)!r})
    def test_sigterm_hands_over(topo, lab_factory, hal_scenario):
        lab = lab_factory(topo)
        hal = hal_scenario(lab)
        fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")
        m = hal.failover("VI_1", fault, to="lb2")
        assert m.new_holder == "lb2" and m.vip_move_s is not None
""")


@pytest.mark.lab
def test_two_workers_two_engines_one_summary(
    pytester: pytest.Pytester, pytestconfig: pytest.Config
) -> None:
    # The engines of the outer run (CI gives two); run alone, the environment's one.
    urls = list(pytestconfig.stash[SETTINGS_KEY].docker_hosts) or ["unix:///var/run/docker.sock"]
    pytester.makepyfile(test_user=XDIST_TEST)
    report = pytester.path / "report"
    junit = pytester.path / "junit.xml"
    args = ["-n", "2", f"--hal-report={report}", f"--junitxml={junit}", "-p", "no:randomly"]
    for url in urls:
        args += ["--hal-docker-host", url]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)

    # one summary table, in the controller, with both workers' measures and labs
    result.stdout.fnmatch_lines(["halab: 2 lab(s) started, 2 different (topology and engine)*"])
    text = result.stdout.str()
    assert text.count("halab failover measures") == 1
    for topo in TOPOLOGIES:
        result.stdout.fnmatch_lines([f"*{topo}*kill_process vrrp SIGTERM*"])

    # JUnit: each test has its own measures as properties, under its own name
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert len(cases) == 2
    for case in cases.values():
        props = {p.get("name") for p in case.iter("property")}
        assert "halab.VI_1.vip_move_ms" in props, case.get("name")

    # reports: one labs.json with the labs of both workers, and each test's files, named
    # without xdist's group suffix
    labs = json.loads((report / "labs.json").read_text())
    assert sorted(e["status"]["topology"] for e in labs) == sorted(TOPOLOGIES)
    engines_used = {e["docker"] for e in labs}
    assert len(engines_used) == min(2, len(urls))
    for topo in TOPOLOGIES:
        stem = report_stem(f"test_user.py::test_sigterm_hands_over[{topo}]")
        doc = json.loads((report / f"{stem}.json").read_text())
        assert doc["meta"]["topology"] == topo
        assert (report / f"{stem}.png").is_file()


GROUPED = textwrap.dedent("""
    import os
    import pytest

    def _where(name):
        with open(os.environ["WHERE_FILE"], "a") as f:
            f.write(f"{name} {os.environ['PYTEST_XDIST_WORKER']}\\n")

    # three tests each of two labs (known from their parameters) and four of a module's
    # own lab: each lab's tests must run on one worker, which builds it once (a group of
    # more than MIN_CHUNK tests, 4, may be cut in chunks for parallel time)
    @pytest.mark.parametrize("topo", ["nginx_master_backup", "nginx_v3_fast"])
    @pytest.mark.parametrize("i", range(3))
    def test_by_topology(topo, i, lab_factory):
        _where(topo)

    @pytest.mark.parametrize("i", range(4))
    def test_module_lab(i, lab_factory):
        _where("module")

    @pytest.mark.parametrize("i", range(6))
    def test_no_lab(i):
        pass
""")


def test_the_tests_of_one_lab_run_on_one_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No lab starts here: the tests ask for `lab_factory` and never call it. Before the
    fix, pytest 9 dropped xdist's group suffix and these tests spread over both workers."""
    where = pytester.path / "where.txt"
    monkeypatch.setenv("WHERE_FILE", str(where))
    pytester.makepyfile(test_grouped=GROUPED)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly", "-v")
    result.assert_outcomes(passed=16)
    workers: dict[str, set[str]] = {}
    for line in where.read_text().splitlines():
        lab, worker = line.split()
        workers.setdefault(lab, set()).add(worker)
    assert workers == {
        "nginx_master_backup": workers["nginx_master_backup"],
        "nginx_v3_fast": workers["nginx_v3_fast"],
        "module": workers["module"],
    }
    assert all(len(w) == 1 for w in workers.values()), workers
    # reports name the tests as written, without the group
    assert "@halab:" not in result.stdout.str()


ORDERED = textwrap.dedent("""
    import os
    import pytest

    def _ran(name):
        with open(os.environ["ORDER_FILE"], "a") as f:
            f.write(name + "\\n")

    @pytest.mark.parametrize("i", range(3))
    def test_plain(i):
        _ran(f"plain{i}")

    def test_inner_session(pytester):
        _ran("pytester")

    @pytest.mark.lab
    def test_own_labs():
        _ran("own")

    @pytest.mark.parametrize("i", range(2))
    def test_pooled(i, lab_factory):
        _ran(f"pooled{i}")

    @pytest.fixture
    def lab(tmp_path):  # a fixture of the module's own that shares the plugin's name
        return tmp_path

    def test_own_fixture_named_lab(lab):
        _ran("plain-lab")
""")


def test_the_longest_units_are_handed_out_first(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collected last, run first: a lab group (a lab start and its tests), then a test that
    starts labs of its own, then an inner pytest session, the plain tests last in their
    order, among them one whose fixture `lab` is its own (estimates: no earlier run is in
    this directory's cache; with one worker no plain test is moved up, see
    test_distribute). No lab starts here."""
    order = pytester.path / "order.txt"
    monkeypatch.setenv("ORDER_FILE", str(order))
    pytester.makepyfile(test_ordered=ORDERED)
    result = pytester.runpytest_subprocess("-n", "1", "-p", "no:randomly", "-p", "pytester")
    result.assert_outcomes(passed=8)
    assert order.read_text().split() == [
        "pooled0",
        "pooled1",
        "own",
        "pytester",
        "plain0",
        "plain1",
        "plain2",
        "plain-lab",
    ]
    # the run recorded what each test took, for the next run's order
    cached = json.loads((pytester.path / ".pytest_cache" / "v" / "halab" / "durations").read_text())
    assert sorted(cached) == sorted(
        f"test_ordered.py::{t}"
        for t in (
            *(f"test_plain[{i}]" for i in range(3)),
            "test_inner_session",
            "test_own_labs",
            *(f"test_pooled[{i}]" for i in range(2)),
            "test_own_fixture_named_lab",
        )
    )


def test_a_durations_file_orders_a_run_without_a_cache(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone has no pytest cache: the file given with --hal-durations orders the
    units instead of the estimates. Here the test with labs of its own took longest."""
    order = pytester.path / "order.txt"
    monkeypatch.setenv("ORDER_FILE", str(order))
    pytester.makepyfile(test_ordered=ORDERED)
    durations = pytester.path / "durations.json"
    durations.write_text(json.dumps({"test_ordered.py::test_own_labs": 600.0}))
    result = pytester.runpytest_subprocess(
        "-n", "1", "-p", "no:randomly", "-p", "pytester", "-p", "no:cacheprovider",
        f"--hal-durations={durations}",
    )  # fmt: skip
    result.assert_outcomes(passed=8)
    assert order.read_text().split() == [
        "own",
        "pooled0",
        "pooled1",
        "pytester",
        "plain0",
        "plain1",
        "plain2",
        "plain-lab",
    ]
    # a bad file is a usage error that names it, before any test runs
    durations.write_text('{"test_ordered.py::test_own_labs": -1}')
    order.unlink()
    bad = pytester.runpytest_subprocess("-n", "1", f"--hal-durations={durations}")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines([f"*durations file from --hal-durations: {durations}: line 1:*"])
    assert not order.exists()

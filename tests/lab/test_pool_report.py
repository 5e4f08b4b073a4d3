"""A pool change measured in a user's test reaches every report, as a failover measure
does: the end-of-run table, the JUnit properties, the --hal-report JSON and picture.
Driven through pytester: one tiny test file on lvs_nat (web1 stopped, taken out of the
master director's pool), run in a pytest process of its own."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import pytest_halab
from pytest_halab.session import report_stem

# the inner pytest runs this checkout's plugin, whatever the environment has installed
CHECKOUT = Path(pytest_halab.__file__).resolve().parents[1]

POOL_TEST = textwrap.dedent("""
    from pytest_halab.assertions import (
        assert_pool_change_within_bound,
        assert_pool_without,
    )
    from pytest_halab.waits import until

    def test_web1_leaves_the_pool(hal, lab):
        fault = hal.faults.stop_web("web1")
        change = hal.pool_change("VI_1", fault, "web1")
        assert change.happened and change.director == "lvs1", change.summary()
        # the config's bound (4 s), with a generous margin for a loaded host
        assert_pool_change_within_bound(change, slack_s=5.0, timeline=hal.timeline())
        web1 = str(lab.nodes["web1"].ip)
        # the backup director's checker, on its own delay_loop's phase, follows within ~1 s
        both = ["lvs1", "lvs2"]
        until(
            "both directors without web1",
            lambda: assert_pool_without(hal.timeline(), "VI_1", web1) == both or None,
            10,
        )
""")


def test_a_pool_change_reaches_summary_junit_and_report(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(CHECKOUT))
    pytester.makepyfile(test_user=POOL_TEST)
    report = pytester.path / "report"
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        "--hal-topology=lvs_nat",
        f"--hal-report={report}",
        f"--junitxml={junit}",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=1)
    text = result.stdout.str()
    assert "halab pool changes" in text
    assert "halab failover measures" not in text  # no failover was measured
    result.stdout.fnmatch_lines(
        ["*lvs_nat*keepalived*halab-vrrpd --check,*stop_web*web1*removed (lvs1)*"]
    )

    (case,) = ET.parse(junit).getroot().iter("testcase")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    base = "halab.pool.VI_1.web1.removed"
    assert props[f"{base}.director"] == "lvs1"
    assert props[f"{base}.happened"] == "true"
    assert props[f"{base}.bound_ms"] == "4000.000"
    assert float(props[f"{base}.applied_ms"] or "nan") > 0
    assert f"{base}.failed_requests" in props

    stem = report_stem("test_user.py::test_web1_leaves_the_pool")
    doc = json.loads((report / f"{stem}.json").read_text())
    (change,) = doc["pool_changes"]
    assert (change["server"], change["director"], change["removed"]) == ("web1", "lvs1", True)
    assert change["fault"].startswith("stop_web")
    events = {e["data"].get("event") for e in doc["events"] if e["kind"] == "checker"}
    assert {"rs_state", "pool"} <= events
    assert (report / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

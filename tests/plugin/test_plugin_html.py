"""pytest-html: each test's timeline picture and measures in its row of the HTML report,
registered only when pytest-html is installed and ``--html`` asked for; the plugin works
without it."""

from __future__ import annotations

import base64
import html
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import pytest_html  # noqa: F401  a dev dependency: missing, these tests error, never skip

PROBE_PLUGINS = textwrap.dedent("""
    def test_which_plugins(pytestconfig):
        pm = pytestconfig.pluginmanager
        print("HALAB_HTML", pm.has_plugin("halab-html"), pm.has_plugin("halab-run"))
""")


@pytest.mark.parametrize(
    ("args", "registered"),
    [
        (["-p", "no:html"], False),  # pytest-html absent: halab runs without it
        ([], False),  # installed, no report asked for: nothing drawn for it
        (["--html=r.html"], True),
    ],
)
def test_the_html_side_is_registered_only_with_an_html_report(
    pytester: pytest.Pytester, args: list[str], registered: bool
) -> None:
    pytester.makepyfile(test_user=PROBE_PLUGINS)
    result = pytester.runpytest_subprocess("-s", *args)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*HALAB_HTML {registered} True*"])


def report_tests(page: str) -> dict[str, list[dict[str, Any]]]:
    """The tests pytest-html wrote into its page (the JSON of its data container)."""
    (blob,) = re.findall(r'id="data-container" data-jsonblob="([^"]*)"', page)
    tests: dict[str, list[dict[str, Any]]] = json.loads(html.unescape(blob))["tests"]
    return tests


FAILOVER_TEST = textwrap.dedent("""
    def test_nginx_killed_moves_the_vip(hal):
        fault = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
        m = hal.failover("VI_1", fault, to="lb2")
        print("VIP_MOVE_MS", f"{m.vip_move_s * 1000:.1f}")

    def test_without_scenario():
        pass
""")


@pytest.mark.lab
def test_the_html_report_holds_each_tests_picture_and_measures(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=FAILOVER_TEST)
    page_path = pytester.path / "report.html"
    result = pytester.runpytest_subprocess(
        "--hal-topology=nginx_master_backup",
        f"--html={page_path}",
        "--self-contained-html",
        "-s",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=2)
    (move,) = [ln.split()[-1] for ln in result.outlines if "VIP_MOVE_MS" in ln]
    page = page_path.read_text()
    tests = report_tests(page)
    rows = tests["test_user.py::test_nginx_killed_moves_the_vip"]
    extras = [x for row in rows for x in row.get("extras", [])]
    pictures = [x["content"] for x in extras if x.get("format_type") == "html"]
    assert len(pictures) == 1, extras
    content = pictures[0]
    assert f"VIP move {move} ms" in content
    assert "VI_1 failover after kill_process nginx SIGKILL: lb1 -&gt; lb2" in content
    (data,) = re.findall(r'class="halab-timeline"[^>]*src="data:image/png;base64,([^"]+)"', content)
    png = base64.b64decode(data)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    # a test without a scenario has no picture
    plain = tests["test_user.py::test_without_scenario"]
    assert not [x for row in plain for x in row.get("extras", [])]
    Path(pytester.path / "picture.png").write_bytes(png)

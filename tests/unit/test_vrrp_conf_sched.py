"""global_defs' process keywords (vrrp_priority, vrrp_rt_priority, vrrp_rlimit_rttime,
vrrp_no_swap, vrrp_cpu_affinity): parsed and checked as keepalived 2.2.7 does
(global_parser.c get_priority, get_realtime_priority, get_rt_rlimit, get_cpu_affinity).
What the daemon does with them: tests/netns (test_realtime_scheduling_as_keepalived_sets_it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import load_config
from pytest_halab.vrrp.conf.model import RT_RLIMIT_DEFAULT

INSTANCE = """vrrp_instance VI_1 {
 interface eth0
 virtual_router_id 5
 priority 100
 virtual_ipaddress {
 10.0.0.1
 }
}
"""

CASES = [
    # keyword line, (field, value), messages
    ("vrrp_priority -5", ("vrrp_priority", -5), []),
    ("vrrp_priority 30", ("vrrp_priority", 0),
     ["number '30' outside range [-20, 19]", "Invalid vrrp process priority specified"]),
    ("vrrp_priority", ("vrrp_priority", 0), ["No vrrp process priority specified"]),
    ("vrrp_rt_priority 50", ("vrrp_rt_priority", 50), []),
    ("vrrp_rt_priority 0", ("vrrp_rt_priority", 1),
     ["vrrp process real-time priority 0 less than minimum 1 - setting to minimum"]),
    ("vrrp_rt_priority 200", ("vrrp_rt_priority", 99),
     ["vrrp process real-time priority 200 greater than maximum 99 - setting to maximum"]),
    ("vrrp_rt_priority abc", ("vrrp_rt_priority", 0),
     ["invalid number 'abc'", "vrrp process real-time priority 'abc' invalid"]),
    ("vrrp_rlimit_rttime 5000", ("vrrp_rlimit_rttime", 5000), []),
    ("vrrp_rlimit_rtime 1", ("vrrp_rlimit_rttime", 2), []),
    ("vrrp_rlimit_rttime 0", ("vrrp_rlimit_rttime", 0),
     ["number '0' outside range [1, 4294967295]", "Invalid vrrp real-time limit - 0"]),
    ("vrrp_no_swap", ("vrrp_no_swap", True), []),
    ("vrrp_cpu_affinity 0", ("vrrp_cpu_affinity", (0,)), []),
    ("vrrp_cpu_affinity", ("vrrp_cpu_affinity", ()), ["No vrrp cpu_id set specified"]),
]  # fmt: skip


def conf_with(tmp_path: Path, keyword: str) -> Path:
    path = tmp_path / "keepalived.conf"
    path.write_text(f"global_defs {{\n  {keyword}\n}}\n{INSTANCE}")
    return path


@pytest.mark.parametrize(("keyword", "field", "messages"), CASES)
def test_values_and_messages(
    tmp_path: Path, keyword: str, field: tuple[str, object], messages: list[str]
) -> None:
    cfg, diags = load_config(conf_with(tmp_path, keyword), interfaces={"eth0"})
    assert getattr(cfg.global_defs, field[0]) == field[1]
    assert [d.message for d in diags] == messages
    assert all(d.line == 2 for d in diags)


def test_defaults() -> None:
    from pytest_halab.vrrp.conf.model import GlobalDefs

    gd = GlobalDefs()
    assert (gd.vrrp_priority, gd.vrrp_rt_priority, gd.vrrp_no_swap) == (0, 0, False)
    assert gd.vrrp_rlimit_rttime == RT_RLIMIT_DEFAULT == 10_000


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="no keepalived to compare with")
@pytest.mark.parametrize("keyword", [c[0] for c in CASES] + ["vrrp_cpu_affinity 0 4096"])
def test_as_keepalived_says(tmp_path: Path, keyword: str) -> None:
    """`halab-vrrpd -t` prints what `keepalived -t` prints, and exits alike."""
    path = conf_with(tmp_path, keyword)
    ours = subprocess.run(
        [sys.executable, "-m", "pytest_halab.vrrp", "-t", "-f", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    theirs = subprocess.run(
        ["keepalived", "-t", "-f", str(path)], capture_output=True, text=True, timeout=60
    )

    # both judge the host's interfaces: compare only what these keywords make them say
    def lines(out: str) -> list[str]:
        return [x for x in out.splitlines() if "Line 2" in x]

    assert lines(ours.stderr) == lines(theirs.stderr)
    if not lines(theirs.stderr) and "interface" not in theirs.stderr:
        assert ours.returncode == theirs.returncode

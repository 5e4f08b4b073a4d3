"""Script security with real daemons: halab-vrrpd and keepalived 2.2.7 side by side in
network namespaces (the lab of test_vrrp_netns). Under ``enable_script_security`` an
insecure notify script is never run; notify scripts run as ``script_user`` get that
user's ids and group only, root's supplementary groups dropped."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_vrrp_netns import (  # type: ignore[import-not-found, unused-ignore]
    NetnsLab,
    holds_for,
    lab,
    startup_allowance,
    vrrp_conf,
    wait_for,
)

__all__ = ["lab"]  # the fixture, used by name

ENGINES = ["halab", "keepalived"]


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory under /tmp any user can reach (scripts run as nobody write here)."""
    path = Path(tempfile.mkdtemp(prefix="halab-sec-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _executable(path: Path, body: str, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(mode)
    return path


def _with_notify(global_defs: str, notify: str) -> str:
    conf = vrrp_conf(priority=150, version=3, advert=0.1)
    conf = conf.replace("    virtual_ipaddress {", notify + "    virtual_ipaddress {")
    return f"global_defs {{\n{global_defs}\n}}\n" + conf


@pytest.mark.parametrize("kind", ENGINES)
def test_insecure_notify_script_never_runs(lab: NetnsLab, shared: Path, kind: str) -> None:
    out = shared / "out"
    out.mkdir()
    out.chmod(0o777)
    insecure = _executable(shared / "insecure.sh", f'touch "{out}/insecure-ran"', 0o777)
    secure = _executable(shared / "secure.sh", f'echo "$@" >> "{out}/notes"')
    conf = _with_notify(
        "    enable_script_security\n    script_user root",
        f'    notify_master "{insecure}"\n    notify "{secure}"\n',
    )
    node = lab.add_node("a", 1)
    node.start(kind, conf)
    wait_for(node.has_vip, startup_allowance(), "a to become master")
    notes = out / "notes"
    wait_for(lambda: notes.exists() and "MASTER" in notes.read_text(), 3.0, "notify")
    holds_for(lambda: not (out / "insecure-ran").exists(), 1.0, "the insecure script not to run")


@pytest.mark.parametrize("kind", ENGINES)
def test_notify_as_script_user_drops_root_groups(lab: NetnsLab, shared: Path, kind: str) -> None:
    out = shared / "out"
    out.mkdir()
    out.chmod(0o777)
    ids = _executable(shared / "ids.sh", f'echo "$(id -u) $(id -G)" > "{out}/ids"')
    conf = _with_notify(
        "    enable_script_security\n    script_user nobody", f'    notify "{ids}"\n'
    )
    node = lab.add_node("a", 1)
    saved = os.getgroups()
    os.setgroups([0, 1, 2, 4])  # the daemon starts with supplementary groups to drop
    try:
        node.start(kind, conf)
    finally:
        os.setgroups(saved)
    wait_for(node.has_vip, startup_allowance(), "a to become master")
    wait_for(lambda: (out / "ids").exists(), 3.0, "the notify script")
    uid, *groups = (out / "ids").read_text().split()
    assert (uid, groups) == ("65534", ["65534"])


@pytest.mark.parametrize("kind", ENGINES)
def test_notify_scripts_run_as_the_user_written_after_them(
    lab: NetnsLab, shared: Path, kind: str
) -> None:
    """keepalived reads ``notify_X COMMAND [USER [GROUP]]``: arguments belong inside the
    quotes, the word after the command is the user the script runs as (root's groups
    dropped), the next its group, a fifth is ignored; an unquoted argument is taken for a
    user that does not exist, and that script never runs."""
    out = shared / "out"
    out.mkdir()
    out.chmod(0o777)
    ids = _executable(shared / "ids.sh", f'echo "$(id -u) $(id -G) $*" > "{out}/$$"')
    conf = _with_notify(
        "",
        f"    notify_master {ids} master\n"
        f'    notify_backup "{ids} backup" nobody\n'
        f'    notify "{ids} generic" nobody daemon extra\n',
    )
    node = lab.add_node("a", 1)
    saved = os.getgroups()
    os.setgroups([0, 1, 2, 4])  # the daemon starts with supplementary groups to drop
    try:
        node.start(kind, conf)
    finally:
        os.setgroups(saved)
    wait_for(node.has_vip, startup_allowance(), "a to become master")

    def records() -> set[str]:
        return {p.read_text().strip() for p in out.iterdir()}

    master = "65534 1 generic INSTANCE VI_1 MASTER 150"
    wait_for(lambda: master in records(), 3.0, "the notify script for MASTER")
    holds_for(lambda: len(records()) == 3, 1.0, "no other script to run")
    assert records() == {
        "65534 65534 backup",
        "65534 1 generic INSTANCE VI_1 BACKUP 150",
        master,
    }

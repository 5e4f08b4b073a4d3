"""halab-vrrpd without -P/-C runs both halves as keepalived does: the VRRP process starts
the checker as its child (named halab-checker), which programs the forwarding plane, and
takes it down with it. Run for real in a network namespace (root, nft)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None,
    reason="needs root, ip and nft",
)

CONF = """
vrrp_instance VI_1 {
    state BACKUP
    interface va
    virtual_router_id 61
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.61.0.3/24
    }
}
virtual_server 10.61.0.3 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.61.0.20 80 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
"""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=20)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"halab-chk-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "-n", name, "link", "add", "name", "va", "type", "veth", "peer", "name", "vb")
        sh("ip", "-n", name, "addr", "add", "10.61.0.10/24", "dev", "va")
        for dev in ("lo", "va", "vb"):
            sh("ip", "-n", name, "link", "set", dev, "up")
        yield name
    finally:
        sh("ip", "netns", "del", name, check=False)


def wait(what: str, check: object, timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()  # type: ignore[operator]
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def children(pid: int) -> list[tuple[int, str]]:
    """The processes below `pid`: its children and theirs (halab-vrrpd's main process
    runs the VRRP process, which runs the checker)."""
    out = sh("ps", "-o", "pid=,comm=", "--ppid", str(pid), check=False).stdout
    kids = [(int(p), c) for p, c in (line.split(None, 1) for line in out.splitlines() if line)]
    return kids + [k for p, _ in kids for k in children(p)]


def test_both_halves_the_checker_is_a_child_that_dies_with_its_parent(
    netns: str, tmp_path: Path
) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pytest_halab.vrrp",
         "-n", "-l", "-G", "-f", str(conf)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # `ip netns exec` execs the interpreter: the daemon's main process is `daemon.pid`
        kids = wait("the checker child", lambda: [k for k in children(daemon.pid)
                                                  if k[1] == "halab-checker"])  # fmt: skip
        assert isinstance(kids, list) and len(kids) == 1
        table = wait(
            "the checker's nftables table",
            lambda: (
                "10.61.0.20" in sh("ip", "netns", "exec", netns, "nft", "list", "ruleset").stdout
            ),
        )
        assert table
        daemon.send_signal(signal.SIGTERM)
        out, _ = daemon.communicate(timeout=20)
        assert daemon.returncode == 0, out
        child = kids[0][0]
        wait("the checker to exit", lambda: not os.path.exists(f"/proc/{child}"), 10.0)
        ruleset = sh("ip", "netns", "exec", netns, "nft", "list", "ruleset").stdout
        assert "halab_lvs" not in ruleset, ruleset  # the checker cleared its plane
        assert "Forwarding plane: nftables" in out, out
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def test_vrrp_only_starts_no_checker(netns: str, tmp_path: Path) -> None:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(CONF)
    root = Path(__file__).resolve().parents[2]
    daemon = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-m", "pytest_halab.vrrp",
         "-P", "-n", "-l", "-G", "-f", str(conf)],
        env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait(
            "the daemon to start",
            lambda: "Starting" in Path(f"/proc/{daemon.pid}/cmdline").read_text() or True,
        )
        time.sleep(1.5)  # the test's input: a running daemon; nothing may appear meanwhile
        assert not [k for k in children(daemon.pid) if k[1] == "halab-checker"]
        assert "10.61.0.20" not in sh("ip", "netns", "exec", netns, "nft", "list", "ruleset").stdout
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=20)

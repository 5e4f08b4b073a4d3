"""halab-vrrpd's main process (vrrp/parent.py) with a stand-in VRRP child, in a process of
its own: signals handed on, a killed child respawned, a permanent error ending both, a stop
that stops the child, and a child that stops when its parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The stand-in child: writes its pid, says which signals it got, exits as told by a file.
MAIN = """
import logging, os, signal, sys, time
from pathlib import Path
from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.parent import Parent
from pytest_halab.vrrp.status import REQUEST_SIGNALS

work = Path(sys.argv[1])
logging.basicConfig(filename=work / "log", level=logging.INFO, format="%(message)s")
logging.getLogger("halab-vrrpd").setLevel(logging.INFO)
signal.pthread_sigmask(signal.SIG_BLOCK, REQUEST_SIGNALS)

def child(ready):
    got = []
    def note(sig, _frame):
        with open(work / "signals", "a") as fh:
            fh.write(f"{os.getpid()} {sig}\\n")
        if sig == signal.SIGTERM:
            sys.exit(0)
    for sig in (signal.SIGTERM, *REQUEST_SIGNALS):
        signal.signal(sig, note)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, REQUEST_SIGNALS)
    (work / "child.pid").write_text(str(os.getpid()))
    while True:
        exit_file = work / "exit"
        if exit_file.exists():
            return int(exit_file.read_text())
        time.sleep(0.01)

(work / "main.pid").write_text(str(os.getpid()))
respawn = os.environ.get("HALAB_TEST_RESPAWN", "1") == "1"  # 0: keepalived's -R
sys.exit(Parent(child, REQUEST_SIGNALS, EventLog(str(work / "events")), respawn=respawn).run(None))
"""


def _until(what: str, check: Callable[[], object], timeout: float = 10.0) -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.01)
    raise AssertionError(f"not seen within {timeout} s: {what}")


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


@pytest.fixture
def parent(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    respawn = "0" if request.node.get_closest_marker("no_respawn") else "1"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HALAB_TEST_RESPAWN": respawn}
    proc = subprocess.Popen([sys.executable, "-c", MAIN, str(tmp_path)], env=env)
    try:
        _until("the first child", lambda: _pid(tmp_path / "child.pid"))
        yield proc, tmp_path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        child = _pid(tmp_path / "child.pid")
        if child is not None:
            os.kill(child, signal.SIGKILL)


def _signals(work: Path) -> list[tuple[int, int]]:
    path = work / "signals"
    text = path.read_text() if path.exists() else ""
    return [(int(a), int(b)) for a, b in (line.split() for line in text.splitlines())]


def test_the_requests_are_handed_to_the_child(
    parent: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, work = parent
    child = _pid(work / "child.pid")
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGRTMIN + 2):
        os.kill(proc.pid, sig)
        _until(f"signal {sig} in the child", lambda s=sig: (child, s) in _signals(work))
    assert proc.poll() is None


def test_a_killed_child_is_respawned(parent: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, work = parent
    first = _pid(work / "child.pid")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    second = _until(
        "a new child",
        lambda: (lambda p: p if p not in (None, first) else None)(_pid(work / "child.pid")),
    )
    log = (work / "log").read_text()
    assert f"VRRP child process({first}) died: Respawning" in log
    assert "Restart of VRRP process delayed 0 seconds to limit respawn rate" in log
    assert '"event":"vrrp_child_died"' in (work / "events").read_text()
    # a second death within the minute: delayed by 1 s (keepalived's calc_restart_delay)
    os.kill(int(str(second)), signal.SIGKILL)
    start = time.monotonic()
    _until(
        "a third child",
        lambda: (lambda p: p if p not in (None, first, second) else None)(_pid(work / "child.pid")),
    )
    assert time.monotonic() - start >= 0.9
    assert "delayed 1 seconds" in (work / "log").read_text()
    assert proc.poll() is None


def test_a_permanent_error_of_the_child_ends_the_parent_with_it(
    parent: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, work = parent
    (work / "exit").write_text("2")
    assert proc.wait(timeout=10) == 2
    assert "Keepalived_vrrp exited with permanent error CONFIG. Terminating" in (
        (work / "log").read_text()
    )


def test_sigterm_stops_the_child_then_the_parent(
    parent: tuple[subprocess.Popen[bytes], Path],
) -> None:
    proc, work = parent
    child = _pid(work / "child.pid")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert (child, signal.SIGTERM) in _signals(work)
    assert _pid(work / "child.pid") is None


def test_the_child_is_told_when_its_parent_is_killed(
    parent: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """kill -9 of the main process: the kernel sends its child SIGTERM (PR_SET_PDEATHSIG),
    as keepalived's VRRP child is told, so it can leave MASTER cleanly."""
    proc, work = parent
    child = _pid(work / "child.pid")
    proc.kill()
    proc.wait()
    _until("SIGTERM in the orphan", lambda: (child, signal.SIGTERM) in _signals(work))
    _until("the orphan gone", lambda: _pid(work / "child.pid") is None)


@pytest.mark.no_respawn
def test_with_dont_respawn_the_parent_exits_with_its_child(
    parent: tuple[subprocess.Popen[bytes], Path],
) -> None:
    """-R (keepalived's --dont-respawn): a dead VRRP child ends the daemon."""
    proc, work = parent
    first = _pid(work / "child.pid")
    assert first is not None
    os.kill(first, signal.SIGKILL)
    assert proc.wait(10) == 0
    log = (work / "log").read_text()
    assert f"VRRP child process({first}) died: Exiting" in log
    assert "Respawning" not in log

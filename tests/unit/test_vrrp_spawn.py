"""halab-vrrpd starts scripts by fork and exec without waiting for the exec (spawn.py): what
the child gets, and how a failure reaches the parent."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab.vrrp.spawn import EXEC_FAILED, kill_session, spawn
from pytest_halab.vrrp.track import ProcessRunner


def script(tmp_path: Path, body: str, name: str = "s.sh") -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_the_child_runs_alone_in_its_session_with_null_streams_and_no_inherited_fds(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    body = (
        f"ps -o sid= -p $$ > {out}.sid; echo $$ > {out}.pid\n"
        f"s=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2); echo $s > {out}.std\n"
        f"ls /proc/$$/fd > {out}.fds; echo $HALAB_X > {out}.env\n"
    )
    keep_r, keep_w = os.pipe()
    passed = 200  # an fd the parent would pass on (inheritable): the child must not have it
    os.dup2(keep_w, passed, inheritable=True)
    try:
        child = spawn([str(script(tmp_path, body))], env={"HALAB_X": "given", "PATH": os.defpath})
        assert child.wait(timeout=10) == 0
    finally:
        for fd in (keep_r, keep_w, passed):
            os.close(fd)
    pid = int((tmp_path / "out.pid").read_text())
    assert pid == child.pid and int((tmp_path / "out.sid").read_text()) == pid
    assert (tmp_path / "out.std").read_text().split() == ["/dev/null"] * 3
    fds = set((tmp_path / "out.fds").read_text().split())
    assert str(passed) not in fds and {"0", "1", "2"} <= fds, fds
    assert (tmp_path / "out.env").read_text().strip() == "given"
    assert child.exec_error() is None


def test_a_missing_or_unexecutable_program_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No such file"):
        spawn([str(tmp_path / "absent.sh")])
    with pytest.raises(FileNotFoundError):
        spawn(["halab-no-such-program"])
    plain = tmp_path / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    with pytest.raises(PermissionError, match="Permission denied"):
        spawn([str(plain)])


def test_a_program_found_on_path_runs(tmp_path: Path) -> None:
    script(tmp_path, "exit 3\n", "halab-path-probe")
    child = spawn(["halab-path-probe"], env={"PATH": f"{tmp_path}:{os.defpath}"})
    assert child.wait(timeout=10) == 3


def test_a_failed_exec_exits_127_and_says_why(tmp_path: Path) -> None:
    no_shebang = tmp_path / "bare"
    no_shebang.write_bytes(b"\x7fELF-not-really")
    no_shebang.chmod(0o755)
    child = spawn([str(no_shebang)])
    assert child.wait(timeout=10) == EXEC_FAILED
    assert "Exec format error" in (child.exec_error() or "")


def test_wait_with_a_timeout_and_poll(tmp_path: Path) -> None:
    child = spawn([str(script(tmp_path, "sleep 30\n"))])
    try:
        assert child.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.1)
    finally:
        os.killpg(child.pid, 9)
    assert child.wait(timeout=10) == -9 and child.poll() == -9


class _Loop:
    def __init__(self) -> None:
        self.readers: dict[int, Callable[[], None]] = {}

    def time(self) -> float:
        return 0.0

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        raise AssertionError("no timer expected")

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self.readers[fd] = callback

    def remove_reader(self, fd: int) -> None:
        self.readers.pop(fd, None)


def test_the_runner_logs_a_failed_exec_when_its_child_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare = tmp_path / "bare"
    bare.write_bytes(b"no interpreter line")
    bare.chmod(0o755)
    loop = _Loop()
    codes: list[int] = []
    proc = ProcessRunner(loop).start([str(bare)], codes.append)  # type: ignore[arg-type]
    assert proc is not None
    proc.wait(timeout=10)
    with caplog.at_level(logging.WARNING, logger="halab-vrrpd"):
        for callback in list(loop.readers.values()):
            callback()
    assert codes == [EXEC_FAILED]
    assert f"Cannot run {bare}: [Errno 8] Exec format error" in caplog.text


def _ended_by(pid: int, timeout: float = 5.0) -> int | None:
    """The signal that ended child ``pid`` within ``timeout`` (None: still running, then
    killed here so that nothing is left)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_kill_session_ends_the_command_and_what_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    child = spawn(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"])
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the command never wrote its child's pid"
        time.sleep(0.01)
    grandchild = int(pidfile.read_text())
    kill_session(child.pid)
    assert _ended_by(child.pid) == signal.SIGKILL
    with pytest.raises(ProcessLookupError):  # gone with its group (reaped by init)
        for _ in range(500):
            os.kill(grandchild, 0)
            time.sleep(0.01)


def test_kill_session_ends_a_child_that_has_not_made_its_session_yet() -> None:
    """spawn returns before the child runs; on a loaded host a timeout may fire before the
    child's setsid: there is no group to signal yet, and the child itself must go."""
    pid = os.fork()
    if pid == 0:  # a child still in the parent's group, as spawn's is before setsid
        time.sleep(60)
        os._exit(0)
    kill_session(pid)
    assert _ended_by(pid) == signal.SIGKILL

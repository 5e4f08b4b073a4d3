"""Start a command in a child process without waiting for it to exec, as keepalived does.

``subprocess.Popen`` returns only once the child has exec'd (it reads a pipe the exec
closes), so that a failed exec raises in the parent. The child needs the CPU for that, and
on a loaded host it waits its turn: under eight busy loops on this machine's two cores a
``Popen`` of ``/bin/true`` held its caller 11 ms at the median and 26 ms at p99, while
``os.fork`` returned in 0.5 ms. In halab-vrrpd the caller is the event loop, which also sends
the adverts: every track script run (each ``interval``), each notify script and a reload's
restart of the scripts held the adverts back for as long. A CI run saw lb1 send no advert
for 572 ms around a reload at advert_int 0.1 s, and lb2 took over.

keepalived forks and goes on; its child sets itself up and execs. So does :func:`spawn`:
the parent only forks. The child starts a session of its own, takes the user's groups and
ids, points its standard streams at /dev/null, closes every other descriptor, restores
the signals Python ignores (SIGPIPE, SIGXFSZ) to their defaults, and execs (``PATH``
searched, as ``Popen`` does). A failed exec is said on a pipe the parent reads when the
loop gets to it (``on_error``) and the child exits 127, the shell's status for a command
that could not run. The parent checks first that the program is there and executable, so
the common failure is still refused at once, with the error ``Popen`` raised.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

__all__ = ["EXEC_FAILED", "Child", "kill_session", "spawn"]

EXEC_FAILED = 127


class Child:
    """A started command: the names of ``subprocess.Popen`` that the lab's callers use."""

    def __init__(self, pid: int, errors: int | None = None) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self.errors = errors  # read end of the pipe the child writes a failed exec to

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already: Popen says 0 then too
                self.returncode = 0
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code (-N for signal N); with `timeout`, TimeoutExpired past it."""
        if timeout is not None:
            deadline = time.monotonic() + timeout
            while self.poll() is None:
                if time.monotonic() >= deadline:
                    raise subprocess.TimeoutExpired(str(self.pid), timeout)
                time.sleep(0.005)
        while self.returncode is None:
            try:
                _pid, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self.returncode = 0
            else:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def exec_error(self) -> str | None:
        """What the child wrote on its error pipe (its exec failed), once it has ended or
        exec'd; closes the pipe. None when the exec succeeded."""
        if self.errors is None:
            return None
        try:
            data = os.read(self.errors, 512)
        except BlockingIOError:
            return None
        finally:
            os.close(self.errors)
            self.errors = None
        return data.decode("utf-8", "replace") or None


def kill_session(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a started command and everything it started: its session's process group.

    :func:`spawn` returns before the child has run, and the child makes its session first
    thing. Until it has, there is no group ``pid`` to signal (ESRCH), and the child alone
    exists, so the child itself is signalled; then the group once more, in case the child
    made it between the two calls. A loaded host gave a 0.1 s script timeout exactly this
    case in CI: the group kill missed and the script ran on.
    """
    try:
        os.killpg(pid, sig)
        return
    except ProcessLookupError:
        pass
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, sig)
    with contextlib.suppress(OSError):
        os.killpg(pid, sig)


def _executable(argv0: str, env: Mapping[str, str] | None) -> None:
    """Raise what ``Popen`` would for a program that is missing or not executable."""
    if "/" in argv0:
        if not os.path.exists(argv0):
            raise FileNotFoundError(2, "No such file or directory", argv0)
        if os.path.isdir(argv0) or not os.access(argv0, os.X_OK):
            raise PermissionError(13, "Permission denied", argv0)
        return
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(argv0, path=path) is None:
        raise FileNotFoundError(2, "No such file or directory", argv0)


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ids: tuple[int, int] | None = None,
) -> Child:
    """Fork and exec `argv` (as uid, gid `ids`: groups set to gid alone); return at once.

    Raises OSError when the program is missing or not executable, or the fork failed."""
    args = list(argv)
    if not args:
        raise FileNotFoundError(2, "No such file or directory", "")
    _executable(args[0], env)
    err_r, err_w = os.pipe()  # both close on exec
    try:
        pid = os.fork()
    except OSError:
        os.close(err_r)
        os.close(err_w)
        raise
    if pid == 0:  # the child: never returns into the caller's code
        try:
            _exec_child(args, env, ids, err_w)
        finally:
            os._exit(EXEC_FAILED)
    os.close(err_w)
    os.set_blocking(err_r, False)
    return Child(pid, err_r)


def _exec_child(
    args: list[str], env: Mapping[str, str] | None, ids: tuple[int, int] | None, err_w: int
) -> None:
    try:
        os.setsid()
        if ids is not None:
            uid, gid = ids
            os.setgroups([gid])
            os.setgid(gid)
            os.setuid(uid)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, err_w)
        os.closerange(err_w + 1, max(os.sysconf("SC_OPEN_MAX"), 1 << 20))
        for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
        os.execvpe(args[0], args, dict(env) if env is not None else os.environ)
    except BaseException as exc:  # said to the parent; the caller exits 127
        msg = f"{exc}" if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            os.write(err_w, msg.encode("utf-8", "replace")[:500])

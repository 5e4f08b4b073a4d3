"""halab-vrrpd's parent process, as keepalived's: the VRRP process runs as its child.

keepalived's main process writes the pid file (``-p``), forks its VRRP child (which writes
``-r``), passes the signals it is sent on to it (SIGHUP, SIGUSR1, SIGUSR2, the JSON and
STATS_CLEAR signals), respawns the child when it dies (at once if it ran for a minute,
else after 1, 2, 4 ... 60 s), and on SIGTERM or SIGINT stops it and waits 5 s for it
before a SIGKILL. The child asks the kernel for a SIGTERM when its parent dies
(PR_SET_PDEATHSIG), so ``kill -9 $(cat /run/keepalived.pid)`` still makes it leave MASTER
cleanly: priority 0, addresses removed. A child that exits with keepalived's permanent
errors (1 fatal, 2 config, 4 missing permission) ends the parent with that status.

The parent loads no daemon code: it forks before the VRRP process imports it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

from pytest_halab.vrrp.eventlog import EventLog

__all__ = ["CHILD_WAIT_S", "PERMANENT_EXITS", "Parent", "prctl", "set_parent_death_signal"]

log = logging.getLogger("halab-vrrpd")

CHILD_WAIT_S = 5.0  # keepalived's child_wait_time: how long a stop waits for the child
# the child's exit statuses after which keepalived's parent stops instead of respawning
PERMANENT_EXITS = {1: "FATAL", 2: "CONFIG", 4: "missing permission"}
RESPAWN_AT_ONCE_AFTER_S = 60.0  # a child that ran this long is respawned at once
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_STOP = frozenset({signal.SIGTERM, signal.SIGINT})


def prctl(option: int, arg: int | bytes) -> bool:
    """prctl(2) with one argument (a number or a string); False when there is no C
    library to call or the call fails."""
    try:
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return False
    value = ctypes.c_char_p(arg) if isinstance(arg, bytes) else ctypes.c_ulong(arg)
    return int(call(ctypes.c_int(option), value, ctypes.c_ulong(0), ctypes.c_ulong(0))) == 0


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """prctl(PR_SET_PDEATHSIG, sig): the kernel sends `sig` when the parent dies."""
    return prctl(_PR_SET_PDEATHSIG, int(sig))


class Parent:
    """The main process: runs `child` (a function that returns the VRRP process's exit
    status) in a forked child, and watches it. `passed_on` are the signals it hands to
    the child; the caller has them blocked (they are taken with sigtimedwait)."""

    def __init__(
        self,
        child: Callable[[int | None], int],
        passed_on: frozenset[int],
        events: EventLog,
        *,
        respawn: bool = True,
    ) -> None:
        self.child = child
        self.respawn = respawn  # False: keepalived's -R, the parent stops with its child
        self.passed_on = passed_on
        self.events = events
        self.pid: int | None = None  # the VRRP child's
        self.started = 0.0
        self.next_delay = 0  # keepalived's next_restart_delay, in seconds
        self.respawn_at: float | None = None
        self.stopping = False
        self.watched = _STOP | passed_on | {signal.SIGCHLD}

    def run(self, ready_fd: int | None) -> int:
        """Start the child, then watch it until a stop or a permanent error."""
        signal.pthread_sigmask(signal.SIG_BLOCK, self.watched)
        self._start(ready_fd)
        while True:
            timeout = None if self.respawn_at is None else max(0.0, self.respawn_at - time.time())
            info = (
                signal.sigwaitinfo(self.watched)
                if timeout is None
                else signal.sigtimedwait(self.watched, timeout)
            )
            if info is None:  # the respawn delay is over
                self.respawn_at = None
                self._start(None)
                continue
            sig = info.si_signo
            if sig in _STOP:
                return self._stop()
            if sig == signal.SIGCHLD:
                status = self._reap()
                if status is not None:
                    return status
            elif self.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, sig)

    def _start(self, ready_fd: int | None) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the VRRP process: never returns into the parent's code
            status = 1
            try:
                set_parent_death_signal(signal.SIGTERM)
                if os.getppid() != parent:  # the parent died before the prctl
                    os._exit(0)
                # SIGTERM/SIGINT stop it at any time; the requests stay blocked until the
                # daemon handles them (Daemon.start), SIGCHLD is the daemon's own
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP | {signal.SIGCHLD})
                status = self.child(ready_fd)
            except SystemExit as exc:  # sys.exit() in the child: its status
                status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:
                log.exception("VRRP child process failed")
            finally:
                logging.shutdown()
                os._exit(status)
        if ready_fd is not None:
            os.close(ready_fd)  # the child says when it is ready
        self.pid = pid
        self.started = time.time()
        log.info("Starting VRRP child process, pid=%d", pid)

    def _reap(self) -> int | None:
        """A SIGCHLD: the child's end, if it ended. Returns the parent's exit status when
        the parent must stop too."""
        if self.pid is None:
            return None
        try:
            pid, wstatus = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, wstatus = self.pid, 0
        if pid == 0:
            return None
        self.pid = None
        code = os.waitstatus_to_exitcode(wstatus)
        if code in PERMANENT_EXITS:
            log.info(
                "Keepalived_vrrp exited with permanent error %s. Terminating",
                PERMANENT_EXITS[code],
            )
            return code
        if code < 0:
            sig = -code
            log.info(
                "Keepalived_vrrp exited due to signal %d (%s)%s",
                sig,
                signal.strsignal(sig) or "Unknown signal",
                " - has rlimit_rttime been exceeded?" if sig == signal.SIGKILL else "",
            )
        elif code:
            log.info("Keepalived_vrrp exited with status %d", code)
        if not self.respawn:
            log.critical("VRRP child process(%d) died: Exiting", pid)
            self.events.emit("vrrp_child_died", None, pid=pid, status=code, respawn=False)
            return 0
        log.critical("VRRP child process(%d) died: Respawning", pid)
        delay = self._restart_delay()
        self.events.emit("vrrp_child_died", None, pid=pid, status=code, respawn_in=delay)
        if delay is not None:
            log.info("Restart of VRRP process delayed %d seconds to limit respawn rate", delay)
        if delay:
            self.respawn_at = time.time() + delay
        else:
            self._start(None)
        return None

    def _restart_delay(self) -> int | None:
        """keepalived's calc_restart_delay: None (at once, nothing said) after a minute's
        run, else the delay due (the first time 0), the next one doubled from 1 to 60 s."""
        if time.time() - self.started >= RESPAWN_AT_ONCE_AFTER_S:
            self.next_delay = 0
            return None
        delay = self.next_delay
        self.next_delay = 1 if not delay else 60 if delay > 30 else delay * 2
        return delay

    def _stop(self) -> int:
        """SIGTERM or SIGINT: the child is sent SIGTERM and given CHILD_WAIT_S, then KILL."""
        log.info("Stopping")
        self.stopping = True
        if self.pid is None:
            return 0
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_WAIT_S
        while self.pid is not None:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.pid = None
                break
            left = deadline - time.monotonic()
            if left <= 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                self.pid = None
                break
            signal.sigtimedwait({signal.SIGCHLD}, min(left, 0.5))
        return 0

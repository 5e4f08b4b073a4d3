"""Tracking and notifications for halab-vrrpd: vrrp_script, track_interface, notify
(state-change mail: smtpalert.py).

Nothing here blocks the event loop: scripts are child processes watched through a pidfd
(:func:`os.pidfd_open`) the loop selects on, with a timer for their timeout. The loop is
reached through the small :class:`Scheduler` protocol, which ``daemon.EventLoop`` implements.

keepalived 2.2.7 semantics:

- A ``vrrp_script`` runs every ``interval`` seconds (never two at once), and fails when it
  exits non-zero or runs longer than ``timeout`` (default: ``interval``; it is killed).
  It goes from OK to failed after ``fall`` consecutive failures and back after ``rise``
  consecutive successes. It starts OK, or failed with ``init_fail``.
- A tracker's weight: ``weight > 0`` is added to the priority while OK, ``weight < 0`` is
  added while failing, ``weight 0`` puts the instance in FAULT while failing; ``reverse``
  flips the sign of the adjustment. The effective priority is clamped to 1-254.
- A tracked interface is OK while it is up and running (``IFF_UP`` and ``IFF_RUNNING``).
- ``notify_master|backup|fault|stop`` (and ``notify_master_rx_lower_pri``) run with the
  arguments written inside their quotes only; ``notify`` gets ``INSTANCE|GROUP NAME STATE
  PRIORITY`` appended. Each runs as its own user and group when the configuration names
  them (``notify_backup "/x.sh backup" nobody``), else as the default script user. They
  run without a shell (keepalived execs them directly).
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import shlex
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from pytest_halab.vrrp.conf import NotifyScript
from pytest_halab.vrrp.spawn import Child, kill_session, spawn

__all__ = [
    "NotifyCommand",
    "ProcessRunner",
    "Scheduler",
    "ScriptTracker",
    "TimerHandle",
    "TrackedItem",
    "notify_runs",
    "split_command",
    "tracking_result",
]

log = logging.getLogger("halab-vrrpd")

PRIORITY_MIN = 1
PRIORITY_MAX = 254


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What tracking needs of the event loop."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None: ...

    def remove_reader(self, fd: int) -> None: ...


def split_command(command: str) -> list[str]:
    """Split a script line into argv as keepalived does (quotes group words)."""
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


# --- child processes -----------------------------------------------------------------


class ProcessRunner:
    """Starts commands and reports their exit through the loop (pidfd), never blocking."""

    def __init__(
        self, scheduler: Scheduler, *, user: str | None = None, group: str | None = None
    ) -> None:
        self._scheduler = scheduler
        self._user = user
        self._group = group
        self._children: dict[int, tuple[Child, int]] = {}

    def _uid_gid(self, user: str | None, group: str | None = None) -> tuple[int, int] | None:
        """The ids a script runs as, as keepalived picks them: its own user (and group),
        else ``script_user`` (and its group), else keepalived_script when it exists;
        root when none applies; None (unchanged) when we are not root.

        Raises LookupError when a user or group the configuration names does not exist
        (any more: the parser dropped the scripts whose users did not): such a script is
        never run as root instead."""
        if os.geteuid() != 0:
            return None
        if user is None:
            user, group = self._user, self._group
        if user is None:
            try:
                entry = pwd.getpwnam("keepalived_script")
            except KeyError:
                # root, but still without supplementary groups, as keepalived runs it
                return 0, os.getegid()
            return entry.pw_uid, entry.pw_gid
        try:
            entry = pwd.getpwnam(user)
            gid = entry.pw_gid if group is None else grp.getgrnam(group).gr_gid
        except KeyError as exc:
            raise LookupError(f"user/group {user}:{group or ''} does not exist") from exc
        return entry.pw_uid, gid

    def start(
        self,
        argv: Sequence[str],
        on_exit: Callable[[int], None] | None = None,
        *,
        user: str | None = None,
        group: str | None = None,
        env: dict[str, str] | None = None,
    ) -> Child | None:
        """Start ``argv``; ``on_exit(returncode)`` runs in the loop when it ends. The
        loop is not held while the child execs (`spawn`): a program that is there but
        cannot be exec'd is logged when its child ends, with status 127.

        As keepalived's set_script_env(): a script run as another user gets that user's
        gid and no other group (root's supplementary groups are dropped), then its uid.
        Returns None (after logging) when the command cannot be started.
        """
        try:
            ids = self._uid_gid(user, group)
        except LookupError as exc:
            log.warning("Cannot run %s: %s", shlex.join(argv), exc)
            return None
        try:
            proc = spawn(argv, env=env, ids=ids)
        except OSError as exc:
            log.warning("Cannot run %s: %s", shlex.join(argv), exc)
            return None
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            # No pidfd (old kernel): wait on a thread and wake the loop through a pipe.
            pidfd = self._thread_waiter(proc)
        self._children[pidfd] = (proc, pidfd)

        def reap() -> None:
            self._scheduler.remove_reader(pidfd)
            self._children.pop(pidfd, None)
            code = proc.wait()
            os.close(pidfd)
            failed = proc.exec_error()
            if failed is not None:
                log.warning("Cannot run %s: %s", shlex.join(argv), failed)
            if on_exit is not None:
                on_exit(code)

        self._scheduler.add_reader(pidfd, reap)
        return proc

    @staticmethod
    def _thread_waiter(proc: Child) -> int:
        read_fd, write_fd = os.pipe()

        def wait() -> None:
            proc.wait()
            os.close(write_fd)

        threading.Thread(target=wait, daemon=True).start()
        return read_fd


# --- vrrp_script ---------------------------------------------------------------------


class ScriptTracker:
    """One ``vrrp_script``: runs it on its interval and keeps its OK/failed status.

    ``on_change(name, ok)`` is called in the loop when the status flips. ``result_log``
    gets one message per flip ("succeeded", "failed (exited with status 1)") so the
    daemon can log them as keepalived does.
    """

    def __init__(
        self,
        name: str,
        command: str,
        *,
        scheduler: Scheduler,
        runner: ProcessRunner,
        interval: float = 1.0,
        timeout: float = 0.0,
        rise: int = 1,
        fall: int = 1,
        init_fail: bool = False,
        user: str | None = None,
        group: str | None = None,
        on_change: Callable[[str, bool, str], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = split_command(command)
        self.interval = max(interval, 0.001)
        self.timeout = timeout if timeout > 0 else self.interval
        self.rise = max(rise, 1)
        self.fall = max(fall, 1)
        self.user = user
        self.group = group
        self.ok = not init_fail
        self.runs = 0
        self._scheduler = scheduler
        self._runner = runner
        self._on_change = on_change
        self._streak = 0  # consecutive results that disagree with self.ok
        self._proc: Child | None = None
        self._timer: TimerHandle | None = None
        self._kill_timer: TimerHandle | None = None
        self._timed_out = False
        self._stopped = False

    def start(self) -> None:
        """Run the first check now, then every interval."""
        self._stopped = False
        self._tick()

    def stop(self) -> None:
        self._stopped = True
        for timer in (self._timer, self._kill_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._kill_timer = None
        if self._proc is not None and self._proc.poll() is None:
            kill_session(self._proc.pid)

    def _tick(self) -> None:
        if self._stopped:
            return
        now = self._scheduler.time()
        self._timer = self._scheduler.call_at(now + self.interval, self._tick)
        if self._proc is not None:
            return  # still running: keepalived never runs a script twice at once
        if not self.argv:
            self._result(False, "empty script")
            return
        self._timed_out = False
        self.runs += 1
        self._proc = self._runner.start(self.argv, self._exited, user=self.user, group=self.group)
        if self._proc is None:
            self._result(False, "could not be started")
            return
        self._kill_timer = self._scheduler.call_at(now + self.timeout, self._kill)

    def _kill(self) -> None:
        self._kill_timer = None
        if self._proc is not None and self._proc.poll() is None:
            self._timed_out = True
            kill_session(self._proc.pid)

    def _exited(self, code: int) -> None:
        self._proc = None
        if self._kill_timer is not None:
            self._kill_timer.cancel()
            self._kill_timer = None
        if self._stopped:
            return
        if self._timed_out:
            self._result(False, "timed_out")  # keepalived 2.2.7 logs "VRRP_Script(x) timed_out"
        elif code == 0:
            self._result(True, "succeeded")
        elif code < 0:
            self._result(False, f"failed (killed by signal {-code})")
        else:
            self._result(False, f"failed (exited with status {code})")

    def _result(self, success: bool, detail: str) -> None:
        if success == self.ok:
            self._streak = 0
            return
        self._streak += 1
        if self._streak < (self.rise if success else self.fall):
            return
        self._streak = 0
        self.ok = success
        if self._on_change is not None:
            self._on_change(self.name, success, detail)


# --- weights -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackedItem:
    """One thing an instance tracks (a script or an interface) and its current status."""

    kind: str  # "script" | "interface"
    name: str
    weight: int
    reverse: bool
    ok: bool

    @property
    def adjustment(self) -> int:
        """What this item adds to the priority now (keepalived's weight rules)."""
        if self.weight == 0:
            return 0
        applies = self.ok if self.weight > 0 else not self.ok
        if not applies:
            return 0
        return -self.weight if self.reverse else self.weight

    @property
    def faults(self) -> bool:
        """A weight-0 item that is failing puts the instance in FAULT."""
        return self.weight == 0 and not self.ok


def tracking_result(base_priority: int, items: Iterable[TrackedItem]) -> tuple[bool, int]:
    """(fault, effective priority) of an instance with ``base_priority`` tracking ``items``.

    The address owner (255) keeps its priority whatever the weights, as in keepalived.
    """
    items = list(items)
    fault = any(i.faults for i in items)
    if base_priority >= 255:
        return fault, base_priority
    total = base_priority + sum(i.adjustment for i in items)
    return fault, min(max(total, PRIORITY_MIN), PRIORITY_MAX)


# --- notify ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyCommand:
    """A notify script to start: its argv, and the user (and group) it runs as (None:
    the default script user)."""

    argv: tuple[str, ...]
    user: str | None = None
    group: str | None = None

    @classmethod
    def of(cls, script: NotifyScript | str, extra: Sequence[str] = ()) -> NotifyCommand | None:
        """The command for a configured script (a command line: the default user), with
        `extra` arguments appended; None when it has no program."""
        if isinstance(script, str):
            argv, user, group = split_command(script), None, None
        else:
            argv, user, group = script.argv, script.user, script.group
        if not argv:
            return None
        return cls((*argv, *extra), user, group)


def notify_runs(
    *,
    kind: str,
    name: str,
    state: str,
    priority: int,
    specific: NotifyScript | str | None,
    generic: NotifyScript | str | None,
) -> list[NotifyCommand]:
    """The scripts to run for a state change, as keepalived 2.2 runs them, each with the
    user it runs as.

    ``kind`` is "INSTANCE" or "GROUP"; ``specific`` is the notify_<state> script (run
    with its own arguments only), ``generic`` the ``notify`` script (gets kind, name,
    state, priority appended).
    """
    commands = [
        NotifyCommand.of(specific) if specific else None,
        NotifyCommand.of(generic, (kind, name, state, str(priority))) if generic else None,
    ]
    return [c for c in commands if c is not None]

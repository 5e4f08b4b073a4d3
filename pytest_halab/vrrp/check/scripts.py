"""The checker's scripts (MISC_CHECK's misc_path, notify_up/notify_down, quorum_up/
quorum_down) as asyncio child processes, each run as the user keepalived runs it as: its
own user (and group), else ``script_user``, else keepalived_script, else root. Only root
can switch users; otherwise scripts run as we are. No shell: keepalived execs the words.

A timed-out script gets SIGTERM to its process group, then SIGKILL two seconds later, as
keepalived's misc_check_child_thread does."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import pwd
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from ..conf.model import NotifyScript

__all__ = ["ScriptExit", "ScriptRunner"]

log = logging.getLogger("halab-vrrpd")

KILL_GRACE = 2.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True)
class ScriptExit:
    """How a script ended: `status` its exit status, `signal` the signal that ended it,
    `timed_out` when we ended it. `status` None when it could not start."""

    status: int | None
    signal: int | None = None
    timed_out: bool = False


class ScriptRunner:
    """Starts the checker's scripts; keeps the notify scripts it started so that stopping
    can wait for or end them."""

    def __init__(self, script_user: str | None = None, script_group: str | None = None) -> None:
        self.script_user = script_user
        self.script_group = script_group
        self._background: set[asyncio.Task[ScriptExit]] = set()

    def ids(self, user: str | None, group: str | None) -> tuple[int, int] | None:
        """(uid, gid) to switch to, None to stay as we are (not root). Raises LookupError
        for a user or group that does not exist."""
        if os.geteuid() != 0:
            return None
        if user is None:
            user, group = self.script_user, self.script_group
        if user is None:
            try:
                entry = pwd.getpwnam("keepalived_script")
            except KeyError:
                return 0, os.getegid()
            return entry.pw_uid, entry.pw_gid
        try:
            entry = pwd.getpwnam(user)
            gid = entry.pw_gid if group is None else grp.getgrnam(group).gr_gid
        except KeyError as exc:
            raise LookupError(f"user/group {user}:{group or ''} does not exist") from exc
        return entry.pw_uid, gid

    async def run(
        self,
        argv: Sequence[str],
        user: str | None = None,
        group: str | None = None,
        timeout: float | None = None,
    ) -> ScriptExit:
        """Run `argv` to its end (or until `timeout`, then end it)."""
        try:
            ids = self.ids(user, group)
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
                extra_groups=[ids[1]] if ids else None,
                group=ids[1] if ids else None,
                user=ids[0] if ids else None,
            )
        except (OSError, LookupError, ValueError) as exc:
            log.info("Cannot run script %s: %s", argv[0] if argv else "", exc)
            return ScriptExit(None)
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            return await self._end(proc)
        except asyncio.CancelledError:
            self._kill(proc, signal.SIGKILL)
            raise
        return ScriptExit(code) if code >= 0 else ScriptExit(None, -code)

    async def _end(self, proc: asyncio.subprocess.Process) -> ScriptExit:
        self._kill(proc, signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), KILL_GRACE)
        except TimeoutError:
            self._kill(proc, signal.SIGKILL)
            code = await proc.wait()
        else:
            # it ended on SIGTERM: make sure its own children are gone too
            self._kill(proc, signal.SIGKILL)
        return ScriptExit(None, -code if code < 0 else None, timed_out=True)

    @staticmethod
    def _kill(proc: asyncio.subprocess.Process, sig: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, sig)

    def notify(self, script: NotifyScript | None, timeout: float | None = None) -> None:
        """Start a notify script without waiting for it (keepalived's notify_exec)."""
        if script is None or not script.argv:
            return
        task = asyncio.get_running_loop().create_task(
            self.run(script.argv, script.user, script.group, timeout)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self, timeout: float = 1.0) -> None:
        """Wait (bounded) for the notify scripts still running, then end them."""
        tasks = list(self._background)
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

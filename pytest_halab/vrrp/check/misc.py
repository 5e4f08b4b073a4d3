"""MISC_CHECK (keepalived's check_misc.c): misc_path run as its user; exit 0 is success,
1 failure; with misc_dynamic, 2-255 is success with weight status - 2. It is ended after
misc_timeout (default: its virtual server's delay_loop): SIGTERM, then SIGKILL."""

from __future__ import annotations

from ..conf.model import ConfigItem, NotifyScript, RealServer, VirtualServer
from .model import DEFAULT_DELAY_LOOP, format_rs, format_vs, item_value, seconds
from .probe import Attempt, Target
from .scripts import ScriptExit, ScriptRunner
from .target import rs_defaults

__all__ = ["MiscProbe"]


class MiscProbe:
    """One MISC_CHECK of one real server. `last` is how its last run ended."""

    kind = "MISC_CHECK"

    def __init__(
        self,
        script: NotifyScript,
        timeout: float,
        dynamic: bool,
        target: Target,
        rs_name: str,
        vs_name: str,
        runner: ScriptRunner | None = None,
    ) -> None:
        self.script = script
        self.timeout = timeout
        self.dynamic = dynamic
        self.target = target
        self.rs_name = rs_name
        self.vs_name = vs_name
        self.runner = runner or ScriptRunner()
        self.last = ScriptExit(None)

    @classmethod
    def from_config(
        cls,
        item: ConfigItem,
        rs: RealServer,
        vs: VirtualServer,
        defaults: Target | None = None,
    ) -> MiscProbe:
        path = next((c for c in item.children if c.keyword == "misc_path"), None)
        script = None
        if path is not None:
            script = next(
                (s for s in rs.misc_scripts if s.line == path.line and s.file == path.file), None
            )
        timeout_args = item_value(item.children, "misc_timeout")
        timeout = float(timeout_args[0]) if timeout_args and timeout_args[0].isdigit() else 0.0
        if not timeout:
            timeout = seconds(vs.items, "delay_loop", 1e-6) or DEFAULT_DELAY_LOOP
        return cls(
            script or NotifyScript([]),
            timeout,
            item_value(item.children, "misc_dynamic") is not None,
            defaults or rs_defaults(rs, vs),
            format_rs(rs, vs),
            format_vs(vs),
        )

    async def attempt(self) -> Attempt:
        script = self.script
        if not script.argv:
            return Attempt(False, "failed")
        self.last = end = await self.runner.run(
            script.argv, script.user, script.group, self.timeout
        )
        if end.timed_out:
            return Attempt(False, "timed out")
        if end.status is None:
            return Attempt(False, f"failed (due to signal {end.signal or 0})")
        status = end.status
        if status == 0:
            return Attempt(True, "succeeded")
        if self.dynamic and 2 <= status <= 255:
            return Attempt(True, "succeeded", status - 2)
        return Attempt(False, f"failed (exited with status {status})")

    def line(self, attempt: Attempt, suffix: str) -> str:
        """keepalived's line for a run: ``Misc check for [RS VS VS] by [PATH] failed, will
        do 1 retry (exited with status 1).``"""
        what, _sep, reason = attempt.detail.partition(" (")
        reason = f" ({reason}" if reason else ""
        return (
            f"Misc check for [{self.rs_name} VS {self.vs_name}] by [{self.script.path}]"
            f" {what}{suffix}{reason}."
        )

"""MISC_CHECK (keepalived's check_misc.c): misc_path run as its user; exit 0 is success,
1 failure; with misc_dynamic, 2-255 is success with weight status - 2. It is ended after
misc_timeout (default: its virtual server's delay_loop): SIGTERM, then SIGKILL."""

from __future__ import annotations

from ..conf.model import NotifyScript
from .model import CheckerSpec, format_rs, format_vs, item_value
from .probe import Attempt
from .scripts import ScriptExit, ScriptRunner

__all__ = ["MiscProbe"]


class MiscProbe:
    """One MISC_CHECK of one real server. `last` is how its last run ended."""

    kind = "MISC_CHECK"

    def __init__(
        self,
        script: NotifyScript,
        timeout: float,
        dynamic: bool,
        rs_name: str,
        vs_name: str,
        runner: ScriptRunner | None = None,
    ) -> None:
        self.script = script
        self.timeout = timeout
        self.dynamic = dynamic
        self.rs_name = rs_name
        self.vs_name = vs_name
        self.runner = runner or ScriptRunner()
        self.last = ScriptExit(None)

    @classmethod
    def from_spec(cls, spec: CheckerSpec) -> MiscProbe:
        """MISC_CHECK has no connection options: its script (`spec.misc_script`) and its
        misc_timeout (the model's) are what it runs with."""
        return cls(
            spec.misc_script or NotifyScript([]),
            spec.misc_timeout,
            item_value(spec.item.children, "misc_dynamic") is not None,
            format_rs(spec.rs, spec.vs),
            format_vs(spec.vs),
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

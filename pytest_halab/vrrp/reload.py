"""SIGHUP in halab-vrrpd: a new configuration applied as keepalived's reload applies it.

Instances whose identity is unchanged (``machine_identity``) keep their state machine: a
master stays master, its addresses that the new file still has stay installed, the others
go, and its routes and rules follow the new file. Instances removed or changed are shut
down (priority 0 when master); new ones start. Every track script is restarted. A file that
cannot be read or parsed changes nothing.

``Reloading`` is mixed into ``Daemon``; the names under ``TYPE_CHECKING`` are what it uses
of the daemon.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_halab.vrrp.instance import machine_identity, resolve_vips
from pytest_halab.vrrp.state import State

if TYPE_CHECKING:
    from pytest_halab.vrrp.conf import KeepalivedConfig, VrrpInstance
    from pytest_halab.vrrp.eventlog import EventLog
    from pytest_halab.vrrp.instance import Instance
    from pytest_halab.vrrp.links import LinkTable, VrrpSockets
    from pytest_halab.vrrp.loop import EventLoop
    from pytest_halab.vrrp.routing import Routing
    from pytest_halab.vrrp.sched import ProcessPriorities
    from pytest_halab.vrrp.state import Action
    from pytest_halab.vrrp.track import ScriptTracker
    from pytest_halab.vrrp.vips import VirtualAddresses

__all__ = ["Reloading"]

log = logging.getLogger("halab-vrrpd")


class Reloading:
    if TYPE_CHECKING:
        config_path: str
        config: KeepalivedConfig
        instances: dict[str, Instance]
        scripts: dict[str, ScriptTracker]
        events: EventLog
        loop: EventLoop
        priorities: ProcessPriorities
        routing: Routing
        vips: VirtualAddresses
        links: LinkTable
        sockets: VrrpSockets

        def _read_config(self) -> KeepalivedConfig | None: ...
        def _configure(self, cfg: KeepalivedConfig) -> None: ...
        def _watch_routing(self, cfg: KeepalivedConfig) -> None: ...
        def _apply(self, inst: Instance, actions: Sequence[Action]) -> None: ...
        def _start_scripts(self) -> None: ...
        def _build(self, cfg: VrrpInstance) -> Instance | None: ...
        def _update_tracking(self, *, initial: bool = False) -> None: ...

    def reload(self) -> None:
        """SIGHUP: apply a new configuration, keeping what did not change.

        Never raises: a file that cannot be read or parsed leaves the running
        configuration (and every master and its addresses) as it was. It runs with normal
        scheduling (a real-time limit would kill a long parse), as keepalived's does."""
        self.priorities.reset()
        try:
            self._reload()
        finally:
            self.priorities.apply(self.config.global_defs)

    def _reload(self) -> None:
        try:
            cfg = self._read_config()
        except Exception as exc:  # the parser's bug must not take the masters down
            log.exception(
                "Reload of %s failed: keeping the running configuration", self.config_path
            )
            self.events.emit(
                "config_reload_failed",
                None,
                path=self.config_path,
                error=f"{type(exc).__name__}: {exc}",
            )
            return
        if cfg is None:
            log.error("Reload of %s failed: keeping the running configuration", self.config_path)
            self.events.emit("config_reload_failed", None, path=self.config_path, error="not found")
            return
        try:
            self._apply_reload(cfg)
        except Exception as exc:
            log.exception("Reload of %s failed while applying it", self.config_path)
            self.events.emit(
                "config_reload_failed",
                None,
                path=self.config_path,
                error=f"{type(exc).__name__}: {exc}",
            )

    def _apply_reload(self, new_config: KeepalivedConfig) -> None:
        old_instances = self.instances
        self._configure(new_config)
        self._watch_routing(new_config)
        self.routing.reload(new_config)
        self.events.emit("config_reload", None, path=self.config_path)
        now = self.loop.time()
        new_cfgs = self.config.instances
        # Scripts: restart all (their definitions may have changed).
        for tracker in self.scripts.values():
            tracker.stop()
        self.scripts.clear()
        kept: dict[str, Instance] = {}
        for name, inst in old_instances.items():
            cfg = new_cfgs.get(name)
            if cfg is not None and machine_identity(cfg) == machine_identity(inst.cfg):
                new_vips = resolve_vips(cfg, cfg.interface or "", self.links.index_of)
                keep = {v.key for v in new_vips}
                if inst.machine.state is State.MASTER:
                    self.vips.remove(inst, keep=keep)
                inst.installed &= keep
                if cfg.priority != inst.cfg.priority:
                    log.info(
                        "(%s) configured priority %d -> %d",
                        inst.name,
                        inst.cfg.priority,
                        cfg.priority,
                    )
                    inst.machine.set_base_priority(cfg.priority)
                # routes and rules the new config no longer has are removed, then the
                # instance follows the new config (keepalived's clear_diff_vrrp_vroutes)
                self.routing.remove_virtual(inst, keep=[*cfg.virtual_routes, *cfg.virtual_rules])
                inst.cfg = cfg
                inst.group = cfg.sync_group
                inst.set_vips(new_vips)
                if inst.machine.state is State.MASTER:
                    missing = [v for v in new_vips if v.key not in inst.installed]
                    if missing:
                        self.vips.add(inst)
                    self.routing.add_virtual(inst)
                kept[name] = inst
                continue
            # Removed or changed: stop it (priority 0 if master, addresses removed).
            self._apply(inst, inst.machine.shutdown(now))
            if inst.timer is not None:
                inst.timer.cancel()
        self.instances = kept
        self._start_scripts()
        started: list[Instance] = []
        for name, cfg in new_cfgs.items():
            if name in kept:
                continue
            built = self._build(cfg)
            if built is not None:
                self.instances[name] = built
                started.append(built)
        self.sockets.close_unused(
            (i.cfg.interface or "", i.family) for i in self.instances.values()
        )
        self._update_tracking(initial=True)
        for inst in started:
            self._apply(inst, inst.machine.start(now))

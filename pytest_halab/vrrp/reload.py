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

import contextlib
import gc
import logging
import os
import socket
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
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

# The interpreter's switch interval while a thread reads a new configuration: how late the
# loop can be to a timer (Python's default is 5 ms, half an advert at advert_int 0.01).
READ_SWITCH_INTERVAL_S = 0.0005


@dataclass
class _BackgroundRead:
    """A new configuration being read in a thread; `done_w` wakes the loop when it is."""

    done_r: socket.socket
    done_w: socket.socket
    thread: threading.Thread | None = None
    cfg: KeepalivedConfig | None = None
    error: BaseException | None = None
    switch_interval: float = 0.005


class Reloading:
    _background_read: _BackgroundRead | None = None
    _read_again = False  # a SIGHUP came during the background read

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
        stopping: bool
        links: LinkTable
        sockets: VrrpSockets

        def _read_config(self) -> KeepalivedConfig | None: ...
        def _configure(self, cfg: KeepalivedConfig) -> None: ...
        def _watch_routing(self, cfg: KeepalivedConfig) -> None: ...
        def _apply(self, inst: Instance, actions: Sequence[Action]) -> None: ...
        def _start_scripts(self) -> None: ...
        def _build(self, cfg: VrrpInstance) -> Instance | None: ...
        def _update_tracking(self, *, initial: bool = False) -> None: ...
        def remove_vmac(self, inst: Instance) -> None: ...

    def reload(self) -> None:
        """Apply a new configuration now, keeping what did not change (the loop waits).

        Never raises: a file that cannot be read or parsed leaves the running
        configuration (and every master and its addresses) as it was. It runs with normal
        scheduling (a real-time limit would kill a long parse), as keepalived's does."""
        self.priorities.reset()
        try:
            cfg, error = self._read_new_config()
            self._use_new_config(cfg, error)
        finally:
            self.priorities.apply(self.config.global_defs)

    def reload_in_background(self) -> None:
        """SIGHUP: read the new configuration in a thread while the loop goes on, then
        apply it in the loop. keepalived (C) reads its file in milliseconds; a Python parse
        takes 0.1-0.3 s of CPU, more on a loaded host, and a master that stopped its
        adverts meanwhile lost its VIP at fast adverts (advert_int 0.1: Master_Down_Interval
        0.36 s; seen in CI). The thread parses with normal scheduling and gives the loop
        the interpreter every 0.5 ms. A SIGHUP during the read reads again after it."""
        if self._background_read is not None:
            self._read_again = True
            return
        read = _BackgroundRead(*socket.socketpair())
        read.done_r.setblocking(False)
        read.switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(READ_SWITCH_INTERVAL_S)
        # A collection would run in the reading thread, holding the interpreter while it
        # walks every object the parse made (hundreds of ms for a large file): none until
        # the new configuration is in place, which is then kept out of the scans as the
        # first one is (Daemon.run).
        gc.disable()
        self._background_read = read
        self.loop.add_reader(read.done_r.fileno(), self._background_read_done)
        read.thread = threading.Thread(
            target=self._read_off_loop, args=(read,), name="reload", daemon=True
        )
        read.thread.start()

    def _read_off_loop(self, read: _BackgroundRead) -> None:
        try:
            # this thread only (Linux: 0 is the calling thread): the loop keeps its priority
            if os.sched_getscheduler(0) != os.SCHED_OTHER:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            read.cfg, read.error = self._read_new_config()
        except BaseException as exc:  # handed to the loop, which reports it
            read.error = exc
        finally:
            with contextlib.suppress(OSError):
                read.done_w.send(b"x")

    def _background_read_done(self) -> None:
        read = self._background_read
        if read is None:
            return
        self.loop.remove_reader(read.done_r.fileno())
        if read.thread is not None:
            read.thread.join()
        read.done_r.close()
        read.done_w.close()
        sys.setswitchinterval(read.switch_interval)
        self._background_read = None
        if self.stopping:
            gc.enable()
            return
        self.priorities.reset()
        try:
            self._use_new_config(read.cfg, read.error)
        finally:
            self.priorities.apply(self.config.global_defs)
            read.cfg = None
            gc.freeze()
            gc.enable()
        if self._read_again:
            self._read_again = False
            self.reload_in_background()

    def _read_new_config(self) -> tuple[KeepalivedConfig | None, BaseException | None]:
        try:
            return self._read_config(), None
        except Exception as exc:  # the parser's bug must not take the masters down
            return None, exc

    def _use_new_config(self, cfg: KeepalivedConfig | None, error: BaseException | None) -> None:
        if error is not None:
            log.error(
                "Reload of %s failed: keeping the running configuration",
                self.config_path,
                exc_info=error,
            )
            self.events.emit(
                "config_reload_failed",
                None,
                path=self.config_path,
                error=f"{type(error).__name__}: {error}",
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
                new_vips = resolve_vips(
                    cfg, cfg.interface or "", self.links.index_of, vmac=inst.vmac_name
                )
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
            self.remove_vmac(inst)
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
        self.sockets.close_unused((i.socket_interface, i.family) for i in self.instances.values())
        self._update_tracking(initial=True)
        for inst in started:
            self._apply(inst, inst.machine.start(now))

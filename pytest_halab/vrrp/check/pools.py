"""The checker's decisions on its pools (keepalived 2.2.7's ipwrapper.c): which real
servers are alive, their weights, each virtual server's quorum and sorry server, the
notify scripts these changes run, and the pool each virtual service then has.

keepalived sends each change to IPVS as it decides it; here the decisions change the
state below, and `services()` derives the whole desired state from it, which the runner
hands to the forwarding plane. The derivation follows keepalived's ipvs_cmd(): a real
server with inhibit_on_failure stays in its pool with weight 0 when down (and while the
sorry server serves); any other is in its pool only while alive and while the sorry
server is not in use; a sorry server with ``sorry_server_inhibit`` waits in the pool with
weight 0.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field

from ..eventlog import EventLog
from .model import IPVS_WEIGHT_LIMIT, RealServerSpec, VirtualServerSpec, trio
from .pool import Destination, Service
from .scripts import ScriptRunner
from .vsgroups import GroupEntry

__all__ = ["Pools", "RsState", "VsState", "real_weight"]

log = logging.getLogger("halab-vrrpd")


def real_weight(weight: int) -> int:
    """keepalived's real_weight(): an effective weight clamped to IPVS's range."""
    return max(0, min(weight, IPVS_WEIGHT_LIMIT))


@dataclass
class RsState:
    spec: RealServerSpec
    vs: VsState
    alive: bool = False
    num_failed_checkers: int = 0
    effective_weight: int = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def in_pool(self) -> bool:
        """keepalived's rs->set: the real server is known to the kernel."""
        return self.spec.inhibit or (self.alive and not self.vs.sorry_alive)


@dataclass
class VsState:
    spec: VirtualServerSpec
    servers: list[RsState] = field(default_factory=list)
    quorum_up: bool = False
    sorry_alive: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    def live_weight(self) -> int:
        """keepalived's weigh_live_realservers()."""
        return sum(real_weight(rs.effective_weight) for rs in self.servers if rs.alive)


class Pools:
    """Every virtual server's state, and the decisions that change it."""

    def __init__(self, model: list[VirtualServerSpec], events: EventLog, scripts: ScriptRunner):
        self.events = events
        self.scripts = scripts
        self.servers: list[VsState] = []
        for spec in model:
            vs = VsState(spec)
            vs.servers = [RsState(rs, vs, effective_weight=rs.weight) for rs in spec.real_servers]
            self.servers.append(vs)

    # -- start (validate_check_config, init_services)
    def start(self) -> None:
        """The state at start: real servers without a failed checker are alive (those
        whose checkers start down, alpha, are not), then each virtual server's quorum."""
        for vs in self.servers:
            vs.quorum_up = vs.live_weight() >= vs.spec.quorum + vs.spec.hysteresis
        for vs in self.servers:
            for rs in vs.servers:
                if not rs.num_failed_checkers:
                    rs.alive = True
            self.update_quorum(vs, init=True)

    # -- a real server up or down (perform_svr_state)
    def set_alive(self, rs: RsState, alive: bool, checker: str, detail: str) -> None:
        if rs.alive == alive:
            return
        vs = rs.vs
        if alive:
            verb = "Enabling" if rs.spec.inhibit else "Adding"
        else:
            verb = "Disabling" if rs.spec.inhibit else "Removing"
        prep = "of" if rs.spec.inhibit else ("to" if alive else "from")
        log.info("%s service %s %s VS %s", verb, rs.name, prep, vs.name)
        rs.alive = alive
        self.events.emit(
            "rs_state", None, vs=vs.name, rs=rs.name, up=alive, checker=checker, detail=detail
        )
        self.rs_notify(rs)
        self.update_quorum(vs, init=False)

    def rs_notify(self, rs: RsState) -> None:
        """keepalived's do_rs_notifies(): notify_up or notify_down, as the server is."""
        self.scripts.notify(rs.spec.notify_up if rs.alive else rs.spec.notify_down)

    # -- weights (update_svr_wgt)
    def set_weight(self, rs: RsState, weight: int, update_quorum: bool) -> None:
        new, old = real_weight(weight), real_weight(rs.effective_weight)
        rs.effective_weight = weight
        if new == old:
            return
        log.info(
            "Changing weight from %d to %d for %sactive service %s of VS %s",
            old,
            new,
            "" if rs.alive else "in",
            rs.name,
            rs.vs.name,
        )
        self.events.emit("rs_weight", None, vs=rs.vs.name, rs=rs.name, weight=new)
        if update_quorum:
            self.update_quorum(rs.vs, init=False)

    # -- quorum and sorry server (update_quorum_state)
    def update_quorum(self, vs: VsState, init: bool) -> None:
        spec = vs.spec
        weight = vs.live_weight()
        threshold = spec.quorum + (-1 if vs.quorum_up else 1) * spec.hysteresis
        sorry = spec.sorry_server
        if not vs.quorum_up and weight >= threshold:
            vs.quorum_up = True
            log.info(
                "Gained quorum %d+%d=%d <= %d for VS %s",
                spec.quorum,
                spec.hysteresis,
                threshold,
                weight,
                vs.name,
            )
            self._quorum_event(vs, weight)
            if sorry is not None and vs.sorry_alive:
                log.info(
                    "%s sorry server %s from VS %s",
                    "Disabling" if sorry.inhibit else "Removing",
                    sorry.name,
                    vs.name,
                )
                vs.sorry_alive = False
                self.events.emit("sorry_server", None, vs=vs.name, in_use=False, rs=sorry.name)
                log.info("Adding alive servers to the pool for VS %s", vs.name)
            self.scripts.notify(spec.quorum_up)
        elif (vs.quorum_up and (not weight or weight < threshold)) or (
            init and not vs.quorum_up and sorry is not None and not vs.sorry_alive
        ):
            vs.quorum_up = False
            log.info(
                "%s %d-%d=%d > %d for VS %s",
                "Starting with quorum down" if init else "Lost quorum",
                spec.quorum,
                spec.hysteresis,
                threshold,
                weight,
                vs.name,
            )
            self._quorum_event(vs, weight)
            if sorry is not None and not vs.sorry_alive:
                log.info(
                    "%s sorry server %s to VS %s",
                    "Enabling" if sorry.inhibit else "Adding",
                    sorry.name,
                    vs.name,
                )
                log.info("Removing alive servers from the pool for VS %s", vs.name)
                vs.sorry_alive = True
                self.events.emit("sorry_server", None, vs=vs.name, in_use=True, rs=sorry.name)
            self.scripts.notify(spec.quorum_down)

    def _quorum_event(self, vs: VsState, weight: int) -> None:
        self.events.emit(
            "quorum", None, vs=vs.name, up=vs.quorum_up, alive_weight=weight, quorum=vs.spec.quorum
        )

    # -- stop (clear_services, lvs_flush_on_stop off)
    def stop(self) -> None:
        """keepalived's shutdown: each real server shut down (logged), and with ``omega``
        the notify_down and quorum_down scripts run."""
        for vs in self.servers:
            vs.sorry_alive = False
            for rs in vs.servers:
                inhibited = rs.spec.inhibit and not rs.alive
                log.info(
                    "Shutting down %sservice %s from VS %s",
                    "(inhibited) " if inhibited else "",
                    rs.name,
                    vs.name,
                )
                was_set, rs_alive = rs.in_pool, rs.alive
                if not was_set or not rs_alive:
                    continue
                rs.alive = False
                if vs.spec.omega:
                    self.rs_notify(rs)
            vs.quorum_up = False
            if vs.spec.omega:
                self.scripts.notify(vs.spec.quorum_down)

    # -- the desired state
    def destinations(self, vs: VsState) -> list[tuple[str, Destination]]:
        """The pool of `vs` now: (name, destination) for each server in it."""
        pool: list[tuple[str, Destination]] = []
        seen: dict[tuple[str, int], int] = {}

        def add(name: str, ip: str, port: int, weight: int, forwarding: str) -> None:
            key = (ip, port)
            if key in seen:  # the sorry server may be one of the real servers
                index = seen[key]
                if pool[index][1].weight >= weight:
                    return
                pool[index] = (name, Destination(ip, port, weight, forwarding))
                return
            seen[key] = len(pool)
            pool.append((name, Destination(ip, port, weight, forwarding)))

        for rs in vs.servers:
            if not rs.in_pool:
                continue
            serving = rs.alive and not vs.sorry_alive
            weight = real_weight(rs.effective_weight) if serving else 0
            add(rs.name, rs.spec.ip, rs.spec.port, weight, rs.spec.forwarding)
        sorry = vs.spec.sorry_server
        if sorry is not None and (vs.sorry_alive or sorry.inhibit):
            weight = sorry.weight if vs.sorry_alive else 0
            add(sorry.name, sorry.ip, sorry.port, weight, sorry.forwarding)
        return pool

    def services(self, vs: VsState) -> list[Service]:
        """The virtual services `vs` stands for (one per group entry), with its pool."""
        spec = vs.spec
        dests = tuple(d for _name, d in self.destinations(vs))
        entries = spec.group_entries or [
            GroupEntry(ip=spec.ip, port=spec.port, fwmark=spec.fwmark, family=spec.family)
        ]
        result = []
        for entry in entries:
            if entry.fwmark is not None:
                name = f"FWM {entry.fwmark}" if spec.group else spec.name
            else:
                name = trio(entry.ip or "", spec.protocol, entry.port) if spec.group else spec.name
            family = entry.family or spec.family
            result.append(
                Service(
                    name=name,
                    family=family,
                    protocol=spec.protocol,
                    ip=entry.ip if entry.fwmark is None else None,
                    port=entry.port if entry.fwmark is None else 0,
                    fwmark=entry.fwmark,
                    sched=spec.sched,
                    persistence_timeout=spec.persistence_timeout,
                    persistence_netmask=spec.persistence_granularity,
                    destinations=tuple(d for d in dests if _same_family(d.ip, family, d)),
                )
            )
        return result


def _same_family(ip: str, family: int, dest: Destination) -> bool:
    """A service of one family serves servers of that family, but tunnelled ones."""
    return dest.forwarding == "TUN" or (":" in ip) == (family == socket.AF_INET6)

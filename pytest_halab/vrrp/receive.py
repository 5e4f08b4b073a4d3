"""Adverts received by halab-vrrpd: each packet read, decoded and checked as keepalived's
``vrrp_dispatcher_read`` and ``vrrp_check_packet`` do, then handed to its instance's state
machine; malformed ones counted and logged at a bounded rate.

``Receiving`` is mixed into ``Daemon``; the names under ``TYPE_CHECKING`` are what it uses
of the daemon.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pytest_halab.vrrp.packet import (
    VRRP_MCAST_GROUP,
    VRRP_PROTO,
    MalformedPacket,
    VrrpAdvert,
    check_advert,
    decode,
    parse_ip,
)

if TYPE_CHECKING:
    from pytest_halab.vrrp.eventlog import EventLog
    from pytest_halab.vrrp.instance import Instance
    from pytest_halab.vrrp.loglimit import LogLimiter
    from pytest_halab.vrrp.loop import EventLoop
    from pytest_halab.vrrp.net import VrrpSocket
    from pytest_halab.vrrp.state import Action

__all__ = ["Receiving"]

log = logging.getLogger("halab-vrrpd")


class Receiving:
    if TYPE_CHECKING:
        instances: dict[str, Instance]
        events: EventLog
        loop: EventLoop
        detail: bool
        malformed: int
        _malformed_limit: LogLimiter

        def _apply(self, inst: Instance, actions: Sequence[Action]) -> None: ...

    def _on_readable(self, sock: VrrpSocket) -> None:
        while True:
            got = sock.receive_stamped()
            if got is None:
                return
            data, arrived = got
            self._on_packet(sock, data, arrived=arrived)

    def _drop_malformed(self, sock: VrrpSocket, reason: str, src: str | None) -> None:
        """Count a malformed packet; log it (and its event) unless its source floods."""
        self.malformed += 1
        if not self._malformed_limit.allow((src or "?", sock.interface)):
            return
        if self.detail:
            log.info("Malformed VRRP packet on %s from %s dropped: %s", sock.interface, src, reason)
        self.events.emit("malformed_packet", None, reason=reason, src=src, interface=sock.interface)

    def _malformed_suppressed(self, key: tuple[str, str], count: int, interval: float) -> None:
        src, interface = key
        log.info(
            "%d more malformed VRRP packets on %s from %s dropped in %.0f s (not logged)",
            count,
            interface,
            src,
            interval,
        )
        self.events.emit(
            "malformed_suppressed",
            None,
            src=src,
            interface=interface,
            count=count,
            interval=interval,
        )

    def _arrival(self, arrived: float | None) -> float:
        """The loop-clock time of a packet's arrival from its kernel wall-clock stamp.

        Timers armed by an advert (master down) then count from its arrival, as keepalived's
        do, and not from the moment this process read it. A stamp from the future or more
        than a second old (the wall clock was stepped) is ignored.
        """
        now = self.loop.time()
        if arrived is None:
            return now
        age = time.time() - arrived
        return now - age if 0.0 <= age < 1.0 else now

    def _on_packet(self, sock: VrrpSocket, data: bytes, *, arrived: float | None = None) -> None:
        now = self._arrival(arrived)
        try:
            pkt = parse_ip(data)
        except MalformedPacket as exc:
            self._drop_malformed(sock, exc.reason, None)
            return
        if pkt.proto != VRRP_PROTO:
            return
        try:
            advert = decode(pkt.payload, pkt.src, pkt.dst)
        except MalformedPacket as exc:
            self._drop_malformed(sock, exc.reason, pkt.src)
            if exc.counter is not None and len(pkt.payload) >= 2:
                # keepalived finds the instance by the VRID before it checks the rest
                for inst in self.instances.values():
                    if inst.sock is sock and inst.cfg.vrid == pkt.payload[1]:
                        inst.stats.malformed(exc.counter)
            return
        for inst in list(self.instances.values()):
            if inst.sock is not sock or inst.cfg.vrid != advert.vrid:
                continue
            if pkt.src == inst.src:
                continue  # our own advert (looped back)
            expects_old = inst.old_checksum and pkt.dst != VRRP_MCAST_GROUP
            if advert.old_checksum != expects_old and not self._old_checksum_heard(inst, advert):
                reason = f"bad VRRPv3 checksum 0x{advert.checksum:04x}"
                self._drop_malformed(sock, reason, pkt.src)
                continue
            master = inst.machine.master
            skip = inst.cfg.options.get("skip_check_adv_addr") == ["true"] and master is not None
            drop = check_advert(
                advert,
                pkt.ttl,
                inst.expectation,
                src=pkt.src,
                dst=pkt.dst,
                check_addresses=not (skip and master is not None and master[0] == pkt.src),
            )
            if drop is not None:
                inst.stats.dropped(drop.code)
                if drop.error:
                    if self.detail:
                        log.info(
                            "(%s) advert from %s dropped: %s", inst.name, pkt.src, drop.message
                        )
                    self.events.emit(
                        "advert_dropped",
                        inst.name,
                        reason=drop.code,
                        message=drop.message,
                        src=pkt.src,
                    )
                continue
            inst.stats.received(advert.priority)
            machine = inst.machine
            if advert.priority >= machine.effective_priority or machine.nopreempt:
                inst.wants_master = False  # a master is there (or one is leaving)
            self._apply(inst, machine.on_advert(now, pkt.src, advert))

    @staticmethod
    def _old_checksum_heard(inst: Instance, advert: VrrpAdvert) -> bool:
        """A unicast VRRPv3 advert with the old checksum, to an instance that has not chosen
        either way: from now on it sends and expects the old one too (keepalived's
        automatic compatibility with peers from before 1.3.6)."""
        if not (advert.old_checksum and inst.checksum_compat == "none" and inst.cfg.unicast_peers):
            return False
        inst.checksum_compat = "auto"
        inst.advert_cache.clear()
        log.info("(%s) Setting unicast VRRPv3 checksum to old version", inst.name)
        return True

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

    def _drop_malformed(
        self, sock: VrrpSocket, reason: str, src: str | None, lines: Sequence[str] = ()
    ) -> None:
        """Count a malformed packet; log it (and its event) unless its source floods.

        ``lines``: what keepalived logs for it, logged whatever the log detail; without
        them the packet is only logged with ``-D`` (keepalived says nothing of a packet
        for a VRID it does not run)."""
        self.malformed += 1
        if not self._malformed_limit.allow((src or "?", sock.interface)):
            return
        for line in lines:
            log.info("%s", line)
        if self.detail and not lines:
            log.info("Malformed VRRP packet on %s from %s dropped: %s", sock.interface, src, reason)
        self.events.emit("malformed_packet", None, reason=reason, src=src, interface=sock.interface)

    def _malformed_lines(
        self, sock: VrrpSocket, exc: MalformedPacket, payload: bytes, header: int
    ) -> list[str]:
        """keepalived's log lines for a VRRP message :func:`decode` refused: one for a
        message shorter than the VRRP header (lengths count the IPv4 header), else one per
        instance on ``sock`` that runs the message's VRID (keepalived finds the instance
        by the VRID before it checks the rest), in keepalived's words."""
        if exc.kind == "short":
            family = 6 if sock.family == 6 else 4
            return [f"IPv{family} VRRP packet too short - {exc.values[0] + header} bytes"]
        if exc.kind in ("", "vrid") or len(payload) < 2:
            return []
        names = [
            inst.name
            for inst in self.instances.values()
            if inst.sock is sock and inst.cfg.vrid == payload[1]
        ]
        if exc.kind == "length":
            length, expected = exc.values[0] + header, exc.values[1] + header
            size = "long" if length > expected else "short"
            text = f"vrrp packet too {size}, length {length} and expect {expected}"
        elif exc.kind == "version":
            return [
                f"({inst.name}) wrong version. Received {exc.values[0]} and expect"
                f" {inst.cfg.version}"
                for inst in self.instances.values()
                if inst.sock is sock and inst.cfg.vrid == payload[1]
            ]
        elif exc.kind == "type":
            text = f"Invalid packet type. {exc.values[0]} and expect 1"
        elif exc.kind == "checksum":
            text = f"Invalid VRRPv{exc.values[0]} checksum"
        else:  # authtype
            text = f"Invalid auth type: {exc.values[0]}"
        return [f"({name}) {text}" for name in names]

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
            header = len(data) - len(pkt.payload) if sock.family != 6 else 0
            lines = self._malformed_lines(sock, exc, pkt.payload, header)
            self._drop_malformed(sock, exc.reason, pkt.src, lines)
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
                self._drop_malformed(
                    sock, reason, pkt.src, [f"({inst.name}) Invalid VRRPv3 checksum"]
                )
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
                    # keepalived logs every refused advert, whatever the log detail, but
                    # never sees an IPv4 one of the wrong cast (its socket is bound to it)
                    if self.detail or drop.code != "cast":
                        log.info("(%s) %s", inst.name, drop.message)
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

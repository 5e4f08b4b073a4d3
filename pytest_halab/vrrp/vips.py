"""An instance's virtual addresses in the kernel: added, removed, announced (gratuitous ARP).

Every address this daemon adds or removes is reported to the event log (``vip_added``,
``vip_removed``); ``Instance.installed`` holds the ones it put there.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from pytest_halab.vrrp.conf import KeepalivedConfig
from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.garp import GarpSender
from pytest_halab.vrrp.instance import Instance, Vip
from pytest_halab.vrrp.loop import EventLoop
from pytest_halab.vrrp.net import IFA_F_NODAD, Netlink
from pytest_halab.vrrp.state import State

__all__ = ["VirtualAddresses"]

log = logging.getLogger("halab-vrrpd")

VipKey = tuple[str, int, str]


class VirtualAddresses:
    """Puts instances' virtual addresses on their interfaces, takes them off, and sends
    the gratuitous ARPs that announce them.

    ``is_current(inst)`` says whether an instance still runs (a reload may have replaced
    it): a paced gratuitous ARP still queued for one that does not is not sent.
    """

    def __init__(
        self,
        *,
        netlink: Netlink,
        garp: GarpSender,
        loop: EventLoop,
        events: EventLog,
        is_current: Callable[[Instance], bool],
        detail: bool = False,
    ) -> None:
        self._netlink = netlink
        self._garp = garp
        self._loop = loop
        self._events = events
        self._is_current = is_current
        self._detail = detail
        self._intervals = {4: 0.0, 6: 0.0}  # family -> pacing interval
        # (interface, family) -> earliest next paced GARP / NA
        self._garp_next: dict[tuple[str, int], float] = {}

    def configure(self, config: KeepalivedConfig) -> None:
        """Take the global ``vrrp_garp_interval`` and ``vrrp_gna_interval`` (seconds;
        keepalived's default 0: no pacing) from a newly loaded configuration."""
        for family, keyword in ((4, "vrrp_garp_interval"), (6, "vrrp_gna_interval")):
            values = config.global_defs.options.get(keyword)
            try:
                self._intervals[family] = max(0.0, float(values[0])) if values else 0.0
            except ValueError:
                self._intervals[family] = 0.0

    # --- addresses --------------------------------------------------------------------

    def remove_stale(self, inst: Instance) -> None:
        """A previous run killed with SIGKILL may have left our addresses behind."""
        if inst.cfg.priority >= 255:
            return
        present = {
            (a.address, a.prefixlen, a.index) for a in self._netlink.addresses(family=inst.family)
        }
        for vip in inst.vips:
            if (vip.address, vip.prefixlen, vip.index) in present:
                log.info("(%s) removing stale VIP %s/%d", inst.name, vip.address, vip.prefixlen)
                self._netlink.delete_address(vip.index, vip.address, vip.prefixlen)

    def add(self, inst: Instance) -> None:
        """Add every address of the instance that is not in place yet."""
        log.info("(%s) setting VIPs.", inst.name)
        for vip in inst.vips:
            if vip.key in inst.installed:
                continue
            try:
                added = self._netlink.add_address(
                    vip.index,
                    vip.address,
                    vip.prefixlen,
                    label=vip.label,
                    broadcast=vip.broadcast,
                    scope=vip.scope,
                    # IPv6: usable at once, never stuck "dadfailed" after a split brain
                    # (keepalived adds its IPv6 VIPs with nodad too)
                    ifa_flags=IFA_F_NODAD if vip.family == 6 else 0,
                    preferred_lft=vip.preferred_lft,
                )
            except OSError as exc:
                log.error("(%s) cannot add %s/%d: %s", inst.name, vip.address, vip.prefixlen, exc)
                continue
            inst.installed.add(vip.key)
            self._events.emit(
                "vip_added",
                inst.name,
                address=vip.address,
                prefixlen=vip.prefixlen,
                dev=vip.dev,
                already_present=not added,
            )

    def remove(
        self, inst: Instance, keep: set[VipKey] | None = None, held: list[str] | None = None
    ) -> None:
        """Remove the addresses the instance added, except those in ``keep``. With ``held``,
        the log line is added to it, for the caller to write once the addresses are gone."""
        going = [
            vip
            for vip in inst.vips
            if vip.key in inst.installed and (keep is None or vip.key not in keep)
        ]
        if going:
            if held is None:
                log.info("(%s) removing VIPs.", inst.name)
            else:
                held.append(f"({inst.name}) removing VIPs.")
        for vip in going:
            try:
                self._netlink.delete_address(vip.index, vip.address, vip.prefixlen)
            except OSError as exc:
                log.error("(%s) cannot remove %s: %s", inst.name, vip.address, exc)
            self._forget(inst, vip)

    def gone(self, inst: Instance, vip: Vip, reason: str) -> None:
        """An address the instance added went without it: with its deleted interface, or
        deleted by someone else (``ip addr del``)."""
        if vip.key in inst.installed:
            self._forget(inst, vip, reason=reason)

    def _forget(self, inst: Instance, vip: Vip, **extra: Any) -> None:
        """The instance no longer holds ``vip``: drop it from its set, log the removal."""
        inst.installed.discard(vip.key)
        self._events.emit(
            "vip_removed",
            inst.name,
            address=vip.address,
            prefixlen=vip.prefixlen,
            dev=vip.dev,
            **extra,
        )

    # --- gratuitous ARP ---------------------------------------------------------------

    def announce(self, inst: Instance, repeat: int) -> None:
        """Gratuitous ARPs (neighbour advertisements for IPv6) for every address,
        ``repeat`` times, paced if configured."""
        by_dev: dict[str, list[str]] = {}
        for vip in inst.vips:
            by_dev.setdefault(vip.dev, []).append(vip.address)
        interval = self._intervals[inst.family]
        for dev, addresses in by_dev.items():
            if self._detail:
                what = "Unsolicited Neighbour Adverts" if inst.family == 6 else "gratuitous ARPs"
                log.info(
                    "(%s) Sending/queueing %s on %s for %s",
                    inst.name,
                    what,
                    dev,
                    " ".join(addresses),
                )
            if not interval:
                self._send_garp(inst, dev, addresses, repeat)
                continue
            # vrrp_garp_interval (vrrp_gna_interval): every ARP (NA) on an interface at
            # least this far apart.
            now = self._loop.time()
            key = (dev, inst.family)
            for address in addresses * repeat:
                when = max(now, self._garp_next.get(key, now))
                self._garp_next[key] = when + interval
                if when <= now:
                    self._send_garp(inst, dev, [address], 1)
                else:
                    self._loop.call_at(
                        when, functools.partial(self._paced_garp, inst, dev, address)
                    )

    def forget(self, interface: str) -> None:
        """The interface of that name appeared, vanished or changed: its ARP socket is
        bound to the old ifindex."""
        self._garp.forget(interface)

    def _paced_garp(self, inst: Instance, dev: str, address: str) -> None:
        if self._is_current(inst) and inst.machine.state is State.MASTER:
            self._send_garp(inst, dev, [address], 1)

    def _send_garp(self, inst: Instance, dev: str, addresses: list[str], repeat: int) -> None:
        try:
            self._garp.send(dev, addresses, repeat)
        except OSError as exc:
            if self._detail:
                log.info("(%s) cannot send gratuitous ARP on %s: %s", inst.name, dev, exc)

"""Interfaces as they come and go, as keepalived 2.2 follows them.

:class:`LinkTable` is the kernel's interfaces as netlink last told of them (name, ifindex,
up). :class:`VrrpSockets` holds one VRRP socket per interface. :class:`InterfaceFollower`
keeps every instance on its interfaces: an instance whose interface is deleted goes to
FAULT (a master drops its addresses) and its socket is closed; when an interface of that
name appears again (a new ifindex, e.g. created as ``eth1`` and renamed), the socket is
reopened on it, the primary address re-read, and once it is up with an address the
instance leaves FAULT for BACKUP. An interface with no address to send from (IPv4; for an
IPv6 instance, link-local IPv6) keeps its instances in FAULT until one is added.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.instance import (
    NO_ADDRESS,
    NO_INTERFACE,
    Instance,
    Vip,
    resolve_vips,
    source_kind,
)
from pytest_halab.vrrp.loop import EventLoop
from pytest_halab.vrrp.net import AddressInfo, LinkInfo, Netlink, VrrpSocket
from pytest_halab.vrrp.state import State, VrrpInstanceMachine
from pytest_halab.vrrp.vips import VirtualAddresses
from pytest_halab.vrrp.vmac import Vmacs, vmac_request

__all__ = ["InterfaceFollower", "LinkChanges", "LinkTable", "NetlinkEvent", "VrrpSockets"]

log = logging.getLogger("halab-vrrpd")

# What the netlink monitor reports: a link, or an address added/removed ("add"/"del").
NetlinkEvent = LinkInfo | tuple[str, AddressInfo]


@dataclass
class LinkChanges:
    """What a batch of netlink events changed."""

    changed: list[tuple[str, bool]] = field(default_factory=list)  # (name, up) for tracking
    touched: set[str] = field(default_factory=set)  # appeared, vanished or changed ifindex
    addressed: set[int] = field(default_factory=set)  # ifindexes whose addresses changed


class LinkTable:
    """The kernel's interfaces as netlink last told of them: name <-> ifindex, up or not."""

    def __init__(self, netlink: Netlink, events: EventLog) -> None:
        self._netlink = netlink
        self._events = events
        self.up: dict[str, bool] = {}  # interface name -> up and running
        self.ifindex: dict[str, int] = {}  # interface name -> ifindex
        self._names: dict[int, str] = {}  # ifindex -> interface name

    def is_up(self, name: str) -> bool:
        return self.up.get(name, False)

    def name_of(self, index: int) -> str:
        """The interface's name as last heard of, else its ifindex written out."""
        return self._names.get(index) or str(index)

    def index_of(self, name: str) -> int | None:
        """The interface's ifindex, asking the kernel for one not heard of yet."""
        index = self.ifindex.get(name)
        if index is None:
            try:
                index = socket.if_nametoindex(name)
            except OSError:
                return None
        return index

    def refresh(self) -> None:
        """Read every link afresh (at start, and when monitor events were lost)."""
        try:
            links = self._netlink.links()
        except OSError as exc:
            log.error("cannot read links: %s", exc)
            return
        self.up = {link.name: link.up for link in links}
        self.ifindex = {link.name: link.index for link in links}
        self._names = {link.index: link.name for link in links}

    def apply(self, events: Iterable[NetlinkEvent]) -> LinkChanges:
        """Record a batch of monitor events; say what they changed."""
        changes = LinkChanges()
        for ev in events:
            if not isinstance(ev, LinkInfo):
                changes.addressed.add(ev[1].index)
            elif ev.index == 0:  # events were lost: re-read everything
                old, old_index = dict(self.up), dict(self.ifindex)
                self.refresh()
                changes.changed += [(n, u) for n, u in self.up.items() if old.get(n, False) != u]
                changes.changed += [(n, False) for n, u in old.items() if u and n not in self.up]
                names = old_index.keys() | self.ifindex.keys()
                changes.touched |= {n for n in names if old_index.get(n) != self.ifindex.get(n)}
                changes.addressed |= set(self.ifindex.values())
            else:
                changes.changed += self._link_event(ev, changes.touched)
        return changes

    def _link_event(self, ev: LinkInfo, touched: set[str]) -> list[tuple[str, bool]]:
        """Record one link event; return the (name, up) changes it makes."""
        changes: list[tuple[str, bool]] = []
        old_name = self._names.get(ev.index, ev.name if ev.deleted else None)
        if old_name is not None and (ev.deleted or old_name != ev.name):
            # The name this ifindex had is gone: the interface was deleted or renamed.
            if ev.deleted:
                log.info("Interface %s deleted", old_name)
                self._events.emit("interface_deleted", None, interface=old_name, index=ev.index)
            else:
                log.info("Interface name has changed from %s to %s", old_name, ev.name)
            self._names.pop(ev.index, None)
            if self.ifindex.get(old_name) == ev.index:
                del self.ifindex[old_name]
                touched.add(old_name)
                if self.up.pop(old_name, False):
                    changes.append((old_name, False))
        if ev.deleted:
            return changes
        if self.ifindex.get(ev.name) != ev.index:
            log.info("Interface %s added", ev.name)
            self._events.emit("interface_added", None, interface=ev.name, index=ev.index)
            previous = self.ifindex.get(ev.name)
            if previous is not None:
                self._names.pop(previous, None)
            self.ifindex[ev.name] = ev.index
            self._names[ev.index] = ev.name
            touched.add(ev.name)
        was = self.up.get(ev.name)
        self.up[ev.name] = ev.up
        if was != ev.up and (was is not None or ev.up):  # a new, down link: no news
            changes.append((ev.name, ev.up))
        return changes


SocketKey = tuple[str, int]  # (interface, address family)


class VrrpSockets:
    """One VRRP socket per interface and address family, read by the loop; the instances
    of that family on an interface share it. ``on_readable(sock)`` runs when one has
    packets; ``on_closed(sock)`` when :meth:`close` closed one its instances still hold."""

    def __init__(
        self,
        loop: EventLoop,
        *,
        on_readable: Callable[[VrrpSocket], None],
        on_closed: Callable[[VrrpSocket], None],
    ) -> None:
        self._loop = loop
        self._on_readable = on_readable
        self._on_closed = on_closed
        self._by_key: dict[SocketKey, VrrpSocket] = {}

    def __contains__(self, interface: object) -> bool:
        return any(name == interface for name, _family in self._by_key)

    def interfaces(self) -> list[str]:
        return list(dict.fromkeys(name for name, _family in self._by_key))

    def open(self, interface: str, multicast: bool, index: int, family: int = 4) -> VrrpSocket:
        """The ``family`` socket of ``interface`` (ifindex ``index``), opened if need be."""
        key = (interface, family)
        sock = self._by_key.get(key)
        if sock is not None and sock.index != index:
            self.close(interface)  # bound to an interface that has gone
            sock = None
        if sock is None:
            sock = VrrpSocket(interface, multicast=multicast, index=index, family=family)
            self._by_key[key] = sock
            self._loop.add_reader(sock.fileno(), functools.partial(self._on_readable, sock))
        elif multicast:
            sock.join()
        return sock

    def close(self, interface: str) -> None:
        """Close the sockets of ``interface``; its instances are left without one."""
        for key in [k for k in self._by_key if k[0] == interface]:
            sock = self._discard(key)
            if sock is not None:
                self._on_closed(sock)

    def rejoin(self, interface: str) -> None:
        """The interface came up: join the VRRP groups on it again."""
        for key, sock in self._by_key.items():
            if key[0] == interface:
                with contextlib.suppress(OSError):
                    sock.join()

    def close_unused(self, used: Iterable[SocketKey]) -> None:
        """Close the sockets of (interface, family) no instance is configured on any more."""
        keep = set(used)
        for key in [k for k in self._by_key if k not in keep]:
            self._discard(key)

    def close_all(self) -> None:
        for key in list(self._by_key):
            self._discard(key)

    def _discard(self, key: SocketKey) -> VrrpSocket | None:
        sock = self._by_key.pop(key, None)
        if sock is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        return sock


class InterfaceFollower:
    """Keeps each instance on its interfaces: the VRRP socket, the VIPs' ifindexes and the
    source address follow interfaces appearing, vanishing, being renamed or readdressed.
    Each method returns True when the instance's own fault reasons changed (the caller
    then recomputes tracking)."""

    def __init__(
        self,
        *,
        links: LinkTable,
        sockets: VrrpSockets,
        netlink: Netlink,
        vips: VirtualAddresses,
        clock: Callable[[], float],
        vmacs: Vmacs | None = None,
    ) -> None:
        self._links = links
        self._sockets = sockets
        self._netlink = netlink
        self._vips = vips
        self._clock = clock
        self._vmacs = vmacs

    def follow(self, instances: Sequence[Instance], changes: LinkChanges) -> bool:
        """Bring every instance up to date after a batch of link and address events."""
        for name in changes.touched:
            self._vips.forget(name)
        faults_changed = False
        for inst in instances:
            interface = inst.cfg.interface or ""
            touched = changes.touched
            if (
                interface in touched
                or inst.vmac_name in touched
                or any(v.dev in touched for v in inst.cfg.vips if v.dev)
            ):
                faults_changed |= self.attach(inst)
            elif self._links.ifindex.get(interface) in changes.addressed:
                faults_changed |= self.check_address(inst)
        return faults_changed

    def attach(self, inst: Instance) -> bool:
        """Follow the instance's interfaces after one appeared, vanished or was replaced:
        VIP ifindexes, the VRRP socket, the source address."""
        interface = inst.cfg.interface or ""
        index = self._links.ifindex.get(interface)
        if index is not None:
            self._remake_vmac(inst, index)
        self._refresh_vips(inst)
        sock_if = inst.socket_interface
        if index is None:
            if inst.sock is not None:
                self._sockets.close(sock_if)
            inst.sock = None
            return inst.set_fault_reason(NO_INTERFACE, True)
        sock_index = index if sock_if == interface else self._links.index_of(sock_if)
        if sock_index is None:
            log.error("(%s) interface %s is missing", inst.name, sock_if)
            inst.sock = None
            return inst.set_fault_reason(NO_INTERFACE, True)
        if inst.sock is None or inst.sock.index != sock_index:
            try:
                inst.sock = self._sockets.open(
                    sock_if, not inst.cfg.unicast_peers, sock_index, inst.family
                )
            except OSError as exc:
                log.error("(%s) cannot open VRRP socket on %s: %s", inst.name, sock_if, exc)
                inst.sock = None
                return inst.set_fault_reason(NO_INTERFACE, True)
            log.info("(%s) VRRP socket open on %s (ifindex %d)", inst.name, sock_if, sock_index)
        changed = inst.set_fault_reason(NO_INTERFACE, False)
        return self.check_address(inst) or changed

    def _remake_vmac(self, inst: Instance, index: int) -> None:
        """The instance's interface is there (again, maybe as a new ifindex): its VMAC
        went with the old one, and is made again on it (keepalived's recreate_vmac)."""
        vmac = inst.vmac
        if self._vmacs is None or vmac is None:
            return
        if vmac.base_index == index and self._links.index_of(vmac.name) == vmac.index:
            return
        request = vmac_request(inst.cfg)
        if request is None or inst.cfg.vrid is None:
            return
        self._vmacs.delete(inst.name, vmac)  # settings of the old base, if any left
        self._vips.forget(vmac.name)
        inst.vmac = self._vmacs.create(
            inst.name,
            request,
            base=inst.cfg.interface or "",
            base_index=index,
            vrid=inst.cfg.vrid,
            family=inst.family,
        )

    def _refresh_vips(self, inst: Instance) -> None:
        """Re-resolve VIP ifindexes. Addresses on a deleted interface went with it."""
        interface = inst.cfg.interface or ""
        resolved = {
            v.key: v
            for v in resolve_vips(
                inst.cfg, interface, self._links.index_of, quiet=True, vmac=inst.vmac_name
            )
        }
        vips: list[Vip] = []
        for vip in inst.vips:
            new = resolved.pop(vip.key, None)
            if new is None or new.index != vip.index:
                # its interface went (a new one of that name, e.g. a VMAC made again, does
                # not have it)
                self._vips.gone(inst, vip, "interface deleted")
            vips.append(new or vip)
        if resolved:  # VIPs whose interface did not exist when the instance was built
            vips += resolved.values()
            inst.set_vips(vips)
        else:
            inst.vips = vips
        if inst.machine.state is State.MASTER and any(
            v.key not in inst.installed and v.dev in self._links.ifindex for v in vips
        ):
            self._vips.add(inst)

    def check_address(self, inst: Instance) -> bool:
        """Re-read the primary address (unless configured)."""
        cfg = inst.cfg
        if (cfg.unicast_src_ip if cfg.unicast_peers else cfg.mcast_src_ip) is not None:
            return False
        index = self._links.ifindex.get(cfg.interface or "")
        if index is None:
            return False
        exclude = frozenset(v.address for v in inst.vips)
        try:
            src = self._netlink.primary_address(index, exclude, family=inst.family)
        except OSError as exc:
            log.error("(%s) cannot read addresses: %s", inst.name, exc)
            return False
        if src is None:
            if NO_ADDRESS not in inst.fault_reasons:
                kind = source_kind(inst.family)
                log.info("(%s) no %s address on %s", inst.name, kind, cfg.interface)
            return inst.set_fault_reason(NO_ADDRESS, True)
        if src != inst.src:
            self._change_source(inst, src)
        return inst.set_fault_reason(NO_ADDRESS, False)

    def _change_source(self, inst: Instance, src: str) -> None:
        """Adverts go from the new primary address. Out of service (FAULT), the state
        machine is rebuilt so ties are broken with it too; in service it keeps the old
        one for tie-breaking until the instance next goes through FAULT."""
        log.info("(%s) source address changed from %s to %s", inst.name, inst.src, src)
        inst.src = src
        old = inst.machine
        if old.state not in (State.FAULT, State.INIT):
            return
        machine = VrrpInstanceMachine(replace(old.params, primary_address=src))
        if old.state is State.FAULT:
            now = self._clock()
            machine.set_fault(now, True)
            machine.start(now)  # INIT -> FAULT, already reported by the old machine
            machine.set_effective_priority(now, old.effective_priority)
        inst.machine = machine

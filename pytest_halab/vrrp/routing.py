"""Static addresses, routes and rules, and the instances' virtual routes and rules, in the
kernel, as keepalived 2.2.7 keeps them.

- At start-up (vrrp_daemon.c start_vrrp): the static and virtual rules a previous run
  may have left are deleted, then the static addresses, routes and rules are added, and they stay
  whatever the instances do. At exit (stop_vrrp) the ones added are removed: rules,
  routes, then addresses. A reload removes those the new configuration no longer has and
  adds the new ones.
- An instance's ``virtual_routes`` and ``virtual_rules`` are added when it becomes MASTER,
  after its addresses (vrrp_state_master_tx), and removed when it leaves MASTER or stops,
  rules first, then routes, before its addresses (vrrp_restore_interface).
- Kept: a tracked static route or rule (not ``no_track``) the kernel reports deleted is
  put back, as is a tracked static address (netlink_route_filter, netlink_rule_filter,
  netlink_if_address_filter); when an interface comes up, the static addresses and
  routes on it are put back (interface_up). A tracked virtual route or rule deleted
  under a MASTER takes that instance out of MASTER (set_vrrp_backup: it leaves with a
  priority-0 advert and may take over again after its skew time).

The messages are keepalived's (netlink_route, netlink_rule, netlink_ipaddress): routes
are added as ``ip route prepend`` (``add``/``append`` when configured), with protocol
keepalived (18) unless ``no_track`` gave them another; rules exclusively.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Iterable

from pytest_halab.vrrp.conf import Encap, KeepalivedConfig, Route, Rule, VirtualIp
from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.instance import Instance
from pytest_halab.vrrp.net import (
    RTM_DELROUTE,
    RTM_DELRULE,
    RTM_NEWROUTE,
    RTM_NEWRULE,
    AddressInfo,
    Netlink,
    RoutingChange,
)

__all__ = ["Routing", "route_message", "rule_message"]

log = logging.getLogger("halab-vrrpd")

RTPROT_KEEPALIVED = 18
RT_TABLE_MAIN = 254
RT_SCOPE_NOWHERE = 255
RTN_UNICAST = 1
RTNH_F_ONLINK = 4
FR_ACT_TO_TBL = 1
FR_ACT_GOTO = 2
FIB_RULE_INVERT = 2
NLM_F_CREATE = 0x400
NLM_F_EXCL = 0x200
NLM_F_APPEND = 0x800
# RTA_*
RTA_DST, RTA_SRC, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC = 1, 2, 4, 5, 6, 7
RTA_METRICS, RTA_MULTIPATH, RTA_FLOW, RTA_TABLE, RTA_VIA, RTA_PREF = 8, 9, 11, 15, 18, 20
RTA_ENCAP_TYPE, RTA_ENCAP, RTA_EXPIRES, RTA_TTL_PROPAGATE = 21, 22, 23, 26
# RTAX_* by the route keywords that set them
RTAX_LOCK = 1
RTAX = {
    "mtu": 2,
    "window": 3,
    "rtt": 4,
    "rttvar": 5,
    "ssthresh": 6,
    "cwnd": 7,
    "advmss": 8,
    "reordering": 9,
    "hoplimit": 10,
    "initcwnd": 11,
    "features": 12,
    "rto_min": 13,
    "initrwnd": 14,
    "quickack": 15,
    "congctl": 16,
    "fastopen_no_cookie": 17,
}
# lightweight tunnels (LWTUNNEL_ENCAP_*)
ENCAP_TYPES = {"mpls": 1, "ip": 2, "ila": 3, "ip6": 4}
# FRA_*
FRA_DST, FRA_SRC, FRA_IIFNAME, FRA_GOTO, FRA_PRIORITY, FRA_FWMARK, FRA_FLOW = 1, 2, 3, 4, 6, 10, 11
FRA_TUN_ID, FRA_SUPPRESS_IFGROUP, FRA_SUPPRESS_PREFIXLEN, FRA_TABLE = 12, 13, 14, 15
FRA_FWMASK, FRA_OIFNAME, FRA_L3MDEV, FRA_UID_RANGE, FRA_PROTOCOL = 16, 17, 19, 20, 21
FRA_IP_PROTO, FRA_SPORT_RANGE, FRA_DPORT_RANGE = 22, 23, 24
# address flags (IFA_F_*) by keyword
IFA_F_NODAD = 0x02
IFA_FLAGS = {"home": 0x10, "mngtmpaddr": 0x100, "noprefixroute": 0x200, "autojoin": 0x400}
_RTATTR = struct.Struct("=HH")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTNEXTHOP = struct.Struct("=HBBi")

IndexOf = Callable[[str], "int | None"]


class MissingInterface(LookupError):
    """A route, rule or address names an interface that does not exist (now)."""


def _attr(kind: int, payload: bytes) -> bytes:
    length = _RTATTR.size + len(payload)
    return _RTATTR.pack(length, kind) + payload + b"\0" * (((length + 3) & ~3) - length)


def _u8(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=B", value & 0xFF))


def _u16(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=H", value & 0xFFFF))


def _u32(kind: int, value: int) -> bytes:
    return _attr(kind, struct.pack("=I", value & 0xFFFFFFFF))


def _packed(address: str) -> bytes:
    return ipaddress.ip_address(address).packed


def _family(version: int) -> int:
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def _index(name: str, index_of: IndexOf) -> int:
    index = index_of(name)
    if index is None:
        raise MissingInterface(name)
    return index


def _gateway(route_family: int, via: str) -> bytes:
    """RTA_GATEWAY, or RTA_VIA (its own family) for a gateway of the other family."""
    addr = ipaddress.ip_address(via)
    if addr.version == route_family:
        return _attr(RTA_GATEWAY, addr.packed)
    return _attr(RTA_VIA, struct.pack("=H", _family(addr.version)) + addr.packed)


def _encap(encap: Encap) -> bytes:
    """RTA_ENCAP (nested, by tunnel type) and RTA_ENCAP_TYPE."""
    inner = b""
    if encap.kind == "mpls":
        entries = [label << 12 for label in encap.labels]
        if entries:
            entries[-1] |= 1 << 8  # bottom of stack
        inner = _attr(1, b"".join(struct.pack("!I", e) for e in entries))
    elif encap.kind == "ila":
        if encap.locator is not None:
            inner = _attr(1, struct.pack("!Q", encap.locator))
    else:  # ip, ip6: ID, DST, SRC, TTL|HOPLIMIT, TOS|TC, FLAGS
        if encap.id is not None:
            inner += _attr(1, struct.pack("!Q", encap.id))
        if encap.dst is not None:
            inner += _attr(2, _packed(encap.dst))
        if encap.src is not None:
            inner += _attr(3, _packed(encap.src))
        if encap.ttl is not None:
            inner += _u8(4, encap.ttl)
        if encap.tos is not None:
            inner += _u8(5, encap.tos)
        if encap.flags is not None:
            inner += _u16(6, encap.flags)
    return _attr(RTA_ENCAP, inner) + _u16(RTA_ENCAP_TYPE, ENCAP_TYPES[encap.kind])


def _nexthops(route: Route, index_of: IndexOf) -> bytes:
    hops = b""
    for hop in route.nexthops:
        attrs = b""
        if hop.via is not None:
            attrs += _gateway(route.family, hop.via)
        if hop.realms:
            attrs += _u32(RTA_FLOW, hop.realms)
        if hop.encap is not None:
            attrs += _encap(hop.encap)
        index = _index(hop.dev, index_of) if hop.dev is not None else 0
        weight = (hop.weight - 1) if hop.weight is not None else 0
        flags = RTNH_F_ONLINK if hop.onlink else 0
        hops += _RTNEXTHOP.pack(_RTNEXTHOP.size + len(attrs), flags, weight, index) + attrs
    return _attr(RTA_MULTIPATH, hops) if hops else b""


def route_message(route: Route, *, add: bool, index_of: IndexOf) -> tuple[int, int, bytes]:
    """keepalived's netlink_route(): (message type, flags, body) to add or delete
    `route`. Raises MissingInterface for an interface that does not exist."""
    if add:
        kind, flags = RTM_NEWROUTE, NLM_F_CREATE
        if route.mode == "add":
            flags |= NLM_F_EXCL
        elif route.mode == "append":
            flags |= NLM_F_APPEND
        scope = route.scope if route.scope is not None else 0
        rtype = route.type if route.type is not None else RTN_UNICAST
    else:
        kind, flags = RTM_DELROUTE, 0
        scope = route.scope if route.scope is not None else RT_SCOPE_NOWHERE
        rtype = route.type or 0
    family = _family(route.family)
    table = route.table if route.table < 256 else 0
    protocol = route.protocol if route.protocol is not None else RTPROT_KEEPALIVED
    header = _RTMSG.pack(
        family,
        route.dst_len,
        route.src_len if route.src is not None else 0,
        route.tos or 0,
        table,
        protocol,
        scope,
        rtype,
        RTNH_F_ONLINK if route.onlink else 0,
    )
    attrs = _u32(RTA_TABLE, route.table) if route.table >= 256 else b""
    attrs += _attr(RTA_DST, _packed(route.dst))
    if route.src is not None:
        attrs += _attr(RTA_SRC, _packed(route.src))
    if route.pref_src is not None:
        attrs += _attr(RTA_PREFSRC, _packed(route.pref_src))
    if route.via is not None:
        attrs += _gateway(route.family, route.via)
    if route.encap is not None:
        attrs += _encap(route.encap)
    if route.dev is not None:
        attrs += _u32(RTA_OIF, _index(route.dev, index_of))
    if route.metric is not None:
        attrs += _u32(RTA_PRIORITY, route.metric)
    if route.realms:
        attrs += _u32(RTA_FLOW, route.realms)
    if route.expires is not None:
        attrs += _u32(RTA_EXPIRES, route.expires)
    if route.pref is not None:
        attrs += _u8(RTA_PREF, route.pref)
    if route.ttl_propagate is not None:
        attrs += _u8(RTA_TTL_PROPAGATE, route.ttl_propagate)
    metrics = b""
    if route.congctl is not None:
        metrics += _attr(RTAX["congctl"], route.congctl.encode("utf-8", "surrogateescape"))
    if route.features:
        metrics += _u32(RTAX["features"], route.features)
    for name, value in route.metrics.items():
        metrics += _u32(RTAX[name], value)
    if metrics:
        locks = 0
        for name in route.locks:
            locks |= 1 << RTAX[name]
        if locks:
            metrics += _u32(RTAX_LOCK, locks)
        attrs += _attr(RTA_METRICS, metrics)
    attrs += _nexthops(route, index_of)
    return kind, flags, header + attrs


def rule_message(rule: Rule, *, add: bool) -> tuple[int, int, bytes]:
    """keepalived's netlink_rule(): (message type, flags, body) to add or delete `rule`."""
    kind, flags = (RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL) if add else (RTM_DELRULE, 0)
    table = 0
    attrs = b""
    if rule.action == FR_ACT_TO_TBL and not rule.l3mdev:
        if rule.table < 256:
            table = (rule.table & 0xFF) or RT_TABLE_MAIN
        else:
            attrs += _u32(FRA_TABLE, rule.table)
    header = _RTMSG.pack(
        _family(rule.family),
        rule.dst[1] if rule.dst is not None else 0,
        rule.src[1] if rule.src is not None else 0,
        rule.tos,
        table,
        0,
        0,
        rule.action,
        FIB_RULE_INVERT if rule.invert else 0,
    )
    if rule.src is not None:
        attrs += _attr(FRA_SRC, _packed(rule.src[0]))
    if rule.dst is not None:
        attrs += _attr(FRA_DST, _packed(rule.dst[0]))
    attrs += _u32(FRA_PRIORITY, rule.priority)
    if rule.fwmark is not None:
        attrs += _u32(FRA_FWMARK, rule.fwmark)
    if rule.fwmask is not None:
        attrs += _u32(FRA_FWMASK, rule.fwmask)
    if rule.realms:
        attrs += _u32(FRA_FLOW, rule.realms)
    if rule.suppress_prefixlen is not None:
        attrs += _u32(FRA_SUPPRESS_PREFIXLEN, rule.suppress_prefixlen)
    if rule.suppress_group is not None:
        attrs += _u32(FRA_SUPPRESS_IFGROUP, rule.suppress_group)
    for kind_attr, name in ((FRA_IIFNAME, rule.iif), (FRA_OIFNAME, rule.oif)):
        if name is not None:
            attrs += _attr(kind_attr, name.encode("utf-8", "surrogateescape") + b"\0")
    if rule.tunnel_id:
        attrs += _attr(FRA_TUN_ID, struct.pack("!Q", rule.tunnel_id))
    if rule.uid_range is not None:
        attrs += _attr(FRA_UID_RANGE, struct.pack("=II", *rule.uid_range))
    if rule.l3mdev:
        attrs += _u8(FRA_L3MDEV, 1)
    if rule.protocol is not None:
        attrs += _u8(FRA_PROTOCOL, rule.protocol)
    if rule.ip_proto is not None:
        attrs += _u8(FRA_IP_PROTO, rule.ip_proto)
    if rule.sport is not None:
        attrs += _attr(FRA_SPORT_RANGE, struct.pack("=HH", *rule.sport))
    if rule.dport is not None:
        attrs += _attr(FRA_DPORT_RANGE, struct.pack("=HH", *rule.dport))
    if rule.action == FR_ACT_GOTO and rule.goto is not None:
        attrs += _u32(FRA_GOTO, rule.goto)
    return kind, flags, header + attrs


def item_key(item: VirtualIp | Route | Rule) -> str:
    """What makes two addresses, routes or rules the same (not where they were written)."""
    values = [
        (f.name, getattr(item, f.name))
        for f in dataclasses.fields(item)
        if f.name not in ("words", "line", "file")
    ]
    return f"{type(item).__name__}{values!r}"


def _describe(item: VirtualIp | Route | Rule) -> str:
    if isinstance(item, VirtualIp):
        return f"{item.address}/{item.prefixlen} dev {item.dev}"
    return str(item)


class Routing:
    """The kernel side of static addresses, routes and rules, and of virtual routes and
    rules (see the module's description)."""

    def __init__(
        self,
        *,
        netlink: Netlink,
        events: EventLog,
        index_of: IndexOf,
        detail: bool = False,
    ) -> None:
        self._netlink = netlink
        self._events = events
        self._index_of = index_of
        self._detail = detail
        self._config = KeepalivedConfig()
        self.static_set: set[str] = set()  # keys of the static items this daemon added

    # --- what is watched ----------------------------------------------------------------

    @staticmethod
    def watched_families(cfg: KeepalivedConfig) -> tuple[set[int], set[int]]:
        """The families of the tracked routes and rules: (routes, rules) to monitor."""
        routes = {r.family for r in cfg.static_routes if not r.no_track}
        rules = {r.family for r in cfg.static_rules if not r.no_track}
        for inst in cfg.instances.values():
            routes |= {r.family for r in inst.virtual_routes if not r.no_track}
            rules |= {r.family for r in inst.virtual_rules if not r.no_track}
        return routes, rules

    # --- requests -----------------------------------------------------------------------

    def _route(self, route: Route, *, add: bool, owner: str | None, again: bool = False) -> int:
        """Add or delete one route: 0 when the kernel did it, else its errno (ENODEV
        for an interface that does not exist). `again`: putting back one the kernel
        removed (EEXIST, it was there after all, is no error)."""
        what = "add" if add else "remove"
        try:
            kind, flags, body = route_message(route, add=add, index_of=self._index_of)
            self._netlink.change_routing(kind, flags, body)
        except MissingInterface as exc:
            log.error("%scannot %s route %s: interface %s not found", _who(owner), what, route, exc)
            return errno.ENODEV
        except (ValueError, struct.error) as exc:  # a value the message cannot carry
            log.error("%scannot %s route %s: %s", _who(owner), what, route, exc)
            return errno.EINVAL
        except OSError as exc:
            expected = errno.EEXIST if again else errno.ESRCH
            if (add and not again) or exc.errno != expected:
                log.error("%scannot %s route %s: %s", _who(owner), what, route, exc.strerror)
            return exc.errno or errno.EIO
        self._events.emit(
            "route_added" if add else "route_removed", owner, route=str(route), static=owner is None
        )
        return 0

    def _rule(
        self, rule: Rule, *, add: bool, owner: str | None, quiet: bool = False, again: bool = False
    ) -> int:
        """Add or delete one rule: 0 when the kernel did it, else its errno."""
        try:
            kind, flags, body = rule_message(rule, add=add)
            self._netlink.change_routing(kind, flags, body)
        except (ValueError, struct.error) as exc:  # a value the message cannot carry
            log.error("%scannot %s rule %s: %s", _who(owner), "add" if add else "remove", rule, exc)
            return errno.EINVAL
        except OSError as exc:
            if not quiet and not (again and exc.errno == errno.EEXIST):
                what = "add" if add else "remove"
                log.error("%scannot %s rule %s: %s", _who(owner), what, rule, exc.strerror)
            return exc.errno or errno.EIO
        self._events.emit(
            "rule_added" if add else "rule_removed", owner, rule=str(rule), static=owner is None
        )
        return 0

    def _address(self, vip: VirtualIp, *, add: bool, again: bool = False) -> int:
        """Add or delete one static address: 0 when done, else an errno."""
        dev = vip.dev or ""
        index = self._index_of(dev)
        if index is None:
            if add:
                log.info(
                    "Not adding address %s/%d to %s since interface doesn't exist",
                    vip.address,
                    vip.prefixlen,
                    dev,
                )
            return errno.ENODEV
        what = "add" if add else "remove"
        try:
            if add:
                flags = 0
                for name in vip.options:
                    flags |= IFA_FLAGS.get(name, 0)
                if vip.family == 6 and "-nodad" not in vip.options:
                    flags |= IFA_F_NODAD
                done = self._netlink.add_address(
                    index,
                    vip.address,
                    vip.prefixlen,
                    label=vip.label,
                    broadcast=vip.broadcast,
                    scope=vip.scope_id,
                    peer=vip.peer,
                    ifa_flags=flags,
                    preferred_lft=vip.preferred_lft,
                )
            else:
                done = self._netlink.delete_address(index, vip.address, vip.prefixlen)
        except OSError as exc:
            log.error("cannot %s static address %s: %s", what, _describe(vip), exc.strerror)
            return exc.errno or errno.EIO
        except ValueError as exc:
            log.error("cannot %s static address %s: %s", what, _describe(vip), exc)
            return errno.EINVAL
        if not done:
            if add and not again:
                log.error("cannot add static address %s: it is already there", _describe(vip))
            return errno.EEXIST if add else errno.EADDRNOTAVAIL
        self._events.emit(
            f"static_address_{'added' if add else 'removed'}",
            None,
            address=vip.address,
            prefixlen=vip.prefixlen,
            dev=dev,
        )
        return 0

    # --- static addresses, routes and rules ----------------------------------------------

    def start(self, cfg: KeepalivedConfig) -> None:
        """Start-up: the static rules a previous run left are deleted, then the static
        addresses, routes and rules added."""
        self._config = cfg
        for rule in cfg.static_rules:
            self._rule(rule, add=False, owner=None, quiet=True)
        self._add_static()

    def _add_static(self) -> None:
        cfg = self._config
        for vip in cfg.static_addresses:
            self._add_static_item(vip)
        for route in cfg.static_routes:
            self._add_static_item(route)
        for rule in cfg.static_rules:
            self._add_static_item(rule)

    def _add_static_item(self, item: VirtualIp | Route | Rule, *, again: bool = False) -> None:
        """Add a static item not in place. `again`: one the kernel removed, being put
        back; if it is there after all (EEXIST), it counts as ours again."""
        key = item_key(item)
        if key in self.static_set:
            return
        if isinstance(item, VirtualIp):
            result = self._address(item, add=True, again=again)
        elif isinstance(item, Route):
            result = self._route(item, add=True, owner=None, again=again)
        else:
            result = self._rule(item, add=True, owner=None, again=again)
        if result == 0 or (again and result == errno.EEXIST):
            self.static_set.add(key)

    def _remove_static_item(self, item: VirtualIp | Route | Rule) -> None:
        key = item_key(item)
        if key not in self.static_set:
            return
        self.static_set.discard(key)
        if isinstance(item, VirtualIp):
            self._address(item, add=False)
        elif isinstance(item, Route):
            self._route(item, add=False, owner=None)
        else:
            self._rule(item, add=False, owner=None)

    def _static_items(self, cfg: KeepalivedConfig) -> list[VirtualIp | Route | Rule]:
        """Rules, routes, addresses: the order keepalived removes them in."""
        return [*cfg.static_rules, *cfg.static_routes, *cfg.static_addresses]

    def stop(self) -> None:
        """Exit: the static rules, routes and addresses this daemon added are removed."""
        for item in self._static_items(self._config):
            self._remove_static_item(item)

    def reload(self, cfg: KeepalivedConfig) -> None:
        """A new configuration: statics it no longer has are removed, new ones added."""
        keep = {item_key(i) for i in self._static_items(cfg)}
        for item in self._static_items(self._config):
            if item_key(item) not in keep:
                self._remove_static_item(item)
        self._config = cfg
        self._add_static()

    # --- virtual routes and rules ----------------------------------------------------------

    def remove_stale(self, inst: Instance) -> None:
        """Start-up (vrrp_restore_interfaces_startup): the instance's virtual rules a
        previous run may have left are deleted, those not there being no error. (Its
        routes are not: keepalived only deletes the routes it added.)"""
        for rule in inst.cfg.virtual_rules:
            self._rule(rule, add=False, owner=inst.name, quiet=True)

    def add_virtual(self, inst: Instance) -> None:
        """The instance became MASTER (its addresses are in place): add its routes, then
        its rules, those not in place yet."""
        cfg = inst.cfg
        if cfg.virtual_routes and self._detail:
            log.info("(%s) setting Virtual Routes", inst.name)
        for route in cfg.virtual_routes:
            key = item_key(route)
            if key not in inst.routes_set and not self._route(route, add=True, owner=inst.name):
                inst.routes_set.add(key)
        if cfg.virtual_rules and self._detail:
            log.info("(%s) setting Virtual Rules", inst.name)
        for rule in cfg.virtual_rules:
            key = item_key(rule)
            if key not in inst.rules_set and not self._rule(rule, add=True, owner=inst.name):
                inst.rules_set.add(key)

    def remove_virtual(self, inst: Instance, keep: Iterable[Route | Rule] = ()) -> None:
        """The instance leaves MASTER or stops: remove the rules, then the routes, it
        added (but those in `keep`: a reload's unchanged ones)."""
        kept = {item_key(item) for item in keep}
        if inst.rules_set and self._detail:
            log.info("(%s) removing Virtual Rules", inst.name)
        for rule in inst.cfg.virtual_rules:
            key = item_key(rule)
            if key in inst.rules_set and key not in kept:
                inst.rules_set.discard(key)
                self._rule(rule, add=False, owner=inst.name)
        if inst.routes_set and self._detail:
            log.info("(%s) removing Virtual Routes", inst.name)
        for route in inst.cfg.virtual_routes:
            key = item_key(route)
            if key in inst.routes_set and key not in kept:
                inst.routes_set.discard(key)
                self._route(route, add=False, owner=inst.name)
        inst.routes_set &= kept
        inst.rules_set &= kept

    # --- what the kernel reports ---------------------------------------------------------

    def on_change(self, change: RoutingChange, instances: Iterable[Instance]) -> list[Instance]:
        """keepalived's netlink_route_filter() and netlink_rule_filter(): a route or rule
        of ours deleted is no longer in place; if tracked, a static one is put back, and a
        virtual one's instance is returned (if MASTER, it must leave MASTER)."""
        if not change.deleted or change.protocol not in (0, RTPROT_KEEPALIVED):
            return []
        if change.kind == "route" and change.protocol != RTPROT_KEEPALIVED:
            return []
        for inst in instances:
            virtual: list[Route | Rule] = [*inst.cfg.virtual_routes, *inst.cfg.virtual_rules]
            for item in virtual:
                placed = inst.routes_set if isinstance(item, Route) else inst.rules_set
                key = item_key(item)
                if key in placed and self._matches(item, change, virtual=True):
                    placed.discard(key)
                    return [] if item.no_track else [inst]
        statics: list[Route | Rule] = [*self._config.static_routes, *self._config.static_rules]
        for item in statics:
            key = item_key(item)
            if key in self.static_set and self._matches(item, change, virtual=False):
                self.static_set.discard(key)
                if not item.no_track:
                    log.info("Restoring deleted static %s %s", change.kind, item)
                    self._add_static_item(item, again=True)
                break
        return []

    def _matches(self, item: Route | Rule, change: RoutingChange, *, virtual: bool) -> bool:
        if isinstance(item, Route):
            return change.kind == "route" and self._route_matches(item, change, virtual=virtual)
        return change.kind == "rule" and _rule_matches(item, change)

    def _route_matches(self, route: Route, change: RoutingChange, *, virtual: bool) -> bool:
        """keepalived's route_is_ours(): table, family, destination, tos (and for a
        virtual route its metric and output interface)."""
        if (change.family, change.table, change.tos) != (
            _family(route.family),
            route.table,
            route.tos or 0,
        ):
            return False
        if change.dst is None or change.dst[1] != route.dst_len:
            return False
        if ipaddress.ip_address(change.dst[0]) != ipaddress.ip_address(route.dst):
            return False
        if not virtual:
            return True
        if change.priority != (route.metric or 0):
            return False
        return route.dev is None or self._index_of(route.dev) == change.oif

    def address_deleted(self, info: AddressInfo) -> None:
        """An IPv4 address went: a tracked static one is put back."""
        for vip in self._config.static_addresses:
            if vip.no_track or vip.address != info.address or vip.prefixlen != info.prefixlen:
                continue
            if self._index_of(vip.dev or "") != info.index:
                continue
            key = item_key(vip)
            if key in self.static_set:
                self.static_set.discard(key)
                log.info("Restoring deleted static address %s", _describe(vip))
                self._add_static_item(vip, again=True)
            return

    def interface_up(self, name: str) -> None:
        """keepalived's interface_up(): the static addresses and routes on the interface
        that are not in place (the kernel removed them with it) are added again."""
        for vip in self._config.static_addresses:
            if vip.dev == name and not vip.no_track:
                self._add_static_item(vip, again=True)
        for route in self._config.static_routes:
            if route.dev == name and not route.no_track:
                self._add_static_item(route, again=True)

    def interface_down(self, name: str) -> None:
        """keepalived's interface_down(): the static routes through the interface went
        with it (the kernel does not always say so)."""
        for route in self._config.static_routes:
            if route.dev == name:
                self.static_set.discard(item_key(route))

    def tracked_interfaces(self, inst: Instance) -> list[str]:
        """The interfaces an instance tracks for its routes and rules and for the static
        items of its track groups (keepalived's TRACK_ROUTE, TRACK_RULE, TRACK_S*)."""
        names: list[str] = []
        for route in inst.cfg.virtual_routes:
            if not route.no_track and route.dev is not None:
                names.append(route.dev)
        for rule in inst.cfg.virtual_rules:
            if not rule.no_track:
                names += [n for n in (rule.iif, rule.oif) if n is not None]
        cfg = self._config
        groups = {name for name, g in cfg.track_groups.items() if inst.name in g.members}
        if groups:
            for vip in cfg.static_addresses:
                if vip.track_group in groups and vip.dev is not None:
                    names.append(vip.dev)
            for route in cfg.static_routes:
                if route.track_group in groups and route.dev is not None:
                    names.append(route.dev)
            for rule in cfg.static_rules:
                if rule.track_group in groups and rule.iif is not None:
                    names.append(rule.iif)
        return list(dict.fromkeys(names))


def _rule_matches(rule: Rule, change: RoutingChange) -> bool:
    """keepalived's compare_rule(), on what the monitor reads: family, preference,
    action, table, ``from``/``to``, tos."""
    if (change.family, change.priority, change.action, change.tos) != (
        _family(rule.family),
        rule.priority,
        rule.action,
        rule.tos,
    ):
        return False
    if rule.action == FR_ACT_TO_TBL and change.table != rule.table:
        return False
    for mine, theirs in ((rule.src, change.src), (rule.dst, change.dst)):
        if (mine is None) != (theirs is None):
            return False
        if mine is not None and theirs is not None:
            if mine[1] != theirs[1]:
                return False
            if ipaddress.ip_address(mine[0]) != ipaddress.ip_address(theirs[0]):
                return False
    return True


def _who(owner: str | None) -> str:
    return f"({owner}) " if owner else ""

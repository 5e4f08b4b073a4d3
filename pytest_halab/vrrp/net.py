"""The network side of halab-vrrpd: VRRP raw sockets and rtnetlink (gratuitous ARP and
unsolicited neighbour advertisements: :mod:`.garp`).

Standard library only (the daemon runs inside Debian containers):

- :class:`VrrpSocket`: one raw socket (protocol 112) per interface and address family.
  IPv4: joined to 224.0.0.18 on that interface, bound to it, sending with ``IP_HDRINCL``
  so the header is keepalived's (TTL 255, TOS 0xc0, our source address); received
  packets keep their IP header so the TTL can be checked. IPv6: joined to ff02::12, the
  kernel fills in the checksum (``IPV6_CHECKSUM``) and the header (hop limit 255,
  traffic class 0xc0, the source given per packet); what is received is handed on with
  an IPv6 header rebuilt from the kernel's ancillary data (source, destination, hop
  limit), so the daemon reads both families the same way.
- :class:`Netlink`: a small rtnetlink client: add and delete addresses (IPv4 and IPv6),
  list them, read link state, send route and rule requests (the messages are built by
  :mod:`.routing`), and a subscription to link/address changes (interfaces coming,
  going, renamed, up/down; IPv4 addresses added/removed), and on demand to route and
  rule changes, for the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from pytest_halab.vrrp.packet import (
    VRRP_PROTO,
    VRRP_TTL,
    build_ipv4_header,
    build_ipv6_header,
    mcast_group,
)

__all__ = [
    "AddressInfo",
    "LinkDetails",
    "LinkInfo",
    "Netlink",
    "NetlinkError",
    "RoutingChange",
    "VrrpSocket",
]

# --- rtnetlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h) ------------

NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_DUMP = 0x300
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_NEWRULE = 32
RTM_DELRULE = 33
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
# rtnetlink multicast groups (RTNLGRP_*) of route and rule changes
RTNLGRP_IPV4_ROUTE = 7
RTNLGRP_IPV4_RULE = 8
RTNLGRP_IPV6_ROUTE = 11
RTNLGRP_IPV6_RULE = 19
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_LABEL = 3
IFA_BROADCAST = 4
IFA_CACHEINFO = 6
IFA_FLAGS = 8
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
INFINITY_LIFE_TIME = 0xFFFFFFFF
# route and rule attributes this module reads back (RTA_*, FRA_*)
RTA_DST = 1
RTA_OIF = 4
RTA_PRIORITY = 6
RTA_TABLE = 15
FRA_DST = 1
FRA_SRC = 2
FRA_PRIORITY = 6
FRA_TABLE = 15
FRA_PROTOCOL = 21
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_LINK = 5
IFLA_LINKINFO = 18
IFLA_AF_SPEC = 26
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_MACVLAN_MODE = 1
MACVLAN_MODE_PRIVATE = 1
IFLA_INET_CONF = 1
IFLA_INET6_ADDR_GEN_MODE = 8
IN6_ADDR_GEN_MODE_NONE = 1
# struct ipv4_devconf indexes (linux/ip.h): the per-interface IPv4 settings set by netlink
IPV4_DEVCONF_RP_FILTER = 8
IPV4_DEVCONF_ARPFILTER = 13
IPV4_DEVCONF_ARP_IGNORE = 19
IPV4_DEVCONF_PROMOTE_SECONDARIES = 20
IPV4_DEVCONF_ACCEPT_LOCAL = 23
IFF_UP = 0x1
IFF_RUNNING = 0x40
RT_SCOPE_UNIVERSE = 0
RT_SCOPES = {"global": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}

_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
# struct rtmsg and struct fib_rule_hdr: eight octets and a 32-bit word each
_RTMSG = struct.Struct("=BBBBBBBBI")
_IFA_CACHEINFO = struct.Struct("=IIII")
_IFINFOMSG = struct.Struct("=BxHiII")
_RTATTR = struct.Struct("=HH")

# setsockopt numbers the socket module does not export on every Python version.
_SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
_IP_MULTICAST_ALL = 49
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("=qq")
# IPv6 socket options (linux/in6.h) the socket module may lack
_IPV6_CHECKSUM = 7
_IPV6_MULTICAST_ALL = 29
_IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
_IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)
_IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
_IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_IPV6_TCLASS = getattr(socket, "IPV6_TCLASS", 67)
_IN6_PKTINFO = struct.Struct("=16sI")


def _align(n: int) -> int:
    return (n + 3) & ~3


def _rtattr(kind: int, payload: bytes) -> bytes:
    length = _RTATTR.size + len(payload)
    return _RTATTR.pack(length, kind) + payload + b"\0" * (_align(length) - length)


def _parse_attrs(data: bytes, offset: int) -> dict[int, bytes]:
    attrs: dict[int, bytes] = {}
    while offset + _RTATTR.size <= len(data):
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            break
        attrs.setdefault(kind, data[offset + _RTATTR.size : offset + length])
        offset += _align(length)
    return attrs


class NetlinkError(OSError):
    """The kernel refused a netlink request (``errno`` is the kernel's)."""


@dataclass(frozen=True)
class RoutingChange:
    """A route or rule the kernel added or deleted, as the monitor reports it: what
    keepalived compares to tell whether it is one of its own.

    For a route, `priority` is its metric and `oif` its output interface (0: none); for
    a rule, `priority` is its preference, `table` its table and `src`/`dst` its
    ``from``/``to`` (address text, prefix length)."""

    kind: str  # "route" | "rule"
    deleted: bool
    family: int
    table: int
    protocol: int
    tos: int
    priority: int
    dst: tuple[str, int] | None = None
    src: tuple[str, int] | None = None
    oif: int = 0
    action: int = 0


def _address_text(family: int, raw: bytes) -> str:
    if family == socket.AF_INET6 and len(raw) == 16:
        return str(ipaddress.IPv6Address(raw))
    if family == socket.AF_INET and len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    return ""


def _u32(attrs: dict[int, bytes], kind: int, default: int = 0) -> int:
    raw = attrs.get(kind)
    return struct.unpack("=I", raw[:4])[0] if raw is not None and len(raw) >= 4 else default


def _parse_routing(mtype: int, payload: bytes) -> RoutingChange | None:
    """An RTM_NEWROUTE/RTM_DELROUTE or RTM_NEWRULE/RTM_DELRULE message."""
    if len(payload) < _RTMSG.size:
        return None
    family, dst_len, src_len, tos, table, protocol, _scope, kind_or_action, _flags = (
        _RTMSG.unpack_from(payload)
    )
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attrs = _parse_attrs(payload, _RTMSG.size)
    if mtype in (RTM_NEWROUTE, RTM_DELROUTE):
        raw = attrs.get(RTA_DST)
        dst = (
            _address_text(family, raw) if raw is not None else ("::" if family == 10 else "0.0.0.0")
        )
        return RoutingChange(
            "route",
            mtype == RTM_DELROUTE,
            family,
            _u32(attrs, RTA_TABLE, table),
            protocol,
            tos,
            _u32(attrs, RTA_PRIORITY),
            dst=(dst, dst_len),
            oif=_u32(attrs, RTA_OIF),
        )
    rule_protocol = attrs.get(FRA_PROTOCOL, b"\0")[:1]
    src_raw, dst_raw = attrs.get(FRA_SRC), attrs.get(FRA_DST)
    return RoutingChange(
        "rule",
        mtype == RTM_DELRULE,
        family,
        _u32(attrs, FRA_TABLE, table),
        rule_protocol[0] if rule_protocol else 0,
        tos,
        _u32(attrs, FRA_PRIORITY),
        dst=(_address_text(family, dst_raw), dst_len) if dst_raw is not None else None,
        src=(_address_text(family, src_raw), src_len) if src_raw is not None else None,
        action=kind_or_action,
    )


@dataclass(frozen=True)
class AddressInfo:
    """One address on an interface, as the kernel reports it. ``tentative``: an IPv6
    address still under duplicate address detection (or failed it), not usable as a
    source."""

    index: int
    address: str
    prefixlen: int
    label: str
    secondary: bool
    family: int = 4
    tentative: bool = False

    @property
    def link_local(self) -> bool:
        return self.family == 6 and ipaddress.IPv6Address(self.address).is_link_local


@dataclass(frozen=True)
class LinkInfo:
    """An interface's index, name and whether it is up and running (keepalived's test).

    ``deleted``: from an ``RTM_DELLINK`` event (the interface is gone, not just down).
    :meth:`Netlink.read_events` reports lost events as ``LinkInfo(0, "", False)``.
    """

    index: int
    name: str
    up: bool
    deleted: bool = False


@dataclass(frozen=True)
class LinkDetails:
    """What one interface is: its kind (``macvlan``, ``veth``...; "" for none), its macvlan
    mode (0 if not one), hardware address, the ifindex of the interface it sits on (0:
    none) and whether it is administratively up."""

    index: int
    name: str
    kind: str
    macvlan_mode: int
    mac: bytes
    link: int
    admin_up: bool


def _parse_link_details(payload: bytes) -> LinkDetails | None:
    if len(payload) < _IFINFOMSG.size:
        return None
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(payload)
    attrs = _parse_attrs(payload, _IFINFOMSG.size)
    name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode(errors="replace")
    info = _parse_attrs(attrs.get(IFLA_LINKINFO, b""), 0)
    kind = info.get(IFLA_INFO_KIND, b"").split(b"\0", 1)[0].decode(errors="replace")
    mode = _u32(_parse_attrs(info.get(IFLA_INFO_DATA, b""), 0), IFLA_MACVLAN_MODE)
    return LinkDetails(
        index,
        name,
        kind,
        mode if kind == "macvlan" else 0,
        attrs.get(IFLA_ADDRESS, b""),
        _u32(attrs, IFLA_LINK),
        bool(flags & IFF_UP),
    )


def _parse_addr(payload: bytes) -> AddressInfo | None:
    if len(payload) < _IFADDRMSG.size:
        return None
    family, prefixlen, flags, _scope, index = _IFADDRMSG.unpack_from(payload)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    attrs = _parse_attrs(payload, _IFADDRMSG.size)
    raw = attrs.get(IFA_LOCAL) or attrs.get(IFA_ADDRESS)
    address = _address_text(family, raw or b"")
    if not address:
        return None
    if IFA_FLAGS in attrs and len(attrs[IFA_FLAGS]) >= 4:
        flags = struct.unpack("=I", attrs[IFA_FLAGS][:4])[0]
    label = attrs.get(IFA_LABEL, b"").split(b"\0", 1)[0].decode(errors="replace")
    return AddressInfo(
        index,
        address,
        prefixlen,
        label,
        bool(flags & IFA_F_SECONDARY),
        family=6 if family == socket.AF_INET6 else 4,
        tentative=bool(flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)),
    )


def _parse_link(payload: bytes) -> LinkInfo | None:
    if len(payload) < _IFINFOMSG.size:
        return None
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(payload)
    attrs = _parse_attrs(payload, _IFINFOMSG.size)
    name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode(errors="replace")
    return LinkInfo(index, name, bool(flags & IFF_UP) and bool(flags & IFF_RUNNING))


class Netlink:
    """A blocking rtnetlink request socket (requests complete in microseconds).

    Use :meth:`monitor` for a separate non-blocking socket subscribed to link and IPv4
    address changes, and :meth:`read_events` to decode what it delivers.
    """

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        self._seq += 1
        seq = self._seq
        msg = _NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind, flags, seq, 0) + body
        self._sock.send(msg)
        replies: list[tuple[int, bytes]] = []
        while True:
            data = self._sock.recv(1 << 16)
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, mseq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    return replies
                payload = data[offset + _NLMSGHDR.size : offset + length]
                offset += _align(length)
                if mseq != seq:
                    continue
                if mtype == NLMSG_DONE:
                    return replies
                if mtype == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", payload)
                    if code:
                        raise NetlinkError(-code, os.strerror(-code))
                    return replies
                replies.append((mtype, payload))
                if not flags & NLM_F_DUMP and not _flags & NLM_F_MULTI:
                    return replies

    def _addr_message(
        self,
        kind: int,
        flags: int,
        index: int,
        address: str,
        prefixlen: int,
        *,
        label: str | None = None,
        broadcast: str | None = None,
        scope: str | int | None = None,
        peer: str | None = None,
        ifa_flags: int = 0,
        preferred_lft: int | None = None,
    ) -> None:
        """keepalived's netlink_ipaddress(): IFA_LOCAL the address (and IFA_ADDRESS the
        peer, or for IPv4 the address itself), with the broadcast, label, flags and, for
        IPv6, the preferred lifetime (IFA_CACHEINFO) of an add."""
        addr = ipaddress.ip_address(address)
        family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
        if isinstance(scope, int):
            scope_id = scope
        else:
            scope_id = RT_SCOPES.get(scope or "global", RT_SCOPE_UNIVERSE)
        body = _IFADDRMSG.pack(family, prefixlen, 0, scope_id, index)
        body += _rtattr(IFA_LOCAL, addr.packed)
        adding = kind == RTM_NEWADDR
        if family == socket.AF_INET and (not adding or peer is None):
            body += _rtattr(IFA_ADDRESS, addr.packed)
        if adding:
            if family == socket.AF_INET6 and preferred_lft not in (None, INFINITY_LIFE_TIME):
                assert preferred_lft is not None
                body += _rtattr(
                    IFA_CACHEINFO,
                    _IFA_CACHEINFO.pack(preferred_lft, INFINITY_LIFE_TIME, 0, 0),
                )
            if broadcast and family == socket.AF_INET:
                body += _rtattr(IFA_BROADCAST, ipaddress.IPv4Address(broadcast).packed)
            if ifa_flags:
                body += _rtattr(IFA_FLAGS, struct.pack("=I", ifa_flags))
            if label:
                body += _rtattr(IFA_LABEL, label.encode("utf-8", "surrogateescape")[:15] + b"\0")
            if peer is not None:
                body += _rtattr(IFA_ADDRESS, ipaddress.ip_address(peer).packed)
        self._request(kind, flags, body)

    def add_address(
        self,
        index: int,
        address: str,
        prefixlen: int,
        *,
        label: str | None = None,
        broadcast: str | None = None,
        scope: str | int | None = None,
        peer: str | None = None,
        ifa_flags: int = 0,
        preferred_lft: int | None = None,
    ) -> bool:
        """Add ``address/prefixlen``; False when it was already there."""
        try:
            self._addr_message(
                RTM_NEWADDR,
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                index,
                address,
                prefixlen,
                label=label,
                broadcast=broadcast,
                scope=scope,
                peer=peer,
                ifa_flags=ifa_flags,
                preferred_lft=preferred_lft,
            )
        except NetlinkError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        return True

    def delete_address(self, index: int, address: str, prefixlen: int) -> bool:
        """Delete ``address/prefixlen``; False when it was not there."""
        try:
            self._addr_message(RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, index, address, prefixlen)
        except NetlinkError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ESRCH):
                return False
            raise
        return True

    def change_routing(self, kind: int, flags: int, body: bytes) -> None:
        """Send one route or rule request (RTM_NEWROUTE, RTM_DELRULE...: `body` is its
        rtmsg or fib_rule_hdr and attributes); raises NetlinkError if refused."""
        self._request(kind, flags | NLM_F_REQUEST | NLM_F_ACK, body)

    def addresses(self, index: int | None = None, family: int = 4) -> list[AddressInfo]:
        """Addresses of a family (4, 6; 0: both), of one interface or all, in the
        kernel's order."""
        af = {4: socket.AF_INET, 6: socket.AF_INET6}.get(family, socket.AF_UNSPEC)
        body = _IFADDRMSG.pack(af, 0, 0, 0, 0)
        result = []
        for mtype, payload in self._request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, body):
            info = _parse_addr(payload) if mtype == RTM_NEWADDR else None
            if info is not None and (index is None or info.index == index):
                result.append(info)
        return result

    def links(self) -> list[LinkInfo]:
        """Every interface with its up/running state."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        result = []
        for mtype, payload in self._request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, body):
            info = _parse_link(payload) if mtype == RTM_NEWLINK else None
            if info is not None:
                result.append(info)
        return result

    def link_details(self, name: str) -> LinkDetails | None:
        """The interface of that name (kind, macvlan mode, MAC...), None if there is none."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        body += _rtattr(IFLA_IFNAME, name.encode("utf-8", "surrogateescape") + b"\0")
        try:
            replies = self._request(RTM_GETLINK, NLM_F_REQUEST, body)
        except NetlinkError as exc:
            if exc.errno in (errno.ENODEV, errno.EINVAL):
                return None
            raise
        for mtype, payload in replies:
            if mtype == RTM_NEWLINK:
                return _parse_link_details(payload)
        return None

    def add_macvlan(
        self, name: str, base_index: int, mac: bytes, *, index: int | None = None
    ) -> None:
        """Create the private-mode macvlan ``name`` on interface ``base_index`` with the
        hardware address ``mac`` (keepalived's netlink_link_add_vmac); with ``index``, make
        the existing interface of that ifindex one (mode and address) instead."""
        data = _rtattr(IFLA_MACVLAN_MODE, struct.pack("=I", MACVLAN_MODE_PRIVATE))
        linkinfo = _rtattr(IFLA_INFO_KIND, b"macvlan") + _rtattr(IFLA_INFO_DATA, data)
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index or 0, 0, 0)
        body += _rtattr(IFLA_LINKINFO, linkinfo)
        flags = NLM_F_REQUEST | NLM_F_ACK
        if index is None:
            flags |= NLM_F_CREATE | NLM_F_EXCL
            body += _rtattr(IFLA_LINK, struct.pack("=I", base_index))
            body += _rtattr(IFLA_IFNAME, name.encode("utf-8", "surrogateescape") + b"\0")
        body += _rtattr(IFLA_ADDRESS, mac)
        self._request(RTM_NEWLINK, flags, body)

    def delete_link(self, index: int) -> bool:
        """Delete the interface; False when it was already gone."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
        try:
            self._request(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, body)
        except NetlinkError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    def set_link_up(self, index: int) -> None:
        """Bring the interface up (administratively)."""
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP)
        self._request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body)

    def set_addr_gen_mode_none(self, index: int) -> None:
        """No IPv6 link-local address generated from the hardware address (``ip link set
        addrgenmode none``; RFC 5798 7.4 wants none from the virtual MAC)."""
        mode = _rtattr(IFLA_INET6_ADDR_GEN_MODE, bytes([IN6_ADDR_GEN_MODE_NONE]))
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0)
        body += _rtattr(IFLA_AF_SPEC, _rtattr(socket.AF_INET6, mode))
        self._request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body)

    def set_ipv4_conf(self, index: int, values: dict[int, int]) -> None:
        """Set per-interface IPv4 settings (``IPV4_DEVCONF_*`` -> value) by netlink, as
        keepalived does: it works where /proc/sys is read-only (a container)."""
        conf = b"".join(_rtattr(k, struct.pack("=I", v)) for k, v in values.items())
        spec = _rtattr(socket.AF_INET, _rtattr(IFLA_INET_CONF, conf))
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, 0) + _rtattr(IFLA_AF_SPEC, spec)
        self._request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, body)

    def primary_address(
        self, index: int, exclude: frozenset[str] = frozenset(), family: int = 4
    ) -> str | None:
        """The address adverts go from: the interface's primary IPv4 address, or for IPv6
        its link-local address (keepalived takes only link-local ones), one past duplicate
        address detection first; ``exclude`` (our own VIPs) skipped."""
        if family == 6:
            local = [
                a
                for a in self.addresses(index, 6)
                if a.link_local and a.address not in exclude and a.index == index
            ]
            usable = [a for a in local if not a.tentative] or local
            return usable[0].address if usable else None
        candidates = [a for a in self.addresses(index) if a.address not in exclude]
        for info in candidates:
            if not info.secondary:
                return info.address
        return candidates[0].address if candidates else None

    @staticmethod
    def monitor() -> socket.socket:
        """A non-blocking netlink socket subscribed to link and address changes."""
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        sock.bind((0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR))
        sock.setblocking(False)
        return sock

    @staticmethod
    def watch_routing(sock: socket.socket, *, routes: set[int], rules: set[int]) -> None:
        """Also report the changes of the routes and rules of these address families (4,
        6) on the monitor socket (keepalived's set_extra_netlink_monitoring)."""
        groups = [RTNLGRP_IPV4_ROUTE if f == 4 else RTNLGRP_IPV6_ROUTE for f in sorted(routes)]
        groups += [RTNLGRP_IPV4_RULE if f == 4 else RTNLGRP_IPV6_RULE for f in sorted(rules)]
        for group in groups:
            sock.setsockopt(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group)

    @staticmethod
    def read_events(
        sock: socket.socket,
    ) -> list[LinkInfo | tuple[str, AddressInfo] | RoutingChange]:
        """Drain ``sock``: link states, ("add"|"del", address) changes, and route and rule
        changes (when watched)."""
        events: list[LinkInfo | tuple[str, AddressInfo] | RoutingChange] = []
        while True:
            try:
                data = sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                return events
            except OSError as exc:  # ENOBUFS: events were lost; callers re-read state
                if exc.errno == errno.ENOBUFS:
                    events.append(LinkInfo(0, "", False))
                    continue
                raise
            offset = 0
            while offset + _NLMSGHDR.size <= len(data):
                length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
                if length < _NLMSGHDR.size:
                    break
                payload = data[offset + _NLMSGHDR.size : offset + length]
                offset += _align(length)
                if mtype in (RTM_NEWLINK, RTM_DELLINK):
                    link = _parse_link(payload)
                    if link is not None:
                        gone = mtype == RTM_DELLINK
                        events.append(
                            LinkInfo(link.index, link.name, link.up and not gone, deleted=gone)
                        )
                elif mtype in (RTM_NEWADDR, RTM_DELADDR):
                    addr = _parse_addr(payload)
                    if addr is not None:
                        events.append(("add" if mtype == RTM_NEWADDR else "del", addr))
                elif mtype in (RTM_NEWROUTE, RTM_DELROUTE, RTM_NEWRULE, RTM_DELRULE):
                    change = _parse_routing(mtype, payload)
                    if change is not None:
                        events.append(change)


# --- VRRP socket -------------------------------------------------------------------------


class VrrpSocket:
    """Raw VRRP socket on one interface for one address family (4 or 6): receives every
    protocol-112 packet arriving on it (multicast group joined), sends with our own
    source address."""

    def __init__(
        self,
        interface: str,
        *,
        multicast: bool = True,
        index: int | None = None,
        family: int = 4,
    ) -> None:
        self.interface = interface
        self.index = socket.if_nametoindex(interface) if index is None else index
        self.family = family
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        sock = socket.socket(af, socket.SOCK_RAW, VRRP_PROTO)
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, _SO_BINDTODEVICE, interface.encode("utf-8", "surrogateescape")
            )
            if family == 6:
                self._setup_ipv6(sock)
            else:
                self._setup_ipv4(sock)
            if multicast:
                self.join(sock)
            # The kernel stamps each packet on arrival: the master-down timer then starts
            # when the advert came in, not when this process got round to reading it.
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._ident = 0

    def _setup_ipv4(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        # Only the groups joined on this socket, not every group the host joined.
        sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
        # struct ip_mreqn (group, address, ifindex): 12 octets select the index form.
        mreqn = socket.inet_aton("0.0.0.0") * 2 + struct.pack("=i", self.index)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)

    def _setup_ipv6(self, sock: socket.socket) -> None:
        # keepalived's IPv6 socket options (vrrp.c open_vrrp_*_socket, vrrp_if.c)
        sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_CHECKSUM, 6)  # the kernel sums, both ways
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_TCLASS, 0xC0)
        with contextlib.suppress(OSError):  # kernels before 4.20 lack it
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVHOPLIMIT, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)

    def _mreq(self) -> tuple[int, int, bytes]:
        if self.family == 6:
            group = socket.inet_pton(socket.AF_INET6, mcast_group(6))
            mreq6 = group + struct.pack("=i", self.index)
            return socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq6
        mreqn = (
            socket.inet_aton(mcast_group(4))
            + socket.inet_aton("0.0.0.0")
            + struct.pack("=i", self.index)
        )
        return socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn

    def join(self, sock: socket.socket | None = None) -> None:
        """Join the VRRP group on the interface (again, e.g. after the link came back)."""
        target = self._sock if sock is None else sock
        level, option, request = self._mreq()
        try:
            target.setsockopt(level, option, request)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:  # already a member
                raise

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def send(self, payload: bytes, src: str, dst: str) -> None:
        """Send one VRRP message from ``src`` to ``dst``: over IPv4 with keepalived's
        header, over IPv6 with the source as packet info (the kernel sums the message)."""
        if self.family == 6:
            info = _IN6_PKTINFO.pack(socket.inet_pton(socket.AF_INET6, src), self.index)
            ancillary = [(socket.IPPROTO_IPV6, _IPV6_PKTINFO, info)]
            self._sock.sendmsg([payload], ancillary, 0, (dst, 0, 0, self.index))
            return
        self._ident = self._ident % 0xFFFF + 1  # never 0, as keepalived
        header = build_ipv4_header(src, dst, len(payload), ident=self._ident)
        self._sock.sendto(header + payload, (dst, 0))

    def receive(self) -> bytes | None:
        """One packet (IP header included), or None when nothing is waiting."""
        got = self.receive_stamped()
        return None if got is None else got[0]

    def receive_stamped(self) -> tuple[bytes, float | None] | None:
        """One packet (IP header included; for IPv6 rebuilt from the ancillary data) and
        its kernel arrival time (wall clock, seconds since the epoch; None if the kernel
        gave none), or None when nothing is waiting."""
        try:
            data, ancdata, _flags, addr = self._sock.recvmsg(65535, 256)
        except OSError:  # EAGAIN, or e.g. ENETDOWN while the link is down
            return None
        stamp: float | None = None
        hop_limit, dst = -1, ""
        for level, kind, payload in ancdata:
            if (
                level == socket.SOL_SOCKET
                and kind == _SO_TIMESTAMPNS
                and len(payload) >= _TIMESPEC.size
            ):
                sec, nsec = _TIMESPEC.unpack_from(payload)
                stamp = sec + nsec / 1e9
            elif level == socket.IPPROTO_IPV6 and kind == _IPV6_HOPLIMIT and len(payload) >= 4:
                hop_limit = struct.unpack_from("=i", payload)[0]
            elif (
                level == socket.IPPROTO_IPV6
                and kind == _IPV6_PKTINFO
                and len(payload) >= _IN6_PKTINFO.size
            ):
                dst = socket.inet_ntop(socket.AF_INET6, payload[:16])
        if self.family == 6:
            src = str(addr[0]).split("%", 1)[0]
            if not dst:  # no packet info: the group is the likeliest
                dst = mcast_group(6)
            # no hop limit reported: keepalived does not check it; 255 passes the check
            header = build_ipv6_header(src, dst, len(data), hop_limit=hop_limit % 256)
            data = header + data
        return data, stamp

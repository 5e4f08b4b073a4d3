"""The nftables objects that serve a set of virtual services: pure rendering, no kernel.

Each service becomes a few named objects in the plane's tables (``inet`` for NAT, ``netdev``
for DR), each with a name derived from what the service is, so the same service keeps the
same objects (and their dynamic contents) from one apply to the next:

- ``a_H``: id -> real server (NAT: address . port; DR: address), every destination present;
- ``l_H``: the ids a persistence or connection entry may still lead to (present servers,
  weight 0 included: IPVS's quiescent servers keep their persistent clients);
- ``p_H_T``: client (masked by persistence_granularity) -> id, timeout T, refreshed by
  ``update`` on every new connection and by every packet of a persistent connection;
- ``c_H`` (DR only): client address . port -> id, the connection table LVS keeps for DR
  (nothing tracks connections in netdev ingress);
- ``n_H`` / ``d_H``: the service's chain.

A destination's id is a hash of its address and port (`server_id`): stable across applies
and across daemon restarts without reading anything back. The scheduler is an interval map
over the weights (``numgen inc`` for rr/wrr, ``jhash`` of the source or destination address
for sh/dh) that holds only servers of weight > 0: a quiescent server gets no new connection.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_halab.vrrp.check.pool import Destination, Service

__all__ = [
    "DR_CONN_TIMEOUT",
    "NftObject",
    "approximations",
    "dispatch_match",
    "keep_rule",
    "render_service",
    "server_id",
    "service_hash",
    "slots",
]

DR_CONN_TIMEOUT = 300  # seconds; LVS's own UDP timeout, its TCP FIN_WAIT/TIME_WAIT are shorter

# What each keepalived lb_algo runs as here: (nftables expression kind, what is said of it).
_SCHEDULERS: dict[str, tuple[str, str | None]] = {
    "rr": ("rr", None),
    "wrr": ("wrr", None),
    "sh": ("sh", None),
    "dh": ("dh", None),
    "fo": ("fo", None),
    "lc": ("wrr", "lc runs as wrr here: nftables has no connection counts"),
    "wlc": ("wrr", "wlc runs as wrr here: nftables has no connection counts"),
    "sed": ("wrr", "sed runs as wrr here: nftables has no connection counts"),
    "nq": ("wrr", "nq runs as wrr here: nftables has no connection counts"),
    "lblc": ("dh", "lblc runs as dh here (a hash of the destination address): no loads"),
    "lblcr": ("dh", "lblcr runs as dh here (a hash of the destination address): no loads"),
    "mh": ("sh", "mh runs as sh here: a jhash of the source address, not a Maglev table"),
    "ovf": ("fo", "ovf runs as fo here: no connection counts to overflow on"),
    "twos": ("random", "twos runs as weighted random here: no loads to compare"),
}


@dataclass(frozen=True)
class NftObject:
    """One named object of the plane: `kind` is "map", "set" or "chain"; `family` the
    table's family; `spec` the declaration (between braces when added); `rules` a chain's
    rules; `static` maps and sets are refilled (flush + elements) on each change, dynamic
    ones are only ever added, so their entries survive."""

    kind: str
    family: str
    name: str
    spec: str
    elements: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    static: bool = True


def scheduler_kind(sched: str) -> str:
    return _SCHEDULERS.get(sched, ("wrr", None))[0]


def approximations(service: Service) -> list[str]:
    """What the nftables plane runs in place of `service`'s scheduler, if not exact."""
    known = _SCHEDULERS.get(service.sched)
    if known is None:
        return [f"{service.sched} is no LVS scheduler known here: it runs as wrr"]
    return [known[1]] if known[1] else []


def service_hash(service: Service) -> str:
    """Eight hex digits naming `service`'s objects: what it serves, not how."""
    key = f"{service.family}|{service.protocol}|{service.ip}|{service.port}|{service.fwmark}"
    return f"{zlib.crc32(key.encode()):08x}"


def server_id(dest: Destination) -> int:
    """A destination's mark: a nonzero hash of its address and port."""
    return (zlib.crc32(f"{dest.ip}|{dest.port}".encode()) & 0x7FFFFFFF) or 1


def _ids(service: Service) -> dict[Destination, int]:
    """Each destination's id; a collision (within one service) moves to the next value."""
    taken: set[int] = set()
    ids: dict[Destination, int] = {}
    for dest in sorted(service.destinations, key=lambda d: (d.ip, d.port)):
        value = server_id(dest)
        while value in taken:
            value = value % 0x7FFFFFFF + 1
        taken.add(value)
        ids[dest] = value
    return ids


def slots(service: Service) -> list[tuple[Destination, int]]:
    """Each destination that takes new connections and its share of one scheduling cycle
    (weights divided by their gcd, as LVS's wrr does; one each for rr; all to the
    heaviest for fo). Destinations in address order, so the rendering is stable."""
    live = sorted((d for d in service.destinations if d.weight > 0), key=lambda d: (d.ip, d.port))
    if not live:
        return []
    kind = scheduler_kind(service.sched)
    if kind == "rr":
        return [(d, 1) for d in live]
    if kind == "fo":
        heaviest = max(d.weight for d in live)
        return [(next(d for d in live if d.weight == heaviest), 1)]
    g = math.gcd(*(d.weight for d in live))
    return [(d, d.weight // g) for d in live]


def _v6(service: Service) -> bool:
    return service.family == socket.AF_INET6


def _l3(service: Service) -> str:
    return "ip6" if _v6(service) else "ip"


def _addr_type(service: Service) -> str:
    return "ipv6_addr" if _v6(service) else "ipv4_addr"


def _client_key(service: Service) -> str:
    """The persistence key: the source address under persistence_granularity."""
    saddr = f"{_l3(service)} saddr"
    mask = service.persistence_netmask
    if not mask:
        return saddr
    bits = 128 if _v6(service) else 32
    prefix = (
        int(mask)
        if mask.isdigit()
        else ipaddress.ip_network(f"0.0.0.0/{mask}" if not _v6(service) else f"::/{mask}").prefixlen
    )
    if prefix >= bits:
        return saddr
    netmask = ipaddress.ip_network(f"{'::' if _v6(service) else '0.0.0.0'}/{prefix}").netmask
    return f"{saddr} & {netmask}"


def dispatch_match(service: Service) -> str:
    """What selects the service's packets (before NAT: the VIP and port, or the fwmark)."""
    if service.fwmark is not None:
        proto = "ipv6" if _v6(service) else "ipv4"
        return f"meta nfproto {proto} meta mark {service.fwmark:#x}"
    vip = ipaddress.ip_address(service.ip or "")
    return f"{_l3(service)} daddr {vip} meta l4proto {service.protocol} th dport {service.port}"


def _dest_port(service: Service, dest: Destination) -> int:
    return dest.port or service.port


def _nat_value(service: Service, dest: Destination) -> str:
    ip = ipaddress.ip_address(dest.ip)
    port = _dest_port(service, dest)
    return f"{ip} . {port}" if port else f"{ip}"


def _with_port(service: Service) -> bool:
    return any(_dest_port(service, d) for d in service.destinations) or service.fwmark is None


def _schedule(service: Service, value: str) -> str | None:
    """The expression choosing one slot of `slots`, mapped by `value(dest)`; None when no
    destination takes new connections."""
    shares = slots(service)
    if not shares:
        return None
    total = sum(n for _, n in shares)
    kind = scheduler_kind(service.sched)
    if kind == "sh":
        source = f"jhash {_l3(service)} saddr"
    elif kind == "dh":
        source = f"jhash {_l3(service)} daddr"
    elif kind == "random":
        source = "numgen random"
    else:
        source = "numgen inc"
    ids = _ids(service)
    entries = []
    start = 0
    for dest, n in shares:
        key = f"{start}" if n == 1 else f"{start}-{start + n - 1}"
        mapped = _nat_value(service, dest) if value == "addr" else f"{ids[dest]:#x}"
        entries.append(f"{key} : {mapped}")
        start += n
    return f"{source} mod {total} map {{ {', '.join(entries)} }}"


def _named(prefix: str, h: str, spec: str) -> str:
    """An object's name: its kind, its service, and a hash of its declaration (a changed
    declaration is a new object: nft cannot change a map's type or timeout in place)."""
    return f"{prefix}_{h}_{zlib.crc32(spec.encode()) & 0xFFFF:04x}"


def _persist_map(service: Service, h: str, family: str) -> NftObject:
    spec = (
        f"type {_addr_type(service)} : mark; flags dynamic,timeout; "
        f"timeout {service.persistence_timeout}s;"
    )
    # the key's mask is part of what the entries mean: in the name too
    return NftObject("map", family, _named("p", h, spec + _client_key(service)), spec, static=False)


def render_service(
    service: Service, kind: str, device: str | None, retired: Sequence[tuple[int, str]] = ()
) -> list[NftObject]:
    """The objects serving `service` by `kind` ("NAT" or "DR"; DR on `device`). `retired`:
    (id, address) of DR servers no longer in the pool that connection entries still lead
    to, kept in the address map so those connections finish."""
    h = service_hash(service)
    family = "inet" if kind == "NAT" else "netdev"
    ids = _ids(service)
    objects: list[NftObject] = []
    persist = _persist_map(service, h, family) if service.persistence_timeout > 0 else None
    if persist is not None:
        objects.append(persist)
    live = tuple(f"{ids[d]:#x}" for d in sorted(ids, key=lambda d: ids[d]))
    objects.append(NftObject("set", family, f"l_{h}", "type mark;", live))
    if kind == "NAT":
        objects += _render_nat(service, h, ids, persist)
    else:
        objects += _render_dr(service, h, ids, persist, device or "", retired)
    return objects


def _by_id(ids: dict[Destination, int]) -> list[Destination]:
    return sorted(ids, key=lambda d: ids[d])


def _render_nat(
    service: Service, h: str, ids: dict[Destination, int], persist: NftObject | None
) -> list[NftObject]:
    l3 = _l3(service)
    with_port = _with_port(service)
    target = f"{l3} addr . port" if with_port else l3
    spec = f"type mark : {_addr_type(service)}{' . inet_service' if with_port else ''};"
    addr_map = _named("a", h, spec)
    addrs = tuple(f"{ids[d]:#x} : {_nat_value(service, d)}" for d in _by_id(ids))
    proto = f"meta l4proto {service.protocol} " if with_port else ""
    rules: list[str] = []
    if persist is None:
        chosen = _schedule(service, "addr")
        if chosen is not None:
            rules.append(f"{proto}dnat {target} to {chosen}")
    else:
        key = _client_key(service)
        remember = f"update @{persist.name} {{ {key} : ct mark }}"
        to = f"{proto}dnat {target} to ct mark map @{addr_map}"
        rules.append(f"ct mark set {key} map @{persist.name} ct mark @l_{h} {remember} {to}")
        chosen = _schedule(service, "id")
        if chosen is not None:
            rules.append(f"ct mark set {chosen} {remember} {to}")
    rules.append("drop")
    return [
        NftObject("map", "inet", addr_map, spec, addrs),
        NftObject("chain", "inet", f"n_{h}", "", rules=tuple(rules)),
    ]


def _render_dr(
    service: Service,
    h: str,
    ids: dict[Destination, int],
    persist: NftObject | None,
    device: str,
    retired: Sequence[tuple[int, str]],
) -> list[NftObject]:
    l3 = _l3(service)
    spec = f"type mark : {_addr_type(service)};"
    addr_map = _named("a", h, spec)
    addrs = tuple(f"{ids[d]:#x} : {ipaddress.ip_address(d.ip)}" for d in _by_id(ids))
    present = set(ids.values())
    addrs += tuple(f"{i:#x} : {ip}" for i, ip in sorted(retired) if i not in present)
    if _v6(service):
        # nft 1.0.6 cannot update a map keyed by ipv6_addr . inet_service (it aborts on an
        # assertion, netlink_linearize.c:799): the key is a 32-bit hash of the pair.
        conn = "jhash ip6 saddr . th sport mod 4294967295"
        key_type = "typeof numgen inc mod 2 : meta mark"
    else:
        conn = "ip saddr . th sport"
        key_type = "type ipv4_addr . inet_service : mark"
    conn_spec = f"{key_type}; flags dynamic,timeout; timeout {DR_CONN_TIMEOUT}s;"
    conn_map = _named("c", h, conn_spec)
    out = (
        f"update @{conn_map} {{ {conn} : meta mark }} "
        f'fwd {l3} to meta mark map @{addr_map} device "{device}"'
    )
    remember = ""
    if persist is not None:
        remember = f"update @{persist.name} {{ {_client_key(service)} : meta mark }} "
    known = f"meta mark set {conn} map @{conn_map}"
    rules: list[str] = []
    if service.protocol == "tcp":
        # Any packet but a SYN of a known connection goes where it went, even to a server
        # since removed (its connection finishes); a SYN only to a server still present.
        rules.append(f"tcp flags & (syn | ack) != syn {known} {remember}{out}")
    rules.append(f"{known} meta mark @l_{h} {remember}{out}")
    if persist is not None:
        rules.append(
            f"meta mark set {_client_key(service)} map @{persist.name} meta mark @l_{h} "
            f"{remember}{out}"
        )
    chosen = _schedule(service, "id")
    if chosen is not None:
        rules.append(f"meta mark set {chosen} {remember}{out}")
    rules.append("drop")
    return [
        NftObject("map", "netdev", conn_map, conn_spec, static=False),
        NftObject("map", "netdev", addr_map, spec, addrs),
        NftObject("chain", "netdev", f"d_{h}", "", rules=tuple(rules)),
    ]


def keep_rule(service: Service) -> str | None:
    """The rule (in the inet table's mangle-time chain) that refreshes a NAT service's
    persistence entry with every packet of a persistent connection, so the timeout runs
    from the client's last packet, not its last new connection."""
    if service.persistence_timeout <= 0:
        return None
    persist = _persist_map(service, service_hash(service), "inet")
    key = _client_key(service)
    return f"{dispatch_match(service)} ct mark != 0 update @{persist.name} {{ {key} : ct mark }}"

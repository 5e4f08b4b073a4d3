"""``ipvsadm -L -c`` on a director whose kernel has no IP_VS: the connection entries of the
lab's nftables plane, written as ipvsadm writes IPVS's connection table.

Where each entry comes from (the plane keeps no table of its own for NAT):

- NAT: conntrack (``/proc/net/nf_conntrack``), each connection whose original destination
  is a service's VIP and port (or, for a fwmark service, whose answer comes from one of
  its real servers at another address than the client asked). The state is conntrack's
  TCP state, whose names are IPVS's (SYN_SENT2 shown as SYN_SENT); a UDP entry says
  ``UDP``, as IPVS does. The expiry is conntrack's timer: an ESTABLISHED TCP connection
  has 5 days there, against IPVS's 15 minutes.
- DR: the plane's connection map (``c_*``), client address and port -> real server, with
  its own timer (``nftrules.DR_CONN_TIMEOUT``). It sees the client's side only and cannot
  tell the states apart: every TCP entry is ESTABLISHED. Over IPv6 the plane keys the map
  by a hash of the client's address and port: those entries are counted, not listed.
- Persistence (``persistence_timeout``): the plane's ``p_*`` maps, client -> real server,
  shown as IPVS shows its templates: state NONE, client port 0, and for a fwmark service
  protocol IP and the mark as the virtual address (``0.0.0.MARK:0``).

Entries come sorted (virtual, source, destination); IPVS lists them in its hash order.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .pool import Service

__all__ = ["CT_TUPLE", "Conn", "conntrack_conns", "plane_conns", "read_tables", "render_conns"]

Where = Callable[[str, int, str], str]  # (address, port, protocol) -> "ADDRESS:PORT"
# a conntrack entry's tuple: the original direction's first, the reply's second
CT_TUPLE = re.compile(r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)")


@dataclass(frozen=True, order=True)
class Conn:
    """One entry of the connection table, as ``ipvsadm -Lc`` prints it."""

    virtual: tuple[str, int]
    source: tuple[str, int]
    destination: tuple[str, int]
    protocol: str  # TCP, UDP, SCTP; IP for a fwmark service's persistence template
    state: str
    expires: int  # seconds


def _ip(text: str) -> str:
    return str(ipaddress.ip_address(text))


def _ct_state(proto: str, fields: Sequence[str]) -> str:
    if proto == "udp":
        return "UDP"
    state = fields[5] if len(fields) > 5 and "=" not in fields[5] else "NONE"
    return "SYN_SENT" if state == "SYN_SENT2" else state


def conntrack_conns(services: Iterable[Service], text: str) -> list[Conn]:
    """The NAT services' connections in the text of /proc/net/nf_conntrack."""
    nat = [s for s in services if any(d.forwarding == "NAT" for d in s.destinations)]
    out: list[Conn] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6:
            continue
        proto = fields[2]
        tuples = CT_TUPLE.findall(line)
        if len(tuples) < 2:
            continue
        (src, dst, sport, dport), (rsrc, _rdst, rsport, _rdport) = tuples[0], tuples[1]
        try:
            src, dst, rsrc = _ip(src), _ip(dst), _ip(rsrc)
            expires = int(fields[4])
        except ValueError:
            continue
        for s in nat:
            if s.protocol != proto:
                continue
            if s.fwmark is None:
                if s.ip is None or _ip(s.ip) != dst or s.port != int(dport):
                    continue
            elif rsrc == dst or not any(_ip(d.ip) == rsrc for d in s.destinations):
                continue
            out.append(
                Conn(
                    virtual=(dst, int(dport)),
                    source=(src, int(sport)),
                    destination=(rsrc, int(rsport)),
                    protocol=proto.upper(),
                    state=_ct_state(proto, fields),
                    expires=expires,
                )
            )
            break
    return sorted(out)


def read_tables(
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> dict[str, dict[str, object]]:
    """The plane's maps (name -> nft's JSON of it) in both its tables; none when nft fails."""
    from .nftplane import TABLE

    maps: dict[str, dict[str, object]] = {}
    for family in ("inet", "netdev"):
        try:
            done = run(
                ["nft", "-j", "list", "table", family, TABLE],
                capture_output=True,
                text=True,
                timeout=5,
            )
            items = json.loads(done.stdout or "{}").get("nftables", [])
        except (OSError, ValueError, subprocess.SubprocessError):
            continue
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("map"), dict):
                maps[str(item["map"].get("name"))] = item["map"]
    return maps


def _address(value: object) -> tuple[str, int | None] | None:
    """An address map's value, ``ADDRESS`` (DR) or ``ADDRESS . PORT`` (NAT); a DR connection
    map's key, ``ADDRESS . PORT`` (IPv4; a hash over IPv6)."""
    with contextlib.suppress(ValueError, TypeError):
        if isinstance(value, dict) and isinstance(value.get("concat"), list):
            ip, port = value["concat"]
            return _ip(str(ip)), int(port)
        if isinstance(value, str):
            return _ip(value), None
    return None


def plane_conns(
    services: Iterable[Service], maps: dict[str, dict[str, object]]
) -> tuple[list[Conn], int]:
    """The DR services' connection entries and every service's persistence templates, from
    the plane's maps; and how many entries could not be listed (IPv6 DR: hashed keys)."""
    from .nftplane import timed_elements
    from .nftrules import service_hash

    out: list[Conn] = []
    hidden = 0
    for s in services:
        h = service_hash(s)
        addr = next((m for n, m in maps.items() if n.startswith(f"a_{h}_")), None)
        if addr is None:
            continue
        where: dict[int, tuple[str, int | None]] = {}
        for key, value, _ in timed_elements(addr):
            got = _address(value)
            if isinstance(key, int) and got is not None:
                where[key] = got
        ports = {_ip(d.ip): d.port or s.port for d in s.destinations}
        proto = s.protocol.upper()
        for name, info in maps.items():
            if name.startswith(f"c_{h}_"):
                for key, mark, expires in timed_elements(info):
                    d = _dest(mark, where, ports, s.port)
                    if d is None:
                        continue
                    client = _address(key)
                    if client is None or client[1] is None or s.fwmark is not None or not s.ip:
                        hidden += 1
                        continue
                    state = "ESTABLISHED" if s.protocol == "tcp" else proto
                    source = (client[0], client[1])
                    out.append(Conn((_ip(s.ip), s.port), source, d, proto, state, expires))
            elif name.startswith(f"p_{h}_"):
                for key, mark, expires in timed_elements(info):
                    d = _dest(mark, where, ports, s.port)
                    if d is None or not isinstance(key, str):
                        continue
                    if s.fwmark is not None:  # IPVS: the mark as an address, protocol IP
                        mark_ip = str(ipaddress.ip_address(s.fwmark & 0xFFFFFFFF))
                        virtual, tproto, d = (mark_ip, 0), "IP", (d[0], 0)
                    else:
                        virtual, tproto = (_ip(s.ip or "0.0.0.0"), s.port), proto
                    out.append(Conn(virtual, (_ip(key), 0), d, tproto, "NONE", expires))
    return sorted(out), hidden


def _dest(
    mark: object, where: dict[int, tuple[str, int | None]], ports: dict[str, int], port: int
) -> tuple[str, int] | None:
    """The real server a map entry leads to (its port: the address map's, for NAT; else
    the destination's own, or the service's)."""
    got = where.get(mark) if isinstance(mark, int) else None
    if got is None:
        return None
    ip, own = got
    return ip, own if own is not None else ports.get(ip, port)


def render_conns(conns: Iterable[Conn], where: Where) -> str:
    """``ipvsadm -Lc``: a header, then one line per entry (expiry as minutes:seconds)."""
    lines = [
        "IPVS connection entries",
        f"pro expire {'state':<11} {'source':<18} {'virtual':<18} destination",
    ]
    for c in conns:
        proto = c.protocol.lower() if c.protocol != "IP" else "tcp"
        expire = f"{c.expires // 60:02d}:{c.expires % 60:02d}"
        lines.append(
            f"{c.protocol:<3} {expire:<6} {c.state:<11} {where(*c.source, proto):<18} "
            f"{where(*c.virtual, proto):<18} {where(*c.destination, proto)}"
        )
    return "\n".join(lines) + "\n"

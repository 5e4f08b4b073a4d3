"""``ipvsadm`` on a director whose kernel has no IP_VS: what the checker's nftables plane
serves, shown as ipvsadm shows IPVS's table, so that the command every LVS guide tells its
reader to type (``ipvsadm -Ln``) answers in the lab.

The balancer image's ``/usr/local/sbin/ipvsadm`` runs the real ipvsadm where
``/proc/net/ip_vs`` exists and this module elsewhere. It reads what the checker last had
the plane serve (``POOL_FILE``, written after each apply) and counts each real server's
connections where the kernel keeps them: NAT connections in conntrack
(``/proc/net/nf_conntrack``: ESTABLISHED is ActiveConn, any other state InActConn, as
IPVS counts), DR connections in the plane's own connection map (it sees the client's side
only, as IPVS-DR does, and cannot tell the states apart: every entry is ActiveConn).

Listing (``-L``/``-l``, ``-n``, ``-t``/``-u``/``-f`` one service, ``--exact``), the
connection table (``-c``, module ``ipvsconns``) and saving (``-S``) work; a change (``-A``,
``-a``, ``-C``...) is refused with why: the pools come from keepalived.conf, through the
checker. The first line says which plane serves them.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import socket
import sys
from collections import Counter
from collections.abc import Mapping, Sequence

from .ipvsconns import CT_TUPLE, conntrack_conns, plane_conns, read_tables, render_conns
from .pool import Destination, Service

__all__ = ["POOL_FILE", "conntrack_counts", "main", "read_pools", "render_list", "write_pools"]

POOL_FILE = "/run/halab/checker-pool.json"
CONNTRACK = "/proc/net/nf_conntrack"
FORWARD = {"NAT": ("Masq", "-m"), "DR": ("Route", "-g"), "TUN": ("Tunnel", "-i")}
CHANGES = ("-A", "-E", "-D", "-C", "-R", "-a", "-e", "-d", "-Z", "--set")
CHANGES_LONG = (
    "--add-service",
    "--edit-service",
    "--delete-service",
    "--clear",
    "--restore",
    "--add-server",
    "--edit-server",
    "--delete-server",
    "--zero",
    "--start-daemon",
    "--stop-daemon",
)
Counts = Mapping[tuple[str, int], tuple[int, int]]


def write_pools(path: str, plane: str, services: Sequence[Service]) -> None:
    """What the plane serves now, for the view (replaced atomically)."""
    data = {
        "plane": plane,
        "services": [
            {
                **{k: getattr(s, k) for k in Service.__dataclass_fields__ if k != "destinations"},
                "destinations": [vars(d) for d in s.destinations],
            }
            for s in services
        ],
    }
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".new", "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(path + ".new", path)


def read_pools(path: str) -> tuple[str, list[Service]]:
    """(plane, services) as the checker last wrote them; OSError/ValueError when absent
    or unreadable."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    services = []
    for raw in data["services"]:
        dests = tuple(Destination(**d) for d in raw.pop("destinations"))
        services.append(Service(**raw, destinations=dests))
    return str(data["plane"]), services


def conntrack_counts(service: Service, text: str) -> Counts:
    """(ActiveConn, InActConn) of each real server of a NAT `service`, from the text of
    /proc/net/nf_conntrack: connections to its address and port, answered by the server."""
    counts: dict[tuple[str, int], list[int]] = {}
    if service.ip is None:
        return {}
    vip = ipaddress.ip_address(service.ip)
    proto = service.protocol
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[2] != proto:
            continue
        tuples = CT_TUPLE.findall(line)
        if len(tuples) < 2:
            continue
        (_src, dst, _sport, dport), (rsrc, _rdst, rsport, _rdport) = tuples[0], tuples[1]
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(dst) != vip or int(dport) != service.port:
                continue
            key = (str(ipaddress.ip_address(rsrc)), int(rsport))
            active = proto == "tcp" and fields[5] == "ESTABLISHED"
            slot = counts.setdefault(key, [0, 0])
            slot[0 if active else 1] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}


def dr_counts(service: Service, maps: Mapping[str, Mapping[str, object]]) -> Counts:
    """Entries of the DR plane's connection map per real server (all ActiveConn), from the
    plane's maps (``ipvsconns.read_tables``)."""
    from .nftplane import map_elements
    from .nftrules import service_hash

    h = service_hash(service)
    conn = next((dict(m) for n, m in maps.items() if n.startswith(f"c_{h}_")), None)
    addr = next((dict(m) for n, m in maps.items() if n.startswith(f"a_{h}_")), None)
    if conn is None or addr is None:
        return {}
    where = {k: str(v) for k, v in map_elements(addr)}
    used = Counter(where.get(v) for _k, v in map_elements(conn) if isinstance(v, int))
    port_of = {d.ip: d.port or service.port for d in service.destinations}
    return {(ip, port_of.get(ip, service.port)): (n, 0) for ip, n in used.items() if ip}


def _host(ip: str, numeric: bool) -> str:
    if not numeric:
        with contextlib.suppress(OSError):
            return socket.gethostbyaddr(ip)[0]
    return f"[{ip}]" if ":" in ip else ip


def _port(port: int, proto: str, numeric: bool) -> str:
    if not numeric:
        with contextlib.suppress(OSError):
            return socket.getservbyport(port, proto)
    return str(port)


def _where(ip: str, port: int, proto: str, numeric: bool) -> str:
    """``ADDRESS:PORT`` as ipvsadm writes it (names unless `numeric`)."""
    return f"{_host(ip, numeric)}:{_port(port, proto, numeric)}"


def _service_key(s: Service, numeric: bool) -> str:
    if s.fwmark is not None:
        return f"FWM  {s.fwmark}"
    return f"{s.protocol.upper():<4} {_where(s.ip or '', s.port, s.protocol, numeric)}"


def _flags(s: Service) -> str:
    if not s.persistence_timeout:
        return ""
    out = f" persistent {s.persistence_timeout}"
    mask = s.persistence_netmask
    if mask and mask not in ("255.255.255.255", "128"):
        out += f" mask {mask}"
    return out


def render_list(
    plane: str, services: Sequence[Service], counts: Mapping[str, Counts], numeric: bool
) -> str:
    """``ipvsadm -L`` of `services` (`counts`: service name -> per server connections)."""
    lines = [
        f"IP Virtual Server (halab: served by {plane}, this kernel has no IP_VS)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
    ]
    for s in services:
        lines.append(f"{_service_key(s, numeric)} {s.sched}{_flags(s)}")
        for d in s.destinations:
            port = d.port or s.port
            where = _where(d.ip, port, s.protocol, numeric)
            active, inactive = counts.get(s.name, {}).get((d.ip, port), (0, 0))
            fwd = FORWARD.get(d.forwarding, (d.forwarding, ""))[0]
            lines.append(
                f"  -> {where:<28} {fwd:<7} {d.weight:<6} {active:<10} {inactive:<10}".rstrip()
            )
    return "\n".join(lines) + "\n"


def render_save(services: Sequence[Service], numeric: bool) -> str:
    """``ipvsadm -S``: the rules that would make the same table."""
    lines = []
    for s in services:
        if s.fwmark is not None:
            key = f"-f {s.fwmark}"
        else:
            opt = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}.get(s.protocol, "-t")
            key = f"{opt} {_where(s.ip or '', s.port, s.protocol, numeric)}"
        persist = f" -p {s.persistence_timeout}" if s.persistence_timeout else ""
        if persist and s.persistence_netmask:
            persist += f" -M {s.persistence_netmask}"
        lines.append(f"-A {key} -s {s.sched}{persist}")
        for d in s.destinations:
            port = d.port or s.port
            where = _where(d.ip, port, s.protocol, numeric)
            flag = FORWARD.get(d.forwarding, ("", "-g"))[1]
            lines.append(f"-a {key} -r {where} {flag} -w {d.weight}")
    return "".join(line + "\n" for line in lines)


def _selected(services: Sequence[Service], args: argparse.Namespace) -> list[Service] | None:
    """The service -t/-u/-f names (None: no such service), or all."""
    for proto, given in (("tcp", args.tcp_service), ("udp", args.udp_service)):
        if given:
            host, _, port = given.rpartition(":")
            host = host.strip("[]")
            with contextlib.suppress(OSError, ValueError):
                ip = ipaddress.ip_address(socket.gethostbyname(host) if host else "")
                return [
                    s
                    for s in services
                    if s.protocol == proto
                    and s.ip is not None
                    and ipaddress.ip_address(s.ip) == ip
                    and s.port == int(port)
                ] or None
            return None
    if args.fwmark_service is not None:
        return [s for s in services if s.fwmark == args.fwmark_service] or None
    return list(services)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    change = next(
        (
            a
            for a in argv
            if a in CHANGES or a in CHANGES_LONG or re.fullmatch(r"-[AEDCRaedZ]\w*", a)
        ),
        None,
    )
    if change is not None:
        print(
            f"ipvsadm: {change}: this kernel has no IP_VS. The lab's pools are kept by the "
            "checker (halab-vrrpd --check) in nftables, from keepalived.conf: change "
            "virtual_server there and run `systemctl reload keepalived`.",
            file=sys.stderr,
        )
        return 2
    ap = argparse.ArgumentParser(prog="ipvsadm", add_help=True)
    ap.add_argument("-L", "-l", "--list", action="store_true")
    ap.add_argument("-S", "--save", action="store_true")
    ap.add_argument("-n", "--numeric", action="store_true")
    ap.add_argument("-t", "--tcp-service", dest="tcp_service")
    ap.add_argument("-u", "--udp-service", dest="udp_service")
    ap.add_argument("-f", "--fwmark-service", dest="fwmark_service", type=int)
    ap.add_argument("--exact", "--sort", "--nosort", action="store_true", dest="cosmetic")
    ap.add_argument("-c", "--connection", action="store_true")
    ap.add_argument(
        "--stats",
        "--rate",
        "--thresholds",
        "--persistent-conn",
        "--timeout",
        "--daemon",
        action="store_true",
        dest="unsupported",
    )
    args = ap.parse_args(argv)
    if args.unsupported:
        print(
            "ipvsadm: this kernel has no IP_VS and the lab's nftables plane keeps no such "
            "figures: -L, -n, -c, -S, -t/-u/-f work",
            file=sys.stderr,
        )
        return 2
    try:
        plane, services = read_pools(POOL_FILE)
    except (OSError, ValueError, KeyError, TypeError):
        print(
            "Can't initialize ipvs: Protocol not available\n"
            "This kernel has no IP_VS, and no checker of the lab serves virtual servers here "
            f"({POOL_FILE} missing)",
            file=sys.stderr,
        )
        return 2
    chosen = _selected(services, args)
    if chosen is None:
        print("Service not defined", file=sys.stderr)
        return 1
    if args.save:
        sys.stdout.write(render_save(chosen, args.numeric))
        return 0
    text = ""
    with contextlib.suppress(OSError), open(CONNTRACK, encoding="ascii", errors="replace") as fh:
        text = fh.read()
    # the plane's maps (two nft calls) only where they say something: -c, or a DR pool
    any_dr = any(d.forwarding == "DR" for s in chosen for d in s.destinations)
    maps = read_tables() if args.connection or any_dr else {}
    if args.connection:  # every service's entries, as ipvsadm -Lc lists the whole table
        listed, hidden = plane_conns(services, maps)
        conns = sorted(conntrack_conns(services, text) + listed)
        sys.stdout.write(
            render_conns(conns, lambda ip, port, proto: _where(ip, port, proto, args.numeric))
        )
        if hidden:
            print(
                f"ipvsadm: {hidden} connection entr{'y' if hidden == 1 else 'ies'} of the "
                "lab's DR plane not listed: it keeps IPv6 (and fwmark) DR connections by a "
                "hash of the client's address and port (they count in -L's ActiveConn)",
                file=sys.stderr,
            )
        return 0
    counts: dict[str, Counts] = {}
    for s in chosen:
        dr = any(d.forwarding == "DR" for d in s.destinations)
        counts[s.name] = dr_counts(s, maps) if dr else conntrack_counts(s, text)
    sys.stdout.write(render_list(plane, chosen, counts, args.numeric))
    return 0


if __name__ == "__main__":
    sys.exit(main())

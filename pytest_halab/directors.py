"""LVS directors in a lab: which balancers direct (their keepalived.conf has virtual
servers), which web nodes are their real servers and how (NAT or DR), and what each node
needs for it. Pure: no Docker; the topology checks a file with it at load time and the lab
applies what it says when it makes the containers.

What the lab does here is what the seeds' readers do by hand on their machines:

- a DR real server holds the VIP on ``lo`` and neither answers nor announces ARP for it
  (``arp_ignore 1``, ``arp_announce 2``), so it accepts the director's forwarded frames and
  answers the client directly;
- a NAT real server sends its replies to the client through the VIP (its route to the
  client), where the director un-NATs them; the lab's nodes share one subnet, so the route
  is one host route per client node;
- a director forwards and sends no ICMP redirects: its real servers and clients share its
  subnet, and a redirect would teach a real server to bypass it.

The real-server side is a shell script written into the node (``REAL_SERVER_SCRIPT``, run
by the web image at boot before the web server starts): a user reads there exactly what was
done. Its sysctls are set by Docker when the container is made (``/proc/sys`` is read-only
inside a container).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import TopologyError

if TYPE_CHECKING:
    from .vrrp.conf.model import VirtualServer

__all__ = [
    "CHECKER_FILE",
    "DIRECTOR_SYSCTLS",
    "REAL_SERVER_SCRIPT",
    "Directing",
    "RealServerUse",
    "read_virtual_servers",
]

REAL_SERVER_SCRIPT = "/etc/halab/real-server.sh"
CHECKER_FILE = "/etc/halab/checker"  # present in a director: the image starts the checker
DIRECTOR_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
}
DR_SYSCTLS = {
    "net.ipv4.conf.all.arp_ignore": "1",
    "net.ipv4.conf.all.arp_announce": "2",
    "net.ipv4.conf.default.arp_ignore": "1",
    "net.ipv4.conf.default.arp_announce": "2",
}
DEFAULT_FORWARDING = "NAT"  # keepalived's (and ipvsadm's -m) when lb_kind is not given


@dataclass(frozen=True)
class RealServerUse:
    """A web node serving a VIP for a director, and how its packets reach it."""

    director: str
    node: str
    vip: str  # the VIP's name in the topology
    port: int
    forwarding: str  # "NAT" | "DR"


@dataclass(frozen=True)
class Directing:
    """Every director of a topology and every real-server use their configs make."""

    uses: tuple[RealServerUse, ...] = ()

    @property
    def directors(self) -> list[str]:
        return sorted({u.director for u in self.uses})

    def is_director(self, node: str) -> bool:
        return any(u.director == node for u in self.uses)

    def of_node(self, node: str) -> list[RealServerUse]:
        return [u for u in self.uses if u.node == node]

    def sysctls(self, node: str) -> dict[str, str]:
        """Sysctls Docker sets when it makes the node's container."""
        if self.is_director(node):
            return dict(DIRECTOR_SYSCTLS)
        if any(u.forwarding == "DR" for u in self.of_node(node)):
            return dict(DR_SYSCTLS)
        return {}

    def real_server_script(
        self, node: str, vips: Mapping[str, object], clients: Iterable[object]
    ) -> bytes | None:
        """The shell script that makes ``node`` a real server (None when it is none):
        `vips` maps VIP names to addresses, `clients` are the client nodes' addresses."""
        uses = self.of_node(node)
        if not uses:
            return None
        lines = [
            "#!/bin/sh",
            "# Written by pytest-halab: this node is a real server of the lab's LVS directors.",
            "set -eu",
        ]
        dr = sorted({str(vips[u.vip]) for u in uses if u.forwarding == "DR"})
        nat = sorted({str(vips[u.vip]) for u in uses if u.forwarding == "NAT"})
        if dr:
            lines.append(
                "# DR: the VIP on lo; arp_ignore 1 / arp_announce 2 (set when the container was"
                " made) keep this node from answering or announcing ARP for it."
            )
            for vip in dr:
                lines.append(f"ip addr replace {vip}/32 dev lo")
        if nat:
            # one gateway per client: the first NAT VIP (a node serving two NAT VIPs of
            # different directors would need policy routing, which no topology asks for)
            gateway = nat[0]
            lines.append("# NAT: replies to the client go back through the director (the VIP).")
            for client in clients:
                lines.append(f"ip route replace {client}/32 via {gateway}")
        return ("\n".join(lines) + "\n").encode()


def read_virtual_servers(
    director: str,
    virtual_servers: Iterable[VirtualServer],
    sample_nodes: Iterable[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address]],
    sample_vips: Mapping[str, ipaddress.IPv4Address | ipaddress.IPv6Address],
    web_nodes: Iterable[str],
    where: str,
    template: str,
) -> list[RealServerUse]:
    """The real-server uses of one director's virtual servers (parsed from its
    keepalived.conf rendered with the sample addressing), or a TopologyError naming the
    template's file and line for what the lab cannot serve: LVS-TUN (this kernel has no
    ipip), a virtual server on an address that is no VIP of the topology, a real server
    or sorry server that is no web node of the lab."""
    by_ip = {str(ip): name for name, ip in sample_nodes}
    vip_by_ip = {str(ip): name for name, ip in sample_vips.items()}
    webs = set(web_nodes)
    uses: list[RealServerUse] = []
    problems: list[str] = []
    for vs in virtual_servers:
        line = f"{template}:{vs.line}"
        if vs.ip is None:
            # fwmark and virtual_server_group services: the lab sets nothing up for them
            continue
        vip = vip_by_ip.get(vs.ip)
        if vip is None:
            problems.append(
                f"{line}: virtual_server {vs.address}: {vs.ip} is no VIP of this topology "
                "(write {{ vip.NAME }}): the lab could not send it any traffic"
            )
            continue
        # the sorry server is served like a real server once quorum is lost
        servers = [("real_server", rs) for rs in vs.real_servers]
        if vs.sorry_server is not None:
            servers.append(("sorry_server", vs.sorry_server))
        for keyword, rs in servers:
            kind = rs.forwarding or vs.forwarding or DEFAULT_FORWARDING
            rline = f"{template}:{rs.line}"
            if kind == "TUN":
                problems.append(
                    f"{rline}: {keyword} {rs.address}: lb_kind TUN (LVS-TUN) needs ipip "
                    "tunnels, which this lab's kernel lacks: use NAT or DR"
                )
                continue
            node = by_ip.get(rs.ip or "")
            if node is None or node not in webs:
                what = f"node {node}, not a web node" if node else "no node of this lab"
                problems.append(
                    f"{rline}: {keyword} {rs.address}: {rs.ip} is {what} (write "
                    "{{ NODE.ip }} of a web node): the lab sends traffic only to its own nodes"
                )
                continue
            port = rs.port_num or vs.port_num
            uses.append(RealServerUse(director, node, vip, port, kind))
    if problems:
        raise TopologyError(f"{where}: " + "\n".join(problems))
    return uses

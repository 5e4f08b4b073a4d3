"""What a running lab is, typed: nodes, addresses, VIPs, engines.

A fresh lab builds its ``LabLayout`` from the topology and the subnet it got; a reattached
lab (``halab status`` from another process) reads the same object back from the label
``io.halab.layout`` on the lab's network. Both then use the same typed fields.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from .errors import LayoutError
from .topology import Addressing, IPAddress, Role, Topology

LAYOUT_VERSION = 3
READABLE_VERSIONS = (2, 3)  # 3 added the IPv6 subnet and addresses; a 2 has none


@dataclass(frozen=True)
class NodeLayout:
    role: Role
    ip: ipaddress.IPv4Address
    engine: str | None = None  # balancers: the VRRP engine it runs
    ip6: ipaddress.IPv6Address | None = None  # its IPv6 address (an `ipv6` topology)


@dataclass(frozen=True)
class VipLayout:
    ip: IPAddress  # of the VIP's family
    master: str  # the balancer expected to hold it once the lab settles
    port: int  # the port the client probes
    instance: str | None = None  # the VRRP instance carrying it on its master
    vrid: int | None = None
    advert_int: float | None = None


@dataclass(frozen=True)
class LabLayout:
    lab_id: str
    topology: str  # its name
    topology_path: str | None
    engine: str  # the default engine, with overrides: "halab;lb2=keepalived"
    subnet: ipaddress.IPv4Network
    nodes: dict[str, NodeLayout]
    vips: dict[str, VipLayout]
    subnet6: ipaddress.IPv6Network | None = None  # the lab's IPv6 /64, if it has one

    @classmethod
    def build(
        cls,
        lab_id: str,
        topology: Topology,
        addr: Addressing,
        engines: dict[str, str],
        engine_label: str,
    ) -> LabLayout:
        """The layout of a lab of ``topology`` on ``addr`` (``engines``: balancer -> engine)."""
        spec = topology.spec
        return cls(
            lab_id=lab_id,
            topology=topology.name,
            topology_path=str(topology.path),
            engine=engine_label,
            subnet=addr.subnet,
            subnet6=addr.subnet6,
            nodes={
                n: NodeLayout(s.role, addr.nodes[n], engines.get(n), addr.nodes6.get(n))
                for n, s in spec.nodes.items()
            },
            vips={
                v: VipLayout(
                    ip=addr.vips[v],
                    master=s.master,
                    port=s.port,
                    instance=b.instance if (b := topology.vrrp.get(v)) else None,
                    vrid=b.vrid if b else None,
                    advert_int=b.advert_int if b else None,
                )
                for v, s in spec.vips.items()
            },
        )

    def node_names(self, role: Role) -> list[str]:
        return [n for n, d in self.nodes.items() if d.role is role]

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "version": LAYOUT_VERSION,
            "lab_id": self.lab_id,
            "topology": self.topology,
            "topology_path": self.topology_path,
            "engine": self.engine,
            "subnet": str(self.subnet),
            "subnet6": None if self.subnet6 is None else str(self.subnet6),
            "nodes": {
                n: {"role": d.role.value, "ip": str(d.ip), "engine": d.engine}
                | ({"ip6": str(d.ip6)} if d.ip6 is not None else {})
                for n, d in self.nodes.items()
            },
            "vips": {
                v: {
                    "ip": str(d.ip),
                    "master": d.master,
                    "port": d.port,
                    "instance": d.instance,
                    "vrid": d.vrid,
                    "advert_int": d.advert_int,
                }
                for v, d in self.vips.items()
            },
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LabLayout:
        """The layout from its label; LayoutError naming the bad field otherwise."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise LayoutError(f"lab layout label is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("version") not in READABLE_VERSIONS:
            version = data.get("version") if isinstance(data, dict) else None
            raise LayoutError(
                f"lab layout label has version {version!r}, this halab reads "
                f"{LAYOUT_VERSION}: the lab was made by another version (`halab down` it)"
            )
        field = "lab_id"
        try:
            lab_id = str(data["lab_id"])
            field = "subnet"
            subnet = ipaddress.IPv4Network(data["subnet"])
            field = "subnet6"
            subnet6 = (
                None if data.get("subnet6") is None else ipaddress.IPv6Network(data["subnet6"])
            )
            nodes = {}
            for n, d in data["nodes"].items():
                field = f"nodes.{n}"
                nodes[str(n)] = NodeLayout(
                    Role(d["role"]),
                    ipaddress.IPv4Address(d["ip"]),
                    _opt_str(d.get("engine")),
                    None if d.get("ip6") is None else ipaddress.IPv6Address(d["ip6"]),
                )
            vips = {}
            for v, d in data["vips"].items():
                field = f"vips.{v}"
                vips[str(v)] = VipLayout(
                    ip=ipaddress.ip_address(d["ip"]),
                    master=str(d["master"]),
                    port=int(d["port"]),
                    instance=_opt_str(d.get("instance")),
                    vrid=None if d.get("vrid") is None else int(d["vrid"]),
                    advert_int=None if d.get("advert_int") is None else float(d["advert_int"]),
                )
            field = "topology"
            return cls(
                lab_id=lab_id,
                topology=str(data["topology"]),
                topology_path=_opt_str(data.get("topology_path")),
                engine=str(data["engine"]),
                subnet=subnet,
                nodes=nodes,
                vips=vips,
                subnet6=subnet6,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LayoutError(f"lab layout label, field {field}: {exc!r}") from None


def _opt_str(v: Any) -> str | None:
    return None if v is None else str(v)

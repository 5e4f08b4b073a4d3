"""`ipv6: true` topologies: the lab's IPv6 /64, node and VIP addresses of both families,
the template variables, the checks at load time, and the layout's IPv6 fields."""

from __future__ import annotations

import ipaddress
import json
import textwrap
from pathlib import Path

import pytest

from pytest_halab import topology
from pytest_halab.errors import TopologyError
from pytest_halab.layout import LabLayout

KA = """\
vrrp_instance VI_1 {
    state MASTER
    interface {{ interface }}
    virtual_router_id 50
    version 3
    priority 150
    virtual_ipaddress {
        {{ vip.VI_1 }}
    }
}
vrrp_instance VI_6 {
    state MASTER
    interface {{ interface }}
    virtual_router_id 50
    version 3
    priority 150
    virtual_ipaddress {
        fe80::56:1/64
        {{ vip.VI_6 }}
    }
}
! {{ self.ip6 }} {{ client.ip6 }} {{ subnet6 }} {{ prefixlen6 }} {{ gateway6 }}
"""

GOOD = """\
name: mini6
ipv6: true
nodes:
  client: {role: client, host: 100}
  lb1:
    role: balancer
    host: 10
    files:
      /etc/keepalived/keepalived.conf: ka.conf
  web1: {role: web, host: 20, body: "1111"}
vips:
  VI_1: {host: 3, master: lb1}
  VI_6: {host: 3, master: lb1, family: 6}
"""


def write(tmp_path: Path, text: str = GOOD, ka: str = KA) -> Path:
    (tmp_path / "ka.conf").write_text(ka)
    p = tmp_path / "mini6.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_the_ipv6_subnet_derives_from_the_ipv4_one() -> None:
    six = topology.ipv6_subnet
    assert six(ipaddress.IPv4Network("10.213.7.0/24")) == ipaddress.IPv6Network(
        "fd68:616c:6162:700::/64"
    )
    assert six(ipaddress.IPv4Network("10.213.7.16/28")) == ipaddress.IPv6Network(
        "fd68:616c:6162:710::/64"
    )
    # disjoint IPv4 subnets of the pool: distinct /64s, all inside the ULA /48
    subnets = {
        six(s)
        for p in (24, 28)
        for s in ipaddress.IPv4Network("10.213.0.0/16").subnets(new_prefix=p)
    }
    assert len(subnets) == 2**8 + 2**12 - 2**8  # a /24 and its first /28 share a network address
    assert all(s.subnet_of(topology.ULA_PREFIX) for s in subnets)


@pytest.mark.parametrize(
    ("host", "text"), [(3, "::3"), (10, "::10"), (100, "::100"), (254, "::254")]
)
def test_an_ipv6_host_reads_like_its_ipv4_last_octet(host: int, text: str) -> None:
    net = ipaddress.IPv6Network("fd68:616c:6162:700::/64")
    assert topology.ipv6_host(net, host) == ipaddress.IPv6Address("fd68:616c:6162:700" + text)


def test_addressing_and_rendering_in_both_families(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path))
    assert t.vrrp["VI_6"].instance == "VI_6" and t.vrrp["VI_1"].instance == "VI_1"
    addr = t.addressing(ipaddress.IPv4Network("10.213.7.0/24"))
    assert addr.subnet6 == ipaddress.IPv6Network("fd68:616c:6162:700::/64")
    assert addr.gateway6 == ipaddress.IPv6Address("fd68:616c:6162:700::1")
    assert addr.nodes6["lb1"] == ipaddress.IPv6Address("fd68:616c:6162:700::10")
    assert addr.vips == {
        "VI_1": ipaddress.IPv4Address("10.213.7.3"),
        "VI_6": ipaddress.IPv6Address("fd68:616c:6162:700::3"),
    }
    text = t.render_files("lb1", addr)["/etc/keepalived/keepalived.conf"].data.decode()
    assert "        fd68:616c:6162:700::3\n" in text and "        10.213.7.3\n" in text
    assert text.endswith(
        "! fd68:616c:6162:700::10 fd68:616c:6162:700::100 fd68:616c:6162:700::/64 64 "
        "fd68:616c:6162:700::1\n"
    )


def test_an_ipv4_topology_has_no_ipv6_addresses_nor_variables(tmp_path: Path) -> None:
    t = topology.load("nginx_master_backup")
    addr = t.addressing(ipaddress.IPv4Network("10.213.7.0/24"))
    assert addr.subnet6 is None and addr.nodes6 == {} and addr.gateway6 is None
    ipv4 = GOOD.replace("ipv6: true\n", "").replace(
        "  VI_6: {host: 3, master: lb1, family: 6}\n", ""
    )
    p = write(tmp_path, ipv4, ka=KA.split("vrrp_instance VI_6")[0] + "! {{ self.ip6 }}\n")
    with pytest.raises(TopologyError, match=r"ka.conf:\d+: unknown placeholder \{\{ self.ip6 \}\}"):
        topology.load(p)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("ipv6: true\n", ""),
            r"mini6.yaml:12: vips.VI_6.family: family 6 needs the lab's IPv6 subnet: add "
            "`ipv6: true` at the top level",
        ),
        (("family: 6}", "family: 5}"), r"mini6.yaml:13: vips.VI_6.family: Input should be 4 or 6"),
        (
            ("VI_6: {host: 3,", "VI_6: {host: 10,"),
            r"mini6.yaml:13: vips.VI_6.host: vip VI_6 uses host number 10 of node lb1",
        ),
        (
            (
                "  VI_6: {host: 3, master: lb1, family: 6}\n",
                "  VI_6: {host: 3, master: lb1, family: 6}\n"
                "  VI_7: {host: 3, master: lb1, family: 6}\n",
            ),
            r"mini6.yaml:14: vips.VI_7.host: vip VI_7 uses host number 3 of vip VI_6",
        ),
        (("ipv6: true", "ipv6: maybe"), r"mini6.yaml:2: ipv6: Input should be a valid boolean"),
    ],
)
def test_bad_ipv6_input_is_refused_at_its_field(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    assert edit[0] in GOOD
    with pytest.raises(TopologyError, match=expected):
        topology.load(write(tmp_path, GOOD.replace(edit[0], edit[1], 1)))


def test_an_ipv6_vip_missing_from_keepalived_conf_is_named(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match=r"vips.VI_6: address \{\{ vip.VI_6 \}\} is in no"):
        topology.load(write(tmp_path, ka=KA.replace("        {{ vip.VI_6 }}\n", "")))


def test_the_schema_documents_ipv6_and_family() -> None:
    schema = json.loads(topology.json_schema())
    assert schema["properties"]["ipv6"]["type"] == "boolean"
    assert schema["$defs"]["VipSpec"]["properties"]["family"]["enum"] == [4, 6]


def test_the_shipped_ipv6_topology() -> None:
    t = topology.load("nginx_v3_ipv6")
    assert t.spec.ipv6 and t.spec.vips["VI_6"].family == 6
    assert {v: (b.instance, b.version) for v, b in t.vrrp.items()} == {
        "VI_1": ("VI_1", 3),
        "VI_6": ("VI_6", 3),
    }


def test_the_layout_keeps_the_ipv6_addressing() -> None:
    t = topology.load("nginx_v3_ipv6")
    addr = t.addressing(ipaddress.IPv4Network("10.213.7.0/24"))
    lay = LabLayout.build(
        "hl123456", t, addr, {"lb1": "keepalived", "lb2": "keepalived"}, "keepalived"
    )
    assert lay.subnet6 == addr.subnet6 and lay.nodes["lb2"].ip6 == addr.nodes6["lb2"]
    back = LabLayout.from_json(lay.to_json())
    assert back == lay and back.vips["VI_6"].ip == ipaddress.IPv6Address("fd68:616c:6162:700::3")
    # a label of the previous version (no IPv6 fields) is still read
    data = json.loads(lay.to_json())
    data["version"] = 2
    del data["subnet6"]
    for node in data["nodes"].values():
        del node["ip6"]
    data["vips"].pop("VI_6")
    old = LabLayout.from_json(json.dumps(data))
    assert old.subnet6 is None and old.nodes["lb1"].ip6 is None

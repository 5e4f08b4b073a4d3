"""The typed lab layout: built from a topology, kept as a label, read back the same."""

from __future__ import annotations

import ipaddress
import json

import pytest

from pytest_halab import topology
from pytest_halab.layout import LabLayout, LayoutError
from pytest_halab.topology import Role


def _layout() -> LabLayout:
    topo = topology.load("nginx_dual_master")
    addr = topo.addressing(ipaddress.IPv4Network("10.213.7.0/24"))
    return LabLayout.build(
        "hl123456", topo, addr, {"lb1": "halab", "lb2": "keepalived"}, "halab;lb2=keepalived"
    )


def test_built_from_the_topology() -> None:
    lay = _layout()
    assert lay.subnet == ipaddress.IPv4Network("10.213.7.0/24")
    assert lay.nodes["lb1"].role is Role.BALANCER and lay.nodes["lb1"].engine == "halab"
    assert lay.nodes["client"].engine is None
    vi1 = lay.vips["VI_1"]
    assert vi1.ip == ipaddress.IPv4Address("10.213.7.3") and vi1.master == "lb1"
    assert vi1.port == 80 and vi1.instance == "VI_1" and isinstance(vi1.vrid, int)
    assert vi1.advert_int is not None and vi1.advert_int > 0
    assert lay.node_names(Role.WEB) == ["web1", "web2"]


def test_label_round_trip() -> None:
    lay = _layout()
    assert LabLayout.from_json(lay.to_json()) == lay


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("version"), "version None"),
        (lambda d: d.update(subnet="10.0.0.0/33"), "field subnet"),
        (lambda d: d["nodes"]["lb1"].update(role="router"), "field nodes.lb1"),
        (lambda d: d["vips"]["VI_2"].update(port="eighty"), "field vips.VI_2"),
        (lambda d: d.pop("topology"), "field topology"),
    ],
)
def test_a_bad_label_names_the_field(mutate: object, message: str) -> None:
    data = json.loads(_layout().to_json())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(LayoutError, match=message):
        LabLayout.from_json(json.dumps(data))


def test_not_json() -> None:
    with pytest.raises(LayoutError, match="not JSON"):
        LabLayout.from_json("{")

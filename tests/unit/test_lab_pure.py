"""Pure helpers of the lab side: engine specs, priority edits, topology vars."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab import topology
from pytest_halab.engines import parse_spec as parse_engine_spec
from pytest_halab.errors import TopologyError
from pytest_halab.faults import _set_instance_priority


@pytest.mark.parametrize(
    ("spec", "default", "nodes"),
    [
        ("halab", "halab", {}),
        ("keepalived,lb1=halab", "keepalived", {"lb1": "halab"}),
        ("lb1=halab, lb2=keepalived", None, {"lb1": "halab", "lb2": "keepalived"}),
        ("", None, {}),
    ],
)
def test_engine_spec(spec: str, default: str | None, nodes: dict[str, str]) -> None:
    assert parse_engine_spec(spec) == (default, nodes)


def test_engine_spec_refuses_unknown_engine() -> None:
    with pytest.raises(ValueError, match="'lb1=vrrpd': engine must be one of keepalived, halab"):
        parse_engine_spec("lb1=vrrpd")


CONF = """\
vrrp_instance VI_1 {
    state MASTER   # comment { with a brace
    priority 150
    virtual_ipaddress {
        10.0.0.3
    }
}
vrrp_instance VI_2
{
    priority 100
}
"""


def test_set_priority_edits_only_the_named_instance() -> None:
    out = _set_instance_priority(CONF, "VI_2", 200)
    assert out is not None
    assert "priority 150" in out and "priority 200" in out and "priority 100" not in out
    out1 = _set_instance_priority(CONF, "VI_1", 50)
    assert out1 is not None and "priority 50" in out1 and "priority 100" in out1


def test_set_priority_unknown_instance() -> None:
    assert _set_instance_priority(CONF, "VI_3", 200) is None


def test_v3_topologies_take_advert_int_from_vars() -> None:
    fast, ms20 = topology.load("nginx_v3_fast"), topology.load("nginx_v3_20ms")
    assert (fast.vrrp["VI_1"].version, fast.vrrp["VI_1"].advert_int) == (3, 0.1)
    assert (ms20.vrrp["VI_1"].version, ms20.vrrp["VI_1"].advert_int) == (3, 0.02)


def test_unknown_var_names_template_line(tmp_path: Path) -> None:
    src = Path(topology.resolve("nginx_v3_fast"))
    text = src.read_text().replace('advert_int: "0.1"', 'advert_interval: "0.1"')
    text = text.replace("nginx_v3/", f"{src.parent}/nginx_v3/").replace(
        "common/", f"{src.parent}/common/"
    )
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(
        TopologyError,
        match=r"lb1.keepalived.conf:\d+: unknown placeholder "
        r"\{\{ var.advert_int \}\}",
    ):
        topology.load(p)

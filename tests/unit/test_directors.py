"""LVS directors in a topology: which web nodes serve which VIP how, what each node gets,
and the virtual servers the lab refuses at load time (file, line, field)."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest

from pytest_halab import topology
from pytest_halab.directors import CHECKER_FILE, DIRECTOR_SYSCTLS, REAL_SERVER_SCRIPT
from pytest_halab.errors import TopologyError

TOPOLOGIES = Path(topology.__file__).resolve().parent.parent / "lab" / "topologies"


def test_lvs_nat_real_servers_route_replies_through_the_vip() -> None:
    topo = topology.load("lvs_nat")
    d = topo.directing
    assert d.directors == ["lvs1", "lvs2"]
    assert {(u.director, u.node, u.forwarding, u.port) for u in d.uses} == {
        (lvs, web, "NAT", 80) for lvs in ("lvs1", "lvs2") for web in ("web1", "web2")
    }
    addr = topo.addressing(ipaddress.ip_network("10.9.8.0/24"))
    script = d.real_server_script("web1", addr.vips, [addr.nodes["client"]])
    assert script is not None
    assert "ip route replace 10.9.8.100/32 via 10.9.8.3\n" in script.decode()
    assert "dev lo" not in script.decode()
    assert d.sysctls("lvs1") == DIRECTOR_SYSCTLS
    assert d.sysctls("web1") == {}
    assert d.real_server_script("client", addr.vips, []) is None


def test_lvs_dr_real_servers_hold_the_vip_on_lo_and_ignore_arp_for_it() -> None:
    topo = topology.load("lvs_dr")
    d = topo.directing
    assert {u.forwarding for u in d.uses} == {"DR"}
    addr = topo.addressing(ipaddress.ip_network("10.9.8.0/24"))
    script = d.real_server_script("web2", addr.vips, [addr.nodes["client"]])
    assert script is not None
    assert "ip addr replace 10.9.8.10/32 dev lo\n" in script.decode()
    assert "via" not in script.decode()
    assert d.sysctls("web2")["net.ipv4.conf.all.arp_ignore"] == "1"
    assert d.sysctls("web2")["net.ipv4.conf.all.arp_announce"] == "2"


def test_a_sorry_server_is_a_real_server_of_the_lab() -> None:
    """web3 serves only once quorum is lost, and then its replies must go back through the
    director like the others'."""
    here = Path(__file__).resolve().parents[1] / "lab" / "topologies"
    topo = topology.load(here / "lvs_quorum.yaml")
    d = topo.directing
    assert {(u.director, u.node) for u in d.uses} == {
        (lvs, web) for lvs in ("lvs1", "lvs2") for web in ("web1", "web2", "web3")
    }
    addr = topo.addressing(ipaddress.ip_network("10.9.8.0/24"))
    script = d.real_server_script("web3", addr.vips, [addr.nodes["client"]])
    assert script is not None
    assert "ip route replace 10.9.8.100/32 via 10.9.8.3\n" in script.decode()


def test_an_nginx_topology_has_no_director() -> None:
    d = topology.load("nginx_master_backup").directing
    assert d.uses == ()
    assert not d.is_director("lb1")


def _copy(tmp_path: Path, edit: tuple[str, str]) -> Path:
    shutil.copy(TOPOLOGIES / "lvs_nat.yaml", tmp_path / "lvs_nat.yaml")
    (tmp_path / "lvs_nat").mkdir()
    for n in ("lvs1", "lvs2"):
        text = (TOPOLOGIES / "lvs_nat" / f"{n}.keepalived.conf").read_text()
        assert edit[0] in text
        (tmp_path / "lvs_nat" / f"{n}.keepalived.conf").write_text(text.replace(*edit, 1))
    return tmp_path / "lvs_nat.yaml"


def _line(path: Path, needle: str) -> int:
    return next(i for i, t in enumerate(path.read_text().splitlines(), 1) if needle in t)


@pytest.mark.parametrize(
    ("edit", "needle", "expected"),
    [
        (
            ("lb_kind NAT", "lb_kind TUN"),
            "real_server {{ web1.ip }}",
            "lb_kind TUN (LVS-TUN) needs ipip",
        ),
        (
            ("real_server {{ web2.ip }} 80", "real_server 192.0.2.77 80"),
            "real_server 192.0.2.77",
            "192.0.2.77 is no node of this lab",
        ),
        (
            ("real_server {{ web2.ip }} 80", "real_server {{ client.ip }} 80"),
            "real_server {{ client.ip }}",
            "is node client, not a web node",
        ),
        (
            ("protocol TCP", "protocol TCP\n    sorry_server 192.0.2.78 80"),
            "sorry_server 192.0.2.78",
            "sorry_server 192.0.2.78: 192.0.2.78 is no node of this lab",
        ),
        (
            ("lb_algo wrr", "lb_algo fastest"),
            "lb_algo fastest",
            "Invalid lvs_scheduler 'fastest' - ignoring",
        ),
        (
            ("virtual_server {{ vip.VI_1 }} 80", "virtual_server {{ web1.ip }} 80"),
            "virtual_server {{ web1.ip }}",
            "is no VIP of this topology",
        ),
    ],
)
def test_what_the_lab_cannot_serve_is_refused_at_its_line(
    tmp_path: Path, edit: tuple[str, str], needle: str, expected: str
) -> None:
    path = _copy(tmp_path, edit)
    with pytest.raises(TopologyError) as err:
        topology.load(path)
    text = str(err.value)
    conf = tmp_path / "lvs_nat" / "lvs1.keepalived.conf"
    assert f"{path}:{_line(path, 'lvs_nat/lvs1.keepalived.conf')}: nodes.lvs1.files." in text
    assert f"{conf}:{_line(conf, needle)}: " in text
    assert expected in text


def test_director_and_real_server_files_are_named_for_the_image() -> None:
    # the balancer image's 25-checker and the web image's 05-real-server read these paths
    images = TOPOLOGIES.parent / "images"
    assert CHECKER_FILE in (images / "balancer" / "25-checker").read_text()
    assert REAL_SERVER_SCRIPT in (images / "web" / "05-real-server").read_text()

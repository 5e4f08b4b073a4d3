"""`ipvsadm -Lc` on a director without IP_VS (pytest_halab.vrrp.check.ipvsconns): the
connection table of the lab's nftables plane, in ipvsadm's layout: NAT connections from
conntrack, DR connections and persistence templates from the plane's maps."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

# tests/unit is on sys.path (rootdir conftest); `pools` is that module's fixture
from test_ipvsview import CONNTRACK, DR, NAT, pools  # noqa: F401

from pytest_halab.vrrp.check import ipvsconns, ipvsview
from pytest_halab.vrrp.check.ipvsconns import Conn
from pytest_halab.vrrp.check.nftrules import server_id, service_hash
from pytest_halab.vrrp.check.pool import Destination, Service

WEB1 = server_id(Destination("10.9.8.20", 0, 3, "DR"))
EST = "ESTABLISHED"


def _numeric(ip: str, port: int, _proto: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def test_nat_connections_come_from_conntrack_with_ipvs_states() -> None:
    text = CONNTRACK + (
        "ipv4     2 tcp      6 55 SYN_SENT2 src=10.9.8.101 dst=10.9.8.3 sport=40010 dport=80 "
        "src=10.9.8.30 dst=10.9.8.101 sport=80 dport=40010 mark=0 zone=0 use=2\n"
        "ipv4     2 tcp      6 55 garbled\n"
    )
    assert ipvsconns.conntrack_conns([NAT, DR], text) == [
        Conn(("10.9.8.3", 80), ("10.9.8.100", 40000), ("10.9.8.20", 80), "TCP", EST, 431999),
        Conn(("10.9.8.3", 80), ("10.9.8.100", 40002), ("10.9.8.20", 80), "TCP", "TIME_WAIT", 100),
        Conn(("10.9.8.3", 80), ("10.9.8.100", 40004), ("10.9.8.30", 80), "TCP", "TIME_WAIT", 100),
        Conn(("10.9.8.3", 80), ("10.9.8.101", 40010), ("10.9.8.30", 80), "TCP", "SYN_SENT", 55),
    ]  # fmt: skip
    udp = replace(NAT, protocol="udp", name="[10.9.8.3]:udp:80")
    assert ipvsconns.conntrack_conns([udp], CONNTRACK) == [
        Conn(("10.9.8.3", 80), ("10.9.8.100", 5353), ("10.9.8.20", 80), "UDP", "UDP", 20),
    ]


def test_a_fwmark_nat_service_owns_the_connections_its_servers_answer() -> None:
    fwm = replace(NAT, name="FWM 7", ip=None, port=0, fwmark=7)
    got = ipvsconns.conntrack_conns([fwm], CONNTRACK)
    # the VIP's three TCP connections; not the checker's own to 10.9.8.30 (its answer
    # comes from the address it asked)
    assert [(c.virtual, c.destination) for c in got] == [
        (("10.9.8.3", 80), ("10.9.8.20", 80)),
        (("10.9.8.3", 80), ("10.9.8.20", 80)),
        (("10.9.8.3", 80), ("10.9.8.30", 80)),
    ]


def _maps(service: Service, conn_keys: list[object], persist: list[str]) -> dict:
    h = service_hash(service)
    return {
        f"a_{h}_10ac": {"name": f"a_{h}_10ac", "elem": [[WEB1, "10.9.8.20"]]},
        f"c_{h}_3ec8": {
            "name": f"c_{h}_3ec8",
            "elem": [[{"elem": {"val": k, "expires": 299}}, WEB1] for k in conn_keys],
        },
        f"p_{h}_b265": {
            "name": f"p_{h}_b265",
            "elem": [[{"elem": {"val": c, "expires": 47}}, WEB1] for c in persist],
        },
        "p_00000000_0000": {"elem": [[{"elem": {"val": "10.9.8.9", "expires": 1}}, WEB1]]},
    }


def test_dr_connections_and_persistence_templates_come_from_the_plane_maps() -> None:
    maps = _maps(DR, [{"concat": ["10.9.8.100", 56508]}, 123456], ["10.9.8.100"])
    conns, hidden = ipvsconns.plane_conns([NAT, DR], maps)
    assert conns == [
        Conn(("10.9.8.10", 80), ("10.9.8.100", 0), ("10.9.8.20", 80), "TCP", "NONE", 47),
        Conn(("10.9.8.10", 80), ("10.9.8.100", 56508), ("10.9.8.20", 80), "TCP", EST, 299),
    ]  # fmt: skip
    assert hidden == 1  # the hashed key (IPv6 DR)


def test_a_fwmark_template_is_written_as_ipvs_writes_it() -> None:
    fwm = replace(DR, name="FWM 10", ip=None, port=0, fwmark=10)
    conns, hidden = ipvsconns.plane_conns([fwm], _maps(fwm, [], ["10.9.8.100"]))
    assert conns == [Conn(("0.0.0.10", 0), ("10.9.8.100", 0), ("10.9.8.20", 0), "IP", "NONE", 47)]
    assert hidden == 0


def test_the_table_has_ipvsadms_layout() -> None:
    conns = [
        Conn(("10.9.8.3", 80), ("10.9.8.100", 40000), ("10.9.8.20", 80), "TCP", "ESTABLISHED", 899),
        Conn(("fd00::3", 80), ("fd00::64", 40000), ("fd00::14", 80), "UDP", "UDP", 5),
    ]  # fmt: skip
    assert ipvsconns.render_conns(conns, _numeric).splitlines() == [
        "IPVS connection entries",
        "pro expire state       source             virtual            destination",
        "TCP 14:59  ESTABLISHED 10.9.8.100:40000   10.9.8.3:80        10.9.8.20:80",
        "UDP 00:05  UDP         [fd00::64]:40000   [fd00::3]:80       [fd00::14]:80",
    ]


@pytest.mark.usefixtures("pools")
def test_ipvsadm_lnc_lists_every_service(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    maps = _maps(DR, [{"concat": ["10.9.8.100", 56508]}, 99], ["10.9.8.100"])
    monkeypatch.setattr(ipvsview, "read_tables", lambda: maps)
    for argv in (["-Lnc"], ["-L", "-n", "-c", "-t", "10.9.8.3:80"], ["-l", "--connection", "-n"]):
        assert ipvsview.main(argv) == 0
        out, err = capsys.readouterr()
        lines = out.splitlines()
        assert lines[0] == "IPVS connection entries" and len(lines) == 2 + 3 + 2, out
        assert "TCP 00:47  NONE        10.9.8.100:0       10.9.8.10:80       10.9.8.20:80" in lines
        assert "1 connection entry of the lab's DR plane not listed" in err


def test_dr_counts_come_from_the_same_maps() -> None:
    maps = _maps(DR, [{"concat": ["10.9.8.100", 56508]}, 99], [])
    assert ipvsview.dr_counts(DR, maps) == {("10.9.8.20", 80): (2, 0)}


def test_what_is_still_refused_says_what_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ipvsview, "POOL_FILE", str(tmp_path / "none.json"))
    assert ipvsview.main(["-Ln", "--stats"]) == 2
    assert "-L, -n, -c, -S, -t/-u/-f work" in capsys.readouterr().err
    assert ipvsview.main(["-Lnc"]) == 2  # no checker here: as -L says
    assert "Can't initialize ipvs" in capsys.readouterr().err


def test_nft_failing_gives_no_maps() -> None:
    def fails(*_a: object, **_k: object) -> object:
        raise OSError("no nft")

    assert ipvsconns.read_tables(fails) == {}  # type: ignore[arg-type]


def test_ipv6_nat_connections_are_listed_as_ipvsadm_writes_them() -> None:
    v6 = replace(
        NAT,
        name="[fd00::3]:tcp:80",
        family=10,
        ip="fd00::3",
        destinations=(Destination("fd00::14", 80, 1, "NAT"),),
    )
    text = (
        "ipv6     10 tcp      6 117 TIME_WAIT src=fd00:0:0::64 dst=fd00::3 sport=40000 "
        "dport=80 src=fd00::14 dst=fd00::64 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2\n"
    )
    conns = ipvsconns.conntrack_conns([v6], text)
    assert conns == [
        Conn(("fd00::3", 80), ("fd00::64", 40000), ("fd00::14", 80), "TCP", "TIME_WAIT", 117)
    ]
    assert ipvsconns.render_conns(conns, _numeric).splitlines()[2] == (
        "TCP 01:57  TIME_WAIT   [fd00::64]:40000   [fd00::3]:80       [fd00::14]:80"
    )

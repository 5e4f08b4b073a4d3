"""`ipvsadm` on a director without IP_VS (pytest_halab.vrrp.check.ipvsview): the pools the
checker serves, in ipvsadm's layout, with connections counted where the kernel keeps them."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pytest_halab.vrrp.check import ipvsview
from pytest_halab.vrrp.check.pool import Destination, Service

NAT = Service(
    name="[10.9.8.3]:tcp:80",
    family=socket.AF_INET,
    protocol="tcp",
    ip="10.9.8.3",
    port=80,
    fwmark=None,
    sched="wrr",
    persistence_timeout=0,
    persistence_netmask=None,
    destinations=(
        Destination("10.9.8.20", 80, 2, "NAT"),
        Destination("10.9.8.30", 80, 1, "NAT"),
    ),
)
DR = Service(
    name="[10.9.8.10]:tcp:80",
    family=socket.AF_INET,
    protocol="tcp",
    ip="10.9.8.10",
    port=80,
    fwmark=None,
    sched="wrr",
    persistence_timeout=50,
    persistence_netmask=None,
    destinations=(Destination("10.9.8.20", 0, 3, "DR"),),
)

# /proc/net/nf_conntrack as a director has it: two NAT connections to web1 (one open, one
# in TIME_WAIT), one to web2, and the checker's own connections (not through the VIP)
CONNTRACK = """\
ipv4     2 tcp      6 431999 ESTABLISHED src=10.9.8.100 dst=10.9.8.3 sport=40000 dport=80 \
src=10.9.8.20 dst=10.9.8.100 sport=80 dport=40000 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 100 TIME_WAIT src=10.9.8.100 dst=10.9.8.3 sport=40002 dport=80 \
src=10.9.8.20 dst=10.9.8.100 sport=80 dport=40002 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 100 TIME_WAIT src=10.9.8.100 dst=10.9.8.3 sport=40004 dport=80 \
src=10.9.8.30 dst=10.9.8.100 sport=80 dport=40004 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 107 TIME_WAIT src=10.9.8.10 dst=10.9.8.30 sport=53680 dport=80 \
src=10.9.8.30 dst=10.9.8.10 sport=80 dport=53680 [ASSURED] mark=0 zone=0 use=2
ipv4     2 udp      17 20 src=10.9.8.100 dst=10.9.8.3 sport=5353 dport=80 \
src=10.9.8.20 dst=10.9.8.100 sport=80 dport=5353 mark=0 zone=0 use=2
"""


def test_nat_connections_are_counted_from_conntrack() -> None:
    assert ipvsview.conntrack_counts(NAT, CONNTRACK) == {
        ("10.9.8.20", 80): (1, 1),
        ("10.9.8.30", 80): (0, 1),
    }


def test_the_list_has_ipvsadms_layout() -> None:
    counts = {NAT.name: ipvsview.conntrack_counts(NAT, CONNTRACK), DR.name: {}}
    out = ipvsview.render_list("nftables", [NAT, DR], counts, numeric=True)
    assert out.splitlines() == [
        "IP Virtual Server (halab: served by nftables, this kernel has no IP_VS)",
        "Prot LocalAddress:Port Scheduler Flags",
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        "TCP  10.9.8.3:80 wrr",
        "  -> 10.9.8.20:80                 Masq    2      1          1",
        "  -> 10.9.8.30:80                 Masq    1      0          1",
        "TCP  10.9.8.10:80 wrr persistent 50",
        "  -> 10.9.8.20:80                 Route   3      0          0",
    ]


def test_save_gives_the_rules_of_the_same_table() -> None:
    assert ipvsview.render_save([NAT, DR], numeric=True).splitlines() == [
        "-A -t 10.9.8.3:80 -s wrr",
        "-a -t 10.9.8.3:80 -r 10.9.8.20:80 -m -w 2",
        "-a -t 10.9.8.3:80 -r 10.9.8.30:80 -m -w 1",
        "-A -t 10.9.8.10:80 -s wrr -p 50",
        "-a -t 10.9.8.10:80 -r 10.9.8.20:80 -g -w 3",
    ]


@pytest.fixture
def pools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "checker-pool.json"
    ipvsview.write_pools(str(path), "nftables", [NAT, DR])
    ct = tmp_path / "nf_conntrack"
    ct.write_text(CONNTRACK)
    monkeypatch.setattr(ipvsview, "POOL_FILE", str(path))
    monkeypatch.setattr(ipvsview, "CONNTRACK", str(ct))
    monkeypatch.setattr(ipvsview, "dr_counts", lambda s, maps: {("10.9.8.20", 80): (4, 0)})
    monkeypatch.setattr(ipvsview, "read_tables", lambda: {})
    return path


def test_what_the_checker_wrote_reads_back(pools: Path) -> None:
    assert ipvsview.read_pools(str(pools)) == ("nftables", [NAT, DR])


def test_ipvsadm_ln_and_one_service(pools: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ipvsview.main(["-Ln"]) == 0
    out = capsys.readouterr().out
    assert "TCP  10.9.8.3:80 wrr" in out and "Route   3      4          0" in out
    assert ipvsview.main(["-L", "-n", "-t", "10.9.8.10:80"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:] == [
        "TCP  10.9.8.10:80 wrr persistent 50",
        "  -> 10.9.8.20:80                 Route   3      4          0",
    ]
    assert ipvsview.main(["-Ln", "-t", "10.9.8.99:80"]) == 1
    assert "Service not defined" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["-C"], ["-A", "-t", "10.9.8.3:80"], ["-a", "-t", "x"], ["--clear"]]
)
def test_a_change_is_refused_with_where_the_pools_come_from(
    pools: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert ipvsview.main(argv) == 2
    assert "systemctl reload keepalived" in capsys.readouterr().err


def test_no_checker_here_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipvsview, "POOL_FILE", str(tmp_path / "none.json"))
    assert ipvsview.main(["-Ln"]) == 2

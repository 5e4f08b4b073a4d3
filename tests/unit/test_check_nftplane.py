"""The forwarding planes without touching the kernel: what the nftables plane renders and
sends (a fake runner records it), refusals and approximations, and the IPVS plane's edits
(``ipvsadm -Sn`` parsed, the difference ordered so that no pool is ever empty). One test
checks the rendered ruleset with ``nft -c`` in a new network namespace (root only)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_halab.vrrp.check import nftrules
from pytest_halab.vrrp.check.ipvsplane import IpvsPlane, diff, parse_saved, render
from pytest_halab.vrrp.check.nftplane import NftPlane, find_device
from pytest_halab.vrrp.check.planes import reason, select_plane
from pytest_halab.vrrp.check.pool import Destination, PlaneError, Service

VIP = "10.9.0.3"


def svc(
    sched: str = "wrr",
    dests: Sequence[tuple[str, int, int]] = (("10.9.0.20", 0, 3), ("10.9.0.30", 8080, 1)),
    kind: str = "NAT",
    *,
    port: int = 80,
    protocol: str = "tcp",
    persistence: int = 0,
    netmask: str | None = None,
    ip: str | None = VIP,
    fwmark: int | None = None,
    family: int = socket.AF_INET,
) -> Service:
    destinations = tuple(Destination(a, p, w, kind) for a, p, w in dests)
    name = f"FWM {fwmark}" if fwmark is not None else f"[{ip}]:{protocol}:{port}"
    return Service(
        name, family, protocol, ip, port, fwmark, sched, persistence, netmask, destinations
    )


class FakeNft:
    """A runner standing in for ``nft``: it records batches and answers listings from
    `tables` (nft's JSON)."""

    def __init__(self) -> None:
        self.batches: list[str] = []
        self.tables: dict[str, list[dict[str, object]]] = {}

    def __call__(self, argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        if argv[:3] == ["nft", "-j", "list"]:
            family = argv[4]
            if family not in self.tables:
                return subprocess.CompletedProcess(argv, 1, "", "No such file or directory")
            body = {"nftables": [{"metainfo": {}}, *self.tables[family]]}
            return subprocess.CompletedProcess(argv, 0, json.dumps(body), "")
        if argv[:2] == ["nft", "-f"]:
            self.batches.append(stdin or "")
            return subprocess.CompletedProcess(argv, 0, "", "")
        raise AssertionError(argv)


def plane(fake: FakeNft | None = None) -> NftPlane:
    return NftPlane(interface="eth0", runner=fake or FakeNft(), ipip_present=lambda: False)


# --- rendering ----------------------------------------------------------------------------


def test_wrr_nat_renders_a_numgen_interval_map_over_the_weights() -> None:
    text = plane().rendered([svc()])
    h = nftrules.service_hash(svc())
    assert (
        f"add rule inet halab_lvs n_{h} meta l4proto tcp dnat ip addr . port to "
        "numgen inc mod 4 map { 0-2 : 10.9.0.20 . 80, 3 : 10.9.0.30 . 8080 }"
    ) in text
    # only for a VIP this director holds (IPVS schedules in LOCAL_IN)
    here = "fib daddr type local"
    assert f"add rule inet halab_lvs nat_prerouting {here} ip daddr {VIP} meta l4proto tcp " in text
    assert "type nat hook prerouting priority -100" in text
    assert text.index(f"add chain inet halab_lvs n_{h}") < text.index("nat_prerouting")


def test_weights_are_divided_by_their_gcd_and_weight_zero_gets_no_slot() -> None:
    s = svc(dests=(("10.9.0.20", 0, 4), ("10.9.0.30", 0, 2), ("10.9.0.40", 0, 0)))
    shares = [(d.ip, n) for d, n in nftrules.slots(s)]
    assert shares == [("10.9.0.20", 2), ("10.9.0.30", 1)]
    text = plane().rendered([s])
    assert "numgen inc mod 3 map { 0-1 : 10.9.0.20 . 80, 2 : 10.9.0.30 . 80 }" in text
    # the quiescent server stays known (its persistence and connections keep going)
    assert "10.9.0.40" in text


def test_rr_ignores_weights_sh_and_dh_hash_addresses_fo_takes_the_heaviest() -> None:
    dests = (("10.9.0.20", 0, 5), ("10.9.0.30", 0, 1))
    assert "numgen inc mod 2 map" in plane().rendered([svc("rr", dests)])
    assert "jhash ip saddr mod 6 map" in plane().rendered([svc("sh", dests)])
    assert "jhash ip daddr mod 6 map" in plane().rendered([svc("dh", dests)])
    assert "numgen inc mod 1 map { 0 : 10.9.0.20 . 80 }" in plane().rendered([svc("fo", dests)])


def test_no_server_taking_connections_drops_new_ones() -> None:
    s = svc(dests=(("10.9.0.20", 0, 0),))
    h = nftrules.service_hash(s)
    rules = [line for line in plane().rendered([s]).splitlines() if f"n_{h} " in line]
    assert rules == [f"add rule inet halab_lvs n_{h} drop"]


def test_persistence_looks_up_through_live_servers_then_schedules() -> None:
    s = svc(persistence=300, netmask="255.255.255.0")
    text = plane().rendered([s])
    assert "flags dynamic,timeout; timeout 300s;" in text
    lookup = next(
        line for line in text.splitlines() if "ct mark set ip saddr & 255.255.255.0 map" in line
    )
    assert f"ct mark @l_{nftrules.service_hash(s)} " in lookup
    assert "update @p_" in lookup and "dnat ip addr . port to ct mark map @a_" in lookup
    assert "ct mark set numgen inc mod 4 map" in text
    # refreshed by every packet of a persistent connection, before NAT
    assert "priority mangle + 10" in text and "ct mark != 0 update @p_" in text


def test_fwmark_service_with_port_zero_keeps_the_packets_port() -> None:
    s = svc("rr", (("10.9.0.20", 0, 1),), fwmark=7, ip=None, port=0)
    text = plane().rendered([s])
    assert "fib daddr type local meta nfproto ipv4 meta mark 0x7 jump n_" in text
    assert "dnat ip to numgen inc mod 1 map { 0 : 10.9.0.20 }" in text


def test_dr_renders_an_ingress_chain_with_its_own_connection_table() -> None:
    s = svc("wrr", (("10.9.0.20", 0, 3), ("10.9.0.30", 0, 1)), "DR")
    text = plane().rendered([s])
    assert 'type filter hook ingress device "eth0" priority 0' in text
    assert f"meta pkttype host ip daddr {VIP} meta l4proto tcp th dport 80 jump d_" in text
    assert "type ipv4_addr . inet_service : mark; flags dynamic,timeout" in text
    assert "fwd ip to meta mark map @a_" in text and 'device "eth0"' in text
    # known connections first (non-SYN: even to a server that left), then scheduling
    rules = [line for line in text.splitlines() if line.startswith("add rule netdev halab_lvs d_")]
    assert "tcp flags & (syn | ack) != syn" in rules[0]
    assert "meta mark set numgen inc mod 4" in rules[-2] and rules[-1].endswith(" drop")


def test_ipv6_dr_keys_connections_by_a_hash_and_forwards_with_fwd_ip6() -> None:
    s = svc("rr", (("fd00::20", 0, 1),), "DR", ip="fd00::3", protocol="udp", family=socket.AF_INET6)
    text = plane().rendered([s])
    assert "jhash ip6 saddr . th sport mod 4294967295" in text
    assert "fwd ip6 to meta mark map" in text and "ip6 daddr fd00::3" in text


def test_ipv6_nat_with_a_prefix_granularity() -> None:
    s = svc(
        "wrr", (("fd00::20", 0, 1),), ip="fd00::3", family=socket.AF_INET6,
        persistence=60, netmask="64",
    )  # fmt: skip
    text = plane().rendered([s])
    assert "ip6 saddr & ffff:ffff:ffff:ffff:: map @p_" in text
    assert "dnat ip6 addr . port to ct mark map @a_" in text
    assert "[fd00::20]" not in text and "fd00::20 . 80" in text


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None,
    reason="nft -c needs root and the nft command",
)
def test_the_kernel_accepts_the_rendered_ruleset() -> None:
    services = [
        svc(),
        svc("wlc", port=81, persistence=5, netmask="255.255.255.0"),
        svc("rr", (("10.9.0.20", 0, 1), ("10.9.0.30", 0, 2)), "DR", port=82, persistence=5),
        svc("sh", (("fd00::20", 0, 1),), "DR", ip="fd00::3", protocol="udp",
            port=53, family=socket.AF_INET6),
        svc("rr", (("10.9.0.20", 0, 1),), fwmark=7, ip=None, port=0),
        svc("wrr", (("fd00::20", 0, 1),), ip="fd00::3", family=socket.AF_INET6,
            persistence=60, netmask="64"),
        svc("sh", (("10.9.0.20", 0, 1),), protocol="sctp", port=9),
    ]  # fmt: skip
    text = NftPlane(interface="lo").rendered(services)
    done = subprocess.run(
        ["unshare", "--net", "nft", "-c", "-f", "-"],
        input=text, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# --- applying: what changes is sent, nothing when nothing changes ------------------------


def _kernel_from(fake: FakeNft, p: NftPlane, services: Sequence[Service]) -> None:
    """Make the fake kernel hold the objects `services` render to (empty dynamic maps)."""
    for family in ("inet", "netdev"):
        fake.tables[family] = []
    for obj in p.desired(services, {}):
        fake.tables[obj.family].append({obj.kind: {"name": obj.name}})


def test_applying_the_same_state_twice_sends_nothing_the_second_time() -> None:
    fake = FakeNft()
    p = plane(fake)
    p.apply([svc()])
    assert len(fake.batches) == 1
    _kernel_from(fake, p, [svc()])
    p.apply([svc()])
    assert len(fake.batches) == 1


def test_a_changed_pool_is_one_batch_with_only_that_service() -> None:
    fake = FakeNft()
    p = plane(fake)
    a, b = svc(), svc("rr", port=81)
    p.apply([a, b])
    _kernel_from(fake, p, [a, b])
    a2 = svc(dests=(("10.9.0.20", 0, 1),))
    p.apply([a2, b])
    batch = fake.batches[-1]
    ha, hb = nftrules.service_hash(a), nftrules.service_hash(b)
    assert f"flush chain inet halab_lvs n_{ha}" in batch
    assert f"n_{hb}" not in batch  # untouched: its numgen counter goes on
    assert "10.9.0.30" not in batch


def test_dynamic_maps_are_never_flushed_and_removed_services_are_deleted() -> None:
    fake = FakeNft()
    p = plane(fake)
    a = svc(persistence=30)
    b = svc("rr", (("10.9.0.20", 0, 1),), "DR", port=81)
    p.apply([a, b])
    _kernel_from(fake, p, [a, b])
    p.apply([svc(dests=(("10.9.0.20", 0, 1),), persistence=30)])
    batch = fake.batches[-1]
    assert "flush map inet halab_lvs p_" not in batch and "add map inet halab_lvs p_" not in batch
    hb = nftrules.service_hash(b)
    assert f"delete chain netdev halab_lvs d_{hb}" in batch
    assert batch.index(f"flush chain netdev halab_lvs d_{hb}") < batch.index(
        f"delete chain netdev halab_lvs d_{hb}"
    )
    assert batch.index(f"delete chain netdev halab_lvs d_{hb}") < batch.index(
        "delete map netdev halab_lvs c_"
    )


def test_persistence_entries_of_a_server_that_left_are_deleted() -> None:
    fake = FakeNft()
    p = plane(fake)
    both = svc(persistence=30)
    p.apply([both])
    _kernel_from(fake, p, [both])
    gone = next(d for d in both.destinations if d.ip == "10.9.0.30")
    for item in fake.tables["inet"]:
        body = item.get("map")
        if isinstance(body, dict) and str(body["name"]).startswith("p_"):
            body["elem"] = [
                [{"elem": {"val": "10.9.0.100", "expires": 20}}, nftrules.server_id(gone)],
                [{"elem": {"val": "10.9.0.101", "expires": 20}}, 12345],
            ]
    p.apply([svc(dests=(("10.9.0.20", 0, 1),), persistence=30)])
    batch = fake.batches[-1]
    assert f"{{ 10.9.0.100 : {nftrules.server_id(gone):#x} }}" in batch
    assert "delete element inet halab_lvs p_" in batch and "{ 10.9.0.100 }" in batch
    assert "{ 10.9.0.101 }" in batch  # 12345 is no server of the pool either


def test_a_dr_server_that_left_stays_reachable_for_its_connections() -> None:
    fake = FakeNft()
    p = plane(fake)
    both = svc("rr", (("10.9.0.20", 0, 1), ("10.9.0.30", 0, 1)), "DR")
    p.apply([both])
    for family in ("inet", "netdev"):
        fake.tables[family] = []
    for obj in p.desired([both], {}):
        entry: dict[str, object] = {"name": obj.name}
        if obj.name.startswith("a_"):
            entry["elem"] = [[int(e.split(" : ")[0], 16), e.split(" : ")[1]] for e in obj.elements]
        if obj.name.startswith("l_"):
            entry["elem"] = [int(e, 16) for e in obj.elements]
        fake.tables[obj.family].append({obj.kind: entry})
    p.apply([svc("rr", (("10.9.0.20", 0, 1),), "DR")])
    batch = fake.batches[-1]
    # the address map is left as it is (10.9.0.30 kept: it was in the pool until now) ...
    assert "map netdev halab_lvs a_" not in batch and "10.9.0.30" not in batch
    # ... but it can no longer be chosen: the live set and the scheduler lost it
    assert "add element netdev halab_lvs l_" in batch and "numgen inc mod 1 map" in batch
    # a second apply whose read no longer shows it in the pool nor in a connection drops it
    for item in fake.tables["netdev"]:
        body = item.get("set")
        if isinstance(body, dict) and str(body["name"]).startswith("l_"):
            body["elem"] = [nftrules.server_id(Destination("10.9.0.20", 0, 1, "DR"))]
    p.apply([svc("rr", (("10.9.0.20", 0, 1),), "DR")])
    assert "10.9.0.30" not in fake.batches[-1].split("add element netdev halab_lvs a_")[1]


def test_clear_deletes_the_tables_it_made() -> None:
    fake = FakeNft()
    p = plane(fake)
    fake.tables["inet"] = []
    p.clear()
    assert fake.batches == ["delete table inet halab_lvs\n"]


def test_a_refused_batch_is_a_plane_error() -> None:
    def refusing(argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        if "-f" in argv:
            return subprocess.CompletedProcess(list(argv), 1, "", "Error: syntax error")
        return subprocess.CompletedProcess(list(argv), 1, "", "")

    with pytest.raises(PlaneError, match="syntax error"):
        NftPlane(interface="eth0", runner=refusing).apply([svc()])


# --- refusals and approximations ---------------------------------------------------------


def test_tun_is_refused_and_says_why() -> None:
    tun = svc(dests=(("10.9.0.20", 0, 1),), kind="TUN")
    assert "LVS-TUN needs ipip, which this kernel lacks" in (plane().refusal(tun) or "")
    with_ipip = NftPlane(interface="eth0", runner=FakeNft(), ipip_present=lambda: True)
    assert "cannot encapsulate" in (with_ipip.refusal(tun) or "")
    with pytest.raises(PlaneError, match="LVS-TUN"):
        plane().apply([tun])


def test_other_refusals() -> None:
    p = plane()
    assert "unknown protocol" in (p.refusal(svc(protocol="icmp")) or "")
    mixed = Service(
        "m", socket.AF_INET, "tcp", VIP, 80, None, "rr", 0, None,
        (Destination("10.9.0.20", 0, 1, "NAT"), Destination("10.9.0.30", 0, 1, "DR")),
    )  # fmt: skip
    assert "different lb_kind" in (p.refusal(mixed) or "")
    fwm_dr = svc("rr", (("10.9.0.20", 0, 1),), "DR", fwmark=1, ip=None, port=0)
    assert "fwmark" in (p.refusal(fwm_dr) or "")
    v6_in_v4 = svc("rr", (("fd00::20", 0, 1),))
    assert "family" in (p.refusal(v6_in_v4) or "")
    assert p.refusal(svc()) is None


def test_approximations_are_said_once_per_service() -> None:
    p = plane()
    assert p.approximations(svc("wrr")) == []
    assert p.approximations(svc("wlc")) == [
        "wlc runs as wrr here: nftables has no connection counts"
    ]
    assert p.approximations(svc("mh"))[0].startswith("mh runs as sh")
    assert len(p.approximations(svc("lblcr"))) == 1
    assert any("not balanced" in s for s in p.approximations(svc(kind="DR")))


def test_find_device_prefers_the_holder_then_the_subnet_then_the_route() -> None:
    addrs = [
        {"ifname": "lo", "addr_info": [{"local": "127.0.0.1", "prefixlen": 8}]},
        {"ifname": "eth0", "addr_info": [{"local": "10.9.0.10", "prefixlen": 24}]},
        {"ifname": "eth1", "addr_info": [{"local": "10.9.0.3", "prefixlen": 32}]},
    ]

    def runner(argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        if "addr" in argv:
            return subprocess.CompletedProcess(list(argv), 0, json.dumps(addrs), "")
        return subprocess.CompletedProcess(list(argv), 0, json.dumps([{"dev": "eth9"}]), "")

    assert find_device("10.9.0.3", runner) == "eth1"
    assert find_device("10.9.0.77", runner) == "eth0"
    assert find_device("192.0.2.1", runner) == "eth9"


# --- the IPVS plane ----------------------------------------------------------------------

SAVED = """\
-A -t 10.9.0.3:80 -s wrr
-a -t 10.9.0.3:80 -r 10.9.0.20:80 -m -w 3
-a -t 10.9.0.3:80 -r 10.9.0.30:8080 -m -w 1
-A -u [fd00::3]:53 -s rr -p 60 -M 64
-a -u [fd00::3]:53 -r [fd00::20]:53 -g -w 1
-A -f 7 -6 -s sh
"""


class FakeIpvsadm:
    def __init__(self, saved: str) -> None:
        self.saved = saved
        self.restored: list[str] = []

    def __call__(self, argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
        if list(argv) == ["ipvsadm", "-Sn"]:
            return subprocess.CompletedProcess(list(argv), 0, self.saved, "")
        assert list(argv) == ["ipvsadm-restore"]
        self.restored.append(stdin or "")
        return subprocess.CompletedProcess(list(argv), 0, "", "")


def test_ipvs_renders_what_ipvsadm_saves() -> None:
    services = [
        svc(),
        svc("rr", (("fd00::20", 0, 1),), "DR", ip="fd00::3", protocol="udp", port=53,
            persistence=60, netmask="64", family=socket.AF_INET6),
        Service("FWM 7", socket.AF_INET6, "tcp", None, 0, 7, "sh", 0, None, ()),
    ]  # fmt: skip
    assert render(services) == parse_saved(SAVED)
    fake = FakeIpvsadm(SAVED)
    IpvsPlane(runner=fake).apply(services)
    assert fake.restored == []  # nothing to change


def test_ipvs_diff_adds_before_it_removes_and_edits_weights_in_place() -> None:
    current = parse_saved(SAVED)
    desired = render(
        [
            svc(dests=(("10.9.0.20", 0, 1), ("10.9.0.40", 0, 1))),
            svc("wlc", port=443, dests=(("10.9.0.20", 0, 1),)),
        ]
    )
    lines = diff(current, desired)
    assert lines == [
        "-A -t 10.9.0.3:443 -s wlc",
        "-a -t 10.9.0.3:443 -r 10.9.0.20:443 -m -w 1",
        "-a -t 10.9.0.3:80 -r 10.9.0.40:80 -m -w 1",
        "-e -t 10.9.0.3:80 -r 10.9.0.20:80 -m -w 1",
        "-d -t 10.9.0.3:80 -r 10.9.0.30:8080",
        "-D -u [fd00::3]:53",
        "-D -f 7 -6",
    ]


def test_ipvs_scheduler_change_is_an_edit_and_clear_deletes_everything() -> None:
    current = parse_saved(SAVED)
    desired = render([svc("wlc", persistence=300, netmask="255.255.255.0")])
    assert diff(current, desired)[0] == "-E -t 10.9.0.3:80 -s wlc -p 300 -M 255.255.255.0"
    fake = FakeIpvsadm(SAVED)
    IpvsPlane(runner=fake).clear()
    assert fake.restored == ["-D -t 10.9.0.3:80\n-D -u [fd00::3]:53\n-D -f 7 -6\n"]


def test_ipvs_refusals_and_availability(tmp_path: Path) -> None:
    p = IpvsPlane(runner=FakeIpvsadm(""))
    assert p.refusal(svc(kind="TUN")) is None  # IPVS encapsulates itself
    assert "unknown protocol" in (p.refusal(svc(protocol="icmp")) or "")
    assert p.approximations(svc("wlc")) == []
    assert not IpvsPlane.available(tmp_path / "ip_vs")
    (tmp_path / "ip_vs").write_text("")
    assert IpvsPlane.available(tmp_path / "ip_vs")


def test_select_plane_picks_by_proc_net_ip_vs(tmp_path: Path) -> None:
    missing = tmp_path / "ip_vs"
    assert select_plane(proc=missing).name == "nftables"
    assert reason(missing) == f"nftables: this kernel has no IP_VS ({missing} missing)"
    missing.write_text("")
    assert select_plane(proc=missing).name == "ipvs"
    assert reason(missing).startswith("ipvs: this kernel has IP_VS")

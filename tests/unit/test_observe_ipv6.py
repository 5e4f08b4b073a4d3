"""IPv6 in the observation: halab-observe's unsolicited-NA events, its capture filter and
netlink reader for IPv6 addresses, canonical IPv6 text in the timeline, and the measures of
an IPv6 VIP (its "first GARP" is its first NA; adverts from link-local addresses)."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRPv3
from test_keepalived_fifo import _load_observer, _run_bpf  # the observer, its filter run

from pytest_halab.measures import MeasureContext, VipInfo, measure, phase_s, takeover_s
from pytest_halab.timeline import Event, Timeline, bare_addr

obs = _load_observer()

VIP6 = "fd68:616c:6162:700::3"
MAC2 = "02:42:0a:d5:07:0b"
TS = 1_795_325_900.1234564


def unsolicited_na(target: str = VIP6, **ip: Any) -> bytes:
    """An unsolicited NA as keepalived 2.2.7 sends it (seen in the lab): from the VIP to
    ff02::1, hop limit 255, Override only, the target link-layer address option."""
    fields = {"src": target, "dst": "ff02::1", "hlim": 255, **ip}
    return bytes(
        Ether(src=MAC2, dst="33:33:00:00:00:01")
        / IPv6(**fields)
        / ICMPv6ND_NA(tgt=target, R=0, S=0, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=MAC2)
    )


def test_an_unsolicited_na_becomes_an_na_event() -> None:
    line = json.dumps(obs.capture_event(unsolicited_na(), TS), separators=(",", ":"))
    assert line == (
        '{"ts":1795325900.123456,"kind":"na","addr":"fd68:616c:6162:700::3",'
        '"mac":"02:42:0a:d5:07:0b","src":"fd68:616c:6162:700::3","dst":"ff02::1",'
        '"hop_limit":255,"flags":["override"]}'
    )
    ev = Event.from_json(line, node="client")
    assert ev.kind == "na" and ev.get("addr") == VIP6


def test_the_na_target_is_written_canonically_and_the_mac_falls_back_to_the_frame() -> None:
    frame = bytes(
        Ether(src=MAC2)
        / IPv6(src="fe80::1", dst="ff02::1", hlim=255)
        / ICMPv6ND_NA(tgt="FD68:616C:6162:0700:0:0:0:3", R=1, S=0, O=1)
    )
    rec = obs.capture_event(frame, TS)
    assert rec is not None
    assert (rec["addr"], rec["mac"], rec["flags"]) == (VIP6, MAC2, ["router", "override"])


def test_what_is_no_announcement_makes_no_event() -> None:
    solicited = bytes(
        Ether(src=MAC2)
        / IPv6(src=VIP6, dst="fd68:616c:6162:700::100", hlim=255)
        / ICMPv6ND_NA(tgt=VIP6, S=1, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=MAC2)
    )
    ns = bytes(
        Ether(src=MAC2)
        / IPv6(src="fe80::1", dst="ff02::1:ff00:3", hlim=255)
        / ICMPv6ND_NS(tgt=VIP6)
        / ICMPv6NDOptSrcLLAddr(lladdr=MAC2)
    )
    for frame in (solicited, ns, unsolicited_na()[:60], b"\x00" * 12 + b"\x86\xdd"):
        assert obs.capture_event(frame, TS) is None, frame.hex()


def test_the_capture_filter_lets_ipv6_vrrp_and_nas_through_only() -> None:
    kept = [
        unsolicited_na(),
        bytes(Ether() / IPv6(src="fe80::1", dst="ff02::12", hlim=255) / VRRPv3(vrid=56)),
    ]
    dropped = [
        bytes(Ether() / IPv6(src="fe80::1", dst="ff02::1:ff00:3") / ICMPv6ND_NS(tgt=VIP6)),
        bytes(
            Ether() / IPv6(src="fe80::1", dst="ff02::16", nh=0) / (b"\x3a\x00" + b"\x00" * 30)
        ),  # MLD
    ]
    for frame in kept:
        assert _run_bpf(obs.VRRP_AND_ARP_FILTER, frame) == 0x40000, frame.hex()
    for frame in dropped:
        assert _run_bpf(obs.VRRP_AND_ARP_FILTER, frame) == 0, frame.hex()


def _rtm_newaddr6(addr: str, index: int = 1) -> bytes:
    """One RTM_NEWADDR message for an IPv6 address (ifaddrmsg + IFA_ADDRESS)."""
    rta = struct.pack("=HH", 20, 1) + socket.inet_pton(socket.AF_INET6, addr)
    body = struct.pack("=BBBBI", socket.AF_INET6, 128, 0, 0, index) + rta
    return struct.pack("=LHHLL", 16 + len(body), 20, 0, 0, 0) + body


class _OneShot:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, _n: int) -> bytes:
        return self.data


def test_netlink_reports_a_watched_ipv6_address_canonically(
    capsys: pytest.CaptureFixture[str],
) -> None:
    watch = {obs.canonical("FD68:616C:6162:700:0::3")}
    obs.read_netlink(_OneShot(_rtm_newaddr6(VIP6) + _rtm_newaddr6("fd00::9")), watch, TS)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(x["kind"], x["addr"]) for x in lines] == [("vip_added", VIP6)]


def test_ipv6_text_forms_compare_canonically_in_the_timeline() -> None:
    assert bare_addr("FD68:616C:6162:0700:0000:0000:0000:0003/128") == VIP6
    assert bare_addr("10.0.0.3/24") == "10.0.0.3"
    tl = Timeline(
        [Event(TS, "lb2", "vip_added", {"addr": "FD68:616C:6162:700:0:0:0:3"})],
        vips={"VI_6": "fd68:616c:6162:700:0::3/64"},
    )
    assert tl.vips == {"VI_6": VIP6}
    assert tl.vip_of(tl[0]) == "VI_6" and len(tl.for_vip("VI_6")) == 1


LL1, LL2 = "fe80::42:aff:fed5:70a", "fe80::42:aff:fed5:70b"


def test_an_ipv6_vip_is_measured_by_its_first_na_and_its_link_local_adverts() -> None:
    t0 = 1_800_000_000.0

    def ev(ms: float, node: str, kind: str, **data: Any) -> Event:
        return Event(t0 + ms / 1000, node, kind, data)

    def advert(ms: float, src: str, prio: int, vrid: int = 50) -> Event:
        return ev(ms, "client", "advert", src=src, dst="ff02::12", vrid=vrid, priority=prio)

    events = [
        advert(-900, LL1, 150),
        advert(-900, "10.213.7.10", 150),  # the IPv4 instance, same VRID: not this VIP's
        advert(-100, "10.213.7.10", 150),
        ev(0, "lab", "fault", name="crash_node", phase="inject", target="lb1"),
        ev(3000, "client", "garp", addr="10.213.7.3", mac=MAC2),  # the IPv4 VIP's
        advert(3600, "10.213.7.11", 100),
        advert(3609, LL2.upper(), 100),
        ev(3610, "lb2", "vip_added", addr=VIP6, dev="eth0"),
        ev(3611, "client", "na", addr=VIP6, mac=MAC2, dst="ff02::1", hop_limit=255),
    ]
    tl = Timeline(events, vips={"VI_6": VIP6, "VI_1": "10.213.7.3"})
    ctx = MeasureContext(
        node_addrs={"lb1": "10.213.7.10", "lb2": "10.213.7.11"},
        node_addrs6={"lb1": LL1, "lb2": LL2},
        node_macs={"lb2": MAC2},
        vips={"VI_6": VipInfo(VIP6, vrid=50), "VI_1": VipInfo("10.213.7.3", vrid=50)},
        initial_holders={"VI_6": frozenset({"lb1"})},
    )
    m = measure(tl, ctx, "VI_6", at=t0, new_holder="lb2")
    assert m.new_holder == "lb2" and m.vip_move_s == 3.61 and m.garp_s == 3.611
    assert m.detection_s == 3.609 and m.detection_source == "advert"
    assert takeover_s(tl, ctx, m) == 4.509  # lb1's last IPv6 advert at -900 ms
    assert phase_s(tl, ctx, m) == 0.9

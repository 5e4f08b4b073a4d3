"""VRRP over IPv6 (RFC 5798 5.1.2, 5.2.8) and unsolicited neighbour advertisements
(RFC 4861 7.2.6), checked against scapy, an implementation independent of ours."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet6 import ICMPv6ND_NA, ICMPv6NDOptDstLLAddr, IPv6, in6_chksum
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRPv3
from scapy.packet import Raw

from pytest_halab.vrrp.garp import build_na_frame
from pytest_halab.vrrp.net import AddressInfo, Netlink, _parse_addr
from pytest_halab.vrrp.packet import (
    VRRP_MCAST_GROUP6,
    VRRP_PROTO,
    MalformedPacket,
    ReceiveExpectation,
    VrrpAdvert,
    build_ipv6_header,
    check_advert,
    decode,
    decode_frame,
    encode,
    mcast_group,
    parse_ip,
    parse_ipv6,
)

SRC6 = "fe80::1:2ff:fe03:405"
DST6 = VRRP_MCAST_GROUP6
VIPS6 = ("fe80::61:100", "fd77::100", "2001:db8::10")


def v3(**kw: object) -> VrrpAdvert:
    base: dict[str, object] = {
        "version": 3,
        "vrid": 61,
        "priority": 150,
        "advert_int": 10,
        "addresses": VIPS6,
    }
    base.update(kw)
    return VrrpAdvert(**base)  # type: ignore[arg-type]


def scapy6(payload: bytes, src: str = SRC6, dst: str = DST6, hlim: int = 255) -> IPv6:
    return IPv6(bytes(IPv6(src=src, dst=dst, hlim=hlim, nh=VRRP_PROTO) / Raw(payload)))


def test_the_group_of_each_family() -> None:
    assert (mcast_group(4), mcast_group(6)) == ("224.0.0.18", "ff02::12")


def test_an_ipv6_advert_is_dissected_by_scapy_with_its_checksum() -> None:
    advert = v3()
    data = encode(advert, SRC6, DST6)
    assert len(data) == 8 + 16 * 3 == advert.length
    layer = scapy6(data)[VRRPv3]
    assert (layer.version, layer.type, layer.vrid, layer.priority) == (3, 1, 61, 150)
    assert (layer.ipcount, layer.adv) == (3, 10)
    assert tuple(layer.addrlist) == VIPS6
    rebuilt = IPv6(src=SRC6, dst=DST6, hlim=255) / VRRPv3(
        vrid=61, priority=150, adv=10, addrlist=list(VIPS6)
    )
    assert bytes(rebuilt[VRRPv3]) == data, "scapy sums the IPv6 pseudo-header the same way"


def test_scapy_built_ipv6_advert_decodes() -> None:
    pkt = IPv6(src=SRC6, dst=DST6, hlim=255) / VRRPv3(
        vrid=7, priority=100, adv=100, addrlist=["fd00::1"]
    )
    wire = IPv6(bytes(pkt))
    advert = decode(bytes(wire[VRRPv3]), SRC6, DST6)
    assert (advert.family, advert.addresses, advert.advert_interval) == (6, ("fd00::1",), 1.0)


def test_v2_over_ipv6_carries_the_pseudo_header_checksum() -> None:
    """keepalived (non-strict, explicit ``version 2``) runs v2 over IPv6, without the 8
    auth octets (its vrrp_pkt_len adds them over IPv4 only); the kernel sums it as any
    IPv6 upper layer (IPV6_CHECKSUM), pseudo-header included."""
    advert = VrrpAdvert(version=2, vrid=9, priority=100, advert_int=1, addresses=("fd00::9",))
    data = encode(advert, SRC6, DST6)
    assert len(data) == 8 + 16
    zeroed = data[:6] + b"\0\0" + data[8:]
    theirs = in6_chksum(VRRP_PROTO, IPv6(src=SRC6, dst=DST6), zeroed)  # type: ignore[no-untyped-call]
    assert struct.unpack_from("!H", data, 6)[0] == theirs
    assert decode(data, SRC6, DST6) == advert


def test_a_wrong_pseudo_header_fails_the_checksum() -> None:
    data = encode(v3(), SRC6, DST6)
    with pytest.raises(MalformedPacket, match="checksum"):
        decode(data, "fe80::2", DST6)


def test_families_must_agree() -> None:
    with pytest.raises(ValueError, match="one family"):
        VrrpAdvert(version=3, vrid=1, priority=1, advert_int=1, addresses=("10.0.0.1", "fd::1"))
    with pytest.raises(ValueError, match="cannot be sent"):
        encode(v3(), "10.0.0.1", "224.0.0.18")
    with pytest.raises(ValueError, match="one family"):
        decode(encode(v3(), SRC6, DST6), SRC6, "224.0.0.18")


def test_an_ipv4_length_is_malformed_over_ipv6() -> None:
    v4 = VrrpAdvert(version=3, vrid=1, priority=1, advert_int=100, addresses=("10.0.0.1",))
    with pytest.raises(MalformedPacket, match="length"):
        decode(encode(v4, "10.0.0.2", "224.0.0.18"), SRC6, DST6)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.ip_addresses(v=6).map(str), min_size=0, max_size=20),
    st.integers(1, 255),
    st.integers(0, 255),
    st.integers(0, 0x0FFF),
)
def test_round_trip_any_ipv6_advert(
    addresses: list[str], vrid: int, priority: int, interval: int
) -> None:
    advert = VrrpAdvert(
        version=3,
        vrid=vrid,
        priority=priority,
        advert_int=interval,
        addresses=tuple(addresses),
        family=6,
    )
    assert decode(encode(advert, SRC6, DST6), SRC6, DST6) == advert


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_random_bytes_over_ipv6_only_raise_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        decode(data, SRC6, DST6)


def test_receive_checks_compare_ipv6_addresses_canonically() -> None:
    expected = ReceiveExpectation(
        version=3, vrid=61, advert_int=10, addresses=("FD77:0::100", "fe80::61:100")
    )
    advert = v3(addresses=("fe80::61:100", "fd77::100"))
    assert check_advert(advert, 255, expected, src=SRC6, dst=DST6) is None
    drop = check_advert(advert, 64, expected, src=SRC6, dst=DST6)
    assert drop is not None and drop.code == "ttl"
    drop = check_advert(advert, 255, expected, src=SRC6, dst="fd77::1")
    assert drop is not None and drop.code == "cast"
    unicast = ReceiveExpectation(
        version=3,
        vrid=61,
        advert_int=10,
        addresses=advert.addresses,
        unicast_peers=("fd77::2",),
        check_unicast_src=True,
    )
    assert check_advert(advert, 64, unicast, src="fd77::2", dst="fd77::1") is None
    drop = check_advert(advert, 64, unicast, src="fd77::3", dst="fd77::1")
    assert drop is not None and drop.code == "unicast_source"


# --- IPv6 packets and frames -------------------------------------------------------------


def test_ipv6_header_matches_scapy() -> None:
    ours = build_ipv6_header(SRC6, DST6, 20)
    theirs = bytes(IPv6(src=SRC6, dst=DST6, hlim=255, nh=112, tc=0xC0, plen=20))
    assert ours == theirs


def test_parse_ipv6_skips_extension_headers_and_refuses_fragments() -> None:
    from scapy.layers.inet6 import IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop

    data = encode(v3(), SRC6, DST6)
    chained = IPv6(src=SRC6, dst=DST6, hlim=255, nh=0) / IPv6ExtHdrHopByHop(nh=60)
    chained = chained / IPv6ExtHdrDestOpt(nh=112) / Raw(data)
    parsed = parse_ipv6(bytes(chained))
    assert (parsed.src, parsed.ttl, parsed.proto, parsed.payload) == (SRC6, 255, 112, data)
    raw = bytes(IPv6(src=SRC6, dst=DST6, nh=0) / IPv6ExtHdrHopByHop(nh=112) / Raw(data))
    parsed = parse_ip(raw)
    assert (parsed.proto, parsed.payload) == (112, data)
    frag = bytes(IPv6(src=SRC6, dst=DST6) / IPv6ExtHdrFragment(nh=112) / Raw(data))
    with pytest.raises(MalformedPacket, match="fragment"):
        parse_ipv6(frag)
    with pytest.raises(MalformedPacket, match="payload length"):
        parse_ipv6(raw + b"\0")


def test_an_ipv6_frame_decodes() -> None:
    data = encode(v3(), SRC6, DST6)
    frame = (
        Ether(src="02:00:00:00:00:01", dst="33:33:00:00:00:12")
        / IPv6(src=SRC6, dst=DST6, hlim=255, nh=112)
        / Raw(data)
    )
    got = decode_frame(bytes(frame))
    assert got is not None
    assert (got.src, got.dst, got.ttl, got.addresses) == (SRC6, DST6, 255, VIPS6)
    assert got.src_mac == "02:00:00:00:00:01"
    # an IPv6 packet behind an IPv4 ethertype, or a neighbour advertisement, is no advert
    wrong = bytes(frame)[:12] + b"\x08\x00" + bytes(frame)[14:]
    assert decode_frame(wrong) is None
    assert decode_frame(build_na_frame(b"\x02\0\0\0\0\1", "fd77::100")) is None


# --- neighbour advertisements ----------------------------------------------------------

MAC = b"\x02\x42\xac\x11\x00\x0a"


@pytest.mark.parametrize("router", [False, True])
def test_unsolicited_na_is_what_scapy_dissects(router: bool) -> None:
    frame = Ether(build_na_frame(MAC, "fd77::100", router=router))
    assert (frame.dst, frame.src) == ("33:33:00:00:00:01", "02:42:ac:11:00:0a")
    ip, na = frame[IPv6], frame[ICMPv6ND_NA]
    assert (ip.src, ip.dst, ip.hlim, ip.nh, ip.tc, ip.plen) == (
        "fd77::100",
        "ff02::1",
        255,
        58,
        0,
        32,
    )
    assert (na.type, na.code, na.R, na.S, na.O, na.tgt) == (136, 0, int(router), 0, 1, "fd77::100")
    assert frame[ICMPv6NDOptDstLLAddr].lladdr == "02:42:ac:11:00:0a"
    sent = na.cksum
    del na.cksum
    assert Ether(bytes(frame))[ICMPv6ND_NA].cksum == sent


# --- addresses from the kernel ---------------------------------------------------------


def _ifaddrmsg(family: int, address: bytes, prefixlen: int, flags: int) -> bytes:
    body = struct.pack("=BBBBI", family, prefixlen, flags & 0xFF, 253, 2)
    attr = struct.pack("=HH", 4 + len(address), 1) + address  # IFA_ADDRESS
    flags_attr = struct.pack("=HHI", 8, 8, flags)  # IFA_FLAGS
    return body + attr + flags_attr


def test_ipv6_addresses_are_read_with_their_dad_state() -> None:
    packed = ipaddress.IPv6Address("fe80::1").packed
    info = _parse_addr(_ifaddrmsg(socket.AF_INET6, packed, 64, 0x40))  # tentative
    assert info == AddressInfo(2, "fe80::1", 64, "", False, family=6, tentative=True)
    assert info.link_local
    info = _parse_addr(_ifaddrmsg(socket.AF_INET6, packed, 64, 0x80))  # permanent
    assert info is not None and not info.tentative


class _Addresses:
    def __init__(self, addrs: list[AddressInfo]) -> None:
        self.addrs = addrs

    def addresses(self, index: int | None = None, family: int = 4) -> list[AddressInfo]:
        return [a for a in self.addrs if a.family == family and index in (None, a.index)]


def test_an_ipv6_instance_sends_from_a_settled_link_local_address() -> None:
    addrs = [
        AddressInfo(2, "fd77::1", 64, "", False, family=6),
        AddressInfo(2, "fe80::61:100", 64, "", False, family=6),
        AddressInfo(2, "fe80::aa", 64, "", False, family=6, tentative=True),
        AddressInfo(2, "fe80::bb", 64, "", False, family=6),
        AddressInfo(2, "10.0.0.1", 24, "", False),
    ]
    fake = _Addresses(addrs)
    pick = Netlink.primary_address
    assert pick(fake, 2, frozenset({"fe80::61:100"}), 6) == "fe80::bb"  # type: ignore[arg-type]
    assert pick(fake, 2, frozenset(), 4) == "10.0.0.1"  # type: ignore[arg-type]
    only_tentative = _Addresses([addrs[2]])
    assert pick(only_tentative, 2, frozenset(), 6) == "fe80::aa"  # type: ignore[arg-type]
    assert pick(_Addresses(addrs[:1]), 2, frozenset(), 6) is None  # type: ignore[arg-type]

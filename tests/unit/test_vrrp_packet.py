"""VRRP packet encode/decode, checked against scapy's independent VRRP layers."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRP, VRRPv3
from scapy.packet import Packet, Raw

from pytest_halab.vrrp.packet import (
    VRRP_MCAST_GROUP,
    VRRP_PROTO,
    AuthType,
    DropReason,
    MalformedPacket,
    ReceiveExpectation,
    VrrpAdvert,
    VrrpFrame,
    build_ipv4_header,
    check_advert,
    decode,
    decode_frame,
    encode,
    internet_checksum,
    interval_field,
    parse_ipv4,
    password_auth_data,
)

SRC = "192.168.200.1"
DST = VRRP_MCAST_GROUP
VIPS = ("192.168.200.16", "192.168.200.17", "10.0.0.1")


def v2(**kw: object) -> VrrpAdvert:
    base: dict[str, object] = {
        "version": 2,
        "vrid": 51,
        "priority": 100,
        "advert_int": 1,
        "addresses": VIPS,
    }
    base.update(kw)
    return VrrpAdvert(**base)  # type: ignore[arg-type]


def v3(**kw: object) -> VrrpAdvert:
    base: dict[str, object] = {
        "version": 3,
        "vrid": 51,
        "priority": 100,
        "advert_int": 100,
        "addresses": VIPS,
    }
    base.update(kw)
    return VrrpAdvert(**base)  # type: ignore[arg-type]


def scapy_packet(payload: bytes, src: str = SRC, dst: str = DST) -> IP:
    """Our VRRP bytes behind a scapy IP header, re-dissected by scapy."""
    raw = IP(src=src, dst=dst, ttl=255, proto=VRRP_PROTO) / Raw(payload)
    return IP(bytes(raw))


# --- known answers, laid out by hand from RFC 3768 5.1 / RFC 5798 5.1 -------------------

# keepalived's sample instance: VRID 51, priority 100, advert_int 1, auth PASS "1111",
# one VIP 192.168.200.16. The checksum was summed by hand:
# 2133+6401+0101+c0a8+c810+3131+3131 = 2714f -> 7151 -> ~ = 8eae
KNOWN_V2 = bytes.fromhex("21 33 64 01 01 01 8e ae c0 a8 c8 10 31 31 31 31 00 00 00 00")
# The same as VRRPv3 (100 cs) from 192.168.200.1 to 224.0.0.18; pseudo-header
# c0a8 c801 e000 0012 0070 000c, sum with the message 48787 -> 878b -> ~ = 7874.
KNOWN_V3 = bytes.fromhex("31 33 64 01 00 64 78 74 c0 a8 c8 10")


def test_known_v2_vector() -> None:
    advert = v2(
        addresses=("192.168.200.16",),
        auth_type=AuthType.PASS,
        auth_data=password_auth_data("1111"),
    )
    assert encode(advert, SRC, DST) == KNOWN_V2
    decoded = decode(KNOWN_V2, SRC, DST)
    assert decoded == advert
    assert decoded.checksum == 0x8EAE
    assert decoded.auth_data == b"1111\0\0\0\0"


def test_known_v3_vector() -> None:
    advert = v3(addresses=("192.168.200.16",))
    assert encode(advert, SRC, DST) == KNOWN_V3
    decoded = decode(KNOWN_V3, SRC, DST)
    assert decoded == advert
    assert decoded.checksum == 0x7874
    assert decoded.advert_interval == 1.0


def test_v3_checksum_depends_on_pseudo_header() -> None:
    with pytest.raises(MalformedPacket, match="checksum"):
        decode(KNOWN_V3, "192.168.200.2", DST)
    # summed over the group, it is right only as an old-style unicast checksum
    assert decode(KNOWN_V3, SRC, "192.168.200.2").old_checksum
    assert not decode(KNOWN_V3, SRC, DST).old_checksum
    # v2 checksums cover the message only.
    assert decode(KNOWN_V2, "10.9.9.9", "10.8.8.8").vrid == 51


# --- round trips -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "advert",
    [
        v2(),
        v2(addresses=()),
        v2(priority=255, advert_int=255, vrid=1),
        v2(priority=0, vrid=255),
        v2(auth_type=AuthType.PASS, auth_data=b"secret"),
        v3(),
        v3(advert_int=1, priority=254),
        v3(advert_int=4095, addresses=("0.0.0.0", "255.255.255.255")),
        v3(addresses=tuple(f"10.1.{i // 256}.{i % 256}" for i in range(255))),
    ],
    ids=repr,
)
def test_round_trip(advert: VrrpAdvert) -> None:
    data = encode(advert, SRC, DST)
    assert len(data) == advert.length
    decoded = decode(data, SRC, DST)
    assert decoded == advert
    assert decoded.checksum == struct.unpack_from("!H", data, 6)[0]
    assert encode(decoded, SRC, DST) == data


def test_intervals() -> None:
    assert v2(advert_int=3).advert_interval == 3.0
    assert v3(advert_int=35).advert_interval == 0.35
    assert interval_field(2, 1.0) == 1
    assert interval_field(3, 0.1) == 10
    assert interval_field(3, 1.0) == 100
    assert interval_field(3, 40.95) == 4095


def test_password_padding_and_truncation() -> None:
    assert password_auth_data("ab") == b"ab\0\0\0\0\0\0"
    assert password_auth_data("0123456789") == b"01234567"  # keepalived truncates to 8
    assert v2(auth_data=b"ab").auth_data == b"ab" + bytes(6)


@pytest.mark.parametrize(
    "kw",
    [
        {"version": 4},
        {"vrid": 0},
        {"vrid": 256},
        {"priority": 256},
        {"advert_int": 256},
        {"addresses": ("not-an-ip",)},
        {"auth_data": b"123456789"},
    ],
)
def test_invalid_advert_values(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        v2(**kw)


def test_v3_has_no_auth() -> None:
    with pytest.raises(ValueError):
        v3(auth_type=AuthType.PASS)
    with pytest.raises(ValueError):
        v3(advert_int=4096)


# --- against scapy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "advert",
    [v2(), v2(auth_type=1, auth_data=b"pass1234", priority=200), v2(addresses=())],
    ids=repr,
)
def test_v2_encode_dissected_by_scapy(advert: VrrpAdvert) -> None:
    data = encode(advert, SRC, DST)
    pkt = scapy_packet(data)
    layer = pkt[VRRP]
    assert layer.version == 2
    assert layer.type == 1
    assert layer.vrid == advert.vrid
    assert layer.priority == advert.priority
    assert layer.ipcount == len(advert.addresses)
    assert layer.authtype == advert.auth_type
    assert layer.adv == advert.advert_int
    assert tuple(layer.addrlist) == advert.addresses
    assert struct.pack("!II", layer.auth1, layer.auth2) == advert.auth_data
    # scapy computing the checksum itself gives the same bytes.
    rebuilt = IP(src=SRC, dst=DST, ttl=255) / VRRP(
        vrid=layer.vrid,
        priority=layer.priority,
        authtype=layer.authtype,
        adv=layer.adv,
        addrlist=list(layer.addrlist),
        auth1=layer.auth1,
        auth2=layer.auth2,
    )
    assert bytes(rebuilt[VRRP]) == data


# (scapy only recognises a v3 header of 9 octets or more, so no zero-address case here.)
@pytest.mark.parametrize(
    "advert", [v3(), v3(advert_int=10, priority=1), v3(addresses=("10.0.0.1",))], ids=repr
)
def test_v3_encode_dissected_by_scapy(advert: VrrpAdvert) -> None:
    data = encode(advert, SRC, DST)
    pkt = scapy_packet(data)
    layer = pkt[VRRPv3]
    assert layer.version == 3
    assert layer.type == 1
    assert layer.vrid == advert.vrid
    assert layer.priority == advert.priority
    assert layer.ipcount == len(advert.addresses)
    assert layer.adv == advert.advert_int
    assert tuple(layer.addrlist) == advert.addresses
    rebuilt = IP(src=SRC, dst=DST, ttl=255) / VRRPv3(
        vrid=layer.vrid, priority=layer.priority, adv=layer.adv, addrlist=list(layer.addrlist)
    )
    assert bytes(rebuilt[VRRPv3]) == data


def test_scapy_built_v2_decoded() -> None:
    pkt = IP(
        bytes(
            IP(src="10.0.0.2", dst=DST, ttl=255)
            / VRRP(
                vrid=7, priority=150, adv=2, authtype=1, auth1=0x41424344, addrlist=["10.0.0.100"]
            )
        )
    )
    advert = decode(bytes(pkt[VRRP]), pkt.src, pkt.dst)
    assert advert == VrrpAdvert(
        version=2,
        vrid=7,
        priority=150,
        advert_int=2,
        addresses=("10.0.0.100",),
        auth_type=1,
        auth_data=b"ABCD",
    )
    assert advert.checksum == pkt[VRRP].chksum


def test_scapy_built_v3_decoded() -> None:
    src = "172.20.0.3"
    pkt = IP(
        bytes(
            IP(src=src, dst=DST, ttl=255)
            / VRRPv3(vrid=9, priority=90, adv=35, addrlist=["172.20.0.100", "172.20.0.101"])
        )
    )
    advert = decode(bytes(pkt[VRRPv3]), src, DST)
    assert advert == v3(
        vrid=9, priority=90, advert_int=35, addresses=("172.20.0.100", "172.20.0.101")
    )
    assert advert.checksum == pkt[VRRPv3].chksum
    assert advert.advert_interval == 0.35


@given(
    version=st.sampled_from([2, 3]),
    vrid=st.integers(1, 255),
    priority=st.integers(0, 255),
    interval=st.integers(0, 255),
    addresses=st.lists(st.ip_addresses(v=4).map(str), max_size=20).map(tuple),
    src=st.ip_addresses(v=4).map(str),
)
@settings(max_examples=150, deadline=None)
def test_checksum_matches_scapy_for_any_advert(
    version: int, vrid: int, priority: int, interval: int, addresses: tuple[str, ...], src: str
) -> None:
    advert = VrrpAdvert(
        version=version, vrid=vrid, priority=priority, advert_int=interval, addresses=addresses
    )
    ours = encode(advert, src, DST)
    layer_cls = VRRP if version == 2 else VRRPv3
    theirs = IP(src=src, dst=DST) / layer_cls(
        vrid=vrid, priority=priority, adv=interval, addrlist=list(addresses)
    )
    assert bytes(theirs[layer_cls]) == ours
    assert decode(ours, src, DST) == advert


# --- malformed --------------------------------------------------------------------------


def _with_checksum(message: bytes, version: int = 2) -> bytes:
    """Fix up the checksum of a hand-made message so only the defect under test remains."""
    body = message[:6] + b"\0\0" + message[8:]
    if version == 3:
        pseudo = (
            bytes(map(int, SRC.split(".")))
            + bytes(map(int, DST.split(".")))
            + struct.pack("!BBH", 0, 112, len(body))
        )
        ck = internet_checksum(pseudo + body)
    else:
        ck = internet_checksum(body)
    return body[:6] + struct.pack("!H", ck) + body[8:]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "too short"),
        (b"\x21\x33\x64", "too short"),
        (KNOWN_V2[:7], "too short"),
        (_with_checksum(b"\x11" + KNOWN_V2[1:]), "bad version 1"),
        (_with_checksum(b"\x41" + KNOWN_V2[1:]), "bad version 4"),
        (_with_checksum(b"\x22" + KNOWN_V2[1:]), "bad type 2"),
        (KNOWN_V2[:-1], "length"),
        (KNOWN_V2 + b"\0\0\0\0", "length"),
        (_with_checksum(KNOWN_V2[:3] + b"\x02" + KNOWN_V2[4:]), "length"),
        (KNOWN_V3 + b"\0", "length"),
        (KNOWN_V3[:-4], "length"),
        (KNOWN_V2[:6] + b"\x8e\xaf" + KNOWN_V2[8:], "bad VRRPv2 checksum"),
        (KNOWN_V2[:12] + b"2111" + KNOWN_V2[16:], "bad VRRPv2 checksum"),
        (KNOWN_V3[:6] + b"\x78\x75" + KNOWN_V3[8:], "bad VRRPv3 checksum"),
        (_with_checksum(KNOWN_V2[:1] + b"\x00" + KNOWN_V2[2:]), "VRID 0"),
        (_with_checksum(KNOWN_V2[:4] + b"\x03" + KNOWN_V2[5:]), "auth type 3"),
    ],
)
def test_malformed(data: bytes, match: str) -> None:
    with pytest.raises(MalformedPacket, match=match) as info:
        decode(data, SRC, DST)
    assert match in info.value.reason


def test_v3_reserved_bits_ignored() -> None:
    # RFC 5798 5.2.5: set to zero on transmit, ignored on receipt.
    data = _with_checksum(KNOWN_V3[:4] + b"\xf0\x64" + KNOWN_V3[6:], version=3)
    assert decode(data, SRC, DST).advert_int == 100


def test_internet_checksum_rfc1071_example() -> None:
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2
    assert internet_checksum(b"\x01") == 0xFEFF  # odd length padded with a zero octet
    assert internet_checksum(b"") == 0xFFFF


@given(st.binary(max_size=80), st.ip_addresses(v=4).map(str))
@settings(max_examples=500, deadline=None)
def test_random_bytes_only_raise_malformed(data: bytes, src: str) -> None:
    with contextlib.suppress(MalformedPacket):
        decode(data, src, DST)
    with contextlib.suppress(MalformedPacket):
        parse_ipv4(data)


@given(st.binary(min_size=8, max_size=80), st.sampled_from([2, 3]))
@settings(max_examples=500, deadline=None)
def test_random_bytes_with_good_checksum_only_raise_malformed(data: bytes, version: int) -> None:
    # Past the checksum so the later checks see random input too.
    data = _with_checksum(bytes([version << 4 | (data[0] & 0x0F)]) + data[1:], version)
    with contextlib.suppress(MalformedPacket):
        advert = decode(data, SRC, DST)
        assert decode(encode(advert, SRC, DST), SRC, DST) == advert


@given(
    st.sampled_from([KNOWN_V2, KNOWN_V3]),
    st.integers(0, 19),
    st.integers(0, 255),
)
@settings(max_examples=300, deadline=None)
def test_mutated_vectors_only_raise_malformed(base: bytes, index: int, value: int) -> None:
    data = bytearray(base)
    if index < len(data):
        data[index] = value
    try:
        advert = decode(bytes(data), SRC, DST)
    except MalformedPacket:
        return
    assert decode(encode(advert, SRC, DST), SRC, DST) == advert


# --- IPv4 --------------------------------------------------------------------------------


def test_ipv4_header_matches_scapy() -> None:
    payload = encode(v3(), SRC, DST)
    ours = build_ipv4_header(SRC, DST, len(payload), ident=0x1234) + payload
    theirs = IP(src=SRC, dst=DST, ttl=255, proto=112, id=0x1234, tos=0xC0, flags=0) / Raw(payload)
    assert ours == bytes(theirs)
    parsed = parse_ipv4(ours)
    assert parsed == (SRC, DST, 255, 112, payload)
    assert parsed.ttl == 255


def test_parse_scapy_ipv4_with_options() -> None:
    from scapy.layers.inet import IPOption_Router_Alert

    payload = encode(v2(), SRC, DST)
    pkt = bytes(IP(src=SRC, dst=DST, ttl=254, options=[IPOption_Router_Alert()]) / Raw(payload))
    parsed = parse_ipv4(pkt)
    assert parsed.payload == payload
    assert parsed.ttl == 254
    assert parsed.proto == 0  # scapy's default for Raw


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b[:19], "too short"),
        (lambda b: b"\x65" + b[1:], "not IPv4"),
        (lambda b: b"\x44" + b[1:], "header length"),
        (lambda b: b"\x4f" + b[1:], "header length"),
        (lambda b: b + b"\0", "total length"),
        (lambda b: b[:-1], "total length"),
        (lambda b: b[:6] + b"\x20\x00" + b[8:], "fragment"),
        (lambda b: b[:8] + b"\x40" + b[9:], "checksum"),
    ],
)
def test_parse_ipv4_malformed(mutate: object, match: str) -> None:
    payload = encode(v2(), SRC, DST)
    good = build_ipv4_header(SRC, DST, len(payload)) + payload
    with pytest.raises(MalformedPacket, match=match):
        parse_ipv4(mutate(good))  # type: ignore[operator]


# --- receive checks ------------------------------------------------------------------------


def expect(**kw: object) -> ReceiveExpectation:
    base: dict[str, object] = {
        "version": 2,
        "vrid": 51,
        "advert_int": 1,
        "addresses": VIPS,
    }
    base.update(kw)
    return ReceiveExpectation(**base)  # type: ignore[arg-type]


def test_check_accepts_matching() -> None:
    assert check_advert(v2(), 255, expect(), src=SRC, dst=DST) is None
    assert check_advert(v3(advert_int=5), 255, expect(version=3, advert_int=100)) is None
    # Order of addresses does not matter (keepalived looks each VIP up in the advert).
    shuffled = v2(addresses=tuple(reversed(VIPS)))
    assert check_advert(shuffled, 255, expect()) is None


def _code(result: DropReason | None) -> str | None:
    return None if result is None else result.code


@pytest.mark.parametrize(
    ("advert", "ttl", "expectation", "code"),
    [
        (v2(vrid=52), 255, expect(), "other_vrid"),
        (v2(), 254, expect(), "ttl"),
        (v2(), 1, expect(), "ttl"),
        (v3(), 255, expect(), "version"),
        (v2(), 255, expect(version=3, advert_int=100), "version"),
        (v2(auth_type=1, auth_data=b"x"), 255, expect(), "auth_type"),
        (v2(), 255, expect(auth_type=1, auth_data=b"x"), "auth_type"),
        (
            v2(auth_type=1, auth_data=b"wrong"),
            255,
            expect(auth_type=1, auth_data=b"right"),
            "auth_password",
        ),
        (v2(auth_type=2), 255, expect(auth_type=2), "auth_type"),
        (v2(advert_int=2), 255, expect(), "advert_interval"),
        (v2(addresses=VIPS[:2]), 255, expect(), "address_count"),
        (v2(addresses=(*VIPS[:2], "10.0.0.2")), 255, expect(), "address_list"),
        (v3(addresses=()), 255, expect(version=3, advert_int=100), "address_count"),
    ],
)
def test_check_drops(
    advert: VrrpAdvert, ttl: int, expectation: ReceiveExpectation, code: str
) -> None:
    result = check_advert(advert, ttl, expectation)
    assert _code(result) == code
    assert result is not None
    assert result.error == (code != "other_vrid")
    assert result.message


def test_check_password_long_config_truncated() -> None:
    advert = v2(auth_type=1, auth_data=password_auth_data("12345678xyz"))
    assert check_advert(advert, 255, expect(auth_type=1, auth_data=b"12345678")) is None


def test_check_ttl_unknown_or_unicast() -> None:
    assert check_advert(v2(), None, expect()) is None
    uni = expect(unicast_peers=("192.168.200.2",))
    assert check_advert(v2(), 64, uni, dst="192.168.200.1") is None
    assert _code(check_advert(v2(), 64, uni, dst=DST)) == "cast"
    assert _code(check_advert(v2(), 255, expect(), dst="192.168.200.9")) == "cast"


def test_check_unicast_source() -> None:
    uni = expect(unicast_peers=("192.168.200.2",), check_unicast_src=True)
    assert check_advert(v2(), 255, uni, src="192.168.200.2", dst="192.168.200.1") is None
    result = check_advert(v2(), 255, uni, src="192.168.200.3", dst="192.168.200.1")
    assert _code(result) == "unicast_source"


def test_check_skip_addresses() -> None:
    # keepalived's skip_check_adv_addr: the loop passes check_addresses=False for the known
    # master.
    assert check_advert(v2(addresses=()), 255, expect(), check_addresses=False) is None


# --- frames on the wire (decode_frame) -----------------------------------------------------

MAC_SRC, MAC_DST = "02:42:ac:14:00:0b", "01:00:5e:00:00:12"


def ether(ip: Packet, *, src: str = MAC_SRC, ethertype: int = 0x0800) -> bytes:
    """An Ethernet frame around ``ip``, all built (checksums too) by scapy."""
    return bytes(Ether(src=src, dst=MAC_DST, type=ethertype) / ip)


def scapy_v2_frame() -> bytes:
    ip = IP(src="10.0.0.2", dst=DST, ttl=255, proto=VRRP_PROTO)
    vrrp = VRRP(vrid=7, priority=150, adv=2, authtype=1, auth1=0x41424344, addrlist=list(VIPS))
    return ether(ip / vrrp)


def scapy_v3_frame(**ip_kw: Any) -> bytes:
    ip = IP(src="172.20.0.3", dst=DST, ttl=255, proto=VRRP_PROTO, **ip_kw)
    return ether(ip / VRRPv3(vrid=9, priority=0, adv=35, addrlist=["172.20.0.100"]))


@pytest.mark.parametrize("build", [scapy_v2_frame, scapy_v3_frame])
def test_frames_built_by_scapy_decode_as_scapy_dissects_them(build: Any) -> None:
    raw = build()
    theirs = Ether(raw)
    layer = theirs[VRRP] if VRRP in theirs else theirs[VRRPv3]
    frame = decode_frame(raw)
    assert frame is not None
    assert (frame.src, frame.dst, frame.ttl) == (theirs[IP].src, theirs[IP].dst, theirs[IP].ttl)
    assert (frame.src_mac, frame.dst_mac) == (theirs.src, theirs.dst)
    assert (frame.vrid, frame.priority, frame.version) == (
        layer.vrid,
        layer.priority,
        layer.version,
    )
    assert frame.addresses == tuple(layer.addrlist)
    assert frame.advert.checksum == layer.chksum
    assert frame.advert == decode(bytes(layer), theirs[IP].src, theirs[IP].dst)
    # the same packet without its Ethernet header
    bare = decode_frame(bytes(theirs[IP]), ethernet=False)
    assert bare == VrrpFrame(frame.src, frame.dst, frame.ttl, frame.advert)


def test_a_frame_decodes_our_own_encoding() -> None:
    payload = encode(v3(priority=254), SRC, DST)
    packet = build_ipv4_header(SRC, DST, len(payload)) + payload
    frame = decode_frame(bytes(6) + bytes.fromhex("02 00 00 00 00 01 08 00") + packet)
    assert frame is not None
    assert (frame.src, frame.dst, frame.ttl, frame.priority) == (SRC, DST, 255, 254)
    assert frame.advert == v3(priority=254)
    assert (frame.src_mac, frame.dst_mac) == ("02:00:00:00:00:01", "00:00:00:00:00:00")


def test_a_padded_frame_decodes() -> None:
    """Ethernet pads frames to 60 octets: a one-address v3 advert (46 octets) arrives with
    14 zeros after the IPv4 total length."""
    raw = scapy_v3_frame()
    assert len(raw) == 46
    frame = decode_frame(raw + bytes(14))
    assert frame is not None and frame.addresses == ("172.20.0.100",)
    assert decode_frame(raw + b"\xff" * 14) == frame  # whatever the padding holds


def test_ipv4_options_are_skipped() -> None:
    from scapy.layers.inet import IPOption_Router_Alert

    raw = scapy_v3_frame(options=[IPOption_Router_Alert()])
    assert raw[14] == 0x46  # a 24-octet IPv4 header
    frame = decode_frame(raw)
    assert frame is not None
    assert (frame.vrid, frame.priority, frame.src) == (9, 0, "172.20.0.3")


def _set(data: bytes, index: int, value: bytes) -> bytes:
    return data[:index] + value + data[index + len(value) :]


def _vrrp_at(raw: bytes) -> int:
    return 14 + (raw[14] & 0x0F) * 4


def _vrrp_set(frame: bytes, index: int, value: bytes) -> bytes:
    """``frame`` (v2) with VRRP octets changed and the VRRP checksum made right again, so
    that only the defect under test remains."""
    v = _vrrp_at(frame)
    return frame[:v] + _with_checksum(_set(frame[v:], index, value))


def _broken_frames() -> list[tuple[str, bytes]]:
    good = scapy_v2_frame()
    v = _vrrp_at(good)
    assert decode_frame(_vrrp_set(good, 2, b"\x01")) is not None  # the fix-up works
    wrong_ip_sum = _set(good, 24, bytes([good[24] ^ 0xFF]))
    vrrp_type_2 = ether(
        IP(src="10.0.0.2", dst=DST, ttl=255, proto=VRRP_PROTO)
        / VRRP(vrid=7, type=2, addrlist=list(VIPS))
    )
    return [
        ("empty", b""),
        ("shorter than an Ethernet header", good[:13]),
        ("an Ethernet header only", good[:14]),
        ("a cut IPv4 header", good[:30]),
        ("ARP", _set(good, 12, b"\x08\x06")),
        ("IPv6", _set(good, 12, b"\x86\xdd")),
        ("a VLAN tag", _set(good, 12, b"\x81\x00")),
        ("IPv4 header of version 6", _set(good, 14, b"\x65")),
        ("IPv4 header length under 20", _set(good, 14, b"\x44")),
        ("IPv4 header longer than the packet", _set(good, 14, b"\x4f")),
        ("TCP", ether(IP(src="10.0.0.2", dst=DST, proto=6) / Raw(good[v:]))),
        ("AH", ether(IP(src="10.0.0.2", dst=DST, proto=51) / Raw(good[v:]))),
        ("VRRP cut short", good[:-1]),
        ("VRRP header cut", good[: v + 4]),
        ("IPv4 only, no VRRP", good[:v]),
        ("bad IPv4 checksum", wrong_ip_sum),
        (
            "a fragment",
            ether(IP(src="10.0.0.2", dst=DST, proto=VRRP_PROTO, frag=1) / Raw(good[v:])),
        ),
        ("bad VRRP checksum", _set(good, v + 6, b"\x00\x00")),
        ("VRRP version 4", _vrrp_set(good, 0, b"\x41")),
        ("VRRP type 2", vrrp_type_2),
        ("VRID 0", ether(IP(src="10.0.0.2", dst=DST, proto=VRRP_PROTO) / VRRP(vrid=0))),
        ("address count beyond the message", _vrrp_set(good, 3, b"\x09")),
        ("v2 auth type 3", _vrrp_set(good, 4, b"\x03")),
    ]


@pytest.mark.parametrize("raw", [pytest.param(raw, id=what) for what, raw in _broken_frames()])
def test_what_is_not_a_well_formed_advert_decodes_to_none(raw: bytes) -> None:
    assert decode_frame(raw) is None


def test_a_packet_without_ethernet_is_checked_the_same() -> None:
    good = Ether(scapy_v2_frame())[IP]
    assert decode_frame(bytes(good), ethernet=False) is not None
    assert decode_frame(bytes(good) + bytes(4), ethernet=False) is None  # no link padding
    assert decode_frame(bytes(good)[:-1], ethernet=False) is None
    assert decode_frame(b"", ethernet=False) is None


@given(st.binary(max_size=120), st.booleans())
@settings(max_examples=500, deadline=None)
def test_random_bytes_never_raise(data: bytes, ethernet: bool) -> None:
    assert decode_frame(data, ethernet=ethernet) is None  # a valid checksum by chance: never


@given(st.sampled_from([0, 1]), st.integers(0, 80), st.integers(0, 255), st.integers(0, 80))
@settings(max_examples=800, deadline=None)
def test_mutated_frames_never_raise(which: int, index: int, value: int, cut: int) -> None:
    """Any octet of a good frame changed, then the frame cut anywhere: a frame or None."""
    data = bytearray([scapy_v2_frame(), scapy_v3_frame()][which])
    if index < len(data):
        data[index] = value
    frame = decode_frame(bytes(data[: len(data) - cut]))
    if frame is not None:
        assert frame.advert == decode(
            encode(frame.advert, frame.src, frame.dst), frame.src, frame.dst
        )


def test_packet_module_is_standard_library_only() -> None:
    """The base image ships vrrp/packet.py alone (halab-observe decodes captures with it):
    it must import nothing but the standard library, and nothing of its own package."""
    import ast
    import sys
    from pathlib import Path

    import pytest_halab.vrrp.packet as packet

    tree = ast.parse(Path(packet.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import: the image would not have it"
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_an_old_style_unicast_v3_checksum_is_decoded_and_said_so() -> None:
    """keepalived 1.3.5 and older sum a unicast VRRPv3/IPv4 advert over 224.0.0.18 (this
    one: VRID 55 from 192.0.2.2 to 192.0.2.1; keepalived 2.2.7 accepts it). Whether to
    accept is the instance's; the decoder says which sum was right. Sent to the group, the
    two sums are one; a v2 advert has no pseudo-header; a wrong sum is still refused."""
    from pytest_halab.vrrp.packet import MalformedPacket, decode, encode

    wire = bytes.fromhex("45c0002000010000ff7036a9c0000202c00002013137c801006459cc0a000005")
    advert = decode(wire[20:], "192.0.2.2", "192.0.2.1")
    assert (advert.vrid, advert.priority, advert.old_checksum) == (55, 200, True)
    assert encode(advert, "192.0.2.2", "192.0.2.1", old_checksum=True) == wire[20:]
    assert not decode(
        encode(advert, "192.0.2.2", "192.0.2.1"), "192.0.2.2", "192.0.2.1"
    ).old_checksum
    group = encode(advert, "192.0.2.2", "224.0.0.18", old_checksum=True)
    assert group == encode(advert, "192.0.2.2", "224.0.0.18")
    assert not decode(group, "192.0.2.2", "224.0.0.18").old_checksum
    v2 = VrrpAdvert(version=2, vrid=55, priority=200, advert_int=1, addresses=("10.0.0.5",))
    assert encode(v2, "192.0.2.2", "192.0.2.1", old_checksum=True) == encode(
        v2, "192.0.2.2", "192.0.2.1"
    )
    bad = wire[20:26] + b"\x00\x01" + wire[28:]
    with pytest.raises(MalformedPacket, match="checksum"):
        decode(bad, "192.0.2.2", "192.0.2.1")


@pytest.mark.parametrize(
    ("payload", "src", "dst", "counter"),
    [
        # shorter than the header: keepalived says so before it looks for the VRID
        (bytes.fromhex("2133c801"), "192.0.2.2", "224.0.0.18", None),
        # version 4 at v2's length: measured as v3, it is too long (keepalived counts it)
        (
            bytes.fromhex("4133c801010148340a0000015041535300000000"),
            "192.0.2.2",
            "224.0.0.18",
            "packet_len_err",
        ),
        # version 4 at v3's length: a bad version, which keepalived counts nowhere
        (bytes.fromhex("4133c801006400000a000001"), "192.0.2.2", "224.0.0.18", None),
        # v2 over IPv6 with auth octets: keepalived adds them over IPv4 only
        (
            bytes.fromhex("2135c8010001ea93" + "20010db8" + "00" * 11 + "53" + "00" * 8),
            "fe80::2",
            "ff02::12",
            "packet_len_err",
        ),
    ],
)
def test_malformed_adverts_count_where_keepalived_counts_them(
    payload: bytes, src: str, dst: str, counter: str | None
) -> None:
    """Counters as keepalived 2.2.7 moved them for the same bytes (an audit sent each to
    keepalived in a network namespace and read its stats file)."""
    with pytest.raises(MalformedPacket) as caught:
        decode(payload, src, dst)
    assert caught.value.counter == counter

"""VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798) advertisements, IPv4 and IPv6: encode, decode, checks.

Everything here is pure and standard-library only: the daemon runs it inside containers.

Wire layout (both versions share the first eight octets)::

     0                   1                   2                   3
    |version| type  | Virtual Rtr ID|   Priority    | Count IPv4 Addr|
    v2: | Auth Type |  Adver Int (s) |          Checksum              |
    v3: |rsvd|  Max Adver Int (cs, 12 bits)  |       Checksum         |
    |       IPv4 (4 octets) or IPv6 (16 octets) address(es), Count of them   |
    v2 only: |         Authentication Data (8 octets)                  |

The address family is the packet's: an advert that came over IPv6 carries IPv6 addresses.

Checksums: over IPv4, v2 covers the VRRP message alone (RFC 3768 5.3.8) and v3 an IPv4
pseudo-header (source, destination, zero, protocol 112, VRRP length) followed by the
VRRP message (RFC 5798 5.2.8), which is what keepalived computes by default
(``vrrp_build_vrrp_v3`` in keepalived/vrrp/vrrp.c). Over IPv6 both versions carry the
IPv6 upper-layer checksum (RFC 8200 8.1: source, destination, 32-bit length, 24 zero
bits, next header 112): keepalived leaves it to the kernel (``IPV6_CHECKSUM`` at offset
6 on its raw sockets), which fills it in whatever the version.

Receiving is two steps: :func:`decode` rejects what is not a well-formed advertisement
(:class:`MalformedPacket`), then :func:`check_advert` applies the per-instance rules
keepalived applies in ``vrrp_check_packet`` and returns why to drop it, if it should be.
Watching the wire (a capture, not a router) is :func:`decode_frame`: an Ethernet frame or
an IP packet in, a :class:`VrrpFrame` or None out.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple

__all__ = [
    "ADVERTISEMENT",
    "VRRP_MCAST_GROUP",
    "VRRP_MCAST_GROUP6",
    "VRRP_PROTO",
    "VRRP_TTL",
    "AuthType",
    "DropReason",
    "IpPacket",
    "Ipv4Packet",
    "MalformedPacket",
    "ReceiveExpectation",
    "VrrpAdvert",
    "VrrpFrame",
    "build_ipv4_header",
    "build_ipv6_header",
    "check_advert",
    "decode",
    "decode_frame",
    "encode",
    "internet_checksum",
    "interval_field",
    "mcast_group",
    "parse_ip",
    "parse_ipv4",
    "parse_ipv6",
    "password_auth_data",
]

VRRP_PROTO = 112
"""IP protocol number of VRRP."""
VRRP_TTL = 255
"""TTL every advertisement is sent with, and must arrive with (multicast)."""
VRRP_MCAST_GROUP = "224.0.0.18"
"""The IPv4 multicast group advertisements go to."""
VRRP_MCAST_GROUP6 = "ff02::12"
"""The IPv6 multicast group advertisements go to (RFC 5798 5.1.2.2)."""
ADVERTISEMENT = 1
"""The only VRRP packet type."""

_HEADER = struct.Struct("!BBBBBBH")  # vers/type, vrid, priority, count, auth|rsvd/adv, chksum
_V3_HEADER = struct.Struct("!BBBBHH")
_AUTH_LEN = 8
_V3_MAX_INTERVAL = 0x0FFF
_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_IPV6_HEADER = struct.Struct("!IHBB16s16s")


class AuthType(IntEnum):
    """VRRPv2 authentication types (RFC 2338; RFC 3768 keeps them for compatibility)."""

    NONE = 0
    PASS = 1
    AH = 2


class MalformedPacket(ValueError):
    """Bytes that are not a well-formed IPv4 packet or VRRP advertisement. ``counter``:
    the keepalived counter such a packet counts under for the instance its VRID names
    (``packet_len_err``, ``invalid_type_rcvd``, ``invalid_authtype``; see counters.py), or
    None where keepalived counts none.

    ``kind`` and ``values`` say what :func:`decode` found, for a log line worded as
    keepalived's: ``"short"`` (length), ``"length"`` (length, expected), ``"version"``
    (version), ``"type"`` (type), ``"checksum"`` (version), ``"authtype"`` (auth type),
    ``"vrid"`` (none); empty for what :func:`decode` does not raise."""

    def __init__(
        self,
        reason: str,
        counter: str | None = None,
        *,
        kind: str = "",
        values: tuple[int, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.counter = counter
        self.kind = kind
        self.values = values


def _ipv4(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(text)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def mcast_group(family: int) -> str:
    """The VRRP multicast group of an address family (4 or 6)."""
    return VRRP_MCAST_GROUP6 if family == 6 else VRRP_MCAST_GROUP


def password_auth_data(password: str | bytes) -> bytes:
    """The 8 authentication octets for a PASS password.

    keepalived truncates ``auth_pass`` to 8 characters (with a config warning) and pads
    with NULs (``vrrp_auth_pass_handler`` in keepalived/vrrp/vrrp_parser.c).
    """
    # the config is read with surrogateescape: bytes that are not UTF-8 go out as they were
    if isinstance(password, str):
        raw = password.encode("utf-8", "surrogateescape")
    else:
        raw = bytes(password)
    return raw[:_AUTH_LEN].ljust(_AUTH_LEN, b"\0")


def interval_field(version: int, seconds: float) -> int:
    """The advert interval field for ``seconds``: v2 whole seconds, v3 centiseconds.

    Truncates as keepalived does (``adver_int / TIMER_HZ`` and ``/ TIMER_CENTI_HZ``).
    """
    micros = round(seconds * 1_000_000)
    if version == 2:
        return micros // 1_000_000
    if version == 3:
        return (micros // 10_000) & _V3_MAX_INTERVAL
    raise ValueError(f"VRRP version must be 2 or 3, not {version}")


@dataclass(frozen=True, kw_only=True)
class VrrpAdvert:
    """One VRRP advertisement, as sent or as decoded.

    ``advert_int`` is the raw field: whole seconds for v2, centiseconds for v3;
    :attr:`advert_interval` gives seconds for both. ``auth_type``/``auth_data`` only exist
    on the wire in v2: for v3 they are 0 and empty. A shorter v2 ``auth_data`` is padded
    with NULs to 8 octets. ``checksum`` is the field as decoded (0 for adverts built
    locally; :func:`encode` computes it) and takes no part in equality.
    """

    version: int
    vrid: int
    priority: int
    advert_int: int
    addresses: tuple[str, ...] = ()
    type: int = ADVERTISEMENT
    auth_type: int = AuthType.NONE
    auth_data: bytes = b""
    checksum: int = field(default=0, compare=False)
    family: int = 0  # 0: from the addresses (IPv4 when there are none)
    # decoded only: a unicast VRRPv3/IPv4 advert whose checksum is right with 224.0.0.18,
    # not its destination, in the pseudo-header (keepalived before 1.3.6; see decode)
    old_checksum: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.version not in (2, 3):
            raise ValueError(f"VRRP version must be 2 or 3, not {self.version}")
        if not 0 <= self.type <= 15:
            raise ValueError(f"type {self.type} does not fit in 4 bits")
        if not 1 <= self.vrid <= 255:
            raise ValueError(f"VRID must be 1-255, not {self.vrid}")
        if not 0 <= self.priority <= 255:
            raise ValueError(f"priority must be 0-255, not {self.priority}")
        limit = 255 if self.version == 2 else _V3_MAX_INTERVAL
        if not 0 <= self.advert_int <= limit:
            raise ValueError(f"v{self.version} advert interval field must be 0-{limit}")
        if len(self.addresses) > 255:
            raise ValueError("at most 255 addresses fit in an advertisement")
        parsed = [_ip(a) for a in self.addresses]
        families = {a.version for a in parsed}
        if self.family not in (0, 4, 6):
            raise ValueError(f"address family must be 4 or 6, not {self.family}")
        if len(families) > 1 or (self.family and families - {self.family}):
            raise ValueError("the addresses of an advertisement are all of one family")
        object.__setattr__(self, "family", self.family or (families.pop() if families else 4))
        object.__setattr__(self, "addresses", tuple(str(a) for a in parsed))
        if not 0 <= self.checksum <= 0xFFFF:
            raise ValueError("checksum must fit in 16 bits")
        if self.version == 3:
            if self.auth_type != AuthType.NONE or self.auth_data:
                raise ValueError("VRRPv3 has no authentication")
            return
        if not 0 <= self.auth_type <= 255:
            raise ValueError(f"auth type must be 0-255, not {self.auth_type}")
        if len(self.auth_data) > _AUTH_LEN:
            raise ValueError(f"auth data is at most {_AUTH_LEN} octets")
        object.__setattr__(self, "auth_data", bytes(self.auth_data).ljust(_AUTH_LEN, b"\0"))

    @property
    def advert_interval(self) -> float:
        """The advertisement interval in seconds."""
        return float(self.advert_int) if self.version == 2 else self.advert_int / 100

    @property
    def length(self) -> int:
        """Length of the VRRP message on the wire, in octets."""
        return _message_length(self.version, len(self.addresses), self.family)


def _address_size(family: int) -> int:
    return 16 if family == 6 else 4


def _message_length(version: int, count: int, family: int = 4) -> int:
    """keepalived's length: the 8 auth octets follow the addresses in v2 over IPv4 only."""
    auth = _AUTH_LEN if version == 2 and family == 4 else 0
    return 8 + _address_size(family) * count + auth


def internet_checksum(data: bytes) -> int:
    """The RFC 1071 ones' complement checksum of ``data`` (odd length padded with zero)."""
    if len(data) % 2:
        data += b"\0"
    words: tuple[int, ...] = struct.unpack(f"!{len(data) // 2}H", data)
    total = sum(words)
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: str, dst: str, length: int) -> bytes:
    source, destination = _ip(src), _ip(dst)
    if source.version != destination.version:
        raise ValueError(f"source {src} and destination {dst} are not of one family")
    if source.version == 6:
        return source.packed + destination.packed + struct.pack("!I3xB", length, VRRP_PROTO)
    return source.packed + destination.packed + struct.pack("!BBH", 0, VRRP_PROTO, length)


def _checksum(version: int, message: bytes, src: str, dst: str) -> int:
    if version == 3 or _ip(src).version == 6:
        return internet_checksum(_pseudo_header(src, dst, len(message)) + message)
    return internet_checksum(message)


def encode(advert: VrrpAdvert, src: str, dst: str, *, old_checksum: bool = False) -> bytes:
    """The VRRP message (what follows the IPv4 header) with its checksum filled in.

    ``src`` and ``dst`` are the addresses the packet is sent from and to, of the
    advert's family; v3 and IPv6 use them (pseudo-header), but pass them always.
    ``old_checksum``: a VRRPv3/IPv4 checksum over 224.0.0.18 as the pseudo-header's
    destination whatever ``dst`` is, as keepalived before 1.3.6 made it for unicast (and
    later ones with ``old_unicast_checksum``).
    """
    if _ip(src).version != advert.family:
        raise ValueError(f"an IPv{advert.family} advert cannot be sent from {src}")
    addrs = b"".join(_ip(a).packed for a in advert.addresses)
    first = (advert.version << 4) | advert.type
    count = len(advert.addresses)
    if advert.version == 2:
        head = _HEADER.pack(
            first, advert.vrid, advert.priority, count, advert.auth_type, advert.advert_int, 0
        )
        message = head + addrs + (advert.auth_data if advert.family == 4 else b"")
    else:
        head = _V3_HEADER.pack(first, advert.vrid, advert.priority, count, advert.advert_int, 0)
        message = head + addrs
    if old_checksum and advert.version == 3 and advert.family == 4:
        dst = VRRP_MCAST_GROUP
    checksum = _checksum(advert.version, message, src, dst)
    return message[:6] + struct.pack("!H", checksum) + message[8:]


def decode(data: bytes, src: str, dst: str) -> VrrpAdvert:
    """Decode a VRRP message (the IP payload) received from ``src`` to ``dst``.

    Raises :class:`MalformedPacket` for anything that is not a valid advertisement, and
    nothing else whatever the bytes (``src``/``dst`` must be address strings of one
    family, which is the addresses' in the advert: a bad one is the caller's error and
    raises ``ValueError``). Checks, as keepalived's
    ``vrrp_get_header``/``vrrp_check_packet`` and the RFCs require: the fixed header is
    present; version is 2 or 3; the length is exactly what the address count implies
    (keepalived rejects both too short and too long, and measures before it reads the
    type); type is ADVERTISEMENT; the checksum; VRID is 1-255; v2 auth type is one
    keepalived knows (0, 1, 2).
    """
    family = _ip(src).version  # validate the caller's addresses before anything else
    if _ip(dst).version != family:
        raise ValueError(f"source {src} and destination {dst} are not of one family")
    data = bytes(data)
    if len(data) < 8:  # keepalived says so before it looks for the VRID: no counter
        raise MalformedPacket(
            f"too short: {len(data)} octets, the VRRP header is 8",
            kind="short",
            values=(len(data),),
        )
    version, ptype = data[0] >> 4, data[0] & 0x0F
    count = data[3]
    # keepalived's expected length; a version other than 2 and 3 is measured as v3 (so a
    # version 4 message is "too long" when it carries auth octets, not a bad version)
    expected = _message_length(version if version in (2, 3) else 3, count, family)
    if version not in (2, 3):
        if len(data) != expected:
            raise MalformedPacket(
                f"bad version {version}, and length {len(data)} where {expected} was expected",
                "packet_len_err",
                kind="length",
                values=(len(data), expected),
            )
        raise MalformedPacket(
            f"bad version {version}, expected 2 or 3", kind="version", values=(version,)
        )
    if len(data) != expected:  # keepalived measures the length before it reads the type
        raise MalformedPacket(
            f"length {len(data)} does not match {count} address(es): expected {expected}",
            "packet_len_err",
            kind="length",
            values=(len(data), expected),
        )
    if ptype != ADVERTISEMENT:
        raise MalformedPacket(
            f"bad type {ptype}, expected {ADVERTISEMENT} (advertisement)",
            "invalid_type_rcvd",
            kind="type",
            values=(ptype,),
        )
    # Summing a message that carries a correct checksum gives zero. A unicast VRRPv3/IPv4
    # advert may carry the old checksum (over the multicast group): which one is right is
    # said in the advert, and whether that is accepted is the instance's (daemon.py).
    old = False
    if _checksum(version, data, src, dst):
        old = (
            version == 3
            and family == 4
            and dst != VRRP_MCAST_GROUP
            and not _checksum(version, data, src, VRRP_MCAST_GROUP)
        )
        if not old:
            wire = struct.unpack_from("!H", data, 6)[0]
            raise MalformedPacket(
                f"bad VRRPv{version} checksum 0x{wire:04x}", kind="checksum", values=(version,)
            )
    vrid, priority = data[1], data[2]
    if vrid == 0:
        raise MalformedPacket("VRID 0 is not valid", kind="vrid")
    checksum = struct.unpack_from("!H", data, 6)[0]
    size = _address_size(family)
    end = 8 + size * count
    kind = ipaddress.IPv6Address if family == 6 else ipaddress.IPv4Address
    addresses = tuple(str(kind(data[i : i + size])) for i in range(8, end, size))
    if version == 2:
        auth_type, advert_int = data[4], data[5]
        if auth_type not in (AuthType.NONE, AuthType.PASS, AuthType.AH):
            raise MalformedPacket(
                f"invalid auth type {auth_type}",
                "invalid_authtype",
                kind="authtype",
                values=(auth_type,),
            )
        return VrrpAdvert(
            version=2,
            vrid=vrid,
            priority=priority,
            advert_int=advert_int,
            addresses=addresses,
            auth_type=auth_type,
            auth_data=data[end : end + _AUTH_LEN],
            checksum=checksum,
            family=family,
        )
    # RFC 5798 5.2.5: the 4 reserved bits are ignored on receipt (keepalived masks them).
    advert_int = struct.unpack_from("!H", data, 4)[0] & _V3_MAX_INTERVAL
    return VrrpAdvert(
        version=3,
        vrid=vrid,
        priority=priority,
        advert_int=advert_int,
        addresses=addresses,
        checksum=checksum,
        family=family,
        old_checksum=old,
    )


# --- receive-side checks -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ReceiveExpectation:
    """What one local VRRP instance expects of adverts it receives.

    ``advert_int`` is the raw field in the instance's version's unit (v2 seconds, v3
    centiseconds; see :func:`interval_field`). ``auth_data`` is the 8 PASS octets (see
    :func:`password_auth_data`). Empty ``unicast_peers`` means a multicast instance.
    """

    version: int
    vrid: int
    advert_int: int
    addresses: tuple[str, ...]
    auth_type: int = AuthType.NONE
    auth_data: bytes = b""
    unicast_peers: tuple[str, ...] = ()
    check_unicast_src: bool = False


@dataclass(frozen=True)
class DropReason:
    """Why a decoded advert must not reach the state machine.

    ``code`` is a stable short name (for counters and event logs); ``error`` is False only
    for ``"other_vrid"``: an advert for another virtual router is not ours, not a fault.
    """

    code: str
    message: str

    @property
    def error(self) -> bool:
        return self.code != "other_vrid"


def _addr_int(text: str) -> int:
    return int(_ip(text))


def check_advert(
    advert: VrrpAdvert,
    ttl: int | None,
    expected: ReceiveExpectation,
    *,
    src: str | None = None,
    dst: str | None = None,
    check_addresses: bool = True,
) -> DropReason | None:
    """Return why to drop ``advert`` for the instance described by ``expected``, or None.

    Rules, in keepalived's order (``vrrp_dispatcher_read`` in vrrp_scheduler.c, then
    ``vrrp_check_packet`` in vrrp.c, keepalived 2.2.7):

    - VRID differs: not ours (``other_vrid``, not an error; keepalived looks the instance up
      by VRID and silently ignores unknown ones).
    - TTL (IPv6: hop limit) must be 255 (RFC 3768 7.1, RFC 5798 7.1), except for unicast
      instances, and not
      when the TTL is unknown (``ttl=None``, keepalived's ``rx_ttl_hop_limit == -1``).
    - version must equal the instance's.
    - v2: auth type must equal ours (keepalived drops mismatches; RFC 3768 dropped auth but
      keepalived keeps RFC 2338's); PASS: the 8 octets must match. AH (IP protocol 51 with
      an HMAC) is not supported by this daemon, so AH adverts are dropped.
    - v2: the advert interval must equal ours: keepalived drops mismatches "to prevent
      concurrent VRID running" (RFC 3768 7.1 says MUST drop). v3 does no such check: a
      backup learns Master_Adver_Interval from the advert (RFC 5798 6.4.2), which the
      state machine does.
    - the address count must equal ours (keepalived logs and drops, although the RFCs
      only say MAY verify).
    - multicast instances drop unicast packets and unicast instances multicast ones
      (only checked when ``dst`` is given).
    - each of our addresses must be in the advert (keepalived drops: "ip address
      associated with VRID not present in MASTER advert"). keepalived skips this and the
      count check when ``skip_check_adv_addr`` is set and the sender is the known master:
      pass ``check_addresses=False`` then.
    - unicast with ``check_unicast_src``: the source must be one of the peers.
    """
    if advert.vrid != expected.vrid:
        return DropReason("other_vrid", f"advert for VRID {advert.vrid}, ours is {expected.vrid}")
    unicast = bool(expected.unicast_peers)
    if not unicast and ttl is not None and ttl != VRRP_TTL:
        return DropReason("ttl", f"invalid TTL/HL. Received {ttl} and expect {VRRP_TTL}")
    if advert.version != expected.version:
        return DropReason(
            "version", f"wrong version. Received {advert.version} and expect {expected.version}"
        )
    if advert.version == 2:
        if advert.auth_type != expected.auth_type:
            return DropReason(
                "auth_type",
                f"received a {advert.auth_type} auth, expecting {expected.auth_type}!",
            )
        if advert.auth_type == AuthType.PASS and advert.auth_data != password_auth_data(
            expected.auth_data
        ):
            return DropReason("auth_password", "received an invalid passwd!")
        if advert.auth_type == AuthType.AH:
            return DropReason("auth_type", "IPSEC AH authentication is not supported")
        if advert.advert_int != expected.advert_int:
            return DropReason(
                "advert_interval",
                f"advertisement interval mismatch mine={expected.advert_int} sec"
                f" rcv'd={advert.advert_int} sec",
            )
    if check_addresses and len(advert.addresses) != len(expected.addresses):
        return DropReason(
            "address_count",
            f"received an unexpected ip number count {len(advert.addresses)},"
            f" expected {len(expected.addresses)}!",
        )
    if dst is not None and _ip(dst).is_multicast == unicast:
        kind = "mult" if unicast else "un"
        return DropReason(
            "cast",
            f"Expected {'un' if unicast else 'mult'}icast packet but received {kind}icast packet",
        )
    if check_addresses:
        received = {_addr_int(a) for a in advert.addresses}
        for address in expected.addresses:
            if _addr_int(address) not in received:
                return DropReason(
                    "address_list",
                    f"ip address associated with VRID {expected.vrid} not present in MASTER"
                    f" advert: {address}",
                )
        if unicast and expected.check_unicast_src and src is not None:
            peers = {_addr_int(p) for p in expected.unicast_peers}
            if _addr_int(src) not in peers:
                return DropReason(
                    "unicast_source", f"unicast source address {src} not a unicast peer"
                )
    return None


# --- IP headers for raw sockets ----------------------------------------------------------


class IpPacket(NamedTuple):
    """A parsed IPv4 or IPv6 packet: the fields VRRP needs and the payload.

    ``ttl`` is the IPv4 TTL or the IPv6 hop limit; ``proto`` the protocol or (IPv6) the
    upper-layer next header once extension headers are skipped."""

    src: str
    dst: str
    ttl: int
    proto: int
    payload: bytes


Ipv4Packet = IpPacket  # the name it had when only IPv4 was spoken


def build_ipv4_header(
    src: str,
    dst: str,
    payload_len: int,
    *,
    ttl: int = VRRP_TTL,
    proto: int = VRRP_PROTO,
    ident: int = 0,
    tos: int = 0xC0,
) -> bytes:
    """A 20-octet IPv4 header with its checksum, for an ``IP_HDRINCL`` raw socket.

    Defaults as keepalived's ``vrrp_build_ip4``: TOS 0xc0 (internetwork control), no
    fragmentation flags, TTL 255. keepalived increments ``ident`` per advert, skipping 0
    (the kernel fills in an ID of 0).
    """
    total = 20 + payload_len
    if not 0 <= payload_len <= 0xFFFF - 20:
        raise ValueError(f"payload length {payload_len} does not fit an IPv4 packet")
    fields = (0x45, tos, total, ident & 0xFFFF, 0, ttl, proto)
    header = _IPV4_HEADER.pack(*fields, 0, _ipv4(src).packed, _ipv4(dst).packed)
    return header[:10] + struct.pack("!H", internet_checksum(header)) + header[12:]


def parse_ipv4(data: bytes, *, verify_checksum: bool = True) -> IpPacket:
    """Split an IPv4 packet as read from a raw socket; raise :class:`MalformedPacket`.

    Like keepalived, the total length must equal what was received (``ip_tot_len
    mismatch``). Fragments are refused (the kernel reassembles before raw delivery).
    """
    data = bytes(data)
    if len(data) < 20:
        raise MalformedPacket(f"too short for an IPv4 header: {len(data)} octets")
    ver_ihl, _tos, total, _ident, frag, ttl, proto, _check, src, dst = _IPV4_HEADER.unpack_from(
        data
    )
    if ver_ihl >> 4 != 4:
        raise MalformedPacket(f"not IPv4: version {ver_ihl >> 4}")
    ihl = (ver_ihl & 0x0F) * 4
    if ihl < 20 or len(data) < ihl:
        raise MalformedPacket(f"bad IPv4 header length {ihl}")
    if total != len(data):
        raise MalformedPacket(f"IPv4 total length {total} but received {len(data)} octets")
    if frag & 0x3FFF:
        raise MalformedPacket("IPv4 fragment")
    if verify_checksum and internet_checksum(data[:ihl]):
        raise MalformedPacket("bad IPv4 header checksum")
    return IpPacket(
        str(ipaddress.IPv4Address(src)),
        str(ipaddress.IPv4Address(dst)),
        ttl,
        proto,
        data[ihl:total],
    )


def build_ipv6_header(
    src: str,
    dst: str,
    payload_len: int,
    *,
    hop_limit: int = VRRP_TTL,
    proto: int = VRRP_PROTO,
    traffic_class: int = 0xC0,
) -> bytes:
    """A 40-octet IPv6 header, no flow label (traffic class 0xc0 by default, as
    keepalived's ``IPV6_TCLASS`` on VRRP sockets)."""
    if not 0 <= payload_len <= 0xFFFF:
        raise ValueError(f"payload length {payload_len} does not fit an IPv6 packet")
    first = (6 << 28) | ((traffic_class & 0xFF) << 20)
    addresses = ipaddress.IPv6Address(src).packed, ipaddress.IPv6Address(dst).packed
    return _IPV6_HEADER.pack(first, payload_len, proto, hop_limit, *addresses)


# extension headers skipped on the way to the upper layer: hop-by-hop, routing,
# destination options (each: next header, length in 8-octet units beyond the first 8)
_IPV6_SKIPPED = {0, 43, 60}
_IPV6_FRAGMENT = 44


def parse_ipv6(data: bytes) -> IpPacket:
    """Split an IPv6 packet (header, extension headers skipped, payload); raise
    :class:`MalformedPacket`. As for IPv4, the payload length must match what was
    received, and fragments are refused."""
    data = bytes(data)
    if len(data) < _IPV6_HEADER.size:
        raise MalformedPacket(f"too short for an IPv6 header: {len(data)} octets")
    first, length, proto, hop_limit, src, dst = _IPV6_HEADER.unpack_from(data)
    if first >> 28 != 6:
        raise MalformedPacket(f"not IPv6: version {first >> 28}")
    if _IPV6_HEADER.size + length != len(data):
        raise MalformedPacket(
            f"IPv6 payload length {length} but received {len(data) - _IPV6_HEADER.size} octets"
        )
    offset = _IPV6_HEADER.size
    while proto in _IPV6_SKIPPED:
        if offset + 8 > len(data):
            raise MalformedPacket("truncated IPv6 extension header")
        proto, units = data[offset], data[offset + 1]
        offset += 8 + 8 * units
        if offset > len(data):
            raise MalformedPacket("truncated IPv6 extension header")
    if proto == _IPV6_FRAGMENT:
        raise MalformedPacket("IPv6 fragment")
    return IpPacket(
        str(ipaddress.IPv6Address(src)),
        str(ipaddress.IPv6Address(dst)),
        hop_limit,
        proto,
        data[offset:],
    )


def parse_ip(data: bytes) -> IpPacket:
    """:func:`parse_ipv4` or :func:`parse_ipv6`, by the version in the first octet."""
    if data and data[0] >> 4 == 6:
        return parse_ipv6(data)
    return parse_ipv4(data)


# --- frames seen on the wire ------------------------------------------------------------

ETH_P_IP = 0x0800
"""Ethertype of IPv4."""
ETH_P_IPV6 = 0x86DD
"""Ethertype of IPv6."""
_ETH_HEADER = 14


@dataclass(frozen=True)
class VrrpFrame:
    """A VRRP advertisement as captured: who sent it where, and the advertisement.

    ``src_mac``/``dst_mac`` (lower-case, colon-separated) are None for a frame decoded
    from an IP packet without its Ethernet header. ``ttl`` is the IPv6 hop limit for an
    advert that came over IPv6.
    """

    src: str
    dst: str
    ttl: int
    advert: VrrpAdvert
    src_mac: str | None = None
    dst_mac: str | None = None

    @property
    def vrid(self) -> int:
        return self.advert.vrid

    @property
    def priority(self) -> int:
        return self.advert.priority

    @property
    def version(self) -> int:
        return self.advert.version

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.advert.addresses


def _mac(octets: bytes) -> str:
    return ":".join(f"{b:02x}" for b in octets)


def decode_frame(data: bytes, *, ethernet: bool = True) -> VrrpFrame | None:
    """The VRRP advertisement an Ethernet frame carries (``ethernet=False``: an IPv4 or
    IPv6 packet), or None for anything else; never raises, whatever the bytes.

    Accepted: ethertype IPv4 or IPv6 (no VLAN tag), a whole, unfragmented IPv4 packet
    (options allowed, header checksum right) or IPv6 packet (hop-by-hop, routing and
    destination options headers skipped) of protocol 112 whose payload :func:`decode`
    accepts. Octets after the IP length in an Ethernet frame are the link's padding and
    ignored. No per-instance check is made (:func:`check_advert` is the router's business):
    any TTL, any VRID, any source.
    """
    data = bytes(data)
    src_mac = dst_mac = None
    if ethernet:
        if len(data) < _ETH_HEADER:
            return None
        ethertype = int.from_bytes(data[12:14], "big")
        if ethertype not in (ETH_P_IP, ETH_P_IPV6):
            return None
        dst_mac, src_mac = _mac(data[0:6]), _mac(data[6:12])
        data = data[_ETH_HEADER:]
        if ethertype == ETH_P_IPV6 and len(data) >= _IPV6_HEADER.size:
            total = _IPV6_HEADER.size + int.from_bytes(data[4:6], "big")
        else:
            total = int.from_bytes(data[2:4], "big") if len(data) >= 4 else len(data)
        if total < len(data):  # frames shorter than 60 octets are padded
            data = data[:total]
        if data and (data[0] >> 4) != (6 if ethertype == ETH_P_IPV6 else 4):
            return None
    try:
        packet = parse_ip(data)
        if packet.proto != VRRP_PROTO:
            return None
        advert = decode(packet.payload, packet.src, packet.dst)
    except MalformedPacket:
        return None
    return VrrpFrame(packet.src, packet.dst, packet.ttl, advert, src_mac, dst_mac)

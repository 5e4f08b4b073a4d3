"""Gratuitous ARP and unsolicited neighbour advertisements, as keepalived sends them when
an instance takes its addresses: the frames (:func:`build_garp_frame`,
:func:`build_na_frame`) and :class:`GarpSender`, which sends them through one long-lived
AF_PACKET socket per interface. Standard library only (the daemon runs inside Debian
containers)."""

from __future__ import annotations

import ipaddress
import socket
import struct

from pytest_halab.vrrp.packet import build_ipv6_header, internet_checksum

__all__ = [
    "GarpSender",
    "build_garp_frame",
    "build_na_frame",
    "interface_mac",
    "send_gratuitous_arp",
]

_ETH_P_ARP = 0x0806
_ETH_P_IPV6 = 0x86DD
_BROADCAST_MAC = b"\xff" * 6


def interface_mac(interface: str) -> bytes:
    """The interface's hardware address (6 octets)."""
    with open(f"/sys/class/net/{interface}/address", encoding="ascii") as fh:
        text = fh.read().strip()
    return bytes(int(part, 16) for part in text.split(":"))


def build_garp_frame(mac: bytes, address: str) -> bytes:
    """A broadcast gratuitous ARP request for ``address`` from ``mac``, as keepalived's
    ``send_gratuitous_arp`` builds it (target hardware address all ones): 42 octets, with
    no padding (keepalived sends no padding; a NIC pads a short frame on the wire, a veth
    carries it as it is)."""
    ip = ipaddress.IPv4Address(address).packed
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ip + _BROADCAST_MAC + ip
    return _BROADCAST_MAC + mac + struct.pack("!H", _ETH_P_ARP) + arp


ICMPV6_PROTO = 58
ND_NEIGHBOR_ADVERT = 136
ND_OPT_TARGET_LINKADDR = 2
ND_NA_FLAG_ROUTER = 0x80
ND_NA_FLAG_OVERRIDE = 0x20
ALL_NODES = "ff02::1"
_ALL_NODES_MAC = b"\x33\x33\x00\x00\x00\x01"


def build_na_frame(mac: bytes, address: str, *, router: bool = False) -> bytes:
    """An unsolicited neighbour advertisement for ``address`` from ``mac``, as keepalived's
    ``ndisc_send_unsolicited_na_immediate`` builds it (RFC 4861 4.4, 7.2.6): from the
    address itself to all nodes (ff02::1, 33:33:00:00:00:01), hop limit 255, Override set
    (Router when the interface forwards), the target link-layer address option."""
    target = ipaddress.IPv6Address(address).packed
    flags = ND_NA_FLAG_OVERRIDE | (ND_NA_FLAG_ROUTER if router else 0)
    body = struct.pack("!BBHB3x", ND_NEIGHBOR_ADVERT, 0, 0, flags) + target
    body += struct.pack("!BB", ND_OPT_TARGET_LINKADDR, 1) + mac
    pseudo = target + ipaddress.IPv6Address(ALL_NODES).packed
    pseudo += struct.pack("!I3xB", len(body), ICMPV6_PROTO)
    checksum = internet_checksum(pseudo + body)
    icmp = body[:2] + struct.pack("!H", checksum) + body[4:]
    header = build_ipv6_header(
        address, ALL_NODES, len(icmp), hop_limit=255, proto=ICMPV6_PROTO, traffic_class=0
    )
    return _ALL_NODES_MAC + mac + struct.pack("!H", _ETH_P_IPV6) + header + icmp


def _forwards_ipv6(interface: str) -> bool:
    """Whether IPv6 forwarding is on for the interface (keepalived then sets the Router
    flag in its neighbour advertisements)."""
    try:
        with open(f"/proc/sys/net/ipv6/conf/{interface}/forwarding", encoding="ascii") as fh:
            return fh.read().strip() == "1"
    except OSError:
        return False


class GarpSender:
    """Sends gratuitous ARPs (IPv4 addresses) and unsolicited neighbour advertisements
    (IPv6 addresses) through one long-lived AF_PACKET socket per interface.

    Opening and closing a packet socket costs tens of milliseconds (the kernel waits for
    an RCU grace period on release), too slow on the takeover path, so sockets stay open.
    They are bound with protocol 0: they send, and never receive.
    """

    def __init__(self) -> None:
        self._socks: dict[str, tuple[socket.socket, bytes]] = {}

    def _socket(self, interface: str) -> tuple[socket.socket, bytes]:
        entry = self._socks.get(interface)
        if entry is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
            try:
                sock.bind((interface, 0))
            except OSError:
                sock.close()
                raise
            entry = (sock, interface_mac(interface))
            self._socks[interface] = entry
        return entry

    def send(self, interface: str, addresses: list[str], repeat: int = 1) -> int:
        """Send ``repeat`` gratuitous ARPs (neighbour advertisements for IPv6 addresses)
        for each address on ``interface``; frames sent."""
        try:
            sock, mac = self._socket(interface)
        except OSError:
            self.forget(interface)
            raise
        router = any(":" in a for a in addresses) and _forwards_ipv6(interface)
        frames = [
            build_na_frame(mac, a, router=router) if ":" in a else build_garp_frame(mac, a)
            for a in addresses
        ]
        sent = 0
        try:
            for _ in range(repeat):
                for frame in frames:
                    sock.send(frame)
                    sent += 1
        except OSError:
            self.forget(interface)  # the interface may have gone: reopen next time
            raise
        return sent

    def forget(self, interface: str) -> None:
        entry = self._socks.pop(interface, None)
        if entry is not None:
            entry[0].close()

    def close(self) -> None:
        for interface in list(self._socks):
            self.forget(interface)


def send_gratuitous_arp(interface: str, addresses: list[str], repeat: int = 1) -> int:
    """One-off :meth:`GarpSender.send` (opens and closes its own socket)."""
    sender = GarpSender()
    try:
        return sender.send(interface, addresses, repeat)
    finally:
        sender.close()

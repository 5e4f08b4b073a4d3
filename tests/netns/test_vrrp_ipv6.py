"""VRRPv3 over IPv6 (RFC 5798), halab-vrrpd against keepalived 2.2.7, in network namespaces.

The LAN is the one of test_vrrp_netns (a bridge in a "switch" namespace, one namespace
per node). What the nodes put on the wire is taken in the switch namespace and dissected
by scapy, an implementation independent of ours: adverts to ff02::12 from the sender's
link-local address with hop limit 255 and a checksum over the IPv6 pseudo-header, and
the unsolicited neighbour advertisements a new master sends for each address.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest
from scapy.layers.inet6 import (
    ICMPv6ND_NA,
    ICMPv6NDOptDstLLAddr,
    IPv6,
)
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRPv3

from pytest_halab.vrrp.packet import decode_frame
from tests.netns import test_vrrp_netns
from tests.netns.test_vrrp_netns import (
    PAIRS,
    NetnsLab,
    Node,
    _counter,
    holds_for,
    mac_of,
    startup_allowance,
    wait_for,
)

lab = test_vrrp_netns.lab  # the namespace lab fixture

VRID = 61
LINK_VIP = "fe80::61:100"  # RFC 5798 5.2.9: the first address of an IPv6 instance
VIP6 = "fd77::100"  # the one clients use
ADVERT = 0.1


def conf6(
    priority: int,
    *,
    advert: float = ADVERT,
    state: str = "BACKUP",
    unicast: tuple[str, str] | None = None,
) -> str:
    peers = ""
    if unicast is not None:
        peers = f"unicast_src_ip {unicast[0]}\n    unicast_peer {{\n        {unicast[1]}\n    }}"
    return textwrap.dedent(
        """\
        vrrp_instance VI_6 {{
            state {state}
            interface eth0
            virtual_router_id {vrid}
            priority {priority}
            advert_int {advert:g}
            version 3
            {peers}
            virtual_ipaddress {{
                {link_vip}/64
                {vip}/64
            }}
        }}
        """
    ).format(
        state=state,
        vrid=VRID,
        priority=priority,
        advert=advert,
        peers=peers,
        link_vip=LINK_VIP,
        vip=VIP6,
    )


def add_ipv6(node: Node, host: int) -> None:
    # nodad: usable at once. A tentative address (DAD takes about a second) cannot be bound:
    # an engine started meanwhile logged "bind unicast_src fd77::1 failed 99" and went
    # FAULT (seen with both engines as the node started first)
    node.ip("addr", "add", f"fd77::{host}/64", "dev", "eth0", "nodad")


def ipv6_addresses(node: Node) -> list[str]:
    out = node.ip("-6", "-o", "addr", "show", "dev", "eth0", check=False).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def holds(node: Node) -> bool:
    return VIP6 in ipv6_addresses(node)


def link_local(node: Node) -> str:
    """The node's own link-local address once duplicate address detection is over."""

    def settled() -> list[str]:
        out = node.ip("-6", "-o", "addr", "show", "dev", "eth0", "scope", "link").stdout
        return [
            line.split()[3].split("/")[0]
            for line in out.splitlines()
            if "tentative" not in line and LINK_VIP not in line
        ]

    wait_for(lambda: bool(settled()), 5, f"{node.name}'s link-local address")
    return settled()[0]


# Every IPv6 VRRP packet and neighbour advertisement a node sends, taken in the switch
# namespace on the node's bridge port (incoming there), written as hex frames.
SNIFFER6 = textwrap.dedent(
    r"""
    import json, select, signal, socket, sys, time
    ETH_P_ALL, PACKET_OUTGOING = 3, 4
    ports = set(sys.argv[2].split(","))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    out = open(sys.argv[3], "a", buffering=1)

    def record(data, addr):
        ifname, _, pkttype = addr[:3]
        if ifname not in ports or pkttype == PACKET_OUTGOING:
            return
        if len(data) < 14 + 40 + 8 or data[12:14] != b"\x86\xdd":
            return
        nxt = data[14 + 6]
        if nxt == 112 or (nxt == 58 and data[14 + 40] == 136):
            out.write(json.dumps({"ts": time.time(), "port": ifname, "hex": data.hex()}) + "\n")

    print("ready", flush=True)
    end = time.monotonic() + float(sys.argv[1])
    while not stop and time.monotonic() < end:
        if select.select([s], [], [], 0.1)[0]:
            record(*s.recvfrom(65535))
    """
)


class Wire6:
    """The IPv6 VRRP adverts and neighbour advertisements the nodes send."""

    def __init__(self, lab: NetnsLab, nodes: list[Node]) -> None:
        self.lab = lab
        self.ports = {n.peer: n for n in nodes}
        self.path = lab.workdir / f"wire6-{next(_counter)}.jsonl"
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Wire6:
        self.path.touch()
        self.proc = subprocess.Popen(
            [
                "ip", "netns", "exec", self.lab.switch, sys.executable, "-c", SNIFFER6,
                "120", ",".join(self.ports), str(self.path),
            ],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise AssertionError("the IPv6 capture did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=5)

    def frames(self, node: Node) -> list[tuple[float, Ether]]:
        records = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        return [
            (r["ts"], Ether(bytes.fromhex(r["hex"])))
            for r in records
            if self.ports[r["port"]] is node
        ]

    def adverts(self, node: Node) -> list[tuple[float, Ether]]:
        return [(t, f) for t, f in self.frames(node) if f.haslayer(VRRPv3)]

    def neighbour_adverts(self, node: Node) -> list[tuple[float, Ether]]:
        return [(t, f) for t, f in self.frames(node) if f.haslayer(ICMPv6ND_NA)]


def checksum_ok(frame: Ether, layer: Any) -> bool:
    """scapy recomputes the checksum over the IPv6 pseudo-header when it is deleted."""
    sent = frame[layer].chksum if hasattr(frame[layer], "chksum") else frame[layer].cksum
    rebuilt = frame.copy()
    if hasattr(rebuilt[layer], "chksum"):
        del rebuilt[layer].chksum
        return bool(Ether(bytes(rebuilt))[layer].chksum == sent)
    del rebuilt[layer].cksum
    return bool(Ether(bytes(rebuilt))[layer].cksum == sent)


def start_pair(
    lab: NetnsLab, pair: tuple[str, str], prios: tuple[int, int] = (150, 100)
) -> tuple[Node, Node]:
    a, b = lab.add_node("a", 1), lab.add_node("b", 2)
    add_ipv6(a, 1)
    add_ipv6(b, 2)
    link_local(a), link_local(b)
    a.start(pair[0], conf6(prios[0]))
    b.start(pair[1], conf6(prios[1]))
    return a, b


@pytest.mark.parametrize("pair", PAIRS)
def test_master_adverts_and_neighbour_adverts_are_rfc5798(
    lab: NetnsLab, pair: tuple[str, str]
) -> None:
    """Whichever engine is master, its adverts and NAs are the same RFC 5798 packets."""
    nodes = [lab.add_node("a", 1), lab.add_node("b", 2)]
    a, b = nodes
    add_ipv6(a, 1)
    add_ipv6(b, 2)
    a_ll = link_local(a)
    link_local(b)
    with Wire6(lab, nodes) as wire:
        a.start(pair[0], conf6(150))
        wait_for(lambda: holds(a), startup_allowance(), "a to hold the IPv6 VIP")
        b.start(pair[1], conf6(100))  # hears a before its master down timer runs out
        holds_for(lambda: holds(a) and not holds(b), 1.5, "a alone holding the VIP")
    adverts = [f for _t, f in wire.adverts(a)]
    assert len(adverts) >= 8, f"{len(adverts)} adverts in 1 s at {ADVERT} s"
    mac = mac_of(a)
    for frame in adverts:
        ip, vrrp = frame[IPv6], frame[VRRPv3]
        assert frame.dst == "33:33:00:00:00:12" and frame.src == mac
        assert (ip.src, ip.dst, ip.hlim, ip.nh) == (a_ll, "ff02::12", 255, 112)
        assert ip.tc == 0xC0, hex(ip.tc)
        assert (vrrp.version, vrrp.type, vrrp.vrid) == (3, 1, VRID)
        assert vrrp.adv == 10, "max advert interval in centiseconds"
        assert vrrp.ipcount == 2 and list(vrrp.addrlist) == [LINK_VIP, VIP6]
        assert checksum_ok(frame, VRRPv3), "VRRPv3 checksum over the IPv6 pseudo-header"
        ours = decode_frame(bytes(frame))
        assert ours is not None and ours.addresses == (LINK_VIP, VIP6) and ours.ttl == 255
    assert {f[VRRPv3].priority for f in adverts[-5:]} == {150}
    nas = [f for _t, f in wire.neighbour_adverts(a)]
    targets = [f[ICMPv6ND_NA].tgt for f in nas]
    assert LINK_VIP in targets and VIP6 in targets, targets
    for frame in nas:
        ip, na = frame[IPv6], frame[ICMPv6ND_NA]
        assert frame.dst == "33:33:00:00:00:01" and frame.src == mac
        assert (ip.src, ip.dst, ip.hlim) == (na.tgt, "ff02::1", 255)
        assert (na.R, na.S, na.O) == (0, 0, 1)  # not forwarding; unsolicited; override
        assert frame[ICMPv6NDOptDstLLAddr].lladdr == mac
        assert checksum_ok(frame, ICMPv6ND_NA)
    assert not wire.neighbour_adverts(b), "the backup announced nothing"


@pytest.mark.parametrize("pair", PAIRS)
def test_sigkill_master_moves_the_ipv6_vip(lab: NetnsLab, pair: tuple[str, str]) -> None:
    a, b = start_pair(lab, pair)
    wait_for(lambda: holds(a), startup_allowance(), "a to hold the IPv6 VIP")
    wait_for(lambda: not holds(b), 2, "b to have no VIP")
    time.sleep(0.5)  # let b learn the master (several adverts)
    with Wire6(lab, [a, b]) as wire:
        killed = time.time()
        a.engines[0].kill()
        wait_for(lambda: holds(b), 3 * ADVERT + 1.0, "b to take the IPv6 VIP over")
        holds_for(lambda: holds(b), 0.3, "b holding")
    first_na = min(t for t, _f in wire.neighbour_adverts(b))
    # master down interval 3 * 0.1 + skew (256 - 100) / 256 * 0.1 = 0.361 s
    assert 0.3 < first_na - killed < 0.361 + 0.5, first_na - killed
    assert b.engines[0].alive()


@pytest.mark.parametrize("pair", PAIRS)
def test_sigterm_sends_priority_zero_and_hands_over(lab: NetnsLab, pair: tuple[str, str]) -> None:
    a, b = start_pair(lab, pair)
    wait_for(lambda: holds(a), startup_allowance(), "a to hold the IPv6 VIP")
    time.sleep(0.5)
    with Wire6(lab, [a, b]) as wire:
        a.engines[0].terminate()
        wait_for(lambda: holds(b), 1.0, "b to take the IPv6 VIP over")
        wait_for(lambda: not holds(a), 2.0, "a to drop the VIP")
    zero = [t for t, f in wire.adverts(a) if f[VRRPv3].priority == 0]
    assert zero, "a priority-0 advert on leaving"
    first_na = min(t for t, _f in wire.neighbour_adverts(b))
    # a backup that hears priority 0 waits only its skew time: (256 - 100) / 256 * 0.1 s
    assert first_na - zero[0] < 0.061 + 0.2, first_na - zero[0]


def bridge_port(lab: NetnsLab, node: Node, forwarding: bool) -> None:
    """Stop or restart the bridge forwarding the node's frames (its carrier stays up)."""
    state = "3" if forwarding else "0"  # BR_STATE_FORWARDING, BR_STATE_DISABLED
    subprocess.run(
        ["ip", "netns", "exec", lab.switch, "bridge", "link", "set", "dev", node.peer,
         "state", state],
        check=True,
        capture_output=True,
    )  # fmt: skip


@pytest.mark.parametrize("pair", PAIRS)
def test_equal_priority_higher_link_local_address_wins(
    lab: NetnsLab, pair: tuple[str, str]
) -> None:
    """RFC 5798 6.4.3: when two masters of equal priority meet (a partition heals), the
    one with the lower primary (link-local) address yields; both engines compare IPv6
    addresses the same way."""
    a, b = start_pair(lab, pair, prios=(100, 100))
    wait_for(lambda: holds(a) != holds(b), startup_allowance(), "one holder")
    first = a if holds(a) else b
    other = b if first is a else a
    bridge_port(lab, other, False)
    wait_for(lambda: holds(other), 2.0, "both masters while apart")
    assert holds(first)
    higher = max((a, b), key=lambda n: int(ipaddress.IPv6Address(link_local(n))))
    lower = b if higher is a else a
    bridge_port(lab, other, True)
    wait_for(lambda: not holds(lower), 2.0, "the lower address to yield")
    holds_for(lambda: holds(higher) and not holds(lower), 1.0, "one holder, the higher address")


@pytest.mark.parametrize("pair", PAIRS)
def test_unicast_ipv6_adverts_go_to_the_peer_and_the_vip_fails_over(
    lab: NetnsLab, pair: tuple[str, str]
) -> None:
    a, b = lab.add_node("a", 1), lab.add_node("b", 2)
    add_ipv6(a, 1)
    add_ipv6(b, 2)
    link_local(a), link_local(b)
    with Wire6(lab, [a, b]) as wire:
        a.start(pair[0], conf6(150, unicast=("fd77::1", "fd77::2")))
        wait_for(lambda: holds(a), startup_allowance(), "a to hold the IPv6 VIP")
        b.start(pair[1], conf6(100, unicast=("fd77::2", "fd77::1")))
        holds_for(lambda: holds(a) and not holds(b), 1.0, "a alone holding the VIP")
        a.engines[0].kill()
        wait_for(lambda: holds(b), 3 * ADVERT + 1.0, "b to take the IPv6 VIP over")
    sent = [f for _t, f in wire.adverts(a)]
    assert len(sent) >= 5
    assert {(f[IPv6].src, f[IPv6].dst, f[VRRPv3].priority) for f in sent} == {
        ("fd77::1", "fd77::2", 150)
    }
    assert all(checksum_ok(f, VRRPv3) for f in sent)
    assert {(f[IPv6].src, f[IPv6].dst) for _t, f in wire.adverts(b)} == {("fd77::2", "fd77::1")}

"""halab-vrrpd against keepalived 2.2.7, for real, in Linux network namespaces.

Each test builds its own little LAN: a "switch" namespace holding a bridge, and one
namespace per node joined to it by a veth pair (``eth0`` inside the node). Everything is
named with a unique ``hlt`` prefix and removed at teardown; no packet leaves the
namespaces. Waits are polls with timeouts.

Run as a benchmark (not a test: nothing is asserted)::

    python -m tests.netns.test_vrrp_netns --bench [--runs 5] [--engines halab,keepalived]
        [--no-steady]

measures failover (master SIGKILL) for both engines, v2 advert 1 s and v3 advert 0.1 s,
from a packet capture taken in an observer namespace, and the daemon's CPU/RSS.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VIP = "10.77.0.100"
SUBNET = "10.77.0"


def _missing() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    if shutil.which("keepalived") is None:
        return "no keepalived binary"
    return None


pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(_missing() is not None, reason=_missing() or ""),
]

_counter = itertools.count()


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=30)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.01) -> float:
    """Poll ``predicate`` until true; return the seconds it took; fail after ``timeout``."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout:.2f} s waiting for {what}")
        time.sleep(step)


def holds_for(predicate: Callable[[], bool], duration: float, what: str) -> None:
    """Fail if ``predicate`` turns false at any poll during ``duration`` seconds."""
    end = time.monotonic() + duration
    while time.monotonic() < end:
        assert predicate(), f"{what} stopped holding"
        time.sleep(0.02)


# --- configuration -------------------------------------------------------------------


def vrrp_conf(
    *,
    priority: int,
    version: int = 2,
    advert: float = 1.0,
    nopreempt: bool = False,
    vrid: int = 51,
    unicast: tuple[str, str] | None = None,
) -> str:
    """One keepalived.conf both engines read unchanged."""
    lines = [
        "vrrp_instance VI_1 {",
        "    state BACKUP",
        "    interface eth0",
        f"    virtual_router_id {vrid}",
        f"    priority {priority}",
        f"    advert_int {advert:g}",
        f"    version {version}",
    ]
    if nopreempt:
        lines.append("    nopreempt")
    if version == 2:
        lines += [
            "    authentication {",
            "        auth_type PASS",
            "        auth_pass h4lab",
            "    }",
        ]
    if unicast is not None:
        lines += [
            f"    unicast_src_ip {unicast[0]}",
            "    unicast_peer {",
            f"        {unicast[1]}",
            "    }",
        ]
    lines += ["    virtual_ipaddress {", f"        {VIP}/24", "    }", "}", ""]
    return "\n".join(lines)


# --- the namespace lab ---------------------------------------------------------------


@dataclass
class Engine:
    """A VRRP daemon process running in a node's namespace."""

    kind: str  # "halab" | "keepalived"
    proc: subprocess.Popen[bytes]
    log_path: Path
    event_log: Path | None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group (keepalived's parent and VRRP child at once)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM, as an init system stops a daemon (keepalived relays it to its child)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def events(self) -> list[dict[str, object]]:
        if self.event_log is None or not self.event_log.exists():
            return []
        return [json.loads(line) for line in self.event_log.read_text().splitlines() if line]


@dataclass
class Node:
    lab: NetnsLab
    name: str
    ns: str
    address: str
    peer: str = ""  # the bridge end of the node's veth pair, in the switch namespace
    engines: list[Engine] = field(default_factory=list)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "-n", self.ns, *args, check=check)

    def addresses(self) -> list[str]:
        out = self.ip("-4", "-o", "addr", "show", "dev", "eth0", check=False).stdout
        return [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in line]

    def has_vip(self, vip: str = VIP) -> bool:
        return vip in self.addresses()

    def link(self, up: bool) -> None:
        self.ip("link", "set", "eth0", "up" if up else "down")

    def unplug(self) -> None:
        """Delete the node's veth pair, as ``docker network disconnect`` removes eth0."""
        _run("ip", "-n", self.lab.switch, "link", "del", self.peer)

    def plug(self, *, address_first: bool) -> None:
        """A new veth pair whose node end appears as ``eth1`` (a new ifindex) and is then
        renamed ``eth0``, as the Docker lab does after ``docker network connect``.

        ``address_first``: the address is on ``eth1`` and the link up before the rename
        (Docker's order); otherwise the renamed ``eth0`` comes up and gets it last.
        """
        _run(
            "ip", "link", "add", self.peer, "netns", self.lab.switch,
            "type", "veth", "peer", "name", "eth1", "netns", self.ns,
        )  # fmt: skip
        _run("ip", "-n", self.lab.switch, "link", "set", self.peer, "master", "br0", "up")
        if address_first:
            self.ip("addr", "add", f"{self.address}/24", "dev", "eth1")
            self.ip("link", "set", "eth1", "up")
        self.ip("link", "set", "eth1", "down")
        self.ip("link", "set", "eth1", "name", "eth0")
        self.ip("link", "set", "eth0", "up")
        if not address_first:
            self.ip("addr", "add", f"{self.address}/24", "dev", "eth0")

    def start(self, kind: str, conf: str) -> Engine:
        n = len(self.engines)
        base = self.lab.workdir / f"{self.name}-{kind}-{n}"
        conf_path = base.with_suffix(".conf")
        conf_path.write_text(conf)
        log_path = base.with_suffix(".log")
        event_log: Path | None = None
        env = dict(os.environ)
        if kind == "halab":
            event_log = base.with_suffix(".events")
            env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
            cmd = [sys.executable, "-m", "pytest_halab.vrrp", "-n", "-l", "-D"]
            cmd += ["-f", str(conf_path), "-p", str(base.with_suffix(".pid"))]
            cmd += ["--event-log", str(event_log)]
        elif kind == "keepalived":
            cmd = ["keepalived", "-n", "-l", "-D", "-P", "-f", str(conf_path)]
            cmd += ["-p", str(base.with_suffix(".pid")), "-r", str(base.with_suffix(".vpid"))]
        else:
            raise ValueError(kind)
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, *cmd],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        engine = Engine(kind, proc, log_path, event_log)
        self.engines.append(engine)
        self.lab.engines.append(engine)
        return engine


class NetnsLab:
    """Namespaces on one bridge; a context manager that removes everything it made."""

    def __init__(self, workdir: Path) -> None:
        self.prefix = f"hlt{os.getpid() % 100000}x{next(_counter)}"
        self.workdir = workdir
        self.switch = f"{self.prefix}sw"
        self.nodes: list[Node] = []
        self.engines: list[Engine] = []
        self.namespaces: list[str] = []

    def __enter__(self) -> NetnsLab:
        try:
            self._add_ns(self.switch)
            _run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
            _run("ip", "-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_ns(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self.namespaces.append(name)

    def add_node(self, name: str, host: int) -> Node:
        ns = f"{self.prefix}{name}"
        self._add_ns(ns)
        peer = f"{self.prefix}{name}"[-15:]
        _run(
            "ip",
            "link",
            "add",
            peer,
            "netns",
            self.switch,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            ns,
        )
        _run("ip", "-n", self.switch, "link", "set", peer, "master", "br0", "up")
        address = f"{SUBNET}.{host}"
        _run("ip", "-n", ns, "link", "set", "lo", "up")
        _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        _run("ip", "-n", ns, "link", "set", "eth0", "up")
        node = Node(self, name, ns, address, peer)
        self.nodes.append(node)
        return node

    def holders(self, vip: str = VIP) -> list[str]:
        return [n.name for n in self.nodes if n.has_vip(vip)]

    def close(self) -> None:
        for engine in self.engines:
            if engine.alive():
                with contextlib.suppress(Exception):
                    engine.kill()
        for ns in reversed(self.namespaces):
            _run("ip", "netns", "delete", ns, check=False)
        self.namespaces.clear()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[NetnsLab]:
    with NetnsLab(tmp_path) as the_lab:
        yield the_lab
        for engine in the_lab.engines:  # shown on failure only
            print(f"--- {engine.kind} pid {engine.pid} log:\n{engine.log()[-4000:]}")


# --- what the nodes put on the wire ------------------------------------------------------

# Runs in the switch namespace: an AF_PACKET socket sees every frame on every bridge port
# before the bridge forwards it. A frame a node sent arrives on that node's port (any packet
# type but OUTGOING); the same frame leaving by another port is OUTGOING there, and a
# multicast copy handed up to br0 arrives on br0: only the first is kept, so each packet a
# node sent is recorded once, attributed by the port it came in on (not by its source
# address, which a node could get wrong). One JSON line per VRRP (IP protocol 112) packet.
WIRE_SNIFFER = textwrap.dedent(
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
        if len(data) < 14 + 20 + 8 or data[12:14] != b"\x08\x00" or data[14 + 9] != 112:
            return
        ip = data[14:]
        vrrp = ip[(ip[0] & 15) * 4:]
        out.write(json.dumps({
            "ts": time.time(), "port": ifname, "pkttype": pkttype,
            "eth_dst": data[0:6].hex(":"), "eth_src": data[6:12].hex(":"),
            "src": socket.inet_ntoa(ip[12:16]), "dst": socket.inet_ntoa(ip[16:20]),
            "ttl": ip[8], "version": vrrp[0] >> 4, "type": vrrp[0] & 15,
            "vrid": vrrp[1], "priority": vrrp[2],
        }) + "\n")

    print("ready", flush=True)
    end = time.monotonic() + float(sys.argv[1])
    while not stop and time.monotonic() < end:
        if select.select([s], [], [], 0.1)[0]:
            record(*s.recvfrom(65535))
    s.setblocking(False)
    while True:  # what was already queued when told to stop
        try:
            record(*s.recvfrom(65535))
        except BlockingIOError:
            break
    """
)


class WireCapture:
    """Every VRRP packet the given nodes put on the lab's wire (see ``WIRE_SNIFFER``),
    from the moment the context is entered; bounded to ``duration`` seconds."""

    def __init__(self, lab: NetnsLab, nodes: list[Node], duration: float = 120.0) -> None:
        self.lab = lab
        self.ports = {n.peer: n for n in nodes}
        self.path = lab.workdir / f"wire-{next(_counter)}.jsonl"
        self.duration = duration
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> WireCapture:
        self.path.touch()
        self.proc = subprocess.Popen(
            [
                "ip", "netns", "exec", self.lab.switch, sys.executable, "-c", WIRE_SNIFFER,
                str(self.duration), ",".join(self.ports), str(self.path),
            ],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise AssertionError("the wire capture did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def packets(self, node: Node | None = None) -> list[dict[str, object]]:
        """The VRRP packets captured so far (those ``node`` sent, if given)."""
        lines = self.path.read_text().splitlines()
        records = [json.loads(line) for line in lines if line.endswith("}")]
        return [r for r in records if node is None or self.ports[str(r["port"])] is node]


def mac_of(node: Node) -> str:
    return str(json.loads(node.ip("-j", "link", "show", "dev", "eth0").stdout)[0]["address"])


# --- timing expectations ---------------------------------------------------------------

VERSIONS = [
    pytest.param((2, 1.0), id="v2-advert1"),
    pytest.param((3, 0.1), id="v3-advert0.1"),
]
PAIRS = [
    pytest.param(("halab", "keepalived"), id="halab-master"),
    pytest.param(("keepalived", "halab"), id="keepalived-master"),
]


def master_down(advert: float, priority: int) -> float:
    skew = (256 - priority) / 256 * (1.0 if advert >= 1 else advert)
    return 3 * advert + skew


def startup_allowance() -> float:
    return 5.0  # interpreter start, namespace exec


# --- tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pair", PAIRS)
def test_higher_priority_wins_and_one_holder(
    lab: NetnsLab, pair: tuple[str, str], version: tuple[int, float]
) -> None:
    high_kind, low_kind = pair
    ver, advert = version
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    # The low-priority node starts alone and becomes master ...
    low.start(low_kind, vrrp_conf(priority=100, version=ver, advert=advert))
    wait_for(low.has_vip, master_down(advert, 100) + startup_allowance(), "low to become master")
    # ... then the higher priority joins and preempts it.
    high.start(high_kind, vrrp_conf(priority=150, version=ver, advert=advert))
    wait_for(
        lambda: lab.holders() == ["a"],
        master_down(advert, 150) + startup_allowance(),
        "the higher priority to take the VIP over",
    )
    holds_for(lambda: lab.holders() == ["a"], 4 * advert + 0.5, "exactly one holder (a)")
    assert all(e.alive() for e in lab.engines)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pair", PAIRS)
def test_sigkill_master_moves_vip(
    lab: NetnsLab, pair: tuple[str, str], version: tuple[int, float]
) -> None:
    high_kind, low_kind = pair
    ver, advert = version
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    master = high.start(high_kind, vrrp_conf(priority=150, version=ver, advert=advert))
    wait_for(high.has_vip, master_down(advert, 150) + startup_allowance(), "a to become master")
    low.start(low_kind, vrrp_conf(priority=100, version=ver, advert=advert))
    holds_for(lambda: lab.holders() == ["a"], 4 * advert + 0.5, "a to stay the only holder")
    master.kill()
    took = wait_for(low.has_vip, master_down(advert, 100) + 1.0, "b to take the VIP over")
    assert took > 2 * advert, "took over before the master-down interval could have run out"
    # A killed daemon cannot remove its address: the old node still holds it (as keepalived).
    assert high.has_vip()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pair", PAIRS)
def test_link_down_moves_vip_and_back(
    lab: NetnsLab, pair: tuple[str, str], version: tuple[int, float]
) -> None:
    high_kind, low_kind = pair
    ver, advert = version
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    high.start(high_kind, vrrp_conf(priority=150, version=ver, advert=advert))
    wait_for(high.has_vip, master_down(advert, 150) + startup_allowance(), "a to become master")
    low.start(low_kind, vrrp_conf(priority=100, version=ver, advert=advert))
    holds_for(lambda: lab.holders() == ["a"], 3 * advert + 0.5, "a to stay the only holder")
    high.link(up=False)
    wait_for(lambda: lab.holders() == ["b"], master_down(advert, 100) + 1.0, "the VIP to move to b")
    high.link(up=True)
    wait_for(
        lambda: lab.holders() == ["a"],
        master_down(advert, 150) + 2.0,
        "a to preempt back when its link returns",
    )
    holds_for(lambda: lab.holders() == ["a"], 3 * advert + 0.5, "exactly one holder (a)")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pair", PAIRS)
def test_sigterm_hands_over_fast(
    lab: NetnsLab, pair: tuple[str, str], version: tuple[int, float]
) -> None:
    high_kind, low_kind = pair
    ver, advert = version
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    master = high.start(high_kind, vrrp_conf(priority=150, version=ver, advert=advert))
    wait_for(high.has_vip, master_down(advert, 150) + startup_allowance(), "a to become master")
    low.start(low_kind, vrrp_conf(priority=100, version=ver, advert=advert))
    holds_for(lambda: lab.holders() == ["a"], 3 * advert + 0.5, "a to stay the only holder")
    master.terminate()
    took = wait_for(
        lambda: lab.holders() == ["b"], master_down(advert, 100) + 1.0, "b to take over"
    )
    master.proc.wait(timeout=10)
    assert master.proc.returncode == 0
    skew = (256 - 100) / 256 * (1.0 if ver == 2 else advert)
    # Priority 0 means Skew_Time instead of Master_Down_Interval: generous sanity bound.
    if ver == 2:
        assert took < 3 * advert, f"handover took {took:.3f} s: priority 0 was not honoured"
    assert took < skew + 0.5
    if master.kind == "halab":
        events = [e["event"] for e in master.events()]
        assert "vip_removed" in events
        assert events[-1] == "daemon_stop"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("pair", PAIRS)
def test_nopreempt_keeps_vip_where_it_is(
    lab: NetnsLab, pair: tuple[str, str], version: tuple[int, float]
) -> None:
    high_kind, low_kind = pair
    ver, advert = version
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    old_master = high.start(
        high_kind, vrrp_conf(priority=150, version=ver, advert=advert, nopreempt=True)
    )
    wait_for(high.has_vip, master_down(advert, 150) + startup_allowance(), "a to become master")
    low.start(low_kind, vrrp_conf(priority=100, version=ver, advert=advert, nopreempt=True))
    holds_for(lambda: lab.holders() == ["a"], 3 * advert + 0.5, "a to stay the only holder")
    old_master.kill()
    wait_for(low.has_vip, master_down(advert, 100) + 1.0, "b to take over")
    # The old master returns (removing its stale address at start) and must not preempt.
    high.start(high_kind, vrrp_conf(priority=150, version=ver, advert=advert, nopreempt=True))
    wait_for(lambda: lab.holders() == ["b"], startup_allowance(), "a to drop its stale VIP")
    holds_for(
        lambda: lab.holders() == ["b"],
        2 * master_down(advert, 150) + 1.0,
        "the VIP to stay on b (nopreempt)",
    )


def assert_unicast_adverts(
    capture: WireCapture, node: Node, peer: Node, priority: int, at_least: int
) -> None:
    """Every VRRP packet ``node`` put on the wire is an advert (v3, VRID 51, its priority)
    from its own address to ``peer``'s, in a frame to ``peer``'s MAC: none to 224.0.0.18
    (or anywhere else); and there were at least ``at_least`` of them."""
    sent = capture.packets(node)
    assert len(sent) >= at_least, (
        f"{node.name} ({node.engines[0].kind}) put {len(sent)} VRRP packets on the wire,"
        f" expected at least {at_least}: {sent}"
    )
    want = {
        "src": node.address,
        "dst": peer.address,
        "eth_dst": mac_of(peer),
        "version": 3,
        "type": 1,
        "vrid": 51,
        "priority": priority,
    }
    wrong = [p for p in sent if any(p[k] != v for k, v in want.items())]
    multicast = sum(p["dst"] == "224.0.0.18" for p in sent)
    assert not wrong, (
        f"{node.name} ({node.engines[0].kind}): {len(wrong)} of {len(sent)} VRRP packets are"
        f" not unicast adverts to {peer.name} ({multicast} to 224.0.0.18); expected {want},"
        f" first wrong: {wrong[0]}"
    )


@pytest.mark.parametrize("pair", PAIRS)
def test_unicast_peers(lab: NetnsLab, pair: tuple[str, str]) -> None:
    """With ``unicast_peer`` each engine sends its adverts only to its peer's address, as
    seen on the wire (a capture on the bridge ports): a while master, then b once it has
    taken over from the killed a; not one packet to 224.0.0.18."""
    high_kind, low_kind = pair
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    with WireCapture(lab, [high, low]) as wire:
        high.start(
            high_kind,
            vrrp_conf(priority=150, version=3, advert=0.1, unicast=(high.address, low.address)),
        )
        low.start(
            low_kind,
            vrrp_conf(priority=100, version=3, advert=0.1, unicast=(low.address, high.address)),
        )
        wait_for(lambda: lab.holders() == ["a"], startup_allowance(), "a to become master")
        holds_for(lambda: lab.holders() == ["a"], 1.0, "exactly one holder (a)")
        high.engines[0].kill()
        wait_for(low.has_vip, master_down(0.1, 100) + 1.0, "b to take over")
        # b as master, for at least 5 adverts (0.5 s at advert_int 0.1)
        wait_for(lambda: len(wire.packets(low)) >= 5, 2.0, "5 adverts from b", step=0.05)
    # a was master for over 1 s at advert_int 0.1 (about 10 adverts): at least 5
    assert_unicast_adverts(wire, high, low, priority=150, at_least=5)
    assert_unicast_adverts(wire, low, high, priority=100, at_least=5)


def test_malformed_packets_are_counted_not_fatal(lab: NetnsLab) -> None:
    node, attacker = lab.add_node("a", 1), lab.add_node("c", 3)
    engine = node.start("halab", vrrp_conf(priority=150, version=3, advert=0.1))
    wait_for(node.has_vip, startup_allowance(), "a to become master")
    sender = textwrap.dedent(
        """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("{src}"))
        for payload in (b"", b"\\x31\\x33", b"\\x31\\x33\\x64\\x01\\x00\\x0a\\x00\\x00" + bytes(4)):
            s.sendto(payload, ("224.0.0.18", 0))
        """
    ).format(src=attacker.address)
    _run("ip", "netns", "exec", attacker.ns, sys.executable, "-c", sender)
    wait_for(
        lambda: sum(e["event"] == "malformed_packet" for e in engine.events()) >= 3,
        3.0,
        "three malformed_packet events",
    )
    holds_for(lambda: engine.alive() and node.has_vip(), 0.5, "the daemon to keep running")


def _executable(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("backup_kind", ["keepalived", "halab"])
def test_track_script_weight_and_notify(lab: NetnsLab, tmp_path: Path, backup_kind: str) -> None:
    """A failing vrrp_script (weight -60) drops halab below the keepalived backup; notify
    scripts get keepalived's arguments; the script coming back preempts again."""
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    flag = tmp_path / "healthy"
    flag.touch()
    check = _executable(tmp_path / "check.sh", f'test -e "{flag}"')
    notes = tmp_path / "notes"
    notify = _executable(tmp_path / "notify.sh", f'echo "$@" >> "{notes}"')
    master_note = _executable(tmp_path / "master.sh", f'echo "master-script $#" >> "{notes}"')
    conf = vrrp_conf(priority=150, version=3, advert=0.1)
    script_block = (
        f'vrrp_script chk {{\n    script "{check}"\n    interval 0.2\n    weight -60\n'
        "    fall 2\n    rise 2\n}\n"
    )
    conf = script_block + conf.replace(
        "    virtual_ipaddress {",
        f'    track_script {{\n        chk\n    }}\n    notify "{notify}"\n'
        f'    notify_master "{master_note}"\n    virtual_ipaddress {{',
    )
    engine = high.start("halab", conf)
    wait_for(high.has_vip, startup_allowance(), "a to become master")
    low.start(backup_kind, vrrp_conf(priority=100, version=3, advert=0.1))
    holds_for(lambda: lab.holders() == ["a"], 1.0, "a to stay the only holder")
    flag.unlink()
    wait_for(lambda: lab.holders() == ["b"], 3.0, "b to take over when the script fails")
    events = engine.events()
    assert any(e["event"] == "priority_change" and e["new"] == 90 for e in events)
    assert any(e["event"] == "tracker_change" and e["ok"] is False for e in events)
    flag.touch()
    wait_for(lambda: lab.holders() == ["a"], 3.0, "a to preempt back when the script recovers")
    wait_for(lambda: notes.exists() and notes.read_text().count("MASTER") >= 2, 3.0, "notify")
    lines = notes.read_text().splitlines()
    assert "INSTANCE VI_1 MASTER 150" in lines
    assert "INSTANCE VI_1 BACKUP 90" in lines
    assert "master-script 0" in lines  # notify_master runs with no arguments


def test_track_interface_weight_zero_means_fault(lab: NetnsLab) -> None:
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    high.ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    high.ip("link", "set", "eth1", "up")
    high.ip("link", "set", "eth1p", "up")
    conf = vrrp_conf(priority=150, version=3, advert=0.1).replace(
        "    virtual_ipaddress {",
        "    track_interface {\n        eth1\n    }\n    virtual_ipaddress {",
    )
    engine = high.start("halab", conf)
    wait_for(high.has_vip, startup_allowance(), "a to become master")
    low.start("keepalived", vrrp_conf(priority=100, version=3, advert=0.1))
    holds_for(lambda: lab.holders() == ["a"], 0.5, "a to stay the only holder")
    high.ip("link", "set", "eth1p", "down")  # eth1 loses carrier
    wait_for(lambda: lab.holders() == ["b"], 2.0, "b to take over while a is in FAULT")
    assert any(e["event"] == "state_change" and e["new"] == "FAULT" for e in engine.events())
    high.ip("link", "set", "eth1p", "up")
    wait_for(lambda: lab.holders() == ["a"], 3.0, "a to come back from FAULT and preempt")


@pytest.mark.parametrize("address_first", [True, False], ids=["address-first", "address-last"])
@pytest.mark.parametrize("kind", ["halab", "keepalived"])
def test_interface_replaced_recovers(lab: NetnsLab, kind: str, address_first: bool) -> None:
    """The Docker lab's reconnect: eth0 is deleted, a new interface appears as eth1 and is
    renamed eth0 with the same address. keepalived 2.2.7 logs "Interface eth0 added",
    leaves FAULT and preempts again; halab-vrrpd must too (keepalived is the reference)."""
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    engine = high.start(kind, vrrp_conf(priority=150, version=3, advert=0.1))
    wait_for(high.has_vip, startup_allowance(), "a to become master")
    low.start("keepalived", vrrp_conf(priority=100, version=3, advert=0.1))
    holds_for(lambda: lab.holders() == ["a"], 0.5, "a to stay the only holder")
    high.unplug()
    wait_for(lambda: lab.holders() == ["b"], master_down(0.1, 100) + 1.0, "b to take over")
    high.plug(address_first=address_first)
    wait_for(lambda: lab.holders() == ["a"], 5.0, "a to take part again and preempt")
    holds_for(lambda: lab.holders() == ["a"], 1.0, "exactly one holder (a)")
    assert engine.alive()
    if kind == "halab":
        states = [e["new"] for e in engine.events() if e["event"] == "state_change"]
        assert states[-3:] == ["FAULT", "BACKUP", "MASTER"], states


@pytest.mark.parametrize("kind", ["halab", "keepalived"])
def test_no_address_at_startup_waits_for_one(lab: NetnsLab, kind: str) -> None:
    """An interface without an IPv4 address keeps the instance in FAULT until one is
    added; then it runs, with no reload (keepalived is the reference)."""
    node = lab.add_node("a", 1)
    node.ip("addr", "del", f"{node.address}/24", "dev", "eth0")
    engine = node.start(kind, vrrp_conf(priority=150, version=3, advert=0.1))
    holds_for(lambda: not node.has_vip(), 1.5, "no VIP without an address")
    if kind == "halab":
        states = [e["new"] for e in engine.events() if e["event"] == "state_change"]
        assert states == ["FAULT"], states
    node.ip("addr", "add", f"{node.address}/24", "dev", "eth0")
    wait_for(node.has_vip, 3.0, "the instance to leave FAULT and become master")
    assert engine.alive()


@pytest.mark.parametrize("kind", ["halab", "keepalived"])
def test_dynamic_interface_missing_at_startup(lab: NetnsLab, kind: str) -> None:
    """With ``dynamic_interfaces`` an instance may name an interface that does not exist
    yet: FAULT until it appears (created as eth1, renamed eth0), then it runs."""
    node = lab.add_node("a", 1)
    node.unplug()
    conf = "global_defs {\n    dynamic_interfaces\n}\n" + vrrp_conf(
        priority=150, version=3, advert=0.1
    )
    engine = node.start(kind, conf)
    holds_for(engine.alive, 1.0, "the daemon to keep running without its interface")
    node.plug(address_first=True)
    wait_for(node.has_vip, 3.0, "the instance to start on the new interface")


def test_sighup_reload_keeps_vips_that_stay(lab: NetnsLab) -> None:
    node = lab.add_node("a", 1)
    conf = vrrp_conf(priority=150, version=3, advert=0.1)
    engine = node.start("halab", conf)
    wait_for(node.has_vip, startup_allowance(), "a to become master")
    conf_path = node.lab.workdir / "a-halab-0.conf"
    conf_path.write_text(
        conf.replace(f"        {VIP}/24\n", f"        {VIP}/24\n        {SUBNET}.101/24\n")
    )
    os.kill(engine.pid, signal.SIGHUP)
    wait_for(lambda: node.has_vip(f"{SUBNET}.101"), 3.0, "the new VIP to be added")
    assert node.has_vip(VIP)
    removed = [e for e in engine.events() if e["event"] == "vip_removed"]
    assert removed == [], "a VIP that stays must not be removed on reload"
    # Now drop the first VIP.
    conf_path.write_text(conf.replace(f"        {VIP}/24\n", f"        {SUBNET}.101/24\n"))
    os.kill(engine.pid, signal.SIGHUP)
    wait_for(lambda: not node.has_vip(VIP), 3.0, "the dropped VIP to be removed")
    assert node.has_vip(f"{SUBNET}.101")
    assert engine.alive()
    engine.terminate()
    engine.proc.wait(timeout=10)
    assert engine.proc.returncode == 0
    assert node.addresses() == [node.address]


def test_requests_signalled_while_starting_are_answered_not_fatal(lab: NetnsLab) -> None:
    """A reload, stats or JSON request sent the moment the pid file appears (the lab asks
    for the JSON dump as soon as it sees the pid) is answered once the daemon runs: the
    default action of SIGHUP, SIGUSR1 and signal 36 would kill a daemon still loading."""
    node = lab.add_node("a", 1)
    dump = Path("/tmp/keepalived.json")
    had_dump = dump.exists()
    engine = node.start("halab", vrrp_conf(priority=150, version=3, advert=0.1))
    pid_file = lab.workdir / "a-halab-0.pid"
    try:
        wait_for(pid_file.exists, startup_allowance(), "the pid file", step=0.001)
        pid = int(pid_file.read_text() or engine.pid)
        for sig in (signal.SIGRTMIN + 2, signal.SIGHUP, signal.SIGUSR1):
            os.kill(pid, sig)
        wait_for(node.has_vip, startup_allowance(), "a to become master")
        assert engine.alive(), engine.log()
        log = engine.log()
        assert "Printing VRRP as json" in log and "Reloading" in log, log
    finally:
        if not had_dump:
            dump.unlink(missing_ok=True)
    engine.terminate()
    engine.proc.wait(timeout=10)
    assert engine.proc.returncode == 0


SCHED_GLOBALS = """global_defs {
    vrrp_rt_priority 40
    vrrp_rlimit_rttime 20000
    vrrp_no_swap
}
"""


def _vrrp_pid(engine: Engine) -> int:
    """The process that runs VRRP: the main process's child, with both engines."""
    children = _run("pgrep", "-P", str(engine.pid), check=False).stdout.split()
    assert children, f"{engine.kind} has no VRRP child"
    return int(children[0])


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.parametrize("kind", ["keepalived", "halab"])
def test_realtime_scheduling_as_keepalived_sets_it(lab: NetnsLab, kind: str) -> None:
    """vrrp_rt_priority, vrrp_rlimit_rttime and vrrp_no_swap: the VRRP process runs
    SCHED_RR at priority 40 (children reset to normal: SCHED_RESET_ON_FORK), with an
    RLIMIT_RTTIME of 10000/20000 us, locked in memory; with both engines alike."""
    node = lab.add_node("a", 1)
    engine = node.start(kind, SCHED_GLOBALS + vrrp_conf(priority=150, version=3, advert=0.1))
    wait_for(node.has_vip, startup_allowance(), "a to become master")
    pid = _vrrp_pid(engine)
    policy = os.sched_getscheduler(pid) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
    assert policy == os.SCHED_RR, (kind, policy)
    assert os.sched_getparam(pid).sched_priority == 40
    limits = Path(f"/proc/{pid}/limits").read_text()
    (rt,) = [line for line in limits.splitlines() if line.startswith("Max realtime timeout")]
    assert rt.split()[3:6] == ["10000", "20000", "us"], rt
    assert _status_kb(pid, "VmLck") > 0, "not locked in memory"
    assert engine.alive()


def test_sync_group_members_fault_together(lab: NetnsLab) -> None:
    node = lab.add_node("a", 1)
    node.ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
    node.ip("addr", "add", "10.78.0.1/24", "dev", "eth1")
    node.ip("link", "set", "eth1", "up")
    node.ip("link", "set", "eth1p", "up")
    conf = textwrap.dedent(
        f"""
        vrrp_sync_group G1 {{
            group {{
                VI_1
                VI_2
            }}
        }}
        vrrp_instance VI_1 {{
            interface eth0
            virtual_router_id 51
            priority 150
            version 3
            advert_int 0.1
            virtual_ipaddress {{
                {VIP}/24
            }}
        }}
        vrrp_instance VI_2 {{
            interface eth1
            virtual_router_id 52
            priority 150
            version 3
            advert_int 0.1
            virtual_ipaddress {{
                10.78.0.100/24 dev eth1
            }}
        }}
        """
    )
    engine = node.start("halab", conf)
    wait_for(lambda: node.has_vip(VIP), startup_allowance(), "VI_1 master")
    node.ip("link", "set", "eth1p", "down")  # VI_2's interface loses carrier
    wait_for(lambda: not node.has_vip(VIP), 2.0, "VI_1 to follow VI_2 into FAULT")
    states = {e["instance"]: e["new"] for e in engine.events() if e["event"] == "state_change"}
    assert states == {"VI_1": "FAULT", "VI_2": "FAULT"}
    node.ip("link", "set", "eth1p", "up")
    wait_for(lambda: node.has_vip(VIP), 3.0, "the group to come back")


def _two_instances(prio1: int, prio2: int, *, group: bool) -> str:
    """VI_1 (VIP .100, VRID 51) and VI_2 (VIP .101, VRID 52) on eth0, maybe synced."""
    text = ""
    if group:
        text += "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
    for n, prio in ((1, prio1), (2, prio2)):
        text += textwrap.dedent(
            f"""
            vrrp_instance VI_{n} {{
                interface eth0
                virtual_router_id {50 + n}
                priority {prio}
                version 3
                advert_int 0.1
                virtual_ipaddress {{
                    {SUBNET}.{99 + n}/24
                }}
            }}
            """
        )
    return text


@pytest.mark.parametrize("kind", ["halab", "keepalived"])
def test_sync_group_members_master_and_backup_together(lab: NetnsLab, kind: str) -> None:
    """a syncs VI_1 (150, beats b) with VI_2 (150, loses to b's 200). The group goes
    MASTER only if every member wants to: a's VI_2 hears b, so a stays BACKUP in both and
    b holds both VIPs. When b stops, a takes both (keepalived is the reference)."""
    a, b = lab.add_node("a", 1), lab.add_node("b", 2)
    peer = b.start("keepalived", _two_instances(100, 200, group=False))
    wait_for(lambda: b.has_vip(f"{SUBNET}.100") and b.has_vip(f"{SUBNET}.101"), 5.0, "b")
    engine = a.start(kind, _two_instances(150, 150, group=True))
    holds_for(
        lambda: not a.has_vip(f"{SUBNET}.100") and not a.has_vip(f"{SUBNET}.101"),
        2.0,
        "a's group to stay BACKUP while VI_2 hears a higher priority",
    )
    assert b.has_vip(f"{SUBNET}.100") and b.has_vip(f"{SUBNET}.101")
    peer.terminate()
    wait_for(
        lambda: a.has_vip(f"{SUBNET}.100") and a.has_vip(f"{SUBNET}.101"),
        3.0,
        "a's group to take both over",
    )
    assert engine.alive()


def test_daemonizes_without_dont_fork(lab: NetnsLab) -> None:
    node = lab.add_node("a", 1)
    conf = lab.workdir / "daemon.conf"
    conf.write_text(vrrp_conf(priority=150, version=3, advert=0.1))
    pid_file, events = lab.workdir / "daemon.pid", lab.workdir / "daemon.events"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "pytest_halab.vrrp", "-f", str(conf)]
    cmd += ["-p", str(pid_file), "--event-log", str(events)]
    run = subprocess.run(
        ["ip", "netns", "exec", node.ns, *cmd], env=env, capture_output=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    pid = int(pid_file.read_text())  # written before the launching command returned
    try:
        assert Path(f"/proc/{pid}").exists()
        assert os.getsid(pid) != os.getsid(0), "the daemon left our session"
        wait_for(node.has_vip, startup_allowance(), "the daemon to become master")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 5.0, "the daemon to exit")
    assert not pid_file.exists()
    assert not node.has_vip()
    assert json.loads(events.read_text().splitlines()[-1])["event"] == "daemon_stop"


# --- static and virtual routes and rules ------------------------------------------------

VROUTE = "10.88.0.0/16"
SROUTE = "10.99.0.0/16"
GATEWAY = f"{SUBNET}.254"


def routes_conf(priority: int, node: Node, *, advert: float = 0.1) -> str:
    """vrrp_conf (v3) with a static address, route and rule, and a virtual route (table
    200, tracked: it names its interface) and two virtual rules."""
    static = textwrap.dedent(
        f"""\
        static_ipaddress {{
            10.66.0.{node.address.rsplit(".", 1)[1]}/24 dev eth0
        }}
        static_routes {{
            {SROUTE} via {GATEWAY} dev eth0 table 300
        }}
        static_rules {{
            from 10.66.0.0/16 table 300 priority 300
        }}
        """
    )
    virtual = textwrap.indent(
        textwrap.dedent(
            f"""\
            virtual_routes {{
                {VROUTE} via {GATEWAY} dev eth0 table 200
                blackhole 10.89.0.0/16 table 200 no_track
            }}
            virtual_rules {{
                from {VIP} table 200 priority 200
                to 10.89.0.0/16 table 200 priority 201 no_track
            }}
            """
        ),
        "    ",
    )
    conf = vrrp_conf(priority=priority, version=3, advert=advert)
    head, tail = conf.rsplit("}", 1)
    return static + head + virtual + "}" + tail


def table_routes(node: Node, table: int) -> list[str]:
    out = node.ip("route", "show", "table", str(table), check=False).stdout
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def rules(node: Node) -> list[str]:
    out = node.ip("rule", "show", check=False).stdout
    return [" ".join(line.split()) for line in out.splitlines() if line.strip()]


def has_virtual(node: Node) -> bool:
    return any(r.startswith(VROUTE) for r in table_routes(node, 200)) and any(
        r.startswith("200:") for r in rules(node)
    )


def has_no_virtual(node: Node) -> bool:
    return table_routes(node, 200) == [] and not any(
        r.startswith(("200:", "201:")) for r in rules(node)
    )


def has_static(node: Node) -> bool:
    return (
        any(r.startswith(SROUTE) for r in table_routes(node, 300))
        and any(r.startswith("300:") for r in rules(node))
        and any(a.startswith("10.66.0.") for a in node_addresses(node))
    )


def node_addresses(node: Node) -> list[str]:
    return node.addresses()


@pytest.mark.parametrize("kind", ["halab", "keepalived"])
def test_static_and_virtual_routes_on_a_lone_master(lab: NetnsLab, kind: str) -> None:
    """One node, either engine: the same routes and rules in the kernel, kept as
    keepalived keeps them, and gone after SIGTERM."""
    node = lab.add_node("a", 1)
    engine = node.start(kind, routes_conf(150, node))
    wait_for(node.has_vip, startup_allowance(), "a to become master")
    wait_for(lambda: has_virtual(node) and has_static(node), 2.0, "the routes and rules")
    assert sorted(table_routes(node, 200)) == [
        f"{VROUTE} via {GATEWAY} dev eth0 proto keepalived",
        "blackhole 10.89.0.0/16 proto keepalived",
    ]
    assert table_routes(node, 300) == [f"{SROUTE} via {GATEWAY} dev eth0 proto keepalived"]
    assert [r for r in rules(node) if r[:4] in ("200:", "201:", "300:")] == [
        f"200: from {VIP} lookup 200 proto keepalived",
        "201: from all to 10.89.0.0/16 lookup 200",
        "300: from 10.66.0.0/16 lookup 300 proto keepalived",
    ]
    # A tracked static route or rule deleted behind the daemon's back is put back.
    node.ip("route", "del", SROUTE, "table", "300")
    node.ip("rule", "del", "priority", "300")
    node.ip("addr", "del", "10.66.0.1/24", "dev", "eth0")
    wait_for(lambda: has_static(node), 2.0, "the static address, route and rule back")
    # A tracked virtual route deleted under the master: it steps down (priority 0) and,
    # alone on its LAN, takes over again, putting the route back.
    node.ip("route", "del", VROUTE, "table", "200")
    wait_for(lambda: has_virtual(node), 3.0, "the virtual route to be back")
    assert node.has_vip()
    engine.terminate()
    engine.proc.wait(timeout=10)
    assert engine.proc.returncode == 0
    assert has_no_virtual(node)
    assert table_routes(node, 300) == [] and not any(r.startswith("300:") for r in rules(node))
    assert node.addresses() == [node.address]
    if kind == "halab":
        events = [e["event"] for e in engine.events()]
        assert events.count("route_added") >= 3 and "rule_removed" in events
        steps = [(e["old"], e["new"]) for e in engine.events() if e["event"] == "state_change"]
        assert ("MASTER", "BACKUP") in steps, "the deleted virtual route made it step down"


@pytest.mark.parametrize("pair", PAIRS)
def test_virtual_routes_follow_the_master(lab: NetnsLab, pair: tuple[str, str]) -> None:
    """The master has the virtual routes and rules, the backup has not; both keep their
    static ones; a failover moves the virtual ones; a stopped daemon leaves none."""
    high_kind, low_kind = pair
    high, low = lab.add_node("a", 1), lab.add_node("b", 2)
    master = high.start(high_kind, routes_conf(150, high))
    wait_for(lambda: has_virtual(high), startup_allowance(), "a to become master")
    backup = low.start(low_kind, routes_conf(100, low))
    wait_for(lambda: has_static(low), startup_allowance(), "b's static routes")
    holds_for(lambda: has_virtual(high) and has_no_virtual(low), 1.0, "routes on a only")
    assert lab.holders() == ["a"] and has_static(high)
    master.terminate()
    wait_for(lambda: has_virtual(low), 2.0, "the virtual routes to move to b")
    master.proc.wait(timeout=10)
    assert has_no_virtual(high) and not has_static(high)
    assert has_static(low) and lab.holders() == ["b"]
    # a returns: it preempts, and the virtual routes move back
    high.start(high_kind, routes_conf(150, high))
    wait_for(lambda: has_virtual(high) and has_no_virtual(low), 3.0, "the routes back on a")
    backup.terminate()
    backup.proc.wait(timeout=10)
    assert has_no_virtual(low) and not has_static(low)
    assert has_virtual(high)


def test_both_engines_put_the_same_routes_and_rules(lab: NetnsLab) -> None:
    """halab-vrrpd and keepalived, each master of its own instance: the kernel holds the
    same static and virtual routes and rules on both nodes."""
    a, b = lab.add_node("a", 1), lab.add_node("b", 2)
    a.start("halab", routes_conf(150, a).replace("virtual_router_id 51", "virtual_router_id 61"))
    b.start(
        "keepalived", routes_conf(150, b).replace("virtual_router_id 51", "virtual_router_id 62")
    )
    for node in (a, b):
        wait_for(lambda n=node: has_virtual(n) and has_static(n), startup_allowance(), n_name(node))
    assert table_routes(a, 200) == table_routes(b, 200)
    assert table_routes(a, 300) == table_routes(b, 300)
    assert rules(a) == rules(b)


def n_name(node: Node) -> str:
    return f"{node.name}'s routes and rules"


EVERY_OPTION = f"""\
static_ipaddress {{
    10.66.1.1/24 dev eth0 label eth0:st brd + scope link
    10.66.2.1 dev eth0 peer 10.66.2.2
    10.66.3.1/24 dev eth0 noprefixroute
    2001:db8:66::1/64 dev eth0 preferred_lft 0
    2001:db8:67::1/64 dev eth0 home
}}
static_routes {{
    10.101.0.0/16 via {GATEWAY} dev eth0 table 401 metric 7
    10.102.0.0/16 dev eth0 table 401 scope link
    10.103.0.0/16 via {GATEWAY} dev eth0 table 401 mtu lock 1400 advmss 1360 window 100 \
rtt 2s rttvar 500ms rto_min 300ms initcwnd 10 initrwnd 20 hoplimit 64 reordering 3 cwnd 5 \
ssthresh lock 7 features ecn quickack 1 congctl reno fastopen_no_cookie 1
    10.104.0.0/16 dev eth0 table 401 onlink via 192.0.2.1
    unreachable 10.105.0.0/16 table 401 no_track
    prohibit 10.106.0.0/16 table 401 no_track
    throw 10.107.0.0/16 table 401 no_track
    blackhole 10.108.0.0/16 table 401 protocol static no_track
    10.109.0.0/16 table 401 nexthop via {SUBNET}.253 dev eth0 weight 2 nexthop via \
{SUBNET}.252 dev eth0 weight 3
    10.110.0.0/16 via {GATEWAY} dev eth0 table 100000 tos 0x10
    10.111.0.0/16 via {GATEWAY} dev eth0 table 401 realms 5
    10.112.0.0/16 via {GATEWAY} dev eth0 table 401 append
    10.113.0.0/16 via {GATEWAY} dev eth0 table 401 or {SUBNET}.253
    2001:db8:1::/48 dev eth0 table 401 pref high
    2001:db8:2::/48 dev eth0 table 401 metric 9 expires 300
    2001:db8:3::/48 via inet {GATEWAY} dev eth0 table 401
    from 2001:db8:5::/48 2001:db8:4::/48 dev eth0 table 401
    default via {GATEWAY} dev eth0 table 402
    inet6 default6 dev eth0 table 402
}}
static_rules {{
    from 10.66.0.0/16 table 401 priority 400
    not to 10.1.0.0/16 fwmark 0x10/0xff lookup main priority 401
    iif eth0 goto 500 priority 402
    oif eth0 blackhole priority 403
    from all prohibit priority 404
    tos 0x10 unreachable priority 405
    realms 3 table 401 priority 406
    suppress_prefixlength 0 table main priority 407
    suppress_ifgroup default table main priority 408
    uidrange 100-200 table 401 priority 409
    ipproto tcp sport 80-90 dport 1000-2000 table 401 priority 410
    tunnel-id 5 table 401 priority 411
    nop priority 412
    from 2001:db8::/32 table 401 priority 413
    to 10.2.0.0/16 table 100000 priority 414 no_track
    fwmark 7 table 401 priority 415 protocol 42
    from 10.3.0.0/16 table 401
}}
"""


def kernel_routing(node: Node) -> dict[str, list[str]]:
    """The node's addresses on eth0 (but its own), routes of tables 401, 402 and 100000,
    and rules, as ``ip`` shows them (remaining expiry times left out)."""

    def show(*args: str) -> list[str]:
        out = node.ip(*args, check=False).stdout
        lines = [" ".join(line.split()) for line in out.splitlines() if line.strip()]
        return [re.sub(r" expires \d+sec", " expires", line) for line in lines]

    addrs = [
        a
        for a in show("-o", "addr", "show", "dev", "eth0")
        if node.address not in a and "fe80" not in a
    ]
    return {
        "addresses": [a.split(" ", 2)[2] for a in addrs],
        **{
            f"{family} table {table}": show(family, "route", "show", "table", table)
            for family in ("-4", "-6")
            for table in ("401", "402", "100000")
        },
        "rules": show("-4", "rule", "show"),
        "rules6": show("-6", "rule", "show"),
    }


def test_both_engines_put_every_static_option_alike(lab: NetnsLab) -> None:
    """keepalived and halab-vrrpd, with no instance, each given the same static
    addresses, routes and rules with every option: the kernels of their two nodes hold
    the same (what one engine cannot add, the other cannot either); SIGTERM removes
    them all."""
    a, b = lab.add_node("a", 1), lab.add_node("b", 2)
    ours = a.start("halab", EVERY_OPTION)
    theirs = b.start("keepalived", EVERY_OPTION)
    wait_for(lambda: any("10.101." in r for r in table_routes(a, 401)), startup_allowance(), "a")
    wait_for(lambda: any("10.101." in r for r in table_routes(b, 401)), startup_allowance(), "b")
    time.sleep(1.0)  # everything is sent at once; let both settle
    mine, reference = kernel_routing(a), kernel_routing(b)
    assert mine == reference
    assert len(mine["-4 table 401"]) >= 10 and len(mine["rules"]) >= 15, mine
    for engine in (ours, theirs):
        engine.terminate()
        engine.proc.wait(timeout=10)
    assert kernel_routing(a) == kernel_routing(b)
    left = kernel_routing(a)
    assert all(v == [] for k, v in left.items() if "table" in k), left
    assert not any(r.split(":")[0] in ("400", "409", "415", "16384") for r in left["rules"])
    # keepalived deletes an address with a peer by its own address as IFA_ADDRESS, which
    # the kernel does not match: it stays (on both nodes)
    assert [a.split()[1] for a in left["addresses"]] == ["10.66.2.1"], left


# --- benchmark (python -m tests.netns.test_vrrp_netns --bench) ----------------------------

OBSERVER = textwrap.dedent(
    r"""
    import json, select, socket, struct, sys, time
    SO_TIMESTAMPNS = 35
    vr = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    vr.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton("224.0.0.18") + socket.inet_aton("0.0.0.0")
                  + struct.pack("=i", socket.if_nametoindex("eth0")))
    arp = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    for s in (vr, arp):
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    print("ready", flush=True)
    end = time.time() + float(sys.argv[1])
    while time.time() < end:
        ready, _, _ = select.select([vr, arp], [], [], 0.2)
        for s in ready:
            data, anc, _, _ = s.recvmsg(2048, 64)
            ts = time.time()
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, ns = struct.unpack("=qq", raw[:16])
                    ts = sec + ns / 1e9
            if s is vr:
                ihl = (data[0] & 15) * 4
                print(json.dumps({"ts": ts, "kind": "vrrp", "src": socket.inet_ntoa(data[12:16]),
                                  "prio": data[ihl + 2]}), flush=True)
            elif len(data) >= 42 and data[20:22] == b"\x00\x01":
                print(json.dumps({"ts": ts, "kind": "arp", "ip": socket.inet_ntoa(data[28:32])}),
                      flush=True)
    """
)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_failover(kind: str, ver: int, advert: float, runs: int) -> dict[str, float]:
    kill_to_garp: list[float] = []
    capture: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="hlt") as tmp, NetnsLab(Path(tmp)) as the_lab:
            high, low = the_lab.add_node("a", 1), the_lab.add_node("b", 2)
            obs = the_lab.add_node("o", 9)
            watcher = subprocess.Popen(
                ["ip", "netns", "exec", obs.ns, sys.executable, "-c", OBSERVER, "60"],
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                assert watcher.stdout is not None
                assert watcher.stdout.readline().strip() == "ready"
                master = high.start(kind, vrrp_conf(priority=150, version=ver, advert=advert))
                wait_for(high.has_vip, 15, "a master")
                low.start(kind, vrrp_conf(priority=100, version=ver, advert=advert))
                time.sleep(3 * advert + 1.0)  # let the backup settle (benchmark, not a test)
                t_kill = time.time()
                master.kill()
                wait_for(low.has_vip, 10, "b master")
                time.sleep(2 * advert + 0.2)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(watcher.pid, signal.SIGKILL)
                out, _ = watcher.communicate(timeout=10)
            records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            old = [r["ts"] for r in records if r["kind"] == "vrrp" and r["src"] == high.address]
            new = [
                r["ts"]
                for r in records
                if r["kind"] == "vrrp" and r["src"] == low.address and r["ts"] > t_kill
            ]
            garps = [r["ts"] for r in records if r["kind"] == "arp" and r["ts"] > t_kill]
            last_old = max(t for t in old if t <= t_kill)
            capture.append(min(new) - last_old)
            kill_to_garp.append(min(garps) - t_kill)
    return {
        "capture_median": _median(capture),
        "capture_min": min(capture),
        "capture_max": max(capture),
        "kill_to_vip_median": _median(kill_to_garp),
        "kill_to_vip_min": min(kill_to_garp),
        "kill_to_vip_max": max(kill_to_garp),
    }


def _proc_cpu_rss(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return ticks / os.sysconf("SC_CLK_TCK"), rss_kb


def bench_steady_state(seconds: float) -> dict[str, float]:
    """CPU and RSS of halab-vrrpd as master and as backup, advert 1 s, from /proc."""
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="hlt") as tmp, NetnsLab(Path(tmp)) as the_lab:
        high, low = the_lab.add_node("a", 1), the_lab.add_node("b", 2)
        master = high.start("halab", vrrp_conf(priority=150, version=2, advert=1.0))
        wait_for(high.has_vip, 15, "a master")
        backup = low.start("halab", vrrp_conf(priority=100, version=2, advert=1.0))
        time.sleep(2)
        # the VRRP processes (the main processes only wait for signals)
        pids = {"master": _vrrp_pid(master), "backup": _vrrp_pid(backup)}
        before = {role: _proc_cpu_rss(pid) for role, pid in pids.items()}
        time.sleep(seconds)
        for role, pid in pids.items():
            cpu0, _ = before[role]
            cpu1, rss = _proc_cpu_rss(pid)
            result[f"{role}_cpu_percent"] = 100 * (cpu1 - cpu0) / seconds
            result[f"{role}_rss_kb"] = rss
    return result


def _bench(argv: list[str]) -> int:
    runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 5
    reason = _missing()
    if reason:
        print(f"cannot run: {reason}")
        return 1
    engines = ["halab", "keepalived"]
    if "--engines" in argv:
        engines = argv[argv.index("--engines") + 1].split(",")
    for kind in engines:
        for ver, advert in ((2, 1.0), (3, 0.1)):
            figures = bench_failover(kind, ver, advert, runs)
            print(
                json.dumps(
                    {"engine": kind, "version": ver, "advert": advert, "runs": runs, **figures}
                ),
                flush=True,
            )
    if "--no-steady" not in argv:
        print(json.dumps({"steady_state": bench_steady_state(30.0)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_bench(sys.argv[1:]))

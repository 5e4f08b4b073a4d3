"""The nftables forwarding plane for real, in network namespaces: LVS-NAT and LVS-DR.

The LAN of test_vrrp_netns (a bridge in a "switch" namespace, one namespace per node):
client .100, director .10 holding the VIP .3, rs1 .20 answering "1111" and rs2 .30
answering "2222" (tiny HTTP servers; ``/slow/N`` answers after N seconds). NAT: the real
servers route the client through the VIP, the director forwards (send_redirects off). DR:
the real servers hold the VIP on lo (arp_ignore=1, arp_announce=2) and answer the client
directly. The plane runs in the director namespace (its runner wraps ``ip netns exec``).

Each request is a new TCP connection from its own source port (chosen by the test, so no
two connections of a test share a port), so the scheduler sees exactly one new
connection per request.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pytest_halab.vrrp.check.nftplane import NftPlane
from pytest_halab.vrrp.check.pool import Destination, Service
from tests.netns.test_vrrp_netns import SUBNET, NetnsLab, Node, wait_for


def _missing() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"no {tool} command"
    return None


pytestmark = [pytest.mark.skipif(_missing() is not None, reason=_missing() or "")]

VIP = f"{SUBNET}.3"
RS1, RS2 = f"{SUBNET}.20", f"{SUBNET}.30"
ANSWER = {RS1: "1111", RS2: "2222"}
_ports = itertools.count(20000, 400)

SERVER = r"""
import http.server, sys, time
body = sys.argv[2].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(float(self.path.split("/")[2]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer(("", int(sys.argv[1])), Handler).serve_forever()
"""

CLIENT = r"""
import http.client, json, sys, time
host, path = sys.argv[1], sys.argv[4]
count, base, pause = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[5])
out = []
for i in range(count):
    try:
        conn = http.client.HTTPConnection(host, 80, timeout=8, source_address=("", base + i))
        conn.request("GET", path, headers={"Connection": "close"})
        out.append(conn.getresponse().read().decode())
        conn.close()
    except Exception as exc:
        out.append(f"ERR {type(exc).__name__}: {exc}")
    time.sleep(pause)
print(json.dumps(out))
"""


def _in(node: Node, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", "netns", "exec", node.ns, *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _sysctl(node: Node, **values: int) -> None:
    for key, value in values.items():
        done = _in(node, "sysctl", "-qw", f"{key.replace('__', '/').replace('_', '.')}={value}")
        assert done.returncode == 0, done.stderr


class LbLab:
    """The four namespaces, the real servers' HTTP servers and the director's plane."""

    def __init__(self, lab: NetnsLab, mode: str) -> None:
        self.mode = mode
        self.client = lab.add_node("cl", 100)
        self.director = lab.add_node("dir", 10)
        self.rs = {RS1: lab.add_node("rs1", 20), RS2: lab.add_node("rs2", 30)}
        self.servers: list[subprocess.Popen[bytes]] = []
        self.director.ip("addr", "add", f"{VIP}/24", "dev", "eth0")
        for conf in ("all", "eth0", "default"):
            _in(self.director, "sysctl", "-qw", f"net.ipv4.conf.{conf}.send_redirects=0")
        _in(self.director, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for ip, node in self.rs.items():
            if mode == "NAT":
                node.ip("route", "add", f"{self.client.address}/32", "via", VIP)
            else:
                node.ip("addr", "add", f"{VIP}/32", "dev", "lo")
                for conf in ("all", "eth0"):
                    _in(node, "sysctl", "-qw", f"net.ipv4.conf.{conf}.arp_ignore=1")
                    _in(node, "sysctl", "-qw", f"net.ipv4.conf.{conf}.arp_announce=2")
            self.servers.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        node.ns,
                        sys.executable,
                        "-c",
                        SERVER,
                        "80",
                        ANSWER[ip],
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for ip in self.rs:
            wait_for(lambda ip=ip: self.get(ip, 1)[0] == ANSWER[ip], 10, f"HTTP server {ip}", 0.1)

        def runner(argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
            return _in(self.director, *argv, stdin=stdin)

        self.plane = NftPlane(runner=runner)

    def close(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait(timeout=10)

    def service(self, sched: str, weights: dict[str, int], persistence: int = 0) -> Service:
        dests = tuple(Destination(ip, 0, w, self.mode) for ip, w in weights.items())
        return Service(
            f"[{VIP}]:tcp:80", socket.AF_INET, "tcp", VIP, 80, None, sched, persistence, None, dests
        )

    def apply(self, sched: str, weights: dict[str, int], persistence: int = 0) -> None:
        self.plane.apply([self.service(sched, weights, persistence)])

    def start(
        self, host: str, count: int, path: str = "/", pause: float = 0.0
    ) -> subprocess.Popen[str]:
        argv = [sys.executable, "-c", CLIENT, host, str(count), str(next(_ports)), path, str(pause)]
        return subprocess.Popen(
            ["ip", "netns", "exec", self.client.ns, *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def get(self, host: str, count: int, path: str = "/", pause: float = 0.0) -> list[str]:
        proc = self.start(host, count, path, pause)
        return self.finish(proc)

    @staticmethod
    def finish(proc: subprocess.Popen[str], timeout: float = 120) -> list[str]:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        return list(json.loads(out))


@pytest.fixture(params=["NAT", "DR"])
def lb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LbLab]:
    with NetnsLab(tmp_path) as lab:
        the_lab = LbLab(lab, request.param)
        try:
            yield the_lab
        finally:
            with contextlib.suppress(Exception):
                print(_in(the_lab.director, "nft", "list", "ruleset").stdout[-6000:])
            the_lab.close()


@pytest.fixture
def nat(tmp_path: Path) -> Iterator[LbLab]:
    with NetnsLab(tmp_path) as lab:
        the_lab = LbLab(lab, "NAT")
        try:
            yield the_lab
        finally:
            the_lab.close()


def _windows(answers: list[str], size: int) -> list[Counter[str]]:
    return [Counter(answers[i : i + size]) for i in range(len(answers) - size + 1)]


def test_wrr_weights_give_exact_per_cycle_counts(lb: LbLab) -> None:
    lb.apply("wrr", {RS1: 3, RS2: 1})
    answers = lb.get(VIP, 40)
    assert Counter(answers) == {"1111": 30, "2222": 10}, answers
    # numgen intervals do not interleave as LVS's wrr does: every cycle of 4 still holds 3:1
    assert all(w == {"1111": 3, "2222": 1} for w in _windows(answers, 4)), answers


def test_rr_alternates(lb: LbLab) -> None:
    lb.apply("rr", {RS1: 5, RS2: 1})  # rr ignores weights above 0
    answers = lb.get(VIP, 20)
    assert Counter(answers) == {"1111": 10, "2222": 10}, answers
    assert all(a != b for a, b in itertools.pairwise(answers)), answers


def test_removed_server_finishes_its_connection_and_gets_no_new_one(lb: LbLab) -> None:
    lb.apply("rr", {RS1: 1})
    slow = lb.start(VIP, 1, "/slow/3")
    time.sleep(0.7)  # its connection is made (the answer takes 3 s)
    lb.apply("rr", {RS2: 1})
    assert lb.get(VIP, 10) == ["2222"] * 10
    assert lb.finish(slow) == ["1111"]


def test_swapping_pools_under_load_breaks_no_connection(lb: LbLab) -> None:
    pools = [{RS1: 1, RS2: 1}, {RS1: 1}, {RS2: 2}, {RS1: 3, RS2: 1}]
    lb.apply("wrr", pools[0])
    load = lb.start(VIP, 320, "/slow/0.02")
    swaps = 0
    while load.poll() is None and swaps < 400:
        lb.apply("wrr", pools[swaps % len(pools)])
        swaps += 1
        time.sleep(0.02)
    answers = lb.finish(load)
    errors = [a for a in answers if a.startswith("ERR")]
    assert not errors, errors[:5]
    assert len(answers) == 320 and swaps > 20, swaps


def test_weight_zero_is_quiescent(nat: LbLab) -> None:
    nat.apply("wrr", {RS1: 1, RS2: 1}, persistence=30)
    first = nat.get(VIP, 1)[0]
    slow_ip = RS1 if first == "1111" else RS2
    other = RS2 if slow_ip == RS1 else RS1
    slow = nat.start(VIP, 1, "/slow/3")
    time.sleep(0.7)
    nat.apply("wrr", {slow_ip: 0, other: 1}, persistence=30)
    # the persistent client stays with its quiescent server (IPVS keeps the template) ...
    assert nat.get(VIP, 3) == [ANSWER[slow_ip]] * 3
    assert nat.finish(slow) == [ANSWER[slow_ip]]
    # ... and without persistence a quiescent server gets no new connection
    nat.apply("wrr", {slow_ip: 0, other: 1})
    assert nat.get(VIP, 6) == [ANSWER[other]] * 6


def test_sh_sticks_to_one_server(nat: LbLab) -> None:
    nat.apply("sh", {RS1: 1, RS2: 1})
    answers = nat.get(VIP, 20)
    assert len(set(answers)) == 1 and answers[0] in ("1111", "2222"), answers


def test_persistence_holds_then_frees(nat: LbLab) -> None:
    nat.apply("rr", {RS1: 1, RS2: 1}, persistence=2)
    held = nat.get(VIP, 8, pause=0.1)
    assert len(set(held)) == 1, held
    time.sleep(3.0)  # past the timeout after the last packet
    after = nat.get(VIP, 1)
    assert after != held[:1], (held, after)  # scheduled afresh: rr's next server


def test_persistence_never_leads_to_a_removed_server(nat: LbLab) -> None:
    nat.apply("rr", {RS1: 1, RS2: 1}, persistence=30)
    held = nat.get(VIP, 2)
    assert len(set(held)) == 1, held
    gone = RS1 if held[0] == "1111" else RS2
    stays = RS2 if gone == RS1 else RS1
    nat.apply("rr", {stays: 1}, persistence=30)
    assert nat.get(VIP, 3) == [ANSWER[stays]] * 3
    # and the client now persists on the server it was given
    nat.apply("rr", {RS1: 1, RS2: 1}, persistence=30)
    assert nat.get(VIP, 3) == [ANSWER[stays]] * 3


def test_applying_the_same_state_twice_changes_nothing(nat: LbLab) -> None:
    nat.apply("wrr", {RS1: 3, RS2: 1})
    before = _in(nat.director, "nft", "list", "ruleset").stdout
    first = nat.get(VIP, 2)
    nat.apply("wrr", {RS1: 3, RS2: 1})  # numgen's counter is not reset by a no-op apply
    assert _in(nat.director, "nft", "list", "ruleset").stdout == before
    assert first + nat.get(VIP, 2) == ["1111", "1111", "1111", "2222"]


def test_clear_removes_the_tables(lb: LbLab) -> None:
    lb.apply("rr", {RS1: 1})
    lb.plane.clear()
    assert "halab_lvs" not in _in(lb.director, "nft", "list", "tables").stdout

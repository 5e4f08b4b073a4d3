"""``use_vmac``: halab-vrrpd's virtual MAC interface against keepalived 2.2.7's, for real.

Each engine in turn runs the instance with ``use_vmac`` on node a of the namespace LAN of
test_vrrp_netns, with keepalived (no VMAC) as its peer on node b. What is compared, and
must be the same for both: the macvlan (``ip -d -j link show``: kind, mode, MAC, the
interface under it, up while BACKUP already, no generated IPv6 address), the IPv4
settings on it and under it, where the VIP goes, the source MAC and address of the
adverts and of the gratuitous ARPs as taken on the wire (in the switch namespace), and
the VMAC gone once the daemon stopped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from typing import Any

import pytest

from tests.netns import test_vrrp_netns
from tests.netns.test_vrrp_netns import VIP, NetnsLab, Node, _counter, mac_of, wait_for

lab = test_vrrp_netns.lab  # the namespace lab fixture
pytestmark = test_vrrp_netns.pytestmark

VRID = 52
VMAC = "00:00:5e:00:01:34"  # 00:00:5e:00:01:{VRID}
ADVERT = 0.2
SETTINGS = ("arp_ignore", "arp_filter", "accept_local", "rp_filter", "promote_secondaries")


def vmac_conf(priority: int, extra: str = "") -> str:
    return textwrap.dedent(
        f"""\
        vrrp_instance VI_1 {{
            state BACKUP
            interface eth0
            virtual_router_id {VRID}
            priority {priority}
            advert_int {ADVERT:g}
            version 3
            {extra}
            virtual_ipaddress {{
                {VIP}/24
            }}
        }}
        """
    )


# Runs in the switch namespace: every VRRP advert and ARP frame a node sends, once, by the
# bridge port it came in on (as WIRE_SNIFFER in test_vrrp_netns).
FRAME_SNIFFER = textwrap.dedent(
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
        if ifname not in ports or pkttype == PACKET_OUTGOING or len(data) < 42:
            return
        rec = {"port": ifname, "eth_dst": data[0:6].hex(":"), "eth_src": data[6:12].hex(":")}
        if data[12:14] == b"\x08\x06":
            arp = data[14:]
            rec.update(kind="arp", op=int.from_bytes(arp[6:8], "big"),
                       hwsrc=arp[8:14].hex(":"), psrc=socket.inet_ntoa(arp[14:18]),
                       hwdst=arp[18:24].hex(":"), pdst=socket.inet_ntoa(arp[24:28]))
        elif data[12:14] == b"\x08\x00" and data[14 + 9] == 112:
            ip = data[14:]
            vrrp = ip[(ip[0] & 15) * 4:]
            rec.update(kind="vrrp", src=socket.inet_ntoa(ip[12:16]),
                       dst=socket.inet_ntoa(ip[16:20]), vrid=vrrp[1], priority=vrrp[2])
        else:
            return
        out.write(json.dumps(rec) + "\n")

    print("ready", flush=True)
    end = time.monotonic() + float(sys.argv[1])
    while not stop and time.monotonic() < end:
        if select.select([s], [], [], 0.1)[0]:
            record(*s.recvfrom(65535))
    """
)


class FrameCapture:
    """VRRP adverts and ARP frames the node sends, from the moment it is entered."""

    def __init__(self, lab: NetnsLab, node: Node) -> None:
        self.lab = lab
        self.node = node
        self.path = lab.workdir / f"frames-{next(_counter)}.jsonl"
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> FrameCapture:
        self.path.touch()
        self.proc = subprocess.Popen(
            [
                "ip", "netns", "exec", self.lab.switch, sys.executable, "-c", FRAME_SNIFFER,
                "120", self.node.peer, str(self.path),
            ],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.proc.kill()
            raise AssertionError("the frame capture did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def frames(self) -> list[dict[str, Any]]:
        lines = self.path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.endswith("}")]


def link(node: Node, name: str) -> dict[str, Any] | None:
    out = node.ip("-d", "-j", "link", "show", "dev", name, check=False)
    if out.returncode != 0:
        return None
    return dict(json.loads(out.stdout)[0])


def link_facts(node: Node, name: str) -> dict[str, Any]:
    """What ``ip -d link show`` says of the VMAC that both engines must agree on."""
    info = link(node, name)
    assert info is not None, f"no {name} on {node.name}"
    linkinfo = info.get("linkinfo", {})
    return {
        "kind": linkinfo.get("info_kind"),
        "mode": linkinfo.get("info_data", {}).get("mode"),
        "address": info.get("address"),
        "link": info.get("link"),
        "up": "UP" in info.get("flags", []),
        "addrgenmode": info.get("inet6_addr_gen_mode"),
    }


def sysctl(node: Node, path: str) -> str:
    out = subprocess.run(
        ["ip", "netns", "exec", node.ns, "cat", f"/proc/sys/{path}"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return out.stdout.strip() if out.returncode == 0 else "absent"


def settings(node: Node, name: str) -> dict[str, str]:
    found = {f"{name}.{s}": sysctl(node, f"net/ipv4/conf/{name}/{s}") for s in SETTINGS}
    found[f"{name}.disable_ipv6"] = sysctl(node, f"net/ipv6/conf/{name}/disable_ipv6")
    return found


def vip_devices(node: Node) -> list[str]:
    out = node.ip("-4", "-o", "addr", "show").stdout
    return [line.split()[1] for line in out.splitlines() if f" {VIP}/" in line]


def observe(lab: NetnsLab, kind: str, extra: str, vmac_name: str) -> dict[str, Any]:
    """Run ``kind`` with ``extra`` (use_vmac...) on node a, keepalived on b: what a does."""
    a, b = lab.add_node("a", 1), lab.add_node("b", 2)
    seen: dict[str, Any] = {"eth0_mac": mac_of(a)}
    with FrameCapture(lab, a) as cap:
        b.start("keepalived", vmac_conf(200))
        wait_for(lambda: vip_devices(b) == ["eth0"], 8.0, "b to become master")
        engine = a.start(kind, vmac_conf(100, extra))
        wait_for(lambda: link(a, vmac_name) is not None, 8.0, f"{vmac_name} to appear")
        time.sleep(4 * ADVERT)
        seen["backup_link"] = link_facts(a, vmac_name)
        seen["backup_vip_devices"] = vip_devices(a)
        seen["backup_settings"] = {**settings(a, "eth0"), **settings(a, vmac_name)}
        seen["backup_frames"] = len(cap.frames())
        b.engines[0].terminate()
        wait_for(lambda: bool(vip_devices(a)), 8.0, "a to take over")
        time.sleep(10 * ADVERT)  # adverts and the gratuitous ARPs of the takeover
        seen["master_link"] = link_facts(a, vmac_name)
        seen["master_vip_devices"] = vip_devices(a)
        engine.terminate()
        engine.proc.wait(timeout=10)
        time.sleep(2 * ADVERT)
        frames = cap.frames()
    seen["exit"] = engine.proc.returncode
    seen["after_link"] = link(a, vmac_name)
    seen["after_vip_devices"] = vip_devices(a)
    adverts = [f for f in frames if f["kind"] == "vrrp" and f["vrid"] == VRID]
    garps = [f for f in frames if f["kind"] == "arp" and f["psrc"] == VIP]
    seen["advert_sources"] = sorted({(f["eth_src"], f["src"]) for f in adverts if f["priority"]})
    seen["advert_priority0"] = sorted(
        {(f["eth_src"], f["src"]) for f in adverts if not f["priority"]}
    )
    seen["garps"] = sorted(
        {(f["eth_src"], f["eth_dst"], f["op"], f["hwsrc"], f["hwdst"], f["pdst"]) for f in garps}
    )
    seen["garp_count"] = len(garps)
    return seen


def _normalised(seen: dict[str, Any]) -> dict[str, Any]:
    """eth0's MAC (random per lab) written as "ETH0"."""
    text = json.dumps(seen, sort_keys=True).replace(seen["eth0_mac"], "ETH0")
    data = json.loads(text)
    data.pop("eth0_mac")
    return dict(data)


@pytest.mark.parametrize(
    ("extra", "vmac_name", "xmit_base"),
    [
        pytest.param("use_vmac", "vrrp.52", False, id="default"),
        pytest.param("use_vmac vx52\n    vmac_xmit_base", "vx52", True, id="named-xmit-base"),
    ],
)
def test_vmac_as_keepalived_makes_it(
    tmp_path: Any, extra: str, vmac_name: str, xmit_base: bool
) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for kind in ("keepalived", "halab"):
        (tmp_path / kind).mkdir()
        with NetnsLab(tmp_path / kind) as the_lab:
            try:
                seen[kind] = _normalised(observe(the_lab, kind, extra, vmac_name))
            finally:
                for engine in the_lab.engines:
                    print(f"--- {engine.kind} log:\n{engine.log()[-3000:]}")
    ka, ha = seen["keepalived"], seen["halab"]
    print(json.dumps(seen, indent=1, sort_keys=True))
    # what keepalived does, checked on its own run too
    for run in (ka, ha):
        assert run["backup_link"] == {
            "kind": "macvlan",
            "mode": "private",
            "address": VMAC,
            "link": "eth0",
            "up": True,
            "addrgenmode": "none",
        }
        assert run["backup_vip_devices"] == []
        assert run["master_vip_devices"] == [vmac_name]
        advert_mac = "ETH0" if xmit_base else VMAC
        assert run["advert_sources"] == [[advert_mac, "10.77.0.1"]]
        assert run["advert_priority0"] == [[advert_mac, "10.77.0.1"]]
        assert run["garps"] == [[VMAC, "ff:ff:ff:ff:ff:ff", 1, VMAC, "ff:ff:ff:ff:ff:ff", VIP]]
        assert run["after_link"] is None
        assert run["exit"] == 0
    for key in ("backup_link", "master_link", "backup_vip_devices", "master_vip_devices"):
        assert ha[key] == ka[key], key
    for key in ("advert_sources", "advert_priority0", "garps", "after_link"):
        assert ha[key] == ka[key], key
    assert ha["backup_settings"] == ka["backup_settings"]
    assert ha["garp_count"] == ka["garp_count"]


@pytest.mark.parametrize("kind", ["keepalived", "halab"])
def test_deleted_vmac_is_made_again(lab: NetnsLab, kind: str) -> None:
    """keepalived makes a VMAC deleted under it again; the master's VIP comes back on it."""
    a = lab.add_node("a", 1)
    a.start(kind, vmac_conf(100, "use_vmac"))
    wait_for(lambda: vip_devices(a) == ["vrrp.52"], 10.0, "a to become master on vrrp.52")
    a.ip("link", "del", "vrrp.52")
    wait_for(lambda: link(a, "vrrp.52") is not None, 5.0, "vrrp.52 to be made again")
    assert link_facts(a, "vrrp.52")["address"] == VMAC
    wait_for(lambda: vip_devices(a) == ["vrrp.52"], 10.0, "the VIP back on vrrp.52")


def test_reload_dropping_use_vmac_removes_it(lab: NetnsLab) -> None:
    """SIGHUP with use_vmac gone: the instance restarts on eth0 and the VMAC goes."""
    a = lab.add_node("a", 1)
    engine = a.start("halab", vmac_conf(100, "use_vmac"))
    wait_for(lambda: vip_devices(a) == ["vrrp.52"], 10.0, "a to become master on vrrp.52")
    conf = lab.workdir / "a-halab-0.conf"
    conf.write_text(vmac_conf(100))
    engine.proc.send_signal(1)  # SIGHUP
    wait_for(lambda: link(a, "vrrp.52") is None, 10.0, "vrrp.52 to go")
    wait_for(lambda: vip_devices(a) == ["eth0"], 10.0, "the VIP on eth0")

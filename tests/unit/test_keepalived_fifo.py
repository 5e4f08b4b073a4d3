"""keepalived's notify FIFO as the balancers read it (halab-observe --fifo), and the VRRP
engines' state events as the timeline gets them: one shape for keepalived and halab-vrrpd."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import ARP, Ether
from scapy.layers.vrrp import VRRP, VRRPv3

from pytest_halab.engines.halab import engine_log_event
from pytest_halab.measures import MeasureContext, VipInfo, measure
from pytest_halab.timeline import Event, Timeline

OBSERVER = Path(__file__).resolve().parents[2] / "lab" / "images" / "base" / "halab-observe"


def _load_observer() -> ModuleType:
    loader = SourceFileLoader("halab_observe", str(OBSERVER))
    spec = importlib.util.spec_from_loader("halab_observe", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


obs = _load_observer()


# --- one line --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ('INSTANCE "VI_1" MASTER 150\n', ("INSTANCE", "VI_1", "MASTER", 150)),
        ('INSTANCE "VI_1" BACKUP 100', ("INSTANCE", "VI_1", "BACKUP", 100)),
        ('INSTANCE "VI_1" FAULT 0\r\n', ("INSTANCE", "VI_1", "FAULT", 0)),
        ('INSTANCE "VI_1" STOP 255\n', ("INSTANCE", "VI_1", "STOP", 255)),
        ('GROUP "G1" MASTER 0\n', ("GROUP", "G1", "MASTER", 0)),
        (
            'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150\n',
            ("INSTANCE", "VI_1", "MASTER_RX_LOWER_PRI", 150),
        ),
        ('INSTANCE "VI_1" {UNKNOWN} 7\n', ("INSTANCE", "VI_1", "{UNKNOWN}", 7)),
        # keepalived writes the name between quotes as it is: the last '" ' ends it
        ('INSTANCE "web vip" MASTER 150\n', ("INSTANCE", "web vip", "MASTER", 150)),
        ('INSTANCE "a" b" BACKUP 1\n', ("INSTANCE", 'a" b', "BACKUP", 1)),
    ],
)
def test_notify_lines(line: str, parsed: tuple[str, str, str, int]) -> None:
    assert obs.parse_notify_line(line) == parsed


@pytest.mark.parametrize(
    "line",
    [
        "",
        "\n",
        "garbage",
        "INSTANCE VI_1 MASTER 150",  # no quotes
        'INSTANCE "" MASTER 150',  # empty name
        'INSTANCE "VI_1 MASTER 150',  # unterminated name
        'INSTANCE "VI_1" MASTER',  # no priority
        'INSTANCE "VI_1" 150',  # no state
        'INSTANCE "VI_1" MASTER 150 extra',
        'INSTANCE "VI_1"  MASTER 150',  # two spaces
        'INSTANCE "VI_1" master 150',  # keepalived writes states in capitals
        'INSTANCE "VI_1" MASTER 256',
        'INSTANCE "VI_1" MASTER -1',
        'INSTANCE "VI_1" MASTER 1.5',
        'INSTANCE "VI_1" MASTER \u0661\u0665\u0660',  # digits, but not ASCII ones
        'VRRP "VI_1" MASTER 150',  # neither INSTANCE nor GROUP
        'instance "VI_1" MASTER 150',
        ' INSTANCE "VI_1" MASTER 150',
        'INSTANCE "VI_1" MAS',  # a line cut off by a dying writer
    ],
)
def test_malformed_notify_lines(line: str) -> None:
    with pytest.raises(ValueError):
        obs.parse_notify_line(line)


# --- lines into events -----------------------------------------------------------------------


def test_state_changes_carry_the_state_left() -> None:
    t = obs.NotifyTracker()
    recs = [
        t.record(line, 1_700_000_000.0 + i)
        for i, line in enumerate(
            [
                'GROUP "G1" BACKUP 0',
                'INSTANCE "VI_1" BACKUP 150',
                'INSTANCE "VI_2" BACKUP 100',
                'INSTANCE "VI_1" MASTER 150',
                'INSTANCE "VI_1" MASTER_PRIORITY 50',  # a notice: the state stays MASTER
                'INSTANCE "VI_1" BACKUP 50',
                'GROUP "G1" MASTER 0',
            ]
        )
    ]
    states = [
        (r.get("instance") or r.get("group"), r.get("prev"), r["state"])
        for r in recs
        if "state" in r
    ]
    assert states == [
        ("G1", "INIT", "BACKUP"),
        ("VI_1", "INIT", "BACKUP"),
        ("VI_2", "INIT", "BACKUP"),
        ("VI_1", "BACKUP", "MASTER"),
        ("VI_1", "MASTER", "BACKUP"),
        ("G1", "BACKUP", "MASTER"),
    ]
    assert recs[3] == {
        "ts": 1_700_000_003.0,
        "kind": "vrrp_state",
        "instance": "VI_1",
        "state": "MASTER",
        "prev": "BACKUP",
        "priority": 150,
        "engine": "keepalived",
        "source": "notify_fifo",
    }
    assert recs[0]["kind"] == "vrrp_group_state" and "priority" not in recs[0]
    assert recs[4] == {
        "ts": 1_700_000_004.0,
        "kind": "vrrp_notice",
        "instance": "VI_1",
        "notice": "MASTER_PRIORITY",
        "priority": 50,
        "engine": "keepalived",
        "source": "notify_fifo",
    }


def test_a_new_writer_starts_from_init() -> None:
    t = obs.NotifyTracker()
    t.record('INSTANCE "VI_1" MASTER 150', 1.0)
    t.new_session()  # keepalived restarted: its instances begin in INIT again
    assert t.record('INSTANCE "VI_1" BACKUP 150', 2.0)["prev"] == "INIT"


def test_a_malformed_line_is_reported_not_dropped() -> None:
    t = obs.NotifyTracker()
    rec = t.record('INSTANCE "VI_1" MASTER 999\n', 1_700_000_000.1234567)
    assert rec["kind"] == "observer_error"
    assert rec["ts"] == 1_700_000_000.123457
    assert rec["line"] == 'INSTANCE "VI_1" MASTER 999'
    assert "notify_fifo" in rec["error"] and "0-255" in rec["error"]
    # ... and leaves the instance's state alone
    assert t.record('INSTANCE "VI_1" BACKUP 150', 2.0)["prev"] == "INIT"


def test_stamps_are_microseconds() -> None:
    rec = obs.NotifyTracker().record('INSTANCE "VI_1" MASTER 150', 1_795_325_903.9062949)
    assert rec["ts"] == 1_795_325_903.906295


# --- one shape for both engines ----------------------------------------------------------------


def test_both_engines_give_the_timeline_the_same_state_event() -> None:
    keepalived = obs.NotifyTracker()
    keepalived.record('INSTANCE "VI_1" BACKUP 100', 1_795_325_900.0)
    line = json.dumps(keepalived.record('INSTANCE "VI_1" MASTER 100', 1_795_325_903.906294))
    from_fifo = Event.from_json(line, node="lb2")
    record = {"ts": 1_795_325_903_906_294, "event": "state_change", "instance": "VI_1"}
    from_vrrpd = engine_log_event(
        {**record, "old": "BACKUP", "new": "MASTER", "priority": 100}, "lb2"
    )
    assert from_vrrpd is not None
    for ev in (from_fifo, from_vrrpd):
        assert (ev.ts, ev.node, ev.kind) == (1_795_325_903.906294, "lb2", "vrrp_state")
        assert {k: ev.data[k] for k in ("instance", "state", "prev", "priority")} == {
            "instance": "VI_1",
            "state": "MASTER",
            "prev": "BACKUP",
            "priority": 100,
        }
    assert from_fifo.data["engine"] == "keepalived" and from_vrrpd.data["engine"] == "halab"


def test_keepalived_state_events_drive_detection() -> None:
    """With keepalived's FIFO events in the timeline, detection is the state change."""
    t0 = 1_795_325_900.0
    tracker = obs.NotifyTracker()
    fifo = [
        Event.from_json(json.dumps(tracker.record(line, t0 + dt)), node="lb2")
        for line, dt in (('INSTANCE "VI_1" BACKUP 100', -9.0), ('INSTANCE "VI_1" MASTER 100', 3.61))
    ]
    tl = Timeline(
        [
            Event(t0 - 10, "lb1", "vip_added", {"addr": "10.0.0.3", "dev": "eth0"}),
            Event(t0, "lab", "fault", {"name": "crash_node", "phase": "inject", "target": "lb1"}),
            *fifo,
            Event(
                t0 + 3.6102, "client", "advert", {"src": "10.0.0.11", "vrid": 51, "priority": 100}
            ),
            Event(t0 + 3.6105, "lb2", "vip_added", {"addr": "10.0.0.3", "dev": "eth0"}),
        ],
        vips={"VI_1": "10.0.0.3"},
    )
    ctx = MeasureContext(
        node_addrs={"lb2": "10.0.0.11"},
        vips={"VI_1": VipInfo("10.0.0.3", vrid=51, instances=("VI_1",))},
    )
    m = measure(tl, ctx, "VI_1", at=t0)
    assert m.detection_source == "vrrp_state"
    assert m.detection_s == 3.61 and m.vip_move_s == 3.6105


# --- the FIFO itself ---------------------------------------------------------------------------


@pytest.fixture
def fifo_path(tmp_path: Path) -> Path:
    return tmp_path / "keepalived.fifo"


@pytest.fixture
def reader(fifo_path: Path) -> Iterator[Any]:
    r = obs.NotifyFifo(str(fifo_path))
    r.open()
    yield r
    r.close()


def keepalived_writer(path: Path) -> int:
    """A writer as keepalived 2.2.7 opens the FIFO: read-write and non-blocking."""
    return os.open(path, os.O_RDWR | os.O_NONBLOCK)


def readable(r: Any, timeout: float = 1.0) -> bool:
    return bool(select.select([r.fileno()], [], [], timeout)[0])


def test_the_reader_makes_the_fifo(reader: Any, fifo_path: Path) -> None:
    assert stat.S_ISFIFO(fifo_path.stat().st_mode)
    assert stat.S_IMODE(fifo_path.stat().st_mode) == 0o600
    assert not readable(reader, 0.05)  # no writer yet: no busy loop on a false EOF


def test_lines_partial_lines_and_a_new_writer(reader: Any, fifo_path: Path) -> None:
    w = keepalived_writer(fifo_path)
    os.write(w, b'INSTANCE "VI_1" BACKUP 150\nINSTANCE "VI_1" MAS')
    assert readable(reader)
    recs = reader.read(10.0)
    assert [(r["kind"], r["state"], r["prev"]) for r in recs] == [("vrrp_state", "BACKUP", "INIT")]
    os.write(w, b"TER 150\n\nnonsense\n")
    assert readable(reader)
    recs = reader.read(11.0)
    assert [(r["kind"], r.get("state"), r["ts"]) for r in recs] == [
        ("vrrp_state", "MASTER", 11.0),
        ("observer_error", None, 11.0),
    ]
    assert recs[0]["prev"] == "BACKUP" and recs[1]["line"] == "nonsense"
    # keepalived dies in the middle of a line: EOF, the cut-off line is reported, and the
    # FIFO is reopened for the next keepalived
    os.write(w, b'INSTANCE "VI_1" ST')
    os.close(w)
    recs = []
    while readable(reader, 0.05):  # the data, then the EOF
        recs += reader.read(12.0)
    assert [r["kind"] for r in recs] == ["observer_error"]
    assert recs[0]["line"] == 'INSTANCE "VI_1" ST'
    # reopened (the loop above ended): quiet until the next writer
    w = keepalived_writer(fifo_path)
    os.write(w, b'INSTANCE "VI_1" BACKUP 150\n')
    assert readable(reader)
    (rec,) = reader.read(13.0)
    assert (rec["state"], rec["prev"]) == ("BACKUP", "INIT")  # a new keepalived
    os.close(w)


def test_a_replaced_fifo_is_noticed(reader: Any, fifo_path: Path) -> None:
    assert not reader.replaced()
    fifo_path.unlink()
    assert reader.replaced()
    fifo_path.write_text("not a fifo")
    reader.open()  # our own path: a stale file there gives way to a FIFO
    assert stat.S_ISFIFO(fifo_path.stat().st_mode) and not reader.replaced()


@contextlib.contextmanager
def observer(*args: str) -> Iterator[subprocess.Popen[str]]:
    """halab-observe with ``args`` (no time limit), stopped by SIGTERM at the end, which
    must end it cleanly, having written nothing beyond what the test read."""
    proc = subprocess.Popen(
        [sys.executable, str(OBSERVER), *args, "--duration", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert out == ""


def test_the_observer_follows_keepalived_restarts(fifo_path: Path) -> None:
    """halab-observe --fifo end to end: ready line, stamped events, a writer leaving and a
    new one coming, SIGTERM."""
    with observer("--fifo", str(fifo_path)) as proc:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["kind"] == "observer_ready" and ready["modes"] == ["fifo"]
        assert ready["pid"] == proc.pid
        lines: list[dict[str, Any]] = []
        for session in range(2):
            w = keepalived_writer(fifo_path)
            before = time.time()
            os.write(w, b'GROUP "G1" BACKUP 0\nINSTANCE "VI_1" BACKUP 150\n')
            os.write(w, b'INSTANCE "VI_1" MASTER 150\n')
            for _ in range(3):
                lines.append(json.loads(proc.stdout.readline()))
            after = time.time()
            assert all(before - 1e-6 <= r["ts"] <= after + 1e-6 for r in lines[-3:]), session
            os.close(w)
            time.sleep(0.05)  # the reader sees EOF and reopens
        states = [(r["kind"], r.get("state"), r.get("prev")) for r in lines]
        assert (
            states
            == [
                ("vrrp_group_state", "BACKUP", "INIT"),
                ("vrrp_state", "BACKUP", "INIT"),
                ("vrrp_state", "MASTER", "BACKUP"),
            ]
            * 2
        )


# --- keepalived's log (halab-observe --log) -------------------------------------------------

KEEPALIVED_LOG = (
    b"Thu Dec  3 12:53:47 2026: Script `check_nginx` now returning 1\n"
    b"Thu Dec  3 12:53:47 2026: VRRP_Script(check_nginx) failed (exited with status 1)\n"
    b"Thu Dec  3 12:53:47 2026: (VI_1) Changing effective priority from 100 to 1\n"
)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        (
            b"Thu Dec  3 12:53:47 2026: (VI_1) Changing effective priority from 100 to 1",
            ("VI_1", 100, 1),
        ),
        (
            b"Keepalived_vrrp[64509]: VRRP_Instance(VI_1)"
            b" Changing effective priority from 100 to 98",
            ("VI_1", 100, 98),
        ),
        (b"(haproxy-vip) Changing effective priority from 100 to 102\r", ("haproxy-vip", 100, 102)),
        (b"(VI_1) Changing effective priority from 100 to 256", None),
        (b"(VI_1) Changing effective priority from 100 to", None),
        (b"(VI_1) Entering MASTER STATE", None),
        (b"(two words) Changing effective priority from 1 to 2", None),
    ],
)
def test_priority_lines(tmp_path: Path, line: bytes, found: tuple[str, int, int] | None) -> None:
    log = tmp_path / "vrrp.log"
    f = obs.LogFollower(str(log))
    f.open(at_end=True)
    try:
        log.write_bytes(line + b"\n")
        recs = f.read(5.0)
    finally:
        f.close()
    got = [(r["instance"], r["old"], r["new"]) for r in recs]
    assert got == ([found] if found else [])
    for r in recs:
        assert (r["kind"], r["event"], r["engine"], r["ts"]) == (
            "engine",
            "priority_change",
            "keepalived",
            5.0,
        )


def test_the_log_is_followed_from_its_end_and_through_truncation(tmp_path: Path) -> None:
    log = tmp_path / "vrrp.log"
    log.write_bytes(KEEPALIVED_LOG)  # an earlier keepalived's: not this run's
    f = obs.LogFollower(str(log))
    f.open(at_end=True)
    try:
        assert f.watch is not None  # inotify here (Linux, ctypes)
        assert f.read(1.0) == []
        with log.open("ab") as w:
            w.write(b"Thu Dec  3 12:53:49 2026: (VI_1) Changing effective")
            w.flush()
            assert select.select([f.watch], [], [], 1.0)[0]  # woken by the write
            assert f.read(2.0) == []  # half a line: not yet
            w.write(b" priority from 1 to 100\n")
        (rec,) = f.read(3.0)
        assert (rec["old"], rec["new"], rec["ts"]) == (1, 100, 3.0)
        log.write_bytes(KEEPALIVED_LOG)  # truncated and written again (> vrrp.log)
        (rec,) = f.read(4.0)
        assert (rec["old"], rec["new"]) == (100, 1)
        log.unlink()
        assert not f.replaced()  # nothing there: stay
        log.write_bytes(KEEPALIVED_LOG)  # a new file: read from its start
        assert f.replaced()
        f.open(at_end=False)
        assert [(r["old"], r["new"]) for r in f.read(5.0)] == [(100, 1)]
    finally:
        f.close()


def test_the_observer_reports_keepalived_priority_changes_from_its_log(
    tmp_path: Path, fifo_path: Path
) -> None:
    """halab-observe --fifo --log end to end, as 30-vrrp starts it: the log's earlier lines
    are not this run's, a new line is stamped when it is written."""
    log = tmp_path / "vrrp.log"
    log.write_bytes(KEEPALIVED_LOG)
    with observer("--fifo", str(fifo_path), "--log", str(log)) as proc:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["modes"] == ["fifo", "log"]
        before = time.time()
        with log.open("ab") as w:
            w.write(b"Thu Dec  3 12:53:49 2026: (VI_1) Changing effective priority from 1 to 100\n")
        rec = json.loads(proc.stdout.readline())
        after = time.time()
        assert (rec["kind"], rec["event"], rec["instance"], rec["old"], rec["new"]) == (
            "engine",
            "priority_change",
            "VI_1",
            1,
            100,
        )
        assert before - 1e-6 <= rec["ts"] <= after + 1e-6
        ev = Event.from_record(json.dumps(rec).encode(), "lb2")
        assert ev is not None and ev.kind == "engine" and ev.get("event") == "priority_change"


# --- the capture (halab-observe --capture) -------------------------------------------------------


def test_captured_frames_become_advert_and_garp_events() -> None:
    """The JSON lines the client's capture writes, to the byte: the timeline, the measures
    and the lab tests read these keys."""
    ts = 1_795_325_900.1234564
    eth = Ether(src="02:42:AC:14:00:0B", dst="01:00:5e:00:00:12")
    ip = IP(src="172.20.0.11", dst="224.0.0.18", ttl=255, proto=112)
    v2 = bytes(eth / ip / VRRP(vrid=51, priority=0, addrlist=["10.0.0.3", "10.0.0.4"]))
    v3 = bytes(eth / ip / VRRPv3(vrid=200, priority=150, addrlist=["10.0.0.5"], adv=10))
    garp = bytes(
        Ether(src="02:42:0a:00:00:0b")
        / ARP(op=2, hwsrc="02:42:0A:00:00:0B", psrc="10.0.0.3", pdst="10.0.0.3")
    )
    lines = [json.dumps(obs.capture_event(f, ts), separators=(",", ":")) for f in (v2, v3, garp)]
    assert lines == [
        '{"ts":1795325900.123456,"kind":"advert","src":"172.20.0.11","dst":"224.0.0.18",'
        '"ttl":255,"vrid":51,'
        '"priority":0,"version":2,"addrs":["10.0.0.3","10.0.0.4"],"smac":"02:42:ac:14:00:0b"}',
        '{"ts":1795325900.123456,"kind":"advert","src":"172.20.0.11","dst":"224.0.0.18",'
        '"ttl":255,"vrid":200,'
        '"priority":150,"version":3,"addrs":["10.0.0.5"],"smac":"02:42:ac:14:00:0b"}',
        '{"ts":1795325900.123456,"kind":"garp","addr":"10.0.0.3","mac":"02:42:0a:00:00:0b",'
        '"op":"reply"}',
    ]
    assert Event.from_json(lines[0], node="client").get("priority") == 0
    # not events: an ARP that is not gratuitous, a broken advert, a runt
    who_has = bytes(Ether() / ARP(op=1, psrc="10.0.0.3", pdst="10.0.0.4"))
    assert obs.capture_event(who_has, ts) is None
    assert obs.capture_event(v2[:-1], ts) is None
    assert obs.capture_event(v2[:20], ts) is None


def _run_bpf(program: tuple[tuple[int, int, int, int], ...], frame: bytes) -> int:
    """A classic BPF interpreter for the four instructions the capture filter uses (load
    half/byte absolute, jump if equal, return); out-of-frame loads drop, as the kernel does."""
    a, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code in (0x28, 0x30):
            size = 2 if code == 0x28 else 1
            if k + size > len(frame):
                return 0
            a = int.from_bytes(frame[k : k + size], "big")
            pc += 1
        elif code == 0x15:
            pc += 1 + (jt if a == k else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"instruction {code:#x} not expected")


def test_the_capture_filter_keeps_vrrp_and_arp_only() -> None:
    """The kernel-side filter keeps what capture_event can use and drops the probes' TCP."""
    from scapy.layers.inet import TCP
    from scapy.layers.inet6 import IPv6

    eth = Ether(src="02:42:ac:14:00:0b", dst="01:00:5e:00:00:12")
    kept = [
        bytes(eth / IP(src="10.0.0.11", dst="224.0.0.18", proto=112) / VRRP(vrid=51)),
        bytes(eth / IP(src="10.0.0.11", dst="224.0.0.18", proto=112) / VRRPv3(vrid=5)),
        bytes(Ether() / ARP(op=2, psrc="10.0.0.3", pdst="10.0.0.3")),
        bytes(Ether() / ARP(op=1, psrc="10.0.0.9", pdst="10.0.0.3")),
        bytes(Ether() / IPv6(src="fe80::1", dst="ff02::12", nh=112) / VRRPv3(vrid=5)),
    ]
    dropped = [
        bytes(Ether() / IP(src="10.0.0.100", dst="10.0.0.3") / TCP(dport=80, flags="S")),
        bytes(Ether() / IP(src="10.0.0.100", dst="10.0.0.3", proto=1)),
        bytes(Ether() / IPv6(src="fe80::1", dst="fe80::2") / TCP()),
        bytes(Ether(type=0x88CC) / (b"\x00" * 40)),  # LLDP
        b"\x00" * 12,  # shorter than an Ethernet header
    ]
    for frame in kept:
        assert _run_bpf(obs.VRRP_AND_ARP_FILTER, frame) == 0x40000, frame.hex()
    for frame in dropped:
        assert _run_bpf(obs.VRRP_AND_ARP_FILTER, frame) == 0, frame.hex()

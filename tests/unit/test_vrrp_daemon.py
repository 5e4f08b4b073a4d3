"""halab-vrrpd without a network: flags, -t, the event log, tracking, notify, the loop."""

from __future__ import annotations

import importlib
import itertools
import json
import logging
import os
import pwd
import re
import select
import shutil
import signal
import smtplib
import socket
import stat
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_halab.vrrp import daemon, links
from pytest_halab.vrrp.__main__ import main, parse_args
from pytest_halab.vrrp.conf import config_test_exit_status, load_config
from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.garp import build_garp_frame
from pytest_halab.vrrp.loglimit import LogLimiter
from pytest_halab.vrrp.loop import EventLoop
from pytest_halab.vrrp.net import (
    AddressInfo,
    LinkInfo,
    Netlink,
    NetlinkError,
    RoutingChange,
    VrrpSocket,
)
from pytest_halab.vrrp.packet import VrrpAdvert, build_ipv4_header, decode, encode
from pytest_halab.vrrp.smtpalert import SmtpAlerter
from pytest_halab.vrrp.state import State
from pytest_halab.vrrp.status import REQUEST_SIGNALS, instance_record
from pytest_halab.vrrp.track import (
    ProcessRunner,
    ScriptTracker,
    TrackedItem,
    notify_runs,
    split_command,
    tracking_result,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "keepalived"
DIAG = re.compile(r"^\((.+: )?Line \d+\) .+$")


def notify_commands(**kw: Any) -> list[list[str]]:
    """The argv lists of notify_runs (without the users the scripts run as)."""
    return [list(c.argv) for c in notify_runs(**kw)]


# --- command line --------------------------------------------------------------------


def test_keepalived_flags_parse() -> None:
    args = parse_args(
        ["-f", "/x.conf", "-n", "-l", "-D", "-p", "/run/x.pid", "-P", "--event-log", "/e.jsonl"]
    )
    assert args.use_file == "/x.conf"
    assert args.dont_fork and args.log_console and args.log_detail and args.vrrp
    assert args.pid == "/run/x.pid"
    assert args.event_log == "/e.jsonl"
    assert not args.config_test


def test_long_flags_parse() -> None:
    args = parse_args(
        ["--use-file", "/y.conf", "--dont-fork", "--log-console", "--log-detail", "--pid", "p"]
    )
    assert (args.use_file, args.pid) == ("/y.conf", "p")
    assert args.dont_fork and args.log_console and args.log_detail


def test_defaults_match_keepalived() -> None:
    args = parse_args([])
    assert args.use_file == "/etc/keepalived/keepalived.conf"
    assert not args.dont_fork


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "keepalived 2.2.7" in capsys.readouterr().out


def test_unknown_flag_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--no-such-flag"])
    assert exc.value.code == 2


def test_missing_config_file_exits_nonzero(tmp_path: Path) -> None:
    assert main(["-n", "-f", str(tmp_path / "absent.conf")]) == 1


# --- -t --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("bad_missing_parameter.conf", 2),
        ("bad_duplicate_instance.conf", 5),
        ("bad_values_wrong_block.conf", 5),
        ("bad_unterminated_quote.conf", 2),
    ],
)
def test_config_test_exit_status(
    name: str, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-t", "-f", str(DATA / name)]) == status
    lines = capsys.readouterr().err.splitlines()
    assert lines, "diagnostics are printed"
    # located as keepalived locates them: while reading, the file and line; after, bare
    _cfg, diags = load_config(str(DATA / name))
    bare = {d.message for d in diags if not d.located}
    assert all(DIAG.match(line) or line in bare for line in lines), lines


def test_config_test_missing_file_is_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nope.conf"
    assert main(["-t", "-f", str(path)]) == 4
    err = capsys.readouterr().err
    assert err == f"Config files missing '{path}'.\n"  # keepalived's words, no location


@pytest.mark.parametrize("conf", sorted(p.name for p in DATA.glob("*.conf")))
def test_config_test_agrees_with_the_parser(conf: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(DATA / conf)
    _cfg, diags = load_config(path)
    assert main(["--config-test", "--use-file", path]) == config_test_exit_status(diags)
    # what keepalived only logs (log_message) is not printed by -t
    assert capsys.readouterr().err.splitlines() == [str(d) for d in diags if d.printed_by_test]


def test_config_test_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    iface = next((n for n in sorted(os.listdir("/sys/class/net")) if n != "lo"), None)
    if iface is None:
        pytest.skip("no non-loopback interface")
    conf = tmp_path / "k.conf"
    conf.write_text(
        f"vrrp_instance VI_1 {{\n interface {iface}\n virtual_router_id 5\n priority 100\n"
        f" advert_int 1\n virtual_ipaddress {{\n  192.0.2.1/24\n }}\n}}\n"
    )
    assert main(["-t", "-f", str(conf)]) == 0


# --- event log ---------------------------------------------------------------------------


def test_event_log_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    events = EventLog(str(path))
    before = time.time_ns() // 1000
    events.emit("state_change", "VI_1", old="BACKUP", new="MASTER", priority=150)
    events.emit("malformed_packet", None, reason="too short", src="10.0.0.1")
    after = time.time_ns() // 1000
    # Flushed at once: readable before close.
    records = [json.loads(line) for line in path.read_text().splitlines()]
    events.close()
    assert [r["event"] for r in records] == ["state_change", "malformed_packet"]
    for record in records:
        assert isinstance(record["ts"], int)
        assert before <= record["ts"] <= after
        assert "instance" in record
    assert records[0]["instance"] == "VI_1" and records[0]["new"] == "MASTER"
    assert records[1]["instance"] is None
    assert events.counts["state_change"] == 1


def test_event_log_appends(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    for _ in range(2):
        log = EventLog(str(path))
        log.emit("daemon_start", None)
        log.close()
    assert len(path.read_text().splitlines()) == 2


# --- event loop ------------------------------------------------------------------------


def test_loop_runs_timers_in_order_and_skips_cancelled() -> None:
    loop = EventLoop()
    seen: list[str] = []
    now = loop.time()
    loop.call_at(now + 0.02, lambda: seen.append("b"))
    loop.call_at(now + 0.01, lambda: seen.append("a"))
    loop.call_at(now + 0.015, lambda: seen.append("x")).cancel()
    while len(seen) < 2:
        loop.run_once(max_wait=1.0)
    assert seen == ["a", "b"]
    assert loop.next_deadline() is None
    loop.close()


def test_loop_sleeps_until_the_deadline_not_in_ticks() -> None:
    loop = EventLoop()
    fired: list[float] = []
    start = loop.time()
    loop.call_at(start + 0.2, lambda: fired.append(loop.time()))
    while not fired:
        loop.run_once()
    # One wake-up for one timer: no polling tick.
    assert loop.wakeups == 1
    assert 0.2 <= fired[0] - start < 0.3
    loop.close()


def test_loop_precise_timers_never_fire_early_and_readers_cut_the_poll_short() -> None:
    """A precise timer is polled for its last 0.3 ms: it still runs at or after its
    deadline, in one wake-up, and a packet arriving meanwhile is handled at once."""
    loop = EventLoop()
    fired: list[float] = []
    whens = []
    for delay in (0.05, 0.0002, 0.1):
        when = loop.time() + delay
        whens.append(when)
        loop.call_at(when, lambda: fired.append(loop.time()), precise=True)
        before = loop.wakeups
        while len(fired) < len(whens):
            loop.run_once()
        assert loop.wakeups == before + 1
    assert all(f >= w for f, w in zip(fired, whens, strict=True))
    a, b = socket.socketpair()
    got: list[bytes] = []
    loop.add_reader(a.fileno(), lambda: got.append(a.recv(10)))
    loop.call_at(loop.time() + 30, lambda: None, precise=True)
    b.send(b"x")
    loop.run_once()
    assert got == [b"x"]
    loop.close()
    a.close()
    b.close()


def test_loop_readers() -> None:
    loop = EventLoop()
    a, b = socket.socketpair()
    got: list[bytes] = []
    loop.add_reader(a.fileno(), lambda: got.append(a.recv(10)))
    b.send(b"hi")
    loop.run_once(max_wait=1.0)
    assert got == [b"hi"]
    loop.remove_reader(a.fileno())
    loop.remove_reader(a.fileno())  # twice is harmless
    a.close()
    b.close()
    loop.close()


# --- tracking ----------------------------------------------------------------------------


def item(weight: int, ok: bool, reverse: bool = False) -> TrackedItem:
    return TrackedItem("script", "chk", weight, reverse, ok)


@pytest.mark.parametrize(
    ("weight", "reverse", "ok", "priority", "fault"),
    [
        (20, False, True, 120, False),  # weight > 0 added while OK
        (20, False, False, 100, False),
        (-30, False, True, 100, False),
        (-30, False, False, 70, False),  # weight < 0 applied while failing
        (0, False, True, 100, False),
        (0, False, False, 100, True),  # weight 0: FAULT while failing
        (20, True, True, 80, False),  # reverse flips the sign
        (-30, True, False, 130, False),
    ],
)
def test_weights(weight: int, reverse: bool, ok: bool, priority: int, fault: bool) -> None:
    assert tracking_result(100, [item(weight, ok, reverse)]) == (fault, priority)


def test_priority_is_clamped_and_owner_is_fixed() -> None:
    assert tracking_result(250, [item(50, True)]) == (False, 254)
    assert tracking_result(10, [item(-50, False)]) == (False, 1)
    assert tracking_result(255, [item(-50, False)]) == (False, 255)
    assert tracking_result(100, [item(10, True), item(-5, False), item(0, True)]) == (False, 105)


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _drive(loop: EventLoop, until: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < end, "condition not reached"
        loop.run_once(max_wait=0.1)


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    the_loop = EventLoop()
    yield the_loop
    the_loop.close()


def test_script_fall_and_rise(tmp_path: Path, loop: EventLoop) -> None:
    flag = tmp_path / "ok"
    flag.touch()
    runs = tmp_path / "runs"
    script = _script(
        tmp_path,
        "chk.sh",
        f'if test -e "{flag}"; then echo ok >> "{runs}"; else echo fail >> "{runs}"; exit 1; fi',
    )

    def trailing(word: str) -> int:
        lines = runs.read_text().split()
        count = 0
        while count < len(lines) and lines[-1 - count] == word:
            count += 1
        return count

    # each change with the runs in a row behind it, counted when the change is made: the
    # next run may already have written by the time the test reads the file
    changes: list[tuple[bool, str, int]] = []
    tracker = ScriptTracker(
        "chk",
        str(script),
        scheduler=loop,
        runner=ProcessRunner(loop),
        interval=0.05,
        timeout=5,  # the default (the interval) is shorter than a fork on a loaded host
        rise=2,
        fall=3,
        on_change=lambda name, ok, detail: changes.append(
            (ok, detail, trailing("ok" if ok else "fail"))
        ),
    )
    assert tracker.ok
    tracker.start()
    _drive(loop, lambda: tracker.runs >= 3)
    assert changes == []
    flag.unlink()
    _drive(loop, lambda: bool(changes))
    # fall 3: the third failure in a row flips it
    assert changes == [(False, "failed (exited with status 1)", 3)]
    flag.touch()
    _drive(loop, lambda: len(changes) == 2)
    assert changes[-1] == (True, "succeeded", 2), "rise 2: the second success in a row flips it"
    tracker.stop()


def test_script_init_fail_then_success(tmp_path: Path, loop: EventLoop) -> None:
    changes: list[bool] = []
    tracker = ScriptTracker(
        "chk",
        "/bin/true",
        scheduler=loop,
        runner=ProcessRunner(loop),
        interval=0.05,
        timeout=5,
        init_fail=True,
        on_change=lambda name, ok, detail: changes.append(ok),
    )
    assert not tracker.ok
    tracker.start()
    _drive(loop, lambda: bool(changes))
    assert changes == [True] and tracker.ok
    tracker.stop()


def test_script_timeout_is_a_failure(tmp_path: Path, loop: EventLoop) -> None:
    script = _script(tmp_path, "slow.sh", "sleep 60")
    details: list[str] = []
    tracker = ScriptTracker(
        "slow",
        str(script),
        scheduler=loop,
        runner=ProcessRunner(loop),
        interval=0.3,
        timeout=0.1,
        on_change=lambda name, ok, detail: details.append(detail),
    )
    start = time.monotonic()
    tracker.start()
    _drive(loop, lambda: bool(details))
    assert details == ["timed_out"]
    assert time.monotonic() - start < 30  # not the script's 60 s: it was cut short
    tracker.stop()


def test_script_with_quoted_arguments(tmp_path: Path, loop: EventLoop) -> None:
    out = tmp_path / "args"
    script = _script(tmp_path, "args.sh", f'printf "%s|" "$@" > "{out}"')
    tracker = ScriptTracker(
        "args",
        f"{script} 'two words' plain",
        scheduler=loop,
        runner=ProcessRunner(loop),
        interval=10,
    )
    tracker.start()
    _drive(loop, lambda: out.exists() and out.read_text() != "")
    assert out.read_text() == "two words|plain|"
    tracker.stop()


def test_unstartable_script_fails(loop: EventLoop) -> None:
    changes: list[bool] = []
    tracker = ScriptTracker(
        "nope",
        "/nonexistent/check",
        scheduler=loop,
        runner=ProcessRunner(loop),
        interval=10,
        on_change=lambda name, ok, detail: changes.append(ok),
    )
    tracker.start()
    assert changes == [False]
    tracker.stop()


# --- notify --------------------------------------------------------------------------


def test_notify_commands_as_keepalived() -> None:
    cmds = notify_commands(
        kind="INSTANCE",
        name="VI_1",
        state="MASTER",
        priority=150,
        specific="/etc/keepalived/master.sh 'a b'",
        generic="/etc/keepalived/notify.sh",
    )
    assert cmds == [
        ["/etc/keepalived/master.sh", "a b"],
        ["/etc/keepalived/notify.sh", "INSTANCE", "VI_1", "MASTER", "150"],
    ]
    assert (
        notify_commands(
            kind="GROUP", name="G", state="FAULT", priority=0, specific=None, generic=None
        )
        == []
    )
    assert split_command('"/x y/z" -a') == ["/x y/z", "-a"]


def test_notify_runs_without_blocking(tmp_path: Path, loop: EventLoop) -> None:
    """The script can only finish once the test has gone on after starting it (it waits
    for a file the test makes then): no clock involved, a loaded host cannot fail it."""
    out = tmp_path / "notified"
    release = tmp_path / "release"
    script = _script(
        tmp_path,
        "notify.sh",
        f'i=0; while [ ! -e "{release}" ]; do i=$((i+1)); '
        f'if [ $i -gt 2000 ]; then echo gave up > "{out}"; exit 1; fi; sleep 0.01; done; '
        f'echo "$@" > "{out}"',
    )
    runner = ProcessRunner(loop)
    exits: list[int] = []
    (argv,) = notify_commands(
        kind="INSTANCE",
        name="VI_1",
        state="BACKUP",
        priority=90,
        specific=None,
        generic=str(script),
    )
    runner.start(argv, exits.append)
    release.touch()  # had start() waited for the script, the script would have given up
    _drive(loop, lambda: bool(exits))
    assert exits == [0]
    assert out.read_text().strip() == "INSTANCE VI_1 BACKUP 90"


# --- email -----------------------------------------------------------------------------


class _FakeSmtp(threading.Thread):
    """A minimal SMTP server on localhost that records one message."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.data = b""

    def run(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            f = conn.makefile("rwb")

            def reply(text: str) -> None:
                f.write(text.encode() + b"\r\n")
                f.flush()

            reply("220 fake")
            in_data = False
            for raw in f:
                if in_data:
                    if raw == b".\r\n":
                        in_data = False
                        reply("250 ok")
                    else:
                        self.data += raw
                    continue
                cmd = raw[:4].upper()
                if cmd == b"DATA":
                    in_data = True
                    reply("354 go")
                elif cmd == b"QUIT":
                    reply("221 bye")
                    return
                else:
                    reply("250 ok")


def test_email_alert_is_sent_on_a_thread() -> None:
    server = _FakeSmtp()
    server.start()
    alerter = SmtpAlerter(
        server="127.0.0.1",
        port=server.port,
        recipients=["ops@example.com"],
        sender="lb@example.com",
        router_id="LB1",
        timeout=5,
    )
    thread = alerter.instance_alert("VI_1", "MASTER")
    assert thread is not None
    thread.join(10)
    server.join(10)
    assert alerter.sent == 1
    text = server.data.decode()
    assert "Subject: [LB1] VRRP Instance VI_1 - Entering MASTER state" in text
    assert "owning VRRP VIPs" in text


def test_email_failure_is_counted_not_raised() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connection refused
    alerter = SmtpAlerter(server="127.0.0.1", port=port, recipients=["a@b"], timeout=1)
    thread = alerter.send("s", "b")
    assert thread is not None
    thread.join(10)
    assert (alerter.sent, alerter.failed) == (0, 1)
    assert SmtpAlerter(server=None, recipients=["a@b"]).send("s", "b") is None
    assert smtplib  # the module the alerter uses


# --- interfaces coming and going (fake netlink and sockets) ------------------------------


class _FakeNetlink:
    """The kernel's view, kept by the test: links and IPv4 addresses."""

    def __init__(self) -> None:
        self.link_list: list[LinkInfo] = []
        self.addrs: list[AddressInfo] = []
        self.requests: list[tuple[int, bytes]] = []  # route and rule requests, in order
        self.routing: set[tuple[bool, int, bytes]] = set()

    def links(self) -> list[LinkInfo]:
        return list(self.link_list)

    def addresses(self, index: int | None = None, family: int = 4) -> list[AddressInfo]:
        return [
            a for a in self.addrs if (index is None or a.index == index) and family in (0, a.family)
        ]

    def primary_address(
        self, index: int, exclude: frozenset[str] = frozenset(), family: int = 4
    ) -> str | None:
        return Netlink.primary_address(self, index, exclude, family)  # type: ignore[arg-type]

    def add_address(self, index: int, address: str, prefixlen: int, **_kw: object) -> bool:
        if any(a.index == index and a.address == address for a in self.addrs):
            return False
        if not any(link.index == index for link in self.link_list):
            raise OSError(19, "No such device")
        family = 6 if ":" in address else 4
        self.addrs.append(AddressInfo(index, address, prefixlen, "", True, family=family))
        return True

    def delete_address(self, index: int, address: str, prefixlen: int) -> bool:
        before = len(self.addrs)
        self.addrs = [a for a in self.addrs if (a.index, a.address) != (index, address)]
        return len(self.addrs) < before

    def remove_link(self, index: int) -> None:
        self.link_list = [link for link in self.link_list if link.index != index]
        self.addrs = [a for a in self.addrs if a.index != index]

    def change_routing(self, kind: int, flags: int, body: bytes) -> None:
        """Routes and rules, known by (is a route, table, first attribute: the
        destination of a route, the source or preference of a rule)."""
        self.requests.append((kind, body))
        key = (kind in (24, 25), body[4], body[12:24])
        if kind in (24, 32):  # RTM_NEWROUTE, RTM_NEWRULE
            if key in self.routing:
                raise NetlinkError(17, "File exists")
            self.routing.add(key)
        elif key in self.routing:
            self.routing.discard(key)
        else:
            raise NetlinkError(3 if kind == 25 else 2, "No such process or file")

    def close(self) -> None:
        pass


class _FakeVrrpSocket:
    def __init__(
        self, interface: str, *, multicast: bool = True, index: int | None = None, family: int = 4
    ) -> None:
        assert index is not None
        self.interface, self.index, self.closed, self.family = interface, index, False, family
        self.sent: list[tuple[str, str]] = []
        self.payloads: list[bytes] = []
        self._r, self._w = socket.socketpair()

    def fileno(self) -> int:
        return self._r.fileno()

    def join(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        self._r.close()
        self._w.close()

    def send(self, payload: bytes, src: str, dst: str) -> None:
        self.sent.append((src, dst))
        self.payloads.append(payload)

    def receive(self) -> bytes | None:
        return None

    def receive_stamped(self) -> tuple[bytes, float | None] | None:
        return None


class _FakeGarp:
    def __init__(self) -> None:
        self.sent: list[tuple[float, str, str]] = []

    def send(self, interface: str, addresses: list[str], repeat: int = 1) -> int:
        now = time.monotonic()
        self.sent += [(now, interface, a) for _ in range(repeat) for a in addresses]
        return len(addresses) * repeat

    def forget(self, interface: str) -> None:
        pass

    def close(self) -> None:
        pass


IF = "hltfake0"
CONF = (
    "global_defs {\n    dynamic_interfaces\n}\n"
    f"vrrp_instance VI_1 {{\n    interface {IF}\n    virtual_router_id 51\n    priority 150\n"
    "    version 3\n    advert_int 0.1\n    virtual_ipaddress {\n        10.9.0.100/24\n"
    "    }\n}\n"
)


FakeDaemon = Callable[[str], tuple[daemon.Daemon, _FakeNetlink]]


def _deaf_monitor() -> socket.socket:
    """A netlink socket in no multicast group: it never has anything to read."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
    sock.bind((0, 0))
    sock.setblocking(False)
    return sock


@pytest.fixture
def fake_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    """Build a Daemon from a config text, on a fake kernel the test controls."""
    monkeypatch.setattr(links, "VrrpSocket", _FakeVrrpSocket)
    monkeypatch.setattr(daemon.Daemon, "_install_signals", lambda self: None)
    # The fake kernel's events are the test's alone: the monitor hears nothing of the
    # host's (labs on the same machine add and delete veths all the time).
    monkeypatch.setattr(daemon.Netlink, "monitor", staticmethod(_deaf_monitor))
    monkeypatch.setattr(daemon.Netlink, "watch_routing", staticmethod(lambda *_a, **_k: None))
    made: list[daemon.Daemon] = []

    def make(conf_text: str) -> tuple[daemon.Daemon, _FakeNetlink]:
        conf = tmp_path / f"k{len(made)}.conf"
        conf.write_text(conf_text)
        kernel = _FakeNetlink()
        the_daemon = daemon.Daemon(
            str(conf),
            event_log=EventLog(None),
            netlink=kernel,  # type: ignore[arg-type]
            garp=_FakeGarp(),  # type: ignore[arg-type]
        )
        made.append(the_daemon)
        assert the_daemon.load() == 0
        return the_daemon, kernel

    yield make
    for the_daemon in made:
        the_daemon.shutdown()
        the_daemon.close()


def _plug(kernel: _FakeNetlink, index: int, name: str, address: str | None) -> None:
    kernel.link_list.append(LinkInfo(index, name, True))
    if address is not None:
        kernel.addrs.append(AddressInfo(index, address, 24, name, False))


def _state(d: daemon.Daemon, name: str = "VI_1") -> State:
    return d.instances[name].machine.state


def test_replaced_interface_leaves_fault_and_runs_again(
    fake_daemon: FakeDaemon,
) -> None:
    """Deleted eth0 -> FAULT, socket closed; a new ifindex that appears as another name,
    gets the address, is renamed to the configured name and comes up -> BACKUP on a new
    socket bound to it, then MASTER with the VIP on the new ifindex."""
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    inst = d.instances["VI_1"]
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    assert any(a.address == "10.9.0.100" and a.index == 7 for a in kernel.addrs)
    old_sock = inst.sock
    kernel.remove_link(7)
    d.handle_netlink_events([LinkInfo(7, IF, False), LinkInfo(7, IF, False, deleted=True)])
    assert _state(d) is State.FAULT
    assert inst.sock is None and isinstance(old_sock, _FakeVrrpSocket) and old_sock.closed
    assert IF not in d.sockets and not inst.installed
    _plug(kernel, 9, IF, "10.9.0.1")
    new_addr = AddressInfo(9, "10.9.0.1", 24, "hltfake1", False)
    d.handle_netlink_events(
        [
            LinkInfo(9, "hltfake1", False),
            ("add", new_addr),
            LinkInfo(9, "hltfake1", True),
            LinkInfo(9, "hltfake1", False),
            LinkInfo(9, IF, False),  # renamed
        ]
    )
    assert _state(d) is State.FAULT, "still down"
    assert inst.sock is not None and inst.sock.index == 9
    assert "hltfake1" not in d.links.ifindex and d.links.ifindex[IF] == 9
    d.handle_netlink_events([LinkInfo(9, IF, True)])
    assert _state(d) is State.BACKUP
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    assert any(a.address == "10.9.0.100" and a.index == 9 for a in kernel.addrs)
    assert isinstance(inst.sock, _FakeVrrpSocket) and inst.sock.sent[-1] == (
        "10.9.0.1",
        "224.0.0.18",
    )
    assert d.events.counts["interface_deleted"] == 1
    assert d.events.counts["interface_added"] == 2  # as hltfake1, then renamed


def test_no_address_at_startup_then_one_is_added(
    fake_daemon: FakeDaemon,
) -> None:
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, None)
    d.start()
    inst = d.instances["VI_1"]
    assert _state(d) is State.FAULT and inst.src == "0.0.0.0"
    address = AddressInfo(7, "10.9.0.5", 24, IF, False)
    kernel.addrs.append(address)
    d.handle_netlink_events([("add", address)])
    assert _state(d) is State.BACKUP
    assert inst.src == "10.9.0.5"
    assert inst.machine.params.primary_address == "10.9.0.5", "ties are broken with it"
    # The address goes again: FAULT until it is back.
    kernel.addrs.clear()
    d.handle_netlink_events([("del", address)])
    assert _state(d) is State.FAULT


def test_missing_interface_with_dynamic_interfaces_and_lost_events(
    fake_daemon: FakeDaemon,
) -> None:
    """dynamic_interfaces: an absent interface is FAULT, not an error; an overflowed
    monitor (ENOBUFS, reported as ifindex 0) re-reads every link and finds it."""
    d, kernel = fake_daemon(CONF)
    d.start()
    inst = d.instances["VI_1"]
    assert _state(d) is State.FAULT and inst.sock is None
    _plug(kernel, 4, IF, "10.9.0.1")
    d.handle_netlink_events([LinkInfo(0, "", False)])
    assert _state(d) is State.BACKUP
    assert inst.sock is not None and inst.sock.index == 4


def test_garp_interval_paces_gratuitous_arps(fake_daemon: FakeDaemon) -> None:
    conf = CONF.replace(
        "    dynamic_interfaces\n", "    dynamic_interfaces\n    vrrp_garp_interval 0.05\n"
    )
    d, kernel = fake_daemon(conf)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    garp: _FakeGarp = d.garp  # type: ignore[assignment]
    _drive(d.loop, lambda: len(garp.sent) >= 5, timeout=3)  # garp_master_repeat 5
    times = [t for t, _dev, _address in garp.sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # unpaced they would be microseconds apart; paced, send N is due 0.05 * N after the
    # first and never goes before (a send made late by a loaded host brings the next, due
    # at its planned time, closer: gaps of 0.074 then 0.023 s in one CI run)
    assert all(t - times[0] >= 0.05 * n - 0.005 for n, t in enumerate(times)), gaps


GROUP_CONF = (
    "global_defs {\n    dynamic_interfaces\n}\n"
    "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
    + "".join(
        f"vrrp_instance VI_{n} {{\n    interface hltfake{n}\n    virtual_router_id 5{n}\n"
        f"    priority {prio}\n    version 3\n    advert_int 0.1\n"
        f"    virtual_ipaddress {{\n        10.9.{n}.100/24\n    }}\n}}\n"
        for n, prio in ((1, 150), (2, 100))
    )
)


def _advert_from_peer(
    d: daemon.Daemon, name: str, priority: int, arrived: float | None = None
) -> None:
    """A real (encoded) v3 advert from a peer, given to the daemon as its socket would
    (``arrived``: the kernel's arrival stamp, wall clock)."""
    inst = d.instances[name]
    n = name[-1]
    src, dst = f"10.9.{n}.2", "224.0.0.18"
    advert = VrrpAdvert(
        version=3, vrid=inst.cfg.vrid or 0, priority=priority, advert_int=10,
        addresses=inst.advert_addresses,
    )  # fmt: skip
    payload = encode(advert, src, dst)
    assert inst.sock is not None
    packet = build_ipv4_header(src, dst, len(payload), ident=1) + payload
    d._on_packet(inst.sock, packet, arrived=arrived)


def test_sync_group_members_move_together(
    fake_daemon: FakeDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Both members go MASTER together; one losing an election takes the other to
    BACKUP; a member whose master-down runs out stays BACKUP while another still hears
    its master (keepalived prefers BACKUP to thrashing). The advert a member is moved
    with is made up: nothing of it is logged (it once logged a master at 0.0.0.0)."""
    caplog.set_level(logging.DEBUG, logger="halab-vrrpd")
    d, kernel = fake_daemon(GROUP_CONF)
    _plug(kernel, 11, "hltfake1", "10.9.1.1")
    _plug(kernel, 12, "hltfake2", "10.9.2.1")
    d.start()
    vi1, vi2 = d.instances["VI_1"], d.instances["VI_2"]
    # VI_1 (priority 150) times out first but waits for VI_2; then both go MASTER.
    _drive(d.loop, lambda: _state(d, "VI_1") is State.MASTER, timeout=3)
    assert _state(d, "VI_2") is State.MASTER
    assert {(a.index, a.address) for a in kernel.addrs} >= {
        (11, "10.9.1.100"),
        (12, "10.9.2.100"),
    }
    # A higher priority master shows up for VI_2 only: VI_1 follows it to BACKUP.
    _advert_from_peer(d, "VI_2", 200)
    assert _state(d, "VI_2") is State.BACKUP
    assert _state(d, "VI_1") is State.BACKUP
    assert not any(a.address.endswith(".100") for a in kernel.addrs)
    assert "0.0.0.0" not in caplog.text and "priority 0 adver" not in caplog.text
    # VI_1 hears nobody, VI_2 keeps hearing its master: the group stays BACKUP.
    end = time.monotonic() + 3 * vi1.machine.master_down_interval
    while time.monotonic() < end:
        _advert_from_peer(d, "VI_2", 200)
        d.loop.run_once(max_wait=0.05)
        assert _state(d, "VI_1") is State.BACKUP and _state(d, "VI_2") is State.BACKUP
    assert vi1.wants_master and not vi2.wants_master
    # VI_2's master goes away: the whole group takes over.
    _drive(d.loop, lambda: _state(d, "VI_2") is State.MASTER, timeout=3)
    assert _state(d, "VI_1") is State.MASTER
    assert d.groups.states["G1"] == "MASTER"


def _no_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return True
    return False


class _RecordingRunner:
    """Stands for ProcessRunner: records what would be started, and as whom."""

    def __init__(self) -> None:
        self.started: list[tuple[list[str], str | None, str | None]] = []

    def start(
        self,
        argv: Any,
        on_exit: Any = None,
        *,
        user: str | None = None,
        group: str | None = None,
        env: Any = None,
    ) -> None:
        self.started.append((list(argv), user, group))


@pytest.fixture
def shared_script() -> Iterator[Path]:
    """An executable script in a 0755 directory under /tmp, that any user can reach."""
    path = Path(tempfile.mkdtemp(prefix="halab-notify-", dir="/tmp"))
    path.chmod(0o755)
    script = path / "n.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    try:
        yield script
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(
    any(_no_user(u) for u in ("nobody", "root")) or not _no_user("halab-no-such-user"),
    reason="needs the users nobody and root",
)
def test_notify_scripts_run_as_their_own_users(
    fake_daemon: FakeDaemon, shared_script: Path
) -> None:
    """Each notify script runs with the arguments inside its quotes, as the user (and
    group) written after it; one whose user does not exist never runs (keepalived drops
    it); notify_master_rx_lower_pri runs when a lower priority advert arrives."""
    s = str(shared_script)
    conf = CONF.replace(
        "    virtual_ipaddress {",
        f'    notify_master "{s} master" nobody\n'
        f"    notify_backup {s} halab-no-such-user\n"
        f'    notify "{s} generic" nobody daemon extra\n'
        f'    notify_master_rx_lower_pri "{s} lower" root\n'
        "    virtual_ipaddress {",
    )
    d, kernel = fake_daemon(conf)
    runner = _RecordingRunner()
    d.runner = runner  # type: ignore[assignment]
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    assert runner.started == [
        ([s, "generic", "INSTANCE", "VI_1", "BACKUP", "150"], "nobody", "daemon"),
        ([s, "master"], "nobody", None),
        ([s, "generic", "INSTANCE", "VI_1", "MASTER", "150"], "nobody", "daemon"),
    ]
    runner.started.clear()
    _advert_from_peer(d, "VI_1", 100)
    assert runner.started == [([s, "lower"], "root", None)]


def test_notify_stop_runs_to_its_end_after_the_daemon_stopped(
    fake_daemon: FakeDaemon, tmp_path: Path
) -> None:
    """keepalived starts notify_stop at shutdown and leaves it running (seed 003 stops
    haproxy there): the script outlives the daemon's shutdown and finishes."""
    done = tmp_path / "stopped"
    script = tmp_path / "notify_stop.sh"
    # written whole, then renamed: the test must not read the file between its creation by
    # the shell's ">" and the echo
    script.write_text(f"#!/bin/sh\nsleep 0.3\necho done > {done}.part && mv {done}.part {done}\n")
    script.chmod(0o755)
    conf = CONF.replace(
        "    virtual_ipaddress {", f"    notify_stop {script}\n    virtual_ipaddress {{"
    )
    d, kernel = fake_daemon(conf)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    d.shutdown()
    assert not done.exists()  # started, not waited for
    deadline = time.monotonic() + 5
    while not done.exists():
        assert time.monotonic() < deadline, "notify_stop was killed with the daemon"
        time.sleep(0.05)
    assert done.read_text() == "done\n"


# --- packets -----------------------------------------------------------------------------


def test_garp_frame_layout() -> None:
    mac = bytes.fromhex("020000000001")
    frame = build_garp_frame(mac, "10.0.0.100")
    assert len(frame) == 42  # as keepalived sends it: no padding
    assert frame[:6] == b"\xff" * 6 and frame[6:12] == mac
    assert frame[12:14] == b"\x08\x06"
    arp = frame[14:42]
    assert arp[:8] == bytes.fromhex("0001080006040001")  # Ethernet/IPv4, request
    assert arp[8:14] == mac and arp[14:18] == socket.inet_aton("10.0.0.100")
    assert arp[18:24] == b"\xff" * 6 and arp[24:28] == socket.inet_aton("10.0.0.100")


# --- module entry points -----------------------------------------------------------------


def test_runs_as_a_module(tmp_path: Path) -> None:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root))
    for module in ("pytest_halab.vrrp",):  # the one way in (the image uses it)
        run = subprocess.run(
            [sys.executable, "-m", module, "--version"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        assert "halab-vrrpd" in run.stdout


def test_the_script_entry_point_is_the_command_line() -> None:
    root = Path(__file__).resolve().parents[2]
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, name = scripts["halab-vrrpd"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
    record: dict[str, Any] = EventLog(None).emit("x", None)
    assert record["event"] == "x"


def test_a_caller_of_main_keeps_its_process_name(capsys: pytest.CaptureFixture[str]) -> None:
    before = Path("/proc/self/comm").read_text()
    assert main(["--version"]) == 0
    assert Path("/proc/self/comm").read_text() == before
    capsys.readouterr()


def test_the_daemon_and_its_forks_are_called_halab_vrrpd(tmp_path: Path) -> None:
    """Started as the balancer image's launcher starts it (``exec -a``), forking into the
    background as keepalived does: the daemon's comm (pgrep -x, killall) and argv[0]
    (pidof) are both halab-vrrpd, and SIGTERM stops it."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    conf = tmp_path / "k.conf"
    conf.write_text(CONF)  # its interface does not exist: FAULT, no socket, no address
    pid_file = tmp_path / "vrrpd.pid"
    launch = 'exec -a halab-vrrpd "$0" -m pytest_halab.vrrp -G -f "$1" -p "$2"'
    env = dict(os.environ, PYTHONPATH=str(root))
    # The first process returns once the forked daemon has written its pid file.
    subprocess.run(
        ["bash", "-c", launch, sys.executable, str(conf), str(pid_file)],
        env=env,
        timeout=60,
        check=True,
    )
    pid = int(pid_file.read_text())
    try:
        assert Path(f"/proc/{pid}/comm").read_text() == "halab-vrrpd\n"
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert argv[0] == b"halab-vrrpd"
        assert pid != os.getpid()
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while pid_file.exists():  # removed by the daemon as it exits
        assert time.monotonic() < deadline, "halab-vrrpd did not stop on SIGTERM"
        time.sleep(0.02)


def test_name_process_sets_comm() -> None:
    import subprocess

    root = Path(__file__).resolve().parents[2]
    code = (
        "from pytest_halab.vrrp.__main__ import name_process\n"
        "assert name_process()\n"
        "print(open('/proc/self/comm').read().strip())"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(root)),
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "halab-vrrpd"


def test_master_down_counts_from_the_adverts_arrival(fake_daemon: FakeDaemon) -> None:
    """The kernel's arrival stamp of an advert, not the time the daemon read it, starts
    the master-down timer; a stamp from the future or over a second old is not trusted."""
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    machine = d.instances["VI_1"].machine

    # priority 150 at advert 0.1 s: 3 * 100 ms + Skew_Time (256 - 150) / 256 * 100 ms
    master_down = 0.3 + 106 / 256 * 0.1

    def deadline_from_the_read(arrived: float | None) -> tuple[float, float]:
        """The new deadline counted from the moment the daemon read the advert, which lies
        between the loop times taken around the call: (least, most). A loaded host may
        hold the call for milliseconds (a CI run saw 12 ms); the bounds do not move."""
        before = d.loop.time()
        _advert_from_peer(d, "VI_1", 200, arrived)
        after = d.loop.time()
        assert machine.state is State.BACKUP
        assert machine.next_deadline is not None
        return machine.next_deadline - after, machine.next_deadline - before

    # no stamp, or one from the future or over a second old: counted from the read
    for arrived in (None, time.time() + 5, time.time() - 5):
        least, most = deadline_from_the_read(arrived)
        assert least - 1e-6 <= master_down <= most + 1e-6, (arrived, least, most)
    # a stamp 0.25 s old: counted from the arrival (the daemon reads the loop clock and the
    # wall clock one after the other to place it, as this test does)
    start = d.loop.time()
    arrived = time.time() - 0.25
    _advert_from_peer(d, "VI_1", 200, arrived)
    assert machine.next_deadline is not None
    assert machine.next_deadline - start == pytest.approx(master_down - 0.25, abs=0.005)


def test_raw_socket_gives_the_kernel_arrival_stamp() -> None:
    """A VRRP packet through loopback comes back with SO_TIMESTAMPNS (needs root: raw
    sockets; the CI runs as root)."""
    sock = VrrpSocket("lo", multicast=False)
    try:
        advert = VrrpAdvert(
            version=3, vrid=9, priority=100, advert_int=10, addresses=("127.0.0.9",)
        )
        sent = time.time()
        sock.send(encode(advert, "127.0.0.1", "127.0.0.1"), "127.0.0.1", "127.0.0.1")
        got = None
        deadline = time.monotonic() + 2
        while got is None and time.monotonic() < deadline:
            select.select([sock], [], [], 0.1)
            got = sock.receive_stamped()
        assert got is not None
        data, arrived = got
        assert len(data) == 20 + 12 and data[9] == 112
        assert arrived is not None and sent <= arrived <= time.time()
    finally:
        sock.close()


@pytest.mark.parametrize("new_priority", [160, 50])
def test_reload_with_a_new_priority_keeps_the_master_and_its_vips(
    fake_daemon: FakeDaemon, new_priority: int
) -> None:
    """SIGHUP with only the priority changed: the master stays master, keeps its VIP, sends
    no priority-0 advert, and advertises the new priority (as keepalived restores the state
    of an instance across a reload)."""
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    inst = d.instances["VI_1"]
    removed_before = d.events.counts["vip_removed"]
    Path(d.config_path).write_text(CONF.replace("priority 150", f"priority {new_priority}"))
    d.reload()
    assert d.instances["VI_1"] is inst, "the instance is kept, not rebuilt"
    assert _state(d) is State.MASTER
    assert inst.machine.effective_priority == new_priority
    assert d.events.counts["vip_removed"] == removed_before
    assert any(a.address == "10.9.0.100" for a in kernel.addrs)
    assert d.events.counts["state_change"] == 2  # INIT -> BACKUP -> MASTER, nothing since


def test_a_sighup_reads_the_new_file_while_the_master_goes_on_advertising(
    fake_daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGHUP's read runs beside the loop: a read that takes 0.6 s (a loaded host; advert_int
    0.1, Master_Down_Interval 0.36 s) does not stop the master's adverts, and the new file
    is applied once read. A second SIGHUP meanwhile reads the file again after it."""
    d, _kernel = _running_master(fake_daemon)
    inst = d.instances["VI_1"]
    assert inst.sock is not None
    real_load = daemon.load_config
    reads: list[float] = []
    sent_while_reading: list[int] = []

    def slow_load(*args: object, **kwargs: object) -> object:
        reads.append(time.monotonic())
        sent = len(inst.sock.sent)
        time.sleep(0.6)
        sent_while_reading.append(len(inst.sock.sent) - sent)
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(daemon, "load_config", slow_load)
    Path(d.config_path).write_text(CONF.replace("priority 150", "priority 160"))
    sent_before = len(inst.sock.sent)
    d.reload_in_background()
    d.reload_in_background()  # the second SIGHUP, during the read
    assert inst.machine.effective_priority == 150  # nothing applied yet
    _drive(d.loop, lambda: d.events.counts["config_reload"] == 2, timeout=10)
    assert len(reads) == 2 and reads[1] - reads[0] >= 0.6
    # 6 adverts are due in each 0.6 s read; at least 3 went out (a loaded host is late)
    assert all(count >= 3 for count in sent_while_reading), sent_while_reading
    assert len(inst.sock.sent) > sent_before
    assert d.instances["VI_1"] is inst and _state(d) is State.MASTER
    assert inst.machine.effective_priority == 160
    assert d.events.counts["vip_removed"] == 0


def test_reload_to_priority_255_restarts_the_instance(fake_daemon: FakeDaemon) -> None:
    """Becoming the address owner is a change of role: the instance is rebuilt."""
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    inst = d.instances["VI_1"]
    Path(d.config_path).write_text(CONF.replace("priority 150", "priority 255"))
    d.reload()
    assert d.instances["VI_1"] is not inst
    assert d.instances["VI_1"].machine.effective_priority == 255
    with pytest.raises(ValueError):
        inst.machine.set_base_priority(255)


@pytest.mark.parametrize(
    ("global_value", "instance_line", "expected"),
    [
        ("true", "", True),
        ("true", "    higher_prio_send_advert off\n", False),
        (None, "    higher_prio_send_advert\n", True),
        (None, "    higher_prio_send_advert On\n", False),  # invalid: left unset
        (None, "", False),
    ],
)
def test_instance_flags_default_to_the_global_ones(
    fake_daemon: FakeDaemon, global_value: str | None, instance_line: str, expected: bool
) -> None:
    conf = CONF.replace("    priority 150\n", "    priority 150\n" + instance_line)
    if global_value is not None:
        conf = conf.replace(
            "    dynamic_interfaces\n",
            f"    dynamic_interfaces\n    vrrp_higher_prio_send_advert {global_value}\n",
        )
    d, kernel = fake_daemon(conf)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    assert d.instances["VI_1"].machine.params.higher_prio_send_advert is expected


# --- hostile input: a reload never kills the daemon; a flood of bad adverts is not logged


def _running_master(fake_daemon: FakeDaemon) -> tuple[daemon.Daemon, _FakeNetlink]:
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    return d, kernel


def test_reload_survives_a_parser_crash(
    fake_daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever loading the new file raises, the master stays master with its VIP and
    sends no priority-0 advert; the failure is logged with the file."""
    d, kernel = _running_master(fake_daemon)
    inst = d.instances["VI_1"]
    sent_before = len(inst.sock.sent) if inst.sock is not None else 0
    config_before = d.config

    def crash(path: str) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(daemon, "load_config", crash)
    with caplog.at_level("ERROR", logger="halab-vrrpd"):
        d.reload()
    assert d.instances["VI_1"] is inst and _state(d) is State.MASTER
    assert d.config is config_before
    assert any(a.address == "10.9.0.100" for a in kernel.addrs)
    assert d.events.counts["config_reload_failed"] == 1
    assert d.events.counts["config_reload"] == 0
    assert any(d.config_path in r.getMessage() for r in caplog.records)
    assert inst.sock is not None
    assert inst.machine.effective_priority == 150
    # no priority-0 advert: the instance sends as before, it was not shut down
    assert d.events.counts["vip_removed"] == 0
    assert len(inst.sock.sent) >= sent_before


def test_reload_survives_a_crash_while_applying(
    fake_daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    d, _kernel = _running_master(fake_daemon)

    def crash(self: daemon.Daemon, cfg: object) -> None:
        raise ValueError("applying")

    monkeypatch.setattr(daemon.Daemon, "_apply_reload", crash)
    d.reload()
    assert _state(d) is State.MASTER
    assert d.events.counts["config_reload_failed"] == 1


def test_reload_of_a_hostile_file_keeps_the_daemon(fake_daemon: FakeDaemon) -> None:
    """Deep nesting, a 5,000-digit number and non-UTF-8 bytes in the new file: parsed
    with diagnostics, no exception, the unchanged instance kept."""
    d, kernel = _running_master(fake_daemon)
    inst = d.instances["VI_1"]
    hostile = (
        CONF.encode()
        + b"static_routes {\n"
        + b"a {\n" * 2000
        + b"}\n" * 2001
        + b"global_defs {\n vrrp_garp_master_delay "
        + b"9" * 5000
        + b"\n router_id r\xff\xfe\n}\n"
        + b"{}" * 20000
        + b"\n"
    )
    Path(d.config_path).write_bytes(hostile)
    d.reload()
    assert d.events.counts["config_reload"] == 1
    assert d.instances["VI_1"] is inst and _state(d) is State.MASTER
    assert any(a.address == "10.9.0.100" for a in kernel.addrs)


class _FakeClockLoop:
    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None], **_kw: object) -> None:
        self.timers.append((when, callback))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _when, callback in sorted(due, key=lambda t: t[0]):
            callback()


def test_log_limiter_logs_a_burst_then_one_summary_per_interval() -> None:
    loop = _FakeClockLoop()
    summaries: list[tuple[tuple[str, str], int, float]] = []
    limiter = LogLimiter(
        loop,  # type: ignore[arg-type]
        lambda key, n, interval: summaries.append((key, n, interval)),
        burst=3,
        interval=10.0,
        max_keys=4,
    )
    a, b = ("10.0.0.1", "eth0"), ("10.0.0.2", "eth0")
    assert [limiter.allow(a) for _ in range(1000)].count(True) == 3
    assert limiter.allow(b), "another source has its own budget"
    assert summaries == []
    loop.advance(10.0)
    assert summaries == [(a, 997, 10.0)]
    assert limiter.allow(a), "a new interval logs again"
    # many forged sources: memory stays bounded, they share one budget
    for i in range(10_000):
        limiter.allow((f"10.1.{i // 256}.{i % 256}", "eth0"))
    assert len(limiter.windows) <= 5
    loop.advance(10.0)
    assert any(key == LogLimiter.OVERFLOW for key, _n, _i in summaries)


def test_a_flood_of_malformed_adverts_is_rate_limited(fake_daemon: FakeDaemon) -> None:
    d, _kernel = _running_master(fake_daemon)
    d._malformed_limit.interval = 0.2
    inst = d.instances["VI_1"]
    assert inst.sock is not None
    garbage = b"\x31" + b"\x00" * 7  # VRRP version 3 type 1, too short
    packet = build_ipv4_header("10.9.0.2", "224.0.0.18", len(garbage), ident=1) + garbage
    for _ in range(2000):
        d._on_packet(inst.sock, packet)
    assert d.malformed == 2000
    assert d.events.counts["malformed_packet"] == d._malformed_limit.burst
    _drive(d.loop, lambda: d.events.counts["malformed_suppressed"] == 1, timeout=3)
    assert _state(d) is State.MASTER


def test_the_json_signal_dumps_instances_in_keepalived_format(
    fake_daemon: FakeDaemon, tmp_path: Path
) -> None:
    """keepalived's JSON signal (--signum=JSON): a list of {"data", "stats"} per instance,
    state as a number, base/effective priority; read back by the lab's parser."""
    from pytest_halab import instances

    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    out = tmp_path / "keepalived.json"
    d.dump_json(str(out))
    (record,) = json.loads(out.read_text())
    data = record["data"]
    assert data["iname"] == "VI_1" and data["state"] == 2 and data["vrid"] == 51
    assert data["base_priority"] == data["effective_priority"] == 150
    assert data["vips"] == ["10.9.0.100 dev hltfake0 scope global"]
    assert data["last_transition"] > 0 and record["stats"]["advert_sent"] >= 1
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    (status,) = instances.parse(out.read_text(), "lb1")
    assert (status.state, status.effective_priority, status.vips) == (
        "MASTER",
        150,
        ("10.9.0.100",),
    )


def test_signum_names_the_signals_as_keepalived_does(capsys: pytest.CaptureFixture[str]) -> None:
    """The numbers Debian's keepalived 2.2.7 prints for each name (read in the lab's
    balancer image); TDATA exists only in keepalived's debug builds."""
    said = {"STOP": 15, "RELOAD": 1, "DATA": 10, "STATS": 12, "STATS_CLEAR": 63, "JSON": 36}
    for name, number in said.items():
        assert main([f"--signum={name}"]) == 0 and capsys.readouterr().out == f"{number}\n"
    assert main(["--signum", "reload"]) == 0 and capsys.readouterr().out == "1\n"
    assert main(["--signum=TDATA"]) == 1
    assert "unknown or unsupported signal function 'TDATA'" in capsys.readouterr().err


def _packet(d: daemon.Daemon, advert: VrrpAdvert, *, ttl: int = 255) -> None:
    inst = d.instances["VI_1"]
    assert inst.sock is not None
    payload = encode(advert, "10.9.0.2", "224.0.0.18")
    header = build_ipv4_header("10.9.0.2", "224.0.0.18", len(payload), ident=1, ttl=ttl)
    d._on_packet(inst.sock, header + payload)


def test_the_stats_signal_counts_as_keepalived_counts(
    fake_daemon: FakeDaemon, tmp_path: Path
) -> None:
    """keepalived's stats file (SIGUSR2): each rejected advert under keepalived's counter,
    an advert with a wrong address list still counted as received, the priority-0 adverts
    both ways; STATS_CLEAR writes the file, then zeroes the counters."""
    d, _kernel = _running_master(fake_daemon)
    inst = d.instances["VI_1"]
    sent = inst.stats.advert_sent
    assert sent >= 1 and inst.stats.become_master == 1

    def advert(**kw: Any) -> VrrpAdvert:
        args: dict[str, Any] = {"version": 3, "vrid": 51, "priority": 100, "advert_int": 10}
        args["addresses"] = ("10.9.0.100",)
        return VrrpAdvert(**(args | kw))

    _packet(d, advert(), ttl=64)  # TTL: ip_ttl_err
    _packet(d, advert(addresses=("10.9.0.99",)))  # not our VIP: received, addr_list_err
    _packet(d, advert(addresses=("10.9.0.100", "10.9.0.101")))  # count: addr_list_err
    _packet(d, advert(vrid=52))  # another router's: nothing
    _packet(d, advert(priority=50))  # a lower priority: received
    garbage = bytes([0x32, 51, 100, 1, 0, 10, 0, 0]) + bytes(4)  # v3, type 2
    inst_sock = inst.sock
    assert inst_sock is not None
    header = build_ipv4_header("10.9.0.2", "224.0.0.18", len(garbage), ident=1)
    d._on_packet(inst_sock, header + garbage)  # invalid_type_rcvd
    short = bytes([0x31, 51, 100, 2, 0, 10, 0, 0]) + bytes(4)  # says 2 addresses, has 1
    d._on_packet(inst_sock, build_ipv4_header("10.9.0.2", "224.0.0.18", 12, ident=2) + short)
    stats = inst.stats
    assert (stats.ip_ttl_err, stats.addr_list_err, stats.invalid_type_rcvd) == (1, 2, 1)
    assert (stats.advert_rcvd, stats.packet_len_err) == (2, 1)
    out = tmp_path / "keepalived.stats"
    d.dump_stats(str(out))
    text = out.read_text()
    assert text.startswith("VRRP Instance: VI_1\n  Advertisements:\n    Received: 2\n")
    assert "    TTL: 1\n" in text and "    Address List: 2\n" in text
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    # a resigning peer (priority 0) and our own resignation at shutdown
    _packet(d, advert(priority=0))
    assert stats.pri_zero_rcvd == 1
    d.dump_stats(str(out), clear=True)
    assert "  Priority Zero:\n    Received: 1\n" in out.read_text()
    assert stats.advert_rcvd == stats.pri_zero_rcvd == stats.become_master == 0
    d.shutdown()
    assert stats.pri_zero_sent == 1 and stats.release_master == 1
    record = instance_record(inst, inst.last_transition, {})
    assert list(record["stats"])[:4] == [
        "advert_rcvd",
        "advert_sent",
        "become_master",
        "release_master",
    ]


def test_the_data_signal_dumps_the_instance_in_keepalived_layout(
    fake_daemon: FakeDaemon, tmp_path: Path
) -> None:
    d, _kernel = _running_master(fake_daemon)
    out = tmp_path / "keepalived.data"
    d.dump_data(str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "------< Global definitions >------"
    topology = lines[lines.index("------< VRRP Topology >------") + 1 :]
    for line in (
        " VRRP Instance = VI_1",
        "   VRRP Version = 3",
        "   State = MASTER",
        "   Interface = hltfake0",
        "   Using src_ip = 10.9.0.1",
        "   Virtual Router ID = 51",
        "   Priority = 150",
        "   Effective priority = 150",
        "   Advert interval = 100 milli-sec",
        "   Preempt = enabled",
        "   Virtual IP (1):",
        "     10.9.0.100 dev hltfake0 scope global set",
    ):
        assert line in topology, line
    assert not any(line.startswith("   Master router") for line in topology), "a master's"
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_keepalived_dump_signals_reach_their_dumps(
    fake_daemon: FakeDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGUSR1, SIGUSR2 and STATS_CLEAR ask for a dump; none stops the daemon (SIGUSR2's
    default action would: ``killall -USR2 keepalived`` once killed halab-vrrpd)."""
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    asked: list[str] = []
    monkeypatch.setattr(d, "dump_data", lambda: asked.append("data"))
    monkeypatch.setattr(d, "dump_stats", lambda clear=False: asked.append(f"stats {clear}"))
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGRTMIN + 29):
        assert sig in REQUEST_SIGNALS
        d._wakeup_w.send(bytes([sig]))
    d._on_signal()
    assert asked == ["data", "stats False", "stats True"]
    assert not d.stopping


# --- static and virtual routes and rules (fake kernel) -------------------------------------

ROUTES_CONF = CONF.replace(
    "    }\n}\n",
    "    }\n    virtual_routes {\n        10.88.0.0/16 via 10.9.0.254 dev " + IF + " table 200\n"
    "    }\n    virtual_rules {\n        from 10.9.0.100 table 200 priority 200\n    }\n}\n"
    "static_routes {\n    10.99.0.0/16 via 10.9.0.254 dev " + IF + " table 30\n}\n"
    "static_rules {\n    from 10.66.0.0/16 table 30 priority 300\n}\n",
)


def _requests(kernel: _FakeNetlink) -> list[str]:
    names = {24: "+route", 25: "-route", 32: "+rule", 33: "-rule"}
    seen = [names[kind] + f" {body[4]}" for kind, body in kernel.requests]
    kernel.requests.clear()
    return seen


def test_virtual_routes_and_rules_follow_mastership(fake_daemon: FakeDaemon) -> None:
    """Statics at start-up (the old static and virtual rules deleted first), the virtual
    routes then rules once MASTER (after the VIP), rules then routes removed on leaving it
    (before the VIP), the statics removed at exit."""
    d, kernel = fake_daemon(ROUTES_CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    # leftover rules deleted (none there), then the static route and rule (table 300)
    assert _requests(kernel) == ["-rule 30", "+route 30", "+rule 30", "-rule 200"]
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    assert _requests(kernel) == ["+route 200", "+rule 200"]
    inst = d.instances["VI_1"]
    assert len(inst.routes_set) == len(inst.rules_set) == 1
    kernel.link_list = [LinkInfo(7, IF, False)]
    d.handle_netlink_events([LinkInfo(7, IF, False)])
    assert _state(d) is State.FAULT
    assert _requests(kernel) == ["-rule 200", "-route 200"]
    assert not inst.routes_set and not inst.rules_set
    # up again: the static route through it is put back (here it never went: it counts as
    # ours again), and the instance becomes MASTER again
    kernel.link_list = [LinkInfo(7, IF, True)]
    d.handle_netlink_events([LinkInfo(7, IF, True)])
    assert _requests(kernel) == ["+route 30"]
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    assert _requests(kernel) == ["+route 200", "+rule 200"]
    d.shutdown()
    assert _requests(kernel) == ["-rule 200", "-route 200", "-rule 30", "-route 30"]
    assert d.events.counts["route_added"] == 3 and d.events.counts["rule_removed"] == 3


def test_a_deleted_virtual_route_makes_the_master_step_down(fake_daemon: FakeDaemon) -> None:
    d, kernel = fake_daemon(ROUTES_CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    inst = d.instances["VI_1"]
    assert inst.sock is not None
    kernel.routing = {k for k in kernel.routing if k[1] != 200 or not k[0]}
    kernel.requests.clear()
    sent = len(inst.sock.sent)
    gone = RoutingChange("route", True, 2, 200, 18, 0, 0, dst=("10.88.0.0", 16), oif=7)
    d.handle_netlink_events([gone])
    assert _state(d) is State.BACKUP
    assert len(inst.sock.sent) == sent + 1  # the priority-0 advert
    assert _requests(kernel) == ["-rule 200"]  # the route is gone already
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=2)  # after Skew_Time
    assert _requests(kernel) == ["+route 200", "+rule 200"]
    # a deleted route that is not ours (another table) changes nothing
    other = RoutingChange("route", True, 2, 201, 18, 0, 0, dst=("10.88.0.0", 16), oif=7)
    d.handle_netlink_events([other])
    assert _state(d) is State.MASTER


def test_a_deleted_static_route_or_rule_is_put_back(fake_daemon: FakeDaemon) -> None:
    d, kernel = fake_daemon(ROUTES_CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    kernel.routing.clear()
    kernel.requests.clear()
    d.handle_netlink_events(
        [
            RoutingChange("route", True, 2, 30, 18, 0, 0, dst=("10.99.0.0", 16), oif=7),
            RoutingChange("rule", True, 2, 30, 18, 0, 300, src=("10.66.0.0", 16), action=1),
        ]
    )
    assert _requests(kernel) == ["+route 30", "+rule 30"]
    # added by someone else (protocol static): not ours
    d.handle_netlink_events(
        [RoutingChange("route", True, 2, 30, 4, 0, 0, dst=("10.99.0.0", 16), oif=7)]
    )
    assert _requests(kernel) == []


def test_reload_changes_the_virtual_routes_of_a_master(fake_daemon: FakeDaemon) -> None:
    d, kernel = fake_daemon(ROUTES_CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    inst = d.instances["VI_1"]
    kernel.requests.clear()
    Path(d.config_path).write_text(
        ROUTES_CONF.replace("10.88.0.0/16 via 10.9.0.254", "10.87.0.0/16 via 10.9.0.254")
    )
    d.reload()
    assert d.instances["VI_1"] is inst and _state(d) is State.MASTER
    assert _requests(kernel) == ["-route 200", "+route 200"]
    assert len(inst.routes_set) == len(inst.rules_set) == 1


def test_an_instance_tracks_the_interfaces_of_its_routes_and_rules(
    fake_daemon: FakeDaemon,
) -> None:
    """keepalived's TRACK_ROUTE/TRACK_RULE: the interface a tracked virtual route or
    rule names is tracked as with weight 0 (down: FAULT); a no_track one is not."""
    conf = ROUTES_CONF.replace(
        "from 10.9.0.100 table 200 priority 200",
        "from 10.9.0.100 iif hltfake1 table 200 priority 200\n"
        "        from 10.9.0.101 iif hltfake2 table 200 priority 201 no_track",
    )
    d, kernel = fake_daemon(conf)
    _plug(kernel, 7, IF, "10.9.0.1")
    kernel.link_list.append(LinkInfo(8, "hltfake1", False))
    kernel.link_list.append(LinkInfo(9, "hltfake2", False))
    d.start()
    assert _state(d) is State.FAULT
    kernel.link_list[1] = LinkInfo(8, "hltfake1", True)
    d.handle_netlink_events([LinkInfo(8, "hltfake1", True)])
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)


class _RecordingMail:
    """Stands for the SmtpAlerter: records the alerts that would go out."""

    enabled = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def instance_alert(self, instance: str, state: str) -> None:
        self.sent.append(("INSTANCE", instance, state))

    def group_alert(self, group: str, state: str) -> None:
        self.sent.append(("GROUP", group, state))


@pytest.mark.parametrize(
    ("global_line", "group_line", "expected"),
    [
        # keepalived 2.2.7: no smtp_alert anywhere, no mail at all
        ("", "", []),
        (
            "smtp_alert_vrrp",
            "",
            [
                ("INSTANCE", "VI_1", "BACKUP"),
                ("INSTANCE", "VI_2", "BACKUP"),
                ("GROUP", "G1", "BACKUP"),
                ("INSTANCE", "VI_1", "MASTER"),
                ("INSTANCE", "VI_2", "MASTER"),
                ("GROUP", "G1", "MASTER"),
            ],
        ),
        # the group's own smtp_alert mails for the group only
        ("", "    smtp_alert\n", [("GROUP", "G1", "BACKUP"), ("GROUP", "G1", "MASTER")]),
    ],
)
def test_state_change_mail_follows_keepalived_s_smtp_alert_rules(
    fake_daemon: FakeDaemon, global_line: str, group_line: str, expected: list[tuple[str, str, str]]
) -> None:
    conf = GROUP_CONF.replace(
        "global_defs {\n", f"global_defs {{\n    {global_line}\n    smtp_server 127.0.0.1\n"
    ).replace("vrrp_sync_group G1 {\n", "vrrp_sync_group G1 {\n" + group_line)
    d, kernel = fake_daemon(conf)
    mail = _RecordingMail()
    d.email = mail  # type: ignore[assignment]
    _plug(kernel, 11, "hltfake1", "10.9.1.1")
    _plug(kernel, 12, "hltfake2", "10.9.2.1")
    d.start()
    _drive(d.loop, lambda: d.groups.states.get("G1") == "MASTER", timeout=3)
    assert sorted(mail.sent) == sorted(expected)
    # each state once: the group's MASTER mail after both members'
    if expected:
        assert mail.sent.index(("GROUP", "G1", "MASTER")) == len(mail.sent) - 1


def test_a_vip_deleted_behind_a_masters_back_comes_back_as_keepalived_brings_it(
    fake_daemon: FakeDaemon,
) -> None:
    """`ip addr del VIP` on a master: keepalived 2.2.7 leaves MASTER with a priority-0
    advert and takes over again after Skew_Time, which puts the VIP back (seen in the lab:
    back within a second). The notice of a deletion when the address is there again (our
    own, overtaken by a re-add) changes nothing."""
    d, kernel = _running_master(fake_daemon)
    inst = d.instances["VI_1"]
    (vip,) = [a for a in kernel.addrs if a.address == "10.9.0.100"]
    d.handle_netlink_events([("del", vip)])  # still in the kernel: not a deletion now
    assert _state(d) is State.MASTER and inst.stats.pri_zero_sent == 0
    kernel.addrs.remove(vip)
    d.handle_netlink_events([("del", vip)])
    assert _state(d) is State.BACKUP
    assert inst.stats.pri_zero_sent == 1 and inst.stats.release_master == 1
    assert d.events.counts["vip_removed"] >= 1
    # its master-down timer is Skew_Time (41 ms at priority 150, 0.1 s adverts), not the
    # whole Master_Down_Interval (341 ms)
    deadline = inst.machine.next_deadline
    assert deadline is not None
    assert deadline - d.loop.time() <= inst.machine.skew_time + 0.001
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    assert any(a.address == "10.9.0.100" for a in kernel.addrs)
    assert inst.stats.become_master == 2


def _unicast_master(fake_daemon: FakeDaemon, option: str = "") -> daemon.Daemon:
    conf = CONF.replace(
        "    version 3\n",
        "    version 3\n    unicast_src_ip 10.9.0.1\n    unicast_peer {\n        10.9.0.2\n"
        f"    }}\n{option}",
    )
    d, kernel = fake_daemon(conf)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    return d


def _unicast_advert(d: daemon.Daemon, *, old: bool, priority: int = 100) -> None:
    inst = d.instances["VI_1"]
    assert inst.sock is not None
    advert = VrrpAdvert(
        version=3, vrid=51, priority=priority, advert_int=10, addresses=("10.9.0.100",)
    )
    payload = encode(advert, "10.9.0.2", "10.9.0.1", old_checksum=old)
    d._on_packet(
        inst.sock, build_ipv4_header("10.9.0.2", "10.9.0.1", len(payload), ident=1) + payload
    )


def _sends_old_checksum(d: daemon.Daemon) -> bool:
    inst = d.instances["VI_1"]
    assert isinstance(inst.sock, _FakeVrrpSocket) and inst.sock.sent[-1] == ("10.9.0.1", "10.9.0.2")
    return decode(inst.sock.payloads[-1], "10.9.0.1", "10.9.0.2").old_checksum


def test_a_peer_with_the_old_unicast_checksum_is_heard_and_answered_in_kind(
    fake_daemon: FakeDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """keepalived before 1.3.6 summed unicast VRRPv3 adverts over 224.0.0.18: keepalived
    2.2.7 accepts such a peer's advert, says so, and from then on sends the old checksum."""
    d = _unicast_master(fake_daemon)
    inst = d.instances["VI_1"]
    _drive(d.loop, lambda: len(inst.sock.sent) >= 2, timeout=3)  # type: ignore[union-attr]
    assert not _sends_old_checksum(d)
    _unicast_advert(d, old=False)
    assert inst.stats.advert_rcvd == 1 and inst.checksum_compat == "none"
    with caplog.at_level("INFO", logger="halab-vrrpd"):
        _unicast_advert(d, old=True)
    assert inst.stats.advert_rcvd == 2 and inst.checksum_compat == "auto"
    assert "(VI_1) Setting unicast VRRPv3 checksum to old version" in caplog.text
    sent = len(inst.sock.sent)  # type: ignore[union-attr]
    _drive(d.loop, lambda: len(inst.sock.sent) > sent, timeout=3)  # type: ignore[union-attr]
    assert _sends_old_checksum(d)
    _unicast_advert(d, old=False)  # now the RFC's checksum is the wrong one
    assert inst.stats.advert_rcvd == 2 and d.malformed == 1


@pytest.mark.parametrize(
    ("option", "old_heard", "new_heard", "sends_old"),
    [
        ("    old_unicast_checksum never\n", False, True, False),
        ("    old_unicast_checksum\n", True, False, True),
    ],
)
def test_old_unicast_checksum_never_refuses_it_and_bare_always_uses_it(
    fake_daemon: FakeDaemon, option: str, old_heard: bool, new_heard: bool, sends_old: bool
) -> None:
    d = _unicast_master(fake_daemon, option)
    inst = d.instances["VI_1"]
    _unicast_advert(d, old=True)
    assert inst.stats.advert_rcvd == int(old_heard)
    _unicast_advert(d, old=False)
    assert inst.stats.advert_rcvd == int(old_heard) + int(new_heard)
    sent = len(inst.sock.sent)  # type: ignore[union-attr]
    _drive(d.loop, lambda: len(inst.sock.sent) > sent, timeout=3)  # type: ignore[union-attr]
    assert _sends_old_checksum(d) is sends_old


def test_reload_with_a_vip_added_above_other_keywords_keeps_the_master(
    fake_daemon: FakeDaemon,
) -> None:
    """A user adds a VIP line to the master's file (every keyword below it moves down a line)
    and reloads: the master stays master, keeps its VIP and adds the new one, as keepalived
    does (an audit saw halab-vrrpd give up MASTER for 3.4 s here)."""
    conf = CONF.replace(
        "    }\n}\n",
        "    }\n    authentication {\n        auth_type PASS\n        auth_pass 1111\n    }\n}\n",
    )
    conf = conf.replace("version 3", "version 2").replace("advert_int 0.1", "advert_int 1")
    d, kernel = fake_daemon(conf)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=5)
    inst = d.instances["VI_1"]
    Path(d.config_path).write_text(
        conf.replace("10.9.0.100/24\n", "10.9.0.100/24\n        10.9.0.101/24\n")
    )
    d.reload()
    assert d.instances["VI_1"] is inst and _state(d) is State.MASTER
    assert {"10.9.0.100", "10.9.0.101"} <= {a.address for a in kernel.addrs}
    assert d.events.counts["vip_removed"] == 0


# --- keepalived's command line, as users' units give it -----------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        # every flag of keepalived 2.2.7's --help that runs a daemon
        ["-D", "-d", "-S", "0"],  # seed 002's KEEPALIVED_OPTIONS
        ["-S", "local3", "-V", "-R", "-X", "-I", "-B", "--all", "-a", "-x", "-m"],
        ["-u", "0022", "-e", "-G", "-c", "/run/c.pid", "-b", "/run/b.pid"],
        ["-A", "/run/agentx", "-M", "core", "-i", "lb1", "-Dd", "-S1"],
        ["--log-facility=daemon", "--dont-release-vrrp", "--dont-respawn", "--dump-conf"],
    ],
)
def test_keepalived_flags_are_taken(argv: list[str]) -> None:
    args = parse_args(argv)
    assert args.use_file == "/etc/keepalived/keepalived.conf"


@pytest.mark.parametrize(
    ("word", "facility"),
    [("0", 0), ("7", 7), ("local5", 5), ("LOCAL2", 2), ("user", -1), ("daemon", None)],
)
def test_log_facility_words(word: str, facility: int | None) -> None:
    assert parse_args(["-S", word]).log_facility == facility


@pytest.mark.parametrize("argv", [["-S", "8"], ["-S", "local9"], ["-S", "kern"], ["-u", "9x"]])
def test_bad_flag_values_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert "invalid" in capsys.readouterr().err


def test_umask_is_numeric_octal() -> None:
    assert parse_args(["-u", "0022"]).umask == 0o022
    assert parse_args(["-u", "077"]).umask == 0o077


def test_a_namespace_is_refused_with_why(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-s", "blue", "-n", "-f", "/nonexistent.conf"]) == 1
    assert "--namespace blue: not supported" in capsys.readouterr().err


def test_the_user_facility_reaches_the_checker_child() -> None:
    from pytest_halab.vrrp.__main__ import _checker_argv

    argv = _checker_argv(parse_args(["-S", "user", "-e", "-d"]), "/k.conf")
    assert argv[argv.index("--log-facility") + 1] == "user"
    assert parse_args(argv).log_facility == -1 and "--all-config" in argv


def test_all_config_makes_a_missing_include_an_error(tmp_path: Path) -> None:
    """keepalived -t -e, seen: a missing include gives exit status 6, not 0."""
    conf = tmp_path / "k.conf"
    conf.write_text(f"include {tmp_path}/nothere.conf\n")
    assert main(["-t", "-f", str(conf)]) == 0
    assert main(["-t", "-e", "-f", str(conf)]) == 6


def test_dont_release_leaves_the_vip_and_sends_no_priority_0(fake_daemon: FakeDaemon) -> None:
    """-V: keepalived skips its instances' shutdown on stop (seen with keepalived 2.2.7 in a
    container: the VIP stays, no priority 0 on the wire). No notify_stop either."""
    d, kernel = _running_master(fake_daemon)
    d.dont_release = True
    inst = d.instances["VI_1"]
    assert inst.sock is not None
    sent = len(inst.sock.sent)
    d.shutdown()
    assert any(a.address == "10.9.0.100" for a in kernel.addrs)
    assert inst.stats.pri_zero_sent == 0 and len(inst.sock.sent) == sent
    assert d.events.counts["vip_removed"] == 0


def test_dump_conf_logs_the_data_dump(
    fake_daemon: FakeDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    d, _kernel = _running_master(fake_daemon)
    with caplog.at_level("INFO", logger="halab-vrrpd"):
        d.dump_to_log()
    said = [r.getMessage() for r in caplog.records]
    assert "------< VRRP Topology >------" in said and " VRRP Instance = VI_1" in said


def test_address_monitoring_logs_every_address_as_keepalived_does(
    fake_daemon: FakeDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    """-a: the addresses at start, then each one the kernel adds or removes, in keepalived
    2.2.7's words (seen with keepalived -a in a container: "Netlink reflector reports IP
    198.51.100.7 added to v1", "... removed from v1")."""
    d, kernel = fake_daemon(CONF)
    d.address_monitoring = True
    _plug(kernel, 7, IF, "10.9.0.1")
    with caplog.at_level("INFO", logger="halab-vrrpd"):
        d.start()
        other = AddressInfo(7, "198.51.100.7", 24, IF, False)
        d.handle_netlink_events([("add", other)])
        d.handle_netlink_events([("del", other)])
    said = [r.getMessage() for r in caplog.records if "reflector" in r.getMessage()]
    assert said == [
        f"Netlink reflector reports IP 10.9.0.1 added to {IF}",
        f"Netlink reflector reports IP 198.51.100.7 added to {IF}",
        f"Netlink reflector reports IP 198.51.100.7 removed from {IF}",
    ]


def test_without_address_monitoring_no_address_is_logged(
    fake_daemon: FakeDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    with caplog.at_level("INFO", logger="halab-vrrpd"):
        d.start()
        d.handle_netlink_events([("add", AddressInfo(7, "198.51.100.7", 24, IF, False))])
    assert not [r for r in caplog.records if "reflector" in r.getMessage()]

"""Faults.flap_link without Docker: its arguments, the in-node loop's log as the host reads
it, the events it notes, its verification and its undo (a fake node plays the loop)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_halab.errors import FaultError, FaultNotEffective
from pytest_halab.faults import Faults
from pytest_halab.flap import FLAP_SCRIPT
from pytest_halab.flapmeasures import FLAP_FAULT, LINK_DOWN, LINK_UP
from pytest_halab.nodes import ExecResult
from pytest_halab.timeline import Event

T0 = 1_700_000_000.0
LogMaker = Callable[[int, float, float], list[str]]


def clean_log(count: int, down: float, up: float) -> list[str]:
    """What the loop writes when every flap goes as planned."""
    lines, t = [f"{T0:.6f} start 0 up"], T0 + 0.01
    for i in range(1, count + 1):
        lines.append(f"{t:.6f} down {i} down")
        t += down + 0.002
        lines.append(f"{t:.6f} up {i} up")
        t += up + 0.002
    lines.append(f"{t:.6f} done {count} up")
    return lines


class _Container:
    def __init__(self, node: _Node) -> None:
        self.node = node

    def exec_run(self, argv: list[str], detach: bool = False) -> None:
        assert detach and argv[:2] == ["bash", "-c"] and argv[2] == FLAP_SCRIPT
        log, _iface, count, down, up = argv[4:9]
        self.node.started.append(argv)
        self.node.files[log] = "".join(
            line + "\n" for line in self.node.make_log(int(count), float(down), float(up))
        )


class _Node:
    name = "lb1"

    def __init__(self, make_log: LogMaker) -> None:
        self.make_log = make_log
        self.files: dict[str, str] = {}
        self.commands: list[str] = []
        self.started: list[list[str]] = []
        self.container = _Container(self)

    def exec(self, cmd: str | list[str], *, check: bool = False) -> ExecResult:
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        self.commands.append(text)
        if text.startswith("test -e /sys/class/net/"):
            return ExecResult(0 if text.endswith("/eth0") else 1, "")
        if "operstate" in text:
            return ExecResult(0, "up\n")
        if "grep -qa" in text and "kill" not in text:  # is the loop alive? it has ended
            return ExecResult(1, "")
        return ExecResult(0, "")

    def read_file(self, path: str) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path].encode()

    def logs(self, tail: int = 200) -> str:
        return "(logs)"


class _Lab:
    def __init__(self, node: _Node) -> None:
        self.nodes = {"lb1": node}

    def node(self, name: str) -> _Node:
        return self.nodes[name]


class _Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def note(self, node: str, kind: str, **data: Any) -> Event:
        ev = Event(ts=time.time(), node=node, kind=kind, data=data)
        self.events.append(ev)
        return ev

    def node_restarted(self, node: str) -> None:
        pass


def _faults(make_log: LogMaker = clean_log) -> tuple[Faults, _Node, _Sink]:
    node, sink = _Node(make_log), _Sink()
    return Faults(_Lab(node), sink=sink), node, sink  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 0.1, 0.1), "count=0: must be 1..1000"),
        ((1001, 0.01, 0.01), "count=1001: must be 1..1000"),
        ((1.5, 0.1, 0.1), "count must be an integer"),
        ((True, 0.1, 0.1), "count must be an integer"),
        ((1, 0, 0.1), "down_s=0: must be 0.001..60 s"),
        ((1, 0.1, -1), "up_s=-1: must be 0.001..60 s"),
        ((1, 61, 0.1), "down_s=61: must be 0.001..60 s"),
        ((1, float("nan"), 0.1), "down_s=nan"),
        ((1, float("inf"), 0.1), "down_s=inf"),
        ((1, "1", 0.1), "down_s must be a number of seconds"),
        ((20, 30, 1), "20 x \\(30 \\+ 1\\) s = 620 s: the sequence must last at most 600 s"),
        ((1, 0.1, 0.1, "eth0; reboot"), "iface='eth0; reboot' is not an interface name"),
        ((1, 0.1, 0.1, "../../etc"), "iface='../../etc' is not an interface name"),
        ((1, 0.1, 0.1, ".."), "iface='..' is not an interface name"),
        ((1, 0.1, 0.1, "a-very-long-interface"), "is not an interface name"),
    ],
)
def test_bad_arguments_are_refused_before_touching_the_lab(
    args: tuple[Any, ...], message: str
) -> None:
    faults, node, sink = _faults()
    with pytest.raises(ValueError, match=message):
        faults.flap_link("lb1", *args)
    assert node.commands == [] and sink.events == []


def test_an_unknown_interface_is_a_fault_error() -> None:
    faults, node, _sink = _faults()
    with pytest.raises(FaultError, match="lb1: no interface eth9"):
        faults.flap_link("lb1", 1, 0.1, 0.1, iface="eth9")
    assert node.started == []


def test_every_transition_is_an_event_timed_by_the_node() -> None:
    faults, node, sink = _faults()
    fault = faults.flap_link("lb1", 2, 0.25, 0.5)
    [argv] = node.started
    assert argv[3:] == ["halab-flap", argv[4], "eth0", "2", "0.250000", "0.500000"]
    assert argv[4].startswith("/var/log/halab/flap-") and argv[4].endswith(".log")
    phases = [e.data["phase"] for e in sink.events]
    assert phases == ["inject", LINK_DOWN, LINK_UP, LINK_DOWN, LINK_UP, "effective"]
    transitions = sink.events[1:-1]
    expected = [float(line.split()[0]) for line in clean_log(2, 0.25, 0.5)[1:-1]]
    assert [e.data["at"] for e in transitions] == expected
    assert [e.data["flap"] for e in transitions] == [1, 1, 2, 2]
    assert {e.data["name"] for e in sink.events} == {FLAP_FAULT}
    assert all(e.node == "lab" and e.kind == "fault" for e in sink.events)
    assert transitions[0].data["target"] == "lb1" and transitions[0].data["iface"] == "eth0"
    assert transitions[0].data["operstate"] == "down"
    assert transitions[0].data["detail"] == "eth0 flap 1/2"
    assert fault.detail == "eth0 2 x (0.25 s down, 0.5 s up)"
    assert fault.effective_at == sink.events[-1].ts
    # the revert stops the loop if it still runs, sets the link up and waits for it
    faults.revert(fault)
    assert any("kill -TERM" in c for c in node.commands)
    assert "ip link set dev eth0 up" in node.commands


def test_a_link_not_seen_down_is_not_effective_and_is_undone() -> None:
    def never_down(count: int, down: float, up: float) -> list[str]:
        return [line.replace(" down 2 down", " down 2 up") for line in clean_log(count, down, up)]

    faults, node, _sink = _faults(never_down)
    not_down = r"eth0 not down after ip link set down, flap\(s\) 2 \(up\)"
    with pytest.raises(FaultNotEffective, match=not_down):
        faults.flap_link("lb1", 3, 0.01, 0.01)
    assert "ip link set dev eth0 up" in node.commands  # undone
    assert faults.applied == []


def test_a_failed_ip_command_is_a_fault_error_with_its_message() -> None:
    def fails(count: int, down: float, up: float) -> list[str]:
        return [f"{T0:.6f} start 0 up", f"{T0:.6f} error 1 up"]

    faults, node, _sink = _faults(fails)
    original = node.container.exec_run

    def run(argv: list[str], detach: bool = False) -> None:
        original(argv, detach)
        node.files[argv[4] + ".err"] = "RTNETLINK answers: Operation not permitted\n"

    node.container.exec_run = run  # type: ignore[method-assign]
    with pytest.raises(FaultError, match="flap 1: ip link set failed: RTNETLINK answers"):
        faults.flap_link("lb1", 1, 0.01, 0.01)


def test_a_half_written_line_waits_for_its_end() -> None:
    """The host may read the log while the loop writes a line: it is taken once whole."""
    faults, node, sink = _faults()
    reads = 0
    whole = node.read_file

    def read(path: str) -> bytes:
        nonlocal reads
        reads += 1
        data = whole(path)
        return data[: data.index(b" up 1") + 3] if reads == 1 and path.endswith(".log") else data

    node.read_file = read  # type: ignore[method-assign]
    faults.flap_link("lb1", 1, 0.01, 0.01)
    assert [e.data["phase"] for e in sink.events][1:-1] == [LINK_DOWN, LINK_UP]


def test_a_loop_stopped_midway_is_not_effective() -> None:
    def stopped(count: int, down: float, up: float) -> list[str]:
        return [*clean_log(count, down, up)[:2], f"{T0 + 1:.6f} stopped 1 up"]

    faults, _node, _sink = _faults(stopped)
    with pytest.raises(FaultNotEffective, match="the flap loop was stopped in flap 1"):
        faults.flap_link("lb1", 2, 0.01, 0.01)


# --- the loop itself, run by the host's bash with a fake `ip` --------------------------------


@pytest.fixture
def fake_ip(tmp_path: Path) -> Path:
    """A directory with an `ip` that logs its arguments (first on PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ip = bin_dir / "ip"
    ip.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/ip.calls\n')
    ip.chmod(0o755)
    return bin_dir


def run_loop(fake_ip: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PATH": f"{fake_ip}:{os.environ['PATH']}", "LC_ALL": "C"}
    log = str(fake_ip.parent / "logs" / "flap.log")
    return subprocess.Popen(
        ["bash", "-c", FLAP_SCRIPT, "halab-flap", log, "lo", *args], env=env, text=True
    )


def test_the_loop_flaps_count_times_and_logs_each_transition(fake_ip: Path) -> None:
    proc = run_loop(fake_ip, "2", "0.05", "0.02")
    assert proc.wait(timeout=10) == 0
    calls = (fake_ip.parent / "ip.calls").read_text().splitlines()
    assert calls == ["link set dev lo down", "link set dev lo up"] * 2
    lines = (fake_ip.parent / "logs" / "flap.log").read_text().splitlines()
    parsed = [line.split() for line in lines]
    assert [(p[1], p[2]) for p in parsed] == [
        ("start", "0"), ("down", "1"), ("up", "1"), ("down", "2"), ("up", "2"), ("done", "2")
    ]  # fmt: skip
    stamps = [float(p[0]) for p in parsed]
    assert stamps == sorted(stamps) and abs(stamps[0] - time.time()) < 10
    assert stamps[2] - stamps[1] >= 0.05 and stamps[3] - stamps[2] >= 0.02
    pid = (fake_ip.parent / "logs" / "flap.log.pid").read_text().strip()
    assert pid == str(proc.pid)


def test_the_loop_stopped_sets_the_link_up_at_once(fake_ip: Path) -> None:
    """The revert's TERM lands in a 30 s sleep: the loop sets the link up and ends now."""
    proc = run_loop(fake_ip, "1", "30", "30")
    log = fake_ip.parent / "logs" / "flap.log"
    deadline = time.monotonic() + 10
    while " down 1 " not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the loop never took the link down"
        time.sleep(0.01)
    sent = time.monotonic()
    proc.terminate()
    assert proc.wait(timeout=15) == 0 and time.monotonic() - sent < 15  # not the sleep's 30 s
    assert (fake_ip.parent / "ip.calls").read_text().splitlines()[-1] == "link set dev lo up"
    assert log.read_text().splitlines()[-1].split()[1:3] == ["stopped", "1"]

"""A fault's life cycle without Docker: events to its sink, undone when it fails to verify."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_halab.errors import FaultError, FaultNotEffective, NodeCommandError
from pytest_halab.faults import Faults
from pytest_halab.timeline import Event


class _Node:
    name = "lb1"

    def logs(self, tail: int = 200) -> str:
        return "nginx: [emerg] bind() failed"


class _Lab:
    def __init__(self) -> None:
        self.nodes = {"lb1": _Node()}

    def node(self, name: str) -> _Node:
        return self.nodes[name]


class _Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.restarted: list[str] = []

    def note(self, node: str, kind: str, *, at: float | None = None, **data: Any) -> Event:
        ev = Event(ts=time.time() if at is None else at, node=node, kind=kind, data=data)
        self.events.append(ev)
        return ev

    def node_restarted(self, node: str) -> None:
        self.restarted.append(node)


def _faults() -> tuple[Faults, _Sink]:
    sink = _Sink()
    return Faults(_Lab(), sink=sink), sink  # type: ignore[arg-type]


def test_events_go_to_the_sink_and_times_come_from_it() -> None:
    faults, sink = _faults()
    undone = []
    f = faults._apply("demo", "lb1", "x", lambda: None, lambda: None, lambda: undone.append(1))
    assert [e.data["phase"] for e in sink.events] == ["inject", "effective"]
    assert f.injected_at == sink.events[0].ts and f.effective_at == sink.events[1].ts
    faults.revert(f)
    assert undone == [1] and sink.events[-1].data["phase"] == "revert"
    faults.revert(f)  # once only
    assert undone == [1]


def test_a_fault_that_does_not_verify_is_undone_and_carries_the_logs() -> None:
    faults, _sink = _faults()
    undone = []

    def verify() -> None:
        raise FaultNotEffective("lb1", "rule not in place")

    with pytest.raises(FaultNotEffective) as info:
        faults._apply("demo", "lb1", "x", lambda: None, verify, lambda: undone.append(1))
    assert undone == [1], "an injected fault that failed to verify must be reverted"
    notes = "\n".join(info.value.__notes__)
    assert "the fault was undone" in notes and "bind() failed" in notes
    assert faults.applied == []


def test_a_fault_that_failed_to_inject_is_undone_too() -> None:
    """One of its rules may be in place already."""
    faults, _sink = _faults()
    undone = []

    def inject() -> None:
        raise NodeCommandError("lb1", "iptables -I INPUT ...", 2, "iptables: bad rule")

    with pytest.raises(FaultError, match="iptables: bad rule"):
        faults._apply("demo", "lb1", "x", inject, lambda: None, lambda: undone.append(1))
    assert undone == [1]


def test_without_a_sink_faults_still_stamp_their_times() -> None:
    faults = Faults(_Lab())  # type: ignore[arg-type]
    t0 = time.time()
    f = faults._apply("demo", "lb1", "x", lambda: None, lambda: None, None)
    assert t0 <= f.injected_at <= f.effective_at <= time.time()


def test_revert_all_tries_an_undo_again_once_the_faults_under_it_are_undone() -> None:
    # a killed nginx cannot start while its config is still broken: undone newest first,
    # the kill's undo fails; once the config is back it succeeds
    faults, _ = _faults()
    state = {"config": "broken", "nginx": "dead"}
    tries: list[str] = []

    def fix_config() -> None:
        tries.append("config")
        state["config"] = "ok"

    def start_nginx() -> None:
        tries.append("nginx")
        if state["config"] != "ok":
            raise NodeCommandError("lb1", "20-nginx start", 1, "unknown directive")
        state["nginx"] = "running"

    faults._apply("break_config", "lb1", "", lambda: None, lambda: None, fix_config)
    faults._apply("kill_process", "lb1", "", lambda: None, lambda: None, start_nginx)
    assert faults.revert_all() == []
    assert tries == ["nginx", "config", "nginx"] and state["nginx"] == "running"


def test_revert_all_returns_what_still_fails_and_does_not_retry_when_nothing_changed() -> None:
    faults, _ = _faults()
    tries: list[str] = []

    def never() -> None:
        tries.append("never")
        raise NodeCommandError("lb1", "start", 1, "no")

    f = faults._apply("a", "lb1", "", lambda: None, lambda: None, lambda: tries.append("a"))
    faults._apply("b", "lb1", "", lambda: None, lambda: None, never)
    faults.revert(f)  # already undone: not counted, not run again
    errors = faults.revert_all()
    assert len(errors) == 1 and tries == ["a", "never"]
    faults._apply("c", "lb1", "", lambda: None, lambda: None, lambda: tries.append("c"))
    faults._apply("d", "lb1", "", lambda: None, lambda: None, never)
    tries.clear()
    errors = faults.revert_all()
    assert tries == ["never", "c", "never"] and len(errors) == 1
    assert "second try" in "".join(getattr(errors[0], "__notes__", []))


class _RestartingNode(_Node):
    """nginx as a user's check script keeps it: started again at once once killed."""

    def __init__(self) -> None:
        self.running = [43, 44, 45]
        self.commands: list[list[str]] = []

    def pids(self, pgrep: Any) -> list[int]:
        return list(self.running)

    def exec(self, cmd: Any, check: bool = False) -> Any:
        self.commands.append(list(cmd) if not isinstance(cmd, str) else [cmd])
        if isinstance(cmd, list) and cmd[:2] == ["sh", "-c"] and "KILL" in cmd[2]:
            self.running = [310, 311, 313]  # killed, and already started again

        class _Res:
            ok, exit_code, output = True, 0, ""

        return _Res()


def test_kill_process_takes_effect_when_the_signalled_processes_are_gone() -> None:
    """Not when no process of that name is left: a check script that starts nginx again at
    once left one all the time, and the fault timed out as not effective."""
    lab = _Lab()
    node = _RestartingNode()
    lab.nodes["lb1"] = node
    faults = Faults(lab, sink=_Sink())  # type: ignore[arg-type]
    t0 = time.monotonic()
    fault = faults.kill_process("lb1", "nginx", "SIGKILL")
    assert time.monotonic() - t0 < 5 and fault.injected_at is not None
    assert node.running == [310, 311, 313]


# ------------------------------------------------------------------ a service started again


class _Racing:
    """lb1, where a user's check script may start nginx between the undo's look and its
    start: the lab's start then fails (port 80 taken), the script's nginx runs."""

    name = "lb1"

    def __init__(self, script_starts: bool) -> None:
        self.script_starts = script_starts
        self.running: list[int] = []

    def pids(self, pattern: list[str]) -> list[int]:
        return list(self.running)

    def start(self) -> None:
        if self.script_starts:
            self.running = [4242]  # the script's nginx, bound first
            raise NodeCommandError("lb1", "20-nginx start", 1, "bind() to 0.0.0.0:80 failed")
        raise NodeCommandError("lb1", "20-nginx start", 1, "nginx: [emerg] unknown directive")


def _restart(monkeypatch: pytest.MonkeyPatch, node: _Racing) -> None:
    from pytest_halab import faults as faults_mod

    service = type(
        "S",
        (),
        {"start": staticmethod(lambda n: n.start()), "pgrep": staticmethod(lambda: ["pgrep"])},
    )
    monkeypatch.setattr(faults_mod.services, "by_process", lambda process: service)
    lab = _Lab()
    lab.nodes["lb1"] = node  # type: ignore[assignment]
    Faults(lab, sink=_Sink())._start_service(node, "nginx")  # type: ignore[arg-type]


def test_a_start_that_lost_the_race_to_another_starter_is_the_undo_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = _Racing(script_starts=True)
    _restart(monkeypatch, node)
    assert node.running == [4242]


def test_a_start_that_failed_with_nothing_running_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(NodeCommandError, match="unknown directive"):
        _restart(monkeypatch, _Racing(script_starts=False))

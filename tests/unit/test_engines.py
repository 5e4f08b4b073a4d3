"""Each VRRP engine module: names, process matching, pid files, event translation."""

from __future__ import annotations

import pytest

from pytest_halab import engines
from pytest_halab.engines.base import VrrpEngine
from pytest_halab.nodes import ExecResult, Node


def test_registry_by_name() -> None:
    assert engines.names() == ("keepalived", "halab")
    assert engines.get("halab").process == "halab-vrrpd"
    assert engines.get("keepalived").pidfile == "/run/keepalived.pid"
    with pytest.raises(ValueError, match="unknown VRRP engine 'vrrpd'; known: keepalived, halab"):
        engines.get("vrrpd")


@pytest.mark.parametrize("name", engines.names())
def test_every_engine_is_complete(name: str) -> None:
    eng = engines.get(name)
    assert issubclass(eng, VrrpEngine)
    for attr in ("name", "process", "pidfile", "events_path"):
        assert getattr(eng, attr), attr
    assert eng.pidfile in eng.alive_cmd()
    assert eng.process in " ".join(eng.pgrep())
    assert eng.parse_event(b"", "lb1") is None
    assert eng.parse_event(b"not json", "lb1") is None


class _Node:
    name = "lb1"
    pids = Node.pids  # the real parsing of pgrep's output, over this fake exec

    def __init__(self, outputs: dict[str, ExecResult]) -> None:
        self.outputs = outputs
        self.ran: list[object] = []

    def exec(self, cmd: object, *, check: bool = False) -> ExecResult:
        self.ran.append(cmd)
        key = cmd if isinstance(cmd, str) else " ".join(cmd)  # type: ignore[arg-type]
        for pattern, res in self.outputs.items():
            if pattern in key:
                return res
        return ExecResult(1, "")


@pytest.mark.parametrize("name", engines.names())
def test_pid_from_a_live_pid_file(name: str) -> None:
    eng = engines.get(name)
    node = _Node({eng.pidfile: ExecResult(0, "4242\n")})
    assert eng.pid(node) == 4242  # type: ignore[arg-type]
    assert eng.alive(node)  # type: ignore[arg-type]
    assert eng.pid(_Node({})) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("name", engines.names())
def test_pids_by_process_name(name: str) -> None:
    eng = engines.get(name)
    node = _Node({"pgrep": ExecResult(0, "12\n15\n")})
    assert eng.pids(node) == [12, 15]  # type: ignore[arg-type]
    assert eng.pids(_Node({})) == []  # type: ignore[arg-type]


def test_keepalived_fifo_events_are_timeline_events() -> None:
    line = (
        b'{"ts": 1700000000.123456, "kind": "vrrp_state", "data": {"instance": "VI_1", '
        b'"state": "MASTER", "prev": "BACKUP", "priority": 150, "engine": "keepalived"}}'
    )
    ev = engines.get("keepalived").parse_event(line, "lb1")
    assert ev is not None and ev.kind == "vrrp_state" and ev.node == "lb1"
    assert ev.data["state"] == "MASTER" and ev.ts == pytest.approx(1700000000.123456)


def test_halab_event_log_records_are_translated() -> None:
    line = (
        b'{"ts": 1700000000123456, "event": "state_change", "instance": "VI_1", '
        b'"old": "BACKUP", "new": "MASTER"}'
    )
    ev = engines.get("halab").parse_event(line, "lb2")
    assert ev is not None and ev.kind == "vrrp_state" and ev.node == "lb2"
    assert ev.data["state"] == "MASTER" and ev.data["prev"] == "BACKUP"
    assert ev.data["engine"] == "halab"
    assert ev.ts == pytest.approx(1700000000.123456)


class _Files:
    """A node whose files are these bytes (read_file raises for any other path)."""

    name = "lb1"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read_file(self, path: str) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]


STATE_LINES = {
    "keepalived": b'{"ts": 100.5, "kind": "vrrp_state", "data": {"instance": "VI_1", '
    b'"state": "BACKUP", "prev": "INIT", "engine": "keepalived"}}',
    "halab": b'{"ts": 100500000, "event": "state_change", "instance": "VI_1", '
    b'"old": "INIT", "new": "BACKUP"}',
}


@pytest.mark.parametrize("name", engines.names())
def test_instances_started_means_a_state_event_since_the_go_time(name: str) -> None:
    """The lab releases the other balancers once the expected master's instances run: a
    state event at or after the go time (one from an earlier start does not count)."""
    eng = engines.get(name)
    line = STATE_LINES[name]
    node = _Files({eng.events_path: b"not json\n" + line + b"\n"})
    assert eng.instances_started(node, 100.0)  # type: ignore[arg-type]
    assert eng.instances_started(node, 100.5)  # type: ignore[arg-type]
    assert not eng.instances_started(node, 101.0)  # type: ignore[arg-type]
    assert not eng.instances_started(_Files({eng.events_path: b""}), 0.0)  # type: ignore[arg-type]
    assert not eng.instances_started(_Files({}), 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "default", "nodes"),
    [("halab", "halab", {}), ("keepalived,lb1=halab", "keepalived", {"lb1": "halab"})],
)
def test_engine_spec(spec: str, default: str, nodes: dict[str, str]) -> None:
    assert engines.parse_spec(spec) == (default, nodes)

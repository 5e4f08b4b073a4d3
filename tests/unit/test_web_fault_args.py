"""Web-node faults without Docker: argument checks, refusals, the client's answers read."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_halab import bench, webserver
from pytest_halab.errors import FaultError
from pytest_halab.faults import Faults
from pytest_halab.nodes import ExecResult
from pytest_halab.poolbench import POOL_FAULTS
from pytest_halab.timeline import Event
from pytest_halab.webfaults import WebAnswer


class _Node:
    def __init__(self, name: str, role: str) -> None:
        self.name = name
        self.role = role
        self.commands: list[Any] = []

    def exec(self, cmd: Any, *, check: bool = False) -> ExecResult:
        self.commands.append(cmd)
        return ExecResult(1, "")  # pgrep finds nothing

    def pids(self, pgrep: list[str]) -> list[int]:
        res = self.exec(pgrep)
        return [int(p) for p in res.output.split()] if res.ok else []

    def read_file(self, path: str) -> bytes:
        return b"1111\n"

    def logs(self, tail: int = 200) -> str:
        return ""


class _Lab:
    def __init__(self) -> None:
        self.nodes = {
            n.name: n
            for n in (_Node("client", "client"), _Node("lb1", "balancer"), _Node("web1", "web"))
        }

    def node(self, name: str) -> _Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(f"no node {name!r}; nodes: {list(self.nodes)}") from None


class _Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def note(self, node: str, kind: str, *, at: float | None = None, **data: Any) -> Event:
        ev = Event(ts=time.time() if at is None else at, node=node, kind=kind, data=data)
        self.events.append(ev)
        return ev

    def node_restarted(self, node: str) -> None:
        pass


def _faults() -> tuple[Faults, _Lab, _Sink]:
    lab, sink = _Lab(), _Sink()
    return Faults(lab, sink=sink), lab, sink  # type: ignore[arg-type]


WEB_FAULTS = ["stop_web", "kill_web", "web_error", "hang_web", "firewall_web", "refuse_checks"]


@pytest.mark.parametrize("name", WEB_FAULTS)
@pytest.mark.parametrize("node", ["lb1", "client"])
def test_a_web_fault_refuses_a_node_that_is_not_a_web_node(name: str, node: str) -> None:
    faults, lab, sink = _faults()
    with pytest.raises(FaultError) as info:
        getattr(faults, name)(node)
    msg = str(info.value)
    assert f"{name} acts on a web node (role web)" in msg
    assert (
        f"{node} is a {lab.nodes[node].role} node" in msg and "web nodes of this lab: web1" in msg
    )
    assert sink.events == [] and faults.applied == [] and lab.nodes[node].commands == []


@pytest.mark.parametrize("name", WEB_FAULTS)
def test_an_unknown_node_is_a_key_error_naming_the_nodes(name: str) -> None:
    faults, _lab, _sink = _faults()
    with pytest.raises(KeyError, match=r"web9.*nodes"):
        getattr(faults, name)("web9")


@pytest.mark.parametrize("name", ["stop_web", "kill_web", "web_error", "hang_web"])
def test_a_web_fault_needs_apache_running(name: str) -> None:
    faults, lab, sink = _faults()
    with pytest.raises(FaultError, match=r"web1: .*apache2 is not running"):
        getattr(faults, name)("web1")
    assert sink.events == [] and faults.applied == []
    assert lab.nodes["web1"].commands == [webserver.PGREP]  # asked, nothing done


@pytest.mark.parametrize("status", [200, 302, 399, 600, 0, -500, True, "500", 500.0])
def test_web_error_takes_an_http_error_status(status: Any) -> None:
    faults, lab, _sink = _faults()
    with pytest.raises(ValueError, match=r"must be an HTTP error, 400\.\.599"):
        faults.web_error("web1", status)
    assert lab.nodes["web1"].commands == []


@pytest.mark.parametrize("port", [0, 65536, -1, True, "80", 80.0])
def test_firewall_web_takes_a_tcp_port(port: Any) -> None:
    faults, lab, _sink = _faults()
    with pytest.raises(ValueError, match=r"port .* must be 1..65535"):
        faults.firewall_web("web1", port)
    assert lab.nodes["web1"].commands == []


def test_argument_errors_come_before_the_node_is_looked_at() -> None:
    faults, _lab, _sink = _faults()
    with pytest.raises(ValueError):
        faults.web_error("lb1", 200)
    with pytest.raises(ValueError):
        faults.firewall_web("nowhere", 0)


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("http 200 1111", WebAnswer("http", 200, "1111")),
        ("http 503 <!DOCTYPE HTML PUBLIC", WebAnswer("http", 503, "<!DOCTYPE HTML PUBLIC")),
        ("http 204", WebAnswer("http", 204, "")),
        ("refused", WebAnswer("refused")),
        ("timeout", WebAnswer("timeout")),
        ("silent\n", WebAnswer("silent")),
        ("unreachable No route to host", WebAnswer("unreachable", None, "No route to host")),
        ("reset Connection reset by peer", WebAnswer("reset", None, "Connection reset by peer")),
        (
            "Traceback (most recent call last):",
            WebAnswer("garbled", None, "Traceback (most recent call last):"),
        ),
        ("", WebAnswer("garbled")),
        ("http x", WebAnswer("garbled", None, "http x")),
    ],
)
def test_the_clients_answer_is_read(line: str, answer: WebAnswer) -> None:
    assert WebAnswer.parse(line) == answer


def test_serving_means_200_with_the_nodes_body() -> None:
    assert WebAnswer("http", 200, "1111").serves("1111")
    assert not WebAnswer("http", 200, "2222").serves("1111")
    assert not WebAnswer("http", 500, "1111").serves("1111")
    assert not WebAnswer("silent").serves("1111")
    assert str(WebAnswer("http", 500, "x")) == "HTTP 500 'x'"
    assert (
        str(WebAnswer("unreachable", None, "No route to host")) == "unreachable (No route to host)"
    )


def test_the_restore_command_undoes_every_web_fault() -> None:
    cmd = webserver.ensure_serving_cmd()
    assert "pkill -CONT -x apache2" in cmd  # hang_web
    assert f"rm -f {webserver.FAULT_CONF}" in cmd and "apache2ctl graceful" in cmd  # web_error
    assert "apache2ctl start" in cmd and f"rm -f {webserver.PIDFILE}" in cmd  # stop/kill_web
    assert "--comment halab-fault-" in cmd and "iptables -w $rule" in cmd  # firewall_web
    assert cmd.endswith("true")


def test_the_pool_bench_has_the_web_faults_and_the_failover_bench_none() -> None:
    assert set(WEB_FAULTS) <= set(POOL_FAULTS)
    assert not set(POOL_FAULTS) & set(bench.FAULTS)


@pytest.mark.parametrize("name", ["stop_mail", "firewall_mail"])
def test_a_mail_fault_needs_the_lab_s_mail_node(name: str) -> None:
    faults, lab, sink = _faults()
    with pytest.raises(FaultError, match="this lab has no mail node"):
        getattr(faults, name)()
    with pytest.raises(FaultError) as info:
        getattr(faults, name)("web1")
    msg = str(info.value)
    assert f"{name} acts on a mail node (role mail)" in msg and "web1 is a web node" in msg
    assert "mail nodes of this lab: none" in msg
    assert sink.events == [] and faults.applied == [] and lab.nodes["web1"].commands == []

"""The wait strategies: what they return, what their timeouts say, which errors they raise."""

from __future__ import annotations

import time

import docker.errors
import pytest

from pytest_halab import waits
from pytest_halab.errors import FaultNotEffective, LabTimeoutError
from pytest_halab.nodes import ExecResult


def test_returns_what_the_condition_found() -> None:
    calls = iter([None, False, None, {"VI_1": ["lb1"]}])
    got = waits.until("VIP holders", lambda: next(calls), timeout=2, interval=0.001)
    assert got == {"VI_1": ["lb1"]}


def test_timeout_names_what_was_awaited_and_the_node() -> None:
    t0 = time.monotonic()
    with pytest.raises(LabTimeoutError) as info:
        waits.until("every VIP to have one holder", lambda: None, 0.2, 0.01, node="lb2")
    assert time.monotonic() - t0 >= 0.2
    assert str(info.value) == "timed out after 0.2 s waiting for every VIP to have one holder"
    assert info.value.node == "lb2"


def test_caller_chooses_the_error() -> None:
    def not_effective(msg: str, node: str | None) -> BaseException:
        return FaultNotEffective(node or "?", msg)

    with pytest.raises(FaultNotEffective, match=r"^lb1: timed out .* waiting for eth0 down$"):
        waits.until("eth0 down", lambda: False, 0.05, 0.01, node="lb1", error=not_effective)


def test_docker_errors_are_transient_and_quoted() -> None:
    attempts = []

    def flaky() -> bool:
        attempts.append(1)
        if len(attempts) < 3:
            raise docker.errors.APIError("container is restarting")
        return True

    assert waits.until("the node", flaky, 2, 0.001) is True
    with pytest.raises(LabTimeoutError, match=r"last error: container is restarting"):
        waits.until("the node", _raise_api_error, 0.05, 0.01)


def _raise_api_error() -> bool:
    raise docker.errors.APIError("container is restarting")


def test_other_errors_are_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError):
        waits.until("a bug", lambda: 1 / 0, 1, 0.01)


def test_a_zero_found_value_is_a_result() -> None:
    assert waits.until("a count", lambda: 0, 0.5, 0.01) == 0


class _FakeNode:
    name = "web1"

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.commands: list[object] = []

    def exec(self, cmd: object) -> ExecResult:
        self.commands.append(cmd)
        code = self.codes.pop(0) if self.codes else 1
        return ExecResult(code, "curl: (7) Failed to connect\n")


def test_node_command_waits_for_exit_zero() -> None:
    node = _FakeNode([1, 1, 0])
    waits.command(node, "curl -sf http://web1/health", "web1 healthy", 2, 0.001)  # type: ignore[arg-type]
    assert len(node.commands) == 3


def test_node_command_timeout_quotes_its_last_output() -> None:
    node = _FakeNode([])
    with pytest.raises(LabTimeoutError) as info:
        waits.command(node, "curl -sf http://web1/health", "web1 healthy", 0.05, 0.01)  # type: ignore[arg-type]
    assert "waiting for web1 healthy; last output: curl: (7) Failed to connect" in str(info.value)
    assert info.value.node == "web1"


def test_strategies_are_testcontainers_wait_strategies() -> None:
    from testcontainers.core.waiting_utils import WaitStrategy

    cond = waits.Condition("x", lambda: True).with_poll_interval(0.01)
    assert isinstance(cond, WaitStrategy)
    cond.wait_until_ready(None)  # testcontainers' entry point

"""The exceptions pytest-halab raises; all derive from HalabError."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .measures import FailoverMeasure


class HalabError(Exception):
    """Base of every pytest-halab error."""


class TopologyError(HalabError):
    """A topology file (or a config file it names) is invalid; nothing was started."""


class ImageBuildError(HalabError):
    """An image could not be made."""


class DockerUnavailableError(HalabError):
    """No Docker engine answers."""


class LabStartError(HalabError):
    """The lab could not be brought up; what was made has been removed."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class LabTimeoutError(LabStartError):
    """A readiness condition was not met in time."""


class LabMismatchError(LabStartError):
    """The lab runs, but VRRP settled a VIP elsewhere than the topology's ``master:`` says;
    the message says where, with each instance's state and priority, and why."""


class NodeCommandError(HalabError):
    """A command run in a node with ``check=True`` exited non-zero (its output attached)."""

    def __init__(self, node: str, command: str, exit_code: int, output: str) -> None:
        super().__init__(f"{node}: `{command}` exited {exit_code}:\n{output}")
        self.node = node
        self.command = command
        self.exit_code = exit_code
        self.output = output


class FaultError(HalabError):
    """A fault could not be applied (unknown node, nothing to kill, a command failed)."""

    def __init__(self, node: str, reason: str) -> None:
        super().__init__(f"{node}: {reason}")
        self.node = node


class FaultNotEffective(FaultError, AssertionError):
    """A fault was applied but its effect was not observed: the test must not go on."""


class VipDidNotMove(HalabError, AssertionError):
    """``hal.failover(vip, fault, to=NODE)``: NODE did not come to hold the VIP alone. An
    AssertionError, since it is the test's expectation that failed (pytest reports a
    failure, not an error); the message is the diagnosis (who held the VIP, what the client
    saw) and ``measure`` what was measured instead, already recorded in the run's report."""

    def __init__(self, message: str, measure: FailoverMeasure) -> None:
        super().__init__(message)
        self.measure = measure


class ObserverError(HalabError):
    """An in-node observer (capture, address watch, probe) did not start or cannot be read."""

    def __init__(self, message: str, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class LayoutError(HalabError):
    """A lab's layout label cannot be read (made by another version, or damaged)."""


class BaselineError(HalabError):
    """A baseline file cannot be read, is not JSON, has the wrong shape, or does not fit the
    run it should gate; the message names the file (and the line, column or field)."""


class EngineWarning(UserWarning):
    """A balancer's VRRP engine did not do what its config asks (a script disabled, a
    keyword or value ignored): shown in pytest's warnings summary."""


class LabMarkWarning(UserWarning):
    """A test asked for a lab its ``@pytest.mark.lab(...)`` does not name (labmark.py)."""


class LabWarning(UserWarning):
    """Something of a lab the engine would not do, that the test does not depend on (a
    network it keeps after the lab's removal): shown in pytest's warnings summary."""

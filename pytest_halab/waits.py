"""Waiting in the lab: every polling loop of the package is one of these strategies.

The strategies are testcontainers' (``WaitStrategy``: a startup timeout and a poll interval,
set with ``with_startup_timeout`` / ``with_poll_interval``), so they read like the waits of
any testcontainers user; what this module adds is what the lab needs of a wait:

- a description of what was awaited, which every timeout message names;
- the error the caller chooses (a lab that does not come up raises ``LabTimeoutError``, a
  fault whose effect does not show raises ``FaultNotEffective``, an observer that does not
  start raises ``ObserverError``), with the node it concerns;
- a monotonic deadline and sub-second intervals (the lab's conditions change in tens of
  milliseconds; testcontainers' own defaults poll every second);
- the value the condition found, returned to the caller;
- Docker API errors treated as transient (a container being restarted), the last one quoted.

``until(what, check, timeout)`` is the short form used across the package; ``Condition``
and ``NodeCommand`` are the strategies behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import docker.errors
from testcontainers.core.waiting_utils import WaitStrategy

from .errors import LabTimeoutError

if TYPE_CHECKING:
    from .nodes import Node

T = TypeVar("T")
ErrorFactory = Callable[[str, "str | None"], BaseException]
DEFAULT_INTERVAL_S = 0.05


def _lab_timeout(message: str, node: str | None) -> BaseException:
    return LabTimeoutError(message, node)


class Condition(WaitStrategy, Generic[T]):
    """Poll ``check`` until it returns something other than None or False.

    ``wait()`` returns what it returned; after the timeout, the chosen error is raised with
    "timed out after N s waiting for WHAT" (and the last transient error, if any).
    """

    def __init__(
        self,
        what: str,
        check: Callable[[], T | None],
        *,
        node: str | None = None,
        error: ErrorFactory = _lab_timeout,
    ) -> None:
        super().__init__()
        self.what = what
        self.check = check
        self.node = node
        self.error = error
        self.with_timeout(10.0)
        self.with_poll_interval(DEFAULT_INTERVAL_S)
        self.with_transient_exceptions(docker.errors.APIError)

    def with_timeout(self, seconds: float) -> Condition[T]:
        """``with_startup_timeout`` in (fractional) seconds: the lab's waits are short."""
        self._startup_timeout = float(seconds)
        return self

    @property
    def timeout(self) -> float:
        return self._startup_timeout

    def describe(self) -> str:
        return self.what

    def wait(self) -> T:
        deadline = time.monotonic() + self._startup_timeout
        last_exc: BaseException | None = None
        transient = tuple(self._transient_exceptions)
        while True:
            try:
                got = self.check()
                if got is not None and got is not False:
                    return got
            except transient as exc:
                last_exc = exc
            left = deadline - time.monotonic()
            if left <= 0:
                extra = f" (last error: {last_exc})" if last_exc else ""
                raise self.error(
                    f"timed out after {self._startup_timeout:g} s waiting for "
                    f"{self.describe()}{extra}",
                    self.node,
                )
            time.sleep(min(self._poll_interval, left))

    def wait_until_ready(self, container: Any = None) -> None:
        """testcontainers' entry point (``container.waiting_for(strategy)``)."""
        self.wait()


class NodeCommand(Condition[bool]):
    """Wait until a command run in the node exits 0 (testcontainers' ExecWaitStrategy, with
    the lab's error types and the command's last output in the message)."""

    def __init__(
        self,
        node: Node,
        command: str | Sequence[str],
        what: str,
        *,
        error: ErrorFactory = _lab_timeout,
    ) -> None:
        self._last_output = ""

        def check() -> bool:
            res = node.exec(command)
            self._last_output = res.output.strip()[-300:]
            return res.ok

        super().__init__(what, check, node=node.name, error=error)

    def describe(self) -> str:
        out = f"; last output: {self._last_output}" if self._last_output else ""
        return f"{self.what}{out}"


def until(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    interval: float = DEFAULT_INTERVAL_S,
    *,
    node: str | None = None,
    error: ErrorFactory = _lab_timeout,
) -> T:
    """``Condition(what, check)`` with this timeout and interval, waited for now."""
    cond: Condition[T] = Condition(what, check, node=node, error=error)
    return cond.with_timeout(timeout).with_poll_interval(interval).wait()


def command(
    node: Node,
    cmd: str | Sequence[str],
    what: str,
    timeout: float,
    interval: float = DEFAULT_INTERVAL_S,
    *,
    error: ErrorFactory = _lab_timeout,
) -> None:
    """Wait until ``cmd`` exits 0 in ``node``."""
    NodeCommand(node, cmd, what, error=error).with_timeout(timeout).with_poll_interval(
        interval
    ).wait()

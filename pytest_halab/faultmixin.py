"""What a group of faults mixed into ``Faults`` (``WebFaults``, ``ServiceFaults``,
``LinkFaults``...) may use of it: the lab, its event sink and ``_apply`` (inject, verify,
record, undo), typing only; and the waits and reads every group's faults verify with."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import docker.errors

from . import waits
from .errors import FaultNotEffective

if TYPE_CHECKING:
    from .faults import Fault, FaultSink
    from .lab import Lab
    from .nodes import Node

__all__ = ["VERIFY_TIMEOUT_S", "FaultMixin", "not_effective", "safe_read", "wait_effect"]

VERIFY_TIMEOUT_S = 10.0


def not_effective(message: str, node: str | None) -> BaseException:
    return FaultNotEffective(node or "?", message)


def wait_effect(
    what: str,
    node: str,
    check: Callable[[], bool],
    timeout: float = VERIFY_TIMEOUT_S,
    interval: float = 0.05,
) -> None:
    """Wait for a fault's effect (or its undoing); FaultNotEffective naming it otherwise.

    Each check is a ``docker exec`` or an inspect (tens of ms of CPU on the engine's host):
    polled every 50 ms, not faster, so parallel labs leave CPU to the labs themselves. The
    fault's time is taken at injection, never from this poll."""
    waits.until(what, check, timeout, interval, node=node, error=not_effective)


def safe_read(n: Node, path: str) -> bytes:
    """The file's bytes, or none when it is not there (or the node cannot be read)."""
    try:
        return n.read_file(path)
    except (FileNotFoundError, docker.errors.APIError):
        return b""


class FaultMixin:
    if TYPE_CHECKING:
        lab: Lab
        sink: FaultSink | None

        def _apply(
            self,
            name: str,
            target: str,
            detail: str,
            inject: Callable[[], object],
            verify: Callable[[], None],
            undo: Callable[[], None] | None,
            *,
            stamped: bool = False,
        ) -> Fault: ...

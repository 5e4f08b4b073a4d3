"""What a group of faults mixed into ``Faults`` (``WebFaults``, ``ServiceFaults``) may use
of it: the lab and ``_apply`` (inject, verify, record, undo). Typing only."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .faults import Fault
    from .lab import Lab

__all__ = ["FaultMixin"]


class FaultMixin:
    if TYPE_CHECKING:
        lab: Lab

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

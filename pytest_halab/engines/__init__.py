"""The VRRP engines a balancer can run, by name (containerlab's node kinds are the model).

Adding an engine: one module with a ``VrrpEngine`` subclass, plus one line in ``_ENGINES``.
"""

from __future__ import annotations

from .base import VrrpEngine
from .halab import Halab
from .keepalived import Keepalived

_ENGINES: tuple[type[VrrpEngine], ...] = (Keepalived, Halab)
ENGINES: dict[str, type[VrrpEngine]] = {e.name: e for e in _ENGINES}
DEFAULT = Keepalived.name


def names() -> tuple[str, ...]:
    """Every engine's name, in registration order."""
    return tuple(ENGINES)


def get(name: str) -> type[VrrpEngine]:
    """The engine called ``name``; ValueError listing the known ones otherwise."""
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(
            f"unknown VRRP engine {name!r}; known: {', '.join(ENGINES)}"
        ) from None


__all__ = ["DEFAULT", "ENGINES", "VrrpEngine", "get", "names"]

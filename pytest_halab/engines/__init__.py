"""The VRRP engines a balancer can run, by name (containerlab's node kinds are the model).

Adding an engine: one module with a ``VrrpEngine`` subclass, plus one line in ``_ENGINES``.
"""

from __future__ import annotations

from .base import ENGINE_FILE, GO_FILE, START, USE, VrrpEngine
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
        raise ValueError(f"unknown VRRP engine {name!r}; known: {', '.join(ENGINES)}") from None


def parse_spec(spec: str) -> tuple[str | None, dict[str, str]]:
    """``"halab"``, ``"lb1=halab,lb2=keepalived"`` or ``"keepalived,lb1=halab"`` -> the
    default engine and the per-node overrides. Raises ValueError naming the bad part."""
    default: str | None = None
    nodes: dict[str, str] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        node, _, eng = part.rpartition("=")
        if eng not in ENGINES:
            raise ValueError(f"{part!r}: engine must be one of {', '.join(ENGINES)}")
        if node:
            nodes[node] = eng
        else:
            default = eng
    return default, nodes


__all__ = [
    "DEFAULT",
    "ENGINES",
    "ENGINE_FILE",
    "GO_FILE",
    "START",
    "USE",
    "VrrpEngine",
    "get",
    "names",
    "parse_spec",
]

"""The balancer services the lab knows, by name.

Adding a service: one module with a ``BalancerService``
subclass, plus one line in ``_SERVICES``.
"""

from __future__ import annotations

from .base import BalancerService
from .checker import Checker
from .haproxy import Haproxy
from .nginx import Nginx

_SERVICES: tuple[type[BalancerService], ...] = (Nginx, Haproxy, Checker)
SERVICES: dict[str, type[BalancerService]] = {s.name: s for s in _SERVICES}


def by_process(process: str) -> type[BalancerService] | None:
    """The service whose process is called ``process``, if any."""
    return next((s for s in _SERVICES if s.process == process), None)


__all__ = ["SERVICES", "BalancerService", "Checker", "Haproxy", "Nginx", "by_process"]

"""What the checker asks of a forwarding plane: the whole desired state of every virtual
service (its real servers with their current weights), applied at once.

The checker decides (health checks, quorum, sorry server, inhibit_on_failure); the plane
only serves what it is given. A plane applies each new state as one atomic transaction, so
no packet ever meets half a pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Destination", "ForwardingPlane", "PlaneError", "Service"]


class PlaneError(Exception):
    """A forwarding plane refused or failed to apply a state (the message says why)."""


@dataclass(frozen=True)
class Destination:
    """One real server (or the sorry server) in a service's pool.

    `weight` 0 keeps the server known to the plane but gives it no new connection
    (keepalived's inhibit_on_failure, IPVS's quiescent server); connections and persistence
    entries it already has may finish. `port` 0 means the virtual service's own port."""

    ip: str
    port: int
    weight: int
    forwarding: str  # "NAT" | "DR" | "TUN"


@dataclass(frozen=True)
class Service:
    """One virtual service as the plane serves it.

    `name` is keepalived's own text for it (``[172.16.0.10]:tcp:80``, ``FWM 1``), used in
    log lines and events. Exactly one of (`ip`, `port`) and `fwmark` says what it serves.
    `sched` is keepalived's lb_algo name (rr, wrr, lc, wlc, sh, ...): a plane that cannot
    run one runs its nearest equivalent and says so in `ForwardingPlane.approximations`.
    `persistence_timeout` is in seconds (0: none); `persistence_netmask` is
    persistence_granularity (None: a single address)."""

    name: str
    family: int  # socket.AF_INET or socket.AF_INET6
    protocol: str  # "tcp" | "udp" | "sctp"
    ip: str | None
    port: int
    fwmark: int | None
    sched: str
    persistence_timeout: int
    persistence_netmask: str | None
    destinations: tuple[Destination, ...]


class ForwardingPlane(Protocol):
    """A kernel load balancer the checker drives (IPVS, or nftables where there is none)."""

    name: str  # "ipvs" | "nftables"

    def refusal(self, service: Service) -> str | None:
        """Why this plane cannot serve `service` at all (LVS-TUN without ipip, ...), or
        None. Checked before anything is applied."""
        ...

    def approximations(self, service: Service) -> list[str]:
        """What this plane runs in place of what `service` asks for (a scheduler it does
        not have and its nearest equivalent), one sentence each; empty when exact."""
        ...

    def apply(self, services: Sequence[Service]) -> None:
        """Make the kernel serve exactly `services` (the whole desired state), as one
        atomic transaction. Raises PlaneError when the kernel refuses it."""
        ...

    def clear(self) -> None:
        """Remove everything this plane installed (at shutdown)."""
        ...

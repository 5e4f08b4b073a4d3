"""One health checker of a real server (TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK,
DNS_CHECK, SMTP_CHECK), as the checker runs it: one attempt at a time. Retries,
delay_before_retry, delay_loop and the real server's up/down state are the runner's, on
the model's timers (keepalived 2.2 keeps them in the generic checker, not in each
check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["Attempt", "Probe", "Target"]


@dataclass(frozen=True)
class Target:
    """Where one checker connects: the real server's address unless connect_ip /
    connect_port say otherwise; `bind_ip`/`bind_port`/`bind_interface` from bindto,
    bind_port, bind_if; `timeout` is connect_timeout in seconds (keepalived's default 5)."""

    ip: str
    port: int
    family: int
    timeout: float
    bind_ip: str | None = None
    bind_port: int = 0
    bind_interface: str | None = None
    fwmark: int = 0


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt: `ok`, and when not ok the failure in keepalived's words
    (the text its log line carries). `weight` is a MISC_CHECK misc_dynamic result (exit
    status 2-255 sets the weight to status - 2), else None."""

    ok: bool
    detail: str = ""
    weight: int | None = None


class Probe(Protocol):
    """One configured checker of one real server."""

    kind: str  # "TCP_CHECK", "HTTP_GET", ... (those that connect also have a `target`)

    async def attempt(self) -> Attempt:
        """One check, bounded by its timeout; never raises for a failed check."""
        ...

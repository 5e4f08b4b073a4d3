"""Figures of an LVS director's pool, from a timeline: what its checker decided and when,
against what the client saw. Not one failover (no VIP moves), so a result type of its own.

- :func:`measure_pool_change`: a real server's fault (or its revert) to the director's
  pool without (or with) it: detection (fault to the checker's decision), removal (fault to
  the pool applied in the kernel), the client's failed requests meanwhile, and those the
  faulty server still answered badly.
- :func:`traffic_split`: which real server answered the client's requests to a VIP (each
  web node answers with its own body), to hold against the weights;
  :func:`probes_complete` says whether every request started in a window is recorded yet
  (the probe writes a request's line when it ends, so lines come out of order).

The checker's events (kind ``checker``) carry keepalived's names of servers
(``[10.0.0.20]:tcp:80``); a pool event lists the destinations the kernel serves, with
their weights, and is stamped once the plane has applied it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .timeline import Event, EventKind, Timeline, elapsed

__all__ = [
    "PoolChange",
    "measure_pool_change",
    "pool_has",
    "probes_complete",
    "server_ip",
    "traffic_split",
]


def server_ip(name: str) -> str:
    """``[10.0.0.20]:tcp:80`` -> ``10.0.0.20`` (keepalived's FMT_RS text)."""
    return name[1 : name.index("]")] if name.startswith("[") and "]" in name else name


def pool_has(event: Event, ip: str) -> bool:
    """Whether a ``pool`` event's kernel pool gives `ip` new connections (weight > 0)."""
    for dest in event.get("destinations") or []:
        if isinstance(dest, dict) and server_ip(str(dest.get("rs", ""))) == ip:
            weight = dest.get("weight", 0)
            if isinstance(weight, int) and weight > 0:
                return True
    return False


def _checker(timeline: Timeline, director: str | None, event: str) -> list[Event]:
    evs = timeline.of_kind(EventKind.CHECKER.value)
    return [e for e in evs if e.get("event") == event and (director is None or e.node == director)]


@dataclass(frozen=True)
class PoolChange:
    """A real server leaving (`removed`) or rejoining a director's pool after `fault_at`.

    `decided_s`: fault to the checker's decision (its ``rs_state`` event); `applied_s`:
    fault to the pool without (with) the server in the kernel; None when it did not happen
    within the timeline. `failed_requests` counts the client's failed requests to the VIP
    from the fault to the pool change (to the timeline's end when none), `bad_answers`
    those of them answered with an HTTP error status. `bound_s` is the
    config's bound for the change (see `check.model`), when known; `fault` how the fault
    reads in reports (its name and what it did), when the change was measured after one."""

    vip: str
    server: str  # the real server's node
    director: str | None
    removed: bool
    fault_at: float
    decided_s: float | None
    applied_s: float | None
    requests: int
    failed_requests: int
    bad_answers: int
    bound_s: float | None = None
    fault: str | None = None

    @property
    def happened(self) -> bool:
        return self.applied_s is not None

    @property
    def over_bound_s(self) -> float | None:
        """`applied_s` minus the bound: negative within it."""
        if self.applied_s is None or self.bound_s is None:
            return None
        return round(self.applied_s - self.bound_s, 6)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for reports (times in seconds); :meth:`from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PoolChange:
        """Read back :meth:`as_dict` (reports, records sent by pytest-xdist workers)."""
        return cls(
            vip=str(d["vip"]),
            server=str(d["server"]),
            director=d.get("director"),
            removed=bool(d["removed"]),
            fault_at=float(d["fault_at"]),
            decided_s=d.get("decided_s"),
            applied_s=d.get("applied_s"),
            requests=int(d.get("requests", 0)),
            failed_requests=int(d.get("failed_requests", 0)),
            bad_answers=int(d.get("bad_answers", 0)),
            bound_s=d.get("bound_s"),
            fault=d.get("fault"),
        )

    def summary(self) -> str:
        what = "removed from" if self.removed else "added back to"
        where = f"{self.director}'s pool" if self.director else "the pool"
        if self.applied_s is None:
            head = f"{self.server} was not {what} {where} for {self.vip}"
        else:
            head = f"{self.server} {what} {where} for {self.vip} after {self.applied_s:.3f} s"
            if self.decided_s is not None:
                head += f" (checker decided at {self.decided_s:.3f} s)"
        if self.bound_s is not None:
            head += f", bound {self.bound_s:.3f} s"
        return (
            f"{head}; client: {self.failed_requests} of {self.requests} requests failed, "
            f"{self.bad_answers} answered with an error"
        )


def measure_pool_change(
    timeline: Timeline,
    *,
    vip: str,
    server: str,
    server_ip: str,
    fault_at: float,
    removed: bool = True,
    director: str | None = None,
    bound_s: float | None = None,
    fault: str | None = None,
) -> PoolChange:
    """The first pool change of `server` (`server_ip`) after `fault_at` on `director`
    (None: any director), and what the client saw of `vip` meanwhile: requests that failed,
    and of those the ones answered with an HTTP error status (a server answering 500).
    `fault`: how the fault reads in reports, kept on the result."""
    after = timeline.between(fault_at, None)
    decided = next(
        (
            e
            for e in _checker(after, director, "rs_state")
            if _ip_of(e) == server_ip and e.get("up") is (not removed)
        ),
        None,
    )
    applied = next(
        (e for e in _checker(after, director, "pool") if pool_has(e, server_ip) is not removed),
        None,
    )
    until = applied.ts if applied is not None else None
    probes = [
        e for e in after.between(None, until).of_kind(EventKind.PROBE.value) if e.get("vip") == vip
    ]
    failed = sum(1 for e in probes if not e.get("ok"))
    bad = sum(1 for e in probes if not e.get("ok") and e.get("status") is not None)
    return PoolChange(
        vip=vip,
        server=server,
        director=director if director is not None else (applied.node if applied else None),
        removed=removed,
        fault_at=fault_at,
        decided_s=elapsed(fault_at, decided.ts) if decided is not None else None,
        applied_s=elapsed(fault_at, applied.ts) if applied is not None else None,
        requests=len(probes),
        failed_requests=failed,
        bad_answers=bad,
        bound_s=bound_s,
        fault=fault,
    )


def _ip_of(event: Event) -> str:
    return server_ip(str(event.get("rs", "")))


def traffic_split(
    timeline: Timeline, vip: str, t0: float | None = None, t1: float | None = None
) -> Counter[str]:
    """How many of the client's successful requests to `vip` each body answered, between
    `t0` and `t1` (each web node answers with its own body: 1111, 2222)."""
    return Counter(
        str(e.get("body"))
        for e in timeline.between(t0, t1).of_kind(EventKind.PROBE.value)
        if e.get("vip") == vip and e.get("ok")
    )


def probes_complete(timeline: Timeline, vip: str, t0: float | None, t1: float) -> bool:
    """Whether every request to `vip` the probe started between `t0` and `t1` is in
    `timeline`: one started after `t1` is, and no ``seq`` between the last one started
    before `t0` and it is missing. The probe writes a request's line when the request
    ends: one still running (an answer late on a loaded host, one waiting for its
    timeout) has none yet, and a split counted without it misses its share of the
    director's cycle."""
    probes = [
        (e.ts, int(e.get("seq")))
        for e in timeline.of_kind(EventKind.PROBE.value)
        if e.get("vip") == vip and isinstance(e.get("seq"), int)
    ]
    after = [seq for ts, seq in probes if ts > t1]
    if not after:
        return False
    before = [seq for ts, seq in probes if t0 is not None and ts < t0]
    first = max(before, default=-1) + 1
    return {seq for _, seq in probes} >= set(range(first, min(after)))

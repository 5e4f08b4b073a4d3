"""Assertions that read like the domain: who held a VIP when, split brains, failed requests,
what an LVS director's pool serves.

Each takes the timeline (or a measure) and raises ``AssertionError`` with the stretch of the
timeline that explains the failure. ``vip_addr`` is the VIP's address (default:
``timeline.vips[vip]``); ``initial`` the nodes that held it before the first event of the
timeline.
"""

from __future__ import annotations

from collections.abc import Collection

from pytest_halab.poolmeasures import PoolChange, pool_has, server_ip
from pytest_halab.timeline import (
    Event,
    EventKind,
    HolderInterval,
    SplitBrain,
    Timeline,
    bare_addr,
    elapsed,
    holders_at,
    holders_over_time,
    split_brains_of,
)

__all__ = [
    "assert_holder",
    "assert_no_failed_requests",
    "assert_pool_change_within_bound",
    "assert_pool_without",
    "assert_single_holder",
    "assert_split_brain",
]


def _intervals(
    timeline: Timeline, vip: str, vip_addr: str | None, initial: Collection[str]
) -> list[HolderInterval]:
    addr = bare_addr(vip_addr) or timeline.vips.get(vip) or ""
    return holders_over_time(timeline, {vip: addr}, {vip: set(initial)})[vip]


def _names(nodes: Collection[str]) -> str:
    return "{" + ", ".join(sorted(nodes)) + "}" if nodes else "nobody"


def _rel(t: float, ref: float) -> str:
    return f"{elapsed(ref, t) * 1000:+.3f} ms"


def assert_single_holder(
    timeline: Timeline,
    vip: str,
    t0: float,
    t1: float,
    *,
    vip_addr: str | None = None,
    initial: Collection[str] = (),
    allow_none: bool = False,
) -> str | None:
    """Assert that ``vip`` had exactly one holder at every instant of ``[t0, t1]``
    (at most one with ``allow_none``). Returns the holder at ``t1``."""
    for iv in _intervals(timeline, vip, vip_addr, initial):
        if not iv.overlaps(t0, t1):
            continue
        n = len(iv.holders)
        if n == 1 or (n == 0 and allow_none):
            continue
        start = max(iv.start, t0)
        until = "the end" if iv.end is None else _rel(iv.end, t0)
        want = "at most one" if allow_none else "exactly one"
        raise AssertionError(
            f"{vip}: held by {_names(iv.holders)} from {_rel(start, t0)} to {until} "
            f"(relative to t0={t0:.6f}); expected {want} holder during "
            f"[t0, t0{_rel(t1, t0)}]\n" + timeline.format_around(start)
        )
    held = holders_at(_intervals(timeline, vip, vip_addr, initial), t1)
    return next(iter(held)) if held else None


def assert_holder(
    timeline: Timeline,
    vip: str,
    node: str,
    at: float,
    *,
    vip_addr: str | None = None,
    initial: Collection[str] = (),
) -> None:
    """Assert that at time ``at`` ``vip`` was held by ``node`` and by no other node."""
    held = holders_at(_intervals(timeline, vip, vip_addr, initial), at)
    if held != {node}:
        raise AssertionError(
            f"{vip} at {at:.6f}: held by {_names(held)}, expected only {node}\n"
            + timeline.format_around(at)
        )


def assert_split_brain(
    timeline: Timeline,
    vip: str,
    t0: float | None = None,
    t1: float | None = None,
    *,
    vip_addr: str | None = None,
    initial: Collection[str] = (),
    holders: Collection[str] | None = None,
) -> SplitBrain:
    """Assert that ``vip`` had two or more holders at some time in ``[t0, t1]`` (None:
    unbounded), including every node of ``holders`` if given; returns the first such
    split brain."""
    found = [
        sb
        for sb in split_brains_of(vip, _intervals(timeline, vip, vip_addr, initial))
        if (t1 is None or sb.start <= t1) and (t0 is None or sb.end is None or sb.end > t0)
    ]
    want = set(holders or ())
    for sb in found:
        if want <= sb.holders:
            return sb
    if t0 is not None:
        ref = t0
    else:
        first_fault = timeline.first(lambda e: e.kind == EventKind.FAULT)
        ref = first_fault.ts if first_fault is not None else (timeline.start or 0.0)
    extra = f" including {_names(want)}" if want else ""
    where = ""
    if t0 is not None:
        where = f" during [t0={t0:.6f}, " + (f"t0{_rel(t1, t0)}]" if t1 is not None else "end]")
    seen = "; split brains seen: " + ", ".join(
        f"{_names(sb.holders)} at {_rel(sb.start, ref)}" for sb in found
    )
    raise AssertionError(
        f"{vip}: no split brain{extra}{where}{seen if found else ''}\n"
        + timeline.format_around(ref, before=0.5, after=max(2.0, _span(ref, t1)))
    )


def _span(t0: float, t1: float | None) -> float:
    return 0.0 if t1 is None else max(0.0, t1 - t0)


def assert_no_failed_requests(
    timeline: Timeline,
    vip: str | None = None,
    t0: float | None = None,
    t1: float | None = None,
    *,
    tolerate_timeouts: int = 0,
) -> int:
    """Assert that no probe (of ``vip``, or of any VIP) started in ``[t0, t1]`` failed.
    Returns the number of probes checked.

    ``tolerate_timeouts``: up to that many probes that timed out (and none that failed
    otherwise: refused, reset, a bad status) are accepted. On a host whose cores are busy
    (parallel labs) a request now and then outlives the probe's 0.5 s timeout with nothing
    wrong in the lab; a VIP that really moved or a dead service fails many requests, or
    fails them otherwise."""
    probes = [
        e
        for e in timeline.between(t0, t1)
        if e.kind == EventKind.PROBE and (vip is None or e.get("vip") == vip)
    ]
    failed = [e for e in probes if not e.get("ok")]
    timeouts = [e for e in failed if "timed out" in str(e.get("error") or "")]
    if failed and (len(failed) > tolerate_timeouts or len(timeouts) != len(failed)):
        first, last = failed[0], failed[-1]
        what = vip if vip is not None else "the VIPs"
        errors = sorted({str(e.get("error") or e.get("status")) for e in failed})
        raise AssertionError(
            f"{len(failed)} of {len(probes)} requests to {what} failed, from "
            f"{first.ts:.6f} to {last.ts:.6f} ({elapsed(first.ts, last.ts) * 1000:.3f} ms); "
            f"errors: {', '.join(errors[:5])}\n" + timeline.format_around(first.ts)
        )
    return len(probes)


def assert_pool_without(
    timeline: Timeline,
    vip: str,
    rs_ip: str,
    *,
    at: float | None = None,
    director: str | None = None,
    vip_addr: str | None = None,
) -> list[str]:
    """Assert that at ``at`` (None: the timeline's end) the real server at ``rs_ip`` gets no
    new connections to ``vip`` from any director (or from ``director``): in each director's
    latest pool applied by then for a virtual server on the VIP's address, the server is
    absent or has weight 0. Returns the directors checked.

    The timeline holds only the pools applied while it was observed: with none for the VIP
    by ``at`` (of ``director``, when given) there is nothing to hold against, and that
    fails too."""
    addr = bare_addr(vip_addr) or bare_addr(timeline.vips.get(vip)) or vip
    latest: dict[str, Event] = {}
    for e in timeline.between(None, at).of_kind(EventKind.CHECKER.value):
        if e.get("event") != "pool" or (director is not None and e.node != director):
            continue
        if bare_addr(server_ip(str(e.get("vs", "")))) == addr:
            latest[e.node] = e
    ref = at if at is not None else (timeline.end or 0.0)
    if not latest:
        who = director or "no director"
        raise AssertionError(
            f"{vip} ({addr}): {who} applied no pool for it in the timeline by {ref:.6f}; "
            f"nothing says whether {rs_ip} was left out\n" + timeline.format_around(ref)
        )
    serving = sorted(node for node, e in latest.items() if pool_has(e, rs_ip))
    if serving:
        first = min(latest[node].ts for node in serving)
        raise AssertionError(
            f"{vip} ({addr}): {rs_ip} still in the pool of {_names(serving)} at {ref:.6f} "
            f"(their latest pools applied from {first:.6f})\n"
            + timeline.format_around(first, after=max(2.0, ref - first))
        )
    return sorted(latest)


def assert_pool_change_within_bound(
    change: PoolChange, *, slack_s: float = 0.0, timeline: Timeline | None = None
) -> float:
    """Assert that the pool change happened, within its bound (the config's, see
    ``checkbound``) plus ``slack_s``. Returns its ``applied_s``. A change without a bound
    is a ValueError: there is nothing to hold it against. ``timeline``: the stretch around
    the change goes into the message."""
    if change.bound_s is None:
        raise ValueError(f"no bound known for this pool change: {change.summary()}")
    limit = change.bound_s + slack_s
    if change.applied_s is not None and change.applied_s <= limit:
        return change.applied_s
    if change.applied_s is None:
        head = f"pool change did not happen (bound {change.bound_s:.3f} s + slack {slack_s:.3f} s)"
        t = change.fault_at + limit
    else:
        head = (
            f"pool change took {change.applied_s:.3f} s, "
            f"{(change.applied_s - limit) * 1000:.3f} ms over its bound "
            f"{change.bound_s:.3f} s + slack {slack_s:.3f} s"
        )
        t = change.fault_at + change.applied_s
    context = "" if timeline is None else "\n" + timeline.format_around(t)
    raise AssertionError(f"{head}: {change.summary()}{context}")

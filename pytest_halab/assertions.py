"""Assertions that read like the domain: who held a VIP when, split brains, failed requests.

Each takes the timeline and raises ``AssertionError`` with the stretch of the timeline that
explains the failure. ``vip_addr`` is the VIP's address (default: ``timeline.vips[vip]``);
``initial`` the nodes that held it before the first event of the timeline.
"""

from __future__ import annotations

from collections.abc import Collection

from pytest_halab.timeline import (
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

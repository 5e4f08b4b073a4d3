"""Link-flap figures: a flap sequence (``Faults.flap_link``) is several faults in one, and
the VIP may move 0..2 times per flap. One FailoverMeasure (one fault, one old and one new
holder, one outage) cannot say it, so its figures are a `FlapMeasure` of their own,
taken from the same timeline and `MeasureContext` as a failover's."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_halab.measures import (
    MeasureContext,
    default_window_end,
    fault_name,
    holders_before,
)
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
    to_us,
)

__all__ = [
    "FLAP_FAULT",
    "LINK_DOWN",
    "LINK_UP",
    "FlapFigures",
    "FlapMeasure",
    "VipMove",
    "measure_flaps",
]

_US = 1_000_000

FLAP_FAULT = "flap_link"
"""The name of the fault events ``Faults.flap_link`` notes (inject, each transition, ...)."""
LINK_DOWN = "link_down"
"""The phase of a flap's link-down event (``data["at"]``: when, by the node's clock)."""
LINK_UP = "link_up"
"""The phase of a flap's link-up event."""


@dataclass(frozen=True, slots=True)
class VipMove:
    """The VIP changed owner at ``ts``, from ``from_node`` (None: it had none yet) to
    ``to_node`` (see :func:`measure_flaps` for what owning is)."""

    ts: float
    from_node: str | None
    to_node: str

    def as_dict(self) -> dict[str, Any]:
        return {"ts": self.ts, "from": self.from_node, "to": self.to_node}


@dataclass(frozen=True, slots=True)
class FlapFigures:
    """One flap: from its link down (``start``) to the next flap's link down, the last
    one to the end of the measure's window (``end``). Durations in seconds."""

    flap: int
    start: float
    up_ts: float | None  # its link up; None when the window ended before it
    end: float
    moves: tuple[VipMove, ...]
    holder_changes: int
    no_holder_s: float
    multi_holder_s: float

    @property
    def down_s(self) -> float | None:
        """How long the link was down, as the node's loop ran it."""
        return None if self.up_ts is None else elapsed(self.start, self.up_ts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "flap": self.flap,
            "start": self.start,
            "up_ts": self.up_ts,
            "end": self.end,
            "down_s": self.down_s,
            "moves": [m.as_dict() for m in self.moves],
            "holder_changes": self.holder_changes,
            "no_holder_s": self.no_holder_s,
            "multi_holder_s": self.multi_holder_s,
        }


@dataclass(frozen=True, slots=True)
class FlapMeasure:
    """What a sequence of link flaps did to one VIP, over ``[window_start, window_end]``:
    from the first flap's link down to the end of the window (see :func:`measure_flaps`).

    ``moves``: every change of the VIP's owner; ``holder_changes``: every change of the
    holder set (a VIP removed and added back on the same node is two, and no move);
    ``no_holder_s`` / ``multi_holder_s``: total time with no holder / two or more;
    ``per_flap``: the same, flap by flap (their sums are the totals).
    """

    vip: str
    fault: str | None
    target: str | None
    window_start: float
    window_end: float
    per_flap: tuple[FlapFigures, ...]
    moves: tuple[VipMove, ...]
    holder_changes: int
    no_holder_s: float
    multi_holder_s: float
    split_brain: tuple[SplitBrain, ...]
    holders_before: frozenset[str]
    holders_after: frozenset[str]
    failed_requests: int
    probes: int

    @property
    def flaps(self) -> int:
        """How many flaps began in the window."""
        return len(self.per_flap)

    @property
    def moves_per_flap(self) -> float:
        return len(self.moves) / len(self.per_flap) if self.per_flap else 0.0

    @property
    def duration_s(self) -> float:
        return elapsed(self.window_start, self.window_end)

    def summary(self) -> str:
        """One line for humans."""
        return (
            f"{self.vip} over {self.flaps} flap(s) of {self.target or '?'} "
            f"({self.duration_s:.3f} s): {len(self.moves)} move(s) "
            f"({self.moves_per_flap:.2f} per flap: "
            f"{', '.join(str(len(f.moves)) for f in self.per_flap)}), "
            f"no holder {self.no_holder_s * 1000:.1f} ms, two or more holders "
            f"{self.multi_holder_s * 1000:.1f} ms, {self.failed_requests} of {self.probes} "
            f"requests failed, holders after: {', '.join(sorted(self.holders_after)) or 'nobody'}"
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for reports; times in seconds."""
        return {
            "vip": self.vip,
            "fault": self.fault,
            "target": self.target,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "flaps": self.flaps,
            "moves": [m.as_dict() for m in self.moves],
            "move_count": len(self.moves),
            "moves_per_flap": self.moves_per_flap,
            "holder_changes": self.holder_changes,
            "no_holder_s": self.no_holder_s,
            "multi_holder_s": self.multi_holder_s,
            "split_brain": [sb.as_dict() for sb in self.split_brain],
            "holders_before": sorted(self.holders_before),
            "holders_after": sorted(self.holders_after),
            "failed_requests": self.failed_requests,
            "probes": self.probes,
            "per_flap": [f.as_dict() for f in self.per_flap],
        }


def _transition_ts(e: Event) -> float:
    """When a flap transition happened: its node-clock ``at``, else when it was noted."""
    at = e.get("at")
    return float(at) if isinstance(at, int | float) and not isinstance(at, bool) else e.ts


def _flap_transitions(timeline: Timeline, at: float) -> list[Event]:
    """The link_down/link_up events of the flap fault injected at ``at``: those noted after
    it and before the next fault's inject."""
    nxt = timeline.first(
        lambda e: e.kind == EventKind.FAULT and e.get("phase") == "inject" and e.ts > at,
        after=at,
    )
    stop = nxt.ts if nxt is not None else None
    return [
        e
        for e in timeline.between(at, stop)
        if e.kind == EventKind.FAULT
        and e.get("name") == FLAP_FAULT
        and e.get("phase") in (LINK_DOWN, LINK_UP)
        and (stop is None or e.ts < stop)
    ]


def _overlap_us(t0: float, t1: float | None, lo: int, hi: int) -> int:
    """Microseconds of ``[t0, t1)`` (None: open) inside ``[lo, hi)`` (microseconds)."""
    a = max(to_us(t0), lo)
    b = hi if t1 is None else min(to_us(t1), hi)
    return max(0, b - a)


def _owner_moves(intervals: Sequence[HolderInterval]) -> list[VipMove]:
    """Every change of the VIP's owner: the holder that took it last (see
    :func:`measure_flaps`)."""
    moves: list[VipMove] = []
    owner: str | None = None
    since: dict[str, float] = {}  # holder -> when it took the VIP
    before: frozenset[str] = frozenset()
    for k, iv in enumerate(intervals):
        for node in iv.holders - before:
            since[node] = iv.start
        for node in before - iv.holders:
            since.pop(node, None)
        before = iv.holders
        if not iv.holders:
            continue  # nobody holds it: the owner stays who it was
        newest = max(since[n] for n in iv.holders)
        took = sorted(n for n in iv.holders if since[n] == newest)
        node = owner if owner in took else took[0]
        if node != owner:
            if k > 0:
                moves.append(VipMove(iv.start, owner, node))
            owner = node
    return moves


def measure_flaps(
    timeline: Timeline,
    ctx: MeasureContext,
    vip: str,
    *,
    at: float,
    window_end: float | None = None,
    fault: str | None = None,
) -> FlapMeasure:
    """What the link flaps of the ``flap_link`` fault injected at ``at`` did to ``vip``.

    The flaps are that fault's ``link_down``/``link_up`` events (noted after ``at`` and
    before the next fault's inject), each timed by its ``at`` (the node's clock). The
    window runs from the first link down to ``window_end`` (default: the next fault
    inject or revert after ``at``, else the timeline's end; give the time the VIP had
    settled to include a move back after the last flap). Flap *i* spans its link down to
    flap *i+1*'s (the last one, to the window's end); flaps that begin after the window
    are left out.

    Holders are the timeline's (:func:`holders_over_time`: the nodes that had the VIP
    address configured, who held it before the first event is
    ``ctx.initial_holders[vip]``): a node whose link is down still holds the VIP if its
    VRRP engine left the address in place. Figures:

    - a move is a change of the VIP's owner (:class:`VipMove`): the holder that took it
      last, whose gratuitous ARPs the LAN heard last; when it lets the VIP go and others
      still hold it, the newest of them. While nobody holds it the owner does not change.
      So A, nobody, A is no move; A, nobody, B is one; A, A+B, B is one; A, A+B, A
      (B took the VIP, then gave it up) is two: away and back;
    - ``holder_changes``: changes of the holder set in the window;
    - ``no_holder_s`` / ``multi_holder_s``: time in the window with no holder / with two
      or more (the split brains of :func:`split_brains_of`, clipped to the window);
    - probes of the VIP started in the window, and how many failed.

    ValueError when no flap of that fault is found, or the window ends before the first.
    """
    transitions = _flap_transitions(timeline, at)
    downs: dict[int, float] = {}
    ups: dict[int, float] = {}
    for e in transitions:
        flap = e.get("flap")
        if isinstance(flap, int):
            (downs if e.get("phase") == LINK_DOWN else ups).setdefault(flap, _transition_ts(e))
    if not downs:
        raise ValueError(f"no {FLAP_FAULT} {LINK_DOWN} event after t={at:.6f}")
    start = min(downs.values())
    end = window_end if window_end is not None else default_window_end(timeline, at)
    if end is None or end < start:
        raise ValueError(f"the window ends ({end}) before the first flap ({start:.6f})")
    starts = sorted((ts, flap) for flap, ts in downs.items() if ts <= end)

    addr = bare_addr(ctx.vip(vip).addr) or timeline.vips.get(vip) or ""
    initial = set(ctx.initial_holders.get(vip, ()))
    first_ts = timeline.start if timeline.start is not None else start
    intervals = holders_over_time(
        timeline, {vip: addr}, {vip: initial}, start=min(first_ts, start)
    )[vip]
    brains = [
        sb
        for sb in split_brains_of(vip, intervals)
        if sb.start <= end and (sb.end is None or sb.end > start)
    ]
    changes = [iv.start for iv in intervals[1:] if start <= iv.start <= end]
    moves = [m for m in _owner_moves(intervals) if start <= m.ts <= end]
    bounds = [to_us(ts) for ts, _ in starts]

    def flap_index(t: float) -> int:
        """Which flap's span holds ``t`` (a time in the window)."""
        return bisect.bisect_right(bounds, to_us(t)) - 1

    per_flap: list[FlapFigures] = []
    for i, (t0, flap) in enumerate(starts):
        t1 = starts[i + 1][0] if i + 1 < len(starts) else end
        lo, hi = to_us(t0), to_us(t1)
        up = ups.get(flap)
        no_holder = sum(_overlap_us(iv.start, iv.end, lo, hi) for iv in intervals if not iv.holders)
        several = sum(_overlap_us(sb.start, sb.end, lo, hi) for sb in brains)
        per_flap.append(
            FlapFigures(
                flap=flap,
                start=t0,
                up_ts=up if up is not None and up <= end else None,
                end=t1,
                moves=tuple(m for m in moves if flap_index(m.ts) == i),
                holder_changes=sum(1 for t in changes if flap_index(t) == i),
                no_holder_s=no_holder / _US,
                multi_holder_s=several / _US,
            )
        )

    probes = [
        e for e in timeline.between(start, end) if e.kind == EventKind.PROBE and e.get("vip") == vip
    ]
    first = next((e for e in transitions if isinstance(e.get("target"), str)), None)
    return FlapMeasure(
        vip=vip,
        fault=fault if fault is not None else fault_name(timeline, at, "inject"),
        target=first.get("target") if first is not None else None,
        window_start=start,
        window_end=end,
        per_flap=tuple(per_flap),
        moves=tuple(moves),
        holder_changes=len(changes),
        no_holder_s=sum(to_us(f.no_holder_s) for f in per_flap) / _US,
        multi_holder_s=sum(to_us(f.multi_holder_s) for f in per_flap) / _US,
        split_brain=tuple(brains),
        holders_before=holders_before(intervals, start),
        holders_after=holders_at(intervals, end),
        failed_requests=sum(1 for e in probes if not e.get("ok")),
        probes=len(probes),
    )

"""Failover figures computed from a timeline, and assertions that read like the domain.

All durations are seconds, rounded to the microsecond (the timeline's precision). The
reference instant of a measure is the time the caller passes as ``fault_ts``: use the
fault's ``inject`` event (when the action was issued) so that the figures include the time
the fault took to bite.

Definitions (``t_f`` is the fault time, the window is ``[t_f, window_end]``):

- detection: ``t_f`` -> the new holder's first ``vrrp_state`` MASTER for an instance owning
  the VIP; without such an event, ``t_f`` -> the first advert (priority > 0) from the new
  holder's address for the VIP's VRID (or, the VRID unknown, for a VRID that address was
  not advertising before ``t_f``). ``detection_source`` says which was used.
- VIP move: ``t_f`` -> the new holder's ``vip_added`` for the VIP.
- GARP: ``t_f`` -> the first gratuitous ARP for the VIP's address (from the new holder's
  MAC when ``node_macs`` knows it).
- outage: the first failed probe after ``t_f`` -> the first successful probe after the
  last failed one in the window, both by the probes' start times. 0.0 when no probe
  failed; None when probes failed and none succeeded afterwards, or when there was no
  probe at all. ``outage_from_fault_s`` is measured from ``t_f`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_halab.timeline import (
    Event,
    EventKind,
    HolderInterval,
    SplitBrain,
    Timeline,
    elapsed,
    event_vip,
    holders_at,
    holders_over_time,
    split_brains_of,
)

__all__ = [
    "FailoverMeasure",
    "assert_holder",
    "assert_no_failed_requests",
    "assert_single_holder",
    "assert_split_brain",
    "measure_failover",
    "measure_recovery",
    "percentile",
    "summarize",
]


@dataclass(frozen=True, slots=True)
class FailoverMeasure:
    """What happened to one VIP after one fault (or after its revert: ``phase="recovery"``).

    ``*_s`` figures are seconds from ``fault_ts``, None when the thing never happened in the
    window. ``probes``/``failed_requests`` count the VIP's probes started in the window.
    """

    vip: str
    fault: str | None
    fault_ts: float
    old_holder: str | None
    new_holder: str | None
    detection_s: float | None
    vip_move_s: float | None
    garp_s: float | None
    outage_s: float | None
    outage_from_fault_s: float | None
    failed_requests: int
    probes: int
    last_failure_ts: float | None
    split_brain: tuple[SplitBrain, ...] = ()
    holders_after: frozenset[str] = frozenset()
    first_failure_ts: float | None = None
    recovery_ts: float | None = None
    detection_source: str | None = None
    window_end: float | None = None
    phase: str = "failover"

    @property
    def moved(self) -> bool:
        """Whether another node took the VIP."""
        return self.new_holder is not None and self.vip_move_s is not None

    @property
    def garp_delta_s(self) -> float | None:
        """GARP seen on the wire minus VIP seen by netlink (seconds, to the microsecond): how
        far the lab's VIP-move time is from the packet capture's."""
        if self.garp_s is None or self.vip_move_s is None:
            return None
        return round(self.garp_s - self.vip_move_s, 6)

    @property
    def recovered(self) -> bool:
        """Whether the service answered again after its last failure (or never failed)."""
        return self.failed_requests == 0 or self.recovery_ts is not None

    def summary(self) -> str:
        """One line for humans, e.g. in a test's assertion message."""

        def ms(v: float | None) -> str:
            return "-" if v is None else f"{v * 1000:.1f} ms"

        moved = f"{self.old_holder or '?'} -> {self.new_holder or 'nobody new'}"
        text = (
            f"{self.vip} {self.phase} after {self.fault or 'fault'}: {moved}, "
            f"detection {ms(self.detection_s)}, VIP move {ms(self.vip_move_s)}, "
            f"outage {ms(self.outage_s)} ({self.failed_requests} of {self.probes} requests "
            f"failed), holders after: {', '.join(sorted(self.holders_after)) or 'nobody'}"
        )
        if self.split_brain:
            text += f", {len(self.split_brain)} split brain(s)"
        return text

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, for reports; times in seconds, holder sets as sorted lists."""
        return {
            "phase": self.phase,
            "vip": self.vip,
            "fault": self.fault,
            "fault_ts": self.fault_ts,
            "window_end": self.window_end,
            "old_holder": self.old_holder,
            "new_holder": self.new_holder,
            "detection_s": self.detection_s,
            "detection_source": self.detection_source,
            "vip_move_s": self.vip_move_s,
            "garp_s": self.garp_s,
            "garp_delta_s": self.garp_delta_s,
            "outage_s": self.outage_s,
            "outage_from_fault_s": self.outage_from_fault_s,
            "failed_requests": self.failed_requests,
            "probes": self.probes,
            "first_failure_ts": self.first_failure_ts,
            "last_failure_ts": self.last_failure_ts,
            "recovery_ts": self.recovery_ts,
            "split_brain": [sb.as_dict() for sb in self.split_brain],
            "holders_after": sorted(self.holders_after),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FailoverMeasure:
        """Read back :meth:`as_dict`."""
        return cls(
            vip=d["vip"],
            fault=d.get("fault"),
            fault_ts=float(d["fault_ts"]),
            old_holder=d.get("old_holder"),
            new_holder=d.get("new_holder"),
            detection_s=d.get("detection_s"),
            vip_move_s=d.get("vip_move_s"),
            garp_s=d.get("garp_s"),
            outage_s=d.get("outage_s"),
            outage_from_fault_s=d.get("outage_from_fault_s"),
            failed_requests=int(d.get("failed_requests", 0)),
            probes=int(d.get("probes", 0)),
            last_failure_ts=d.get("last_failure_ts"),
            split_brain=tuple(
                SplitBrain(s["vip"], s["start"], s.get("end"), frozenset(s["holders"]))
                for s in d.get("split_brain", ())
            ),
            holders_after=frozenset(d.get("holders_after", ())),
            first_failure_ts=d.get("first_failure_ts"),
            recovery_ts=d.get("recovery_ts"),
            detection_source=d.get("detection_source"),
            window_end=d.get("window_end"),
            phase=d.get("phase", "failover"),
        )


def _bare(addr: str | None) -> str | None:
    return addr.split("/", 1)[0] if addr else None


def _holders_before(intervals: Sequence[HolderInterval], t: float) -> frozenset[str]:
    """The holders just before ``t`` (events at exactly ``t`` not yet applied)."""
    held = intervals[0].holders if intervals else frozenset()
    for iv in intervals:
        if iv.start < t:
            held = iv.holders
        else:
            break
    return held


def _default_window_end(timeline: Timeline, t: float) -> float | None:
    """The next fault action (inject or revert) after ``t``, else the timeline's end."""
    nxt = timeline.first(
        lambda e: e.kind == EventKind.FAULT and e.get("phase") in ("inject", "revert") and e.ts > t,
        after=t,
    )
    return nxt.ts if nxt is not None else timeline.end


def _fault_name(timeline: Timeline, t: float, phase: str) -> str | None:
    """The name of the fault event at (or last before) ``t``, preferring ``phase``."""
    ev = timeline.last(
        lambda e: e.kind == EventKind.FAULT and e.get("phase") == phase, before=t
    ) or timeline.last(lambda e: e.kind == EventKind.FAULT, before=t)
    name = ev.get("name") if ev is not None else None
    return name if isinstance(name, str) else None


def _dt(t0: float, ev: Event | None) -> float | None:
    return None if ev is None else elapsed(t0, ev.ts)


def _measure(
    timeline: Timeline,
    vip: str,
    vip_addr: str | None,
    ref_ts: float,
    *,
    phase: str,
    fault: str | None,
    old_holder: str | None,
    new_holder: str | None,
    window_end: float | None,
    node_addrs: Mapping[str, str],
    node_macs: Mapping[str, str],
    instances: Collection[str] | None,
    vrid: int | None,
    initial_holders: Collection[str] | None,
) -> FailoverMeasure:
    addr = _bare(vip_addr) or timeline.vips.get(vip) or ""
    vips = {vip: addr}
    end = window_end if window_end is not None else _default_window_end(timeline, ref_ts)
    if end is None or end < ref_ts:
        end = ref_ts
    if initial_holders is not None:
        initial = set(initial_holders)
    else:
        initial = {old_holder} if old_holder else set()
    intervals = holders_over_time(timeline, vips, {vip: initial})[vip]
    if old_holder is None:
        before = _holders_before(intervals, ref_ts)
        old_holder = next(iter(before)) if len(before) == 1 else None
    window = timeline.between(ref_ts, end)

    def is_vip_event(e: Event, kind: str) -> bool:
        return e.kind == kind and event_vip(e, vips) == vip

    if new_holder is None:
        taken = window.first(
            lambda e: is_vip_event(e, EventKind.VIP_ADDED) and e.node != old_holder
        )
        new_holder = taken.node if taken is not None else None

    detection: float | None = None
    source: str | None = None
    vip_move: float | None = None
    garp: float | None = None
    if new_holder is not None:
        inst = {vip} if instances is None else set(instances)
        became_master = window.first(
            lambda e: (
                e.kind == EventKind.VRRP_STATE
                and e.node == new_holder
                and e.get("instance") in inst
                and e.get("state") == "MASTER"
            )
        )
        if became_master is not None:
            detection, source = _dt(ref_ts, became_master), "vrrp_state"
        else:
            advert = _first_advert(timeline, window, node_addrs.get(new_holder), vrid, ref_ts)
            if advert is not None:
                detection, source = _dt(ref_ts, advert), "advert"
        added = window.first(
            lambda e: is_vip_event(e, EventKind.VIP_ADDED) and e.node == new_holder
        )
        vip_move = _dt(ref_ts, added)
        mac = node_macs.get(new_holder, "").lower()
        first_garp = window.first(
            lambda e: (
                e.kind == EventKind.GARP
                and _bare(e.get("addr")) == addr
                and (not mac or str(e.get("mac", "")).lower() == mac)
            )
        )
        garp = _dt(ref_ts, first_garp)

    probes = [e for e in window if e.kind == EventKind.PROBE and e.get("vip") == vip]
    failures = [e for e in probes if not e.get("ok")]
    first_fail = failures[0] if failures else None
    last_fail = failures[-1] if failures else None
    recovery: Event | None = None
    outage: float | None
    outage_from_fault: float | None
    if not probes:
        outage = outage_from_fault = None
    elif last_fail is None:
        outage = outage_from_fault = 0.0
    else:
        recovery = next((e for e in probes if e.get("ok") and e.ts > last_fail.ts), None)
        outage = None if recovery is None else elapsed(failures[0].ts, recovery.ts)
        outage_from_fault = _dt(ref_ts, recovery)

    return FailoverMeasure(
        vip=vip,
        fault=fault if fault is not None else _fault_name(timeline, ref_ts, _phase_event(phase)),
        fault_ts=ref_ts,
        old_holder=old_holder,
        new_holder=new_holder,
        detection_s=detection,
        vip_move_s=vip_move,
        garp_s=garp,
        outage_s=outage,
        outage_from_fault_s=outage_from_fault,
        failed_requests=len(failures),
        probes=len(probes),
        last_failure_ts=last_fail.ts if last_fail is not None else None,
        split_brain=tuple(
            sb
            for sb in split_brains_of(vip, intervals)
            if sb.start <= end and (sb.end is None or sb.end > ref_ts)
        ),
        holders_after=holders_at(intervals, end),
        first_failure_ts=first_fail.ts if first_fail is not None else None,
        recovery_ts=recovery.ts if recovery is not None else None,
        detection_source=source,
        window_end=end,
        phase=phase,
    )


def _phase_event(phase: str) -> str:
    return "revert" if phase == "recovery" else "inject"


def _first_advert(
    timeline: Timeline, window: Timeline, src: str | None, vrid: int | None, ref_ts: float
) -> Event | None:
    """The first advert a node sent as (new) master for the VIP's VRID, see module doc."""
    if not src:
        return None
    src = _bare(src)
    if vrid is None:
        already = {
            e.get("vrid")
            for e in timeline.between(None, ref_ts)
            if e.kind == EventKind.ADVERT and e.get("src") == src and e.ts < ref_ts
        }
    else:
        already = set()
    return window.first(
        lambda e: (
            e.kind == EventKind.ADVERT
            and e.get("src") == src
            and e.get("priority") != 0
            and (e.get("vrid") == vrid if vrid is not None else e.get("vrid") not in already)
        )
    )


def measure_failover(
    timeline: Timeline,
    vip: str,
    vip_addr: str | None,
    fault_ts: float,
    old_holder: str | None = None,
    window_end: float | None = None,
    node_addrs: Mapping[str, str] | None = None,
    *,
    new_holder: str | None = None,
    fault: str | None = None,
    node_macs: Mapping[str, str] | None = None,
    instances: Collection[str] | None = None,
    vrid: int | None = None,
    initial_holders: Collection[str] | None = None,
) -> FailoverMeasure:
    """Measure how ``vip`` failed over after a fault injected at ``fault_ts``.

    - ``vip_addr``: the VIP's address (None: ``timeline.vips[vip]``).
    - ``old_holder``: default the single holder just before ``fault_ts`` (None if not one).
    - ``new_holder``: default the first other node to add the VIP in the window.
    - ``window_end``: default the next fault inject/revert after ``fault_ts``, else the
      timeline's end.
    - ``node_addrs``/``node_macs`` (node -> IP / MAC) tie adverts and GARPs to nodes;
      ``instances`` are the VRRP instances owning the VIP (default: one named like it),
      ``vrid`` its VRID if known.
    - ``initial_holders``: who held it before the first event (default: ``old_holder``).
    - ``fault``: the fault's name (default: from the fault event at ``fault_ts``).
    """
    return _measure(
        timeline,
        vip,
        vip_addr,
        fault_ts,
        phase="failover",
        fault=fault,
        old_holder=old_holder,
        new_holder=new_holder,
        window_end=window_end,
        node_addrs=node_addrs or {},
        node_macs=node_macs or {},
        instances=instances,
        vrid=vrid,
        initial_holders=initial_holders,
    )


def measure_recovery(
    timeline: Timeline,
    vip: str,
    vip_addr: str | None,
    revert_ts: float,
    old_holder: str | None = None,
    window_end: float | None = None,
    node_addrs: Mapping[str, str] | None = None,
    *,
    new_holder: str | None = None,
    fault: str | None = None,
    node_macs: Mapping[str, str] | None = None,
    instances: Collection[str] | None = None,
    vrid: int | None = None,
    initial_holders: Collection[str] | None = None,
) -> FailoverMeasure:
    """Measure the VIP coming back after the fault was reverted at ``revert_ts``.

    Same figures and defaults as :func:`measure_failover`, from ``revert_ts``: ``old_holder``
    is who held the VIP just before the revert (the node that took over), ``new_holder``
    the node that takes it back (under preemption, the original master). Under nopreempt
    nothing moves: ``new_holder`` is None and ``holders_after`` still the takeover node.
    """
    return _measure(
        timeline,
        vip,
        vip_addr,
        revert_ts,
        phase="recovery",
        fault=fault,
        old_holder=old_holder,
        new_holder=new_holder,
        window_end=window_end,
        node_addrs=node_addrs or {},
        node_macs=node_macs or {},
        instances=instances,
        vrid=vrid,
        initial_holders=initial_holders,
    )


# --- assertions -----------------------------------------------------------------------------


def _intervals(
    timeline: Timeline, vip: str, vip_addr: str | None, initial: Collection[str]
) -> list[HolderInterval]:
    addr = _bare(vip_addr) or timeline.vips.get(vip) or ""
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
) -> int:
    """Assert that no probe (of ``vip``, or of any VIP) started in ``[t0, t1]`` failed.
    Returns the number of probes checked."""
    probes = [
        e
        for e in timeline.between(t0, t1)
        if e.kind == EventKind.PROBE and (vip is None or e.get("vip") == vip)
    ]
    failed = [e for e in probes if not e.get("ok")]
    if failed:
        first, last = failed[0], failed[-1]
        what = vip if vip is not None else "the VIPs"
        errors = sorted({str(e.get("error") or e.get("status")) for e in failed})
        raise AssertionError(
            f"{len(failed)} of {len(probes)} requests to {what} failed, from "
            f"{first.ts:.6f} to {last.ts:.6f} ({elapsed(first.ts, last.ts) * 1000:.3f} ms); "
            f"errors: {', '.join(errors[:5])}\n" + timeline.format_around(first.ts)
        )
    return len(probes)


# --- benchmarks -----------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, by linear interpolation between
    closest ranks (numpy's default ``"linear"``, Hyndman-Fan type 7)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


_FIGURES = ("min", "p50", "p90", "p99", "max", "mean")


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """``n``, ``min``, ``p50``, ``p90``, ``p99``, ``max``, ``mean`` of the values
    (percentiles by linear interpolation, see :func:`percentile`); with no values every
    figure but ``n`` is None. Callers drop missing (None) figures first."""
    s = sorted(float(v) for v in values)
    if not s:
        empty: dict[str, float | int | None] = dict.fromkeys(_FIGURES, None)
        return {"n": 0, **empty}
    return {
        "n": len(s),
        "min": s[0],
        "p50": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "max": s[-1],
        "mean": math.fsum(s) / len(s),
    }

"""Failover figures computed from a timeline.

All durations are seconds, rounded to the microsecond (the timeline's precision). Every
figure is computed by :func:`measure` from the timeline and a :class:`MeasureContext`: what
the measures need to know about the lab (node addresses and MACs, each VIP's address, VRID
and instances, who held each VIP when observation began), built once per scenario.

The reference instant ``t_f`` of a measure is the ``at`` the caller passes: for a failover
use the fault's ``inject`` event (when the action was issued) so that the figures include
the time the fault took to bite; for a recovery, its ``revert`` event.

Definitions (the window is ``[t_f, window_end]``):

- detection: ``t_f`` -> the new holder's first ``vrrp_state`` MASTER for an instance owning
  the VIP; without such an event, ``t_f`` -> the first advert (priority > 0) from the new
  holder's address for the VIP's VRID (or, the VRID unknown, for a VRID that address was
  not advertising before ``t_f``). ``detection_source`` says which was used.
- VIP move: ``t_f`` -> the new holder's ``vip_added`` for the VIP.
- GARP: ``t_f`` -> the first gratuitous ARP for the VIP's address (from the new holder's
  MAC when the context knows it); for an IPv6 VIP the first unsolicited neighbour
  advertisement (``na``) for it, its IPv6 counterpart (the figure keeps the name ``garp``).
- outage: the first failed probe after ``t_f`` -> the first successful probe after the
  last failed one in the window, both by the probes' start times. 0.0 when no probe
  failed; None when probes failed and none succeeded afterwards, or when there was no
  probe at all. ``outage_from_fault_s`` is measured from ``t_f`` instead. An outage still
  going on at the window's end has ``ongoing_outage_s`` instead: the first failed probe ->
  the window's end, a lower bound (kept apart so that no percentile or baseline mixes
  outages that ended with ones that were cut short).

A VIP that did not move (no node other than the old holder added it in the window) has no
detection, VIP-move or GARP figure, whatever else the window holds: a backup's advert, a
state change or a GARP of the old holder is no failover. Its measure says who held the VIP
before and after the window (``holders_before``, ``holders_after``), how often the holder
set changed (``holder_changes``: 0 when the VIP was held by the same nodes throughout) and
what the client saw (failed requests, the outage).

Two more figures come from the packet capture alone (:func:`takeover_s`, :func:`phase_s`):
where the fault landed in the old master's advert cycle, and the wire-to-wire takeover.
Adverts are matched to the VIP's address family: an IPv6 VIP's adverts come from the
nodes' link-local addresses (``MeasureContext.node_addrs6``), and the IPv4 and IPv6
instances of a lab may use one VRID.

Link flaps (``Faults.flap_link``) have their own figures, in :mod:`.flapmeasures`
(``measure_flaps`` -> ``FlapMeasure``): VIP moves (changes of the VIP's owner, the holder
that took it last), moves per flap, time with no holder, time with two or more holders, in total and
flap by flap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from pytest_halab.timeline import (
    ANNOUNCEMENTS,
    Event,
    EventKind,
    HolderInterval,
    SplitBrain,
    Timeline,
    bare_addr,
    elapsed,
    event_vip,
    holders_at,
    holders_over_time,
    split_brains_of,
)

_US = 1_000_000

__all__ = [
    "FailoverMeasure",
    "MeasureContext",
    "Phase",
    "VipInfo",
    "default_window_end",
    "fault_name",
    "holders_before",
    "measure",
    "phase_s",
    "takeover_s",
]

Phase = Literal["failover", "recovery"]
"""What a measure is counted from: a fault's inject (failover) or its revert (recovery)."""


@dataclass(frozen=True, slots=True)
class VipInfo:
    """What the measures know of one VIP besides its name.

    ``addr``: its address (None: ``timeline.vips[name]``); ``vrid``: its VRID, if known
    (ties adverts to it); ``instances``: the VRRP instances owning it (None: one instance
    named like the VIP).
    """

    addr: str | None = None
    vrid: int | None = None
    instances: tuple[str, ...] | None = None


_NO_VIP = VipInfo()


@dataclass(frozen=True)
class MeasureContext:
    """What the measures need to know about a lab, built once per scenario.

    - ``node_addrs``/``node_macs`` (node -> IP / MAC) tie adverts and GARPs to nodes;
      ``node_addrs6`` (node -> its link-local IPv6 address) ties IPv6 adverts to nodes;
    - ``vips``: VIP name -> :class:`VipInfo`;
    - ``initial_holders``: VIP name -> who held it when observation began (a VIP missing
      here: the old holder of the measure, see :func:`measure`).

    The mappings are copied and read-only.
    """

    node_addrs: Mapping[str, str] = field(default_factory=dict)
    node_macs: Mapping[str, str] = field(default_factory=dict)
    vips: Mapping[str, VipInfo] = field(default_factory=dict)
    initial_holders: Mapping[str, frozenset[str]] = field(default_factory=dict)
    node_addrs6: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("node_addrs", "node_macs", "vips", "node_addrs6"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        held = {vip: frozenset(nodes) for vip, nodes in self.initial_holders.items()}
        object.__setattr__(self, "initial_holders", MappingProxyType(held))

    def vip(self, name: str) -> VipInfo:
        """What is known of VIP ``name`` (nothing: a :class:`VipInfo` of defaults)."""
        return self.vips.get(name, _NO_VIP)

    def advert_source(self, node: str | None, ipv6: bool) -> str | None:
        """The address ``node``'s adverts come from: its IPv4 address, or for an IPv6
        instance its link-local address."""
        if node is None:
            return None
        found = (self.node_addrs6 if ipv6 else self.node_addrs).get(node)
        return bare_addr(found)


def _is_ipv6(addr: str | None) -> bool:
    return addr is not None and ":" in addr


def _vip_addr(timeline: Timeline, ctx: MeasureContext, vip: str) -> str | None:
    return bare_addr(ctx.vip(vip).addr) or timeline.vips.get(vip)


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
    holders_before: frozenset[str] = frozenset()
    holder_changes: int = 0
    fault_target: str | None = None

    @property
    def moved(self) -> bool:
        """Whether another node took the VIP."""
        return self.new_holder is not None and self.vip_move_s is not None

    @property
    def stayed_put(self) -> bool:
        """Whether the VIP was held by the same nodes throughout the window (no move, no
        removal): the answer to "does the VIP move after this fault?" is then no."""
        return not self.moved and self.holder_changes == 0

    @property
    def duration_s(self) -> float | None:
        """How long the window was (seconds), None when its end is unknown."""
        return None if self.window_end is None else elapsed(self.fault_ts, self.window_end)

    @property
    def ongoing_outage_s(self) -> float | None:
        """When requests were still failing at the window's end: the first failed request
        -> the window's end, a lower bound of the outage. None when the service answered
        again (see ``outage_s``) or nothing failed."""
        if self.recovered or self.first_failure_ts is None or self.window_end is None:
            return None
        return elapsed(self.first_failure_ts, self.window_end)

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

    def fault_label(self) -> str:
        """The fault and the node it hit, as messages name it: "kill_process nginx SIGKILL
        on lb1"."""
        label = self.fault or "the fault"
        return f"{label} on {self.fault_target}" if self.fault_target else label

    def holding(self) -> str:
        """Who held the VIP over the window, in words: "held by lb1 throughout 3.5 s", or
        "held by lb1 before, by nobody at the end (1 change in 3.5 s)"."""
        span = f"{self.duration_s:.1f} s" if self.duration_s is not None else "the window"
        before = _names(self.holders_before)
        if self.holder_changes == 0:
            return f"held by {before} throughout {span}"
        changes = f"{self.holder_changes} change{'s' if self.holder_changes != 1 else ''}"
        after = _names(self.holders_after)
        return f"held by {before} before, by {after} at the end ({changes} in {span})"

    def client_outcome(self) -> str:
        """What the client saw, in words: the outage (or that it was still going on) and how
        many requests failed."""
        if self.probes == 0:
            return "no client request seen"
        counts = f"{self.failed_requests} of {self.probes} requests failed"
        if self.failed_requests == 0:
            return f"no outage, {counts}"
        ongoing = self.ongoing_outage_s
        if ongoing is not None:
            return (
                f"outage at least {ongoing * 1000:.1f} ms (requests still failing at the end), "
                f"{counts}"
            )
        return f"outage {_ms(self.outage_s)}, {counts}"

    def diagnosis(self, to: str | None = None) -> str:
        """Why the VIP is not where a test expected it, for an assertion message: "VI_1 did
        not move to lb2: held by lb1 throughout 3.5 s after kill_process nginx SIGKILL on
        lb1; outage at least 3480.0 ms (...), 170 of 176 requests failed"."""
        where = f" to {to}" if to is not None else ""
        if not self.moved:
            what = f"{self.vip} did not move{where}: {self.holding()}"
        else:
            # it moved, but not to `to`, or not to `to` alone (a split brain)
            went = (
                f"it moved to {self.new_holder} (VIP move {_ms(self.vip_move_s)}), holders at "
                f"the end: {_names(self.holders_after)}"
            )
            if self.new_holder == to:
                what = f"{self.vip} is not held by {to} alone: {went}"
            else:
                what = f"{self.vip} did not move{where}: {went}"
        return f"{what} after {self.fault_label()}; {self.client_outcome()}"

    def summary(self) -> str:
        """One line for humans, e.g. in a test's assertion message."""
        head = f"{self.vip} {self.phase} after {self.fault_label()}"
        if not self.moved:
            text = f"{head}: did not move, {self.holding()}; {self.client_outcome()}"
        else:
            text = (
                f"{head}: {self.old_holder or '?'} -> {self.new_holder}, "
                f"detection {_ms(self.detection_s)}, VIP move {_ms(self.vip_move_s)}, "
                f"outage {_ms(self.outage_s)} ({self.failed_requests} of {self.probes} "
                f"requests failed), holders after: {_names(self.holders_after, ', ')}"
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
            "holders_before": sorted(self.holders_before),
            "holders_after": sorted(self.holders_after),
            "holder_changes": self.holder_changes,
            "fault_target": self.fault_target,
            # derived, for readers of the JSON (from_dict recomputes them)
            "moved": self.moved,
            "recovered": self.recovered,
            "ongoing_outage_s": self.ongoing_outage_s,
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
            holders_before=frozenset(d.get("holders_before", ())),
            holder_changes=int(d.get("holder_changes", 0)),
            fault_target=d.get("fault_target"),
        )


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.1f} ms"


def _names(nodes: frozenset[str], sep: str = " and ") -> str:
    """Node names for a sentence: "lb1", "lb1 and lb2", "nobody"."""
    return sep.join(sorted(nodes)) or "nobody"


def holders_before(intervals: Sequence[HolderInterval], t: float) -> frozenset[str]:
    """The holders just before ``t`` (events at exactly ``t`` not yet applied)."""
    held = intervals[0].holders if intervals else frozenset()
    for iv in intervals:
        if iv.start < t:
            held = iv.holders
        else:
            break
    return held


def default_window_end(timeline: Timeline, t: float) -> float | None:
    """The next fault action (inject or revert) after ``t``, else the timeline's end."""
    nxt = timeline.first(
        lambda e: e.kind == EventKind.FAULT and e.get("phase") in ("inject", "revert") and e.ts > t,
        after=t,
    )
    return nxt.ts if nxt is not None else timeline.end


def _fault_event(timeline: Timeline, t: float, phase: str) -> Event | None:
    """The fault event at (or last before) ``t``, preferring ``phase``."""
    return timeline.last(
        lambda e: e.kind == EventKind.FAULT and e.get("phase") == phase, before=t
    ) or timeline.last(lambda e: e.kind == EventKind.FAULT, before=t)


def fault_name(timeline: Timeline, t: float, phase: str) -> str | None:
    """The name of the fault event at (or last before) ``t``, preferring ``phase``."""
    ev = _fault_event(timeline, t, phase)
    name = ev.get("name") if ev is not None else None
    return name if isinstance(name, str) else None


def _dt(t0: float, ev: Event | None) -> float | None:
    return None if ev is None else elapsed(t0, ev.ts)


def measure(
    timeline: Timeline,
    ctx: MeasureContext,
    vip: str,
    *,
    at: float,
    phase: Phase = "failover",
    window_end: float | None = None,
    old_holder: str | None = None,
    new_holder: str | None = None,
    fault: str | None = None,
) -> FailoverMeasure:
    """Measure what happened to ``vip`` from ``at``: the fault's inject for
    ``phase="failover"``, its revert for ``phase="recovery"`` (see the module doc).

    - ``window_end``: default the next fault inject/revert after ``at``, else the
      timeline's end.
    - ``old_holder``: default the single holder just before ``at`` (None if not one).
    - ``new_holder``: default the first other node to add the VIP in the window.
    - ``fault``: the fault's name (default: from the fault event at ``at``).

    Who held the VIP before the first event is ``ctx.initial_holders[vip]``, else
    ``old_holder``. After a revert ``old_holder`` is the node that took over and
    ``new_holder`` the one that takes the VIP back (under preemption, the original
    master); under nopreempt nothing moves: ``new_holder`` is None and ``holders_after``
    still the takeover node.
    """
    if phase not in ("failover", "recovery"):
        raise ValueError(f"phase must be 'failover' or 'recovery', not {phase!r}")
    info = ctx.vip(vip)
    addr = bare_addr(info.addr) or timeline.vips.get(vip) or ""
    vips = {vip: addr}
    end = window_end if window_end is not None else default_window_end(timeline, at)
    if end is None or end < at:
        end = at
    initial_holders = ctx.initial_holders.get(vip)
    if initial_holders is not None:
        initial = set(initial_holders)
    else:
        initial = {old_holder} if old_holder else set()
    intervals = holders_over_time(timeline, vips, {vip: initial})[vip]
    before = holders_before(intervals, at)
    if old_holder is None:
        old_holder = next(iter(before)) if len(before) == 1 else None
    window = timeline.between(at, end)

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
    added = (
        window.first(lambda e: is_vip_event(e, EventKind.VIP_ADDED) and e.node == new_holder)
        if new_holder is not None
        else None
    )
    # No move, no figures: what the new holder did without taking the VIP (a state change
    # it took back, an advert, a GARP from an unknown MAC) is not a failover.
    if added is not None:
        taker = added.node
        inst = {vip} if info.instances is None else set(info.instances)
        became_master = window.first(
            lambda e: (
                e.kind == EventKind.VRRP_STATE
                and e.node == taker
                and e.get("instance") in inst
                and e.get("state") == "MASTER"
            )
        )
        if became_master is not None:
            detection, source = _dt(at, became_master), "vrrp_state"
        else:
            src = ctx.advert_source(taker, _is_ipv6(addr))
            advert = _first_advert(timeline, window, src, info.vrid, at)
            if advert is not None:
                detection, source = _dt(at, advert), "advert"
        vip_move = _dt(at, added)
        mac = ctx.node_macs.get(taker, "").lower()
        first_garp = window.first(
            lambda e: (
                e.kind in ANNOUNCEMENTS
                and bare_addr(e.get("addr")) == addr
                and (not mac or str(e.get("mac", "")).lower() == mac)
            )
        )
        garp = _dt(at, first_garp)

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
        outage_from_fault = _dt(at, recovery)

    fault_ev = _fault_event(timeline, at, _phase_event(phase))
    target = fault_ev.get("target") if fault_ev is not None else None
    if fault is None:
        name = fault_ev.get("name") if fault_ev is not None else None
        fault = name if isinstance(name, str) else None
    return FailoverMeasure(
        vip=vip,
        fault=fault,
        fault_ts=at,
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
            if sb.start <= end and (sb.end is None or sb.end > at)
        ),
        holders_after=holders_at(intervals, end),
        first_failure_ts=first_fail.ts if first_fail is not None else None,
        recovery_ts=recovery.ts if recovery is not None else None,
        detection_source=source,
        window_end=end,
        phase=phase,
        holders_before=before,
        holder_changes=sum(1 for iv in intervals[1:] if at <= iv.start <= end),
        fault_target=target if isinstance(target, str) else None,
    )


def _phase_event(phase: str) -> str:
    return "revert" if phase == "recovery" else "inject"


def _first_advert(
    timeline: Timeline, window: Timeline, src: str | None, vrid: int | None, ref_ts: float
) -> Event | None:
    """The first advert a node sent as (new) master for the VIP's VRID, see module doc."""
    if not src:
        return None
    src = bare_addr(src)
    if vrid is None:
        already = {
            e.get("vrid")
            for e in timeline.between(None, ref_ts)
            if e.kind == EventKind.ADVERT and bare_addr(e.get("src")) == src and e.ts < ref_ts
        }
    else:
        already = set()
    return window.first(
        lambda e: (
            e.kind == EventKind.ADVERT
            and bare_addr(e.get("src")) == src
            and e.get("priority") != 0
            and (e.get("vrid") == vrid if vrid is not None else e.get("vrid") not in already)
        )
    )


# --- figures from the packet capture --------------------------------------------------------


def _adverts(
    timeline: Timeline, t0: float, t1: float | None, vrid: int, ipv6: bool = False
) -> list[Event]:
    """The adverts of ``vrid`` in ``[t0, t1]`` of one address family (VRRPv3 has a VRID
    space per family), their ``src`` in canonical form."""
    return [
        Event(e.ts, e.node, e.kind, {**e.data, "src": bare_addr(e.data.get("src"))})
        for e in timeline.between(t0, t1)
        if e.kind == EventKind.ADVERT
        and e.data.get("vrid") == vrid
        and _is_ipv6(e.data.get("src")) == ipv6
    ]


def takeover_s(timeline: Timeline, ctx: MeasureContext, m: FailoverMeasure) -> float | None:
    """The old master's last advert before the new master's first one (priority > 0, at or
    after ``m.fault_ts``) -> that first advert, from the capture: the takeover as the
    wire saw it, whatever the point of the advert cycle the fault landed on. None without
    both holders, the VIP's VRID or those adverts (looked for from 5 s before the fault)."""
    vrid = ctx.vip(m.vip).vrid
    if m.old_holder is None or m.new_holder is None or vrid is None:
        return None
    ipv6 = _is_ipv6(_vip_addr(timeline, ctx, m.vip))
    old_ip, new_ip = ctx.advert_source(m.old_holder, ipv6), ctx.advert_source(m.new_holder, ipv6)
    adverts = _adverts(timeline, m.fault_ts - 5.0, m.window_end, vrid, ipv6)
    first_new = next(
        (
            e
            for e in adverts
            if e.ts >= m.fault_ts
            and e.data.get("src") == new_ip
            and int(e.data.get("priority", 0)) > 0
        ),
        None,
    )
    if first_new is None:
        return None
    old = [e for e in adverts if e.data.get("src") == old_ip and e.ts < first_new.ts]
    if not old:
        return None
    return round(first_new.ts - old[-1].ts, 6)


def phase_s(timeline: Timeline, ctx: MeasureContext, m: FailoverMeasure) -> float | None:
    """The old master's last advert before the fault -> the fault, from the capture: where
    in the advert cycle the fault landed. None without the old holder, the VIP's VRID or
    an advert of the old holder in the 5 s before the fault."""
    vrid = ctx.vip(m.vip).vrid
    if m.old_holder is None or vrid is None:
        return None
    ipv6 = _is_ipv6(_vip_addr(timeline, ctx, m.vip))
    old_ip = ctx.advert_source(m.old_holder, ipv6)
    before = [
        e
        for e in _adverts(timeline, m.fault_ts - 5.0, m.fault_ts, vrid, ipv6)
        if e.data.get("src") == old_ip
    ]
    return round(m.fault_ts - before[-1].ts, 6) if before else None

"""What the timeline picture of one test shows, read from its timeline: each instance's
effective priority over time (:func:`priority_points`), the VRRP state bands
(:func:`state_bands`), the fault bands (:func:`fault_bands`), the measures written under the plot
(:func:`measure_lines`) and where labels go so that none covers another
(:func:`place_labels`). Pure Python: no matplotlib, no lab, no Docker
(:mod:`~pytest_halab.picture` draws it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_halab.measures import FailoverMeasure
from pytest_halab.poolmeasures import PoolChange
from pytest_halab.timeline import (
    Event,
    EventKind,
    Timeline,
    bare_addr,
)

Box = tuple[float, float, float, float]
"""A label's extent on the picture: x0, y0, x1, y1 (pixels)."""


@dataclass(frozen=True, slots=True)
class PriorityPoint:
    """An instance's effective priority from ``ts`` on, and who said so: ``engine`` (its
    own event: exact) or ``advert`` (its advert on the wire: what the peers saw)."""

    ts: float
    node: str
    instance: str
    priority: int
    source: str  # "engine" or "advert"


def _prio(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if 0 <= value <= 255 else None


def priority_points(
    timeline: Timeline,
    *,
    addresses: Mapping[str, str] | None = None,
    vrids: Mapping[int, str] | None = None,
    start: float | None = None,
) -> dict[tuple[str, str], list[PriorityPoint]]:
    """Each (node, instance)'s effective priority over time, in time order.

    From the engines' events: ``vrrp_state`` with a ``priority`` (both engines),
    keepalived's ``vrrp_notice`` MASTER_PRIORITY/BACKUP_PRIORITY, both engines'
    ``priority_change`` (keepalived's from its log line; its ``old`` value held from
    ``start`` on when it is the first word of that instance). From the captured adverts
    (``addresses``: address -> node, ``vrids``: VRID -> instance name; an advert of an
    unknown sender or VRID is left out):
    the first advert of each sender, each one whose priority differs from the sender's
    previous one, and the last.
    """
    t0 = timeline.start if start is None else start
    out: dict[tuple[str, str], list[PriorityPoint]] = {}

    def add(ts: float, node: str, instance: Any, prio: Any, source: str) -> None:
        p = _prio(prio)
        if p is None or not isinstance(instance, str):
            return
        out.setdefault((node, instance), []).append(PriorityPoint(ts, node, instance, p, source))

    adverts: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for e in timeline:
        if e.kind in (EventKind.VRRP_STATE, EventKind.VRRP_STATUS) or (
            e.kind == EventKind.VRRP_NOTICE and str(e.get("notice", "")).endswith("_PRIORITY")
        ):
            add(e.ts, e.node, e.get("instance"), e.get("priority"), "engine")
        elif e.kind == EventKind.ENGINE and e.get("event") == "priority_change":
            key = (e.node, str(e.get("instance")))
            if key not in out and t0 is not None:
                add(t0, e.node, e.get("instance"), e.get("old"), "engine")
            add(e.ts, e.node, e.get("instance"), e.get("new"), "engine")
        elif e.kind == EventKind.ADVERT and addresses is not None and vrids is not None:
            node = addresses.get(bare_addr(e.get("src")) or "")
            inst = vrids.get(e.get("vrid")) if isinstance(e.get("vrid"), int) else None
            p = _prio(e.get("priority"))
            if node is not None and inst is not None and p is not None:
                adverts.setdefault((node, inst), []).append((e.ts, p))
    for (node, inst), seen in adverts.items():
        for i, (ts, p) in enumerate(seen):
            if i == 0 or i == len(seen) - 1 or p != seen[i - 1][1]:
                add(ts, node, inst, p, "advert")
    for pts in out.values():
        pts.sort(key=lambda p: p.ts)
    return out


@dataclass(frozen=True, slots=True)
class StateBand:
    """One instance of one node in ``state`` from ``start`` to ``end``."""

    node: str
    instance: str
    state: str
    start: float
    end: float


_UNKNOWN_STATES = {None, "", "INIT"}


def state_bands(timeline: Timeline, start: float, end: float) -> list[StateBand]:
    """The VRRP state of each (node, instance) over ``[start, end]``, from ``vrrp_state``
    events and the engines' ``vrrp_status`` (what their status dump said when the
    observation began): before the first of them, the state a ``vrrp_state`` left
    (``prev``, when known: nothing else changed it since the observation began); after
    the last, its state to ``end``. No band where the state is not known."""
    per: dict[tuple[str, str], list[Event]] = {}
    for e in timeline.of_kind(EventKind.VRRP_STATE, EventKind.VRRP_STATUS):
        inst = e.get("instance")
        if isinstance(inst, str):
            per.setdefault((e.node, inst), []).append(e)
    bands = []
    for (node, inst), evs in per.items():
        prev = evs[0].get("prev") if evs[0].kind == EventKind.VRRP_STATE else None
        if prev not in _UNKNOWN_STATES and evs[0].ts > start:
            bands.append(StateBand(node, inst, str(prev), start, evs[0].ts))
        for i, e in enumerate(evs):
            stop = evs[i + 1].ts if i + 1 < len(evs) else end
            state = str(e.get("state"))
            if stop <= e.ts:
                continue
            last = bands[-1] if bands else None
            joins = (node, inst, state, e.ts)
            if last and (last.node, last.instance, last.state, last.end) == joins:
                bands[-1] = StateBand(node, inst, state, last.start, stop)  # a status, no change
            else:
                bands.append(StateBand(node, inst, state, e.ts, stop))
    return bands


@dataclass(frozen=True, slots=True)
class FaultBand:
    """A fault from its injection to its revert (``end`` None: not reverted in the window)."""

    name: str
    target: str
    start: float
    end: float | None
    detail: str = ""

    @property
    def label(self) -> str:
        what = f"{self.name} {self.detail}".strip()
        return f"{what} ({self.target})" if self.target else what


def fault_bands(faults: Iterable[Event]) -> list[FaultBand]:
    """Faults as bands: each ``inject`` to the next ``revert`` of the same fault and target
    (a flap's ``link_down`` to its ``link_up``); ``effective`` and other phases are inside."""
    opened: dict[tuple[str, str], list[tuple[float, str]]] = {}
    bands: list[FaultBand] = []
    starts = {"inject", "link_down"}
    ends = {"revert", "link_up"}
    for e in sorted(faults, key=lambda x: x.ts):
        key = (str(e.get("name", "fault")), str(e.get("target") or ""))
        phase = e.get("phase")
        if phase in starts:
            opened.setdefault(key, []).append((e.ts, str(e.get("detail") or "")))
        elif phase in ends and opened.get(key):
            ts, detail = opened[key].pop(0)
            bands.append(FaultBand(key[0], key[1], ts, e.ts, detail))
    for key, still in opened.items():
        bands.extend(FaultBand(key[0], key[1], ts, None, detail) for ts, detail in still)
    return sorted(bands, key=lambda b: b.start)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def measure_lines(
    measures: Iterable[FailoverMeasure], pool_changes: Iterable[PoolChange] = ()
) -> list[str]:
    """The test's measures in words, one line each, as the picture writes them."""
    lines = []
    for m in measures:
        what = f"{m.vip} {m.phase}" + (f" after {m.fault}" if m.fault else "")
        if m.moved:
            parts = [f"{m.old_holder or '-'} -> {m.new_holder or '-'}"]
            det = _ms(m.detection_s)
            if m.detection_source:
                det += f" ({m.detection_source})"
            parts += [f"detection {det}", f"VIP move {_ms(m.vip_move_s)}"]
        else:
            parts = ["VIP did not move"]
        ongoing = m.ongoing_outage_s
        if ongoing is not None:
            parts.append(f"outage >= {ongoing * 1000:.1f} ms (not recovered)")
        else:
            parts.append(f"outage {_ms(m.outage_s)}")
        parts.append(f"{m.failed_requests}/{m.probes} requests failed")
        if m.split_brain:
            parts.append(f"split brain x{len(m.split_brain)}")
        lines.append(f"{what}: " + ", ".join(parts))
    for c in pool_changes:
        what = f"{c.server} {'out of' if c.removed else 'back into'} {c.vip}'s pool"
        if c.director:
            what += f" on {c.director}"
        if not c.happened:
            lines.append(f"{what}: did not happen")
            continue
        bound = f" (bound {_ms(c.bound_s)})" if c.bound_s is not None else ""
        lines.append(
            f"{what}: decided {_ms(c.decided_s)}, applied {_ms(c.applied_s)}{bound}, "
            f"{c.failed_requests}/{c.requests} requests failed"
        )
    return lines


def place_labels(
    options: Sequence[Sequence[Box | None]], taken: Iterable[Box] = ()
) -> list[int | None]:
    """For each label in turn, the index of the first of its `options` (the boxes where it
    may go; None: a place it may not take) that overlaps neither a box in `taken` nor a
    label already placed; None when every option does: that label is left out (its
    marker stays)."""
    placed = list(taken)
    chosen: list[int | None] = []
    for boxes in options:
        pick = next(
            (
                i
                for i, b in enumerate(boxes)
                if b is not None and not any(_overlap(b, t) for t in placed)
            ),
            None,
        )
        if pick is not None:
            box = boxes[pick]
            assert box is not None
            placed.append(box)
        chosen.append(pick)
    return chosen


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

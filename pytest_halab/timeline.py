"""One ordered timeline of what the lab saw: events, VIP holders over time, split brains.

Everything here is pure: no Docker, no clock. The lab's observers (netlink agents in the
balancers, the VRRP engines' event logs, the client's probe and packet capture, the faults)
produce :class:`Event` values; a :class:`Timeline` keeps them ordered by time.

All containers of a lab share the host's clock, so timestamps from different nodes compare
directly: ``ts`` is wall-clock seconds since the epoch with microsecond precision.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, overload

__all__ = [
    "ANNOUNCEMENTS",
    "Event",
    "EventKind",
    "HolderInterval",
    "SplitBrain",
    "Timeline",
    "bare_addr",
    "holders_at",
    "holders_over_time",
    "json_record",
    "split_brains",
]


class EventKind(StrEnum):
    """The event kinds the lab's observers produce (``Event.kind`` is a plain ``str``)."""

    VIP_ADDED = "vip_added"
    VIP_REMOVED = "vip_removed"
    VRRP_STATE = "vrrp_state"
    VRRP_GROUP_STATE = "vrrp_group_state"
    VRRP_NOTICE = "vrrp_notice"  # keepalived: priority changes, MASTER_RX_LOWER_PRI
    # what an engine's status dump (keepalived's JSON signal) said of one instance when the
    # observation began: state and effective priority, for the picture (no state change)
    VRRP_STATUS = "vrrp_status"
    ENGINE = "engine"  # any other VRRP engine event (data["event"] names it)
    ADVERT = "advert"
    GARP = "garp"
    NA = "na"  # an unsolicited IPv6 neighbour advertisement: an IPv6 VIP's "GARP"
    CHECKER = "checker"  # an LVS director's checker: real server down/up, pool applied...
    # Added for the picture's markers before their producers exist (issue 11): a user's
    # check or notify script run (node, script, args, exit status, duration), a mail the
    # lab's SMTP server received.
    SCRIPT = "script"
    MAIL = "mail"  # produced by pytest_halab.mail: one per message the mail node received
    PROBE = "probe"
    FAULT = "fault"
    NOTE = "note"


_US = 1_000_000


def to_us(ts: float) -> int:
    """``ts`` (seconds) as integer microseconds; exact for microsecond-precision epoch times."""
    return round(ts * _US)


def elapsed(t0: float, t1: float) -> float:
    """``t1 - t0`` in seconds, rounded to the microsecond.

    Epoch seconds as floats carry ~0.2 µs of representation noise; going through integer
    microseconds makes a 1.234567 s difference come out as exactly ``1.234567``.
    """
    return (to_us(t1) - to_us(t0)) / _US


ANNOUNCEMENTS = frozenset({EventKind.GARP, EventKind.NA})
"""The event kinds by which a new holder announces a VIP on the wire: a gratuitous ARP
(IPv4), an unsolicited neighbour advertisement (IPv6)."""


def json_record(line: bytes) -> dict[str, Any] | None:
    """One line of an in-node event log (JSON lines) as a dict; None when it is not one
    (blank, cut short by a crash, or not an object)."""
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line.decode(errors="replace"))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def bare_addr(value: Any) -> str | None:
    """``"10.0.0.3/24"`` -> ``"10.0.0.3"``; an IPv6 address in its canonical text form
    (``"FD68::0:3/128"`` -> ``"fd68::3"``), so that two spellings of one address compare
    equal; anything not a string -> None."""
    if not isinstance(value, str) or not value:
        return None
    bare = value.split("/", 1)[0]
    if ":" in bare:
        try:
            return str(ipaddress.IPv6Address(bare))
        except ValueError:
            return bare
    return bare


@dataclass(frozen=True, slots=True)
class Event:
    """One timestamped thing a node (or the lab itself, ``node="lab"``) saw or did.

    ``data`` is JSON-able; its keys depend on ``kind`` (see :class:`EventKind` and the
    schema in the docs). ``data`` takes no part in hashing, so events can go in sets.
    """

    ts: float
    node: str
    kind: str
    data: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def ts_us(self) -> int:
        """The timestamp in integer microseconds since the epoch."""
        return to_us(self.ts)

    def get(self, key: str, default: Any = None) -> Any:
        """``data[key]``, or ``default``."""
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that :meth:`from_dict` reads back to an equal event."""
        return {"ts": self.ts, "node": self.node, "kind": self.kind, "data": dict(self.data)}

    def to_json(self) -> str:
        """One JSON line (no newline)."""
        return json.dumps(self.to_dict(), sort_keys=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], node: str | None = None) -> Event:
        """Build an event from a decoded JSON object.

        Accepts ``ts`` (float seconds) or ``ts_us`` (int microseconds), ``kind`` or ``event``,
        an optional nested ``data`` object, and puts every other key into ``data``. ``node``
        given here wins over a ``node`` key in the object (the collector knows which lab node
        a log came from; a daemon only knows its hostname); a differing reported node is
        kept as ``data["reported_node"]``.
        """
        if not isinstance(obj, Mapping):
            raise ValueError(f"an event must be a JSON object, not {type(obj).__name__}")
        rest = dict(obj)
        if "ts_us" in rest:
            raw_us = rest.pop("ts_us")
            rest.pop("ts", None)
            if isinstance(raw_us, bool) or not isinstance(raw_us, int):
                raise ValueError(f"ts_us must be an integer (microseconds), got {raw_us!r}")
            ts = raw_us / _US
        elif "ts" in rest:
            raw = rest.pop("ts")
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError(f"ts must be a number (seconds), got {raw!r}")
            ts = float(raw)
        else:
            raise ValueError("an event needs 'ts' (seconds) or 'ts_us' (microseconds)")
        kind = rest.pop("kind", None)
        alt = rest.pop("event", None)
        if kind is None:
            kind = alt
        elif alt is not None:
            rest["event"] = alt
        if not isinstance(kind, str) or not kind:
            raise ValueError("an event needs a 'kind' (or 'event') string")
        reported = rest.pop("node", None)
        if node is None:
            if not isinstance(reported, str) or not reported:
                raise ValueError("an event needs a 'node' (none in the line and none given)")
            node = reported
        elif reported is not None and reported != node:
            rest["reported_node"] = reported
        data: dict[str, Any] = {}
        nested = rest.pop("data", None)
        if isinstance(nested, Mapping):
            data.update(nested)
        elif nested is not None:
            data["data"] = nested
        data.update(rest)
        return cls(ts=ts, node=node, kind=kind, data=data)

    @classmethod
    def from_json(cls, line: str | bytes, node: str | None = None) -> Event:
        """Parse one JSON line (see :meth:`from_dict` for what is accepted)."""
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        return cls.from_dict(obj, node=node)

    @classmethod
    def from_record(cls, line: bytes, node: str) -> Event | None:
        """One line an in-node agent wrote, as an event of ``node``; None when the line is
        blank or not an event (a half-written last line, a stray message)."""
        line = line.strip()
        if not line:
            return None
        try:
            return cls.from_json(line.decode(errors="replace"), node=node)
        except (ValueError, KeyError, TypeError):
            return None


def _ts(ev: Event) -> float:
    return ev.ts


class Timeline:
    """Events ordered by ``ts``; events with equal times keep the order they were added in.

    ``vips`` (VIP name -> address) is optional metadata that lets VIP-aware helpers map
    ``vip_added``/``garp`` events, which carry only an address, to a VIP name.
    ``add``/``extend`` may be called from observer threads.
    """

    def __init__(self, events: Iterable[Event] = (), *, vips: Mapping[str, str] | None = None):
        self._events: list[Event] = sorted(events, key=_ts)
        self.vips: dict[str, str] = {k: bare_addr(v) or v for k, v in (vips or {}).items()}
        self._lock = threading.Lock()

    # --- building -------------------------------------------------------------------------

    @classmethod
    def merge(cls, *sources: Iterable[Event], vips: Mapping[str, str] | None = None) -> Timeline:
        """One timeline from several sources (timelines or event iterables), in time order.

        Ties keep source order, then the order within each source. Without ``vips``, the
        union of the sources' ``vips`` metadata (if they are timelines) is kept.
        """
        merged_vips: dict[str, str] = {}
        events: list[Event] = []
        for src in sources:
            if isinstance(src, Timeline):
                merged_vips.update(src.vips)
                events.extend(src.events)
            else:
                events.extend(src)
        return cls(events, vips=merged_vips if vips is None else vips)

    def add(self, event: Event) -> None:
        """Insert one event at its place in time (after any events with the same ``ts``)."""
        with self._lock:
            bisect.insort_right(self._events, event, key=_ts)

    def extend(self, events: Iterable[Event]) -> None:
        """Insert many events, keeping the order stable."""
        new = list(events)
        with self._lock:
            self._events = sorted([*self._events, *new], key=_ts)

    # --- reading --------------------------------------------------------------------------

    @property
    def events(self) -> tuple[Event, ...]:
        """A snapshot of the events, in order."""
        with self._lock:
            return tuple(self._events)

    @property
    def start(self) -> float | None:
        """The first event's time, or None when empty."""
        with self._lock:
            return self._events[0].ts if self._events else None

    @property
    def end(self) -> float | None:
        """The last event's time, or None when empty."""
        with self._lock:
            return self._events[-1].ts if self._events else None

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    @overload
    def __getitem__(self, i: int) -> Event: ...
    @overload
    def __getitem__(self, i: slice) -> tuple[Event, ...]: ...
    def __getitem__(self, i: int | slice) -> Event | tuple[Event, ...]:
        return self.events[i]

    def __repr__(self) -> str:
        return f"Timeline({len(self)} events, start={self.start}, end={self.end})"

    def _derive(self, events: Iterable[Event]) -> Timeline:
        # Events are already ordered; sorted() on sorted input is linear and keeps ties.
        return Timeline(events, vips=self.vips)

    def filter(self, predicate: Callable[[Event], bool]) -> Timeline:
        """The events for which ``predicate`` is true."""
        return self._derive(e for e in self.events if predicate(e))

    def between(self, t0: float | None, t1: float | None) -> Timeline:
        """The events with ``t0 <= ts <= t1`` (None: unbounded on that side)."""
        evs = self.events
        lo = 0 if t0 is None else bisect.bisect_left(evs, t0, key=_ts)
        hi = len(evs) if t1 is None else bisect.bisect_right(evs, t1, key=_ts)
        return self._derive(evs[lo:hi])

    def of_kind(self, *kinds: str) -> Timeline:
        """The events of any of these kinds."""
        wanted = set(kinds)
        return self.filter(lambda e: e.kind in wanted)

    def on_node(self, *nodes: str) -> Timeline:
        """The events of any of these nodes."""
        wanted = set(nodes)
        return self.filter(lambda e: e.node in wanted)

    def first(
        self,
        predicate: Callable[[Event], bool] | None = None,
        *,
        after: float | None = None,
        before: float | None = None,
    ) -> Event | None:
        """The first event with ``after <= ts <= before`` matching ``predicate``, or None."""
        for ev in self.between(after, before).events:
            if predicate is None or predicate(ev):
                return ev
        return None

    def last(
        self,
        predicate: Callable[[Event], bool] | None = None,
        *,
        after: float | None = None,
        before: float | None = None,
    ) -> Event | None:
        """The last event with ``after <= ts <= before`` matching ``predicate``, or None."""
        for ev in reversed(self.between(after, before).events):
            if predicate is None or predicate(ev):
                return ev
        return None

    def vip_of(self, event: Event, vips: Mapping[str, str] | None = None) -> str | None:
        """The VIP name an event is about (``data["vip"]``, else by address), or None."""
        return event_vip(event, self.vips if vips is None else vips)

    def for_vip(
        self,
        vip: str,
        *,
        addr: str | None = None,
        instances: Collection[str] | None = None,
        vrid: int | None = None,
    ) -> Timeline:
        """The events about one VIP, plus every ``fault`` and ``note`` event for context.

        VIP address events match by name or address (``addr``, else ``self.vips[vip]``);
        ``vrrp_state``/``vrrp_notice`` events match when their instance is in ``instances``
        (default: an instance named like the VIP); ``advert`` events only when ``vrid`` is
        given.
        """
        address = bare_addr(addr) or self.vips.get(vip)
        inst = {vip} if instances is None else set(instances)

        def keep(e: Event) -> bool:
            if e.kind in (EventKind.FAULT, EventKind.NOTE):
                return True
            if e.kind in (EventKind.VIP_ADDED, EventKind.VIP_REMOVED, *ANNOUNCEMENTS):
                if e.get("vip") == vip:
                    return True
                return address is not None and bare_addr(e.get("addr")) == address
            if e.kind == EventKind.PROBE:
                return bool(e.get("vip") == vip)
            if e.kind in (EventKind.VRRP_STATE, EventKind.VRRP_NOTICE):
                return e.get("instance") in inst
            if e.kind == EventKind.ADVERT:
                return vrid is not None and bool(e.get("vrid") == vrid)
            return bool(e.get("vip") == vip)

        return self.filter(keep)

    # --- JSON -----------------------------------------------------------------------------

    def to_dicts(self) -> list[dict[str, Any]]:
        """The events as JSON-able dicts."""
        return [e.to_dict() for e in self.events]

    def to_json(self) -> str:
        """JSON lines, one event per line (what :meth:`from_json` reads)."""
        return "".join(e.to_json() + "\n" for e in self.events)

    @classmethod
    def from_json(
        cls,
        text: str | Iterable[str],
        *,
        node: str | None = None,
        vips: Mapping[str, str] | None = None,
        strict: bool = True,
    ) -> Timeline:
        """Read JSON lines (or a JSON array of event objects) into a timeline.

        ``node`` names the lab node a log came from (see :meth:`Event.from_dict`). With
        ``strict=False`` lines that do not parse are skipped (a log cut short by a killed
        process ends in a partial line); otherwise the error names the line number.
        """
        if isinstance(text, str) and text.lstrip().startswith("["):
            items = json.loads(text)
            if not isinstance(items, list):
                raise ValueError("expected a JSON array of events")
            return cls((Event.from_dict(o, node=node) for o in items), vips=vips)
        lines = text.splitlines() if isinstance(text, str) else text
        events: list[Event] = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                events.append(Event.from_json(line, node=node))
            except ValueError as exc:
                if strict:
                    raise ValueError(f"line {n}: {exc}: {line.strip()[:120]}") from None
        return cls(events, vips=vips)

    # --- for humans -----------------------------------------------------------------------

    def format_around(
        self,
        t: float,
        before: float = 2.0,
        after: float = 2.0,
        limit: int = 60,
        *,
        collapse_probes: bool = True,
    ) -> str:
        """A plain-text table of the events in ``[t - before, t + after]``, for error messages.

        Columns: milliseconds relative to ``t``, node, kind, the kind's key fields. A marker
        row shows where ``t`` falls. Runs of probes of one VIP with the same outcome (no
        other event between) are collapsed into one row. Beyond ``limit`` rows, the rows
        farthest from ``t`` are left out and the header says how many.
        """
        window = self.between(t - before, t + after).events
        rows = _rows(window, collapse_probes)
        omitted_before = omitted_after = 0
        if len(rows) > limit:
            # keep the `limit` rows nearest to t, as a contiguous run around it
            centre = bisect.bisect_left([r[0] for r in rows], t)
            lo = max(0, min(centre - limit // 2, len(rows) - limit))
            omitted_before, omitted_after = lo, len(rows) - (lo + limit)
            rows = rows[lo : lo + limit]
        when = datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f")
        head = (
            f"timeline around t={t:.6f} ({when} UTC), "
            f"-{before * 1000:.0f} ms .. +{after * 1000:.0f} ms: {len(window)} events"
        )
        if not window:
            return head + " (none)"
        lines = [head]
        if omitted_before:
            lines.append(f"  ... {omitted_before} earlier rows left out")
        node_w = max([4, *(len(r[1]) for r in rows)])
        kind_w = max([4, *(len(r[2]) for r in rows)])
        lines.append(f"  {'ms':>11}  {'node':<{node_w}}  {'kind':<{kind_w}}  detail")
        marked = False
        for ts, node, kind, detail in rows:
            if not marked and ts > t:
                lines.append(f"  {0.0:>+11.3f}  {'---- t ----':<{node_w}}")
                marked = True
            rel = (to_us(ts) - to_us(t)) / 1000
            lines.append(f"  {rel:>+11.3f}  {node:<{node_w}}  {kind:<{kind_w}}  {detail}".rstrip())
        if not marked:
            lines.append(f"  {0.0:>+11.3f}  {'---- t ----':<{node_w}}")
        if omitted_after:
            lines.append(f"  ... {omitted_after} later rows left out")
        return "\n".join(lines)


def event_vip(event: Event, vips: Mapping[str, str]) -> str | None:
    """The VIP an event is about: ``data["vip"]`` when it names a known VIP (or when no
    VIPs are known), else the VIP whose address is ``data["addr"]``, else None."""
    name = event.get("vip")
    if isinstance(name, str) and (name in vips or not vips):
        return name
    addr = bare_addr(event.get("addr"))
    if addr is not None:
        for vname, vaddr in vips.items():
            if vaddr == addr:
                return vname
    return None


def describe(event: Event) -> str:
    """The key fields of an event, in a few words."""
    d = event.data
    k = event.kind
    if k in (EventKind.VIP_ADDED, EventKind.VIP_REMOVED):
        parts = [str(d.get("addr", "?"))]
        if "vip" in d:
            parts.append(f"({d['vip']})")
        if "dev" in d:
            parts.append(f"dev {d['dev']}")
        return " ".join(parts)
    if k in (EventKind.VRRP_STATE, EventKind.VRRP_GROUP_STATE):
        prev = d.get("prev")
        arrow = f"{prev} -> " if prev else ""
        name = d.get("instance" if k == EventKind.VRRP_STATE else "group", "?")
        return f"{name} {arrow}{d.get('state', '?')}"
    if k == EventKind.VRRP_STATUS:
        return f"{d.get('instance', '?')} {d.get('state', '?')} priority {d.get('priority', '?')}"
    if k == EventKind.ADVERT:
        return (
            f"src {d.get('src', '?')} vrid {d.get('vrid', '?')} "
            f"prio {d.get('priority', '?')} v{d.get('version', '?')}"
        )
    if k == EventKind.GARP:
        return f"{d.get('addr', '?')} is-at {d.get('mac', '?')}"
    if k == EventKind.NA:
        return f"{d.get('addr', '?')} is-at {d.get('mac', '?')} (unsolicited NA)"
    if k == EventKind.PROBE:
        return _describe_probe(d)
    if k == EventKind.FAULT:
        target = f" on {d['target']}" if d.get("target") else ""
        detail = f": {d['detail']}" if d.get("detail") else ""
        return f"{d.get('name', '?')} {d.get('phase', '?')}{target}{detail}"
    return " ".join(f"{key}={value!r}" for key, value in d.items())


def _describe_probe(d: Mapping[str, Any]) -> str:
    parts = [str(d.get("vip", "?")), "ok" if d.get("ok") else "FAIL"]
    if d.get("status") is not None:
        parts.append(str(d["status"]))
    if isinstance(d.get("ms"), int | float):
        parts.append(f"{d['ms']:.1f} ms")
    if d.get("body") is not None:
        parts.append(f"body {str(d['body']).strip()[:20]!r}")
    if d.get("error"):
        parts.append(f"error {str(d['error'])[:60]!r}")
    return " ".join(parts)


_Row = tuple[float, str, str, str]


def _rows(events: Sequence[Event], collapse_probes: bool) -> list[_Row]:
    """Table rows for events; consecutive same-outcome probes of a VIP become one row."""
    rows: list[_Row] = []
    runs: dict[tuple[str, str], _ProbeRun] = {}

    def finish(run: _ProbeRun) -> None:
        if run.count > 1:
            rows[run.row] = (run.first.ts, run.first.node, run.first.kind, run.describe())

    for ev in events:
        if collapse_probes and ev.kind == EventKind.PROBE:
            key = (ev.node, str(ev.get("vip")))
            run = runs.get(key)
            if run is not None and run.ok == bool(ev.get("ok")):
                run.count += 1
                run.last_ts = ev.ts
                continue
            if run is not None:
                finish(run)  # the outcome flipped: this VIP's run ends here
            rows.append((ev.ts, ev.node, ev.kind, describe(ev)))
            runs[key] = _ProbeRun(len(rows) - 1, ev)
            continue
        for run in runs.values():
            finish(run)
        runs.clear()
        rows.append((ev.ts, ev.node, ev.kind, describe(ev)))
    for run in runs.values():
        finish(run)
    return rows


class _ProbeRun:
    """Consecutive probes of one VIP from one node with the same outcome."""

    def __init__(self, row: int, first: Event) -> None:
        self.row = row
        self.first = first
        self.ok = bool(first.get("ok"))
        self.count = 1
        self.last_ts = first.ts

    def describe(self) -> str:
        f = self.first
        span = (to_us(self.last_ts) - to_us(f.ts)) / 1000
        text = f"{f.get('vip', '?')} {'ok' if self.ok else 'FAIL'} x{self.count} over {span:.1f} ms"
        if f.get("status") is not None:
            text += f" {f.get('status')}"
        if self.ok and f.get("body") is not None:
            text += f" body {str(f.get('body')).strip()[:20]!r}"
        if not self.ok and f.get("error"):
            text += f" error {str(f.get('error'))[:60]!r}"
        return text


# --- VIP holders ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HolderInterval:
    """From ``start`` until ``end`` (exclusive; None: still so at the timeline's end), the
    nodes that had the VIP address configured."""

    start: float
    end: float | None
    holders: frozenset[str]

    @property
    def duration(self) -> float | None:
        """Seconds (to the microsecond), or None for the open last interval."""
        return None if self.end is None else elapsed(self.start, self.end)

    def contains(self, t: float) -> bool:
        """Whether ``start <= t < end``."""
        return self.start <= t and (self.end is None or t < self.end)

    def overlaps(self, t0: float, t1: float | None) -> bool:
        """Whether some instant of ``[t0, t1]`` falls in this interval."""
        return (t1 is None or self.start <= t1) and (self.end is None or self.end > t0)

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "holders": sorted(self.holders)}


@dataclass(frozen=True, slots=True)
class SplitBrain:
    """An interval during which two or more nodes held the same VIP."""

    vip: str
    start: float
    end: float | None
    holders: frozenset[str]

    @property
    def duration(self) -> float | None:
        """Seconds (to the microsecond), or None if it had not ended."""
        return None if self.end is None else elapsed(self.start, self.end)

    def as_dict(self) -> dict[str, Any]:
        return {
            "vip": self.vip,
            "start": self.start,
            "end": self.end,
            "duration_s": self.duration,
            "holders": sorted(self.holders),
        }


def holders_over_time(
    timeline: Timeline | Iterable[Event],
    vips: Mapping[str, str],
    initial: Mapping[str, Collection[str]] | None = None,
    *,
    start: float | None = None,
) -> dict[str, list[HolderInterval]]:
    """For each VIP, who held it over time, from ``vip_added``/``vip_removed`` per node.

    ``initial`` (VIP name -> nodes) are the holders before the first event. The first
    interval starts at ``start`` (default: the first event's time); the last one is open
    (``end=None``). Adjacent intervals always differ in holders; events with the same
    timestamp are applied together, so a simultaneous move yields no zero-length interval.
    An event naming an unknown VIP, or an address of no VIP, is ignored.
    """
    tl = timeline if isinstance(timeline, Timeline) else Timeline(timeline)
    bare = {k: bare_addr(v) or v for k, v in vips.items()}
    events = [e for e in tl.events if e.kind in (EventKind.VIP_ADDED, EventKind.VIP_REMOVED)]
    t_start = start if start is not None else (tl.start if tl.start is not None else 0.0)
    current: dict[str, set[str]] = {v: set((initial or {}).get(v, ())) for v in bare}
    out: dict[str, list[HolderInterval]] = {v: [] for v in bare}
    opened: dict[str, tuple[float, frozenset[str]]] = {
        v: (t_start, frozenset(current[v])) for v in bare
    }

    def flush(ts: float) -> None:
        for v in bare:
            now = frozenset(current[v])
            begun, held = opened[v]
            if now != held:
                if ts > begun:
                    out[v].append(HolderInterval(begun, ts, held))
                    opened[v] = (ts, now)
                else:
                    # a change at (or before) the start: it was the state at the start
                    opened[v] = (begun, now)

    i = 0
    while i < len(events):
        ts = events[i].ts
        while i < len(events) and events[i].ts == ts:
            ev = events[i]
            vip = event_vip(ev, bare)
            if vip in current:
                if ev.kind == EventKind.VIP_ADDED:
                    current[vip].add(ev.node)
                else:
                    current[vip].discard(ev.node)
            i += 1
        flush(ts)
    for v in bare:
        begun, held = opened[v]
        out[v].append(HolderInterval(begun, None, held))
    return out


def holders_at(intervals: Sequence[HolderInterval], t: float) -> frozenset[str]:
    """The holders at time ``t`` (before the first interval: the first interval's)."""
    if not intervals:
        return frozenset()
    for iv in intervals:
        if iv.contains(t):
            return iv.holders
    return intervals[0].holders if t < intervals[0].start else intervals[-1].holders


def split_brains_of(vip: str, intervals: Iterable[HolderInterval]) -> list[SplitBrain]:
    """The split brains in one VIP's holder intervals; consecutive multi-holder intervals
    (e.g. {a,b} then {a,b,c}) form one split brain whose holders are their union."""
    found: list[SplitBrain] = []
    cur: tuple[float, float | None, set[str]] | None = None
    for iv in intervals:
        if len(iv.holders) >= 2:
            if cur is None:
                cur = (iv.start, iv.end, set(iv.holders))
            else:
                cur = (cur[0], iv.end, cur[2] | iv.holders)
        elif cur is not None:
            found.append(SplitBrain(vip, cur[0], cur[1], frozenset(cur[2])))
            cur = None
    if cur is not None:
        found.append(SplitBrain(vip, cur[0], cur[1], frozenset(cur[2])))
    return found


def split_brains(
    timeline: Timeline | Iterable[Event],
    vips: Mapping[str, str],
    initial: Mapping[str, Collection[str]] | None = None,
    *,
    t0: float | None = None,
    t1: float | None = None,
) -> list[SplitBrain]:
    """Every interval in which a VIP had two or more holders, ordered by start.

    With ``t0``/``t1``, only split brains overlapping ``[t0, t1]`` (their start and end are
    not clipped).
    """
    found: list[SplitBrain] = []
    for vip, ivs in holders_over_time(timeline, vips, initial).items():
        for sb in split_brains_of(vip, ivs):
            if (t1 is None or sb.start <= t1) and (t0 is None or sb.end is None or sb.end > t0):
                found.append(sb)
    return sorted(found, key=lambda s: (s.start, s.vip))

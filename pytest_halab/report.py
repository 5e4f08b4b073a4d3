"""Reports of failover measures and of LVS directors' pool changes: the run's records,
terminal summaries, JUnit properties, JSON. The timeline picture is :mod:`.picture`.

Pure apart from writing the files it is asked to write.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_halab.measures import FailoverMeasure
from pytest_halab.poolmeasures import PoolChange
from pytest_halab.timeline import Event, Timeline

if TYPE_CHECKING:  # rich is loaded when a table is drawn, not with the plugin
    from rich.table import Table

__all__ = [
    "FailoverRecord",
    "PoolRecord",
    "ReportCollector",
    "junit_properties",
    "pool_junit_properties",
    "pool_summary_table",
    "read_json",
    "read_pool_changes",
    "render_pool_text",
    "render_text",
    "summary_table",
    "write_json",
]

JSON_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class FailoverRecord:
    """One measure of one test, with what it ran on."""

    nodeid: str
    topology: str
    engine: str
    fault: str
    vip: str
    measure: FailoverMeasure

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "topology": self.topology,
            "engine": self.engine,
            "fault": self.fault,
            "vip": self.vip,
            "measure": self.measure.as_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FailoverRecord:
        """Read back :meth:`as_dict` (records sent by pytest-xdist workers)."""
        return cls(
            d["nodeid"],
            d["topology"],
            d["engine"],
            d["fault"],
            d["vip"],
            FailoverMeasure.from_dict(d["measure"]),
        )


@dataclass(frozen=True, slots=True)
class PoolRecord:
    """One pool change (a real server out of or back into a director's pool) of one test,
    with what it ran on."""

    nodeid: str
    topology: str
    engine: str
    fault: str
    change: PoolChange
    checker: str = (
        ""  # which checker made the change, on which plane ("halab-vrrpd --check, nftables")
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "topology": self.topology,
            "engine": self.engine,
            "fault": self.fault,
            "change": self.change.as_dict(),
            "checker": self.checker,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PoolRecord:
        """Read back :meth:`as_dict` (records sent by pytest-xdist workers)."""
        return cls(
            d["nodeid"],
            d["topology"],
            d["engine"],
            d["fault"],
            PoolChange.from_dict(d["change"]),
            str(d.get("checker", "")),
        )


class ReportCollector:
    """The records of a run, in the order they were added (thread-safe): failover measures
    (iterating the collector, ``len``) and, apart, pool changes (:attr:`pool_records`)."""

    def __init__(self) -> None:
        self._records: list[FailoverRecord] = []
        self._pool: list[PoolRecord] = []
        self._lock = threading.Lock()

    def add(self, record: FailoverRecord) -> None:
        with self._lock:
            self._records.append(record)

    def record(
        self,
        nodeid: str,
        topology: str,
        engine: str,
        measure: FailoverMeasure,
        *,
        fault: str | None = None,
    ) -> FailoverRecord:
        """Add a record built from a measure (fault name: the measure's, unless given)."""
        name = fault if fault is not None else (measure.fault or "?")
        rec = FailoverRecord(nodeid, topology, engine, name, measure.vip, measure)
        self.add(rec)
        return rec

    @property
    def records(self) -> tuple[FailoverRecord, ...]:
        with self._lock:
            return tuple(self._records)

    def for_test(self, nodeid: str) -> list[FailoverRecord]:
        return [r for r in self.records if r.nodeid == nodeid]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[FailoverRecord]:
        return iter(self.records)

    def summary_table(self) -> Table:
        return summary_table(self.records)

    def render_text(self) -> str:
        return render_text(self.records)

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.records]

    # pool changes

    def add_pool(self, record: PoolRecord) -> None:
        with self._lock:
            self._pool.append(record)

    def record_pool(
        self,
        nodeid: str,
        topology: str,
        engine: str,
        change: PoolChange,
        *,
        fault: str | None = None,
        checker: str = "",
    ) -> PoolRecord:
        """Add a record built from a pool change (fault name: the change's, unless given)."""
        name = fault if fault is not None else (change.fault or "?")
        rec = PoolRecord(nodeid, topology, engine, name, change, checker)
        self.add_pool(rec)
        return rec

    @property
    def pool_records(self) -> tuple[PoolRecord, ...]:
        with self._lock:
            return tuple(self._pool)

    def pool_for_test(self, nodeid: str) -> list[PoolRecord]:
        return [r for r in self.pool_records if r.nodeid == nodeid]

    def render_pool_text(self) -> str:
        return render_pool_text(self.pool_records)

    def pool_to_dicts(self) -> list[dict[str, Any]]:
        return [r.as_dict() for r in self.pool_records]


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _split_label(m: FailoverMeasure) -> str:
    """Total split-brain time in the measure's window, or "open" if one had not ended."""
    if any(sb.end is None for sb in m.split_brain):
        return "(open)"
    total = sum((sb.end or sb.start) - sb.start for sb in m.split_brain)
    return f"{total * 1000:.1f} ms"


def _fault_label(rec: FailoverRecord) -> str:
    return f"{rec.fault} (recovery)" if rec.measure.phase == "recovery" else rec.fault


def _move_cell(m: FailoverMeasure) -> str:
    return _ms(m.vip_move_s) if m.moved else "did not move"


def _outage_cell(m: FailoverMeasure) -> str:
    """The outage in ms; one still going on when the window ended: ">= its length so far"."""
    ongoing = m.ongoing_outage_s
    return f">= {ongoing * 1000:.1f}" if ongoing is not None else _ms(m.outage_s)


def summary_table(records: Iterable[FailoverRecord], *, title: str | None = None) -> Table:
    """A rich table: topology, engine, fault, VIP, detection, VIP move, outage (ms, one
    decimal, "-" when it did not happen) and failed requests.

    A VIP that did not move reads "did not move" in the VIP move column (and has no
    detection); an outage still going on when the measure's window ended reads ">= N", its
    length so far, with "(not recovered)" after the failed requests. Recovery measures show
    as "fault (recovery)"; a VIP that had a split brain in the window is marked with
    "split brain" and its total duration (or "(open)") after its failed-request count: a
    handover between two live VRRP routers overlaps by a millisecond or so, a real split
    brain by seconds.
    """
    from rich import box
    from rich.table import Table

    table = Table(title=title or "halab failover measures", box=box.SIMPLE_HEAD)
    table.add_column("topology")
    table.add_column("engine")
    table.add_column("fault")
    table.add_column("VIP")
    table.add_column("detection ms", justify="right")
    table.add_column("VIP move ms", justify="right")
    table.add_column("outage ms", justify="right")
    table.add_column("failed requests", justify="right")
    for rec in records:
        m = rec.measure
        failed = str(m.failed_requests)
        if m.failed_requests and not m.recovered:
            failed += " (not recovered)"
        if m.split_brain:
            failed += f" split brain {_split_label(m)}"
        table.add_row(
            rec.topology,
            rec.engine,
            _fault_label(rec),
            rec.vip,
            _ms(m.detection_s),
            _move_cell(m),
            _outage_cell(m),
            failed,
        )
    return table


def render_text(records: Iterable[FailoverRecord], *, width: int = 160) -> str:
    """The summary table as plain ASCII text (no colour), for pytest's terminal summary."""
    recs = list(records)
    if not recs:
        return "halab: no failover measures recorded"
    return _ascii(summary_table(recs), width)


def _ascii(table: Table, width: int) -> str:
    from rich import box
    from rich.console import Console

    table.box = box.ASCII
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()).strip("\n")


def _change_cell(c: PoolChange) -> str:
    what = "removed" if c.removed else "added back"
    if not c.happened:
        what = "not " + what
    return f"{what} ({c.director})" if c.director else what


def _applied_cell(c: PoolChange) -> str:
    over = c.over_bound_s
    return _ms(c.applied_s) + (" (over bound)" if over is not None and over > 0 else "")


def pool_summary_table(records: Iterable[PoolRecord], *, title: str | None = None) -> Table:
    """A rich table of pool changes: topology, VRRP engine, checker (which program, on
    which forwarding plane), fault, server, change ("removed
    (lvs1)", "added back (lvs1)", "not removed" when the pool never changed), decided ms
    (fault to the checker's decision), applied ms (fault to the pool in the kernel, marked
    "(over bound)" past the config's bound), bound ms and the client's failed requests
    (with those answered by an HTTP error status)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title or "halab pool changes", box=box.SIMPLE_HEAD)
    table.add_column("topology")
    table.add_column("engine")
    table.add_column("checker")
    table.add_column("fault")
    table.add_column("server")
    table.add_column("change")
    table.add_column("decided ms", justify="right")
    table.add_column("applied ms", justify="right")
    table.add_column("bound ms", justify="right")
    table.add_column("failed requests", justify="right")
    for rec in records:
        c = rec.change
        failed = str(c.failed_requests)
        if c.bad_answers:
            failed += f" ({c.bad_answers} error answers)"
        table.add_row(
            rec.topology,
            rec.engine,
            rec.checker or "-",
            rec.fault,
            c.server,
            _change_cell(c),
            _ms(c.decided_s),
            _applied_cell(c),
            _ms(c.bound_s),
            failed,
        )
    return table


def render_pool_text(records: Iterable[PoolRecord], *, width: int = 160) -> str:
    """The pool-change table as plain ASCII text, for pytest's terminal summary."""
    recs = list(records)
    if not recs:
        return "halab: no pool changes recorded"
    return _ascii(pool_summary_table(recs), width)


_JUNIT_MS = (
    ("detection_ms", "detection_s"),
    ("vip_move_ms", "vip_move_s"),
    ("garp_ms", "garp_s"),
    ("outage_ms", "outage_s"),
    ("outage_from_fault_ms", "outage_from_fault_s"),
)


def junit_properties(measure: FailoverMeasure, prefix: str = "halab") -> list[tuple[str, str]]:
    """JUnit ``<property>`` pairs for a measure: ``halab.VI_1.vip_move_ms`` and so on
    (recovery measures: ``halab.VI_1.recovery.vip_move_ms``). Times in ms to the
    microsecond (3 decimals); figures that did not happen are left out. ``moved`` is
    "true" or "false"; an outage still going on at the window's end is
    ``ongoing_outage_ms`` (its length so far), never ``outage_ms``."""
    base = f"{prefix}.{measure.vip}" + (".recovery" if measure.phase == "recovery" else "")
    props: list[tuple[str, str]] = []
    if measure.fault is not None:
        props.append((f"{base}.fault", measure.fault))
    for name, attr in _JUNIT_MS:
        value = getattr(measure, attr)
        if value is not None:
            props.append((f"{base}.{name}", f"{value * 1000:.3f}"))
    ongoing = measure.ongoing_outage_s
    if ongoing is not None:
        props.append((f"{base}.ongoing_outage_ms", f"{ongoing * 1000:.3f}"))
    props.append((f"{base}.moved", "true" if measure.moved else "false"))
    props.append((f"{base}.failed_requests", str(measure.failed_requests)))
    props.append((f"{base}.probes", str(measure.probes)))
    if measure.old_holder is not None:
        props.append((f"{base}.old_holder", measure.old_holder))
    if measure.new_holder is not None:
        props.append((f"{base}.new_holder", measure.new_holder))
    if measure.detection_source is not None:
        props.append((f"{base}.detection_source", measure.detection_source))
    props.append((f"{base}.holders_before", ",".join(sorted(measure.holders_before))))
    props.append((f"{base}.holders_after", ",".join(sorted(measure.holders_after))))
    props.append((f"{base}.split_brains", str(len(measure.split_brain))))
    return props


def pool_junit_properties(change: PoolChange, prefix: str = "halab") -> list[tuple[str, str]]:
    """JUnit ``<property>`` pairs for a pool change, named by VIP, server and direction:
    ``halab.pool.VI_1.web1.removed.applied_ms`` (``...web1.added.applied_ms`` for a server
    put back). Times in ms to the microsecond; figures that did not happen (or a bound not
    known) are left out; ``happened`` is "true" or "false"."""
    base = f"{prefix}.pool.{change.vip}.{change.server}." + (
        "removed" if change.removed else "added"
    )
    props: list[tuple[str, str]] = []
    if change.fault is not None:
        props.append((f"{base}.fault", change.fault))
    if change.director is not None:
        props.append((f"{base}.director", change.director))
    props.append((f"{base}.happened", "true" if change.happened else "false"))
    for name, value in (
        ("decided_ms", change.decided_s),
        ("applied_ms", change.applied_s),
        ("bound_ms", change.bound_s),
    ):
        if value is not None:
            props.append((f"{base}.{name}", f"{value * 1000:.3f}"))
    props.append((f"{base}.failed_requests", str(change.failed_requests)))
    props.append((f"{base}.bad_answers", str(change.bad_answers)))
    props.append((f"{base}.requests", str(change.requests)))
    return props


def write_json(
    path: str | Path,
    timeline: Timeline,
    measures: Iterable[FailoverMeasure],
    *,
    meta: Mapping[str, Any] | None = None,
    pool_changes: Iterable[PoolChange] = (),
) -> Path:
    """Write one JSON document: ``{"version", "meta", "vips", "events", "measures",
    "pool_changes"}``.

    Read it back with :func:`read_json` (and :func:`read_pool_changes`). Creates the parent
    directory.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": JSON_FORMAT_VERSION,
        "meta": dict(meta or {}),
        "vips": dict(timeline.vips),
        "events": timeline.to_dicts(),
        "measures": [m.as_dict() for m in measures],
        "pool_changes": [c.as_dict() for c in pool_changes],
    }
    out.write_text(json.dumps(doc, indent=1) + "\n")
    return out


def read_json(path: str | Path) -> tuple[Timeline, list[FailoverMeasure], dict[str, Any]]:
    """What :func:`write_json` wrote: the timeline, the measures and the meta."""
    doc = json.loads(Path(path).read_text())
    if doc.get("version") != JSON_FORMAT_VERSION:
        raise ValueError(f"{path}: unknown report version {doc.get('version')!r}")
    timeline = Timeline((Event.from_dict(e) for e in doc["events"]), vips=doc.get("vips"))
    measures = [FailoverMeasure.from_dict(m) for m in doc.get("measures", [])]
    return timeline, measures, dict(doc.get("meta") or {})


def read_pool_changes(path: str | Path) -> list[PoolChange]:
    """The pool changes :func:`write_json` wrote (none in a report written before they
    were recorded)."""
    doc = json.loads(Path(path).read_text())
    if doc.get("version") != JSON_FORMAT_VERSION:
        raise ValueError(f"{path}: unknown report version {doc.get('version')!r}")
    return [PoolChange.from_dict(c) for c in doc.get("pool_changes", [])]

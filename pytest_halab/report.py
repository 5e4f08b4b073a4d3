"""Reports of failover measures: terminal summary, JUnit properties, JSON, timeline plots.

Pure apart from writing the files it is asked to write. matplotlib is imported only inside
:func:`plot_timeline`, so the rest works without it.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pytest_halab.measures import FailoverMeasure
from pytest_halab.timeline import Event, EventKind, Timeline, holders_over_time

__all__ = [
    "FailoverRecord",
    "ReportCollector",
    "junit_properties",
    "plot_timeline",
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


class ReportCollector:
    """The failover records of a run, in the order they were added (thread-safe)."""

    def __init__(self) -> None:
        self._records: list[FailoverRecord] = []
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
    table = summary_table(recs)
    table.box = box.ASCII
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False
    )
    console.print(table)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()).strip("\n")


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


def write_json(
    path: str | Path,
    timeline: Timeline,
    measures: Iterable[FailoverMeasure],
    *,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write one JSON document: ``{"version", "meta", "vips", "events", "measures"}``.

    Read it back with :func:`read_json`. Creates the parent directory.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "version": JSON_FORMAT_VERSION,
        "meta": dict(meta or {}),
        "vips": dict(timeline.vips),
        "events": timeline.to_dicts(),
        "measures": [m.as_dict() for m in measures],
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


def plot_timeline(
    path: str | Path,
    timeline: Timeline,
    vips: Mapping[str, str],
    fault_events: Iterable[Event],
    *,
    initial: Mapping[str, Collection[str]] | None = None,
    title: str | None = None,
) -> None:
    """Draw the timeline as a PNG (matplotlib, Agg backend).

    One row per node that held a VIP, with each VIP's holding intervals as coloured bars
    (several VIPs share the row in thin lanes); one row per probing node with failed
    probes as red ticks (per VIP lane); faults as vertical lines labelled with name and
    phase. The x axis is seconds from the first fault (else from the timeline's start).
    """
    try:
        # Figure + the Agg canvas directly, not pyplot: no global backend switch, no global
        # figure registry (safe from threads and under any interactive backend).
        from matplotlib import colormaps
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("plot_timeline needs matplotlib (pip install matplotlib)") from exc

    faults = sorted(fault_events, key=lambda e: e.ts)
    t_start = timeline.start if timeline.start is not None else 0.0
    t_end = timeline.end if timeline.end is not None else t_start
    t_ref = faults[0].ts if faults else t_start
    if faults:
        t_start = min(t_start, faults[0].ts)
        t_end = max(t_end, faults[-1].ts)
    span = max(t_end - t_start, 1e-3)

    intervals = holders_over_time(timeline, vips, initial, start=t_start)
    holders = sorted(
        {n for ivs in intervals.values() for iv in ivs for n in iv.holders}
        | {e.node for e in timeline if e.kind in (EventKind.VIP_ADDED, EventKind.VIP_REMOVED)}
    )
    probers = sorted({e.node for e in timeline if e.kind == EventKind.PROBE})
    rows = holders + [n for n in probers if n not in holders]
    vip_names = list(vips)
    colours = colormaps["tab10"]
    lane = 0.8 / max(1, len(vip_names))
    labelled: set[str] = set()

    fig = Figure(figsize=(12, 1.2 + 0.7 * max(1, len(rows))))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for r, node in enumerate(rows):
        y0 = r - 0.4
        for k, vip in enumerate(vip_names):
            bars = [
                (iv.start - t_ref, (iv.end if iv.end is not None else t_end) - iv.start)
                for iv in intervals.get(vip, [])
                if node in iv.holders
            ]
            if bars:
                ax.broken_barh(
                    bars,
                    (y0 + k * lane, lane * 0.9),
                    facecolors=colours(k % 10),
                    label=None if vip in labelled else f"{vip} held",
                )
                labelled.add(vip)
        fails = [
            (e.ts - t_ref, vip_names.index(e.get("vip")) if e.get("vip") in vips else 0)
            for e in timeline
            if e.kind == EventKind.PROBE and e.node == node and not e.get("ok")
        ]
        if fails:
            ax.vlines(
                [x for x, _ in fails],
                [y0 + k * lane for _, k in fails],
                [y0 + (k + 1) * lane for _, k in fails],
                colors="red",
                linewidth=0.8,
                label="_failed probe" if "failed" in labelled else "failed probe",
            )
            labelled.add("failed")
    for f in faults:
        x = f.ts - t_ref
        ax.axvline(x, color="black", linestyle="--", linewidth=0.8)
        label = f"{f.get('name', 'fault')} {f.get('phase', '')}".strip()
        if f.get("target"):
            label += f" ({f.get('target')})"
        ax.annotate(
            label,
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            rotation=90,
            va="top",
            ha="right",
            fontsize=7,
        )
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.6, max(0.6, len(rows) - 0.4))
    ax.set_xlim(t_start - t_ref - span * 0.02, t_end - t_ref + span * 0.02)
    ax.set_xlabel("seconds from the first fault" if faults else "seconds")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or "VIP holders, failed probes (red) and faults (dashed)")
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)

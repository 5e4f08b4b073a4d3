"""Reports of failover measures and of LVS directors' pool changes: terminal summaries,
JUnit properties, JSON, timeline plots.

Pure apart from writing the files it is asked to write. matplotlib is imported only inside
:func:`plot_timeline`, so the rest works without it.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from pytest_halab.measures import FailoverMeasure
from pytest_halab.poolmeasures import PoolChange, server_ip
from pytest_halab.timeline import Event, EventKind, Timeline, holders_over_time

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "FailoverRecord",
    "PoolRecord",
    "ReportCollector",
    "checker_marks",
    "draw_timeline",
    "junit_properties",
    "place_labels",
    "plot_timeline",
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


Box = tuple[float, float, float, float]
"""A label's extent on the picture: x0, y0, x1, y1 (pixels)."""


@dataclass(frozen=True, slots=True)
class CheckerMark:
    """A checker event as the timeline picture shows it on its director's row: a real
    server found down or up (labelled with the server), or a pool applied in the kernel."""

    ts: float
    node: str
    what: str  # "down", "up" or "pool"
    label: str | None = None


# what: (marker, colour, legend entry, height in the row): a pool is applied a moment after
# the decision, so its marker sits lower, not on the real server's.
_CHECKER_STYLE = {
    "down": ("v", "tab:red", "real server down (checker)", 0.1),
    "up": ("^", "tab:green", "real server up (checker)", 0.1),
    "pool": ("D", "tab:purple", "pool applied (checker)", -0.2),
}
_MARKER_PT = 6.0
# where a label may go, in points from its marker, in order: above, right, left
_LABEL_PLACES = (
    (0.0, 5.0, "center", "bottom"),
    (5.0, 0.0, "left", "center"),
    (-5.0, 0.0, "right", "center"),
)


def checker_marks(
    timeline: Timeline, servers: Mapping[str, str] | None = None
) -> list[CheckerMark]:
    """The checker events the picture shows, in time order: ``rs_state`` (down/up, labelled
    with the server's node name from `servers`, address -> name, else its address) and
    ``pool`` (applied). Weights, quorum, the sorry server are left to the JSON."""
    names = servers or {}
    out = []
    for e in timeline.of_kind(EventKind.CHECKER.value):
        event = e.get("event")
        if event == "rs_state":
            ip = server_ip(str(e.get("rs", "?")))
            what = "up" if e.get("up") else "down"
            out.append(CheckerMark(e.ts, e.node, what, names.get(ip, ip)))
        elif event == "pool":
            out.append(CheckerMark(e.ts, e.node, "pool"))
    return out


def place_labels(options: Sequence[Sequence[Box]], taken: Iterable[Box] = ()) -> list[int | None]:
    """For each label in turn, the index of the first of its `options` (the boxes where it
    may go) that overlaps neither a box in `taken` nor a label already placed; None when
    every option does: that label is left out (its marker stays)."""
    placed = list(taken)
    chosen: list[int | None] = []
    for boxes in options:
        pick = next(
            (i for i, b in enumerate(boxes) if not any(_overlap(b, t) for t in placed)), None
        )
        if pick is not None:
            placed.append(boxes[pick])
        chosen.append(pick)
    return chosen


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def plot_timeline(
    path: str | Path,
    timeline: Timeline,
    vips: Mapping[str, str],
    fault_events: Iterable[Event],
    *,
    initial: Mapping[str, Collection[str]] | None = None,
    title: str | None = None,
    servers: Mapping[str, str] | None = None,
) -> None:
    """Draw the timeline as a PNG (matplotlib, Agg backend).

    One row per node that held a VIP, with each VIP's holding intervals as coloured bars
    (several VIPs share the row in thin lanes); one row per probing node with failed
    probes as red ticks (per VIP lane); faults as vertical lines labelled with name and
    phase; an LVS director's checker events as markers on its row (a real server down or
    up, labelled with the server: `servers` maps addresses to node names; a pool applied),
    each label where it overlaps no other label, else left out. The x axis is seconds
    from the first fault (else from the timeline's start).
    """
    fig = draw_timeline(timeline, vips, fault_events, initial=initial, title=title, servers=servers)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=100)


def draw_timeline(
    timeline: Timeline,
    vips: Mapping[str, str],
    fault_events: Iterable[Event],
    *,
    initial: Mapping[str, Collection[str]] | None = None,
    title: str | None = None,
    servers: Mapping[str, str] | None = None,
) -> Figure:
    """The matplotlib figure :func:`plot_timeline` saves."""
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
    marks = checker_marks(timeline, servers)
    directors = sorted({m.node for m in marks} - set(holders))
    probers = sorted({e.node for e in timeline if e.kind == EventKind.PROBE})
    rows = holders + directors + [n for n in probers if n not in holders and n not in directors]
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
        for what, (marker, colour, legend, dy) in _CHECKER_STYLE.items():
            xs = [m.ts - t_ref for m in marks if m.node == node and m.what == what]
            if xs:
                ax.plot(
                    xs,
                    [r + dy] * len(xs),
                    linestyle="none",
                    marker=marker,
                    markersize=_MARKER_PT,
                    markerfacecolor=colour,
                    markeredgecolor="black",
                    markeredgewidth=0.5,
                    zorder=4,
                    label=f"_{legend}" if what in labelled else legend,
                )
                labelled.add(what)
    fault_labels = []
    for f in faults:
        x = f.ts - t_ref
        ax.axvline(x, color="black", linestyle="--", linewidth=0.8)
        label = f"{f.get('name', 'fault')} {f.get('phase', '')}".strip()
        if f.get("target"):
            label += f" ({f.get('target')})"
        fault_labels.append(
            ax.annotate(
                label,
                (x, 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
            )
        )
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.6, max(0.6, len(rows) - 0.4))
    ax.set_xlim(t_start - t_ref - span * 0.02, t_end - t_ref + span * 0.02)
    ax.set_xlabel("seconds from the first fault" if faults else "seconds")
    ax.grid(axis="x", alpha=0.3)
    what = "VIP holders, failed probes (red) and faults (dashed)"
    if marks:
        what = "VIP holders, failed probes (red), faults (dashed) and checker events"
    ax.set_title(title or what)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        # beside the plot, not on it: the rows' bars and labels stay uncovered
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.005, 1.0),
            borderaxespad=0,
            fontsize=7,
        )
    fig.tight_layout()
    # Labels last, where the layout is final: each where it covers no other label, no
    # fault's label and no marker.
    points = [(m.ts - t_ref, rows.index(m.node) + _CHECKER_STYLE[m.what][3]) for m in marks]
    half = _MARKER_PT * fig.dpi / 72 / 2
    taken = [_box(t.get_window_extent()) for t in fault_labels]
    for px, py in ax.transData.transform(points) if points else []:
        taken.append((px - half, py - half, px + half, py + half))
    _label_marks(ax, [(p, m.label) for p, m in zip(points, marks, strict=True)], taken)
    return fig


def _box(bbox: Any, pad: float = 0.0) -> Box:
    return (float(bbox.x0) - pad, float(bbox.y0) - pad, float(bbox.x1) + pad, float(bbox.y1) + pad)


def _label_marks(
    ax: Any, marks: Sequence[tuple[tuple[float, float], str | None]], taken: list[Box]
) -> None:
    """Label the checker markers at (x, y): above the marker, else right of it, else left
    of it, else not at all."""
    candidates = []
    for xy, label in marks:
        if label is None:
            continue
        texts = [
            ax.annotate(
                label,
                xy,
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=6,
                zorder=5,
                annotation_clip=True,
            )
            for dx, dy, ha, va in _LABEL_PLACES
        ]
        candidates.append(texts)
    chosen = place_labels(
        [[_box(t.get_window_extent(), pad=1.5) for t in texts] for texts in candidates], taken
    )
    for texts, pick in zip(candidates, chosen, strict=True):
        for i, t in enumerate(texts):
            if i != pick:
                t.remove()
            else:  # readable over a VIP's bar
                t.set_bbox({"facecolor": "white", "alpha": 0.7, "pad": 0.3, "linewidth": 0})

"""The timeline picture of one test: what the balancers' VRRP instances did, who held each
VIP, what the client saw, which faults were on, and the figures the test measured.

What is drawn is read from the timeline by :mod:`~pytest_halab.picturedata` (pure); this
module draws it. No lab, no Docker; matplotlib is imported only inside
:func:`draw_timeline`, so the rest works without it.

From top to bottom:

- **priorities**: each instance's effective priority as a step line over time, per
  balancer, with its value written where it changes (``192 -> 190`` beside the peer's
  ``102`` answers "why did nothing move?"). The values come from the engines' events
  (:func:`priority_points`): each engine reports every change (``priority_change``: halab-vrrpd
  in its event log, keepalived in its log line "Changing effective priority", read as it is
  written) and the priority of each state change. The adverts captured on the wire add what
  the peers saw: a MASTER's advertised priority is its effective priority, exactly;
- **per balancer** the VRRP state of each instance as coloured bands (MASTER, BACKUP,
  FAULT...), with the markers of that node's events (checker, script runs, mails) on it;
- **per VIP** (by name and address) who held it (one lane per balancer), a split brain
  hatched in red, and a row of the client's failed requests to that address;
- **faults** as shaded bands from injection to revert, labelled above the plot;
- a legend beside the plot and the test's measures written under it.

Every label (priority values, marker labels, fault names) goes where it covers no other
label and no marker (:func:`place_labels`), or is left out; the legend and the measures are
outside the plot.

Markers are drawn for event kinds by a small registry (:data:`MARKERS`): a new kind of
event on the picture is one :class:`MarkerStyle` line.
"""

from __future__ import annotations

import io
import itertools
import textwrap
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_halab.measures import FailoverMeasure
from pytest_halab.picturedata import (
    Box,
    FaultBand,
    PriorityPoint,
    StateBand,
    fault_bands,
    measure_lines,
    place_labels,
    priority_points,
    state_bands,
)
from pytest_halab.poolmeasures import PoolChange, server_ip
from pytest_halab.timeline import (
    Event,
    EventKind,
    HolderInterval,
    Timeline,
    holders_over_time,
    split_brains_of,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "MARKERS",
    "Mark",
    "MarkerStyle",
    "PriorityPoint",
    "StateBand",
    "draw_timeline",
    "fault_bands",
    "marks_of",
    "measure_lines",
    "picture_png",
    "place_labels",
    "plot_timeline",
    "priority_points",
    "state_bands",
]


# --- event markers: a registry of kinds --------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkerStyle:
    """How one kind of event is drawn on its node's row: which events (``match``), the
    marker, colour, legend entry, the label of one event (None: unlabelled), and the
    height in the row (markers of events that follow each other closely sit apart)."""

    name: str
    match: Callable[[Event], bool]
    marker: str
    colour: str
    legend: str
    label: Callable[[Event, Mapping[str, str]], str | None]
    dy: float = 0.0


def _checker(event: str, up: bool | None = None) -> Callable[[Event], bool]:
    def match(e: Event) -> bool:
        if e.kind != EventKind.CHECKER or e.get("event") != event:
            return False
        return up is None or bool(e.get("up")) == up

    return match


def _server_label(e: Event, names: Mapping[str, str]) -> str:
    ip = server_ip(str(e.get("rs", "?")))
    return names.get(ip, ip)


def _script_label(e: Event, _names: Mapping[str, str]) -> str | None:
    script = e.get("script") or e.get("name")
    if not isinstance(script, str):
        return None
    text = script.split()[0].rsplit("/", 1)[-1] if script.split() else script
    status = e.get("exit_status", e.get("status"))
    return f"{text} {status}" if status not in (None, "") else text


def _mail_label(e: Event, _names: Mapping[str, str]) -> str | None:
    subject = e.get("subject")
    return str(subject)[:40] if isinstance(subject, str) and subject else None


MARKERS: list[MarkerStyle] = [
    MarkerStyle(
        "rs_down",
        _checker("rs_state", False),
        "v",
        "tab:red",
        "real server down (checker)",
        _server_label,
        0.32,
    ),
    MarkerStyle(
        "rs_up",
        _checker("rs_state", True),
        "^",
        "tab:green",
        "real server up (checker)",
        _server_label,
        0.32,
    ),
    MarkerStyle(
        "rs_weight",
        _checker("rs_weight"),
        "P",
        "tab:blue",
        "real server weight (checker)",
        lambda e, n: f"{_server_label(e, n)} w{e.get('weight', '?')}",
        0.32,
    ),
    MarkerStyle(
        "quorum_lost",
        _checker("quorum", False),
        "X",
        "tab:red",
        "quorum lost (checker)",
        lambda e, _n: f"quorum {e.get('alive_weight', '?')}<{e.get('quorum', '?')}",
        -0.16,
    ),
    MarkerStyle(
        "quorum_up",
        _checker("quorum", True),
        "P",
        "tab:green",
        "quorum gained (checker)",
        lambda e, _n: f"quorum {e.get('alive_weight', '?')}>={e.get('quorum', '?')}",
        -0.16,
    ),
    MarkerStyle(
        "sorry_server",
        lambda e: e.kind == EventKind.CHECKER and e.get("event") == "sorry_server",
        "h",
        "tab:brown",
        "sorry server in / out (checker)",
        lambda e, n: f"sorry {_server_label(e, n)} {'in' if e.get('in_use') else 'out'}",
        0.16,
    ),
    MarkerStyle(
        "pool",
        _checker("pool"),
        "D",
        "tab:purple",
        "pool applied (checker)",
        lambda _e, _n: None,
        -0.32,
    ),
    MarkerStyle(
        "script",
        lambda e: e.kind == EventKind.SCRIPT,
        "s",
        "tab:orange",
        "script run",
        _script_label,
        0.0,
    ),
    MarkerStyle(
        "mail",
        lambda e: e.kind == EventKind.MAIL,
        "*",
        "gold",
        "mail received",
        _mail_label,
        0.0,
    ),
]
"""The event kinds drawn as markers, in legend order; one line per kind."""


@dataclass(frozen=True, slots=True)
class Mark:
    """One event drawn as a marker: when, on whose row, which style, its label."""

    ts: float
    node: str
    style: MarkerStyle
    label: str | None


def marks_of(
    timeline: Timeline,
    names: Mapping[str, str] | None = None,
    styles: Sequence[MarkerStyle] | None = None,
) -> list[Mark]:
    """The events the registry draws, in time order; each by the first style matching it.
    ``names`` maps addresses to node names (a checker's real server by name)."""
    styles = MARKERS if styles is None else styles
    out = []
    for e in timeline:
        style = next((s for s in styles if s.match(e)), None)
        if style is not None:
            out.append(Mark(e.ts, e.node, style, style.label(e, names or {})))
    return out


# --- drawing (matplotlib) ----------------------------------------------------------------

STATE_COLOURS = {
    "MASTER": "#2ca02c",
    "BACKUP": "#9ecae1",
    "FAULT": "#d62728",
    "STOP": "#7f7f7f",
    "INIT": "#c7c7c7",
}
_FAULT_COLOUR = "#ff7f0e"
_SPLIT_COLOUR = "#d62728"
_MARKER_PT = 7.0
_TEXT_WIDTH = 150  # characters of a measure's line under the plot (monospace, 8 pt)
# where a label may go, in points from its point, in order: above, right, left, below
_LABEL_PLACES = (
    (0.0, 5.0, "center", "bottom"),
    (6.0, 0.0, "left", "center"),
    (-6.0, 0.0, "right", "center"),
    (0.0, -5.0, "center", "top"),
)


def plot_timeline(
    path: str | Path,
    timeline: Timeline,
    vips: Mapping[str, str],
    fault_events: Iterable[Event],
    **kw: Any,
) -> Path:
    """Draw the timeline as a PNG (see :func:`draw_timeline` for the arguments)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(picture_png(timeline, vips, fault_events, **kw))
    return out


def picture_png(
    timeline: Timeline, vips: Mapping[str, str], fault_events: Iterable[Event], **kw: Any
) -> bytes:
    """The picture as PNG bytes."""
    fig = draw_timeline(timeline, vips, fault_events, **kw)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


@dataclass
class _Labels:
    """What the labels are placed among, gathered while drawing: each label (axes, x, y,
    text), the points and markers they must not cover (axes, x, y) and the step lines
    (axes, xs, ys)."""

    labels: list[tuple[Any, float, float, str]] = field(default_factory=list)
    points: list[tuple[Any, float, float]] = field(default_factory=list)
    lines: list[tuple[Any, Sequence[float], Sequence[float]]] = field(default_factory=list)


@dataclass
class _Frame:
    """Times of the picture: ``ref`` is x = 0 (the first fault, else the start)."""

    start: float
    end: float
    ref: float

    def x(self, ts: float) -> float:
        return ts - self.ref


def draw_timeline(
    timeline: Timeline,
    vips: Mapping[str, str],
    fault_events: Iterable[Event],
    *,
    initial: Mapping[str, Collection[str]] | None = None,
    title: str | None = None,
    servers: Mapping[str, str] | None = None,
    balancers: Sequence[str] | None = None,
    vrids: Mapping[int, str] | None = None,
    measures: Iterable[FailoverMeasure] = (),
    pool_changes: Iterable[PoolChange] = (),
) -> Figure:
    """The picture's matplotlib figure (Agg canvas; no pyplot, no global state).

    ``vips``: VIP name -> address; ``fault_events``: the ``fault`` events; ``initial``:
    each VIP's holders when the observation began; ``servers``: address -> node name (the
    adverts' senders, the checker's real servers); ``balancers``: the balancers in order
    (each gets a state row even when it said nothing); ``vrids``: VRID -> instance name
    (to read the adverts' priorities); ``measures``/``pool_changes``: written under the plot.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the timeline picture needs matplotlib (pip install matplotlib)"
        ) from exc

    faults = fault_bands(fault_events)
    start = timeline.start if timeline.start is not None else 0.0
    end = timeline.end if timeline.end is not None else start
    if faults:
        start = min(start, faults[0].start)
        end = max(end, *(b.end or b.start for b in faults))
    frame = _Frame(start, max(end, start + 1e-3), faults[0].start if faults else start)

    names = dict(servers or {})
    prios = priority_points(timeline, addresses=names, vrids=vrids, start=start)
    bands = state_bands(timeline, start, frame.end)
    holders = holders_over_time(timeline, vips, initial, start=start)
    marks = marks_of(timeline, names)
    bal = list(balancers or ())
    seen = (
        {b.node for b in bands}
        | {n for n, _ in prios}
        | {n for ivs in holders.values() for iv in ivs for n in iv.holders}
    )
    bal += sorted(seen - set(bal))
    others = sorted({m.node for m in marks} - set(bal))
    node_colour = _node_colours(bal)
    lines = [
        part
        for line in measure_lines(measures, pool_changes)
        for part in textwrap.wrap(line, _TEXT_WIDTH, subsequent_indent="    ")
    ]

    # rows of the lower plot, top to bottom: (label, kind, key)
    # a balancer's row has a lane per instance, top to bottom in the order its label names
    lanes: dict[str, list[str]] = {}
    for b in bands:
        lanes.setdefault(b.node, [])
        if b.instance not in lanes[b.node]:
            lanes[b.node].append(b.instance)
    for insts in lanes.values():
        insts.sort()
    rows: list[tuple[str, str, str]] = [
        (f"{n} state" + (f" ({', '.join(lanes[n])})" if lanes.get(n) else ""), "state", n)
        for n in bal
    ]
    for vip, addr in vips.items():
        rows.append((f"{vip} {addr} held by", "held", vip))
        rows.append((f"{vip} {addr} failed requests", "failed", vip))
    rows += [(n, "events", n) for n in others]

    width, top_h, row_h = 13.0, 2.2, 0.55
    # inches, from the bottom: a margin, the measures, the x axis' numbers and name, the
    # plots (and the space between them), the fault names and the title
    text_h = 0.2 * len(lines) + (0.1 if lines else 0.0)
    below = 0.15 + text_h + 0.6
    height = below + top_h + row_h * max(1, len(rows)) + 0.3 + 0.75
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    bottom = below / height
    top = 1 - 0.75 / height
    grid = fig.add_gridspec(
        2,
        1,
        height_ratios=[top_h, row_h * max(1, len(rows))],
        hspace=0.08,
        left=0.17,
        right=0.80,
        bottom=bottom,
        top=top,
    )
    ax_p: Axes = fig.add_subplot(grid[0])
    ax: Axes = fig.add_subplot(grid[1], sharex=ax_p)
    n_rows = len(rows)

    def y_of(r: int) -> float:
        return n_rows - 1 - r  # the first row on top

    # faults: bands over both plots
    for fb in faults:
        x1 = frame.x(fb.end if fb.end is not None else frame.end)
        for a in (ax_p, ax):
            a.axvspan(frame.x(fb.start), x1, color=_FAULT_COLOUR, alpha=0.18, lw=0, zorder=0)
    acc = _Labels()
    _draw_priorities(ax_p, prios, frame, node_colour, acc)

    # state rows
    states_drawn: set[str] = set()
    for r, (_label, kind, key) in enumerate(rows):
        y = y_of(r)
        if kind == "state":
            insts = lanes.get(key, [])
            h = 0.8 / max(1, len(insts))
            for k, inst in enumerate(insts):
                for b in (b for b in bands if b.node == key and b.instance == inst):
                    colour = STATE_COLOURS.get(b.state, "#bcbd22")
                    ax.broken_barh(
                        [(frame.x(b.start), b.end - b.start)],
                        (y + 0.4 - (k + 1) * h, h * 0.92),
                        facecolors=colour,
                        edgecolor="white",
                        linewidth=0.5,
                        zorder=1,
                    )
                    states_drawn.add(b.state)
        elif kind == "held":
            for x, y_sb, text in _draw_holding(
                ax, y, holders.get(key, []), bal, node_colour, frame, key
            ):
                acc.labels.insert(0, (ax, x, y_sb, text))  # before the values
        elif kind == "failed":
            xs = [
                frame.x(e.ts)
                for e in timeline
                if e.kind == EventKind.PROBE and not e.get("ok") and e.get("vip") == key
            ]
            if xs:
                ax.vlines(xs, y - 0.3, y + 0.3, colors="red", linewidth=0.8, zorder=2)
    # markers, on their node's row
    row_y = {key: y_of(r) for r, (_l, kind, key) in enumerate(rows) if kind in ("state", "events")}
    _draw_markers(ax, marks, frame, row_y, acc)

    ax.set_yticks([y_of(r) for r in range(n_rows)], [label for label, _k, _n in rows])
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(-0.6, max(0.6, n_rows - 0.4))
    for r in range(1, n_rows):
        ax.axhline(y_of(r) + 0.5, color="#dddddd", lw=0.6, zorder=0)
    span = frame.end - frame.start
    ax.set_xlim(frame.x(frame.start) - span * 0.02, frame.x(frame.end) + span * 0.02)
    ax.set_xlabel("seconds from the first fault's injection" if faults else "seconds", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.25)
    fig.suptitle(title or "timeline", fontsize=9, x=0.17, ha="left", y=1 - 0.12 / height)

    _legend(fig, ax_p, bal, prios, node_colour, states_drawn, faults, holders, marks)
    if lines:
        fig.text(
            0.17,
            (0.15 + text_h) / height,
            "\n".join(lines),
            ha="left",
            va="top",
            fontsize=8,
            family="monospace",
            linespacing=1.5,
        )
    # labels last, on the final layout: fault names above the plot, then values and marks
    fig.canvas.draw()
    _fault_labels(fig, ax_p, faults, frame)
    _point_labels(fig, acc.labels, acc.points, acc.lines)
    return fig


def _draw_priorities(
    ax_p: Any,
    prios: Mapping[tuple[str, str], list[PriorityPoint]],
    frame: _Frame,
    node_colour: Mapping[str, Any],
    acc: _Labels,
) -> None:
    """The upper plot: each instance's priority as a step line, open dots where adverts
    said it, its value to be written where it changes."""
    # a node's colour, an instance's line style: two instances of one node stay apart
    style_of = _instance_styles(inst for _n, inst in prios)
    for (node, inst), pts in sorted(prios.items()):
        xs = [frame.x(p.ts) for p in pts] + [frame.x(frame.end)]
        ys = [p.priority for p in pts] + [pts[-1].priority]
        acc.lines.append((ax_p, xs, [float(y) for y in ys]))
        ax_p.step(
            xs,
            ys,
            where="post",
            color=node_colour[node],
            linestyle=style_of[inst],
            lw=1.8,
            label=f"{node} {inst}",
        )
        wire = [(frame.x(p.ts), p.priority) for p in pts if p.source == "advert"]
        if wire:
            ax_p.plot(
                [x for x, _ in wire],
                [y for _, y in wire],
                linestyle="none",
                marker="o",
                markersize=3.5,
                markerfacecolor="white",
                markeredgecolor=node_colour[node],
                zorder=3,
            )
        last = None
        for p in pts:
            if p.priority != last:
                acc.labels.append((ax_p, frame.x(p.ts), p.priority, str(p.priority)))
                acc.points.append((ax_p, frame.x(p.ts), p.priority))
                last = p.priority
    if prios:
        lo = min(p.priority for pts in prios.values() for p in pts)
        hi = max(p.priority for pts in prios.values() for p in pts)
        pad = max(8.0, (hi - lo) * 0.25)
        # room for a value's label below the lowest line and above the highest (a backup
        # dropped to 1 is labelled too); ticks only where priorities can be
        ax_p.set_ylim(lo - pad, hi + pad)
        ax_p.set_yticks([t for t in ax_p.get_yticks() if 0 <= t <= 255])
    else:
        ax_p.text(
            0.5,
            0.5,
            "no priority reported in this window",
            transform=ax_p.transAxes,
            ha="center",
            va="center",
            fontsize=8,
            color="grey",
        )
    ax_p.set_ylabel("effective\npriority", fontsize=8)
    ax_p.grid(axis="both", alpha=0.25)
    ax_p.tick_params(labelbottom=False, labelsize=8)


def _draw_markers(
    ax: Any, marks: Sequence[Mark], frame: _Frame, row_y: Mapping[str, float], acc: _Labels
) -> None:
    """The registry's markers on their node's row (``row_y``: node -> y), in its order."""
    for style in MARKERS:
        mine = [m for m in marks if m.style is style and m.node in row_y]
        if not mine:
            continue
        xs = [frame.x(m.ts) for m in mine]
        heights = [row_y[m.node] + style.dy for m in mine]
        ax.plot(
            xs,
            heights,
            linestyle="none",
            marker=style.marker,
            markersize=_MARKER_PT,
            markerfacecolor=style.colour,
            markeredgecolor="black",
            markeredgewidth=0.5,
            zorder=4,
        )
        for m, x, y in zip(mine, xs, heights, strict=True):
            acc.points.append((ax, x, y))
            if m.label:
                acc.labels.append((ax, x, y, m.label))


_LINE_STYLES = ("solid", "dashed", "dotted", "dashdot")


def _instance_styles(instances: Iterable[str]) -> dict[str, Any]:
    """Each instance's line style, by name order (the same in the plot and the legend)."""
    names = sorted(set(instances))
    return {n: _LINE_STYLES[i % len(_LINE_STYLES)] for i, n in enumerate(names)}


def _node_colours(nodes: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    # tab10's green and red mean MASTER and FAULT here: the nodes take the others
    palette = [cmap(i) for i in (0, 1, 4, 5, 6, 8, 9, 7)]
    return {n: palette[i % len(palette)] for i, n in enumerate(nodes)}


def _draw_holding(
    ax: Any,
    y: float,
    intervals: Sequence[HolderInterval],
    nodes: Sequence[str],
    colour: Mapping[str, Any],
    frame: _Frame,
    vip: str,
) -> list[tuple[float, float, str]]:
    """One VIP's row: a lane per balancer, filled while it held the VIP; a split brain
    hatched in red over the row. Returns where each split brain's label goes (x, y, text):
    one of a few milliseconds is a hairline, its label says what it is."""
    holders = [n for n in nodes if any(n in iv.holders for iv in intervals)]
    h = 0.8 / max(1, len(holders))
    for k, node in enumerate(holders):
        bars = [
            (frame.x(iv.start), (iv.end if iv.end is not None else frame.end) - iv.start)
            for iv in intervals
            if node in iv.holders
        ]
        ax.broken_barh(bars, (y + 0.4 - (k + 1) * h, h * 0.92), facecolors=colour[node], zorder=1)
    labels = []
    for sb in split_brains_of(vip, intervals):
        x0 = frame.x(sb.start)
        x1 = frame.x(sb.end if sb.end is not None else frame.end)
        ax.add_patch(_split_patch(x0, y - 0.45, x1 - x0, 0.9))
        length = "open" if sb.duration is None else f"{sb.duration * 1000:.1f} ms"
        labels.append((x0, y, f"split brain {length}"))
    return labels


def _split_patch(x: float, y: float, w: float, h: float) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle(
        (x, y),
        w,
        h,
        facecolor="none",
        edgecolor=_SPLIT_COLOUR,
        hatch="////",
        linewidth=1.2,
        zorder=3,
        label="split brain",
    )


def _legend(
    fig: Any,
    ax_p: Any,
    nodes: Sequence[str],
    prios: Mapping[tuple[str, str], list[PriorityPoint]],
    node_colour: Mapping[str, Any],
    states: set[str],
    faults: Sequence[FaultBand],
    holders: Mapping[str, list[HolderInterval]],
    marks: Sequence[Mark],
) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    style_of = _instance_styles(inst for _n, inst in prios)
    handles: list[Any] = []
    for node, inst in sorted(prios):
        handles.append(
            Line2D(
                [],
                [],
                color=node_colour[node],
                linestyle=style_of[inst],
                lw=1.8,
                label=f"{node} {inst}",
            )
        )
    if any(p.source == "advert" for pts in prios.values() for p in pts):
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markerfacecolor="white",
                markeredgecolor="black",
                markersize=4,
                label="priority in an advert",
            )
        )
    held = {n for ivs in holders.values() for iv in ivs for n in iv.holders}
    for n in nodes:
        if n in held:
            handles.append(Patch(facecolor=node_colour[n], label=f"VIP held by {n}"))
    for state, colour in STATE_COLOURS.items():
        if state in states:
            handles.append(Patch(facecolor=colour, label=state))
    for state in sorted(states - set(STATE_COLOURS)):
        handles.append(Patch(facecolor="#bcbd22", label=state))
    handles.append(Line2D([], [], color="red", lw=1, label="failed request"))
    if faults:
        handles.append(Patch(facecolor=_FAULT_COLOUR, alpha=0.3, label="fault (inject to revert)"))
    if any(split_brains_of(v, ivs) for v, ivs in holders.items()):
        handles.append(
            Patch(facecolor="none", edgecolor=_SPLIT_COLOUR, hatch="////", label="split brain")
        )
    for style in MARKERS:
        if any(m.style is style for m in marks):
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker=style.marker,
                    markersize=_MARKER_PT,
                    markerfacecolor=style.colour,
                    markeredgecolor="black",
                    markeredgewidth=0.5,
                    label=style.legend,
                )
            )
    # beside the plots, never on them
    fig.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.81, ax_p.get_position().y1),
        fontsize=7,
        frameon=False,
        borderaxespad=0,
    )


def _step_boxes(ax: Any, xs: Sequence[float], ys: Sequence[float], width: float = 1.5) -> list[Box]:
    """The pixels a step line (drawn "post") covers, as thin boxes: each level, then each
    rise or fall."""
    pts = ax.transData.transform(list(zip(xs, ys, strict=True)))
    out: list[Box] = []
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        out.append((min(x0, x1), y0 - width, max(x0, x1), y0 + width))
        if y1 != y0:
            out.append((x1 - width, min(y0, y1), x1 + width, max(y0, y1)))
    return out


def _box(bbox: Any, pad: float = 0.0) -> Box:
    return (float(bbox.x0) - pad, float(bbox.y0) - pad, float(bbox.x1) + pad, float(bbox.y1) + pad)


def _fault_labels(fig: Any, ax_p: Any, faults: Sequence[FaultBand], frame: _Frame) -> None:
    """Each fault's name above the plot at its injection, in the first of a few rows where
    it overlaps no other; left out when none is free."""
    if not faults:
        return
    renderer = fig.canvas.get_renderer()
    texts = []
    for fb in faults:
        options = []
        for level in range(3):
            t = ax_p.annotate(
                fb.label,
                (frame.x(fb.start), 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(1, 2 + 10 * level),
                textcoords="offset points",
                ha="left",
                va="bottom",
                fontsize=7,
                color="#a0522d",
                annotation_clip=False,
            )
            options.append(t)
        texts.append(options)
    # the title and any other text of the figure (the suptitle is among fig.texts)
    title = [_box(t.get_window_extent(renderer)) for t in fig.texts if t.get_text()]
    fig_box = fig.bbox
    chosen = place_labels(
        [[_box(t.get_window_extent(renderer), 1.0) for t in opts] for opts in texts], title
    )
    for opts, pick in zip(texts, chosen, strict=True):
        for i, t in enumerate(opts):
            if i != pick or _box(t.get_window_extent(renderer))[2] > fig_box.x1:
                t.remove()


def _point_labels(
    fig: Any,
    labels: Sequence[tuple[Any, float, float, str]],
    points: Sequence[tuple[Any, float, float]],
    lines: Sequence[tuple[Any, Sequence[float], Sequence[float]]] = (),
) -> None:
    """Each label next to its point (above, right, left, below: the first place free of
    other labels, markers and the step ``lines`` (axes, xs, ys), inside its plot), else not
    at all."""
    renderer = fig.canvas.get_renderer()
    half = _MARKER_PT * fig.dpi / 72 / 2
    taken: list[Box] = []
    for a, x, y in points:
        px, py = a.transData.transform((x, y))
        taken.append((px - half, py - half, px + half, py + half))
    for a, xs, ys in lines:
        taken.extend(_step_boxes(a, xs, ys))
    candidates = []
    for a, x, y, text in labels:
        opts = [
            a.annotate(
                text,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                ha=ha,
                va=va,
                fontsize=7,
                zorder=5,
                annotation_clip=True,
            )
            for dx, dy, ha, va in _LABEL_PLACES
        ]
        candidates.append((a, opts))
    boxes = []
    for a, opts in candidates:
        inside = _box(a.get_window_extent(renderer))
        row: list[Box | None] = []
        for t in opts:
            b = _box(t.get_window_extent(renderer), 1.5)
            # a label never leaves its plot
            inside_ok = (
                b[0] >= inside[0] and b[1] >= inside[1] and b[2] <= inside[2] and b[3] <= inside[3]
            )
            row.append(b if inside_ok else None)
        boxes.append(row)
    chosen = place_labels(boxes, taken)
    for (_a, opts), pick in zip(candidates, chosen, strict=True):
        for i, t in enumerate(opts):
            if i != pick:
                t.remove()
            else:
                t.set_bbox({"facecolor": "white", "alpha": 0.8, "pad": 0.3, "linewidth": 0})

"""The result tables the ``halab`` command prints: a bench's figures and its engines'
ratios, and a soak's, engine by engine and side by side. Rendering only: the results come
from bench.py and soak.py, the printing from cli.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # the soak module brings the lab and docker
    from .soak import SoakResult

__all__ = ["bench_table", "cells", "ratio_table", "soak_comparison", "soak_table"]


def cells(*values: object) -> list[Text]:
    """Table cells shown as they are (a str cell would be read as markup)."""
    return [Text(str(v)) for v in values]


_PHASE_WORDS = {
    "advert": "faults injected just after an advert of the master",
    "random": "faults injected at random points of the advert cycle",
}


def bench_table(res: Any) -> Table:
    """One row per engine and fault: the fault and the node it hit ("kill_nginx on lb1"),
    in how many runs the VIP moved, and the figures' percentiles, under headings an operator
    reads (what, in which unit; the percentiles in the caption)."""

    def cell(engine: str, fault: str, fig: str, keys: tuple[str, ...] = ("p50", "p90")) -> str:
        st = res.stats(engine, fault, fig)
        if st is None:
            return "-"
        return " / ".join(f"{st[k] * 1000:.1f}" for k in keys)

    phase = _PHASE_WORDS.get(res.phase, f"faults at phase {res.phase}")
    table = Table(
        title=escape(
            f"failover benchmark: {res.topology}, {res.vip}; {phase}; the client sends a "
            f"request every {res.probe_interval * 1000:g} ms"
        ),
        caption="median / 90th percentile of the runs; takeover: median / min / max; GARP: "
        "the largest gap, negative when the GARP came first; fault after advert: min / max",
    )
    rows = []
    for engine, fault in res.groups():
        runs = res.runs_of(engine, fault)
        deltas = [d for r in runs if (d := r.garp_vs_netlink_s) is not None]
        largest = max(deltas, key=abs) if deltas else None
        rows.append(
            [
                engine,
                f"{fault} on {res.nodes(engine, fault)}",
                f"{res.moved(engine, fault)} of {len(runs)} runs",
                cell(engine, fault, "detection"),
                cell(engine, fault, "vip_move"),
                cell(engine, fault, "outage"),
                cell(engine, fault, "takeover", ("p50", "min", "max")),
                "-" if largest is None else f"{largest * 1000:.1f}",
                cell(engine, fault, "phase", ("min", "max")),
            ]
        )
    # The headings are broken by hand and the figures do not wrap (unless the console is
    # too narrow for them): a figure split over two lines is misread, and rich would shrink
    # the widest columns first, the figures'.
    for col in ("VRRP\nengine", "fault,\non node", "VIP\nmoved in"):
        table.add_column(col)
    for col in (
        "new master\ndetected (ms)",
        "VIP on new\nmaster (ms)",
        "client\noutage (ms)",
        "takeover on\nthe wire (ms)",
        "GARP after\naddress set\n(ms)",
        "fault after\nthe master's\nadvert (ms)",
    ):
        table.add_column(col, justify="right", no_wrap=True, overflow="fold")
    for row in rows:
        table.add_row(*cells(*row))
    return table


def ratio_table(res: Any) -> Table | None:
    """With both engines: halab-vrrpd's medians over keepalived's, fault by fault."""
    if not {"keepalived", "halab"} <= {r.engine for r in res.runs}:
        return None
    ratios = Table(title="halab-vrrpd / keepalived, ratio of medians (<= 1.0: as fast or faster)")
    for col in ("fault", "VIP on new master", "client outage", "takeover on the wire"):
        ratios.add_column(col)
    for fault in dict.fromkeys(r.fault for r in res.runs):
        row = [fault]
        for fig in ("vip_move", "outage", "takeover"):
            a, b = res.stats("halab", fault, fig), res.stats("keepalived", fault, fig)
            row.append(f"{a['p50'] / b['p50']:.3f}" if a and b and b["p50"] > 0 else "-")
        ratios.add_row(*cells(*row))
    return ratios


def soak_table(res: SoakResult) -> Table:
    busy = f", {res.busy} busy loops" if res.busy else ""
    table = Table(
        title=escape(f"soak: {res.topology}, {res.engine}, {res.seconds:.1f} s untouched{busy}")
    )
    table.add_column("measure")
    table.add_column("value")
    for src, n in res.adverts.items():
        g = res.advert_gap_s.get(src)
        gap = ""
        if g:
            gap = ", ".join(
                f"{label} {g[key] * 1000:.2f} ms"
                for label, key in (("gap p50", "p50"), ("p99", "p99"), ("p99.9", "p99.9"))
                if g.get(key) is not None
            )
            gap += f", max {g['max'] * 1000:.2f} ms"
        table.add_row(*cells(f"adverts from {src}", f"{n}  {gap}"))
    table.add_row("VIP added/removed (spurious transitions)", str(res.vip_events))
    table.add_row("failed requests", f"{res.failed_probes} of {res.probes}")
    for node in res.cpu_percent:
        table.add_row(
            *cells(
                f"{node} engine CPU / RSS",
                f"{res.cpu_percent[node]:.2f} % of a core / {res.rss_mb[node]:.1f} MB",
            )
        )
    return table


def soak_comparison(results: list[SoakResult]) -> Table:
    """The engines side by side: the gaps between the master's adverts and the spurious
    transitions, with each engine's p99.9 gap as a ratio of the first engine's."""
    table = Table(title="soak: side by side (the same window, the same load; the master's gaps)")
    table.add_column("engine")
    for head in ("gap p99", "gap p99.9", "gap max", "spurious", "ratio p99.9"):
        table.add_column(head, justify="right")
    base = results[0].master_gap()
    for res in results:
        p999 = res.master_gap()
        ratio = f"{p999 / base:.3f}" if p999 is not None and base else "-"
        table.add_row(
            res.engine,
            _ms_or_dash(res.master_gap("p99")),
            _ms_or_dash(p999),
            _ms_or_dash(res.master_gap("max")),
            str(res.spurious),
            ratio,
        )
    return table


def _ms_or_dash(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.2f} ms"

"""The result tables the ``halab`` command prints: a bench's figures and its engines'
ratios, the pool bench's and the director's figures, and a soak's, engine by engine and
side by side. Rendering only: the results come from bench.py, poolbench.py,
directorbench.py and soak.py, the printing from cli.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .busyloops import busy_words

if TYPE_CHECKING:  # these modules bring the lab and docker
    from .directorbench import DirectorResult
    from .poolbench import PoolBenchResult
    from .soak import SoakResult

__all__ = [
    "bench_table",
    "cells",
    "churn_table",
    "latency_table",
    "pool_table",
    "ratio_table",
    "soak_comparison",
    "soak_table",
]


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
            + (f"; {busy_words(res.busy)} beside the labs" if res.busy else "")
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
    busy = f", {busy_words(res.busy)}" if res.busy else ""
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


def pool_table(res: PoolBenchResult) -> Table:
    """One row per engine and fault: the real server's removal and re-add (p50 / p95 of
    the runs), the config's bound beside each and p95 minus the bound, the client's
    failed requests, and whether the goal (p95 within the bound + 50 ms) held."""

    def pct(engine: str, fault: str, fig: str) -> str:
        st = res.stats(engine, fault, fig)
        return "-" if st is None else f"{st['p50'] * 1000:.1f} / {st['p95'] * 1000:.1f}"

    def ms(v: float | None, signed: bool = False) -> str:
        return "-" if v is None else f"{v * 1000:+.1f}" if signed else f"{v * 1000:.1f}"

    table = Table(
        title=escape(
            f"pool benchmark: {res.topology}, {res.vip}, faults on {res.target}; random "
            f"phase of the health check's period; the client sends a request every "
            f"{res.probe_interval * 1000:g} ms"
        ),
        caption=f"median / 95th percentile of the runs; bound: from the balancer's config "
        f"(an LVS checker's keepalived.conf, haproxy.cfg); goal: p95 within the bound + "
        f"{res.goal_margin_s * 1000:g} ms",
    )
    for col in ("VRRP\nengine", "fault", "out and\nback in"):
        table.add_column(col, no_wrap=True)
    for col in (
        "checker\ndetected (ms)",
        "removed\n(ms)",
        "bound\nout (ms)",
        "p95 -\nbound (ms)",
        "re-added\n(ms)",
        "bound\nin (ms)",
        "p95 -\nbound (ms)",
        "failed\nrequests",
        "goal",
    ):
        table.add_column(col, justify="right", no_wrap=True, overflow="fold")
    for engine, fault in res.groups():
        runs = res.runs_of(engine, fault)
        failed = res.failed(engine, fault)
        goal = res.within_goal(engine, fault)
        table.add_row(
            *cells(
                engine,
                fault,
                f"{sum(1 for r in runs if r.complete)} of {len(runs)}",
                pct(engine, fault, "detection"),
                pct(engine, fault, "removal"),
                ms(res.bound(engine, fault, "removal")),
                ms(res.over_bound(engine, fault, "removal"), signed=True),
                pct(engine, fault, "readd"),
                ms(res.bound(engine, fault, "readd")),
                ms(res.over_bound(engine, fault, "readd"), signed=True),
                str(min(failed)) if min(failed) == max(failed) else f"{min(failed)}-{max(failed)}",
                "-" if goal is None else "met" if goal else "MISSED",
            )
        )
    return table


def latency_table(res: DirectorResult) -> Table:
    """Per engine: request times through the VIP and straight to the real servers."""

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.3f}"

    table = Table(
        title=escape(
            f"latency the director adds: {res.topology}, {res.vip} vs the real servers "
            "directly, requests alternated, a fresh connection each, timed in the client"
        ),
        caption=f"goal: p50 overhead under {res.latency_goal_s * 1000:g} ms",
    )
    for col in ("VRRP engine", "requests\neach"):
        table.add_column(col)
    for col in (
        "VIP\np50 (ms)",
        "direct\np50 (ms)",
        "overhead\np50 (ms)",
        "VIP\np99 (ms)",
        "direct\np99 (ms)",
        "overhead\np99 (ms)",
        "errors",
        "goal",
    ):
        table.add_column(col, justify="right", no_wrap=True)
    for lat in res.latency:
        goal = lat.within_goal
        table.add_row(
            *cells(
                lat.engine,
                min(len(lat.via_vip), len(lat.direct)),
                ms(lat.pct("vip", 50)),
                ms(lat.pct("direct", 50)),
                ms(lat.overhead(50)),
                ms(lat.pct("vip", 99)),
                ms(lat.pct("direct", 99)),
                ms(lat.overhead(99)),
                len(lat.errors),
                "-" if goal is None else "met" if goal else "MISSED",
            )
        )
    return table


def churn_table(res: DirectorResult) -> Table:
    """Per engine: the client's requests while the pool changed, and what failed."""
    table = Table(
        title=escape(
            f"pool churn: {res.topology}, {res.vip}; a real server's checks refused and "
            f"allowed in turn; the client keeps {res.churn_connections} connections in "
            "flight (one request each, keep-alive off)"
        ),
        caption="goal: no request fails (no connection reset by a pool update)",
    )
    for col in ("VRRP engine", "server\nout and in"):
        table.add_column(col)
    for col in (
        "pool\nupdates",
        "seconds",
        "requests",
        "open at\nan update",
        "failed",
        "resets",
        "errors",
    ):
        table.add_column(col, justify="right", no_wrap=True)
    for c in res.churn:
        moves = sum(1 for ch in c.changes if ch.happened)
        table.add_row(
            *cells(
                c.engine,
                f"{c.target}: {moves} of {len(c.changes)} changes",
                c.pool_updates,
                f"{c.seconds:.1f}",
                c.requests,
                c.in_flight_at_updates,
                c.failed,
                c.resets,
                ", ".join(f"{k} {n}" for k, n in c.errors.items()) or "-",
            )
        )
    return table

"""Soak: labs left alone under observation, optionally beside CPU hogs, engines side by side.

A soak changes nothing: any VIP added or removed, or failed request, in the window is a
spurious transition; the gaps between one source's adverts (kernel timestamps of the
capture) show how late the engine's timers fire. ``busy`` CPU-bound loops
(:mod:`busyloops`), started in the first lab's client node, compete with every lab for the
host's cores, and are counted every few seconds of the window.

Several engines soak at once, each in its own lab, over the same window, so they meet the
same load: that is what "side by side" means here.
"""

from __future__ import annotations

import contextlib
import heapq
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from .busyloops import BusyLoops, busy_words
from .lab import Lab
from .scenario import Scenario
from .stats import percentile, summarize
from .timeline import Timeline
from .topology import Topology

__all__ = ["SoakResult", "gap_summary", "run_soaks"]

LONGEST = 5  # gaps kept per source in SoakResult.longest_gaps


@dataclass
class SoakResult:
    topology: str
    engine: str
    seconds: float
    busy: int  # CPU hogs running during the window (all labs of the run share them)
    adverts: dict[str, int]  # source address -> adverts seen
    advert_gap_s: dict[str, dict[str, Any]]  # source -> summary of gaps between adverts
    vip_events: int
    holders_changes: list[str]
    failed_probes: int
    probes: int
    cpu_percent: dict[str, float]  # node -> CPU of its engine's processes, % of one core
    rss_mb: dict[str, float]  # node -> resident memory of its engine's processes
    # where to look: each source's LONGEST longest gaps ({"at_s", "gap_s"}, at_s counted from
    # the window's start, longest first), and every VIP event and failed request in the
    # window ({"at_s", "node", "what"}), in order: a spurious takeover next to the gap that
    # caused it
    longest_gaps: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    incidents: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def spurious(self) -> int:
        return self.vip_events + self.failed_probes

    @property
    def master_source(self) -> str | None:
        """The source that sent the most adverts: the master of the window (a backup sends
        only while it wrongly takes over, and its gaps span the times it did not)."""
        return max(self.adverts, key=self.adverts.__getitem__, default=None)

    def master_gap(self, figure: str = "p99.9") -> float | None:
        """A figure of the gaps between the master's adverts."""
        source = self.master_source
        gaps = self.advert_gap_s.get(source) if source is not None else None
        return gaps.get(figure) if gaps else None


def gap_summary(gaps: Sequence[float]) -> dict[str, Any]:
    """:func:`stats.summarize` plus p99.9: at 20 ms adverts, 10 minutes give 30,000 gaps,
    and the tail that makes a spurious takeover is in the last thousandth."""
    out: dict[str, Any] = summarize(gaps)
    s = sorted(gaps)
    out["p99.9"] = percentile(s, 99.9) if s else None
    return out


def _engine_usage(lab: Lab) -> dict[str, tuple[float, float]]:
    """node -> (CPU seconds used so far, RSS MB) summed over the engine's processes."""
    out = {}
    tick = 100.0  # USER_HZ on Linux
    for b in lab.balancers():
        pids = b.exec(lab.engine_of(b.name).tree_pids_cmd()).output.split()
        cpu = rss = 0.0
        for pid in pids:
            res = b.exec(f"cat /proc/{pid}/stat; grep VmRSS /proc/{pid}/status")
            if not res.ok:
                continue
            stat, _, status = res.output.partition("\n")
            fields = stat.rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tick
            rss += float(status.split()[1]) / 1024 if status.split() else 0.0
        out[b.name] = (cpu, rss)
    return out


def _result(
    topology: Topology,
    engine: str,
    busy: int,
    tl: Timeline,
    window: tuple[float, float],
    usage: tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]],
) -> SoakResult:
    t0, t1 = window
    before, after = usage
    events = [e for e in tl.events if t0 <= e.ts <= t1]
    adverts: dict[str, list[float]] = {}
    for e in events:
        if e.kind == "advert":
            adverts.setdefault(str(e.data.get("src")), []).append(e.ts)
    gaps = {
        src: gap_summary([b - a for a, b in pairwise(ts)])
        for src, ts in adverts.items()
        if len(ts) > 1
    }
    vip_events = [e for e in events if e.kind in ("vip_added", "vip_removed")]
    probes = [e for e in events if e.kind == "probe"]
    failed = [e for e in probes if not e.data.get("ok")]
    longest = {
        src: [
            {"at_s": round(a - t0, 6), "gap_s": round(b - a, 6)}
            for a, b in heapq.nlargest(LONGEST, pairwise(ts), key=lambda ab: ab[1] - ab[0])
        ]
        for src, ts in adverts.items()
        if len(ts) > 1
    }
    incidents = [
        {
            "at_s": round(e.ts - t0, 6),
            "node": e.node,
            "what": f"{e.kind} {e.data.get('addr')}"
            if e.kind != "probe"
            else f"request failed: {e.data.get('error') or e.data.get('status')}",
        }
        for e in sorted([*vip_events, *failed], key=lambda e: e.ts)
    ]
    return SoakResult(
        topology=topology.name,
        engine=engine,
        seconds=round(t1 - t0, 3),
        busy=busy,
        adverts={k: len(v) for k, v in adverts.items()},
        advert_gap_s=gaps,
        vip_events=len(vip_events),
        holders_changes=[f"{e.node} {e.kind} {e.data.get('addr')}" for e in vip_events],
        failed_probes=len(failed),
        probes=len(probes),
        cpu_percent={
            n: round(100 * (after[n][0] - before[n][0]) / (t1 - t0), 3)
            for n in after
            if n in before
        },
        rss_mb={n: round(after[n][1], 1) for n in after},
        longest_gaps=longest,
        incidents=incidents,
    )


def run_soaks(
    topology: Topology,
    engines: Sequence[str],
    seconds: float,
    *,
    busy: int = 0,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[SoakResult]:
    """One lab per engine, all up at once, then left alone for the same ``seconds`` beside
    ``busy`` CPU hogs; one result per engine, in order."""
    with contextlib.ExitStack() as stack:
        labs: list[Lab] = []
        for engine in engines:
            lab = stack.enter_context(Lab(topology, engine=engine))
            progress(f"{engine}: lab {lab.lab_id} up")
            labs.append(lab)
        scenarios = [stack.enter_context(Scenario(lab)) for lab in labs]
        with BusyLoops(labs[0].client_node(), busy) as hogs:
            progress(f"{busy_words(busy)} running; observing for {seconds:.0f} s")
            before = [_engine_usage(lab) for lab in labs]
            t0 = time.time()
            _sleep_watching(hogs, seconds)  # the soak itself: nothing is done, all is watched
            t1 = time.time()
            after = [_engine_usage(lab) for lab in labs]
        timelines = [hal.timeline() for hal in scenarios]
    return [
        _result(topology, engine, busy, tl, (t0, t1), (b, a))
        for engine, tl, b, a in zip(engines, timelines, before, after, strict=True)
    ]


def _sleep_watching(hogs: BusyLoops, seconds: float) -> None:
    """Wait out the window, checking every few seconds that the hogs still run."""
    end = time.monotonic() + seconds
    for remaining in _chunks(end):
        time.sleep(remaining)
        hogs.check("soak")


def _chunks(end: float, step: float = 5.0) -> Iterator[float]:
    while (left := end - time.monotonic()) > 0:
        yield min(step, left)

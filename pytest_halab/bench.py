"""Failover-latency benchmarks: the same faults, repeated, per VRRP engine, with percentiles.

For each engine a lab is started; for each fault and run the fault is injected on the
VIP's master (the run's ``node``), the failover measured from in-node timestamps, the fault
reverted and the lab restored. Figures per failover (the table's headings in brackets):

- ``vip_move`` [VIP on new master]: fault -> the VIP appears on the new holder (netlink, in
  the node);
- ``detection`` [new master detected]: fault -> the new master's first state change to
  MASTER, or its first advert;
- ``outage`` [client outage]: first failed client request -> first success after the last
  failure;
- ``takeover`` [takeover on the wire]: the old master's last advert -> the new master's
  first advert, from the packet capture (LAB_NOTES: compare engines on this one; it
  excludes where in the advert cycle the fault landed);
- ``garp_vs_netlink`` [GARP after address set]: first gratuitous ARP of the new holder
  (capture) minus the VIP-move time (netlink): how far the lab's two clocks of the same
  moment agree;
- ``phase`` [fault after master's advert]: the old master's last advert -> the fault
  (capture): where in the advert cycle the fault landed.

Faults on a real server (a web node) are not this bench's: they move no VIP, and
``poolbench.py`` measures what they do change, an LVS director's pool.

A fault may move no VIP (nginx killed on a master that tracks no script): the run then
ends once the VIP stayed put for as long as the configuration lets a move take
(``Scenario.move_bound``), its measure says "did not move" (who held the VIP, the client's
outage and failed requests) and it has none of the figures above. :meth:`BenchResult.
no_move_lines` sums such runs up, one line per engine and fault.

Where the fault lands in the master's advert cycle moves every figure counted from the fault
by up to one advert interval. With ``phase="advert"`` (the default) the bench removes that
noise: it listens on the lab's bridge from the host (passively) and injects each fault just
after an advert of the master has gone by, so every run, and every engine, starts from the
same point of the cycle. ``phase="random"`` injects whenever the run is ready.

With several engines, one lab per engine is up for the whole bench and the runs alternate
between engines (A B, B A, ...), so that the machine's load drifting over time weighs on
each engine alike.

Regression gate: :meth:`BenchResult.baseline` turns a bench into a
:class:`~pytest_halab.baseline.Baseline` (keys ``engine/fault/figure``, the
:data:`GATED_FIGURES`), and :func:`bench_gate` checks a saved one against the bench about to
run, before any lab starts, keeping the entries that gate it.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import services, waits
from .baseline import PROBE_CONDITION, Baseline, Entry, Regression, compare
from .busyloops import BUSY_MAX, BusyLoops, busy_words
from .dockerhost import DockerHost
from .errors import BaselineError, HalabError, VipDidNotMove
from .faults import Fault
from .lab import Lab
from .measures import FailoverMeasure, phase_s, takeover_s
from .scenario import Scenario
from .stats import summarize
from .topology import Topology
from .vrrp.packet import decode_frame

BenchFault = Callable[[Scenario, str], Fault]


def _kill_service(process: str) -> BenchFault:
    return lambda hal, master: hal.faults.kill_process(master, process, "SIGKILL")


def _after(_first: Fault, then: Fault) -> Fault:
    """Two faults applied in order; the second is the one measured (both are reverted
    with the run's scenario)."""
    return then


FAULTS: dict[str, BenchFault] = {
    "crash_node": lambda hal, master: hal.faults.crash_node(master),
    # one per balancer service: its processes SIGKILLed on the master
    **{f"kill_{s.name}": _kill_service(s.process) for s in services.SERVICES.values()},
    "sigterm_vrrp": lambda hal, master: hal.faults.kill_process(master, "vrrp", "SIGTERM"),
    "link_down": lambda hal, master: hal.faults.link_down(master),
    # the master crashes while the lab's mail server is unreachable (a topology with a
    # mail node): compare with crash_node for what an unreachable server costs a takeover
    "crash_node_mail_stopped": lambda hal, master: _after(
        hal.faults.stop_mail(), hal.faults.crash_node(master)
    ),
    "crash_node_mail_firewalled": lambda hal, master: _after(
        hal.faults.firewall_mail(), hal.faults.crash_node(master)
    ),
}
# Faults on a real server (stop_web, hang_web...) move no VIP: they are the pool bench's
# (poolbench.POOL_FAULTS), which measures the directors' pools instead.
FIGURES = ("detection", "vip_move", "outage", "takeover", "garp_vs_netlink", "phase")
# What the regression gate compares, lower is better. ``phase`` (where in the advert cycle
# the fault landed) is an input of the run, not a result: never gated. ``garp_vs_netlink`` is
# signed (either view may come first); its magnitude is what a baseline keeps and gates.
GATED_FIGURES = tuple(f for f in FIGURES if f != "phase")
PHASES = ("advert", "random")
# The client's outage is resolved to its probe interval: the bench probes every 10 ms by
# default; ``probe_interval`` goes down to 1 ms (one thread per request in the client).
PROBE_INTERVAL_S = 0.01
PROBE_INTERVAL_RANGE = (0.001, 0.1)


@dataclass
class BenchRun:
    engine: str
    fault: str
    run: int
    measure: FailoverMeasure
    takeover_s: float | None
    garp_vs_netlink_s: float | None
    phase_s: float | None = None
    node: str | None = None  # the node the fault hit (the VIP's master, or a web node)

    def figure(self, name: str) -> float | None:
        m = self.measure
        return {
            "detection": m.detection_s,
            "vip_move": m.vip_move_s,
            "outage": m.outage_s,
            "takeover": self.takeover_s,
            "garp_vs_netlink": self.garp_vs_netlink_s,
            "phase": self.phase_s,
        }[name]

    def gated(self, name: str) -> float | None:
        """The figure as a baseline keeps it (``garp_vs_netlink``: its magnitude)."""
        v = self.figure(name)
        return abs(v) if v is not None and name == "garp_vs_netlink" else v


def baseline_key(engine: str, fault: str, figure: str) -> str:
    """A bench figure's key in a baseline file: ``engine/fault/figure``."""
    return f"{engine}/{fault}/{figure}"


def bench_conditions(
    vip: str, phase: str, probe_interval: float, busy: int = 0
) -> dict[str, str | float]:
    """What a bench's figures depend on besides the topology and the engine, as a baseline
    records it: two benches compare only if these are equal. ``busy`` (CPU hogs beside the
    labs) is recorded when there were any; a baseline without it was taken with none."""
    out: dict[str, str | float] = {
        "vip": vip,
        "phase": phase,
        PROBE_CONDITION: round(probe_interval * 1000, 3),
    }
    if busy:
        out["busy"] = busy
    return out


# a condition a baseline may lack, and what its absence means
_CONDITION_ABSENT: dict[str, str | float] = {"busy": 0}


@dataclass
class BenchResult:
    topology: str
    vip: str
    runs: list[BenchRun] = field(default_factory=list)
    lab_start_s: dict[str, float] = field(default_factory=dict)
    phase: str = "advert"
    probe_interval: float = PROBE_INTERVAL_S
    busy: int = 0  # CPU hogs beside the labs for every run (busyloops)

    def stats(self, engine: str, fault: str, figure: str) -> dict[str, Any] | None:
        vals = [
            v
            for r in self.runs
            if r.engine == engine and r.fault == fault and (v := r.figure(figure)) is not None
        ]
        return summarize(vals) if vals else None

    def groups(self) -> list[tuple[str, str]]:
        seen: list[tuple[str, str]] = []
        for r in self.runs:
            if (r.engine, r.fault) not in seen:
                seen.append((r.engine, r.fault))
        return seen

    def runs_of(self, engine: str, fault: str) -> list[BenchRun]:
        return [r for r in self.runs if r.engine == engine and r.fault == fault]

    def nodes(self, engine: str, fault: str) -> str:
        """The node(s) the fault hit in these runs, e.g. "lb1" ("?" when not recorded)."""
        return ", ".join(sorted({r.node for r in self.runs_of(engine, fault) if r.node})) or "?"

    def moved(self, engine: str, fault: str) -> int:
        """In how many of these runs the VIP moved."""
        return sum(1 for r in self.runs_of(engine, fault) if r.measure.moved)

    @property
    def all_moved(self) -> bool:
        return all(r.measure.moved for r in self.runs)

    def no_move_lines(self) -> list[str]:
        """One line per engine and fault whose VIP did not move in some run, e.g.
        "keepalived: VI_1 did not move after kill_nginx on lb1 in 3 of 3 run(s) (held by
        lb1 throughout); client outage at least 4204.1 ms (requests still failing when each
        run ended), 205 to 210 failed requests per run"."""
        lines = []
        for engine, fault in self.groups():
            runs = self.runs_of(engine, fault)
            still = [r.measure for r in runs if not r.measure.moved]
            if not still:
                continue
            held = _names(frozenset().union(*(m.holders_before for m in still)))
            put = sum(1 for m in still if m.stayed_put)
            where = (
                f"held by {held} throughout"
                if put == len(still)
                else f"held by {held} before; the holders changed in {len(still) - put}"
            )
            lines.append(
                f"{engine}: {self.vip} did not move after {fault} on "
                f"{self.nodes(engine, fault)} in {len(still)} of {len(runs)} run(s) "
                f"({where}); {_client_figures(still)}"
            )
        return lines

    def baseline(self) -> Baseline:
        """Every sample of the gated figures, by ``engine/fault/figure`` (a figure with no
        sample in any run is left out)."""
        entries: dict[str, Entry] = {}
        for engine, fault in self.groups():
            for fig in GATED_FIGURES:
                vals = [
                    v
                    for r in self.runs
                    if r.engine == engine and r.fault == fault and (v := r.gated(fig)) is not None
                ]
                if vals:
                    entries[baseline_key(engine, fault, fig)] = Entry(
                        fig, tuple(vals), {"engine": engine, "fault": fault}
                    )
        return Baseline(
            self.topology,
            "bench",
            entries,
            bench_conditions(self.vip, self.phase, self.probe_interval, self.busy),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "topology": self.topology,
            "vip": self.vip,
            "lab_start_s": self.lab_start_s,
            "phase": self.phase,
            "probe_interval_s": self.probe_interval,
            "busy": self.busy,
            "summary": [
                {
                    "engine": e,
                    "fault": f,
                    "node": self.nodes(e, f),
                    "runs": len(self.runs_of(e, f)),
                    "moved": self.moved(e, f),
                    **{fig: self.stats(e, f, fig) for fig in FIGURES},
                }
                for e, f in self.groups()
            ],
            "runs": [
                {
                    "engine": r.engine,
                    "fault": r.fault,
                    "node": r.node,
                    "run": r.run,
                    "takeover_s": r.takeover_s,
                    "garp_vs_netlink_s": r.garp_vs_netlink_s,
                    "phase_s": r.phase_s,
                    "measure": r.measure.as_dict(),
                }
                for r in self.runs
            ],
        }


@dataclass(frozen=True)
class BenchGate:
    """A baseline, cut down to the entries that gate one bench (see :func:`bench_gate`)."""

    name: str  # how messages name the file
    baseline: Baseline
    max_regression_pct: float
    ungated: list[tuple[str, str]]  # the bench's (engine, fault) pairs the baseline lacks

    def check(self, result: BenchResult) -> list[Regression]:
        return compare(self.baseline, result.baseline(), self.max_regression_pct)


def bench_gate(
    base: Baseline,
    name: str,
    topology: str,
    engines: list[str],
    faults: list[str],
    conditions: dict[str, str | float],
    max_regression_pct: float,
) -> BenchGate:
    """Check that ``base`` can gate a bench of these engines and faults on ``topology`` under
    ``conditions`` (:func:`bench_conditions`), before any lab starts: BaselineError, naming
    the file as ``name``, if it was not saved by a bench, is for another topology or other
    conditions, or has no entry for any engine and fault of the bench."""
    if base.source != "bench":
        raise BaselineError(f"{name} was saved by {base.source}, not by halab bench")
    if base.topology != topology:
        raise BaselineError(
            f"{name} is for topology {base.topology or '(none)'}, this bench runs {topology}"
        )
    for k in dict.fromkeys([*conditions, *base.conditions]):
        v = conditions.get(k, _CONDITION_ABSENT.get(k, "(none)"))
        then = base.conditions.get(k, _CONDITION_ABSENT.get(k, "(not recorded)"))
        if then != v:
            raise BaselineError(f"{name} was measured with {k} {then}, this bench runs {k} {v}")
    wanted = {
        baseline_key(e, f, fig): (e, f) for e in engines for f in faults for fig in GATED_FIGURES
    }
    entries = {k: entry for k, entry in base.entries.items() if k in wanted}
    if not entries:
        have = sorted({k.rsplit("/", 1)[0] for k in base.entries})
        shown = ", ".join(have[:10]) + (f" and {len(have) - 10} more" if len(have) > 10 else "")
        raise BaselineError(
            f"{name} has no entry for any engine/fault of this bench "
            f"({', '.join(f'{e}/{f}' for e in engines for f in faults)}); it has: "
            f"{shown or 'no entries'}"
        )
    covered = {wanted[k] for k in entries}
    return BenchGate(
        name,
        Baseline(base.topology, base.source, entries, base.conditions, base.created),
        max_regression_pct,
        [(e, f) for e in engines for f in faults if (e, f) not in covered],
    )


# Run by a helper container on a remote engine's host: the frames of one bridge carrying
# VRRP (IPv4 protocol 112, or IPv6 next header 112: argv[2] is the ethertype), one hex line
# each, after a "ready" line.
_REMOTE_WATCH = """
import socket, sys
ethertype = int(sys.argv[2])
at = 23 if ethertype == 0x0800 else 20
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
s.bind((sys.argv[1], 0))
print("ready", flush=True)
while True:
    f = s.recv(65535)
    if len(f) > at and f[at] == 112:
        print(f.hex(), flush=True)
"""


class AdvertWatch:
    """Passive listener on a lab's bridge, on the engine's host, for the VRRP adverts of
    one router (over IPv4, or with ``ipv6`` over IPv6).

    Only receives (an AF_PACKET socket bound to the bridge): nothing is ever sent. On a
    local engine the socket is this process's; on a remote one a helper container in the
    host's network namespace listens and streams the frames here (a few milliseconds
    later: the phase lock is then that much less tight; the measured phase says so).
    """

    ETH_P_IP = 0x0800
    ETH_P_IPV6 = 0x86DD

    def __init__(self, bridge: str, host: DockerHost | None = None, *, ipv6: bool = False) -> None:
        self.bridge = bridge
        self.host = host
        self._sock: socket.socket | None = None
        self._stack = contextlib.ExitStack()
        self._frames: queue.Queue[bytes] = queue.Queue()
        ethertype = self.ETH_P_IPV6 if ipv6 else self.ETH_P_IP
        if host is None or host.local:
            self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
            try:
                self._sock.bind((bridge, 0))
                self._sock.setblocking(False)
            except OSError:
                self._sock.close()
                raise
            return
        try:
            lines = self._stack.enter_context(
                host.stream(["python3", "-u", "-c", _REMOTE_WATCH, bridge, str(ethertype)])
            )
            first = next(lines, "")
            if first.strip() != "ready":
                raise HalabError(
                    f"the advert watch on {host.name} did not start on {bridge}: {first.strip()}"
                )
        except BaseException:
            self._stack.close()
            raise
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()

    def _pump(self, lines: Iterator[str]) -> None:
        with contextlib.suppress(Exception):  # the stream ends when the helper is removed
            for line in lines:
                with contextlib.suppress(ValueError):
                    self._frames.put(bytes.fromhex(line.strip()))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._stack.close()

    def __enter__(self) -> AdvertWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def matches(frame: bytes, src: str, vrid: int | None) -> bool:
        """An Ethernet frame carrying a VRRP advert from ``src`` (for ``vrid``, if given)."""
        got = decode_frame(frame)
        return got is not None and got.src == src and (vrid is None or got.vrid == vrid)

    def _recv(self, timeout: float) -> bytes | None:
        """The next frame, or None after ``timeout`` (0: only what is already queued)."""
        if self._sock is None:
            try:
                return (
                    self._frames.get(timeout=timeout) if timeout > 0 else self._frames.get_nowait()
                )
            except queue.Empty:
                return None
        if timeout > 0:
            ready, _, _ = select.select([self._sock], [], [], timeout)
            if not ready:
                return None
        try:
            return self._sock.recv(65535)
        except BlockingIOError:
            return b""

    def next_advert(self, src: str, vrid: int | None, timeout: float) -> bool:
        """Wait for the next advert from ``src`` (older queued frames are ignored)."""
        while self._recv(0):
            pass
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = self._recv(left)
            if frame is None:
                break
            if frame and self.matches(frame, src, vrid):
                return True
        return False


def run_bench(
    topology: Topology,
    engines: list[str],
    faults: list[str],
    runs: int,
    vip: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    phase: str = "advert",
    probe_interval: float = PROBE_INTERVAL_S,
    busy: int = 0,
) -> BenchResult:
    """``runs`` of each fault on each engine's lab (all labs up at once, engines alternating
    in order from one run to the next); with ``busy``, that many CPU hogs run in the first
    lab's client for the whole bench and are counted after each run."""
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; known: {', '.join(PHASES)}")
    lo, hi = PROBE_INTERVAL_RANGE
    if not lo <= probe_interval <= hi:
        raise ValueError(f"probe interval {probe_interval} s is outside {lo}..{hi} s")
    vip = vip or next(iter(topology.spec.vips))
    if not 0 <= busy <= BUSY_MAX:
        raise ValueError(f"busy loops {busy} outside 0..{BUSY_MAX}")
    result = BenchResult(topology.name, vip, phase=phase, probe_interval=probe_interval, busy=busy)
    with contextlib.ExitStack() as stack:
        labs: dict[str, Lab] = {}
        for engine in engines:
            t0 = time.monotonic()
            lab = stack.enter_context(Lab(topology, engine=engine))
            labs[engine] = lab
            result.lab_start_s[engine] = round(time.monotonic() - t0, 3)
            progress(f"{engine}: lab {lab.lab_id} up in {result.lab_start_s[engine]:.2f} s")
        hogs = stack.enter_context(BusyLoops(labs[engines[0]].client_node(), busy))
        if busy:
            progress(f"{busy_words(busy)} running")
        for fault in faults:
            for i in range(runs):
                order = engines if i % 2 == 0 else engines[::-1]
                for engine in order:
                    r = _one(labs[engine], engine, fault, i, vip, phase, probe_interval)
                    hogs.check("bench")
                    result.runs.append(r)
                    progress(_run_line(r))
    rank: dict[str, int] = {str(e): n for n, e in enumerate(engines)}
    result.runs.sort(key=lambda r: (rank[r.engine], faults.index(r.fault), r.run))
    return result


def _one(
    lab: Lab, engine: str, fault: str, run: int, vip: str, phase: str, probe_interval: float
) -> BenchRun:
    master = lab.expected_masters()[vip]
    backup = next(b.name for b in lab.balancers() if b.name != master)
    ipv6 = lab.vip_addresses()[vip].version == 6
    addrs = {n.name: str(n.ip) for n in lab.nodes.values()}
    if ipv6:  # IPv6 adverts come from the link-local address
        addrs[master] = str(lab.node(master).link_local())
    layout = lab.layout.vips[vip] if lab.layout else None
    vrid = layout.vrid if layout else None
    advert_int = layout.advert_int if layout and layout.advert_int else 1.0
    with Scenario(lab, probe_interval=probe_interval) as hal:
        # The wire figures need the old master's last advert before the fault: wait until
        # the capture has one (bounded by a few advert intervals; the figures that need it
        # are left out otherwise). Phase-locked, the fault comes right after an advert of
        # the master seen on the bridge, which the observation's capture (listening since
        # its start) records too: no wait then (0.75 s a run on average at 1 s adverts).
        if vrid is not None and phase != "advert":
            with contextlib.suppress(HalabError):
                waits.until(
                    f"an advert of {master} for VRID {vrid} in the capture",
                    lambda: hal.timeline().first(
                        lambda e: (
                            e.kind == "advert"
                            and e.data.get("src") == addrs[master]
                            and e.data.get("vrid") == vrid
                        )
                    ),
                    10,
                    0.1,
                )
        with contextlib.ExitStack() as stack:
            if phase == "advert":
                watch = stack.enter_context(AdvertWatch(lab.bridge, lab.host, ipv6=ipv6))
                wait = 3 * advert_int + 1

                def after_advert() -> None:
                    if not watch.next_advert(addrs[master], vrid, timeout=wait):
                        raise HalabError(
                            f"{lab.lab_id}: no advert from {master} ({addrs[master]}) seen "
                            f"on {lab.bridge} within {wait:.1f} s"
                        )

                hal.faults.sync = after_advert
                stack.callback(setattr, hal.faults, "sync", None)
            f = FAULTS[fault](hal, master)
        try:
            m = hal.failover(vip, f, to=backup, settle=0.2, timeout=20)
        except VipDidNotMove as exc:
            m = exc.measure  # a finding, not an error: the run says so and the bench goes on
        tl = hal.timeline()
    ctx = hal.measure_context
    return BenchRun(
        engine,
        fault,
        run,
        m,
        takeover_s(tl, ctx, m),
        m.garp_delta_s,
        phase_s(tl, ctx, m),
        node=f.target,
    )


def _run_line(r: BenchRun) -> str:
    """One run, for the progress log."""
    m = r.measure
    head = f"{r.engine} {r.fault} on {r.node or '?'} #{r.run + 1}"
    if not m.moved:
        return f"{head}: {m.vip} did not move after {m.fault_label()}, {m.holding()}; " + (
            m.client_outcome()
        )
    return (
        f"{head}: VIP on {m.new_holder} {_ms(m.vip_move_s)}, client outage "
        f"{_ms(m.outage_s)}, takeover on the wire {_ms(r.takeover_s)}, fault "
        f"{_ms(r.phase_s)} after the master's advert"
    )


def _client_figures(ms: list[FailoverMeasure]) -> str:
    """What the client saw over several runs: outage range, failed requests range."""
    failed = [m.failed_requests for m in ms]
    if not any(failed):
        return "no client request failed"
    seen = [
        v
        for m in ms
        if (v := m.outage_s if m.outage_s is not None else m.ongoing_outage_s) is not None
    ]
    ongoing = sum(1 for m in ms if m.ongoing_outage_s is not None)
    if seen and ongoing == len(ms):
        outage = (
            f"client outage at least {min(seen) * 1000:.1f} ms (requests still failing when "
            "each run ended)"
        )
    elif seen:
        outage = f"client outage {_span(f'{min(seen) * 1000:.1f}', f'{max(seen) * 1000:.1f}')} ms"
        if ongoing:
            outage += f", still going on at the end of {ongoing} run(s)"
    else:
        outage = "client outage unknown"
    return f"{outage}, {_span(str(min(failed)), str(max(failed)))} failed requests per run"


def _span(lo: str, hi: str) -> str:
    """A range in words: "170 to 176", or "170" when both ends read the same."""
    return lo if lo == hi else f"{lo} to {hi}"


def _names(nodes: frozenset[str]) -> str:
    return " and ".join(sorted(nodes)) or "nobody"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.1f} ms"

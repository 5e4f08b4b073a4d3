"""The pool benchmark: faults on a real server behind LVS directors, repeated, per VRRP
engine. What is measured is the director's pool, not a VIP move (no VIP moves).

``halab bench lvs_dr --fault stop_web,hang_web,firewall_web,kill_web`` dispatches here (the
faults of :data:`POOL_FAULTS` act on a web node; ``bench.py`` is the failover bench). For
each engine a lab is started; for each fault and run, on the target web node (default
web1):

1. a wait of a random fraction of the checker's ``delay_loop`` (see *phase* below), and
   another before the revert of step 3;
2. the fault is injected, and ``Scenario.pool_change`` waits for the director holding the
   VIP to take the server out: ``detection`` is fault -> the checker's ``rs_state`` event
   (its decision), ``removal`` fault -> the pool without the server applied in the kernel;
3. the fault is reverted, and ``pool_change`` waits for the server back in: ``readd`` is
   revert -> the pool with the server applied;
4. ``failed`` is the client's failed requests to the VIP (its probe, a fresh connection
   every ``probe_interval``) from the fault to the re-add.

Each figure is held against the bound the director's config gives its health checks
(:mod:`~pytest_halab.checkbound` for an LVS checker, :mod:`~pytest_halab.haproxybound`
for haproxy); the issue's goal is p95 within that bound + 50 ms
(:data:`GOAL_MARGIN_S`).

Phase: none is locked. The failover bench injects right after an advert of the master
because VRRP's timers run from the adverts it can see on the wire. A checker's
``delay_loop`` is its own timer, started when the checker started and re-armed after each
attempt: nothing on the wire marks it, so every run lands at a random phase of the cycle
and the figures spread over up to one ``delay_loop`` (that spread is what the percentiles
show). The random waits keep the phase random: without them each run would start a fixed
time after the previous run's re-add, and each revert a fixed time after the removal, each
at a checker tick (a first run saw every lvs_dr re-add at 5.0-5.7 s of an 11 s bound).

Bounded time: each ``pool_change`` waits at most the config's bound + :data:`WAIT_MARGIN_S`
(lvs_dr's web1: 19 s out, 11 s back), so a run lasts at most two ``delay_loop`` + both
bounds + two margins + the fault's own verify and undo. A change that did not come within
that is a finding of the run ("not removed"), not an error.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import services
from .errors import HalabError
from .faults import Fault, Faults
from .lab import Lab
from .poolmeasures import PoolChange
from .scenario import Scenario
from .stats import percentile
from .timeline import EventKind, Timeline
from .topology import Role, Topology

__all__ = [
    "FIGURES",
    "GOAL_MARGIN_S",
    "POOL_FAULTS",
    "ConfigBounds",
    "PoolBenchResult",
    "PoolRun",
    "client_requests",
    "config_bounds",
    "run_pool_bench",
]

PoolFault = Callable[[Faults, str], Fault]

# Faults on a real server (a web node): what the checker sees of each differs (refused at
# once, or a connect_timeout used up), so their removal times differ by the config.
POOL_FAULTS: dict[str, PoolFault] = {
    "stop_web": lambda f, node: f.stop_web(node),
    "kill_web": lambda f, node: f.kill_web(node),
    "hang_web": lambda f, node: f.hang_web(node),
    "firewall_web": lambda f, node: f.firewall_web(node),
    # a TCP_CHECK still connects: only an HTTP_GET checker takes the server out
    "web_error": lambda f, node: f.web_error(node),
    # the balancers' checks refused, the client served: a pool change with nothing failing
    "refuse_checks": lambda f, node: f.refuse_checks(node),
}
FIGURES = ("detection", "removal", "readd")
GOAL_MARGIN_S = 0.05  # the goal: p95 within the config's bound + 50 ms
WAIT_MARGIN_S = 5.0  # how long past the bound a run waits for a pool change
PROBE_INTERVAL_S = 0.01
DEFAULT_TARGET = "web1"
# the addresses the bounds are computed on before any lab exists (a bound depends on which
# real server, not on its address)
_SAMPLE_NET = "10.99.0.0"


@dataclass(frozen=True)
class ConfigBounds:
    """What the VIP's master director's config gives the health checks of one real server:
    the bounds out and back in (the service's ``pool_bound``), and the check period."""

    director: str
    removal_s: float
    readd_s: float
    delay_loop_s: float


def config_bounds(topology: Topology, vip: str, target: str) -> ConfigBounds:
    """The bounds for `target` in the configs of `vip`'s master, from the topology alone
    (rendered on sample addresses): HalabError when `target` is no web node or nothing
    on that balancer health-checks it (no pool to measure)."""
    spec = topology.spec
    node = spec.nodes.get(target)
    if node is None or node.role != Role.WEB:
        webs = [n for n, s in spec.nodes.items() if s.role == Role.WEB]
        raise HalabError(
            f"--target: {target!r} is not a web node of {topology.name}; its web nodes: "
            f"{', '.join(webs) or 'none'}"
        )
    director = spec.vips[vip].master
    net = ipaddress.ip_network(f"{_SAMPLE_NET}/{spec.prefixlen}")
    assert isinstance(net, ipaddress.IPv4Network)
    addr = topology.addressing(net)
    files = {p: f.data for p, f in topology.render_files(director, addr).items()}
    ip = str(addr.nodes[target])
    # each service of the director that health-checks the server (an LVS checker,
    # haproxy) gives its bounds; the largest count
    outs, backs, periods = [], [], []
    for svc in services.SERVICES.values():
        o, b = svc.pool_bound(files, ip, True), svc.pool_bound(files, ip, False)
        p = svc.check_period(files, ip)
        if o is not None and b is not None and p is not None:
            outs.append(o)
            backs.append(b)
            periods.append(p)
    if not outs:
        raise HalabError(
            f"{topology.name}: nothing on {director} health-checks {target} (no "
            "virtual_server with it as a real server and a health check, no haproxy server "
            "with `check`): real-server faults are measured on the pools of LVS directors "
            "(lvs_nat, lvs_dr) and haproxy (haproxy_master_backup)"
        )
    out, back, period = max(outs), max(backs), max(periods)
    return ConfigBounds(director, out, back, period)


def client_requests(timeline: Timeline, vip: str, t0: float, t1: float | None) -> tuple[int, int]:
    """The client's requests to `vip` started between `t0` and `t1` (None: the end), and
    how many of them failed."""
    probes = [
        e for e in timeline.between(t0, t1).of_kind(EventKind.PROBE.value) if e.get("vip") == vip
    ]
    return len(probes), sum(1 for e in probes if not e.get("ok"))


@dataclass(frozen=True)
class PoolRun:
    """One run: the server out (`removal`) and back in (`readd`, None when it was never
    out), and the client's requests from the fault to the re-add."""

    engine: str
    fault: str
    run: int
    node: str
    removal: PoolChange
    readd: PoolChange | None
    requests: int
    failed: int
    # the random waits before the fault and before its revert (the phases)
    waits_s: tuple[float, float] = (0.0, 0.0)

    def figure(self, name: str) -> float | None:
        if name == "detection":
            return self.removal.decided_s
        if name == "removal":
            return self.removal.applied_s
        if name == "readd":
            return self.readd.applied_s if self.readd is not None else None
        raise KeyError(name)

    def bound(self, name: str) -> float | None:
        """The config's bound for a figure (detection has the removal's)."""
        change = self.readd if name == "readd" else self.removal
        return change.bound_s if change is not None else None

    @property
    def complete(self) -> bool:
        """The server went out and came back."""
        return self.removal.happened and self.readd is not None and self.readd.happened

    def line(self) -> str:
        """The run, for the progress log."""
        head = f"{self.engine} {self.fault} on {self.node} #{self.run + 1}"
        if not self.removal.happened:
            return f"{head}: {self.removal.summary()}"
        parts = [
            f"detected {_ms(self.figure('detection'))}",
            f"removed {_ms(self.figure('removal'))} (bound {_ms(self.bound('removal'))})",
            f"re-added {_ms(self.figure('readd'))} (bound {_ms(self.bound('readd'))})",
        ]
        return f"{head}: {', '.join(parts)}; {self.failed} of {self.requests} requests failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "fault": self.fault,
            "run": self.run,
            "node": self.node,
            "waits_s": list(self.waits_s),
            **{f"{fig}_s": self.figure(fig) for fig in FIGURES},
            "removal_bound_s": self.bound("removal"),
            "readd_bound_s": self.bound("readd"),
            "requests": self.requests,
            "failed_requests": self.failed,
            "removal": self.removal.summary(),
            "readd": self.readd.summary() if self.readd is not None else None,
        }


@dataclass
class PoolBenchResult:
    topology: str
    vip: str
    target: str
    runs: list[PoolRun] = field(default_factory=list)
    lab_start_s: dict[str, float] = field(default_factory=dict)
    probe_interval: float = PROBE_INTERVAL_S
    goal_margin_s: float = GOAL_MARGIN_S

    def groups(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((r.engine, r.fault) for r in self.runs))

    def runs_of(self, engine: str, fault: str) -> list[PoolRun]:
        return [r for r in self.runs if r.engine == engine and r.fault == fault]

    def stats(self, engine: str, fault: str, figure: str) -> dict[str, float | int] | None:
        """``n``, ``p50``, ``p95``, ``max`` of a figure over the runs that have it."""
        vals = sorted(v for r in self.runs_of(engine, fault) if (v := r.figure(figure)) is not None)
        if not vals:
            return None
        return {
            "n": len(vals),
            "p50": percentile(vals, 50),
            "p95": percentile(vals, 95),
            "max": vals[-1],
        }

    def bound(self, engine: str, fault: str, figure: str) -> float | None:
        """The config's bound for a figure (the largest the runs recorded: one config)."""
        bounds = [b for r in self.runs_of(engine, fault) if (b := r.bound(figure)) is not None]
        return max(bounds) if bounds else None

    def over_bound(self, engine: str, fault: str, figure: str) -> float | None:
        """p95 minus the config's bound: negative within it."""
        st, b = self.stats(engine, fault, figure), self.bound(engine, fault, figure)
        if st is None or b is None:
            return None
        return round(float(st["p95"]) - b, 6)

    def within_goal(self, engine: str, fault: str) -> bool | None:
        """The issue's goal for removal and re-add: p95 within the bound + 50 ms, in
        every run (a change that never came misses it); None without a bound."""
        runs = self.runs_of(engine, fault)
        if not all(r.complete for r in runs):
            return False
        overs = [self.over_bound(engine, fault, fig) for fig in ("removal", "readd")]
        if any(o is None for o in overs):
            return None
        return all(o is not None and o <= self.goal_margin_s for o in overs)

    def failed(self, engine: str, fault: str) -> list[int]:
        return [r.failed for r in self.runs_of(engine, fault)]

    @property
    def all_complete(self) -> bool:
        return all(r.complete for r in self.runs)

    def incomplete_lines(self) -> list[str]:
        """One line per engine and fault in which the server did not leave or rejoin the
        pool in some run."""
        lines = []
        for engine, fault in self.groups():
            runs = self.runs_of(engine, fault)
            out = sum(1 for r in runs if not r.removal.happened)
            back = sum(1 for r in runs if r.removal.happened and not r.complete)
            if out:
                lines.append(
                    f"{engine}: {self.target} was not taken out of the pool after {fault} in "
                    f"{out} of {len(runs)} run(s) (within the bound + {WAIT_MARGIN_S:g} s)"
                )
            if back:
                lines.append(
                    f"{engine}: {self.target} did not come back into the pool after {fault} "
                    f"was reverted in {back} of {len(runs)} run(s)"
                )
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "bench": "pool",
            "topology": self.topology,
            "vip": self.vip,
            "target": self.target,
            "probe_interval_s": self.probe_interval,
            "goal_margin_s": self.goal_margin_s,
            "lab_start_s": self.lab_start_s,
            "summary": [
                {
                    "engine": e,
                    "fault": f,
                    "runs": len(self.runs_of(e, f)),
                    "complete": sum(1 for r in self.runs_of(e, f) if r.complete),
                    **{fig: self.stats(e, f, fig) for fig in FIGURES},
                    "removal_bound_s": self.bound(e, f, "removal"),
                    "readd_bound_s": self.bound(e, f, "readd"),
                    "removal_p95_over_bound_s": self.over_bound(e, f, "removal"),
                    "readd_p95_over_bound_s": self.over_bound(e, f, "readd"),
                    "within_goal": self.within_goal(e, f),
                    "failed_requests": self.failed(e, f),
                }
                for e, f in self.groups()
            ],
            "runs": [r.as_dict() for r in self.runs],
        }


def run_pool_bench(
    topology: Topology,
    engines: list[str],
    faults: list[str],
    runs: int,
    *,
    vip: str | None = None,
    target: str | None = None,
    progress: Callable[[str], None] = lambda _m: None,
    probe_interval: float = PROBE_INTERVAL_S,
    rng: random.Random | None = None,
) -> PoolBenchResult:
    """Run the pool bench (see the module's docstring); engines alternate run by run (A B,
    B A, ...) as in the failover bench, one lab each for the whole bench."""
    unknown = [f for f in faults if f not in POOL_FAULTS]
    if unknown:
        raise ValueError(f"unknown pool fault(s) {unknown}; known: {', '.join(POOL_FAULTS)}")
    vip = vip or next(iter(topology.spec.vips))
    target = target or DEFAULT_TARGET
    bounds = config_bounds(topology, vip, target)  # before any lab: refuse a non-director
    rng = rng or random.Random()
    result = PoolBenchResult(topology.name, vip, target, probe_interval=probe_interval)
    with contextlib.ExitStack() as stack:
        labs: dict[str, Lab] = {}
        for engine in engines:
            t0 = time.monotonic()
            labs[engine] = stack.enter_context(Lab(topology, engine=engine))
            result.lab_start_s[engine] = round(time.monotonic() - t0, 3)
            progress(f"{engine}: lab {labs[engine].lab_id} up in {result.lab_start_s[engine]} s")
        for fault in faults:
            for i in range(runs):
                for engine in engines if i % 2 == 0 else engines[::-1]:
                    wait = (
                        round(rng.uniform(0, bounds.delay_loop_s), 3),
                        round(rng.uniform(0, bounds.delay_loop_s), 3),
                    )
                    r = _one(
                        labs[engine], engine, fault, i, vip, target, bounds, wait, probe_interval
                    )
                    result.runs.append(r)
                    progress(r.line())
    rank = {e: n for n, e in enumerate(engines)}
    result.runs.sort(key=lambda r: (rank[r.engine], faults.index(r.fault), r.run))
    return result


def _one(
    lab: Lab,
    engine: str,
    fault: str,
    run: int,
    vip: str,
    target: str,
    bounds: ConfigBounds,
    waits: tuple[float, float],
    probe_interval: float,
) -> PoolRun:
    wait, revert_wait = waits
    with Scenario(lab, probe_interval=probe_interval) as hal:
        time.sleep(wait)  # one wait, not a poll: it puts the fault at a random phase
        f = POOL_FAULTS[fault](hal.faults, target)
        out = hal.pool_change(vip, f, target, timeout=bounds.removal_s + WAIT_MARGIN_S)
        if out.happened:  # and the revert too: else it would follow the removal's tick
            time.sleep(revert_wait)
        hal.revert(f)
        back = None
        if out.happened:
            back = hal.pool_change(
                vip, f, target, removed=False, timeout=bounds.readd_s + WAIT_MARGIN_S
            )
        tl = hal.timeline()
    end = None
    if back is not None and back.applied_s is not None and f.reverted_at is not None:
        end = f.reverted_at + back.applied_s
    requests, failed = client_requests(tl, vip, f.injected_at, end)
    return PoolRun(engine, fault, run, target, out, back, requests, failed, waits)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.1f} ms"

"""``halab bench``: its arguments, their checks, and which benchmark a run is: the failover
bench (faults on a balancer, `bench`), the pool bench (faults on a real server of an LVS
director, `poolbench`) or an LVS director's own figures (``--measure``, `directorbench`);
the regression gate's verdict; the tables and files each writes."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from . import cliout, tables
from . import engines as engines_mod
from .baseline import DEFAULT_MAX_REGRESSION_PCT, parse_percent
from .baseline import rule as baseline_rule
from .errors import BaselineError, HalabError

if TYPE_CHECKING:  # bench is imported when a bench runs (it brings the lab and docker)
    from .baseline import Regression
    from .bench import BenchGate
    from .topology import Topology

__all__ = ["DEFAULT_BENCH_FAULTS", "EXIT_NO_MOVE", "EXIT_REGRESSION", "add_parser", "cmd_bench"]

EXIT_REGRESSION = 3  # halab bench --baseline: a figure regressed, or was not measured
EXIT_NO_MOVE = 4  # halab bench: in some run the fault moved no VIP (or changed no pool)
DEFAULT_BENCH_FAULTS = "crash_node,kill_nginx,sigterm_vrrp"


BUSY_ONLY = "CPU hogs load the failover bench only (faults on a balancer)"


def cmd_bench(args: argparse.Namespace) -> int:
    from .baseline import dumps, load
    from .bench import FAULTS, bench_conditions, bench_gate, run_bench
    from .busyloops import BUSY_MAX
    from .poolbench import POOL_FAULTS
    from .topology import load as load_topology

    topo = load_topology(args.topology)
    engines = [e.strip() for e in args.vrrp.split(",") if e.strip()]
    bad = [e for e in engines if e not in engines_mod.ENGINES]
    if bad or not engines:
        raise HalabError(
            f"--vrrp: unknown engine(s) {bad}; use {' and/or '.join(engines_mod.names())}"
        )
    if not 1 <= args.runs <= 100:
        raise HalabError("--runs must be between 1 and 100")
    if args.probe_interval is not None and not 1 <= args.probe_interval <= 100:
        raise HalabError("--probe-interval must be between 1 and 100 (ms)")
    if args.vip is not None and args.vip not in topo.spec.vips:
        raise HalabError(
            f"--vip: topology {topo.name} has no VIP {args.vip!r}; "
            f"its VIPs: {', '.join(topo.spec.vips)}"
        )
    if not 0 <= args.busy <= BUSY_MAX:
        raise HalabError(f"--busy must be between 0 and {BUSY_MAX}")
    if args.measure is not None:
        if args.busy:
            raise HalabError(f"--busy: {BUSY_ONLY}")
        if args.fault is not None:
            raise HalabError("--measure and --fault: run the director's figures on their own")
        return _bench_director(args, topo, engines)
    faults = [f.strip() for f in (args.fault or DEFAULT_BENCH_FAULTS).split(",") if f.strip()]
    bad = [f for f in faults if f not in FAULTS and f not in POOL_FAULTS]
    if bad or not faults:
        raise HalabError(
            f"--fault: unknown fault(s) {bad}; known: {', '.join(FAULTS)} (a VIP move), "
            f"{', '.join(POOL_FAULTS)} (a real server: the directors' pool)"
        )
    pool = [f for f in faults if f in POOL_FAULTS]
    if args.busy and pool:
        raise HalabError(f"--busy: {BUSY_ONLY}")
    if pool:
        if len(pool) < len(faults):
            raise HalabError(
                f"--fault: {', '.join(pool)} act on a real server (the pool bench) and "
                f"{', '.join(f for f in faults if f not in pool)} on a balancer (the failover "
                "bench): run them in separate benches"
            )
        return _bench_pool(args, topo, engines, faults)
    if args.target is not None:
        raise HalabError("--target names the web node of real-server faults (stop_web...)")
    phase = args.phase or "advert"
    probe_ms = 10.0 if args.probe_interval is None else args.probe_interval
    pct = _max_regression(args.max_regression, args.baseline)
    _distinct_files(
        ("--baseline", args.baseline),
        ("--save-baseline", args.save_baseline),
        ("--json", args.json),
    )
    out = cliout.writable(args.json)
    save_to = cliout.writable(args.save_baseline, "--save-baseline")
    gate: BenchGate | None = None
    if args.baseline is not None:
        try:
            base = load(args.baseline)
        except BaselineError as exc:
            raise BaselineError(f"--baseline {exc}") from None
        vip = args.vip or next(iter(topo.spec.vips))
        conditions = bench_conditions(vip, phase, probe_ms / 1000, args.busy)
        gate = bench_gate(
            base, f"--baseline {args.baseline}", topo.name, engines, faults, conditions, pct
        )
    t0 = time.monotonic()
    res = run_bench(
        topo,
        engines,
        faults,
        args.runs,
        vip=args.vip,
        progress=cliout.timed(t0, "7.1f"),
        phase=phase,
        probe_interval=probe_ms / 1000,
        busy=args.busy,
    )
    _print_bench(res)
    # Exit status: the gate's verdict first (3), then a fault that moved no VIP (4), then
    # a file that could not be written (1).
    code = 0
    if gate is not None:
        regressions = gate.check(res)
        _print_gate(gate, regressions, args.baseline)
        if regressions:
            code = EXIT_REGRESSION
    if not res.all_moved and not code:
        code = _no_move("in some run the fault moved no VIP (no failover figures)")
    if save_to is not None:
        if cliout.write_text(save_to, dumps(res.baseline()), "the baseline"):
            cliout.console.print(Text(f"baseline written to {save_to}"))
        else:
            code = code or 1
    return _write_results(code, out, res.as_dict(), "runs and summary")


def _no_move(why: str) -> int:
    """Say why the bench exits 4 (no figures from some run) and return that status."""
    cliout.console.print(Text(f"exit status {EXIT_NO_MOVE}: {why}"), soft_wrap=True)
    return EXIT_NO_MOVE


def _write_results(code: int, out: Path | None, data: dict[str, Any], what: str) -> int:
    """Write the results to --json (when given) and return the exit status: `code`, or 1 when
    the file could not be written and nothing worse happened."""
    if out is None:
        return code
    if cliout.write_json(out, data):
        cliout.console.print(Text(f"{what} written to {out}"))
        return code
    return code or 1


def _bench_pool(
    args: argparse.Namespace, topo: Topology, engines: list[str], faults: list[str]
) -> int:
    """The pool bench (real-server faults on LVS directors): exit 4 when the server did not
    leave or rejoin the pool in some run."""
    from .poolbench import PROBE_INTERVAL_S, run_pool_bench

    given = [
        opt
        for opt, value in (
            ("--baseline", args.baseline),
            ("--save-baseline", args.save_baseline),
            ("--max-regression", args.max_regression),
        )
        if value is not None
    ]
    if given:
        raise HalabError(
            f"{', '.join(given)}: the regression gate is the failover bench's; the pool "
            f"bench ({', '.join(faults)}) has none"
        )
    if args.phase == "advert":
        raise HalabError(
            "--phase advert: a checker's delay_loop is a timer of its own, not seen on the "
            "wire: the pool bench injects at a random phase of it"
        )
    out = cliout.writable(args.json)
    interval = args.probe_interval / 1000 if args.probe_interval else PROBE_INTERVAL_S
    t0 = time.monotonic()
    res = run_pool_bench(
        topo,
        engines,
        faults,
        args.runs,
        vip=args.vip,
        target=args.target,
        progress=cliout.timed(t0, "7.1f"),
        probe_interval=interval,
    )
    cliout.console.print(tables.pool_table(res))
    for line in res.incomplete_lines():
        cliout.console.print(Text(line), soft_wrap=True)
    code = 0
    if not res.all_complete:
        code = _no_move("in some run the pool did not change (no figures)")
    return _write_results(code, out, res.as_dict(), "runs and summary")


def _bench_director(args: argparse.Namespace, topo: Topology, engines: list[str]) -> int:
    """The director's own figures (--measure latency,churn): exit 4 when the pool did not
    change as the churn asked."""
    from .directorbench import MEASURES, run_director_bench

    measures = [m.strip() for m in args.measure.split(",") if m.strip()]
    bad = [m for m in measures if m not in MEASURES]
    if bad or not measures:
        raise HalabError(f"--measure: unknown {bad}; known: {', '.join(MEASURES)}")
    if not 10 <= args.requests <= 100_000:
        raise HalabError("--requests must be between 10 and 100000")
    if not 1 <= args.changes <= 50:
        raise HalabError("--changes must be between 1 and 50")
    out = cliout.writable(args.json)
    if not 1 <= args.connections <= 500:
        raise HalabError("--connections must be between 1 and 500")
    t0 = time.monotonic()
    res = run_director_bench(
        topo,
        engines,
        measures,
        vip=args.vip,
        target=args.target,
        requests=args.requests,
        changes=args.changes,
        connections=args.connections,
        progress=cliout.timed(t0, "7.1f"),
    )
    if res.latency:
        cliout.console.print(tables.latency_table(res))
    if res.churn:
        cliout.console.print(tables.churn_table(res))
    code = 0
    if not all(c.complete for c in res.churn):
        code = _no_move("the pool did not change as asked")
    return _write_results(code, out, res.as_dict(), "results")


def _max_regression(text: str | None, baseline: str | None) -> float:
    """--max-regression as a number of percent >= 0 (default 10); it needs --baseline."""
    if text is None:
        return DEFAULT_MAX_REGRESSION_PCT
    if baseline is None:
        raise HalabError("--max-regression needs --baseline FILE (the figures to compare with)")
    try:
        return parse_percent(text)
    except ValueError as exc:
        raise HalabError(f"--max-regression: {exc}") from None


def _distinct_files(*options: tuple[str, str | None]) -> None:
    """Refuse two file options naming the same file (the bench would overwrite its baseline
    or one output with another)."""
    given = [(opt, name) for opt, name in options if name is not None]
    for i, (opt_a, a) in enumerate(given):
        for opt_b, b in given[i + 1 :]:
            try:
                same = Path(a).resolve() == Path(b).resolve() or (
                    Path(a).exists() and Path(b).exists() and os.path.samefile(a, b)
                )
            except (OSError, ValueError):  # the checks of each file say what is wrong
                continue
            if same:
                raise HalabError(f"{opt_a} {a} and {opt_b} {b} are the same file")


def _print_gate(gate: BenchGate, regressions: list[Regression], name: str) -> None:
    """The regression gate's verdict: one line per failed figure, the bench's engine/fault
    pairs the baseline cannot gate, and a summary line. Lines are never wrapped (CI logs are
    read and grepped line by line)."""

    def line(text: str) -> None:
        cliout.console.print(Text(text), soft_wrap=True)

    for r in regressions:
        line(str(r))
    for engine, fault in gate.ungated:
        line(f"not gated: {engine}/{fault} has no entry in {name}")
    n = len(gate.baseline.entries)
    rule = baseline_rule(gate.max_regression_pct)
    if not regressions:
        line(f"gate passed: {n} figure(s) compared with {name}, none {rule}")
        return
    missing = sum(1 for r in regressions if r.current is None)
    line(
        f"gate FAILED: of {n} figure(s) in {name}, {len(regressions) - missing} regressed "
        f"({rule}) and {missing} not measured; exit status {EXIT_REGRESSION}"
    )


def _print_bench(res: Any) -> None:
    """The bench's table, the engines' ratios, and one line per engine and fault whose VIP
    did not move in some run."""
    cliout.console.print(tables.bench_table(res))
    ratios = tables.ratio_table(res)
    if ratios is not None:
        cliout.console.print(ratios)
    for line in res.no_move_lines():
        cliout.console.print(Text(line), soft_wrap=True)


def add_parser(sub: Any) -> None:
    """The ``bench`` subcommand's arguments (``sub``: the command's subparsers)."""
    bn = sub.add_parser(
        "bench",
        help="benchmarks: failover latency (faults on a balancer), LVS pool changes (faults "
        "on a real server), an LVS director's figures (--measure)",
        description="Faults on a balancer (crash_node, kill_nginx, sigterm_vrrp, link_down...) "
        "run the failover bench: the VIP's move, phase-locked to the master's adverts. Faults "
        "on a real server (stop_web, kill_web, hang_web, firewall_web, web_error, "
        "refuse_checks) run the pool bench on an LVS director (lvs_nat, lvs_dr): removal "
        "(fault -> pool without the server) and re-add (revert -> pool with it), p50/p95 "
        "beside the bound keepalived.conf gives the checker, failed requests; injected at a "
        "random phase of the checker's delay_loop (its timer is not on the wire). --measure "
        "latency,churn takes an LVS director's own figures: the latency it adds (requests to "
        "the VIP and to the real servers alternated, timed in the client, p50/p99) and the "
        "requests failed while its pool changes (a real server's checks refused and allowed "
        "in turn, 100 connections held open through each change, keep-alive off). The "
        "director's failover: --fault crash_node on lvs_nat or lvs_dr.",
    )
    bn.add_argument("topology", nargs="?", default="nginx_master_backup")
    bn.add_argument(
        "--vrrp",
        default="keepalived",
        help="engines, comma-separated: keepalived,halab (side by side)",
    )
    bn.add_argument(
        "--fault",
        default=None,
        help=f"faults, comma-separated (default {DEFAULT_BENCH_FAULTS}): crash_node, "
        "kill_nginx, sigterm_vrrp, link_down, crash_node_mail_stopped, "
        "crash_node_mail_firewalled (a topology with a mail node) (failover bench); "
        "stop_web, kill_web, hang_web, firewall_web, web_error, refuse_checks (pool bench, "
        "LVS topologies)",
    )
    bn.add_argument(
        "--target",
        default=None,
        metavar="NODE",
        help="the web node of real-server faults (default web1) and of --measure churn "
        "(default web2)",
    )
    bn.add_argument(
        "--measure",
        default=None,
        metavar="WHAT",
        help="an LVS director's figures instead of faults, comma-separated: latency "
        "(what the director adds, p50/p99), churn (requests failed while the pool changes)",
    )
    bn.add_argument(
        "--requests",
        type=int,
        default=500,
        help="--measure latency: requests each way, to the VIP and direct (default 500)",
    )
    bn.add_argument(
        "--changes",
        type=int,
        default=5,
        help="--measure churn: times the server leaves and rejoins the pool (default 5)",
    )
    bn.add_argument(
        "--connections",
        type=int,
        default=100,
        help="--measure churn: connections the client keeps in flight (default 100)",
    )
    bn.add_argument("--runs", type=int, default=5, help="repetitions per engine and fault")
    bn.add_argument("--vip", default=None, help="VIP to fail over (default: the first)")
    bn.add_argument("--json", default=None, metavar="FILE", help="write every run and the summary")
    bn.add_argument(
        "--save-baseline",
        default=None,
        metavar="FILE",
        help="write every sample of the gated figures, a baseline for a later --baseline",
    )
    bn.add_argument(
        "--baseline",
        default=None,
        metavar="FILE",
        help="compare with a saved baseline: exit 3 if a figure's median rose more than "
        "--max-regression and above the baseline's p90, or was not measured",
    )
    bn.add_argument(
        "--max-regression",
        default=None,
        metavar="PCT",
        help=f"allowed rise of a median over the baseline's, in percent "
        f"(default {DEFAULT_MAX_REGRESSION_PCT:g}); needs --baseline",
    )
    bn.add_argument(
        "--phase",
        choices=("advert", "random"),
        default=None,
        help="inject each fault just after an advert of the master (default), or whenever "
        "ready; the pool bench is always at random phase",
    )
    bn.add_argument(
        "--probe-interval",
        type=float,
        default=None,
        metavar="MS",
        help="client request cadence in ms (1-100, default 10): the outage's resolution",
    )
    bn.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="failover bench: N CPU-bound loops beside the labs for every run (0-16, "
        "default 0), the contention of halab soak --busy",
    )
    bn.set_defaults(func=cmd_bench)

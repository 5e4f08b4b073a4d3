"""The ``halab`` command: build images, bring labs up and down, show status, clean up."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import engines as engines_mod
from . import images, services, tables, topology
from .baseline import DEFAULT_MAX_REGRESSION_PCT, parse_percent
from .baseline import rule as baseline_rule
from .dockerhost import from_env as docker_host
from .errors import BaselineError, HalabError
from .lab import Lab
from .labels import L_KEEP, L_LAB, L_TOPOLOGY
from .nodes import Node
from .sweep import clean, lab_ids, remove_lab

if TYPE_CHECKING:  # bench is imported when a bench runs (it brings the lab and docker)
    from .baseline import Regression
    from .bench import BenchGate

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a command killed by SIGPIPE
EXIT_REGRESSION = 3  # halab bench --baseline: a figure regressed, or was not measured
EXIT_NO_MOVE = 4  # halab bench: in some run the fault moved no VIP (or changed no pool)
DEFAULT_BENCH_FAULTS = "crash_node,kill_nginx,sigterm_vrrp"


class _Console(Console):
    """A console that lets main() handle a closed pipe (rich would exit on its own)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


# Whatever a user or a lab gave (paths, lab ids, node names, descriptions, messages) is printed
# as plain text: as a Text, or escape()d inside markup. Emoji codes are off for the same reason.
# Tables stay readable when piped (CI logs): no 80-column wrapping.
console = _Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)
err = _Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def _progress(name: str, msg: str) -> None:
    err.print(Text.assemble((f"{name:>9}", "bold"), " ", msg))


def _timed(t0: float, fmt: str) -> Callable[[str], None]:
    """A progress printer that prefixes the seconds since t0."""
    return lambda m: err.print(Text.assemble((f"{time.monotonic() - t0:{fmt}} s", "dim"), " ", m))


def cmd_images_build(args: argparse.Namespace) -> int:
    known = {s.name for s in images.SPECS}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise HalabError(
            f"unknown image(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    t0 = time.monotonic()
    built = images.build_all(
        docker_host().client(),
        rebuild=args.rebuild,
        names=tuple(args.names) or None,
        progress=_progress,
    )
    table = Table(title="halab images")
    for col in ("image", "tag", "action", "seconds"):
        table.add_column(col)
    for b in built.values():
        state = "built" if b.built else "cached"
        table.add_row(*tables.cells(b.name, b.tag, state, f"{b.seconds:.1f}"))
    console.print(table)
    console.print(f"images ready in {time.monotonic() - t0:.1f} s")
    return 0


def cmd_images_copy(args: argparse.Namespace) -> int:
    """Build (or find) the images on the environment's engine and copy them to each URL."""
    from .dockerhost import DockerHost, parse_docker_hosts

    try:
        urls = parse_docker_hosts(" ".join(args.urls))
    except ValueError as exc:
        raise HalabError(f"images copy: {exc}") from None
    t0 = time.monotonic()
    source = docker_host()
    for url in urls:
        target = DockerHost(url, "the command line", image_source=source)
        try:
            target.ping()
        except HalabError as exc:
            raise HalabError(f"images copy: {exc}") from None
        images.ensure_on(target, progress=_progress)
        console.print(Text(f"images ready on {url}"))
    console.print(f"done in {time.monotonic() - t0:.1f} s")
    return 0


def _running_labs() -> dict[str, dict[str, str]]:
    return {k: v for k, v in lab_ids(docker_host()).items() if v}


def _pick_lab(lab_id: str | None) -> str:
    labs = _running_labs()
    if lab_id:
        if lab_id not in labs:
            raise HalabError(f"no lab {lab_id}; labs: {', '.join(labs) or 'none'}")
        return lab_id
    if not labs:
        raise HalabError("no lab is up; start one with `halab up TOPOLOGY`")
    if len(labs) > 1:
        raise HalabError(f"several labs are up ({', '.join(labs)}): name one with --lab")
    return next(iter(labs))


def cmd_up(args: argparse.Namespace) -> int:
    topo = topology.load(args.topology)
    try:
        default, overrides = engines_mod.parse_spec(args.vrrp or "")
    except ValueError as exc:
        raise HalabError(f"--vrrp: {exc}") from None
    t0 = time.monotonic()
    lab = Lab(
        topo,
        engine=default,
        node_engines=overrides,
        keep=True,
        docker_host=docker_host(),
        progress=_timed(t0, "6.2f"),
        strict=False,  # a VIP elsewhere than `master:` says: the lab stays, status says why
    )
    lab.start()
    console.print(
        f"lab [bold]{escape(lab.lab_id)}[/bold] up in {time.monotonic() - t0:.2f} s "
        f"(images {lab.timings['images']:.2f} s, containers to ready {lab.timings['up']:.2f} s)"
    )
    _print_status(lab.status())
    return 0


def _print_status(st: dict[str, Any]) -> None:
    console.print(
        Text(
            f"lab {st['lab']}  topology {st['topology']}  vrrp {st['vrrp']}  subnet {st['subnet']}"
            + (f"  subnet6 {st['subnet6']}" if st.get("subnet6") else "")
        )
    )
    nodes = Table(title="nodes")
    six = any("ip6" in n for n in st["nodes"])
    for col in ("node", "role", "address", *(["IPv6 address"] if six else []), "state"):
        nodes.add_column(col)
    for n in st["nodes"]:
        ip6 = [n.get("ip6", "")] if six else []
        nodes.add_row(*tables.cells(n["name"], n["role"], n["ip"], *ip6, n["state"]))
    console.print(nodes)
    vips = Table(title="virtual IPs")
    for col in ("vip", "address", "expected master", "held by", "verdict"):
        vips.add_column(col)
    for v in st["vips"]:
        holders = v["holders"]
        if len(holders) == 1 and holders[0] == v["expected"]:
            verdict = "[green]ok[/green]"
        elif len(holders) == 1:
            verdict = "[yellow]moved[/yellow]"
        elif not holders:
            verdict = "[red]no holder[/red]"
        else:
            verdict = "[red]split brain[/red]"
        vips.add_row(
            *tables.cells(v["name"], v["ip"], v["expected"], ", ".join(holders) or "-"),
            Text.from_markup(verdict),
        )
    console.print(vips)
    insts = Table(title="VRRP instances (as each engine reports them)")
    for col in ("node", "instance", "state", "priority", "configured", "VIPs"):
        insts.add_column(col)
    for i in st.get("instances", []):
        if "error" in i:
            insts.add_row(*tables.cells(i["node"], "-", i["error"], "", "", ""))
            continue
        flags = " nopreempt" if i["nopreempt"] else ""
        insts.add_row(
            *tables.cells(
                i["node"],
                i["instance"],
                i["state"],
                i["priority"],
                f"{i['base_priority']}{flags}",
                " ".join(i["vips"]),
            )
        )
    if st.get("instances"):
        console.print(insts)
    if st.get("checkers"):
        checks = Table(title="LVS checkers (virtual servers: health checks, kernel pools)")
        for col in ("node", "checker", "VRRP half", "forwarding plane", "why"):
            checks.add_column(col)
        for c in st["checkers"]:
            checks.add_row(
                *tables.cells(
                    c["node"], c["checker"], c["vrrp"], c.get("plane", "-"), c.get("reason", "")
                )
            )
        console.print(checks)
        for c in st["checkers"]:
            for note in c.get("approximations", []):
                console.print(Text.assemble(("approximation: ", "yellow"), f"{c['node']}: {note}"))
    for v in st["vips"]:
        if v.get("why"):
            console.print(Text.assemble(("why: ", "yellow"), v["why"]))
    for node, lines in st.get("warnings", {}).items():
        for line in lines:
            console.print(Text.assemble(("warning: ", "yellow"), f"{node}: {line}"))


def cmd_status(args: argparse.Namespace) -> int:
    host = docker_host()
    ids = [args.lab] if args.lab else list(_running_labs())
    if not ids:
        if args.json:
            print("[]")
        else:
            console.print("no lab is up")
        return 0
    sts = [Lab.attach(host, i).status() for i in ids]
    if args.json:
        print(json.dumps(sts if len(sts) > 1 or not args.lab else sts[0], indent=2))
    else:
        for st in sts:
            _print_status(st)
    return 0


def _node_of(lab_id: str | None, name: str) -> Node:
    lab = Lab.attach(docker_host(), _pick_lab(lab_id))
    try:
        return lab.node(name)
    except KeyError as exc:
        raise HalabError(str(exc.args[0])) from None


def cmd_exec(args: argparse.Namespace) -> int:
    """A shell, or one command, in a node: through the docker CLI when there is one (it
    owns the terminal: raw mode, window size, Ctrl-C go to the node), else through the
    SDK for a command (output printed once it ends)."""
    node = _node_of(args.lab, args.node)
    argv = list(args.cmd) or ["bash", "-l"]
    cli = shutil.which("docker")
    if cli is not None:
        tty = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
        env = dict(os.environ, DOCKER_HOST=docker_host().effective_url)
        sys.stdout.flush()
        os.execvpe(cli, [cli, "exec", *tty, node.container.id, *argv], env)
    if not args.cmd:
        raise HalabError("a shell needs the docker CLI (not found); give a command instead")
    res = node.exec(argv)
    sys.stdout.write(res.output)
    return res.exit_code


LOG_DIR = "/var/log/halab"


def cmd_logs(args: argparse.Namespace) -> int:
    """A node's logs: with no service, the container's output and every service log; with
    one, that service's logs (``vrrp`` is the VRRP engine's, keepalived or halab-vrrpd)."""
    node = _node_of(args.lab, args.node)
    if args.service is None and not args.follow:
        console.print(Text(node.logs(tail=args.lines)))
        return 0
    own = sorted(services.SERVICES)  # their own log folders: /var/log/nginx/, ...
    # non-empty files only: every service script of the image leaves a start log, empty
    # when it had nothing to start (25-checker on a balancer that is no LVS director)
    globs = " ".join([f"{LOG_DIR}/*.log", *(f"/var/log/{s}/*.log" for s in own)])
    listing = node.exec(f'for f in {globs}; do [ -s "$f" ] && echo "$f"; done; true').output.split()

    def service_of(path: str) -> str:
        if not path.startswith(f"{LOG_DIR}/"):
            return path.split("/")[3]  # /var/log/nginx/error.log
        stem = path.removeprefix(f"{LOG_DIR}/").removesuffix(".log").removesuffix(".start")
        return re.sub(r"^\d+-", "", stem)  # 20-nginx.start.log: the image's start script's

    if args.service is None:
        files = listing
    else:
        files = [f for f in listing if service_of(f) == args.service]
        if not files:
            names = ", ".join(sorted({service_of(f) for f in listing})) or "none"
            raise HalabError(
                f"no logs of {args.service!r} on {node.name}; services with logs: {names}"
            )
    tail = ["tail", "-n", str(args.lines), *(["-F"] if args.follow else []), *files]
    if not args.follow:
        console.print(Text(node.exec(tail).output))
        return 0
    _code, stream = node.container.exec_run(tail, stream=True)
    for chunk in stream:
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    host = docker_host()
    ids = list(_running_labs()) if args.all else [_pick_lab(args.lab)]
    for lab_id in ids:
        remove_lab(host, lab_id)
        console.print(Text(f"lab {lab_id} removed"))
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    removed, spared = clean(docker_host(), in_use_too=args.all)
    console.print(
        Text(f"removed {len(removed)} lab(s){': ' + ', '.join(removed) if removed else ''}")
    )
    if spared:
        console.print(
            Text(
                f"spared {len(spared)} lab(s) a running test session or bench is using: "
                f"{', '.join(spared)} (`halab clean --all` removes them too)"
            )
        )
    return 0


def cmd_ls(_args: argparse.Namespace) -> int:
    labs = _running_labs()
    for lab_id, labels in labs.items():
        kept = "kept" if labels.get(L_KEEP) == "1" else "owned by a test run"
        console.print(Text(f"{labels.get(L_LAB, lab_id)}  {labels.get(L_TOPOLOGY, '?')}  ({kept})"))
    if not labs:
        console.print("no lab is up")
    return 0


def cmd_topologies(_args: argparse.Namespace) -> int:
    for name in topology.available():
        t = topology.load(name)
        console.print(Text.assemble((name, "bold"), "  ", t.spec.description))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .baseline import dumps, load
    from .bench import FAULTS, bench_conditions, bench_gate, run_bench
    from .poolbench import POOL_FAULTS

    topo = topology.load(args.topology)
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
    if args.measure is not None:
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
    out = _writable(args.json)
    save_to = _writable(args.save_baseline, "--save-baseline")
    gate: BenchGate | None = None
    if args.baseline is not None:
        try:
            base = load(args.baseline)
        except BaselineError as exc:
            raise BaselineError(f"--baseline {exc}") from None
        vip = args.vip or next(iter(topo.spec.vips))
        conditions = bench_conditions(vip, phase, probe_ms / 1000)
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
        progress=_timed(t0, "7.1f"),
        phase=phase,
        probe_interval=probe_ms / 1000,
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
        code = EXIT_NO_MOVE
        console.print(
            Text(f"exit status {code}: in some run the fault moved no VIP (no failover figures)"),
            soft_wrap=True,
        )
    if save_to is not None:
        if _write_text(save_to, dumps(res.baseline()), "the baseline"):
            console.print(Text(f"baseline written to {save_to}"))
        else:
            code = code or 1
    if out is not None:
        if _write_json(out, res.as_dict()):
            console.print(Text(f"runs and summary written to {out}"))
        else:
            code = code or 1
    return code


def _bench_pool(
    args: argparse.Namespace, topo: topology.Topology, engines: list[str], faults: list[str]
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
    out = _writable(args.json)
    interval = args.probe_interval / 1000 if args.probe_interval else PROBE_INTERVAL_S
    t0 = time.monotonic()
    res = run_pool_bench(
        topo,
        engines,
        faults,
        args.runs,
        vip=args.vip,
        target=args.target,
        progress=_timed(t0, "7.1f"),
        probe_interval=interval,
    )
    console.print(tables.pool_table(res))
    for line in res.incomplete_lines():
        console.print(Text(line), soft_wrap=True)
    code = 0
    if not res.all_complete:
        code = EXIT_NO_MOVE
        console.print(
            Text(f"exit status {code}: in some run the pool did not change (no figures)"),
            soft_wrap=True,
        )
    if out is not None:
        if _write_json(out, res.as_dict()):
            console.print(Text(f"runs and summary written to {out}"))
        else:
            code = code or 1
    return code


def _bench_director(args: argparse.Namespace, topo: topology.Topology, engines: list[str]) -> int:
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
    out = _writable(args.json)
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
        progress=_timed(t0, "7.1f"),
    )
    if res.latency:
        console.print(tables.latency_table(res))
    if res.churn:
        console.print(tables.churn_table(res))
    code = 0
    if not all(c.complete for c in res.churn):
        code = EXIT_NO_MOVE
        console.print(Text(f"exit status {code}: the pool did not change as asked"))
    if out is not None:
        if _write_json(out, res.as_dict()):
            console.print(Text(f"results written to {out}"))
        else:
            code = code or 1
    return code


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
        console.print(Text(text), soft_wrap=True)

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


def _writable(name: str | None, option: str = "--json") -> Path | None:
    """An output file, checked before any run: a bench that took minutes is not lost to a
    typo. Creates nothing (a file made to test is removed), truncates nothing."""
    if name is None:
        return None
    path = Path(name)
    try:
        if path.is_dir():
            raise HalabError(f"{option} {name}: is a directory")
        if path.exists():
            with path.open("a"):
                pass
        else:
            with path.open("x"):
                pass
            path.unlink()
    except OSError as exc:
        raise HalabError(f"{option} {name}: cannot write: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the name
        raise HalabError(f"{option} {name!r}: cannot write: {exc}") from None
    return path


def _write_json(path: Path, doc: dict[str, Any]) -> bool:
    """Write the results; if that fails now, print them on stdout rather than lose them."""
    return _write_text(path, json.dumps(doc, indent=1) + "\n", "the JSON")


def _write_text(path: Path, text: str, what: str) -> bool:
    """Write ``text``; if that fails now, print it on stdout rather than lose it."""
    try:
        path.write_text(text)
    except OSError as exc:
        print(text, end="")
        err.print(
            Text.assemble(
                ("halab: error:", "red"),
                f" could not write {path} ({exc.strerror or exc}); {what} is above, on stdout",
            )
        )
        return False
    return True


def _print_bench(res: Any) -> None:
    """The bench's table, the engines' ratios, and one line per engine and fault whose VIP
    did not move in some run."""
    console.print(tables.bench_table(res))
    ratios = tables.ratio_table(res)
    if ratios is not None:
        console.print(ratios)
    for line in res.no_move_lines():
        console.print(Text(line), soft_wrap=True)


def cmd_soak(args: argparse.Namespace) -> int:
    from .soak import run_soaks

    topo = topology.load(args.topology)
    engines_asked = [e.strip() for e in args.vrrp.split(",") if e.strip()]
    if not engines_asked or any(e not in ("keepalived", "halab") for e in engines_asked):
        raise HalabError("--vrrp must be keepalived, halab or both (keepalived,halab)")
    if len(set(engines_asked)) != len(engines_asked):
        raise HalabError("--vrrp names an engine twice")
    if not 1 <= args.seconds <= 3600:
        raise HalabError("--seconds must be between 1 and 3600")
    if not 0 <= args.busy <= 16:
        raise HalabError("--busy must be between 0 and 16")
    out = _writable(args.json)
    results = run_soaks(
        topo, engines_asked, args.seconds, busy=args.busy, progress=lambda m: err.print(Text(m))
    )
    for res in results:
        console.print(tables.soak_table(res))
    if len(results) > 1:
        console.print(tables.soak_comparison(results))
    # one engine: its result, as before; several: each, in --vrrp's order
    data = results[0].as_dict() if len(results) == 1 else {"soaks": [r.as_dict() for r in results]}
    if out is not None and not _write_json(out, data):
        return 1
    return 0 if all(r.spurious == 0 for r in results) else 1


def cmd_lint(args: argparse.Namespace) -> int:
    """Exit 0: no findings; 1: findings; 2: input that cannot be read."""
    from . import lint
    from .lint import output

    if args.rules:
        for rid, text in lint.RULES.items():
            print(f"{rid:22} {text}")
        return 0
    try:
        checked, findings = lint.lint(args.targets, args.root)
    except lint.LintInputError as exc:
        err.print(Text.assemble(("halab lint: ", "red"), str(exc)))
        return 2
    if args.format == "json":
        text = output.as_json(findings, checked)
    elif args.format == "sarif":
        from . import __version__

        text = output.as_sarif(findings, __version__)
    else:
        text = output.as_text(findings, checked)
    if args.output:
        if not _write_text(Path(args.output), text, "lint report"):
            return 2
    else:
        sys.stdout.write(text)
    return 1 if findings else 0


def cmd_schema(_args: argparse.Namespace) -> int:
    print(topology.json_schema())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="halab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    img = sub.add_parser("images", help="lab images")
    isub = img.add_subparsers(dest="images_command", required=True)
    b = isub.add_parser("build", help="build the images that are missing or stale")
    b.add_argument("--rebuild", action="store_true", help="rebuild even if up to date")
    b.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"only these images and their parents ({', '.join(s.name for s in images.SPECS)})",
    )
    b.set_defaults(func=cmd_images_build)
    cp = isub.add_parser(
        "copy",
        help="copy the images from this engine (DOCKER_HOST) to other engines (save/load, "
        "only those they lack; built here first if needed)",
    )
    cp.add_argument("urls", nargs="+", metavar="URL", help="tcp://, ssh:// or unix:// URL")
    cp.set_defaults(func=cmd_images_copy)
    up = sub.add_parser("up", help="bring a lab up and leave it running")
    up.add_argument("topology", help="topology name or path to a .yaml file")
    up.add_argument(
        "--vrrp",
        default=None,
        metavar="ENGINE|NODE=ENGINE,...",
        help="VRRP engine on the balancers (keepalived or halab; default: the topology's), "
        "or per node for an interop lab: lb1=halab,lb2=keepalived",
    )
    up.set_defaults(func=cmd_up)
    st = sub.add_parser("status", help="nodes, addresses and VIP holders of running labs")
    st.add_argument("--lab", help="lab id (default: every lab)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
    ex = sub.add_parser(
        "exec", help="a shell in a node, or one command: halab exec lb1 ip -br addr"
    )
    ex.add_argument("--lab", help="lab id (default: the only lab up)")
    ex.add_argument("node", help="node name (client, lb1, web1, ...)")
    ex.add_argument("cmd", nargs=argparse.REMAINDER, help="command (default: a login shell)")
    ex.set_defaults(func=cmd_exec)
    lg = sub.add_parser("logs", help="a node's logs, or one service's (vrrp, nginx, ...)")
    lg.add_argument("--lab", help="lab id (default: the only lab up)")
    lg.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    lg.add_argument(
        "-n", "--lines", type=int, default=200, help="last lines of each log (default 200)"
    )
    lg.add_argument("node", help="node name")
    lg.add_argument(
        "service", nargs="?", help="vrrp (the VRRP engine), nginx, ... (default: every log)"
    )
    lg.set_defaults(func=cmd_logs)
    dn = sub.add_parser("down", help="remove a lab")
    dn.add_argument("--lab", help="lab id (default: the only lab up)")
    dn.add_argument("--all", action="store_true", help="every lab that is up")
    dn.set_defaults(func=cmd_down)
    cl = sub.add_parser(
        "clean",
        help="remove every lab and helper the project labelled on the engine (DOCKER_HOST), "
        "except those a running test session or bench uses",
    )
    cl.add_argument(
        "--all", action="store_true", help="also remove labs that running processes use"
    )
    cl.set_defaults(func=cmd_clean)
    sub.add_parser("ls", help="list labs").set_defaults(func=cmd_ls)
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
        "kill_nginx, sigterm_vrrp, link_down (failover bench); stop_web, kill_web, hang_web, "
        "firewall_web, web_error, refuse_checks (pool bench, LVS topologies)",
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
    bn.set_defaults(func=cmd_bench)
    sk = sub.add_parser(
        "soak",
        help="leave a lab untouched under observation: spurious "
        "transitions, advert timing, engine CPU and memory",
    )
    sk.add_argument("topology", nargs="?", default="nginx_master_backup")
    sk.add_argument(
        "--vrrp",
        default="halab",
        help="keepalived, halab, or both side by side (keepalived,halab): one lab each, "
        "soaked over the same window",
    )
    sk.add_argument("--seconds", type=float, default=60.0)
    sk.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="N",
        help="N CPU-bound loops beside the labs for the whole window (0-16, default 0)",
    )
    sk.add_argument("--json", default=None, metavar="FILE")
    sk.set_defaults(func=cmd_soak)
    li = sub.add_parser(
        "lint",
        help="what will go wrong across the balancers' keepalived.conf (split brain, "
        "failovers that cannot happen)",
        description="Read every balancer's keepalived.conf together and report what will "
        "go wrong across nodes, each at the line to fix. Exit 0: no findings, 1: findings, "
        "2: input that cannot be read.",
    )
    li.add_argument(
        "targets", nargs="*", metavar="TOPOLOGY | FILE", help="a topology, or one file a node"
    )
    li.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    li.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    li.add_argument(
        "--root",
        metavar="DIR",
        help="files: look their scripts up under DIR (a copy of the node's file system), "
        "not on this machine",
    )
    li.add_argument("--rules", action="store_true", help="list the rules and exit")
    li.set_defaults(func=cmd_lint)
    sub.add_parser("topologies", help="list shipped topologies").set_defaults(func=cmd_topologies)
    sub.add_parser("schema", help="print the topology JSON schema").set_defaults(func=cmd_schema)
    return p


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _drop_output() -> None:
    """After a closed pipe: further output (and the flush at exit) goes to /dev/null, so
    `halab schema | head` ends quietly, as `cat` would."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # captured streams
            os.dup2(devnull, stream.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    previous = signal.signal(signal.SIGTERM, _sigterm)  # clean up like Ctrl-C
    try:
        try:
            args = build_parser().parse_args(argv)  # --help and usage errors: SystemExit
            return int(args.func(args))
        except HalabError as exc:
            err.print(Text.assemble(("halab: error:", "red"), " ", str(exc)))
            for note in getattr(exc, "__notes__", []):
                err.print(Text(str(note)))
            return 2
        except KeyboardInterrupt:
            err.print("halab: interrupted; what was started has been removed")
            return 130
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:
        _drop_output()
        return EXIT_BROKEN_PIPE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())

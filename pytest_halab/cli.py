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
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import benchcmd, cliout, tables
from . import engines as engines_mod
from .baseline import DEFAULT_MAX_REGRESSION_PCT
from .benchcmd import EXIT_NO_MOVE, EXIT_REGRESSION
from .errors import HalabError
from .labels import L_KEEP, L_LAB, L_TOPOLOGY

if TYPE_CHECKING:
    from .dockerhost import DockerHost
    from .nodes import Node

# Each command loads what it needs (the lab, the topology and its YAML, Docker's SDK): `halab
# -h`, a mistyped command and `halab exec` do not wait for the rest.


def docker_host() -> DockerHost:
    from .dockerhost import from_env

    return from_env()


__all__ = [
    "DEFAULT_MAX_REGRESSION_PCT",
    "EXIT_BROKEN_PIPE",
    "EXIT_NO_MOVE",
    "EXIT_REGRESSION",
    "build_parser",
    "main",
]

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a command killed by SIGPIPE


def cmd_images_build(args: argparse.Namespace) -> int:
    from . import images

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
        progress=cliout.progress,
        rootfs_tar=args.rootfs_tar,
    )
    table = Table(title="halab images")
    for col in ("image", "tag", "action", "seconds"):
        table.add_column(col)
    for b in built.values():
        state = "built" if b.built else "cached"
        table.add_row(*tables.cells(b.name, b.tag, state, f"{b.seconds:.1f}"))
    cliout.console.print(table)
    cliout.console.print(f"images ready in {time.monotonic() - t0:.1f} s")
    return 0


def cmd_images_copy(args: argparse.Namespace) -> int:
    """Build (or find) the images on the environment's engine and copy them to each URL."""
    from . import images
    from .dockerhost import DockerHost
    from .settings import parse_docker_hosts

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
        images.ensure_on(target, progress=cliout.progress)
        cliout.console.print(Text(f"images ready on {url}"))
    cliout.console.print(f"done in {time.monotonic() - t0:.1f} s")
    return 0


def _running_labs() -> dict[str, dict[str, str]]:
    from .sweep import lab_ids

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
    from . import topology
    from .lab import Lab

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
        progress=cliout.timed(t0, "6.2f"),
        strict=False,  # a VIP elsewhere than `master:` says: the lab stays, status says why
    )
    lab.start()
    cliout.console.print(
        f"lab [bold]{escape(lab.lab_id)}[/bold] up in {time.monotonic() - t0:.2f} s "
        f"(images {lab.timings['images']:.2f} s, containers to ready {lab.timings['up']:.2f} s)"
    )
    _print_status(lab.status())
    return 0


def _print_status(st: dict[str, Any]) -> None:
    cliout.console.print(
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
    cliout.console.print(nodes)
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
    cliout.console.print(vips)
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
        cliout.console.print(insts)
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
        cliout.console.print(checks)
        for c in st["checkers"]:
            for note in c.get("approximations", []):
                cliout.console.print(
                    Text.assemble(("approximation: ", "yellow"), f"{c['node']}: {note}")
                )
    for v in st["vips"]:
        if v.get("why"):
            cliout.console.print(Text.assemble(("why: ", "yellow"), v["why"]))
    for node, lines in st.get("warnings", {}).items():
        for line in lines:
            cliout.console.print(Text.assemble(("warning: ", "yellow"), f"{node}: {line}"))


def cmd_status(args: argparse.Namespace) -> int:
    from .lab import Lab

    host = docker_host()
    ids = [args.lab] if args.lab else list(_running_labs())
    if not ids:
        if args.json:
            print("[]")
        else:
            cliout.console.print("no lab is up")
        return 0
    sts = [Lab.attach(host, i).status() for i in ids]
    if args.json:
        print(json.dumps(sts if len(sts) > 1 or not args.lab else sts[0], indent=2))
    else:
        for st in sts:
            _print_status(st)
    return 0


def _node_of(lab_id: str | None, name: str) -> Node:
    from .lab import Lab

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
    from . import services

    node = _node_of(args.lab, args.node)
    if args.service is None and not args.follow:
        cliout.console.print(Text(node.logs(tail=args.lines)))
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
        cliout.console.print(Text(node.exec(tail).output))
        return 0
    _code, stream = node.container.exec_run(tail, stream=True)
    for chunk in stream:
        sys.stdout.write(chunk.decode(errors="replace"))
        sys.stdout.flush()
    return 0


def _say_spared(spared: list[str], how: str) -> None:
    if spared:
        cliout.console.print(
            Text(
                f"spared {len(spared)} lab(s) a running test session or bench is using: "
                f"{', '.join(spared)} ({how})"
            )
        )


def cmd_down(args: argparse.Namespace) -> int:
    from .sweep import in_use, remove_lab

    host = docker_host()
    if args.all:
        # a lab a running test session or bench uses is its own: spared, as `clean` does
        labs = _running_labs()
        ids = [i for i, labels in labs.items() if not in_use(labels)]
        spared = [i for i in labs if i not in ids]
    else:
        ids, spared = [_pick_lab(args.lab)], []
    for lab_id in ids:
        remove_lab(host, lab_id)
        cliout.console.print(Text(f"lab {lab_id} removed"))
    _say_spared(spared, "`halab down --lab ID` removes one")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from .sweep import clean

    done = clean(docker_host(), in_use_too=args.all)
    removed, spared = done.removed, done.spared
    cliout.console.print(
        Text(f"removed {len(removed)} lab(s){': ' + ', '.join(removed) if removed else ''}")
    )
    _say_spared(spared, "`halab clean --all` removes them too")
    for lab_id, why in done.failed.items():
        cliout.err.print(
            Text(
                f"halab clean: lab {lab_id} could not be removed: {why} (a network the "
                "engine keeps with no container left is freed by restarting that dockerd; "
                "then run `halab clean` again)"
            )
        )
    return 1 if done.failed else 0


def cmd_ls(_args: argparse.Namespace) -> int:
    labs = _running_labs()
    for lab_id, labels in labs.items():
        kept = "kept" if labels.get(L_KEEP) == "1" else "owned by a test run"
        cliout.console.print(
            Text(f"{labels.get(L_LAB, lab_id)}  {labels.get(L_TOPOLOGY, '?')}  ({kept})")
        )
    if not labs:
        cliout.console.print("no lab is up")
    return 0


def cmd_topologies(_args: argparse.Namespace) -> int:
    from . import topology

    for name in topology.available():
        t = topology.load(name)
        cliout.console.print(Text.assemble((name, "bold"), "  ", t.spec.description))
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    from . import topology
    from .busyloops import BUSY_MAX
    from .soak import run_soaks

    topo = topology.load(args.topology)
    engines_asked = [e.strip() for e in args.vrrp.split(",") if e.strip()]
    if not engines_asked or any(e not in ("keepalived", "halab") for e in engines_asked):
        raise HalabError("--vrrp must be keepalived, halab or both (keepalived,halab)")
    if len(set(engines_asked)) != len(engines_asked):
        raise HalabError("--vrrp names an engine twice")
    if not 1 <= args.seconds <= 3600:
        raise HalabError("--seconds must be between 1 and 3600")
    if not 0 <= args.busy <= BUSY_MAX:
        raise HalabError(f"--busy must be between 0 and {BUSY_MAX}")
    out = cliout.writable(args.json)
    results = run_soaks(
        topo,
        engines_asked,
        args.seconds,
        busy=args.busy,
        progress=lambda m: cliout.err.print(Text(m)),
    )
    for res in results:
        cliout.console.print(tables.soak_table(res))
    if len(results) > 1:
        cliout.console.print(tables.soak_comparison(results))
    # one engine: its result, as before; several: each, in --vrrp's order
    data = results[0].as_dict() if len(results) == 1 else {"soaks": [r.as_dict() for r in results]}
    if out is not None and not cliout.write_json(out, data):
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
        cliout.err.print(Text.assemble(("halab lint: ", "red"), str(exc)))
        return 2
    if args.format == "json":
        text = output.as_json(findings, checked)
    elif args.format == "sarif":
        from . import __version__

        text = output.as_sarif(findings, __version__)
    else:
        text = output.as_text(findings, checked)
    if args.output:
        if not cliout.write_text(Path(args.output), text, "lint report"):
            return 2
    else:
        sys.stdout.write(text)
    return 1 if findings else 0


def cmd_schema(_args: argparse.Namespace) -> int:
    from . import topology

    print(topology.json_schema())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .images import SPECS as IMAGE_SPECS

    p = argparse.ArgumentParser(prog="halab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    img = sub.add_parser("images", help="lab images")
    isub = img.add_subparsers(dest="images_command", required=True)
    b = isub.add_parser("build", help="build the images that are missing or stale")
    b.add_argument("--rebuild", action="store_true", help="rebuild even if up to date")
    b.add_argument(
        "--rootfs-tar",
        type=Path,
        metavar="FILE",
        help="Debian's root file system to import when the engine has no root image, made "
        "beforehand by `python3 -m pytest_halab.rootfs FILE` (made now when FILE is absent)",
    )
    b.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"only these images and their parents ({', '.join(s.name for s in IMAGE_SPECS)})",
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
    dn.add_argument(
        "--all",
        action="store_true",
        help="every lab that is up, but those a running test session or bench uses",
    )
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
    benchcmd.add_parser(sub)
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
            cliout.err.print(Text.assemble(("halab: error:", "red"), " ", str(exc)))
            for note in getattr(exc, "__notes__", []):
                cliout.err.print(Text(str(note)))
            return 2
        except KeyboardInterrupt:
            cliout.err.print("halab: interrupted; what was started has been removed")
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

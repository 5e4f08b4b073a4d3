"""What `halab lint` reads: every balancer's keepalived.conf, parsed, with what is known
of the node it runs on (its address, its subnet, which script paths exist there).

From a topology, the balancers' templates are rendered with sample addresses (rendering
keeps lines, so every line named is the template's) and a script exists when the node's
files or the balancer image provide it. From files given on the command line, each file is
one balancer as it would run on this machine, or under ``root`` (a copy of the target's
file system): its scripts are looked up there, as keepalived looks them up.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import topology as topo_mod
from ..errors import TopologyError
from ..scriptpaths import IMAGE_SCRIPTS, SYSTEM_DIRS
from ..vrrp.conf import FATAL_STATUSES, config_test_exit_status, load_config
from ..vrrp.conf.diagnostics import Diagnostic
from ..vrrp.conf.model import KeepalivedConfig

__all__ = ["IMAGE_SCRIPTS", "Balancer", "LintInputError", "from_files", "from_topology"]


class LintInputError(Exception):
    """Input lint cannot read (exit status 2): the message names the file and line."""


# A script's standing on the node: "ok", "missing", "not executable", or None (unknown).
ScriptCheck = Callable[[str], str | None]


@dataclass
class Balancer:
    """One balancer's configuration under lint."""

    name: str  # the topology's node name, else the router_id or the file's name
    file: str  # the file findings name (a topology's template, or the file given)
    cfg: KeepalivedConfig
    diags: list[Diagnostic] = field(default_factory=list)
    address: ipaddress.IPv4Address | None = None
    subnet: ipaddress.IPv4Network | None = None
    check_script: ScriptCheck = lambda _path: None
    # the topology's view: VIP address -> its name in the topology (for messages)
    vip_names: dict[str, str] = field(default_factory=dict)
    # addresses are a sample (a topology's lab gets its subnet at start): not shown
    sample: bool = False

    rendered: str = ""  # the file parsed, when not `file` itself (a rendered template)

    def where(self, file: str, line: int) -> tuple[str, int]:
        """A place in this balancer's config, a rendered file named by its template."""
        return (self.file if file in (self.rendered, "") else file), line


def _parse(
    path: Path,
    shown: str,
    check_scripts: bool,
    interfaces: Mapping[str, bool] | None = None,
    config_id: str | None = None,
) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    """The file as keepalived would run it; LintInputError where keepalived would not run
    it at all (a fatal error, or parsing stopped: ``-t`` exits 4 or 2; or an error its
    VRRP process stops on at start-up although ``-t`` exits 5). Other errors are kept:
    keepalived runs such a file, and lint reports them (rule config-error)."""
    known = {"eth0": False, "lo": True} if interfaces is None else interfaces
    cfg, diags = load_config(
        path, interfaces=known, check_scripts=check_scripts, config_id=config_id
    )
    if config_test_exit_status(diags) in FATAL_STATUSES or not cfg.runs:
        errors = [d for d in diags if d.severity != "warning"]
        text = "\n".join(f"{shown}:{d.line}: {d.message}" for d in errors)
        raise LintInputError(f"{shown}: keepalived would not run this file:\n{text}")
    return cfg, diags


def from_topology(name_or_path: str) -> tuple[str, list[Balancer]]:
    """The balancers of a topology (its name and theirs); LintInputError if it does not
    load (the topology's own error: file, line and field)."""
    try:
        topo = topo_mod.load(name_or_path)
    except TopologyError as exc:
        raise LintInputError(str(exc)) from None
    addr = topo.addressing(topo_mod.SAMPLE_SUBNET, topo_mod.SAMPLE_SUBNET6)
    out = []
    for node in topo.balancers:
        files = topo.spec.nodes[node].files
        if topo_mod.KEEPALIVED_CONF not in files:
            continue
        rendered = topo.render_files(node, addr)
        template = str((topo.path.parent / files[topo_mod.KEEPALIVED_CONF].template).resolve())
        with tempfile.TemporaryDirectory(prefix="halab-lint-") as tmp:
            conf = Path(tmp) / "keepalived.conf"
            conf.write_bytes(rendered[topo_mod.KEEPALIVED_CONF].data)
            cfg, diags = _parse(conf, template, check_scripts=False, config_id=node)
        modes = {dest: f.mode for dest, f in rendered.items()}
        bal = Balancer(
            name=node,
            file=template,
            cfg=cfg,
            diags=diags,
            address=addr.nodes[node],
            subnet=addr.subnet,
            check_script=_node_scripts(modes),
            vip_names={str(ip): v for v, ip in addr.vips.items()},
            sample=True,
            rendered=str(conf),
        )
        out.append(bal)
    return topo.name, out


def _node_scripts(modes: dict[str, int]) -> ScriptCheck:
    def check(path: str) -> str | None:
        if path in modes:
            return "ok" if modes[path] & 0o111 else "not executable"
        if path in IMAGE_SCRIPTS:
            return "ok"
        if not path.startswith("/") or path.startswith(SYSTEM_DIRS):
            return None
        return "missing"

    return check


def from_files(paths: Sequence[str], root: str | None = None) -> list[Balancer]:
    """Each file one balancer; its scripts looked up on this machine, or under ``root``.

    A balancer is named by its router_id when every file has its own, else by its file's
    name (two nodes copied from one file often share a router_id; the router-id-shared
    rule says so)."""
    parsed: list[tuple[Path, KeepalivedConfig, list[Diagnostic]]] = []
    given: set[Path] = set()
    for p in paths:
        path = Path(p)
        if path.resolve() in given:
            raise LintInputError(f"{p}: given twice (each file is one balancer)")
        given.add(path.resolve())
        if not path.is_file():
            raise LintInputError(f"{p}: no such file")
        cfg, diags = _parse(path, p, check_scripts=False, interfaces=_NodeInterfaces())
        parsed.append((path, cfg, diags))
    names = [cfg.global_defs.router_id for _path, cfg, _diags in parsed]
    if None in names or len(set(names)) < len(names):
        names = [path.stem for path, _cfg, _diags in parsed]
        if len(set(names)) < len(names):
            names = [str(path) for path, _cfg, _diags in parsed]
    return [
        Balancer(
            name=str(name),
            file=str(path),
            cfg=cfg,
            diags=diags,
            address=_own_address(cfg),
            check_script=_host_scripts(root),
        )
        for name, (path, cfg, diags) in zip(names, parsed, strict=True)
    ]


class _NodeInterfaces(Mapping[str, bool]):
    """Every interface a file names exists (they are its node's, not this machine's: a
    file from a server names ens192 or bond0); only ``lo`` is a loopback."""

    def __getitem__(self, name: str) -> bool:
        return name == "lo"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __iter__(self) -> Iterator[str]:
        return iter(("lo",))

    def __len__(self) -> int:
        return 1


def _own_address(cfg: KeepalivedConfig) -> ipaddress.IPv4Address | None:
    """The node's address as its config shows it (unicast_src_ip, else mcast_src_ip)."""
    for inst in cfg.instances.values():
        for text in (inst.unicast_src_ip, inst.mcast_src_ip):
            if text:
                try:
                    ip = ipaddress.ip_address(text)
                except ValueError:
                    continue
                if isinstance(ip, ipaddress.IPv4Address):
                    return ip
    return None


def _host_scripts(root: str | None) -> ScriptCheck:
    def check(path: str) -> str | None:
        if not path.startswith("/"):
            return None  # found through PATH by keepalived: not judged
        full = os.path.join(root, path.lstrip("/")) if root else path
        if not os.path.exists(full):
            return "missing"
        if not os.path.isfile(full) or not os.stat(full).st_mode & 0o111:
            return "not executable"
        return "ok"

    return check

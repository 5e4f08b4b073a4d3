"""Topology files: YAML describing a lab, validated into frozen models before anything runs.

A topology names its nodes (role and host number inside the lab's subnet), the virtual IPs
(host number and the balancer expected to hold each at steady state), and per node the
config files to install, which are plain files beside the topology rendered with the lab's
addresses (``{{ lb1.ip }}``, ``{{ vip.VI_1 }}``, ``{{ self.ip }}``, ``{{ prefixlen }}``...).

Loading does all checks, including rendering every config file against a sample subnet, so
a bad file is refused with its file, field and line before any container starts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import engines
from .errors import TopologyError

REPO_ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY_DIRS_ENV = "HALAB_TOPOLOGY_PATH"
SAMPLE_SUBNET = ipaddress.IPv4Network("192.0.2.0/24")  # TEST-NET-1: only for validation
RESERVED_HOSTS = {0, 1, 255}  # network, Docker's gateway, broadcast (for a /24)


class Role(StrEnum):
    CLIENT = "client"
    BALANCER = "balancer"
    WEB = "web"


HostNumber = Annotated[int, Field(ge=2, le=254, description="host part of the node's address")]
NAME_RE = r"^[a-z][a-z0-9_-]{0,30}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NodeSpec(_Frozen):
    """One container of the lab."""

    role: Role
    host: HostNumber
    files: dict[str, str] = Field(
        default_factory=dict,
        description="absolute path in the node -> template file, relative to the topology",
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment")
    body: str | None = Field(
        default=None, description="web role: what '/' answers (seed 001: 1111, 2222)"
    )

    @field_validator("files")
    @classmethod
    def _absolute_destinations(cls, v: dict[str, str]) -> dict[str, str]:
        for dest in v:
            if not dest.startswith("/"):
                raise ValueError(f"destination {dest!r} must be an absolute path in the node")
        return v


class VipSpec(_Frozen):
    """A virtual IP address managed by VRRP."""

    host: HostNumber
    master: str = Field(description="balancer expected to hold the VIP once the lab settles")
    port: int = Field(default=80, ge=1, le=65535, description="port the client probes")


class TopologySpec(_Frozen):
    """The schema of a topology file."""

    name: str = Field(pattern=NAME_RE)
    description: str = ""
    vrrp_engine: str = Field(
        default=engines.DEFAULT,
        description="VRRP engine when --hal-vrrp is not given",
        json_schema_extra={"enum": list(engines.names())},
    )

    @field_validator("vrrp_engine")
    @classmethod
    def _known_engine(cls, v: str) -> str:
        engines.get(v)  # ValueError naming the known engines
        return v

    prefixlen: int = Field(default=24, ge=16, le=28, description="size of the lab's subnet")
    vars: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,30}$")], str] = Field(
        default_factory=dict,
        description="values for {{ var.NAME }} placeholders in config files",
    )
    nodes: dict[Annotated[str, Field(pattern=NAME_RE)], NodeSpec]
    vips: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,30}$")], VipSpec]

    @model_validator(mode="after")
    def _consistent(self) -> TopologySpec:
        seen: dict[int, str] = {}
        for name, node in self.nodes.items():
            if node.host in seen:
                raise ValueError(
                    f"nodes {seen[node.host]} and {name} share host number {node.host}"
                )
            seen[node.host] = name
        for vname, vip in self.vips.items():
            if vip.host in seen:
                raise ValueError(
                    f"vip {vname} uses host number {vip.host} of node {seen[vip.host]}"
                )
            seen[vip.host] = f"vip {vname}"
            master = self.nodes.get(vip.master)
            if master is None or master.role is not Role.BALANCER:
                raise ValueError(f"vip {vname}: master {vip.master!r} is not a balancer node")
        roles = [n.role for n in self.nodes.values()]
        if roles.count(Role.CLIENT) != 1:
            raise ValueError("a topology needs exactly one client node")
        if Role.BALANCER not in roles:
            raise ValueError("a topology needs at least one balancer node")
        if 2 ** (32 - self.prefixlen) - 2 < max(seen):
            raise ValueError(f"host numbers do not fit a /{self.prefixlen} subnet")
        return self


@dataclass(frozen=True)
class VrrpBinding:
    """Which VRRP instance carries a VIP on its expected master."""

    instance: str
    vrid: int
    version: int
    advert_int: float


@dataclass(frozen=True)
class Topology:
    """A validated topology: the spec plus where it came from and its rendered files."""

    spec: TopologySpec
    path: Path
    vrrp: dict[str, VrrpBinding] = field(default_factory=dict)  # VIP name -> instance

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def balancers(self) -> list[str]:
        return [n for n, s in self.spec.nodes.items() if s.role is Role.BALANCER]

    def nodes_with_role(self, role: Role) -> list[str]:
        return [n for n, s in self.spec.nodes.items() if s.role is role]

    def addressing(self, subnet: ipaddress.IPv4Network) -> Addressing:
        hosts = list(subnet.hosts())
        if len(hosts) < 254 and max(
            [
                *(n.host for n in self.spec.nodes.values()),
                *(v.host for v in self.spec.vips.values()),
            ]
        ) > len(hosts):
            raise TopologyError(f"{self.path}: subnet {subnet} too small for this topology")
        base = int(subnet.network_address)
        return Addressing(
            subnet=subnet,
            gateway=ipaddress.IPv4Address(base + 1),
            nodes={n: ipaddress.IPv4Address(base + s.host) for n, s in self.spec.nodes.items()},
            vips={v: ipaddress.IPv4Address(base + s.host) for v, s in self.spec.vips.items()},
        )

    def render_files(self, node: str, addr: Addressing) -> dict[str, bytes]:
        """The node's config files with the lab's addresses filled in."""
        out: dict[str, bytes] = {}
        for dest, rel in self.spec.nodes[node].files.items():
            src = (self.path.parent / rel).resolve()
            out[dest] = render_template(
                src, _with_vars(_template_vars(node, addr), self.spec)
            ).encode()
        return out


@dataclass(frozen=True)
class Addressing:
    """Concrete addresses of a running (or sample) lab."""

    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    nodes: dict[str, ipaddress.IPv4Address]
    vips: dict[str, ipaddress.IPv4Address]


def _template_vars(node: str, addr: Addressing) -> dict[str, str]:
    v: dict[str, str] = {
        "subnet": str(addr.subnet),
        "prefixlen": str(addr.subnet.prefixlen),
        "netmask": str(addr.subnet.netmask),
        "broadcast": str(addr.subnet.broadcast_address),
        "gateway": str(addr.gateway),
        "interface": "eth0",
        "self.name": node,
        "self.ip": str(addr.nodes[node]),
    }
    for n, ip in addr.nodes.items():
        v[f"{n}.ip"] = str(ip)
    for n, ip in addr.vips.items():
        v[f"vip.{n}"] = str(ip)
    return v


def _with_vars(base: dict[str, str], spec: TopologySpec) -> dict[str, str]:
    return {**base, **{f"var.{k}": val for k, val in spec.vars.items()}}


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def render_template(path: Path, variables: dict[str, str]) -> str:
    """Fill ``{{ name }}`` placeholders; an unknown name is an error with file and line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read config template: {exc.strerror}") from exc
    lines = text.splitlines(keepends=True)
    for lineno, line in enumerate(lines, 1):
        for m in _PLACEHOLDER.finditer(line):
            if m.group(1) not in variables:
                known = ", ".join(sorted(variables))
                raise TopologyError(
                    f"{path}:{lineno}: unknown placeholder {{{{ {m.group(1)} }}}} (known: {known})"
                )
    return _PLACEHOLDER.sub(lambda m: variables[m.group(1)], text)


# ---------------------------------------------------------------- loading


def search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get(TOPOLOGY_DIRS_ENV, "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "lab" / "topologies", REPO_ROOT / "lab" / "topologies"]
    return dirs


def available() -> list[str]:
    names: set[str] = set()
    for d in search_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def resolve(name_or_path: str) -> Path:
    """A topology by name (searched in HALAB_TOPOLOGY_PATH, ./lab/topologies, the project's)
    or by path to a .yaml file."""
    p = Path(name_or_path)
    if p.suffix in {".yaml", ".yml"} or os.sep in name_or_path:
        if not p.is_file():
            raise TopologyError(f"{name_or_path}: no such topology file")
        return p.resolve()
    for d in search_dirs():
        cand = d / f"{name_or_path}.yaml"
        if cand.is_file():
            return cand.resolve()
    raise TopologyError(
        f"unknown topology {name_or_path!r}; available: {', '.join(available()) or 'none'}"
    )


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (deepest known)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == key:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            node = node.value[key] if key < len(node.value) else None
            if node is not None:
                line = node.start_mark.line + 1
        else:
            break
        if node is None:
            break
    return line


def _format_errors(path: Path, root: yaml.Node | None, exc: ValidationError) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("[")))
        field = ".".join(str(x) for x in loc) or "(top level)"
        line = _line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        msgs.append(f"{where}: {field}: {msg}")
    return "\n".join(msgs)


def load(name_or_path: str | Path) -> Topology:
    """Load and fully validate a topology; raises TopologyError naming file, line and field."""
    path = resolve(str(name_or_path))
    try:
        text = path.read_text()
    except OSError as exc:
        raise TopologyError(f"{path}: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise TopologyError(f"{where}: invalid YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise TopologyError(f"{path}:1: a topology file must be a mapping of fields")
    try:
        spec = TopologySpec.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(_format_errors(path, root, exc)) from None
    topo = Topology(spec=spec, path=path)
    # Every config file must exist and render: checked now, against a sample subnet.
    sample = topo.addressing(SAMPLE_SUBNET)
    for node, nspec in spec.nodes.items():
        for dest, rel in nspec.files.items():
            src = (path.parent / rel).resolve()
            if not src.is_file():
                line = _line_of(root, ("nodes", node, "files", dest))
                raise TopologyError(f"{path}:{line}: nodes.{node}.files.{dest}: no such file {src}")
        rendered = topo.render_files(node, sample)
        if nspec.role is Role.BALANCER and KEEPALIVED_CONF in rendered:
            src = (path.parent / nspec.files[KEEPALIVED_CONF]).resolve()
            bindings = _check_keepalived_conf(topo, node, src, rendered[KEEPALIVED_CONF], sample)
            for vname, vip in spec.vips.items():
                if vip.master == node and vname in bindings:
                    topo.vrrp[vname] = bindings[vname]
    return topo


KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"


def _check_keepalived_conf(
    topo: Topology, node: str, src: Path, text: bytes, sample: Addressing
) -> dict[str, VrrpBinding]:
    """The balancer's keepalived.conf as keepalived -t would judge it, and holding the VIPs
    the topology expects. Diagnostics point at the template (rendering keeps lines)."""
    from .vrrp.conf import config_test_exit_status, load_config

    with tempfile.TemporaryDirectory(prefix="halab-check-") as tmp:
        conf = Path(tmp) / "keepalived.conf"
        conf.write_bytes(text)
        # Scripts live in the image, not on this host: their existence is not checked here.
        cfg, diags = load_config(conf, interfaces={"eth0", "lo"}, check_scripts=False)
        status = config_test_exit_status(diags)
        if status != 0:
            lines = [f"{src}:{d.line}: {d.message}" for d in diags]
            raise TopologyError(
                f"{topo.path}: nodes.{node}.files.{KEEPALIVED_CONF}: keepalived.conf has "
                f"errors (keepalived -t would exit {status}):\n" + "\n".join(lines)
            )
    configured = {
        str(v.address): VrrpBinding(inst.name, inst.vrid or 0, inst.version, inst.advert_int)
        for inst in cfg.instances.values()
        for v in inst.vips
    }
    for vname, ip in sample.vips.items():
        if str(ip) not in configured:
            raise TopologyError(
                f"{topo.path}: vips.{vname}: address {{{{ vip.{vname} }}}} is in no "
                f"virtual_ipaddress block of {node}'s {src.name}"
            )
    return {vname: configured[str(ip)] for vname, ip in sample.vips.items()}


def json_schema() -> str:
    """The JSON schema of topology files, for editors and CI checks."""
    schema = TopologySpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-halab topology"
    return json.dumps(schema, indent=2)

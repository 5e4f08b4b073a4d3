"""Topology files: YAML describing a lab, validated into frozen models before anything runs.

A topology names its nodes (role and host number inside the lab's subnet), the virtual IPs
(host number and the balancer expected to hold each at steady state), and per node the
config files to install, which are plain files beside the topology rendered with the lab's
addresses (``{{ lb1.ip }}``, ``{{ vip.VI_1 }}``, ``{{ self.ip }}``, ``{{ prefixlen }}``...).
A topology may ask for IPv6 too (``ipv6: true``): the lab's network then also gets a ULA /64,
each node an IPv6 address whose last group is its host number written the same way
(host 10: ``PREFIX::10``, see :func:`ipv6_host`), and a VIP of ``family: 6`` an IPv6
address instead of an IPv4 one (``{{ self.ip6 }}``, ``{{ lb2.ip6 }}``, ``{{ subnet6 }}``).
Each file keeps its template's permission bits in the node, or takes the `mode` the topology
gives it: a check script must arrive executable, or keepalived quietly stops running it.

Loading does all checks, including rendering every config file against a sample subnet, so
a bad file is refused with its file, field and line before any container starts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from . import engines, yamldoc
from .directors import Directing, RealServerUse, read_virtual_servers
from .errors import TopologyError
from .topologyfiles import available as available  # topology.available(): the shipped names
from .topologyfiles import exists
from .topologyfiles import resolve as resolve  # topology.resolve(): a name or path to its file
from .yamldoc import short as _short

if TYPE_CHECKING:
    from .vrrp.conf.model import KeepalivedConfig

SAMPLE_SUBNET = ipaddress.IPv4Network("192.0.2.0/24")  # TEST-NET-1: only for validation
SAMPLE_SUBNET6 = ipaddress.IPv6Network("2001:db8::/64")  # documentation prefix: validation only
# The lab's IPv6 subnets: /64s of one ULA /48 whose global ID spells "halab" (68 61 6c 61 62),
# the subnet ID taken from the IPv4 subnet the lab got (see ipv6_subnet).
ULA_PREFIX = ipaddress.IPv6Network("fd68:616c:6162::/48")
RESERVED_HOSTS = {0, 1, 255}  # network, Docker's gateway, broadcast (for a /24)
MAX_FILE_BYTES = 1 << 20  # a topology file or a config template: far above any real one
MAX_PATH = 1024  # a path in `files:` (either side), in characters
MAX_PATH_PART = 255  # one component of such a path (NAME_MAX)
PSEUDO_FS = (Path("/proc"), Path("/sys"), Path("/dev"))  # files there may block or never end


class Role(StrEnum):
    CLIENT = "client"
    BALANCER = "balancer"
    WEB = "web"
    MAIL = "mail"  # the lab's SMTP server (halab/mail): what smtp_server {{ mail.ip }} reaches


HostNumber = Annotated[int, Field(ge=2, le=254, description="host part of the node's address")]
NAME_RE = r"^[a-z][a-z0-9_-]{0,30}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Located(ValueError):
    """A check of the whole topology that knows which field is wrong: `loc` is that field,
    below the model that raised (pydantic locates a model validator's error at the model
    itself, which would put a wrong VIP master at the file's first line)."""

    def __init__(self, message: str, loc: tuple[str | int, ...]) -> None:
        super().__init__(message)
        self.loc = loc


MAX_MODE = 0o7777
_MODE_RE = re.compile(r"(?:0o)?([0-7]+)")


def _parse_mode(value: Any) -> int:
    """Permission bits as a topology writes them: an octal string ("0755", "755") or an
    integer (YAML reads an unquoted 0755 as octal). Anything else is refused rather than
    guessed at: a wrong mode is what makes keepalived drop a check script without a word."""
    if isinstance(value, str):
        m = _MODE_RE.fullmatch(value)
        if m is None:
            raise ValueError(f'{_short(value)} is not an octal mode such as "0644" or "0755"')
        bits = int(m.group(1), 8)
    elif isinstance(value, int) and not isinstance(value, bool):
        bits = value
    else:
        raise ValueError(
            'must be an octal mode in quotes, such as "0755" (or leave mode out to keep '
            "the template's own mode)"
        )
    if not 0 <= bits <= MAX_MODE:
        shown = value if isinstance(value, str) or value < 0 else f"{value} (octal 0{value:o})"
        raise ValueError(f"{shown} is out of range: a mode goes from 0 to 07777")
    return bits


FileMode = Annotated[
    int | None,
    BeforeValidator(_parse_mode),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(0o)?0*[0-7]{1,4}$"},
                {"type": "integer", "minimum": 0, "maximum": MAX_MODE},
            ],
            "description": 'permission bits in the node, in octal: "0755" (quoted)',
        }
    ),
]


class FileSpec(_Frozen):
    """A config file of a node: its template and the mode it gets in the node."""

    template: str = Field(description="template file, relative to the topology")
    mode: FileMode = Field(
        default=None,
        description="permission bits in the node; default: the template's own (rwx bits)",
    )


def _short_form(value: Any) -> Any:
    """``DEST: TEMPLATE`` is ``DEST: {template: TEMPLATE}``."""
    if isinstance(value, str):
        return {"template": value}
    if not isinstance(value, dict):
        raise ValueError('must be a template path, or {template: PATH, mode: "0755"}')
    return value


FileEntry = Annotated[FileSpec, BeforeValidator(_short_form, json_schema_input_type=str | FileSpec)]


LAB_OWN_DIR = "/etc/halab/"  # the lab's own files in a node (engine, services, wrappers)


class NodeSpec(_Frozen):
    """One container of the lab."""

    role: Role
    host: HostNumber
    files: dict[str, FileEntry] = Field(
        default_factory=dict,
        description="absolute path in the node -> template file, relative to the topology "
        '(keeps the template\'s mode), or {template: PATH, mode: "0755"}',
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment")
    body: str | None = Field(
        default=None, description="web role: what '/' answers (seed 001: 1111, 2222)"
    )
    rt_runtime_us: int | None = Field(
        default=None,
        ge=1000,
        le=500000,
        description=(
            "a real-time CPU budget for the node (microseconds per second, its cgroup's "
            "cpu.rt_runtime_us) and CAP_SYS_NICE, so that keepalived's vrrp_rt_priority "
            "can give the VRRP engine SCHED_RR; the Docker engine must have a budget to "
            "share (dockerd --cpu-rt-runtime, which scripts/ensure-docker sets where the "
            "kernel has real-time group scheduling)"
        ),
    )

    @field_validator("files")
    @classmethod
    def _sane_paths(cls, v: dict[str, FileSpec]) -> dict[str, FileSpec]:
        for dest, file in v.items():
            if not dest.startswith("/"):
                raise ValueError(f"destination {_short(dest)} must be an absolute path in the node")
            if ".." in dest.split("/"):
                raise ValueError(f"destination {_short(dest)} must not contain '..'")
            if dest.endswith("/"):
                raise ValueError(f"destination {_short(dest)} must name a file, not a directory")
            normal = "/" + "/".join(x for x in dest.split("/") if x not in ("", "."))
            if dest != normal:
                # /etc/keepalived/./keepalived.conf is keepalived.conf in the node, but not
                # to the checks made here by path: one spelling per file
                raise ValueError(f"destination {_short(dest)} must be written {_short(normal)}")
            if dest.startswith(LAB_OWN_DIR):
                # the engine's name, a director's marker, the notify wrappers, the boot
                # scripts: a file of the user's there would be overwritten, or break the lab
                raise ValueError(
                    f"destination {_short(dest)} is in {LAB_OWN_DIR}, which the lab itself "
                    "writes in every node: choose another path"
                )
            for what, path in (("destination", dest), ("template", file.template)):
                if "\0" in path:
                    raise ValueError(f"{what} {_short(path)} contains a NUL character")
                if not path:
                    raise ValueError(f"{what} path is empty")
                if len(path) > MAX_PATH or max(len(x) for x in path.split("/")) > MAX_PATH_PART:
                    raise ValueError(
                        f"{what} {_short(path)} is too long (at most {MAX_PATH} characters, "
                        f"{MAX_PATH_PART} per component)"
                    )
        return v

    @field_validator("env")
    @classmethod
    def _sane_env(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not name or "=" in name or "\0" in name:
                raise ValueError(
                    f"variable name {_short(name)} must be non-empty, without '=' or NUL"
                )
            if "\0" in value:
                raise ValueError(f"value of {_short(name)} contains a NUL character")
        return v

    @field_validator("body")
    @classmethod
    def _sane_body(cls, v: str | None) -> str | None:
        if v is not None and "\0" in v:
            raise ValueError("contains a NUL character (it travels in an environment variable)")
        return v


def _bare(text: str, limit: int = 20) -> str:
    """A short value as the user wrote it (a number), else quoted and cut like _short."""
    return text if len(text) <= limit and text.isprintable() else _short(text)


class ConfigErrors(StrEnum):
    """Whether the lab runs keepalived.conf files that ``keepalived -t`` faults."""

    REFUSE = "refuse"
    RUN = "run"


class VipSpec(_Frozen):
    """A virtual IP address managed by VRRP."""

    host: HostNumber
    master: str = Field(description="balancer expected to hold the VIP once the lab settles")
    port: int = Field(default=80, ge=1, le=65535, description="port the client probes")
    family: Literal[4, 6] = Field(
        default=4,
        description="4: an address of the lab's IPv4 subnet; 6: of its IPv6 /64 "
        "(needs `ipv6: true`), host 3 being PREFIX::3",
    )


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
    ipv6: bool = Field(
        default=False,
        description="also give the lab's network an IPv6 /64 (a ULA beside the IPv4 subnet): "
        "every node gets PREFIX::HOST ({{ self.ip6 }}), VIPs may be `family: 6`",
    )
    vars: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,30}$")], str] = Field(
        default_factory=dict,
        description="values for {{ var.NAME }} placeholders in config files",
    )
    nodes: dict[Annotated[str, Field(pattern=NAME_RE)], NodeSpec]
    vips: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,30}$")], VipSpec]
    config_errors: ConfigErrors = Field(
        default=ConfigErrors.REFUSE,
        description=(
            "what to do with a keepalived.conf that keepalived -t faults (exit 5) but "
            "keepalived runs all the same, as production does: 'refuse' it at load (the "
            "default), or 'run' it. A file keepalived would not run is always refused."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> TopologySpec:
        seen: dict[int, str] = {}
        for name, node in self.nodes.items():
            if node.host in seen:
                raise _Located(
                    f"nodes {seen[node.host]} and {name} share host number {node.host}",
                    ("nodes", name, "host"),
                )
            seen[node.host] = name
        balancers = [n for n, s in self.nodes.items() if s.role is Role.BALANCER]
        # Nodes have an address in both families; a VIP only in its own: an IPv4 and an IPv6
        # VIP may share a host number (10.x.y.3 and PREFIX::3), two VIPs of a family may not.
        taken = {4: dict(seen), 6: dict(seen)}
        for vname, vip in self.vips.items():
            if vip.family == 6 and not self.ipv6:
                raise _Located(
                    "family 6 needs the lab's IPv6 subnet: add `ipv6: true` at the top level",
                    ("vips", vname, "family"),
                )
            mine = taken[vip.family]
            if vip.host in mine:
                raise _Located(
                    f"vip {vname} uses host number {vip.host} of {_owner(mine[vip.host])}",
                    ("vips", vname, "host"),
                )
            mine[vip.host] = f"vip {vname}"
            seen.setdefault(vip.host, f"vip {vname}")
            if vip.master not in balancers:
                named = self.nodes.get(vip.master)
                what = f"a {named.role} node, not a balancer" if named else "not a node here"
                known = ", ".join(balancers) or "none"
                raise _Located(
                    f"master {vip.master!r} is {what} (balancers: {known})",
                    ("vips", vname, "master"),
                )
        mails = [n for n, s in self.nodes.items() if s.role is Role.MAIL]
        if len(mails) > 1:
            raise _Located(
                f"a topology has at most one mail node ({{{{ mail.ip }}}} names it); "
                f"{mails[0]} is one already",
                ("nodes", mails[1], "role"),
            )
        clients = [n for n, s in self.nodes.items() if s.role is Role.CLIENT]
        if len(clients) > 1:
            raise _Located(
                f"a topology needs exactly one client node; {clients[0]} is one already",
                ("nodes", clients[1], "role"),
            )
        if not clients:
            raise _Located("a topology needs exactly one client node", ("nodes",))
        if not balancers:
            raise _Located("a topology needs at least one balancer node", ("nodes",))
        last = 2 ** (32 - self.prefixlen) - 2
        hosts = [("nodes", n, s.host) for n, s in self.nodes.items()]
        hosts += [("vips", v, s.host) for v, s in self.vips.items()]
        for section, name, host in hosts:
            if host > last:
                raise _Located(
                    f"host {host} does not fit the lab's /{self.prefixlen} subnet "
                    f"(hosts 2 to {last}): see prefixlen",
                    (section, name, "host"),
                )
        return self


def _owner(what: str) -> str:
    """``"lb1"`` -> ``"node lb1"``; ``"vip VI_1"`` stays."""
    return what if what.startswith("vip ") else f"node {what}"


def ipv6_subnet(subnet: ipaddress.IPv4Network) -> ipaddress.IPv6Network:
    """The lab's IPv6 /64 for its IPv4 subnet: ULA_PREFIX with the low 16 bits of the IPv4
    network address as subnet ID (10.213.7.0/24 -> fd68:616c:6162:700::/64). Labs get
    disjoint IPv4 subnets of one /16 pool, so their /64s never clash either."""
    sid = int(subnet.network_address) & 0xFFFF
    return ipaddress.IPv6Network((int(ULA_PREFIX.network_address) | (sid << 64), 64))


def ipv6_host(subnet6: ipaddress.IPv6Network, host: int) -> ipaddress.IPv6Address:
    """The IPv6 address of host number ``host``: its decimal digits as the last group, so
    that it reads like the IPv4 address's last octet (host 10: ``PREFIX::10``, host 100:
    ``PREFIX::100``; distinct host numbers give distinct addresses)."""
    return subnet6.network_address + int(str(host), 16)


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
    directing: Directing = field(default_factory=Directing)  # LVS directors, real servers
    # node -> the notify scripts of its keepalived.conf that the topology ships (the lab
    # wraps them to record each run)
    notify_scripts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def balancers(self) -> list[str]:
        return [n for n, s in self.spec.nodes.items() if s.role is Role.BALANCER]

    def nodes_with_role(self, role: Role) -> list[str]:
        return [n for n, s in self.spec.nodes.items() if s.role is role]

    def addressing(
        self, subnet: ipaddress.IPv4Network, subnet6: ipaddress.IPv6Network | None = None
    ) -> Addressing:
        """The lab's addresses on ``subnet`` (and, for an ``ipv6`` topology, on ``subnet6``:
        default :func:`ipv6_subnet` of ``subnet``)."""
        hosts = list(subnet.hosts())
        if len(hosts) < 254 and max(
            [
                *(n.host for n in self.spec.nodes.values()),
                *(v.host for v in self.spec.vips.values()),
            ]
        ) > len(hosts):
            raise TopologyError(f"{self.path}: subnet {subnet} too small for this topology")
        base = int(subnet.network_address)
        if not self.spec.ipv6:
            subnet6 = None
        elif subnet6 is None:
            subnet6 = ipv6_subnet(subnet)
        vips: dict[str, IPAddress] = {}
        for v, s in self.spec.vips.items():
            if s.family == 6:
                assert subnet6 is not None  # the schema refuses family 6 without ipv6
                vips[v] = ipv6_host(subnet6, s.host)
            else:
                vips[v] = ipaddress.IPv4Address(base + s.host)
        return Addressing(
            subnet=subnet,
            gateway=ipaddress.IPv4Address(base + 1),
            nodes={n: ipaddress.IPv4Address(base + s.host) for n, s in self.spec.nodes.items()},
            vips=vips,
            subnet6=subnet6,
            gateway6=ipv6_host(subnet6, 1) if subnet6 is not None else None,
            nodes6=(
                {n: ipv6_host(subnet6, s.host) for n, s in self.spec.nodes.items()}
                if subnet6 is not None
                else {}
            ),
            mail=next(iter(self.nodes_with_role(Role.MAIL)), None),
        )

    def render_files(self, node: str, addr: Addressing) -> dict[str, RenderedFile]:
        """The node's config files with the lab's addresses filled in, each with the mode
        it gets in the node: the topology's `mode`, else its template's rwx bits (a check
        script kept executable stays executable in the node)."""
        out: dict[str, RenderedFile] = {}
        variables = _with_vars(_template_vars(node, addr), self.spec)
        for dest, file in self.spec.nodes[node].files.items():
            src = (self.path.parent / file.template).resolve()
            data = render_template(src, variables).encode()
            mode = file.mode if file.mode is not None else template_mode(src)
            out[dest] = RenderedFile(data, mode)
        return out


@dataclass(frozen=True)
class RenderedFile:
    """A config file ready to be written into a node."""

    data: bytes
    mode: int  # permission bits in the node


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Addressing:
    """Concrete addresses of a running (or sample) lab. ``subnet6``, ``gateway6`` and
    ``nodes6`` only for an ``ipv6`` topology (else None and empty); a VIP's address is of
    its ``family``."""

    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    nodes: dict[str, ipaddress.IPv4Address]
    vips: dict[str, IPAddress]
    subnet6: ipaddress.IPv6Network | None = None
    gateway6: ipaddress.IPv6Address | None = None
    nodes6: dict[str, ipaddress.IPv6Address] = field(default_factory=dict)
    mail: str | None = None  # the node of role mail, if any


MAIL_VAR = "mail"  # {{ mail.ip }}: the address of the topology's mail node


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
    if addr.subnet6 is not None:
        v |= {
            "subnet6": str(addr.subnet6),
            "prefixlen6": str(addr.subnet6.prefixlen),
            "gateway6": str(addr.gateway6),
            "self.ip6": str(addr.nodes6[node]),
        }
        for n, ip6 in addr.nodes6.items():
            v[f"{n}.ip6"] = str(ip6)
    for n, vip_ip in addr.vips.items():
        v[f"vip.{n}"] = str(vip_ip)
    if addr.mail is not None:  # the mail node, whatever its name: {{ mail.ip }}
        v[f"{MAIL_VAR}.ip"] = str(addr.nodes[addr.mail])
        if addr.mail in addr.nodes6:
            v[f"{MAIL_VAR}.ip6"] = str(addr.nodes6[addr.mail])
    return v


def _with_vars(base: dict[str, str], spec: TopologySpec) -> dict[str, str]:
    return {**base, **{f"var.{k}": val for k, val in spec.vars.items()}}


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def read_text_file(path: Path, what: str) -> str:
    """A topology file or config template as text: a regular file outside /proc, /sys and
    /dev (a FIFO or a device could block or never end), at most MAX_FILE_BYTES, in UTF-8.
    Anything else is a TopologyError naming the file (and the line of a bad byte)."""
    try:
        real = path.resolve()
        for pseudo in PSEUDO_FS:
            if real == pseudo or pseudo in real.parents:
                raise TopologyError(f"{path}: {what} must be a regular file, not under {pseudo}")
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise TopologyError(f"{path}: {what} must be a regular file")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the path
        raise TopologyError(f"{_short(str(path))}: cannot read {what}: {exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise TopologyError(f"{path}: {what} is larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TopologyError(
            f"{path}:{line}: {what} is not UTF-8 text (byte {data[exc.start]:#04x})"
        ) from None


def template_mode(path: Path) -> int:
    """A template's permission bits for user, group and others. Its setuid, setgid and
    sticky bits are not carried into the node: only an explicit `mode` sets those."""
    try:
        return stat.S_IMODE(path.stat().st_mode) & 0o777
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read config template: {exc.strerror or exc}") from None


def render_template(path: Path, variables: dict[str, str]) -> str:
    """Fill ``{{ name }}`` placeholders; an unknown name is an error with file and line."""
    text = read_text_file(path, "config template")
    lines = text.splitlines(keepends=True)
    for lineno, line in enumerate(lines, 1):
        for m in _PLACEHOLDER.finditer(line):
            if m.group(1).startswith(f"{MAIL_VAR}.") and f"{MAIL_VAR}.ip" not in variables:
                raise TopologyError(
                    f"{path}:{lineno}: {{{{ {m.group(1)} }}}} names the lab's mail node, and "
                    f"this topology has none: add a node of role mail (the lab's SMTP server)"
                )
            if m.group(1) not in variables:
                known = ", ".join(sorted(variables))
                raise TopologyError(
                    f"{path}:{lineno}: unknown placeholder {{{{ {m.group(1)} }}}} (known: {known})"
                )
    return _PLACEHOLDER.sub(lambda m: variables[m.group(1)], text)


# ---------------------------------------------------------------- loading


def _format_errors(path: Path, root: yaml.Node | None, exc: ValidationError) -> str:
    msgs = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("[")))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _Located):
            loc += cause.loc
        field = ".".join(str(x) for x in loc) or "(top level)"
        line = yamldoc.line_of(root, loc)
        where = f"{path}:{line}" if line else str(path)
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        msgs.append(f"{where}: {field}: {msg}")
    return "\n".join(msgs)


_YAML_INT = "tag:yaml.org,2002:int"


def _refuse_decimal_modes(path: Path, root: yaml.Node | None, spec: TopologySpec) -> None:
    """YAML reads ``mode: 755`` as the decimal number 755 (octal 1363): a mode nobody
    means. A mode written as an integer must be written in octal (``0755``); a decimal
    one is refused at its line rather than applied."""
    for node, nspec in spec.nodes.items():
        for dest, file in nspec.files.items():
            loc = ("nodes", node, "files", dest, "mode")
            written = yamldoc.value_node(root, loc)
            if (
                file.mode is None
                or file.mode < 8  # one digit: the same number in octal and decimal
                or not isinstance(written, yaml.ScalarNode)
                or written.tag != _YAML_INT
                or written.value.lstrip("+-").startswith("0")  # 0755, 0o..., 0x...
            ):
                continue
            text = str(written.value)
            meant = f"0{text}" if set(text) <= set("01234567") else f"0{file.mode:o}"
            raise TopologyError(
                f"{path}:{yamldoc.line_of(root, loc)}: {'.'.join(loc)}: {_bare(text)} is a decimal "
                f"number in YAML (octal 0{file.mode:o}): write the mode in octal, in quotes, "
                f'e.g. "{meant}"'
            )


def load(name_or_path: str | Path) -> Topology:
    """Load and fully validate a topology; raises TopologyError naming file, line and field."""
    path = resolve(str(name_or_path))
    root, data = yamldoc.parse_yaml(path, read_text_file(path, "topology file"))
    if not isinstance(data, dict):
        raise TopologyError(f"{path}:1: a topology file must be a mapping of fields")
    try:
        spec = TopologySpec.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(_format_errors(path, root, exc)) from None
    _refuse_decimal_modes(path, root, spec)
    topo = Topology(spec=spec, path=path)
    # Every config file must exist and render: checked now, against a sample subnet.
    sample = topo.addressing(SAMPLE_SUBNET, SAMPLE_SUBNET6)
    checked: dict[str, KeepalivedConf] = {}
    for node, nspec in spec.nodes.items():
        for dest, file in nspec.files.items():
            src = path.parent / file.template
            line = yamldoc.line_of(root, ("nodes", node, "files", dest, "template"))
            try:
                read_text_file(src, "config template")
            except TopologyError as exc:
                why = str(exc) if exists(src) else f"no such file {src.resolve()}"
                raise TopologyError(f"{path}:{line}: nodes.{node}.files.{dest}: {why}") from None
        rendered = topo.render_files(node, sample)
        if nspec.role is Role.BALANCER and KEEPALIVED_CONF in rendered:
            line = yamldoc.line_of(root, ("nodes", node, "files", KEEPALIVED_CONF, "template"))
            checked[node] = _check_keepalived_conf(
                topo, node, nspec.files[KEEPALIVED_CONF].template, rendered[KEEPALIVED_CONF], line
            )
    topo.vrrp.update(_bind_vips(topo, root, sample, checked))
    _refuse_unused_mail(topo, root, sample, checked)
    uses = [u for c in checked.values() for u in c.real_servers]
    notify = {n: c.notify_scripts for n, c in checked.items() if c.notify_scripts}
    topo = dataclasses.replace(topo, directing=Directing(tuple(uses)), notify_scripts=notify)
    return topo


KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"


@dataclass(frozen=True)
class KeepalivedConf:
    """What load() learnt of a balancer's keepalived.conf: its template (as the topology
    names it) and the VRRP instance that carries each virtual address in it."""

    template: str
    instances: dict[str, VrrpBinding]  # address -> instance
    real_servers: tuple[RealServerUse, ...] = ()  # what its virtual servers ask of web nodes
    smtp_server: str | None = None  # global_defs smtp_server (an address: nothing resolved)
    notify_scripts: tuple[str, ...] = ()  # the notify scripts among the node's files


def _refuse_missing_scripts(
    topo: Topology, node: str, cfg: KeepalivedConfig, src: Path, where: str
) -> None:
    """A script keepalived.conf names by a path nothing puts in the node (neither the
    topology's files nor the image): refused at the line naming it (keepalived would
    disable a track script, and never run a notify script, without a word in the test)."""
    from .scriptpaths import provided, script_uses

    files = frozenset(topo.spec.nodes[node].files)
    for use in script_uses(cfg):
        if provided(use.path, files) is False:
            raise TopologyError(
                f"{where}: nodes.{node}.files.{KEEPALIVED_CONF}: {src}:{use.line}: "
                f"{use.keyword} of {use.owner}: {use.path} is not in the node: neither "
                f"in the topology's files for {node} nor in the balancer image"
            )


def _check_keepalived_conf(
    topo: Topology, node: str, template: str, rendered: RenderedFile, line: int | None
) -> KeepalivedConf:
    """The balancer's keepalived.conf as keepalived -t would judge it. Diagnostics point at
    the template (rendering keeps lines)."""
    from .vrrp.conf import FATAL_STATUSES, config_test_exit_status, load_config

    src = (topo.path.parent / template).resolve()
    where = f"{topo.path}:{line}" if line else str(topo.path)
    with tempfile.TemporaryDirectory(prefix="halab-check-") as tmp:
        conf = Path(tmp) / "keepalived.conf"
        conf.write_bytes(rendered.data)
        # Scripts live in the image, not on this host: their existence is not checked here.
        try:
            # a node's hostname is its name: keepalived's default config id (@lb1 lines)
            cfg, diags = load_config(
                conf, interfaces={"eth0", "lo"}, check_scripts=False, config_id=node
            )
        except (ValueError, OverflowError, RecursionError) as exc:
            # The checker's own limits (e.g. a number of thousands of digits): still refused
            # here, with the template named, rather than a traceback.
            raise TopologyError(
                f"{where}: nodes.{node}.files.{KEEPALIVED_CONF}: {src}: keepalived.conf "
                f"could not be checked: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        status = config_test_exit_status(diags)
        tolerated = (
            topo.spec.config_errors is ConfigErrors.RUN
            and status not in FATAL_STATUSES
            and cfg.runs
        )
        if status != 0 and not tolerated:
            lines = [f"{src}:{d.line}: {d.message}" for d in diags]
            raise TopologyError(
                f"{where}: nodes.{node}.files.{KEEPALIVED_CONF}: keepalived.conf has "
                f"errors (keepalived -t would exit {status}):\n" + "\n".join(lines)
            )
    _refuse_missing_scripts(topo, node, cfg, src, where)
    sample = topo.addressing(SAMPLE_SUBNET, SAMPLE_SUBNET6)
    uses = read_virtual_servers(
        node,
        cfg.virtual_servers,
        [*sample.nodes.items(), *sample.nodes6.items()],
        sample.vips,
        topo.nodes_with_role(Role.WEB),
        f"{where}: nodes.{node}.files.{KEEPALIVED_CONF}",
        str(src),
    )
    return KeepalivedConf(
        template,
        {
            str(v.address): VrrpBinding(inst.name, inst.vrid or 0, inst.version, inst.advert_int)
            for inst in cfg.instances.values()
            for v in inst.vips
        },
        tuple(uses),
        cfg.global_defs.smtp_server,
        _wrapped_notifies(topo, node, cfg),
    )


def _refuse_unused_mail(
    topo: Topology, root: yaml.Node | None, sample: Addressing, confs: dict[str, KeepalivedConf]
) -> None:
    """A mail node no balancer mails to is a mistake (its mailbox would stay empty and a
    test reading it would pass or fail for a reason nobody meant): refused at its line
    unless some balancer's keepalived.conf has ``smtp_server {{ mail.ip }}``."""
    if sample.mail is None:
        return
    mine = {str(sample.nodes[sample.mail])}
    if sample.mail in sample.nodes6:
        mine.add(str(sample.nodes6[sample.mail]))
    used = [
        n for n, c in confs.items() if c.smtp_server is not None and _same_ip(c.smtp_server, mine)
    ]
    if used:
        return
    line = yamldoc.line_of(root, ("nodes", sample.mail, "role"))
    seen = [
        f"{n}'s {c.template} has smtp_server {c.smtp_server}"
        if c.smtp_server
        else f"{n}'s {c.template} has no smtp_server"
        for n, c in confs.items()
    ]
    raise TopologyError(
        f"{topo.path}:{line}: nodes.{sample.mail}.role: mail node {sample.mail} is the "
        f"smtp_server of no balancer ({'; '.join(seen) or 'no balancer has a keepalived.conf'}): "
        f"write `smtp_server {{{{ mail.ip }}}}` in a global_defs, or remove the node"
    )


def _same_ip(host: str, addresses: set[str]) -> bool:
    try:
        return str(ipaddress.ip_address(host)) in addresses
    except ValueError:
        return False


def _wrapped_notifies(topo: Topology, node: str, cfg: KeepalivedConfig) -> tuple[str, ...]:
    """The notify scripts the topology ships for `node`, which the lab wraps to record
    each run (`scriptpaths.notify_wrapper`)."""
    from .scriptpaths import script_uses

    files = topo.spec.nodes[node].files
    return tuple(sorted({u.path for u in script_uses(cfg) if u.notify and u.path in files}))


def _bind_vips(
    topo: Topology, root: yaml.Node | None, sample: Addressing, confs: dict[str, KeepalivedConf]
) -> dict[str, VrrpBinding]:
    """Each VIP's instance on its expected master. Every balancer's keepalived.conf must
    carry every VIP (a backup that lacks one could never take it over): one error per VIP,
    naming every balancer whose file lacks it, at the VIP's line."""
    problems = []
    for vname, ip in sample.vips.items():
        lacking = [f"{n}'s {c.template}" for n, c in confs.items() if str(ip) not in c.instances]
        if lacking:
            line = yamldoc.line_of(root, ("vips", vname))
            problems.append(
                f"{topo.path}:{line}: vips.{vname}: address {{{{ vip.{vname} }}}} is in no "
                f"virtual_ipaddress block of {', '.join(lacking)}"
            )
    if problems:
        raise TopologyError("\n".join(problems))
    return {
        vname: confs[vip.master].instances[str(sample.vips[vname])]
        for vname, vip in topo.spec.vips.items()
        if vip.master in confs
    }


def json_schema() -> str:
    """The JSON schema of topology files, for editors and CI checks."""
    schema = TopologySpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pytest-halab topology"
    return json.dumps(schema, indent=2)

"""The checker's runtime model: what keepalived 2.2.7's checker process holds once it has
read and validated its virtual servers (check_data.c validate_check_config, the checkers'
keyword handlers), built from a parsed `KeepalivedConfig`.

Every timer is resolved as keepalived resolves it: a checker's own value, else its real
server's, else its virtual server's, else the checker's default (delay_loop 60 s,
connect_timeout 5 s, retry 1 (MISC_CHECK: 0), delay_before_retry 1 s (HTTP_GET/SSL_GET:
3 s), warmup the delay_loop). Times are in seconds (keepalived reads decimals).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..conf.model import ConfigItem, KeepalivedConfig, NotifyScript, RealServer, VirtualServer

__all__ = [
    "CheckerSpec",
    "GroupEntry",
    "RealServerSpec",
    "SorryServerSpec",
    "VirtualServerSpec",
    "build_model",
    "format_rs",
    "format_vs",
    "item_value",
    "seconds",
]

DEFAULT_DELAY_LOOP = 60.0  # KEEPALIVED_DEFAULT_DELAY
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_RETRY = 1
DEFAULT_DELAY_BEFORE_RETRY = 1.0
# the checkers keepalived gives other defaults (queue_checker's callers)
CHECKER_DEFAULT_RETRY = {"MISC_CHECK": 0, "DNS_CHECK": 3}
CHECKER_DEFAULT_DELAY_BEFORE_RETRY = {"HTTP_GET": 3.0, "SSL_GET": 3.0}
CHECKER_KINDS = frozenset(
    (
        "TCP_CHECK",
        "HTTP_GET",
        "SSL_GET",
        "MISC_CHECK",
        "SMTP_CHECK",
        "DNS_CHECK",
        "UDP_CHECK",
        "PING_CHECK",
        "FILE_CHECK",
        "BFD_CHECK",
    )
)
IPVS_WEIGHT_LIMIT = 2**31 - 1
# a range in a virtual_server_group is served address by address: a bound on how many
GROUP_RANGE_LIMIT = 4096


def format_vs(vs: VirtualServer) -> str:
    """keepalived's FMT_VS: ``[GROUP]:PORT``, ``FWM N`` or ``[ADDRESS]:PROTOCOL:PORT``."""
    if vs.group is not None:
        return f"[{vs.group}]:0"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return trio(vs.ip or "", vs.protocol, vs.port_num)


def trio(ip: str, protocol: str | None, port: int) -> str:
    """keepalived's inet_sockaddrtotrio(): ``[ADDRESS]:PROTOCOL:PORT``."""
    return f"[{ip}]:{protocol or 'none'}:{port}"


def format_rs(rs: RealServer, vs: VirtualServer) -> str:
    """keepalived's FMT_RS: the real server's address, the service's protocol, its port."""
    return trio(rs.ip or "", vs.protocol, rs.port_num)


def item_value(items: Sequence[ConfigItem], keyword: str) -> list[str] | None:
    """The arguments of the last `keyword` line among `items` (keepalived keeps the last
    value given), or None."""
    found: list[str] | None = None
    for item in items:
        if item.keyword == keyword:
            found = item.args
    return found


def seconds(items: Sequence[ConfigItem], keyword: str, lo: float = 0.0) -> float | None:
    args = item_value(items, keyword)
    if not args:
        return None
    try:
        value = float(args[0])
    except ValueError:
        return None
    return value if value >= lo and args[0][:1].isdigit() else None


def _uint(items: Sequence[ConfigItem], keyword: str, lo: int = 0) -> int | None:
    args = item_value(items, keyword)
    if not args or not args[0].isdigit():
        return None
    value = int(args[0])
    return value if value >= lo else None


def _flag(items: Sequence[ConfigItem], keyword: str) -> bool | None:
    """A keyword with an optional true/false (keepalived's check_true_false)."""
    args = item_value(items, keyword)
    if args is None:
        return None
    if not args:
        return True
    return {"true": True, "on": True, "yes": True, "false": False, "off": False, "no": False}.get(
        args[0]
    )


def _first(args: list[str] | None, default: str | None) -> str | None:
    return args[0] if args else default


def _script_at(scripts: Sequence[NotifyScript], item: ConfigItem) -> NotifyScript | None:
    for script in scripts:
        if script.line == item.line and script.file == item.file:
            return script
    return None


def _keyword_script(
    items: Sequence[ConfigItem], scripts: Sequence[NotifyScript], keyword: str
) -> NotifyScript | None:
    found = None
    for item in items:
        if item.keyword == keyword:
            found = _script_at(scripts, item) or found
    return found


@dataclass
class CheckerSpec:
    """One checker of one real server, with its timers resolved. `item` is its block as
    read (the probe reads its own keywords there); `rs`/`vs` the parsed servers."""

    kind: str
    item: ConfigItem
    rs: RealServer
    vs: VirtualServer
    delay_loop: float
    retry: int
    delay_before_retry: float
    warmup: float
    connect_timeout: float
    alpha: bool
    log_all_failures: bool
    misc_script: NotifyScript | None = None


@dataclass
class RealServerSpec:
    name: str  # FMT_RS
    ip: str
    port: int
    family: int
    weight: int  # keepalived's iweight
    forwarding: str
    inhibit: bool
    alpha: bool
    notify_up: NotifyScript | None
    notify_down: NotifyScript | None
    delay_loop: float
    connect_timeout: float
    virtualhost: str | None
    checkers: list[CheckerSpec] = field(default_factory=list)
    conf: RealServer | None = None


@dataclass
class SorryServerSpec:
    name: str
    ip: str
    port: int
    forwarding: str
    inhibit: bool
    weight: int = 1


@dataclass(frozen=True)
class GroupEntry:
    """One entry of a virtual_server_group: an address and port, or a fwmark."""

    ip: str | None = None
    port: int = 0
    fwmark: int | None = None
    family: int = 0


@dataclass
class VirtualServerSpec:
    name: str  # FMT_VS
    ip: str | None
    port: int
    fwmark: int | None
    group: str | None
    group_entries: list[GroupEntry]
    family: int
    protocol: str  # tcp/udp/sctp ("tcp" for fwmark services, as IPVS reports them)
    sched: str
    forwarding: str
    persistence_timeout: int
    persistence_granularity: str | None
    quorum: int
    hysteresis: int
    quorum_up: NotifyScript | None
    quorum_down: NotifyScript | None
    alpha: bool
    omega: bool
    ha_suspend: bool
    inhibit: bool
    virtualhost: str | None
    delay_loop: float
    sorry_server: SorryServerSpec | None
    real_servers: list[RealServerSpec] = field(default_factory=list)
    conf: VirtualServer | None = None


def build_model(config: KeepalivedConfig) -> list[VirtualServerSpec]:
    """The runtime model of every virtual server `config` keeps (validated ones only:
    `load_config` has applied keepalived's checks and defaults)."""
    groups = _groups(config.virtual_server_groups)
    result = []
    for vs in config.virtual_servers:
        spec = _virtual_server(vs, groups)
        if spec is not None:
            result.append(spec)
    return result


def _virtual_server(
    vs: VirtualServer, groups: dict[str, list[GroupEntry]]
) -> VirtualServerSpec | None:
    items = vs.items
    entries: list[GroupEntry] = []
    if vs.group is not None:
        entries = groups.get(vs.group, [])
        if not entries:
            return None  # keepalived: "virtual server group %s does not exist"
    delay_loop = seconds(items, "delay_loop", 1e-6) or DEFAULT_DELAY_LOOP
    connect_timeout = seconds(items, "connect_timeout", 1e-6) or DEFAULT_CONNECT_TIMEOUT
    family = vs.family or next((e.family for e in entries if e.family), 0) or socket.AF_INET
    vhost_args = item_value(items, "virtualhost")
    virtualhost = vhost_args[0] if vhost_args else None
    granularity = item_value(items, "persistence_granularity")
    sorry = None
    if vs.sorry_server is not None and vs.sorry_server.ip is not None:
        s = vs.sorry_server
        sorry = SorryServerSpec(
            name=format_rs(s, vs),
            ip=s.ip or "",
            port=s.port_num,
            forwarding=s.forwarding or vs.forwarding or "NAT",
            inhibit=item_value(items, "sorry_server_inhibit") is not None,
        )
    spec = VirtualServerSpec(
        name=format_vs(vs),
        ip=vs.ip,
        port=vs.port_num,
        fwmark=vs.fwmark,
        group=vs.group,
        group_entries=entries,
        family=family,
        protocol=vs.protocol or "tcp",
        sched=vs.sched or "wlc",
        forwarding=vs.forwarding or "NAT",
        persistence_timeout=vs.persistence_timeout,
        persistence_granularity=granularity[0] if granularity else None,
        quorum=vs.quorum,
        hysteresis=vs.hysteresis,
        quorum_up=_keyword_script(items, vs.notify_scripts, "quorum_up"),
        quorum_down=_keyword_script(items, vs.notify_scripts, "quorum_down"),
        alpha=item_value(items, "alpha") is not None,
        omega=item_value(items, "omega") is not None,
        ha_suspend=vs.ha_suspend,
        inhibit=item_value(items, "inhibit_on_failure") is not None,
        virtualhost=virtualhost,
        delay_loop=delay_loop,
        sorry_server=sorry,
        conf=vs,
    )
    vs_retry = _uint(items, "retry", 1)
    vs_dbr = seconds(items, "delay_before_retry")
    vs_warmup = seconds(items, "warmup")
    seen: set[tuple[str, int]] = set()
    for rs in vs.real_servers:
        if rs.ip is None or (rs.ip, rs.port_num) in seen:
            continue  # keepalived: "real server %s is duplicated - removing second rs"
        seen.add((rs.ip, rs.port_num))
        spec.real_servers.append(
            _real_server(rs, vs, spec, connect_timeout, vs_retry, vs_dbr, vs_warmup)
        )
    return spec


def _real_server(
    rs: RealServer,
    vs: VirtualServer,
    vspec: VirtualServerSpec,
    vs_timeout: float,
    vs_retry: int | None,
    vs_dbr: float | None,
    vs_warmup: float | None,
) -> RealServerSpec:
    items = rs.items
    alpha = _flag(items, "alpha")
    inhibit = _flag(items, "inhibit_on_failure")
    spec = RealServerSpec(
        name=format_rs(rs, vs),
        ip=rs.ip or "",
        port=rs.port_num,
        family=rs.family or vspec.family,
        weight=rs.weight if rs.weight is not None else vs.weight,
        forwarding=rs.forwarding or vspec.forwarding,
        inhibit=vspec.inhibit if inhibit is None else inhibit,
        alpha=vspec.alpha if alpha is None else alpha,
        notify_up=_keyword_script(items, rs.notify_scripts, "notify_up"),
        notify_down=_keyword_script(items, rs.notify_scripts, "notify_down"),
        delay_loop=seconds(items, "delay_loop", 1e-6) or vspec.delay_loop,
        connect_timeout=seconds(items, "connect_timeout", 1e-6) or vs_timeout,
        virtualhost=_first(item_value(items, "virtualhost"), vspec.virtualhost),
        conf=rs,
    )
    rs_retry = _uint(items, "retry", 1)
    if rs_retry is None:
        rs_retry = vs_retry
    rs_dbr = seconds(items, "delay_before_retry")
    if rs_dbr is None:
        rs_dbr = vs_dbr
    rs_warmup = seconds(items, "warmup")
    if rs_warmup is None:
        rs_warmup = vs_warmup
    for item in items:
        if item.keyword not in CHECKER_KINDS:
            continue
        spec.checkers.append(_checker(item, rs, vs, spec, rs_retry, rs_dbr, rs_warmup))
    return spec


def _checker(
    item: ConfigItem,
    rs: RealServer,
    vs: VirtualServer,
    rspec: RealServerSpec,
    rs_retry: int | None,
    rs_dbr: float | None,
    rs_warmup: float | None,
) -> CheckerSpec:
    kind = item.keyword
    sub = item.children
    retry = _uint(sub, "nb_get_retry") if kind in ("HTTP_GET", "SSL_GET") else None
    own_retry = _uint(sub, "retry")
    if own_retry is not None:
        retry = own_retry
    if retry is None:
        retry = rs_retry if rs_retry is not None else CHECKER_DEFAULT_RETRY.get(kind, DEFAULT_RETRY)
    delay_loop = seconds(sub, "delay_loop", 1e-6) or rspec.delay_loop
    dbr = seconds(sub, "delay_before_retry")
    if dbr is None:
        dbr = (
            rs_dbr
            if rs_dbr is not None
            else CHECKER_DEFAULT_DELAY_BEFORE_RETRY.get(kind, DEFAULT_DELAY_BEFORE_RETRY)
        )
        if kind == "DNS_CHECK" and rs_dbr is None:
            dbr = delay_loop  # check_dns.c: a default of 0, which means delay_loop
    warmup = seconds(sub, "warmup")
    if warmup is None:
        warmup = rs_warmup if rs_warmup is not None else delay_loop
    alpha = _flag(sub, "alpha")
    misc = None
    if kind == "MISC_CHECK":
        path = next((c for c in sub if c.keyword == "misc_path"), None)
        misc = _script_at(rs.misc_scripts, path) if path is not None else None
    return CheckerSpec(
        kind=kind,
        item=item,
        rs=rs,
        vs=vs,
        delay_loop=delay_loop,
        retry=retry,
        delay_before_retry=dbr,
        warmup=warmup,
        connect_timeout=seconds(sub, "connect_timeout", 1e-6) or rspec.connect_timeout,
        alpha=rspec.alpha if alpha is None else alpha,
        log_all_failures=bool(_flag(sub, "log_all_failures")),
        misc_script=misc,
    )


# -- virtual_server_group


def _groups(blocks: Sequence[ConfigItem]) -> dict[str, list[GroupEntry]]:
    groups: dict[str, list[GroupEntry]] = {}
    for block in blocks:
        if not block.args:
            continue
        entries = [e for line in block.children for e in _group_entries(line)]
        if entries:
            groups[block.args[0]] = entries
    return groups


def _group_entries(line: ConfigItem) -> Iterator[GroupEntry]:
    """One line of a group: ``fwmark N [inet|inet6]``, ``ADDRESS[-LAST|/LEN] [PORT]``
    (keepalived's alloc_vsg_entry); a range is served address by address."""
    if line.keyword == "fwmark":
        if line.args and line.args[0].isdigit():
            family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(
                line.args[1] if len(line.args) > 1 else "", 0
            )
            yield GroupEntry(fwmark=int(line.args[0]), family=family)
        return
    port = int(line.args[0]) if line.args and line.args[0].isdigit() else 0
    if port > 65535:
        return
    text = line.keyword
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=True)
            count = min(net.num_addresses, GROUP_RANGE_LIMIT)
            addresses = [net.network_address + i for i in range(count)]
        elif "-" in text:
            start_text, _, end_text = text.partition("-")
            start = ipaddress.ip_address(start_text)
            if ("." in end_text) or (":" in end_text):
                end = ipaddress.ip_address(end_text)
            elif start.version == 4:
                end = ipaddress.IPv4Address(int(start) & ~0xFF | int(end_text))
            else:
                end = ipaddress.IPv6Address(int(start) & ~0xFFFF | int(end_text, 16))
            if end.version != start.version or int(end) < int(start):
                return
            count = min(int(end) - int(start) + 1, GROUP_RANGE_LIMIT)
            addresses = [start + i for i in range(count)]
        else:
            addresses = [ipaddress.ip_address(text)]
    except ValueError:
        return
    for addr in addresses:
        family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
        yield GroupEntry(ip=str(addr), port=port, family=family)

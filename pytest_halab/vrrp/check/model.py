"""The checker's runtime model: what keepalived 2.2.7's checker process holds once it has
read and validated its virtual servers (check_data.c validate_check_config, the checkers'
keyword handlers), built from a parsed `KeepalivedConfig`.

This is the one place where a checker's timers are resolved, for every kind, as
keepalived resolves them: a checker's own value, else its real server's, else its virtual
server's, else the checker's default (delay_loop 60 s, connect_timeout 5 s, retry 1
(MISC_CHECK: 0, DNS_CHECK: 3), delay_before_retry 1 s (HTTP_GET/SSL_GET: 3 s, DNS_CHECK:
the delay_loop), warmup the delay_loop). SMTP_CHECK takes its connect_timeout when its
block ends, from the real or virtual server's lines read so far, and queues one checker
per ``host`` sub-block. Values are read with keepalived's readers (the last valid one
wins); times are kept in seconds.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields

from ..conf.model import ConfigItem, KeepalivedConfig, NotifyScript, RealServer, VirtualServer
from ..conf.values import UINT_MAX, true_false
from .conn import TIMER_HZ, ConnOpts, read_timer, read_uint
from .vsgroups import GroupEntry, read_groups

__all__ = [
    "CheckerSpec",
    "RealServerSpec",
    "ServerTimers",
    "SorryServerSpec",
    "VirtualServerSpec",
    "build_model",
    "format_rs",
    "format_vs",
    "item_value",
]

log = logging.getLogger("halab-vrrpd")

# keepalived's defaults, in microseconds
KEEPALIVED_DEFAULT_DELAY = 60 * TIMER_HZ
DEFAULT_RETRY = 1
DEFAULT_DELAY_BEFORE_RETRY = 1 * TIMER_HZ
# the checkers keepalived gives other defaults (queue_checker's callers); a
# delay_before_retry default of 0 means the checker's delay_loop
CHECKER_DEFAULT_RETRY = {"MISC_CHECK": 0, "DNS_CHECK": 3}
CHECKER_DEFAULT_DELAY_BEFORE_RETRY = {
    "HTTP_GET": 3 * TIMER_HZ,
    "SSL_GET": 3 * TIMER_HZ,
    "DNS_CHECK": 0,
}
# the checkers keepalived queues without connection options (no connect_timeout either)
NO_CONNECTION = frozenset(("MISC_CHECK", "FILE_CHECK", "BFD_CHECK"))
CHECKER_KINDS = NO_CONNECTION.union(
    ("TCP_CHECK", "HTTP_GET", "SSL_GET", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK")
)
SMTP_HOST_DEPRECATED = "The SMTP_CHECK host block is deprecated. Please define additional checkers."
IPVS_WEIGHT_LIMIT = 2**31 - 1


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


def _flag(items: Sequence[ConfigItem], keyword: str) -> bool | None:
    """A keyword with an optional true/false (keepalived's check_true_false): the last
    valid one, or None."""
    found = None
    for item in items:
        if item.keyword == keyword:
            value = true_false(item.args[0]) if item.args else True
            found = found if value is None else value
    return found


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
    """One checker of one real server (keepalived's checker_t), with its timers resolved.
    `item` is its block as read (the probe reads its own keywords there); `rs`/`vs` the
    parsed servers; `conn` its connection options, their connect_timeout resolved (None
    for the checkers that have none: MISC_CHECK...). An SMTP_CHECK block with ``host``
    sub-blocks is one CheckerSpec per checker keepalived queues for it, the same `item`.
    `misc_timeout` is MISC_CHECK's (its virtual server's delay_loop unless set)."""

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
    conn: ConnOpts | None = None
    misc_timeout: float = 0.0


@dataclass
class ServerTimers:
    """What a virtual or real server sets for its checkers (microseconds; None: not set)."""

    retry: int | None = None
    connect_timeout: int | None = None
    delay_loop: int | None = None
    warmup: int | None = None
    delay_before_retry: int | None = None

    @classmethod
    def read(cls, items: Iterable[ConfigItem], under: ServerTimers | None = None) -> ServerTimers:
        """The values `items` set; each one they do not set taken from `under`
        (validate_check_config(): a real server's from its virtual server)."""
        timers = cls()
        for item in items:
            word = item.keyword
            if word == "retry":
                value = read_uint(item, 1, UINT_MAX)
            elif word == "connect_timeout":
                value = read_timer(item, 1, UINT_MAX)
            elif word == "delay_loop":
                value = read_timer(item, 1)
            elif word in ("warmup", "delay_before_retry"):
                value = read_timer(item, 0)
            else:
                continue
            if value is not None:
                setattr(timers, word, value)
        if under is not None:
            for f in fields(cls):
                if getattr(timers, f.name) is None:
                    setattr(timers, f.name, getattr(under, f.name))
        return timers


# alloc_vs(): a virtual server's connect_timeout and delay_loop before its lines are read
VS_DEFAULTS = ServerTimers(connect_timeout=5 * TIMER_HZ, delay_loop=KEEPALIVED_DEFAULT_DELAY)


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
    groups = read_groups(config.virtual_server_groups)
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
    timers = ServerTimers.read(items, VS_DEFAULTS)
    assert timers.delay_loop is not None
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
        delay_loop=timers.delay_loop / TIMER_HZ,
        sorry_server=sorry,
        conf=vs,
    )
    seen: set[tuple[str, int]] = set()
    for rs in vs.real_servers:
        if rs.ip is None or (rs.ip, rs.port_num) in seen:
            continue  # keepalived: "real server %s is duplicated - removing second rs"
        seen.add((rs.ip, rs.port_num))
        spec.real_servers.append(_real_server(rs, vs, spec, timers))
    return spec


def _real_server(
    rs: RealServer, vs: VirtualServer, vspec: VirtualServerSpec, vs_timers: ServerTimers
) -> RealServerSpec:
    items = rs.items
    timers = ServerTimers.read(items, vs_timers)
    assert timers.delay_loop is not None and timers.connect_timeout is not None
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
        delay_loop=timers.delay_loop / TIMER_HZ,
        connect_timeout=timers.connect_timeout / TIMER_HZ,
        virtualhost=_first(item_value(items, "virtualhost"), vspec.virtualhost),
        conf=rs,
    )
    for item in items:
        if item.keyword in CHECKER_KINDS:
            spec.checkers.extend(_checkers(item, rs, vs, spec, timers, vs_timers))
    return spec


@dataclass
class _OwnTimers:
    """install_checker_common_keywords()'s generic keywords as a checker block sets them
    (microseconds; None: not set). An SMTP_CHECK's host blocks set the checker's."""

    retry: int | None = None
    delay_before_retry: int | None = None
    delay_loop: int | None = None
    warmup: int | None = None
    alpha: bool | None = None
    log_all_failures: bool = False

    @classmethod
    def read(cls, item: ConfigItem) -> _OwnTimers:
        own = cls()
        for child in item.children:
            if item.keyword == "SMTP_CHECK" and child.keyword == "host":
                for sub in child.children:
                    own.apply(sub, item.keyword)
            else:
                own.apply(child, item.keyword)
        return own

    def apply(self, item: ConfigItem, kind: str) -> None:
        word = item.keyword
        value: int | bool | None
        if word == "retry" or (word == "nb_get_retry" and kind in ("HTTP_GET", "SSL_GET")):
            word, value = "retry", read_uint(item, 0, UINT_MAX)
        elif word in ("delay_before_retry", "warmup"):
            value = read_timer(item, 0)
        elif word == "delay_loop":
            value = read_timer(item, 1)
        elif word in ("alpha", "log_all_failures"):
            value = true_false(item.args[0]) if item.args else True
        else:
            return
        if value is not None:
            setattr(self, word, value)


def _pick(*values: int | None) -> int:
    """The first value set (keepalived's "not set, take the next one's")."""
    return next(v for v in values if v is not None)


def _checkers(
    item: ConfigItem,
    rs: RealServer,
    vs: VirtualServer,
    rspec: RealServerSpec,
    rs_timers: ServerTimers,
    vs_timers: ServerTimers,
) -> list[CheckerSpec]:
    """The checkers keepalived queues for the checker block `item`: one, or for an
    SMTP_CHECK with ``host`` sub-blocks one per host (and its own, when it sets any
    connection option), timers resolved as validate_check_config() does."""
    kind = item.keyword
    own = _OwnTimers.read(item)
    delay_loop = _pick(own.delay_loop, rs_timers.delay_loop)
    retry = _pick(own.retry, rs_timers.retry, CHECKER_DEFAULT_RETRY.get(kind, DEFAULT_RETRY))
    default_dbr = CHECKER_DEFAULT_DELAY_BEFORE_RETRY.get(kind, DEFAULT_DELAY_BEFORE_RETRY)
    dbr = _pick(own.delay_before_retry, rs_timers.delay_before_retry, default_dbr or delay_loop)
    warmup = _pick(own.warmup, rs_timers.warmup, delay_loop)
    misc_script, misc_timeout = None, 0
    if kind == "MISC_CHECK":
        path = next((c for c in item.children if c.keyword == "misc_path"), None)
        misc_script = _script_at(rs.misc_scripts, path) if path is not None else None
        for child in item.children:
            if child.keyword == "misc_timeout":
                misc_timeout = _pick(read_uint(child, 0, UINT_MAX // TIMER_HZ), misc_timeout)
        # check_misc.c: 0 runs the script for its virtual server's delay_loop
        misc_timeout = misc_timeout * TIMER_HZ or _pick(vs_timers.delay_loop)
    rs_timeout = _pick(rs_timers.connect_timeout)
    return [
        CheckerSpec(
            kind=kind,
            item=item,
            rs=rs,
            vs=vs,
            delay_loop=delay_loop / TIMER_HZ,
            retry=retry,
            delay_before_retry=dbr / TIMER_HZ,
            warmup=warmup / TIMER_HZ,
            connect_timeout=_pick(None if conn is None else conn.timeout, rs_timeout) / TIMER_HZ,
            alpha=rspec.alpha if own.alpha is None else own.alpha,
            log_all_failures=own.log_all_failures,
            misc_script=misc_script,
            conn=conn,
            misc_timeout=misc_timeout / TIMER_HZ,
        )
        for conn in _conns(item, rs, vs, rs_timeout)
    ]


def _conns(
    item: ConfigItem, rs: RealServer, vs: VirtualServer, rs_timeout: int
) -> Iterator[ConnOpts | None]:
    """The connection options of each checker the block queues (None: it has none),
    their connect_timeout resolved: the real server's when not set."""
    kind = item.keyword
    if kind in NO_CONNECTION:
        yield None
    elif kind == "SMTP_CHECK":
        yield from _smtp_conns(item, rs, vs)
    else:
        conn = ConnOpts.of_real_server(rs)
        for child in item.children:
            conn.apply(child)
        if conn.timeout is None:
            conn.timeout = rs_timeout
        yield conn


def _smtp_conns(item: ConfigItem, rs: RealServer, vs: VirtualServer) -> Iterator[ConnOpts]:
    """smtp_check_end_handler(): the block's own connection options, when it sets any or
    has no host (a refused one raises when its probe is made: the hosts go with it), then
    each host's that check_conn_opts() keeps (a refused host is dropped alone). Without
    options of its own, the first host takes the checker's place.

    The timeout each takes when it sets none is the real server's, else the virtual
    server's connect_timeout read so far (the lines before this block), not the resolved
    one; a host's is 0 unless it sets one (keepalived allocates it zeroed)."""
    main = ConnOpts()  # unset throughout, to tell whether anything was given
    hosts: list[ConnOpts] = []
    for child in item.children:
        if child.keyword == "host":
            host = ConnOpts.of_real_server(rs)
            host.timeout = 0
            for sub in child.children:
                host.apply(sub)
            if host.refusal() is None:
                hosts.append(host)
        else:
            main.apply(child)
    if hosts:
        log.info(SMTP_HOST_DEPRECATED)
    vs_before = [i for i in vs.items if i.file != rs.file or i.line < rs.line]
    rs_before = rs.items[: next((n for n, i in enumerate(rs.items) if i is item), len(rs.items))]
    earlier = ServerTimers.read(rs_before, ServerTimers.read(vs_before, VS_DEFAULTS))
    if main.given() or not hosts:
        if not main.family:
            main.family, main.ip = rs.family, rs.ip or ""
        if not main.port:
            main.port = rs.port_num
        if main.timeout is None:
            main.timeout = earlier.connect_timeout
        yield main
        if main.refusal() is not None:
            return
    yield from hosts

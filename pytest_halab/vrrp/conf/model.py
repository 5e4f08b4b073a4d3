"""The configuration model: what a keepalived.conf declares, with the values keepalived
would run with (filled in by validation), and the few facts parsing learns that keepalived
keeps outside its model."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "IFNAMSIZ",
    "RT_RLIMIT_DEFAULT",
    "TIMER_HZ",
    "VRRP_PRIO_DFL",
    "VRRP_PRIO_OWNER",
    "BfdInstance",
    "ConfigItem",
    "Encap",
    "GlobalDefs",
    "KeepalivedConfig",
    "Nexthop",
    "NotifyScript",
    "ParseNotes",
    "RealServer",
    "Route",
    "Rule",
    "SyncGroup",
    "TrackBfd",
    "TrackGroup",
    "TrackInterface",
    "TrackScript",
    "VirtualIp",
    "VirtualServer",
    "VrrpInstance",
    "VrrpScript",
]

TIMER_HZ = 1_000_000
IFNAMSIZ = 16
VRRP_PRIO_OWNER = 255
VRRP_PRIO_DFL = 100
RT_RLIMIT_DEFAULT = 10_000  # keepalived's vrrp_rlimit_rttime default, microseconds


@dataclass
class VirtualIp:
    """An address in ``virtual_ipaddress`` / ``virtual_ipaddress_excluded`` /
    ``static_ipaddress`` (keepalived's alloc_ipaddress()).

    `brd` is the broadcast address as written (``+``/``-`` included); `broadcast` the one
    keepalived computes from it. `scope` as written; `scope_id` its number. `options` keeps
    the flags (``home``, ``-nodad``, ``noprefixroute``, ``no_track``...). A static address
    without ``dev`` gets the default interface in `dev`.
    """

    address: str
    prefixlen: int
    dev: str | None = None
    label: str | None = None
    brd: str | None = None
    scope: str | None = None
    options: list[str] = field(default_factory=list)
    line: int = 0
    file: str = ""
    scope_id: int | None = None
    broadcast: str | None = None
    peer: str | None = None
    preferred_lft: int | None = None
    track_group: str | None = None

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4

    @property
    def no_track(self) -> bool:
        return "no_track" in self.options


@dataclass
class Encap:
    """A route's or next hop's ``encap`` (a lightweight tunnel: ip, ip6, mpls, ila).

    `tos` is ip's ``tos`` or ip6's ``tc``; `ttl` ip's ``ttl`` or ip6's ``hoplimit``."""

    kind: Literal["ip", "ip6", "mpls", "ila"]
    id: int | None = None
    dst: str | None = None
    src: str | None = None
    tos: int | None = None
    ttl: int | None = None
    flags: int | None = None
    labels: list[int] = field(default_factory=list)
    locator: int | None = None


@dataclass
class Nexthop:
    """One ``nexthop`` of a multipath route (or an ``or`` address)."""

    via: str | None = None
    dev: str | None = None
    weight: int | None = None  # as written, 1..256
    onlink: bool = False
    realms: int = 0
    encap: Encap | None = None


@dataclass
class Route:
    """A route of ``static_routes`` or ``virtual_routes`` (keepalived's alloc_route()).

    Addresses are kept as written (normalised); a ``default`` destination is the family's
    zero address with prefix length 0. Unset options are None; `type` None is unicast
    (sent on add, not on delete, as keepalived does). `metrics` holds the RTAX_* values by
    keyword (``mtu``, ``rtt`` in the kernel's units, ...) and `locks` the locked ones.
    `mode` is how it is added: ``prepend`` (keepalived's default), ``add`` or ``append``.
    `no_track` routes are not watched; the others are added with protocol keepalived (18).
    """

    family: int = 4
    dst: str = ""
    dst_len: int = 0
    src: str | None = None
    src_len: int = 0
    pref_src: str | None = None
    via: str | None = None
    dev: str | None = None
    table: int = 254
    type: int | None = None
    scope: int | None = None
    protocol: int | None = None
    metric: int | None = None
    tos: int | None = None
    onlink: bool = False
    realms: int = 0
    expires: int | None = None
    pref: int | None = None
    ttl_propagate: int | None = None
    metrics: dict[str, int] = field(default_factory=dict)
    locks: set[str] = field(default_factory=set)
    congctl: str | None = None
    features: int = 0
    encap: Encap | None = None
    nexthops: list[Nexthop] = field(default_factory=list)
    mode: Literal["prepend", "add", "append"] = "prepend"
    no_track: bool = False
    track_group: str | None = None
    vrf: str | None = None
    words: list[str] = field(default_factory=list)
    line: int = 0
    file: str = ""

    def __str__(self) -> str:
        return " ".join(self.words)


@dataclass
class Rule:
    """A rule of ``static_rules`` or ``virtual_rules`` (keepalived's alloc_rule()).

    `action` is the kernel's FR_ACT_* (1 lookup `table`, 2 goto, 3 nop, 6 blackhole,
    7 unreachable, 8 prohibit). `src`/`dst` (``from``/``to``) are (address, prefix length).
    A rule without a preference gets keepalived's next one (16384 down, per family).
    """

    family: int = 4
    action: int = 0
    table: int = 0
    priority: int = 0
    src: tuple[str, int] | None = None
    dst: tuple[str, int] | None = None
    invert: bool = False
    tos: int = 0
    fwmark: int | None = None
    fwmask: int | None = None
    realms: int = 0
    suppress_prefixlen: int | None = None
    suppress_group: int | None = None
    iif: str | None = None
    oif: str | None = None
    tunnel_id: int = 0
    uid_range: tuple[int, int] | None = None
    l3mdev: bool = False
    protocol: int | None = None
    ip_proto: int | None = None
    sport: tuple[int, int] | None = None
    dport: tuple[int, int] | None = None
    goto: int | None = None
    no_track: bool = False
    track_group: str | None = None
    words: list[str] = field(default_factory=list)
    line: int = 0
    file: str = ""

    def __str__(self) -> str:
        return " ".join(self.words)


@dataclass
class TrackGroup:
    """A ``track_group``: the instances (`group`) that track the interfaces of the static
    addresses, routes and rules naming it."""

    name: str
    group: list[str] | None = None
    members: list[str] = field(default_factory=list)  # those that exist (validation)
    line: int = 0
    file: str = ""


@dataclass
class TrackInterface:
    name: str
    weight: int = 0
    reverse: bool = False
    line: int = 0


@dataclass
class TrackScript:
    """A ``track_script`` entry; `weight` None means the script's own weight."""

    name: str
    weight: int | None = None
    reverse: bool = False
    line: int = 0
    # what its weight made the parser say: keepalived says it only if the script is still
    # there when the entry is read (a script removed at its block's end is "not found")
    said: list[Any] = field(default_factory=list, compare=False, repr=False)


@dataclass
class BfdInstance:
    """A ``bfd_instance`` as keepalived's VRRP process keeps it (vrrp_tracked_bfd_t): the
    name a ``track_bfd`` entry refers to, and the weight its entries default to. The
    session's own settings are only checked (halab-vrrpd runs no BFD)."""

    name: str
    weight: int = 0
    weight_reverse: bool = False
    line: int = 0
    file: str = ""


@dataclass
class TrackBfd:
    """A ``track_bfd`` entry of an instance or sync group, with its effective weight.
    halab-vrrpd runs no BFD session: a tracked BFD changes neither priority nor state."""

    name: str
    weight: int = 0
    reverse: bool = False
    line: int = 0


# The notify-type keywords of a vrrp_instance (a vrrp_sync_group has the first five).
INSTANCE_NOTIFY_KEYWORDS = (
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify",
    "notify_master_rx_lower_pri",
    "notify_deleted",
)


@dataclass
class NotifyScript:
    """A notify-type script (``notify_master``, ``notify``, ``vrrp_notify_fifo_script``...,
    and a MISC_CHECK's ``misc_path``) as keepalived 2.2.7 keeps it (lib/notify.c
    notify_script_init).

    The keyword's first parameter is the command, split into `argv` with keepalived's
    quoting and escapes (``"/x.sh 'a b'"`` is ``["/x.sh", "a b"]``); a second parameter is
    the `user` it runs as, a third that user's `group` (default: the user's own). Any
    further word is ignored. Without a user it runs as the default script user
    (``script_user``, else keepalived_script, else root). A user or group that does not
    exist drops the script, as keepalived does.
    """

    argv: list[str]
    user: str | None = None
    group: str | None = None
    line: int = 0
    file: str = ""

    @property
    def path(self) -> str:
        """The program, as keepalived names the script in its messages."""
        return self.argv[0] if self.argv else ""

    @property
    def command(self) -> str:
        """The command as a shell would read it back (for messages)."""
        return shlex.join(self.argv)


@dataclass
class VrrpScript:
    """A ``vrrp_script`` block with keepalived's defaults (times in seconds).

    `timeout` 0 means "use the interval", as in keepalived. `disabled` is set when
    keepalived would not run the script (not found, not accessible, insecure).
    """

    name: str
    script: str | None = None
    interval: int = 1
    timeout: int = 0
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    group: str | None = None
    init_fail: bool = False
    disabled: bool = False
    line: int = 0
    file: str = ""
    end_line: int = 0  # its block's "}" (keepalived checks the script's user there)


@dataclass
class VrrpInstance:
    """A ``vrrp_instance``, with the values keepalived would run with.

    `state` and `priority` are the effective ones (keepalived derives a missing one from
    the other: MASTER without priority runs at 255). `advert_int` is in seconds, already
    rounded like keepalived (whole seconds for VRRPv2, 10 ms for VRRPv3).
    """

    name: str
    state: Literal["MASTER", "BACKUP"] = "BACKUP"
    interface: str | None = None
    vrid: int | None = None
    priority: int = VRRP_PRIO_DFL
    advert_int: float = 1.0
    version: int = 2
    family: int = 4  # of its addresses: 6 for an IPv6 instance
    auth_type: Literal["PASS", "AH"] | None = None
    auth_pass: str | None = None
    nopreempt: bool = False
    preempt_delay: float = 0.0
    vips: list[VirtualIp] = field(default_factory=list)
    excluded_vips: list[VirtualIp] = field(default_factory=list)
    unicast_src_ip: str | None = None
    unicast_peers: list[str] = field(default_factory=list)
    mcast_src_ip: str | None = None
    track_interfaces: list[TrackInterface] = field(default_factory=list)
    track_scripts: list[TrackScript] = field(default_factory=list)
    track_bfds: list[TrackBfd] = field(default_factory=list)  # checked, without effect
    notify_master: NotifyScript | None = None
    notify_backup: NotifyScript | None = None
    notify_fault: NotifyScript | None = None
    notify_stop: NotifyScript | None = None
    notify: NotifyScript | None = None
    notify_master_rx_lower_pri: NotifyScript | None = None
    # the script of ``notify_deleted`` (the flag alone is in `options`)
    notify_deleted: NotifyScript | None = None
    virtual_routes: list[Route] = field(default_factory=list)
    virtual_rules: list[Rule] = field(default_factory=list)
    garp_master_delay: int = 5
    garp_master_repeat: int = 5
    garp_master_refresh: int = 0
    garp_master_refresh_repeat: int = 1
    dont_track_primary: bool = False
    accept: bool | None = None
    smtp_alert: bool | None = None
    sync_group: str | None = None
    options: dict[str, list[str]] = field(default_factory=dict)
    line: int = 0
    file: str = ""
    # where the (last) authentication block is, for diagnostics about it
    auth_line: int = 0
    auth_file: str = ""
    # where each keyword of the block was last set (file, line), for messages about it
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)
    # configured values before keepalived's derivations, for diagnostics
    configured_state: str | None = None
    configured_priority: int | None = None
    configured_version: int | None = None


@dataclass
class SyncGroup:
    """A ``vrrp_sync_group``; `members` holds the instances that exist, in order."""

    name: str
    members: list[str] = field(default_factory=list)
    declared_members: list[str] = field(default_factory=list)
    notify_master: NotifyScript | None = None
    notify_backup: NotifyScript | None = None
    notify_fault: NotifyScript | None = None
    notify_stop: NotifyScript | None = None
    notify: NotifyScript | None = None
    smtp_alert: bool | None = None
    tracking_weight: bool = False
    track_interfaces: list[str] = field(default_factory=list)
    track_scripts: list[str] = field(default_factory=list)
    track_bfds: list[TrackBfd] = field(default_factory=list)  # checked, without effect
    line: int = 0
    file: str = ""


@dataclass
class GlobalDefs:
    """``global_defs``; keywords without a field of their own are kept in `options`."""

    router_id: str | None = None
    notification_email: list[str] = field(default_factory=list)
    notification_email_from: str | None = None
    smtp_server: str | None = None
    smtp_port: int = 25
    smtp_connect_timeout: int = 30
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    dynamic_interfaces: bool = False
    vrrp_version: int = 2
    vrrp_garp_master_delay: int = 5
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: int = 0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_strict: bool = False
    # how the VRRP process runs (keepalived's set_process_priorities): nice value, SCHED_RR
    # priority (0: none), its RLIMIT_RTTIME in microseconds, locked in memory, CPUs
    vrrp_priority: int = 0
    vrrp_rt_priority: int = 0
    vrrp_rlimit_rttime: int = RT_RLIMIT_DEFAULT
    vrrp_no_swap: bool = False
    vrrp_cpu_affinity: tuple[int, ...] = ()
    # scripts keepalived's parent (startup, shutdown) or its FIFOs run; halab-vrrpd checks
    # them as keepalived does but runs none
    startup_script: NotifyScript | None = None
    shutdown_script: NotifyScript | None = None
    notify_fifo_script: NotifyScript | None = None
    vrrp_notify_fifo_script: NotifyScript | None = None
    lvs_notify_fifo_script: NotifyScript | None = None
    # the LVS sync daemon's interface and VRRP instance (global lvs_sync_daemon, or the
    # deprecated lvs_sync_daemon_interface of an instance)
    lvs_sync_interface: str | None = None
    lvs_sync_instance: str | None = None
    options: dict[str, list[str]] = field(default_factory=dict)
    # where keywords were set (file, line), for messages about them
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass
class ConfigItem:
    """A keyword line kept as data, with any nested block."""

    keyword: str
    args: list[str]
    line: int
    file: str = ""
    children: list[ConfigItem] = field(default_factory=list)


@dataclass
class RealServer:
    """A ``real_server`` (or the ``sorry_server``) of a virtual server, as keepalived's
    checker reads it: `ip` None when its address is invalid (keepalived skips it); `port`
    0 when none is given; `forwarding` NAT/DR/TUN when set on the server itself."""

    address: str
    port: str | None
    items: list[ConfigItem] = field(default_factory=list)
    line: int = 0
    file: str = ""
    ip: str | None = None
    family: int = 0
    port_num: int = 0
    weight: int | None = None
    forwarding: str | None = None
    notify_scripts: list[NotifyScript] = field(default_factory=list)
    misc_scripts: list[NotifyScript] = field(default_factory=list)  # MISC_CHECK misc_path


@dataclass
class VirtualServer:
    """A ``virtual_server`` block: what keepalived's checker reads of it and checks (the
    VRRP side does not act on it). Exactly one of `ip`, `fwmark`, `group` says what it
    serves; `protocol` is tcp/udp/sctp or None; `sched` the lb_algo; `forwarding` the
    lb_kind (NAT/DR/TUN) its servers inherit."""

    address: str
    port: str | None
    items: list[ConfigItem] = field(default_factory=list)
    real_servers: list[RealServer] = field(default_factory=list)
    line: int = 0
    file: str = ""
    end_line: int = 0
    ip: str | None = None
    family: int = 0
    port_num: int = 0
    fwmark: int | None = None
    group: str | None = None
    protocol: str | None = None
    sched: str | None = None
    forwarding: str | None = None
    persistence_timeout: int = 0
    quorum: int = 1
    hysteresis: int = 0
    weight: int = 1
    ha_suspend: bool = False
    one_packet: bool = False
    sorry_server: RealServer | None = None
    notify_scripts: list[NotifyScript] = field(default_factory=list)


@dataclass
class KeepalivedConfig:
    global_defs: GlobalDefs = field(default_factory=GlobalDefs)
    scripts: dict[str, VrrpScript] = field(default_factory=dict)
    instances: dict[str, VrrpInstance] = field(default_factory=dict)
    sync_groups: dict[str, SyncGroup] = field(default_factory=dict)
    virtual_servers: list[VirtualServer] = field(default_factory=list)
    # ``virtual_server_group NAME { ... }`` blocks, kept as data (the checker reads them)
    virtual_server_groups: list[ConfigItem] = field(default_factory=list)
    static_addresses: list[VirtualIp] = field(default_factory=list)
    static_routes: list[Route] = field(default_factory=list)
    static_rules: list[Rule] = field(default_factory=list)
    track_groups: dict[str, TrackGroup] = field(default_factory=dict)
    # the bfd_instance names keepalived's VRRP process keeps, for track_bfd
    bfd_instances: dict[str, BfdInstance] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # False when keepalived's VRRP process would stop at start-up on this configuration
    # (vrrp_complete_init fails: an instance without virtual_router_id, ...), although
    # `keepalived -t` exits 5 as for errors it runs with
    runs: bool = True


@dataclass
class ParseNotes:
    """What parsing learns that keepalived keeps outside the model; validation needs it.

    `families` holds each instance's address family as its addresses set it (absent: none
    yet, IPv4); `unicast_configured` the instances with a unicast keyword; `garp_set` the
    garp_* keywords an instance set itself (the others come from global_defs);
    `missing_interface` the first (file, line) naming an interface that does not exist;
    `script_user_failed` that ``script_user`` names a user or group that does not exist
    (keepalived then has no default script user: scripts without their own are dropped);
    `mtus` each interface's MTU when the interfaces are this host's (else keepalived's
    DEFAULT_MTU, 1500, is taken): it bounds the addresses an advert can carry.
    """

    families: dict[str, int] = field(default_factory=dict)
    unicast_configured: set[str] = field(default_factory=set)
    garp_set: dict[str, set[str]] = field(default_factory=dict)
    missing_interface: tuple[str, int] | None = None
    script_user_failed: bool = False
    mtus: dict[str, int] = field(default_factory=dict)

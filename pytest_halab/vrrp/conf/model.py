"""The configuration model: what a keepalived.conf declares, with the values keepalived
would run with (filled in by validation), and the few facts parsing learns that keepalived
keeps outside its model."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "IFNAMSIZ",
    "RT_RLIMIT_DEFAULT",
    "TIMER_HZ",
    "VRRP_PRIO_DFL",
    "VRRP_PRIO_OWNER",
    "ConfigItem",
    "GlobalDefs",
    "KeepalivedConfig",
    "NotifyScript",
    "ParseNotes",
    "RealServer",
    "SyncGroup",
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
    """An address in ``virtual_ipaddress`` / ``virtual_ipaddress_excluded``."""

    address: str
    prefixlen: int
    dev: str | None = None
    label: str | None = None
    brd: str | None = None
    scope: str | None = None
    options: list[str] = field(default_factory=list)
    line: int = 0
    file: str = ""

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4


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


@dataclass
class NotifyScript:
    """A notify-type script (``notify_master``, ``notify``, ``vrrp_notify_fifo_script``...)
    as keepalived 2.2.7 keeps it (lib/notify.c notify_script_init).

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
        return self.argv[0]

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
    notify_master: NotifyScript | None = None
    notify_backup: NotifyScript | None = None
    notify_fault: NotifyScript | None = None
    notify_stop: NotifyScript | None = None
    notify: NotifyScript | None = None
    notify_master_rx_lower_pri: NotifyScript | None = None
    # the script of ``notify_deleted`` (the flag alone is in `options`)
    notify_deleted: NotifyScript | None = None
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
    address: str
    port: str | None
    items: list[ConfigItem] = field(default_factory=list)
    line: int = 0
    file: str = ""


@dataclass
class VirtualServer:
    """A ``virtual_server`` block, parsed but not acted upon."""

    address: str
    port: str | None
    items: list[ConfigItem] = field(default_factory=list)
    real_servers: list[RealServer] = field(default_factory=list)
    line: int = 0
    file: str = ""


@dataclass
class KeepalivedConfig:
    global_defs: GlobalDefs = field(default_factory=GlobalDefs)
    scripts: dict[str, VrrpScript] = field(default_factory=dict)
    instances: dict[str, VrrpInstance] = field(default_factory=dict)
    sync_groups: dict[str, SyncGroup] = field(default_factory=dict)
    virtual_servers: list[VirtualServer] = field(default_factory=list)
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
    (keepalived then has no default script user: scripts without their own are dropped).
    """

    families: dict[str, int] = field(default_factory=dict)
    unicast_configured: set[str] = field(default_factory=set)
    garp_set: dict[str, set[str]] = field(default_factory=dict)
    missing_interface: tuple[str, int] | None = None
    script_user_failed: bool = False

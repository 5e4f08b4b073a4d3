"""keepalived 2.2.7's keyword tables, as data: the keywords each block accepts that the
parser keeps without a handler of its own, the flags taking true/false, and the keyword
tree of ``virtual_server``."""

from __future__ import annotations

from typing import TypeAlias

__all__ = [
    "CHECKERS",
    "CHECK_COMMON",
    "GLOBAL_BOOLS",
    "GLOBAL_BOOLS_QUOTED",
    "GLOBAL_KEYWORDS",
    "GLOBAL_SCRIPTS",
    "INSTANCE_BLOCKS",
    "INSTANCE_BOOLS",
    "INSTANCE_OTHER",
    "NOTIFY_SCRIPTS",
    "RS_KEYWORDS",
    "TOP_GENERIC_BLOCKS",
    "TOP_IGNORED",
    "URL_KEYWORDS",
    "VS_KEYWORDS",
    "VS_TABLE",
    "KeywordTree",
]

# global_defs keywords kept as options (those with a handler are in global_defs.py)
GLOBAL_KEYWORDS = [
    "process_names",
    "process_name",
    "vrrp_process_name",
    "checker_process_name",
    "lvs_process_name",
    "bfd_process_name",
    "smtp_helo_name",
    "smtp_alert",
    "startup_script_timeout",
    "shutdown_script_timeout",
    "max_auto_priority",
    "min_auto_priority_delay",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "checker_log_all_failures",
    "no_email_faults",
    "default_interface",
    "disable_local_igmp",
    "lvs_timeouts",
    "lvs_flush",
    "lvs_flush_on_stop",
    "lvs_flush_onstop",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_down_timer_adverts",
    "vrrp_min_garp",
    "vrrp_garp_extra_if",
    "vrrp_vmac_garp_intvl",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "nftables",
    "nftables_priority",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_counters",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "notify_fifo",
    "vrrp_notify_fifo",
    "vrrp_notify_priority_changes",
    "fifo_write_vrrp_states_on_reload",
    "lvs_notify_fifo",
    "checker_priority",
    "checker_no_swap",
    "checker_rt_priority",
    "checker_cpu_affinity",
    "checker_rlimit_rttime",
    "checker_rlimit_rtime",
    "bfd_priority",
    "bfd_no_swap",
    "bfd_rt_priority",
    "bfd_cpu_affinity",
    "bfd_rlimit_rttime",
    "bfd_rlimit_rtime",
    "snmp_socket",
    "enable_traps",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_checker",
    "enable_dbus",
    "dbus_service_name",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "rs_init_notifies",
    "no_checker_emails",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "vrrp_startup_delay",
    "log_unknown_vrids",
    "vmac_prefix",
    "vmac_addr_prefix",
    "umask",
    "random_seed",
    "reload_check_config",
    "reload_time_file",
    "reload_repeat",
    "reload_file",
    "include_check",
    "config_save_dir",
    "tmp_config_directory",
    "data_use_instance",
]
# (net_namespace, net_namespace_ipvs, namespace_with_ipsets, instance, use_pid_dir and
# linkbeat_use_polling are top-level keywords: in global_defs keepalived knows them not)

# vrrp_instance keywords kept as options
INSTANCE_OTHER = [
    "use_vmac",
    "use_vmac_addr",
    "vmac_xmit_base",
    "use_ipvlan",
    "unicast_fault_no_peer",
    "check_unicast_src",
    "old_unicast_checksum",
    "native_ipv6",
    "vrf",
    "mcast_dst_ip",
    "track_src_ip",
    "unicast_ttl",
    "promote_secondaries",
    "linkbeat_use_polling",
    "skip_check_adv_addr",
    "strict_mode",
    "preempt",
    "debug",
    "notify_priority_changes",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "down_timer_adverts",
    "garp_extra_if",
    "vmac_garp_intvl",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "kernel_rx_buf_size",
]
# Flags with an optional true/false value (keepalived's check_true_false, lower case only),
# by the way keepalived words its refusal.
GLOBAL_BOOLS_QUOTED = (
    "smtp_alert",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "vrrp_notify_priority_changes",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs_force",
    "rs_init_notifies",
    "no_checker_emails",
)
GLOBAL_BOOLS = (
    "checker_log_all_failures",
    "vrrp_min_garp",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
)
INSTANCE_BOOLS = (
    "skip_check_adv_addr",
    "strict_mode",
    "higher_prio_send_advert",
    "lower_prio_no_advert",
    "notify_priority_changes",
)
INSTANCE_BLOCKS = ("track_file", "track_process")

# top-level blocks kept as data, and top-level keywords ignored
TOP_GENERIC_BLOCKS = [
    "garp_group",
    "linkbeat_interfaces",
    "vrrp_track_process",
    "vrrp_track_file",
    "track_file",
    "interface_up_down_delays",
    "SSL",
    "virtual_server_group",
]

# (net_namespace and instance have handlers: global_defs.ROOT)
TOP_IGNORED = (
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "use_pid_dir",
    "child_wait_time",
    "linkbeat_use_polling",
)

NOTIFY_SCRIPTS = ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify")
# global_defs scripts read like notify scripts (a command, then an optional user and group),
# with the type keepalived names them by in its messages
GLOBAL_SCRIPTS = {
    "startup_script": "startup",
    "shutdown_script": "shutdown",
    "notify_fifo_script": "notify_fifo",
    "vrrp_notify_fifo_script": "vrrp_notify_fifo",
    "lvs_notify_fifo_script": "lvs_notify_fifo",
}

# virtual_server: the keywords of its blocks (checked, kept as data). A checker has the
# connection keywords (not MISC_CHECK), the common ones (neither FILE_CHECK nor BFD_CHECK)
# and its own (BFD_CHECK: only name and alpha, check_bfd.c).
CHECK_CONNECTION = [
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "connect_timeout",
    "fwmark",
]
CHECK_COMMON = [
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "alpha",
    "log_all_failures",
]
_CONNECTED = CHECK_CONNECTION + CHECK_COMMON
CHECKERS: dict[str, tuple[str, ...]] = {
    "TCP_CHECK": (*_CONNECTED,),
    "HTTP_GET": (
        *_CONNECTED,
        "nb_get_retry",
        "virtualhost",
        "http_protocol",
        "enable_sni",
        "fast_recovery",
    ),
    "SSL_GET": (
        *_CONNECTED,
        "nb_get_retry",
        "virtualhost",
        "http_protocol",
        "enable_sni",
        "fast_recovery",
    ),
    "MISC_CHECK": (*CHECK_COMMON, "misc_path", "misc_timeout", "misc_dynamic", "user"),
    "SMTP_CHECK": (*_CONNECTED, "helo_name"),
    "DNS_CHECK": (*_CONNECTED, "type", "name"),
    "UDP_CHECK": (
        *_CONNECTED,
        "payload",
        "require_reply",
        "min_reply_length",
        "max_reply_length",
    ),
    "PING_CHECK": (*_CONNECTED,),
    "FILE_CHECK": ("track_file", "weight"),
    "BFD_CHECK": ("name", "alpha"),
}
URL_KEYWORDS = [
    "path",
    "digest",
    "status_code",
    "virtualhost",
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_min_offset",
    "regex_max_offset",
    "regex_stack",
]
VS_KEYWORDS = [
    "ip_family",
    "retry",
    "delay_before_retry",
    "warmup",
    "connect_timeout",
    "delay_loop",
    "inhibit_on_failure",
    "lb_algo",
    "lvs_sched",
    "hashed",
    "ops",
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "lb_kind",
    "lvs_method",
    "persistence_engine",
    "persistence_timeout",
    "persistence_granularity",
    "protocol",
    "ha_suspend",
    "smtp_alert",
    "virtualhost",
    "snmp_name",
    "alpha",
    "omega",
    "quorum_up",
    "quorum_down",
    "quorum",
    "hysteresis",
    "weight",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
]
RS_KEYWORDS = [
    "weight",
    "lvs_method",
    "uthreshold",
    "lthreshold",
    "inhibit_on_failure",
    "notify_up",
    "notify_down",
    "alpha",
    "retry",
    "delay_before_retry",
    "warmup",
    "connect_timeout",
    "delay_loop",
    "smtp_alert",
    "virtualhost",
    "snmp_name",
]

# A keyword tree: each keyword maps to the tree of its block, or None when it has none.
KeywordTree: TypeAlias = dict[str, "KeywordTree | None"]


def _vs_table() -> KeywordTree:
    checker: KeywordTree = {}
    for name, keywords in CHECKERS.items():
        sub: KeywordTree = dict.fromkeys(keywords)
        if name in ("HTTP_GET", "SSL_GET"):
            sub["url"] = dict.fromkeys(URL_KEYWORDS)
        if name == "SMTP_CHECK":  # the deprecated host list: one connection per host
            sub["host"] = dict.fromkeys(_CONNECTED)
        checker[name] = sub
    real: KeywordTree = dict.fromkeys(RS_KEYWORDS)
    real.update(checker)
    table: KeywordTree = dict.fromkeys(VS_KEYWORDS)
    table["real_server"] = real
    return table


VS_TABLE: KeywordTree = _vs_table()

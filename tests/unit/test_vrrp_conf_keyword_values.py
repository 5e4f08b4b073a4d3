# ruff: noqa: E501  (expected keepalived messages are kept verbatim)
"""Values of global_defs, top-level and vrrp_instance keywords that halab-vrrpd -t kept
without a check: each case is a keyword line, what ``keepalived -t`` 2.2.7 printed for it
(Debian's build, run on the same file in a network namespace holding eth0) and its exit
status. ``F`` stands for the file's path; keepalived names no file for global_defs lines of
the main file, and no line at all for the checks made once the files are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import config_test_exit_status, load_config
from pytest_halab.vrrp.conf.model import KeepalivedConfig

INSTANCE = """\
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    {line}
    virtual_ipaddress {{
        10.0.0.1
    }}
}}
"""


def in_global_defs(line: str) -> str:
    return f"global_defs {{\n    {line}\n}}\n" + INSTANCE.format(line="")


def at_top(line: str) -> str:
    return f"{line}\n" + INSTANCE.format(line="")


def check(tmp_path: Path, text: str) -> tuple[KeepalivedConfig, list[str], int]:
    conf = tmp_path / "k.conf"
    conf.write_text(text)
    cfg, diags = load_config(conf, interfaces=["eth0", "eth1", "lo"], check_scripts=False)
    said = [str(d).replace(str(conf), "F") for d in diags if d.printed_by_test]
    return cfg, said, config_test_exit_status(diags)


# (line in global_defs, what keepalived -t printed, its exit status)
GLOBAL_CASES = [
    # the processes' scheduling: checker_* and bfd_* as vrrp_*
    ("checker_rt_priority 200", ["(Line 2) checker process real-time priority 200 greater than maximum 99 - setting to maximum"], 5),
    ("checker_rt_priority -1", ["(Line 2) checker process real-time priority -1 less than minimum 1 - setting to minimum"], 5),
    ("bfd_rt_priority abc", ["(Line 2) invalid number 'abc'", "(Line 2) bfd process real-time priority 'abc' invalid"], 5),
    ("bfd_rt_priority", ["(Line 2) No bfd process real-time priority specified"], 5),
    ("checker_priority 99999999999", ["(Line 2) number '99999999999' outside integer range", "(Line 2) Invalid checker process priority specified"], 5),
    ("checker_priority", ["(Line 2) No checker process priority specified"], 5),
    ("bfd_priority abc", ["(Line 2) invalid number 'abc'", "(Line 2) Invalid bfd process priority specified"], 5),
    ("checker_rlimit_rttime -1", ["(Line 2) negative number '-1'", "(Line 2) Invalid checker real-time limit - -1"], 5),
    ("bfd_rlimit_rtime 99999999999", ["(Line 2) number '99999999999' outside unsigned integer range", "(Line 2) Invalid bfd real-time limit - 99999999999"], 5),
    ("checker_rlimit_rtime 1", [], 0),
    ("checker_cpu_affinity abc", ["(Line 2) invalid number 'abc'", "(Line 2) Invalid cpu_id:0 specified for checker process"], 5),
    # the cpu_id said is strtol's value cut to an int
    ("bfd_cpu_affinity 99999999999", ["(Line 2) number '99999999999' outside integer range", "(Line 2) Invalid cpu_id:1215752191 specified for bfd process"], 5),
    ("vrrp_cpu_affinity 99999999999", ["(Line 2) number '99999999999' outside integer range", "(Line 2) Invalid cpu_id:1215752191 specified for vrrp process"], 5),
    # scripts' timeouts, auto priorities
    ("startup_script_timeout abc", ["(Line 2) invalid number 'abc'", "(Line 2) startup_script_timeout 'abc' must be in [1, 1000] - ignoring"], 5),
    ("shutdown_script_timeout -1", ["(Line 2) negative number '-1'", "(Line 2) shutdown_script_timeout '-1' must be in [1, 1000] - ignoring"], 5),
    ("startup_script_timeout", ["(Line 2) startup_script_timeout requires value"], 5),
    ("max_auto_priority 100", ["(Line 2) number '100' outside range [-1, 99]", "(Line 2) max_auto_priority '100' must be in [0, 99] (or -1 to disable) - ignoring"], 5),
    ("max_auto_priority -1", [], 0),
    ("max_auto_priority", [], 0),
    ("min_auto_priority_delay -1", ["(Line 2) number '-1' outside range [1, 10000000]", "(Line 2) min_auto_priority_delay '-1' must be in [1, 10000000] - ignoring"], 5),
    ("min_auto_priority_delay", ["(Line 2) min_auto_priority_delay requires delay time"], 5),
    # VRRP timers
    ("vrrp_startup_delay abc", ["(Line 2) invalid number 'abc'", "(Line 2) vrrp_startup_delay 'abc' is invalid"], 5),
    ("vrrp_startup_delay 0", ["(Line 2) number '0' outside range [0.001000, 4294.967295]", "(Line 2) vrrp_startup_delay '0' is invalid"], 5),
    ("vrrp_startup_delay 0.0005", ["(Line 2) number '0.0005' outside range [0.001000, 4294.967295]", "(Line 2) vrrp_startup_delay '0.0005' is invalid"], 5),
    ("vrrp_startup_delay 5abc", ["(Line 2) invalid number '5abc'", "(Line 2) vrrp_startup_delay '5abc' is invalid"], 5),
    ("vrrp_startup_delay 5", [], 0),
    ("vrrp_garp_lower_prio_delay -1", ["(Line 2) negative number '-1'", "(Line 2) vrrp_garp_lower_prio_delay '-1' invalid - ignoring"], 5),
    ("vrrp_garp_lower_prio_repeat abc", ["(Line 2) invalid number 'abc'", "(Line 2) Invalid vrrp_garp_lower_prio_repeat 'abc'"], 5),
    ("vrrp_down_timer_adverts 99999999999", ["(Line 2) number '99999999999' outside unsigned integer range", "(Line 2) Invalid vrrp_down_timer_adverts [1:100] '99999999999'"], 5),
    ("vrrp_garp_extra_if abc", ["(Line 2) invalid number 'abc'", "(Line 2) vrrp_garp_extra_if 'abc' invalid - ignoring"], 5),
    ("vrrp_garp_extra_if 0", ["(Line 2) number '0' outside range [1, 86400]", "(Line 2) vrrp_garp_extra_if '0' invalid - ignoring"], 5),
    ("vrrp_garp_extra_if all", ["(Line 2) vrrp_garp_extra_if specified without time - ignoring"], 5),
    ("vrrp_garp_extra_if all 5 x", ["(Line 2) invalid number 'x'", "(Line 2) vrrp_garp_extra_if 'x' invalid - ignoring"], 5),
    ("vrrp_vmac_garp_intvl 5", ['(Line 2) Keyword "vrrp_vmac_garp_intvl" is deprecated - please use "vrrp_garp_extra_if"'], 5),
    ("vrrp_vmac_garp_intvl -1", ['(Line 2) Keyword "vrrp_vmac_garp_intvl" is deprecated - please use "vrrp_garp_extra_if"', "(Line 2) negative number '-1'", "(Line 2) vrrp_vmac_garp_intvl '-1' invalid - ignoring"], 5),
    # receive buffers
    ("vrrp_netlink_cmd_rcv_bufs abc", ["(Line 2) invalid number 'abc'", "(Line 2) vrrp_netlink_cmd_rcv_bufs size (abc) invalid"], 5),
    ("vrrp_netlink_monitor_rcv_bufs -1", ["(Line 2) negative number '-1'", "(Line 2) vrrp_netlink_monitor_rcv_bufs size (-1) invalid"], 5),
    ("lvs_netlink_cmd_rcv_bufs 99999999999", ["(Line 2) number '99999999999' outside unsigned integer range", "(Line 2) lvs_netlink_cmd_rcv_bufs size (99999999999) invalid"], 5),
    ("lvs_netlink_monitor_rcv_bufs x", ["(Line 2) invalid number 'x'", "(Line 2) lvs_netlink_monitor_rcv_bufs size (x) invalid"], 5),
    ("process_monitor_rcv_bufs -1", ["(Line 2) negative number '-1'", "(Line 2) process_monitor_rcv_bufs size (-1) invalid"], 5),
    ("vrrp_netlink_cmd_rcv_bufs", ["(Line 2) vrrp_netlink_cmd_rcv_bufs size missing"], 5),
    ("vrrp_netlink_cmd_rcv_bufs 0", [], 0),
    ("vrrp_rx_bufs_multiplier abc", ["(Line 2) invalid number 'abc'", "(Line 2) Invalid vrrp_rx_bufs_multiplier abc"], 5),
    ("vrrp_rx_bufs_multiplier 1 2", ["(Line 2) Invalid vrrp_rx_bufs_multiplier"], 5),
    ("vrrp_rx_bufs_policy -1", ["(Line 2) negative number '-1'", "(Line 2) Invalid vrrp_rx_bufs_policy -1"], 5),
    # the size is read from the first word, whatever word is not MTU or ADVERT
    ("vrrp_rx_bufs_policy abc def", ["(Line 2) invalid number 'abc'", "(Line 2) Invalid vrrp_rx_bufs_policy abc", "(Line 2) invalid number 'abc'", "(Line 2) Invalid vrrp_rx_bufs_policy def"], 5),
    ("vrrp_rx_bufs_policy MTU 500", ["(Line 2) invalid number 'MTU'", "(Line 2) Invalid vrrp_rx_bufs_policy 500"], 5),
    ("vrrp_rx_bufs_policy 5 abc", [], 0),
    ("vrrp_rx_bufs_policy 500 MTU", ["(Line 2) Cannot set vrrp_rx_bufs_policy size and policy, ignoring policy"], 5),
    ("vrrp_rx_bufs_policy mtu advert", ["(Line 2) Cannot set both vrrp_rx_bufs_policy MTU and ADVERT, ignoring ADVERT"], 5),
    # nftables
    ("nftables_priority abc", ["(Line 2) invalid number 'abc'", "(Line 2) invalid nftables chain priority 'abc'"], 5),
    ("nftables_priority -5", [], 0),
    ("nftables_ipvs_priority 99999999999", ["(Line 2) number '99999999999' outside integer range", "(Line 2) invalid ipvs nftables chain priority '99999999999'"], 5),
    ("nftables_ipvs_start_fwmark -1", ["(Line 2) negative number '-1'", "(Line 2) invalid ipvs nftables start_fwmark priority '-1'"], 5),
    # LVS
    ("lvs_timeouts abc", ["(Line 2) lvs_timeouts requires at least one option"], 5),
    ("lvs_timeouts tcp 5 udp", ["(Line 2) No value specified for lvs_timeout udp - ignoring"], 5),
    ("lvs_timeouts tcp abc udp -1", ["(Line 2) invalid number 'abc'", "(Line 2) Invalid lvs_timeout tcp (abc) - ignoring", "(Line 2) negative number '-1'", "(Line 2) Invalid lvs_timeout udp (-1) - ignoring"], 5),
    ("lvs_timeouts foo 5 tcp 9999999999", ["(Line 2) Unknown option foo specified for lvs_timeouts", "(Line 2) Unknown option 5 specified for lvs_timeouts", "(Line 2) number '9999999999' outside unsigned integer range", "(Line 2) Invalid lvs_timeout tcp (9999999999) - ignoring"], 5),
    ("lvs_flush_on_stop abc", ["(Line 2) Unknown lvs_flush_on_stop type abc"], 5),
    ("lvs_flush_onstop -1", ["(Line 2) Unknown lvs_flush_on_stop type -1"], 5),
    ("lvs_flush_on_stop VS", [], 0),
    ("lvs_flush_on_stop", [], 0),
    # umask, random_seed, data_use_instance
    ("umask abc", ["(Line 2) Unknown umask bit abc"], 5),
    ("umask -1", ["(Line 2) Unknown umask bit -1"], 5),
    ("umask 99999999999", ["(Line 2) invalid umask value 99999999999"], 5),
    ("umask 0999", ["(Line 2) invalid umask value 0999"], 5),
    ("umask 1000", ["(Line 2) invalid umask value 1000"], 5),
    ("umask 022 x", ["(Line 2) Extra parameter(s) to umask option"], 5),
    ("umask 0x1ff", [], 0),
    ("umask IWGRP|IWOTH", [], 0),
    ("umask IWGRP |IWOTH", [], 0),
    ("umask IWGRP IWOTH", ["(Line 2) Invalid umask syntax IWOTH"], 5),
    ("umask IWGRP|", ["(Line 2) umask missing bit value"], 5),
    ("umask IWGRPx", ["(Line 2) Invalid umask syntax IWGRPx"], 5),
    ("random_seed abc", ["(Line 2) invalid number 'abc'", "(Line 2) random_seed abc invalid"], 5),
    ("random_seed 99999999999", ["(Line 2) number '99999999999' outside unsigned integer range", "(Line 2) random_seed 99999999999 invalid"], 5),
    ("random_seed 5", [], 0),
    ("data_use_instance abc", ["(Line 2) Invalid value 'abc' for global date_use_instance specified"], 5),
    ("data_use_instance no", [], 0),
    # top-level keywords, unknown in global_defs
    ("net_namespace x", ["(Line 2) Unknown keyword 'net_namespace'"], 5),
    ("net_namespace_ipvs abc", ["(Line 2) Unknown keyword 'net_namespace_ipvs'"], 5),
    ("namespace_with_ipsets", ["(Line 2) Unknown keyword 'namespace_with_ipsets'"], 5),
    ("instance abc", ["(Line 2) Unknown keyword 'instance'"], 5),
    ("use_pid_dir", ["(Line 2) Unknown keyword 'use_pid_dir'"], 5),
    ("linkbeat_use_polling", ["(Line 2) Unknown keyword 'linkbeat_use_polling'"], 5),
]  # fmt: skip


@pytest.mark.parametrize(("line", "said", "status"), GLOBAL_CASES)
def test_global_defs_keyword(tmp_path: Path, line: str, said: list[str], status: int) -> None:
    _cfg, messages, exit_status = check(tmp_path, in_global_defs(line))
    assert messages == said
    assert exit_status == status


# (top-level lines, what keepalived -t printed, its exit status)
TOP_CASES = [
    ("instance", ["(Line 1) instance name missing - ignoring"], 5),
    ("net_namespace", ["(Line 1) net_namespace name missing - ignoring"], 5),
    ("instance a\ninstance b", ["(Line 2) Duplicate instance definition b - ignoring"], 5),
    # given a namespace, keepalived -t exits 0 whatever it said
    ("net_namespace a\nnet_namespace b", ["(Line 2) Duplicate net_namespace definition b - ignoring"], 0),
    ("use_pid_dir", [], 0),
]  # fmt: skip


@pytest.mark.parametrize(("line", "said", "status"), TOP_CASES)
def test_top_level_keyword(tmp_path: Path, line: str, said: list[str], status: int) -> None:
    _cfg, messages, exit_status = check(tmp_path, at_top(line))
    assert messages == said
    assert exit_status == status


NO_VIP = "(VI_1) No VIP specified; at least one is required"
IPV4_VIP = "(F: Line {}) (VI_1): address family must match VRRP instance [10.0.0.1] - ignoring"
IPVLAN = (
    "(VI_1) IPv4 ipvlan requires a source ip address to be configured."
    " setting instance to fault state"
)

# (line(s) in the instance, at line 7, what keepalived -t printed, its exit status)
INSTANCE_CASES = [
    ("garp_extra_if abc", ["(F: Line 7) invalid number 'abc'", "(F: Line 7) (VI_1): garp_extra_if 'abc' invalid - ignoring"], 5),
    ("garp_extra_if 99999999999", ["(F: Line 7) number '99999999999' outside unsigned integer range", "(F: Line 7) (VI_1): garp_extra_if '99999999999' invalid - ignoring"], 5),
    ("garp_extra_if 0", [], 0),
    ("garp_extra_if all", ["(F: Line 7) (VI_1): garp_extra_if specified without time - ignoring"], 5),
    ("garp_extra_if x 5", ["(F: Line 7) invalid number 'x'", "(F: Line 7) (VI_1): garp_extra_if 'x' invalid - ignoring"], 5),
    ("vmac_garp_intvl 5", ['(F: Line 7) Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"'], 5),
    ("vmac_garp_intvl -1", ['(F: Line 7) Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"', "(F: Line 7) negative number '-1'", "(F: Line 7) (VI_1): vmac_garp_intvl '-1' invalid - ignoring"], 5),
    ("kernel_rx_buf_size abc", ["(F: Line 7) invalid number 'abc'", "(F: Line 7) (VI_1) invalid kernel_rx_buf_size specified"], 5),
    ("kernel_rx_buf_size -1", ["(F: Line 7) negative number '-1'", "(F: Line 7) (VI_1) invalid kernel_rx_buf_size specified"], 5),
    ("kernel_rx_buf_size 5 6", ["(F: Line 7) (VI_1) invalid kernel_rx_buf_size specified"], 5),
    ("kernel_rx_buf_size 500", [], 0),
    ("mcast_dst_ip abc", ["(F: Line 7) (VI_1) malformed mcast dest address abc. Skipping..."], 5),
    ("mcast_dst_ip 99999999999", ["(F: Line 7) (VI_1) malformed mcast dest address 99999999999. Skipping..."], 5),
    ("mcast_dst_ip 224.0.0.18", [], 0),
    ("mcast_dst_ip 10.0.0.5", ["(F: Line 7) (VI_1) mcast_dst_ip 10.0.0.5 not multicast. Skipping..."], 5),
    ("mcast_dst_ip 10.0.0.5/24", ["(F: Line 7) (VI_1) mcast_dst_ip 10.0.0.5/24 not multicast. Skipping..."], 5),
    # an IPv6 group makes the instance IPv6: its IPv4 address is refused
    ("mcast_dst_ip ff02::12", [IPV4_VIP.format(9), NO_VIP], 5),
    ("mcast_dst_ip ff05::12", ["(F: Line 7) (VI_1) mcast_dst_ip ff05::12 not link-local multicast. Skipping...", IPV4_VIP.format(9), NO_VIP], 5),
    ("native_ipv6", [IPV4_VIP.format(9), NO_VIP], 5),
    ("native_ipv6\n    virtual_ipaddress {\n        fe80::1\n    }", [IPV4_VIP.format(12)], 5),
    ("mcast_src_ip 10.0.0.9\n    native_ipv6", ["(F: Line 8) (VI_1) Cannot specify native_ipv6 with IPv4 addresses"], 5),
    ("native_ipv6\n    version 2", ["(F: Line 8) (VI_1) vrrp_version 2 conflicts with configured or deduced version 3; ignoring.", IPV4_VIP.format(10), NO_VIP], 5),
    ("vrf abc", ["(F: Line 7) (VI_1) Cannot specify VRF interface and interface - ignoring"], 5),
    ("use_ipvlan", [IPVLAN], 5),
    ("use_ipvlan 10.0.0.5/33", [IPVLAN], 5),
    ("use_ipvlan 10.0.0.5/24", [], 0),
    ("use_ipvlan bridge 10.0.0.5", [], 0),
    ("use_ipvlan\n    promote_secondaries", ["(VI_1) promote_secondaries is automatically set for vmacs - ignoring", IPVLAN], 5),
    ("vmac_xmit_base", ["(VI_1) vmac_xmit_base is only valid with a vmac"], 5),
    ("use_ipvlan 10.0.0.5\n    vmac_xmit_base", ["(VI_1) vmac_xmit_base is only valid with a vmac"], 5),
    ("use_vmac\n    vmac_xmit_base", [], 0),
]  # fmt: skip


@pytest.mark.parametrize(("line", "said", "status"), INSTANCE_CASES)
def test_instance_keyword(tmp_path: Path, line: str, said: list[str], status: int) -> None:
    _cfg, messages, exit_status = check(tmp_path, INSTANCE.format(line=line))
    assert messages == said
    assert exit_status == status


def vrf_instance(lines: str) -> str:
    """An instance without an interface (a VRF is for those)."""
    return (
        "vrrp_instance VI_1 {\n    state BACKUP\n" + lines + "    virtual_router_id 51\n"
        "    priority 100\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n"
    )


VRF_CASES = [
    ("    vrf eth1\n", ["(VI_1) Unknown interface!"], 5),
    ("    vrf nosuch\n", ["(F: Line 3) (VI_1) WARNING - VRF interface nosuch doesn't exist", "Non-existent interface specified in configuration"], 5),
    ("    vrf lo\n", ["(F: Line 3) (VI_1) cannot use a loopback interface (lo) for VRF - ignoring", "(VI_1) Unknown interface!"], 5),
    ("    vrf eth1\n    vrf eth0\n", ["(F: Line 4) (VI_1) VRF interface already specified as 'eth1' - ignoring", "(VI_1) Unknown interface!"], 5),
    ("    vrf abcdefghijklmnopq\n", ["(F: Line 3) (VI_1) VRF interface name 'abcdefghijklmnopq' too long - ignoring", "(VI_1) Unknown interface!"], 5),
    ("    vrf eth1\n    interface eth0\n", ["(VI_1) vrf can only be specified without interface - clearing"], 5),
    ("    vrf eth1\n    interface eth0\n    unicast_peer {\n        10.0.0.3\n    }\n", ["(VI_1) vrf can only be specified without interface - clearing"], 5),
]  # fmt: skip


@pytest.mark.parametrize(("lines", "said", "status"), VRF_CASES)
def test_vrf(tmp_path: Path, lines: str, said: list[str], status: int) -> None:
    cfg, messages, exit_status = check(tmp_path, vrf_instance(lines))
    assert messages == said
    assert exit_status == status
    if "interface eth0" in lines:
        assert "vrf" not in cfg.instances["VI_1"].options  # cleared


@pytest.mark.parametrize(
    ("line", "name", "kept"),
    [
        ("vrrp_startup_delay 5", "vrrp_startup_delay", ["5"]),
        ("vrrp_startup_delay 0", "vrrp_startup_delay", None),
        ("vrrp_garp_lower_prio_delay -1", "vrrp_garp_lower_prio_delay", None),
        ("vrrp_garp_extra_if all 5", "vrrp_garp_extra_if", ["all", "5"]),
        ("vrrp_garp_extra_if all", "vrrp_garp_extra_if", None),
        ("lvs_timeouts tcp 5 udp x", "lvs_timeouts", ["tcp", "5"]),
        ("umask IWGRP|IWOTH", "umask", [oct(0o022)]),
        ("umask 99999999999", "umask", None),
        ("vrrp_netlink_cmd_rcv_bufs 0", "vrrp_netlink_cmd_rcv_bufs", None),
        ("checker_rt_priority 200", "checker_rt_priority", ["99"]),
        ("net_namespace x", "net_namespace", None),
    ],
)
def test_global_value_kept_or_default(
    tmp_path: Path, line: str, name: str, kept: list[str] | None
) -> None:
    """A refused value is not kept (keepalived's default holds); a clamped one is."""
    cfg, _messages, _status = check(tmp_path, in_global_defs(line))
    assert cfg.global_defs.options.get(name) == kept


def test_checker_and_bfd_settings_do_not_touch_the_vrrp_process(tmp_path: Path) -> None:
    text = in_global_defs("checker_priority -5\n    bfd_rt_priority 20")
    cfg, messages, status = check(tmp_path, text)
    assert (messages, status) == ([], 0)
    assert (cfg.global_defs.vrrp_priority, cfg.global_defs.vrrp_rt_priority) == (0, 0)
    assert cfg.global_defs.options["checker_priority"] == ["-5"]

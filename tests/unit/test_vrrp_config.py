# ruff: noqa: E501  (expected keepalived messages are kept verbatim)
"""Tests for pytest_halab.vrrp.conf against keepalived 2.2.7's own behaviour.

EXPECTED holds, for every file in tests/data/keepalived, the exit status and the
diagnostics (line, message) observed from the real ``keepalived -t -f FILE`` v2.2.7 on a
host whose interfaces are ``lo`` and ``eth0``. Messages keepalived prints without a line
number carry here the line of the declaration they concern. Log-only messages
(severity "warning") are not part of this table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_halab.vrrp.conf import (
    Diagnostic,
    KeepalivedConfig,
    VrrpScript,
    config_test_exit_status,
    load_config,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "keepalived"
IFACES = {"lo", "eth0"}

EXPECTED: dict[str, tuple[int, list[tuple[int, str]]]] = {
    "bad_duplicate_instance.conf": (
        5,
        [
            (8, "Extra '}' found"),
            (8, "Unknown keyword '}'"),
            (4, "number '0' outside range [0.010000, 255.000000]"),
            (4, "(A) Advert interval (0) not valid! Must be > 0 - ignoring"),
            (9, "vrrp instance A already defined"),
            (12, "vrrp_instance must have a name"),
        ],
    ),
    "bad_flag_values.conf": (
        5,
        [
            (3, "Invalid value for vrrp_lower_prio_no_advert specified"),
            (5, "Invalid value 'TRUE' for global smtp_alert specified"),
            (12, "(A) invalid skip_check_adv_addr On specified"),
            (14, "(A) invalid lower_prio_no_advert 0 specified"),
            (16, "(A) Invalid value 'Yes' for notify_priority_changes specified"),
            (
                17,
                "(A) 'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block",
            ),
        ],
    ),
    "bad_instance_options.conf": (
        6,
        [
            (
                13,
                "Configuration error: VRRP instance[A] malformed unicast peer address[bogus]. Skipping...",
            ),
            (18, "(A) duplicate track_interface eth0 - ignoring"),
            (19, "invalid number 'x'"),
            (19, "(A) weight x for lo must be between [-253..253] inclusive. Ignoring..."),
            (23, "Unknown configuration entry 'foo' for ip address - ignoring"),
            (23, "Unknown configuration entry 'bar' for ip address - ignoring"),
            (29, "(A): garp_master_repeat must be greater than 0, setting to 1"),
            (30, "invalid number 'x'"),
            (30, "(A): Invalid garp_master_refresh 'x' - ignoring"),
            (2, "SECURITY VIOLATION - scripts are being executed but script_security not enabled."),
            (34, "(A) Initial state master is incompatible with AH authentication - clearing"),
            (2, "(A) Ignoring track_interface eth0 since own interface"),
        ],
    ),
    "bad_master_nopreempt_advert.conf": (
        5,
        [
            (1, "(A) nopreempt is incompatible with priority 255. resetting nopreempt"),
            (1, "(A) Warning - preempt delay will not work with initial state MASTER - clearing"),
            (1, "(A) VRRPv2 advertisement interval 1.500000s must be an integer. rounding"),
        ],
    ),
    "bad_missing_parameter.conf": (
        2,
        [
            (
                4,
                "*** Configuration line starting `priority` is missing a parameter after keyword `priority` at word position 2",
            ),
        ],
    ),
    "bad_priority_range_dup_vrid.conf": (
        5,
        [
            (4, "number '0' outside range [1, 255]"),
            (4, "(A) Priority not valid! must be between 1 & 255. Using default 100"),
            (12, "number '256' outside range [1, 255]"),
            (12, "(B) Priority not valid! must be between 1 & 255. Using default 100"),
            (9, "A and B both use VRID 10 with IPv4 on interface eth0"),
        ],
    ),
    "bad_script_values.conf": (
        6,
        [
            (6, "(unused): vrrp script interval must be greater than 0, setting to 1"),
            (7, "number '300' outside range [-253, 253]"),
            (7, "vrrp_script unused weight 300 must be in [-253, 253]"),
            (8, "invalid number 'x'"),
            (8, "(unused): vrrp script rise value 'x' invalid, defaulting to 1"),
            (
                10,
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
            ),
        ],
    ),
    "bad_sync_group_v3.conf": (
        5,
        [
            (23, "Virtual router C specified in sync group G doesn't exist - ignoring"),
            (23, "Sync group G has only 1 virtual router(s) - this probably isn't what you want"),
            (29, "Sync group H has only 1 virtual router(s) - this probably isn't what you want"),
            (7, "(A) VRRP version 3 does not support authentication. Ignoring."),
            (1, "(A) VRRPv3 advertisement interval 0.015000s must be in units of 10ms - rounding"),
            (15, "(B) preempt_delay is incompatible with nopreempt mode - resetting"),
        ],
    ),
    "bad_unknown_block_extra_braces.conf": (
        5,
        [
            (18, "Extra '}' found"),
            (19, "Extra '}' found"),
            (18, "Unknown keyword '}'"),
            (19, "Unknown keyword '}'"),
            (11, "Unknown keyword 'foo_block'"),
            (11, "Unexpected '{' - ignoring"),
            (12, "Unknown keyword 'bar'"),
            (14, "Unknown keyword 'priority'"),
            (15, "Unknown keyword 'virtual_ipaddress'"),
            (16, "Unknown keyword '10.0.0.3'"),
            (17, "Unknown keyword '}'"),
            (8, "(A) No VIP specified; at least one is sensible"),
        ],
    ),
    "bad_unterminated_quote.conf": (
        2,
        [
            (5, "Unterminated quote 'state \"MASTER'"),
            (5, "Unmatched quote: 'state \"MASTER'"),
            (4, "invalid number '1.5x'"),
            (4, "(A) Advert interval (1.5x) not valid! Must be > 0 - ignoring"),
            (
                5,
                "*** Configuration line starting `state` is missing a parameter after keyword `state` at word position 2",
            ),
        ],
    ),
    "bad_values_wrong_block.conf": (
        5,
        [
            (3, "Unknown keyword 'foo_bar'"),
            (8, "number '300' outside range [1, 255]"),
            (8, "(VI_1): VRID '300' not valid - must be between 1 & 255"),
            (9, "invalid number 'abc'"),
            (9, "(VI_1) Priority not valid! must be between 1 & 255. Using default 100"),
            (12, "Unknown keyword 'nopreempt'"),
            (14, "Truncating auth_pass to 8 characters"),
            (21, "(VI_1) track script nothere not found, ignoring..."),
            (5, "(VI_1) the virtual router id must be set"),
        ],
    ),
    "bad_version_advert_range.conf": (
        5,
        [
            (4, "number '300' outside range [0.010000, 255.000000]"),
            (4, "(A) Advert interval (300) not valid! Must be > 0 - ignoring"),
            (5, "number '4' outside range [2, 3]"),
            (5, "(A): Version must be either 2 or 3"),
            (1, "(A) nopreempt is incompatible with priority 255. resetting nopreempt"),
        ],
    ),
    "bad_vips_loopback.conf": (
        5,
        [
            (2, "(A) cannot use a loopback interface (lo) for vrrp - ignoring"),
            (5, "VRRP parsed invalid IP 10.0.0.300. skipping IP..."),
            (6, "number '33' outside range [0, 32]"),
            (6, "Invalid address prefix len 33 for address 10.0.0.5/33 - using 32"),
            (7, "VRRP parsed invalid IP foo. skipping IP..."),
            (1, "(A) Unknown interface!"),
        ],
    ),
    "good_full.conf": (
        0,
        [],
    ),
    "include_glob.conf": (
        5,
        [
            (6, "Unknown keyword 'typo_keyword'"),
            (1, "VI_1 and VI_2 both use VRID 51 with IPv4 on interface eth0"),
        ],
    ),
    "seed000_backup_preempt.conf": (
        0,
        [],
    ),
    "seed000_check_script.conf": (
        5,
        [
            (6, "Disabling track script check since not found/accessible"),
        ],
    ),
    "seed000_master_preempt.conf": (
        0,
        [],
    ),
    "seed000_nginx_backup.conf": (
        0,
        [],
    ),
    "seed000_nginx_master.conf": (
        0,
        [],
    ),
    "seed000_nonpreempt_backup.conf": (
        0,
        [],
    ),
    "seed000_nonpreempt_master.conf": (
        0,
        [],
    ),
    "seed001_lvs_master_numbered.conf": (
        5,
        [
            (25, "There are 1 missing '}'s or extra '{'s"),
            (17, "WARNING - interface ens32 for vrrp_instance VI_1 doesn't exist"),
            (17, "Non-existent interface specified in configuration"),
        ],
    ),
    "seed002_nginx_compiled.conf": (
        5,
        [
            (8, "emailfrom missing - ignoring"),
            (15, "Disabling track script check_nginx since not found/accessible"),
        ],
    ),
    "seed003_lvs_backup_explained.conf": (
        5,
        [
            (11, "WARNING - interface eno33554968 for vrrp_instance VIP1 doesn't exist"),
            (17, "Unknown keyword 'nopreempt'"),
            (30, "Unknown keyword 'nat_mask'"),
            (35, "Unknown keyword 'eight'"),
            (38, "Unknown keyword 'nb_get_retry'"),
            (48, "Unknown keyword 'nb_get_retry'"),
            (11, "Non-existent interface specified in configuration"),
        ],
    ),
    "seed003_node_a_fragment.conf": (
        5,
        [
            (11, "Unknown keyword '....'"),
            (13, "(test) unknown state 'backup', defaulting to BACKUP"),
            (22, "Unknown keyword '....'"),
            (1, "Disabling track script checkhaproxy since not found/accessible"),
            (9, "(test) the virtual router id must be set"),
        ],
    ),
    "seed003_node_b_fragment.conf": (
        5,
        [
            (10, "Unknown keyword '....'"),
            (12, "(test) unknown state 'backup', defaulting to BACKUP"),
            (20, "Unknown keyword '....'"),
            (1, "Disabling track script checkhaproxy since not found/accessible"),
            (8, "(test) the virtual router id must be set"),
        ],
    ),
    "seed003_notify_fragment.conf": (
        5,
        [
            (1, "Unknown keyword 'notify_master'"),
            (2, "Unknown keyword 'notify_fault'"),
            (3, "Unknown keyword 'notify_stop'"),
        ],
    ),
    "seed003_track_fragment.conf": (
        5,
        [
            (10, "Unknown keyword '...'"),
            (17, "Unknown keyword '...'"),
            (1, "Disabling track script checkhaproxy since not found/accessible"),
            (8, "(test) the virtual router id must be set"),
        ],
    ),
    "seed004_nginx_dual_master.conf": (
        5,
        [
            (8, "Invalid smtp server mail.zerounix.com 25"),
            (20, "WARNING - interface enp3s0 for vrrp_instance Nginx_PHP_1 doesn't exist"),
            (36, "(Nginx_PHP_1) tracked interface enp3s0 doesn't exist"),
            (42, "WARNING - interface enp3s0 for vrrp_instance Nginx_PHP_2 doesn't exist"),
            (58, "(Nginx_PHP_2) tracked interface enp3s0 doesn't exist"),
            (20, "Non-existent interface specified in configuration"),
        ],
    ),
}


def _load(name: str, **kwargs: object) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    """Load a data file the way keepalived was run: from its directory, relative name."""
    cwd = os.getcwd()
    os.chdir(DATA)
    try:
        return load_config(name, interfaces=IFACES, **kwargs)  # type: ignore[arg-type]
    finally:
        os.chdir(cwd)


def test_every_data_file_has_expectations() -> None:
    assert sorted(p.name for p in DATA.glob("*.conf")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_matches_keepalived(name: str) -> None:
    status, expected = EXPECTED[name]
    _, diags = _load(name)
    got = [(d.line, d.message) for d in diags if d.severity != "warning"]
    assert sorted(got) == sorted(expected)
    assert config_test_exit_status(diags) == status


def _keepalived_messages(stderr: str) -> set[str]:
    messages = set()
    for line in stderr.splitlines():
        m = re.match(r"^\((?:[^:]*: )?Line \d+\) (.*)$", line)
        messages.add(m.group(1) if m else line)
    return messages


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")
@pytest.mark.skipif(
    not os.path.exists("/sys/class/net/eth0") or os.path.exists("/sys/class/net/enp3s0"),
    reason="recorded on a host with eth0 (and without the seeds' other interfaces)",
)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_against_real_keepalived(name: str) -> None:
    run = subprocess.run(
        ["keepalived", "-t", "-f", name], cwd=DATA, capture_output=True, text=True, timeout=60
    )
    _, diags = _load(name)
    ours = {d.message for d in diags}
    theirs = _keepalived_messages(run.stderr)
    assert config_test_exit_status(diags) == run.returncode
    # keepalived prints include warnings that do not count; we keep them as warnings
    assert theirs <= ours
    assert {d.message for d in diags if d.severity != "warning"} <= theirs


# ----------------------------------------------------------------- models


def test_seed000_master_model() -> None:
    cfg, diags = _load("seed000_master_preempt.conf")
    assert diags == []
    assert cfg.global_defs.router_id == "lb02"  # trailing '#comment' dropped
    vi = cfg.instances["VI_1"]
    assert (vi.state, vi.interface, vi.vrid, vi.priority, vi.advert_int) == (
        "MASTER",
        "eth0",
        50,
        150,
        1.0,
    )
    assert (vi.auth_type, vi.auth_pass, vi.version, vi.nopreempt) == ("PASS", "1111", 2, False)
    assert [(v.address, v.prefixlen, v.line) for v in vi.vips] == [("10.0.0.3", 32, 16)]
    assert vi.line == 5


def test_seed000_nopreempt_backup() -> None:
    cfg, _ = _load("seed000_nonpreempt_backup.conf")
    vi = cfg.instances["VI_1"]
    assert vi.state == "BACKUP" and vi.nopreempt is True and vi.priority == 100


def test_seed000_script_not_found_is_disabled() -> None:
    cfg, diags = _load("seed000_check_script.conf")
    scr = cfg.scripts["check"]
    assert (scr.script, scr.interval, scr.weight, scr.fall, scr.rise) == (
        "/server/scripts/check_list",
        10,
        -5,
        2,
        1,
    )
    assert scr.disabled
    assert cfg.instances["VI_1"].track_scripts == []
    assert any(d.severity == "warning" and "cannot be accessed" in d.message for d in diags)


def test_seed001_numbered_screenshot_config() -> None:
    cfg, diags = _load("seed001_lvs_master_numbered.conf")
    gd = cfg.global_defs
    assert gd.notification_email == [
        "acassen@firewall.loc",
        "failover@firewall.loc",
        "sysadmin@firewall.loc",
    ]
    assert gd.notification_email_from == "Alexandre.Cassen@firewall.loc"
    assert (gd.smtp_server, gd.smtp_port, gd.smtp_connect_timeout) == ("192.168.200.1", 25, 30)
    assert gd.router_id == "LVS_DEVEL"
    assert (
        "(seed001_lvs_master_numbered.conf: Line 17) WARNING - interface ens32 for vrrp_instance VI_1 doesn't exist"
        in [str(d) for d in diags]
    )
    assert cfg.instances["VI_1"].interface is None


def test_seed003_wrong_block_mistakes_are_kept() -> None:
    cfg, diags = _load("seed003_lvs_backup_explained.conf")
    msgs = {(d.line, d.message) for d in diags}
    assert (17, "Unknown keyword 'nopreempt'") in msgs  # nopreempt inside authentication {}
    assert (35, "Unknown keyword 'eight'") in msgs  # 'eight 3' in a real_server
    vi = cfg.instances["VIP1"]
    assert vi.nopreempt is False and vi.auth_type == "PASS"
    [vs] = cfg.virtual_servers
    assert (vs.address, vs.port) == ("172.16.0.10", "80")
    assert [i.keyword for i in vs.items] == [
        "delay_loop",
        "lb_algo",
        "lb_kind",
        "persistence_timeout",
        "protocol",
    ]
    rs1, rs2 = vs.real_servers
    assert rs1.address == "172.16.0.203" and [i.keyword for i in rs1.items] == ["TCP_CHECK"]
    tcp = rs2.items[1]
    assert tcp.keyword == "TCP_CHECK"
    assert [(c.keyword, c.args) for c in tcp.children] == [
        ("connect_timeout", ["10"]),
        ("delay_before_retry", ["3"]),
        ("connect_port", ["80"]),
    ]


def test_good_full_model() -> None:
    cfg, diags = _load("good_full.conf")
    assert diags == []
    gd = cfg.global_defs
    assert (gd.smtp_port, gd.vrrp_garp_master_delay, gd.enable_script_security) == (2525, 2, True)
    assert gd.options["max_auto_priority"] == []
    scr = cfg.scripts["chk_true"]
    assert (scr.interval, scr.timeout, scr.weight, scr.weight_reverse, scr.rise, scr.fall) == (
        2,
        3,
        -20,
        True,
        2,
        3,
    )
    assert (scr.user, scr.init_fail, scr.line) == ("root", True, 21)
    assert cfg.scripts["chk_plain"] == VrrpScript(
        name="chk_plain", script="/bin/true", line=33, file="good_full.conf", end_line=35
    )
    vi1, vi2 = cfg.instances.values()
    assert vi1.unicast_src_ip == "192.0.2.10"
    assert vi1.unicast_peers == ["192.0.2.11", "192.0.2.12"]
    assert [(v.address, v.prefixlen, v.dev, v.label) for v in vi1.vips] == [
        ("192.0.2.100", 24, "eth0", "eth0:vip"),
        ("192.0.2.101", 32, None, None),
    ]
    assert [v.address for v in vi1.excluded_vips] == ["198.51.100.1"]
    assert [(t.name, t.weight) for t in vi1.track_interfaces] == [("lo", -10)]
    assert [(t.name, t.weight) for t in vi1.track_scripts] == [("chk_true", 5), ("chk_plain", None)]
    assert vi1.notify_master is not None and vi1.notify_backup is not None
    assert (vi1.notify_master.argv, vi1.notify_master.user) == (
        ["/bin/true", "master", "arg"],
        None,
    )
    assert vi1.notify_backup.argv == ["/bin/true"]
    # instance values win over global_defs, the rest come from global_defs
    assert (vi1.garp_master_delay, vi1.garp_master_repeat, vi1.garp_master_refresh) == (1, 3, 30)
    assert vi1.dont_track_primary and vi1.smtp_alert and vi1.sync_group == "G1"
    assert (vi2.version, vi2.advert_int, vi2.preempt_delay, vi2.state, vi2.priority) == (
        3,
        0.5,
        10.0,
        "BACKUP",
        100,
    )
    assert cfg.sync_groups["G1"].members == ["VI_1", "VI_2"]
    g1_master = cfg.sync_groups["G1"].notify_master
    assert g1_master is not None and g1_master.argv == ["/bin/true", "group", "master"]
    http = cfg.virtual_servers[0].real_servers[0].items[1]
    assert http.keyword == "HTTP_GET" and http.children[0].children[0].args == ["/health"]


def test_include_glob_relative_to_including_file(tmp_path: Path) -> None:
    cfg, diags = load_config(DATA / "include_glob.conf", interfaces=IFACES)
    assert list(cfg.instances) == ["VI_1", "VI_2"]
    assert [Path(f).name for f in cfg.files] == ["include_glob.conf", "10-vi1.conf", "20-vi2.conf"]
    by_msg = {d.message: d for d in diags}
    typo = by_msg["Unknown keyword 'typo_keyword'"]
    assert (typo.file, typo.line) == ("include.d/20-vi2.conf", 6)
    missing = by_msg["Config files missing 'missing.conf'."]
    assert missing.severity == "warning" and missing.line == 6


def test_include_from_elsewhere_and_self_include(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.conf").write_text("global_defs {\n router_id X\n}\ninclude *.conf\n")
    (tmp_path / "main.conf").write_text("include sub/a.conf\n")
    cfg, diags = load_config(tmp_path / "main.conf", interfaces=IFACES)
    assert cfg.global_defs.router_id == "X"
    # keepalived 2.2.7 includes a.conf again and again until it runs out of file
    # descriptors; its glob of *.conf fails then (keepalived -t said so, exit 0)
    assert [(d.file, d.line, d.message) for d in diags] == [
        ("a.conf", 4, "Config files missing '*.conf'.")
    ]
    assert config_test_exit_status(diags) == 0


# ----------------------------------------------------------------- behaviour details


def _text(tmp_path: Path, text: str, **kwargs: object) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    path = tmp_path / "k.conf"
    path.write_text(text)
    return load_config(path, interfaces=IFACES, **kwargs)  # type: ignore[arg-type]


INSTANCE = "vrrp_instance V {{\n interface eth0\n virtual_router_id 7\n{body}\n virtual_ipaddress {{\n 10.1.1.1\n }}\n}}\n"


def test_syntax_comments_braces_quotes(tmp_path: Path) -> None:
    text = (
        'global_defs\n{\n router_id "my id" ! comment\n notification_email { a@b c@d }\n'
        " notification_email_from x\\#y@z # not part of it\n}\n"
    )
    cfg, diags = _text(tmp_path, text)
    assert diags == []
    assert cfg.global_defs.router_id == "my id"
    assert cfg.global_defs.notification_email == ["a@b", "c@d"]
    assert cfg.global_defs.notification_email_from == "x#y@z"


@pytest.mark.parametrize(
    ("body", "field", "value", "messages"),
    [
        (" state MASTER", "priority", 255, []),
        (" state BACKUP", "priority", 100, []),
        (" priority 255", "state", "MASTER", []),
        (
            " priority 0",
            "priority",
            100,
            [
                "number '0' outside range [1, 255]",
                "(V) Priority not valid! must be between 1 & 255. Using default 100",
            ],
        ),
        (
            " priority x",
            "priority",
            100,
            [
                "invalid number 'x'",
                "(V) Priority not valid! must be between 1 & 255. Using default 100",
            ],
        ),
        (
            " advert_int 2.6",
            "advert_int",
            3.0,
            ["(V) VRRPv2 advertisement interval 2.600000s must be an integer. rounding"],
        ),
        (" advert_int 2.6\n version 3", "advert_int", 2.6, []),
        (
            " auth_pass_dummy 1\n authentication {\n auth_type PASS\n auth_pass 0123456789\n }",
            "auth_pass",
            "01234567",
            ["Unknown keyword 'auth_pass_dummy'", "Truncating auth_pass to 8 characters"],
        ),
        (
            " state MASTER\n priority 100\n nopreempt",
            "nopreempt",
            False,
            ["(V) Warning - nopreempt will not work with initial state MASTER - clearing"],
        ),
        (" state BACKUP\n nopreempt", "nopreempt", True, []),
        (
            " version 3\n advert_int 0.015",
            "advert_int",
            0.02,
            ["(V) VRRPv3 advertisement interval 0.015000s must be in units of 10ms - rounding"],
        ),
    ],
)
def test_instance_values(
    tmp_path: Path, body: str, field: str, value: object, messages: list[str]
) -> None:
    cfg, diags = _text(tmp_path, INSTANCE.format(body=body))
    assert getattr(cfg.instances["V"], field) == value
    assert [d.message for d in diags] == messages


def test_vrid_out_of_range_and_unset(tmp_path: Path) -> None:
    text = "vrrp_instance V {\n interface eth0\n virtual_router_id 256\n virtual_ipaddress {\n 10.1.1.1\n }\n}\n"
    cfg, diags = _text(tmp_path, text)
    assert cfg.instances["V"].vrid is None
    assert [str(d) for d in diags] == [
        f"({tmp_path / 'k.conf'}: Line 3) number '256' outside range [1, 255]",
        f"({tmp_path / 'k.conf'}: Line 3) (V): VRID '256' not valid - must be between 1 & 255",
        "(V) the virtual router id must be set",  # after parsing: printed bare, as keepalived
    ]
    assert (diags[2].file, diags[2].line) == (str(tmp_path / "k.conf"), 1)  # still known
    assert config_test_exit_status(diags) == 5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # keepalived 2.2.7 reads auth_type's value and drops the rest of its line: the
        # auth_pass of a one-line block is never read (it prints this without a line)
        (
            " authentication { auth_type PASS auth_pass 1234 }",
            "(V) Authentication specified but no password given. Ignoring",
        ),
        (
            " authentication {\n  auth_type PASS\n }",
            "(V) Authentication specified but no password given. Ignoring",
        ),
        (
            " version 3\n authentication { auth_type PASS }",
            "(V) VRRP version 3 does not support authentication. Ignoring.",
        ),
        (
            " state MASTER\n priority 100\n authentication {\n auth_type AH\n auth_pass x\n }",
            "(V) Initial state master is incompatible with AH authentication - clearing",
        ),
    ],
)
def test_authentication_checks_point_at_the_block(tmp_path: Path, body: str, message: str) -> None:
    # the checks made after parsing point at the authentication block, not the instance
    block = 4 + body.splitlines().index(next(x for x in body.splitlines() if "authentic" in x))
    _, diags = _text(tmp_path, INSTANCE.format(body=body))
    assert [(d.line, d.message) for d in diags] == [(block, message)]
    assert config_test_exit_status(diags) == 5


def test_authentication_value_errors_keep_their_own_line(tmp_path: Path) -> None:
    text = INSTANCE.format(
        body=" authentication { auth_type FOO }\n authentication {\n\n auth_pass 0123456789 }"
    )
    _, diags = _text(tmp_path, text)
    assert [(d.line, d.message) for d in diags] == [
        (4, "(V) unknown authentication type 'FOO'"),
        (7, "Truncating auth_pass to 8 characters"),
    ]


def test_missing_parameter_stops_like_keepalived(tmp_path: Path) -> None:
    _, diags = _text(tmp_path, INSTANCE.format(body=" priority\n bogus"))
    assert [d.message for d in diags] == [
        "*** Configuration line starting `priority` is missing a parameter after keyword `priority` at word position 2"
    ]
    assert diags[0].severity == "fatal"
    assert config_test_exit_status(diags) == 2


def test_track_script_unknown_and_script_checks(tmp_path: Path) -> None:
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)  # not executable: keepalived disables it, logging only
    text = (
        f'vrrp_script s1 {{\n script "{script} arg"\n}}\n'
        f'vrrp_script s2 {{\n script "{tmp_path}/absent.sh"\n}}\n'
        + INSTANCE.format(body=" track_script {\n s1\n s2\n nothere weight 3\n }")
    )
    cfg, diags = _text(tmp_path, text)
    errors = [d.message for d in diags if d.severity != "warning"]
    assert errors == [
        "(V) track script nothere not found, ignoring...",
        "Disabling track script s2 since not found/accessible",
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
    ]
    warnings = [d.message for d in diags if d.severity == "warning"]
    assert any("is not executable" in w for w in warnings)
    assert cfg.scripts["s1"].disabled and cfg.scripts["s2"].disabled
    assert cfg.instances["V"].track_scripts == []
    assert config_test_exit_status(diags) == 6
    _, unchecked = _text(tmp_path, text, check_scripts=False)
    assert [d.message for d in unchecked] == ["(V) track script nothere not found, ignoring..."]


def test_duplicate_vrid_same_interface(tmp_path: Path) -> None:
    text = INSTANCE.format(body="") + INSTANCE.format(body="").replace("V {", "W {").replace(
        "10.1.1.1", "10.1.1.2"
    )
    _, diags = _text(tmp_path, text)
    assert [d.message for d in diags] == ["V and W both use VRID 7 with IPv4 on interface eth0"]
    assert diags[0].line == 9


def test_missing_file_is_fatal(tmp_path: Path) -> None:
    cfg, diags = load_config(tmp_path / "nope.conf")
    assert cfg.instances == {}
    assert diags[0].severity == "fatal"
    # keepalived 2.2.7 itself prints this message and exits 0; we choose 4
    assert config_test_exit_status(diags) == 4


def test_exit_status_follows_keepalived_precedence() -> None:
    def d(kind: str) -> Diagnostic:
        sev = "fatal" if kind in ("bad_if", "fatal") else "error"
        return Diagnostic("f", 1, "m", sev, kind)  # type: ignore[arg-type]

    assert config_test_exit_status([]) == 0
    assert config_test_exit_status([Diagnostic("f", 1, "m", "warning")]) == 0
    assert config_test_exit_status([d("bad_if")]) == 4
    assert config_test_exit_status([Diagnostic("f", 1, "m", "fatal")]) == 4
    # keepalived keeps the last category in its enum: an ordinary error after a fatal one
    assert config_test_exit_status([d("bad_if"), d("general")]) == 5
    assert config_test_exit_status([d("general"), d("security")]) == 6
    assert Diagnostic("f", 3, "m", "error").kind == "general"
    assert str(Diagnostic("a.conf", 3, "oops", "error")) == "(a.conf: Line 3) oops"


# ----------------------------------------------------------------- never raises

_WORDS = st.sampled_from(
    [
        "vrrp_instance",
        "vrrp_script",
        "vrrp_sync_group",
        "global_defs",
        "virtual_server",
        "real_server",
        "TCP_CHECK",
        "group",
        "state",
        "MASTER",
        "priority",
        "virtual_router_id",
        "advert_int",
        "authentication",
        "auth_pass",
        "virtual_ipaddress",
        "track_script",
        "track_interface",
        "weight",
        "unicast_peer",
        "include",
        "script",
        "{",
        "}",
        '"',
        "!",
        "#",
        "\\",
        "\n",
        "\t",
        " ",
        "-1",
        "0",
        "1.5",
        "256",
        "10.0.0.1/33",
        "::1",
        "eth0",
        "lo",
        "notify_master",
        "version",
        "3",
        "dev",
        "label",
        "brd",
        "scope",
    ]
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.one_of(_WORDS, st.text(max_size=8)), max_size=60))
def test_random_configs_never_raise(tmp_path: Path, parts: list[str]) -> None:
    path = tmp_path / "fuzz.conf"
    path.write_text(" ".join(parts), encoding="utf-8", errors="surrogatepass")
    cfg, diags = load_config(path, interfaces=IFACES, check_scripts=False)
    assert isinstance(cfg, KeepalivedConfig)
    assert config_test_exit_status(diags) in (0, 2, 4, 5, 6)
    for diag in diags:
        where = f"({diag.file}: Line " if diag.show_file else "(Line "
        assert str(diag) == diag.message if not diag.located else str(diag).startswith(where)
        assert diag.file and diag.line >= 0  # located or not, it says where


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.conf"
    path.write_bytes(data)
    load_config(path, interfaces=IFACES, check_scripts=False)


def test_flag_values_and_where_keepalived_names_the_file() -> None:
    """Flags keep their true/false value (an instance's overrides the global default); an
    invalid value leaves the flag unset. Messages about the main file's global_defs carry
    no file name, as keepalived prints them; the others do."""
    cfg, diags = load_config(str(DATA / "bad_flag_values.conf"), interfaces=IFACES)
    gd = cfg.global_defs.options
    assert gd["vrrp_higher_prio_send_advert"] == ["true"] and gd["vrrp_min_garp"] == ["true"]
    assert "vrrp_lower_prio_no_advert" not in gd and "smtp_alert" not in gd
    opts = cfg.instances["A"].options
    assert opts["strict_mode"] == ["false"] and opts["higher_prio_send_advert"] == ["true"]
    assert "skip_check_adv_addr" not in opts and "lower_prio_no_advert" not in opts
    shown = [str(d) for d in diags]
    assert shown[0] == "(Line 3) Invalid value for vrrp_lower_prio_no_advert specified"
    assert shown[2].startswith("(") and "bad_flag_values.conf: Line 12) (A) invalid" in shown[2]
    assert all(d.file.endswith("bad_flag_values.conf") for d in diags)

"""keepalived.conf lines where ``halab-vrrpd -t`` must say what ``keepalived -t`` 2.2.7
says: unicast_peer's TTL options, smtp_server's port, an empty sync group, numbers read as
keepalived's read_decimal_unsigned reads them, and instance options that are one number
(each expectation was seen from keepalived 2.2.7 itself, run on the same file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import config_test_exit_status, load_config
from pytest_halab.vrrp.conf.model import KeepalivedConfig

INSTANCE = """\
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        10.0.0.1
    }
}
"""


def check(tmp_path: Path, text: str) -> tuple[KeepalivedConfig, list[str], int]:
    conf = tmp_path / "k.conf"
    conf.write_text(text)
    cfg, diags = load_config(conf, interfaces=["eth0", "lo"], check_scripts=False)
    return cfg, [f"{d.line}: {d.message}" for d in diags], config_test_exit_status(diags)


def with_line(line: str) -> str:
    return INSTANCE.replace("    advert_int 1\n", f"    advert_int 1\n    {line}\n")


@pytest.mark.parametrize(
    ("peer", "said"),
    [
        ("10.0.0.2 min_ttl 5", []),
        ("10.0.0.2 foo", ["8: (VI_1) foo is missing a value"]),
        ("10.0.0.2 foo bar", ["8: invalid number 'bar'"]),
        ("10.0.0.2 bar 7", ["8: (VI_1) unknown unicast_peer option bar"]),
        ("10.0.0.2 min_ttl 300", ["8: number '300' outside range [0, 255]"]),
        ("10.0.0.2 max_ttl -1", ["8: negative number '-1'"]),
        ("10.0.0.2 max_ttl 0x10", ["8: invalid number '0x10'"]),
        (
            "10.0.0.2 min_ttl 5 max_ttl 4",
            ["8: (VI_1) min_ttl 5 > max_ttl 4 - all packets will be discarded"],
        ),
        ("10.0.0.2 min_ttl x max_ttl x", ["8: invalid number 'x'", "8: invalid number 'x'"]),
    ],
)
def test_unicast_peer_options(tmp_path: Path, peer: str, said: list[str]) -> None:
    # halab-vrrpd read only a peer's address: keepalived -t exits 5 on all but the first
    cfg, messages, status = check(tmp_path, with_line(f"unicast_peer {{\n        {peer}\n    }}"))
    assert messages == said
    assert status == (5 if said else 0)
    assert cfg.instances["VI_1"].unicast_peers == ["10.0.0.2"]
    # a TTL read makes keepalived check the source of adverts
    assert ("check_unicast_src" in cfg.instances["VI_1"].options) == ("min_ttl 5" in peer)


@pytest.mark.parametrize(
    ("server", "said"),
    [
        ("1.2.3.4 0", ["number '0' outside range [1, 65535]"] * 2),
        ("1.2.3.4 abc", ["invalid number 'abc'"] * 2),
        ("a-b 99999", ["number '99999' outside range [1, 65535]"]),  # tried as a name only
    ],
)
def test_smtp_server_port(tmp_path: Path, server: str, said: list[str]) -> None:
    # port 0 passed halab-vrrpd -t (exit 0); the number's own complaint was not said
    text = f"global_defs {{\n    smtp_server {server}\n}}\n" + INSTANCE
    _cfg, messages, status = check(tmp_path, text)
    assert messages == [f"2: {m}" for m in said] + [f"2: Invalid smtp server {server}"]
    assert status == 5


def test_an_empty_sync_group_block_is_said_at_its_closing_line(tmp_path: Path) -> None:
    text = "vrrp_sync_group G {\n    group {\n\n    }\n}\n" + INSTANCE
    _cfg, messages, _status = check(tmp_path, text)
    assert "4: Warning - sync group G has empty group block" in messages


@pytest.mark.parametrize(
    ("value", "said", "delay"),
    [
        ("1001", ["number '1001' outside range [0.000000, 1000.000000]", "not valid"], 0.0),
        ("-1", ["negative number '-1'", "not valid"], 0.0),
        ("abc", ["invalid number 'abc'"], 0.0),  # keepalived keeps what it read: nothing
        ("5abc", ["invalid number '5abc'"], 5e-6),  # 5 microseconds
        ("1000", [], 1000.0),
    ],
)
def test_preempt_delay_as_keepalived_reads_it(
    tmp_path: Path, value: str, said: list[str], delay: float
) -> None:
    cfg, messages, status = check(tmp_path, with_line(f"preempt_delay {value}"))
    expected = [
        "7: (VI_1) Preempt_delay not valid! must be between 0-1000"
        if m == "not valid"
        else f"7: {m}"
        for m in said
    ]
    assert messages == expected
    assert status == (5 if said else 0)
    assert cfg.instances["VI_1"].preempt_delay == pytest.approx(delay)


def test_advert_int_keeps_the_digits_before_a_bad_character(tmp_path: Path) -> None:
    _cfg, messages, status = check(tmp_path, INSTANCE.replace("advert_int 1", "advert_int 100000x"))
    # 0.1 s, as keepalived reads it (and then rounds, for VRRPv2, as it says)
    assert messages == [
        "6: invalid number '100000x'",
        "1: (VI_1) VRRPv2 advertisement interval 0.100000s must be an integer. rounding",
    ]
    assert status == 5


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("down_timer_adverts 0", "(VI_1): Invalid down_timer_adverts [1:100] '0'"),
        ("down_timer_adverts 101", "(VI_1): Invalid down_timer_adverts [1:100] '101'"),
        ("unicast_ttl 256", "(VI_1): TTL '256' not valid - must be between 0 & 255"),
        ("debug 5", "(VI_1) Debug value '5' not valid; must be between 0-4"),
        ("garp_lower_prio_delay 1.5", "(VI_1): garp_lower_prio_delay '1.5' invalid - ignoring"),
        ("garp_lower_prio_repeat -1", "(VI_1): Invalid garp_lower_prio_repeat '-1'"),
    ],
)
def test_instance_numbers_are_checked_and_a_bad_one_not_kept(
    tmp_path: Path, line: str, said: str
) -> None:
    # down_timer_adverts 0 passed -t (exit 0), then stopped halab-vrrpd at start (FATAL):
    # keepalived says so and runs with its default
    cfg, messages, status = check(tmp_path, with_line(line))
    assert f"7: {said}" in messages and status == 5
    assert line.split()[0] not in cfg.instances["VI_1"].options


def test_good_instance_numbers_are_kept(tmp_path: Path) -> None:
    cfg, messages, status = check(tmp_path, with_line("down_timer_adverts 5"))
    assert messages == [] and status == 0
    assert cfg.instances["VI_1"].options["down_timer_adverts"] == ["5"]

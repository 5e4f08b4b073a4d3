"""BFD configuration as keepalived 2.2.7 -t checks it: ``bfd_instance`` blocks (read by its
BFD, VRRP and checker processes, each its own way), ``track_bfd`` in vrrp_instance and
vrrp_sync_group, ``BFD_CHECK`` in a real server. Each expected message, line and exit
status is what keepalived printed for the same file (keepalived -t -f FILE, on this
machine, which has an eth0); keepalived prints a message once per process that says it,
and the checks made after parsing without a line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import config_test_exit_status, load_config

VI = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.1.100
    }
TRACK}
"""
NO_TRACK = VI.replace("TRACK", "")


def bfd(*body: str, name: str = "b") -> str:
    """A bfd_instance block: its line, one line per keyword, its ``}``."""
    return f"bfd_instance {name} {{\n" + "".join(f"    {line}\n" for line in body) + "}\n"


def tracking(*entries: str, owner: str = VI) -> str:
    """The instance with a track_bfd block (its entries from the block's line + 1)."""
    block = "    track_bfd {\n" + "".join(f"        {e}\n" for e in entries) + "    }\n"
    return owner.replace("TRACK", block)


NBR = "neighbor_ip 10.0.0.2"
VI_2 = VI.replace("VI_1", "VI_2").replace("51", "52").replace("TRACK", "")
GROUP = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\nTRACK}\n"
VS = """virtual_server 10.1.1.1 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 10.1.1.2 80 {
        BFD_CHECK {
BODY        }
    }
}
"""


def bfd_check(*body: str) -> str:
    """A virtual server whose real server has a BFD_CHECK (its keywords from line 7)."""
    return VS.replace("BODY", "".join(f"            {line}\n" for line in body))


def _range_error(value: str, low: str, what: str, name: str = "b") -> str:
    return (
        f"Configuration error: BFD instance {name} {what} value {value} is not valid"
        f" (must be in range [{low}-4294967]), ignoring"
    )


# (id, configuration, [(line, message)] in halab-vrrpd's order, exit status)
CASES: list[tuple[str, str, list[tuple[int, str]], int]] = [
    (
        "complete",
        bfd(
            NBR,
            "source_ip 10.0.0.1",
            "min_rx 10.5",
            "min_tx 10001",  # above 10000 keepalived only logs "larger than max sensible"
            "idle_tx 1000.5",
            "multiplier 255",
            "passive",
            "ttl 64",
            "max_hops 64",
            "weight -10 reverse",
            "vrrp",
            "checker",
        )
        + tracking("b weight 10 noreverse"),
        [],
        0,
    ),
    (
        "track_not_found",
        bfd(NBR) + tracking("b weight 10", "bfdnope"),
        [(13, "(VI_1) track bfd bfdnope not found, ignoring...")],
        5,
    ),
    (
        "track_before_bfd_instance",
        tracking("b") + bfd(NBR),
        [(9, "(VI_1) track bfd b not found, ignoring...")],
        5,
    ),
    (
        "min_rx_zero",
        bfd(NBR, "min_rx 0") + NO_TRACK,
        [
            (3, "number '0' outside range [1.000, 4294967.000]"),
            (3, _range_error("0", "1", "min_rx")),
        ],
        5,
    ),
    (
        "min_rx_negative",
        bfd(NBR, "min_rx -1") + NO_TRACK,
        [(3, "negative number '-1'"), (3, _range_error("-1", "1", "min_rx"))],
        5,
    ),
    (
        "min_rx_not_a_number",
        bfd(NBR, "min_rx abc") + NO_TRACK,
        [(3, "invalid number 'abc'"), (3, _range_error("abc", "1", "min_rx"))],
        5,
    ),
    (
        "min_rx_four_decimals_below_range",
        bfd(NBR, "min_rx 0.0005") + NO_TRACK,
        [
            (3, "number '0.0005' has too many decimal places"),
            (3, "number '0.0005' outside range [1.000, 4294967.000]"),
            (3, _range_error("0.0005", "1", "min_rx")),
        ],
        5,
    ),
    (
        "min_tx_four_decimals_rounded_into_range",
        bfd(NBR, "min_tx 999.9999") + NO_TRACK,
        [(3, "number '999.9999' has too many decimal places")],
        5,
    ),
    (
        "min_tx_above_range",
        bfd(NBR, "min_tx 4294968") + NO_TRACK,
        [
            (3, "number '4294968' outside range [1.000, 4294967.000]"),
            (3, _range_error("4294968", "1", "min_tx")),
        ],
        5,
    ),
    (
        "idle_tx_below_1000",
        bfd(NBR, "idle_tx 10.5") + NO_TRACK,
        [
            (3, "number '10.5' outside range [1000.000, 4294967.000]"),
            (3, _range_error("10.5", "1000", "idle_tx")),
        ],
        5,
    ),
    (
        "idle_tx_beyond_unsigned_long",
        bfd(NBR, "idle_tx 99999999999999999999") + NO_TRACK,
        [
            (3, "number '99999999999999999999' outside unsigned decimal range"),
            (3, _range_error("99999999999999999999", "1000", "idle_tx")),
        ],
        5,
    ),
    (
        "multiplier_values",
        bfd(NBR, "multiplier 0", "multiplier 256", "multiplier 5.5") + NO_TRACK,
        [
            (3, "number '0' outside range [1, 255]"),
            (
                3,
                "Configuration error: BFD instance b multiplier value 0 not valid"
                " (must be in range [1-255]), ignoring",
            ),
            (4, "number '256' outside range [1, 255]"),
            (
                4,
                "Configuration error: BFD instance b multiplier value 256 not valid"
                " (must be in range [1-255]), ignoring",
            ),
            (5, "invalid number '5.5'"),
            (
                5,
                "Configuration error: BFD instance b multiplier value 5.5 not valid"
                " (must be in range [1-255]), ignoring",
            ),
        ],
        5,
    ),
    (
        "ttl_and_hoplimit",
        bfd(NBR, "ttl 0", "hoplimit 300", "ttl -3") + NO_TRACK,
        [
            (3, "number '0' outside range [1, 255]"),
            (
                3,
                "Configuration error: BFD instance b ttl/hoplimit value 0 not valid"
                " (must be in range [1-255]), ignoring",
            ),
            (4, "number '300' outside range [1, 255]"),
            (
                4,
                "Configuration error: BFD instance b ttl/hoplimit value 300 not valid"
                " (must be in range [1-255]), ignoring",
            ),
            (5, "negative number '-3'"),
            (
                5,
                "Configuration error: BFD instance b ttl/hoplimit value -3 not valid"
                " (must be in range [1-255]), ignoring",
            ),
        ],
        5,
    ),
    (
        "max_hops_values",
        bfd(NBR, "max_hops -1", "max_hops -2", "max_hops 1.5") + NO_TRACK,
        [
            (4, "number '-2' outside range [-1, 255]"),
            (
                4,
                "Configuration error: BFD instance b max_hops value -2 not valid"
                " (must be in range [-1-255]), ignoring",
            ),
            (5, "invalid number '1.5'"),
            (
                5,
                "Configuration error: BFD instance b max_hops value 1.5 not valid"
                " (must be in range [-1-255]), ignoring",
            ),
        ],
        5,
    ),
    (
        "max_hops_above_ipv6_default_hoplimit",
        bfd("neighbor_ip fe80::1", "max_hops 100") + NO_TRACK,
        [(4, "BFD instance b: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit")],
        5,
    ),
    (
        "max_hops_above_ttl",
        bfd(NBR, "max_hops 20", "ttl 10", "ttl 0") + NO_TRACK,
        [
            (5, "number '0' outside range [1, 255]"),
            (
                5,
                "Configuration error: BFD instance b ttl/hoplimit value 0 not valid"
                " (must be in range [1-255]), ignoring",
            ),
            (6, "BFD instance b: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit"),
        ],
        5,
    ),
    (
        "no_neighbor",
        bfd("min_rx 10") + NO_TRACK,
        [
            (
                3,
                "Configuration error: BFD instance b has no neighbor address set,"
                " disabling instance",
            )
        ],
        5,
    ),
    (
        # the rest of the block is skipped (min_rx 0 and multiplier 300 unread); the VRRP
        # process still has the name
        "malformed_neighbor_skips_the_block",
        bfd("neighbor_ip 999.1.1.1", "min_rx 0", "multiplier 300") + tracking("b"),
        [
            (
                2,
                "Configuration error: BFD instance b has malformed neighbor address 999.1.1.1,"
                " ignoring instance",
            ),
        ],
        5,
    ),
    (
        # skipping counts braces: the other processes see the block end at line 5
        "malformed_neighbor_skips_nested_braces",
        "bfd_instance b {\n    neighbor_ip 1.2.3.4.5\n    foo {\n    bar\n    }\n"
        "    min_rx 0\n}\n" + NO_TRACK,
        [
            (3, "Unknown keyword 'foo'"),
            (3, "Unexpected '{' - ignoring"),
            (4, "Unknown keyword 'bar'"),
            (6, "Unknown keyword 'min_rx'"),
            (7, "Unknown keyword '}'"),
            (
                2,
                "Configuration error: BFD instance b has malformed neighbor address 1.2.3.4.5,"
                " ignoring instance",
            ),
        ],
        5,
    ),
    (
        # keepalived compares the *value* with "neighbour_ip": from then on its BFD
        # process says "neighbour"
        "neighbour_spelling",
        bfd("neighbor_ip neighbour_ip") + bfd("min_rx 10", name="c") + NO_TRACK,
        [
            (
                2,
                "Configuration error: BFD instance b has malformed neighbour address"
                " neighbour_ip, ignoring instance",
            ),
            (
                6,
                "Configuration error: BFD instance c has no neighbour address set,"
                " disabling instance",
            ),
        ],
        5,
    ),
    (
        # keepalived prints the source address twice (one static buffer)
        "ipv6_neighbour_ipv4_source",
        bfd("neighbour_ip fe80::1", "source_ip 10.0.0.1") + NO_TRACK,
        [
            (
                4,
                "Configuration error: BFD instance b source address 10.0.0.1 and neighbor"
                " address 10.0.0.1 are not of the same family, disabling instance",
            ),
        ],
        5,
    ),
    (
        "malformed_source",
        bfd(NBR, "source_ip 1.2.3", "source_ip 10.0.0.1/24") + NO_TRACK,
        [
            (
                3,
                "Configuration error: BFD instance b has malformed source address 1.2.3, ignoring",
            ),
        ],
        5,
    ),
    (
        "duplicate_addresses",
        bfd(NBR, "source_ip 10.0.0.1")
        + bfd(NBR, "source_ip 10.0.0.1", name="c")
        + bfd(NBR, "source_ip 10.0.0.3", name="d")
        + bfd("neighbor_ip 10.0.0.2/24", name="e")
        + bfd("neighbor_ip fe80::0001", name="f")
        + bfd("neighbor_ip fe80::1", name="g")
        + NO_TRACK,
        [
            (
                8,
                "Configuration error: BFD instance c has duplicate source/neighbor address"
                " 10.0.0.1/10.0.0.2, ignoring instance",
            ),
            (
                15,
                "Configuration error: BFD instance e has duplicate neighbor address 10.0.0.2,"
                " ignoring instance",
            ),
            (
                21,
                "Configuration error: BFD instance g has duplicate neighbor address fe80::1,"
                " ignoring instance",
            ),
        ],
        5,
    ),
    (
        # the VRRP process and the checker say it (once each), the BFD process too; the
        # block is skipped by all three
        "name_already_configured",
        bfd(NBR) + bfd("neighbor_ip 10.0.0.3", "min_rx 0") + NO_TRACK,
        [
            (4, "BFD b already specified"),
            (4, "Configuration error: BFD instance b already configured - ignoring"),
        ],
        5,
    ),
    (
        # the BFD process dropped the first b: it reads the second
        "name_of_a_dropped_instance",
        bfd("neighbor_ip 999.0.0.2") + bfd("neighbor_ip 10.0.0.3", "min_rx 0") + NO_TRACK,
        [
            (4, "BFD b already specified"),
            (
                2,
                "Configuration error: BFD instance b has malformed neighbor address 999.0.0.2,"
                " ignoring instance",
            ),
            (6, "number '0' outside range [1.000, 4294967.000]"),
            (6, _range_error("0", "1", "min_rx")),
        ],
        5,
    ),
    ("name_of_31_characters", bfd(NBR, name="a" * 31) + tracking("a" * 31), [], 0),
    (
        "name_of_32_characters",
        bfd(NBR, "min_rx 0", "weight 300", name="a" * 32) + tracking("a" * 32),
        [
            (1, f"BFD name {'a' * 32} too long"),
            (14, f"(VI_1) track bfd {'a' * 32} not found, ignoring..."),
            (
                1,
                f"Configuration error: BFD instance {'a' * 32} name too long (maximum length is"
                " 31 characters) - ignoring",
            ),
        ],
        5,
    ),
    (
        # strlen(): bytes
        "name_of_16_two_byte_characters",
        bfd(NBR, name="é" * 16) + tracking("é" * 16),
        [
            (1, f"BFD name {'é' * 16} too long"),
            (12, f"(VI_1) track bfd {'é' * 16} not found, ignoring..."),
            (
                1,
                f"Configuration error: BFD instance {'é' * 16} name too long (maximum length is"
                " 31 characters) - ignoring",
            ),
        ],
        5,
    ),
    (
        "unknown_keyword_and_brace",
        bfd(NBR, "Neighbor_ip 10.0.0.2", "{", "passive 3") + NO_TRACK,
        [
            (14, "There are 1 missing '}'s or extra '{'s"),
            (3, "Unknown keyword 'Neighbor_ip'"),
            (4, "Unexpected '{' - ignoring"),
        ],
        5,
    ),
    (
        "bfd_instance_weights",
        bfd(NBR, "weight 300", "weight 10 nonsense", "weight x reverse", "weight 254")
        + tracking("b"),
        [
            (3, "number '300' outside range [-253, 253]"),
            (
                3,
                "Configuration error: BFD instance b weight value 300 not valid"
                " (must be in range [-253-253]), ignoring",
            ),
            (4, "Configuration error: BFD instance b unknown weight option nonsense"),
            (5, "invalid number 'x'"),
            (
                5,
                "Configuration error: BFD instance b weight value x not valid"
                " (must be in range [-253-253]), ignoring",
            ),
            (6, "number '254' outside range [-253, 253]"),
            (
                6,
                "Configuration error: BFD instance b weight value 254 not valid"
                " (must be in range [-253-253]), ignoring",
            ),
        ],
        5,
    ),
    (
        "track_weight_254",
        bfd(NBR) + tracking("b weight 254"),
        [
            (12, "number '254' outside range [-253, 253]"),
            (12, "(VI_1) weight for track bfd b must be in [-253..253] inclusive. Ignoring..."),
        ],
        5,
    ),
    (
        "track_weight_-254",
        bfd(NBR) + tracking("b weight -254"),
        [
            (12, "number '-254' outside range [-253, 253]"),
            (12, "(VI_1) weight for track bfd b must be in [-253..253] inclusive. Ignoring..."),
        ],
        5,
    ),
    (
        "track_weight_not_a_number",
        bfd(NBR) + tracking("b weight abc"),
        [
            (12, "invalid number 'abc'"),
            (12, "(VI_1) weight for track bfd b must be in [-253..253] inclusive. Ignoring..."),
        ],
        5,
    ),
    (
        "track_weight_10_nonsense",
        bfd(NBR) + tracking("b weight 10 nonsense"),
        [(12, "(VI_1) unknown track bfd b weight option nonsense - ignoring")],
        5,
    ),
    (
        "track_weight_without_value",
        bfd(NBR) + tracking("b weight"),
        [(12, "(VI_1) weight without value specified for track bfd b - ignoring")],
        5,
    ),
    (
        "track_unknown_option",
        bfd(NBR) + tracking("b wait 10"),
        [(12, "(VI_1) unknown track bfd b option wait - ignoring")],
        5,
    ),
    (
        "track_duplicate",
        bfd(NBR) + tracking("b", "b weight 3"),
        [(13, "(VI_1) duplicate track_bfd b - ignoring")],
        5,
    ),
    (
        "track_block_with_a_parameter",
        bfd(NBR) + VI.replace("TRACK", "    track_bfd b\n    {\n        b\n    }\n"),
        [(11, "Block track_bfd has extra parameters b ...")],
        5,
    ),
    (
        # events for the checker only: the VRRP process forgets the name
        "events_for_the_checker_only",
        bfd(NBR, "checker") + tracking("b"),
        [(13, "(VI_1) track bfd b not found, ignoring...")],
        5,
    ),
    (
        "events_for_vrrp_only",
        bfd(NBR, "vrrp") + bfd_check("name b"),
        [(11, "([10.1.1.2]:tcp:80) BFD_CHECK - BFD b not configured")],
        5,
    ),
    (
        "sync_group_member_with_weight",
        bfd(NBR, "weight 7") + tracking("b") + VI_2 + GROUP.replace("TRACK", ""),
        [(5, "(VI_1) ignoring tracked bfd b with weight 7 due to SYNC group")],
        5,
    ),
    (
        "sync_group_member_unweighted",
        bfd(NBR) + tracking("b") + VI_2 + GROUP.replace("TRACK", ""),
        [],
        0,
    ),
    (
        "sync_group_tracking_weight",
        bfd(NBR)
        + tracking("b weight 5")
        + VI_2
        + GROUP.replace("TRACK", "    sync_group_tracking_weight\n"),
        [],
        0,
    ),
    (
        "address_owner_with_weight",
        bfd(NBR) + tracking("b weight -10", owner=VI.replace("priority 100", "priority 255")),
        [(4, "(VI_1) ignoring tracked bfd b with weight -10 due to address_owner")],
        5,
    ),
    (
        "sync_group_track_bfd",
        bfd(NBR)
        + NO_TRACK
        + VI_2
        + GROUP.replace(
            "TRACK",
            "    track_bfd {\n        b weight 10\n        c\n        b\n        b foo\n    }\n",
        ),
        [
            (27, "(G) track bfd c not found, ignoring..."),
            (28, "(G) duplicate track_bfd b - ignoring"),
            (29, "(G) duplicate track_bfd b - ignoring"),
        ],
        5,
    ),
    (
        "sync_group_with_an_address_owner",
        bfd(NBR, "weight 7")
        + NO_TRACK.replace("priority 100", "priority 255")
        + VI_2
        + GROUP.replace("TRACK", "    track_bfd {\n        b\n    }\n"),
        [
            (
                21,
                "(G) Cannot have weighted track bfd 'b' with member having priority 255"
                " - setting weight 0",
            ),
        ],
        5,
    ),
    ("bfd_check", bfd(NBR) + bfd_check("name b", "alpha"), [], 0),
    (
        "bfd_check_unknown_bfd",
        bfd(NBR) + bfd_check("name c", "alpha foo"),
        [(10, "([10.1.1.2]:tcp:80) BFD_CHECK - BFD c not configured")],
        5,
    ),
    (
        "bfd_check_without_name",
        bfd(NBR) + bfd_check("alpha"),
        [(11, "([10.1.1.2]:tcp:80) No name has been specified for BFD_CHECKER - skipping")],
        5,
    ),
    (
        "bfd_check_two_names",
        bfd(NBR) + bfd_check("name b c"),
        [
            (
                10,
                "([10.1.1.2]:tcp:80) BFD_CHECK - No or too many names specified - skipping checker",
            )
        ],
        5,
    ),
    (
        "bfd_check_name_twice",
        bfd(NBR) + bfd(NBR.replace("2", "3"), name="c") + bfd_check("name b", "name c"),
        [(14, "([10.1.1.2]:tcp:80) BFD_CHECK - BFD c already specified as b")],
        5,
    ),
    (
        "bfd_check_weight_and_alpha",
        bfd(NBR) + bfd_check("name b", "weight 3", "alpha foo"),
        [(11, "Unknown keyword 'weight'"), (12, "Invalid alpha parameter foo")],
        5,
    ),
    (
        "bfd_check_same_bfd_twice",
        bfd(NBR)
        + VS.replace(
            "BODY", "            name b\n        }\n        BFD_CHECK {\n            name b\n"
        ),
        [(13, "([10.1.1.2]:tcp:80) BFD_CHECK - RS already monitoring b")],
        5,
    ),
    (
        # the checker has no limit on the name's length: BFD_CHECK has one
        "bfd_check_name_too_long",
        bfd(NBR, name="a" * 32) + bfd_check("name " + "a" * 32),
        [
            (1, f"BFD name {'a' * 32} too long"),
            (10, f"([10.1.1.2]:tcp:80) BFD_CHECK - BFD name {'a' * 32} too long"),
            (
                1,
                f"Configuration error: BFD instance {'a' * 32} name too long (maximum length is"
                " 31 characters) - ignoring",
            ),
        ],
        5,
    ),
    (
        # the BFD process reads last: it stops at its missing parameter, after all the
        # VRRP process said (d's malformed neighbor is never read)
        "missing_parameter_in_the_bfd_process",
        bfd(NBR, "min_rx 0")
        + bfd("neighbor_ip 10.0.0.3", "multiplier", name="c")
        + bfd("neighbor_ip 1.1.1", name="d")
        + tracking("b", "c", "d", "e"),
        [
            (23, "(VI_1) track bfd e not found, ignoring..."),
            (3, "number '0' outside range [1.000, 4294967.000]"),
            (3, _range_error("0", "1", "min_rx")),
            (
                7,
                "*** Configuration line starting `multiplier` is missing a parameter after"
                " keyword `multiplier` at word position 2",
            ),
        ],
        2,
    ),
    (
        # the VRRP process stops at its missing weight: the BFD process never reads
        "missing_parameter_in_the_vrrp_process",
        bfd(NBR, "min_rx 0") + bfd("neighbor_ip 10.0.0.3", "weight", name="c") + NO_TRACK,
        [
            (
                7,
                "*** Configuration line starting `weight` is missing a parameter after"
                " keyword `weight` at word position 2",
            ),
        ],
        2,
    ),
]


def _said(tmp_path: Path, text: str) -> tuple[int, list[tuple[int, str]]]:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    _cfg, diags = load_config(conf, interfaces=["eth0"], check_scripts=False)
    return config_test_exit_status(diags), [(d.line, d.message) for d in diags if d.printed_by_test]


@pytest.mark.parametrize(
    ("text", "said", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bfd_configuration_is_checked_as_keepalived_checks_it(
    tmp_path: Path, text: str, said: list[tuple[int, str]], code: int
) -> None:
    assert _said(tmp_path, text) == (code, said)


def test_intervals_larger_than_sensible_are_only_logged(tmp_path: Path) -> None:
    """keepalived only logs these (log_message, its text from bfd_parser.c): -t printed
    nothing for this file and exited 0."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(bfd(NBR, "min_rx 10000", "min_tx 10000.001", "idle_tx 4294967") + NO_TRACK)
    _cfg, diags = load_config(conf, interfaces=["eth0"], check_scripts=False)
    assert config_test_exit_status(diags) == 0
    assert [(d.line, d.message) for d in diags if d.kind == "syslog"] == [
        (
            4,
            "Configuration warning: BFD instance b min_tx value 10000.001 is larger than max"
            " sensible (10000)",
        ),
        (
            5,
            "Configuration warning: BFD instance b idle_tx value 4294967 is larger than max"
            " sensible (10000)",
        ),
    ]
    assert not any(d.printed_by_test for d in diags)


def test_a_configuration_tracking_bfd_loads_with_its_weights(tmp_path: Path) -> None:
    """The VRRP process's view is the model: the names with their default weight, and
    each track_bfd entry's effective weight (halab-vrrpd runs no BFD: without effect)."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        bfd(NBR, "weight -10 reverse")
        + bfd("neighbor_ip 10.0.0.3", name="c")
        + tracking("b", "c weight 20")
        + VI_2
        + GROUP.replace(
            "TRACK", "    sync_group_tracking_weight\n    track_bfd {\n        c\n    }\n"
        )
    )
    cfg, diags = load_config(conf, interfaces=["eth0"], check_scripts=False)
    assert config_test_exit_status(diags) == 0 and cfg.runs
    assert [(b.name, b.weight, b.weight_reverse) for b in cfg.bfd_instances.values()] == [
        ("b", -10, True),
        ("c", 0, False),
    ]
    assert [(t.name, t.weight, t.reverse) for t in cfg.instances["VI_1"].track_bfds] == [
        ("b", -10, True),
        ("c", 20, False),
    ]
    assert [t.name for t in cfg.sync_groups["G"].track_bfds] == ["c"]


@pytest.mark.parametrize(
    "text",
    ["bfd_instance {\n    neighbor_ip 10.0.0.2\n}\n", "bfd_instance b {\n    neighbor_ip\n}\n"],
    ids=["no_name", "neighbor_without_value"],
)
def test_what_kills_keepalived_misses_its_parameter(tmp_path: Path, text: str) -> None:
    """keepalived 2.2.7 -t dies of a NULL pointer (SIGSEGV) on a bfd_instance without a
    name and on a neighbor_ip without a value; here they miss their parameter (exit 2),
    as keepalived's VRRP process says of the first, and its other keywords of theirs."""
    code, said = _said(tmp_path, text + NO_TRACK)
    assert code == 2
    assert said[-1][1].startswith("*** Configuration line starting `")

"""What the engines say of their instances (keepalived's JSON dump), why a VIP is not on
its expected master, and which log lines are the engines' warnings."""

from __future__ import annotations

import json

import pytest

from pytest_halab.instances import (
    InstanceStatus,
    StatusError,
    contested,
    explain,
    kept_by_nopreempt,
    masters_everywhere,
    parse,
    warnings_in,
)

ADDR = "10.0.0.3"

# What keepalived 2.2.7 wrote in a lab (fields not read here trimmed)
KEEPALIVED_DUMP = json.dumps(
    [
        {
            "data": {
                "iname": "VI_1",
                "vrid": 50,
                "base_priority": 100,
                "effective_priority": 80,
                "master_priority": 150,
                "nopreempt": False,
                "preempt_delay": 0,
                "state": 1,
                "vips": [f"{ADDR} dev eth0 scope global"],
                "track_script": ["'/etc/keepalived/check_nginx.sh' 'arg one'"],
            },
            "stats": {"advert_rcvd": 3},
        }
    ]
)


def inst(node: str, state: str, prio: int, base: int | None = None, **kw: object) -> InstanceStatus:
    fields: dict[str, object] = {
        "node": node,
        "name": "VI_1",
        "state": state,
        "base_priority": prio if base is None else base,
        "effective_priority": prio,
        "master_priority": 0,
        "nopreempt": False,
        "preempt_delay": 0.0,
        "vrid": 50,
        "vips": (ADDR,),
        "track_scripts": (),
    }
    fields.update(kw)
    return InstanceStatus(**fields)  # type: ignore[arg-type]


def test_keepalived_dump_parses() -> None:
    (s,) = parse(KEEPALIVED_DUMP, "lb2")
    assert (s.node, s.name, s.state, s.base_priority, s.effective_priority) == (
        "lb2",
        "VI_1",
        "BACKUP",
        100,
        80,
    )
    assert s.master_priority == 150 and s.vips == (ADDR,)
    assert s.track_scripts == ("/etc/keepalived/check_nginx.sh arg one",)
    assert s.as_dict()["priority"] == 80


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is not JSON"),
        ('{"data": {}}', "is not a list of instances"),
        ('[{"data": {"vrid": 1}}]', "an instance without data.iname"),
        ("[1]", "an instance without data.iname"),
        ('[{"data": {"iname": "VI_1"}', "is not JSON"),  # half written
    ],
)
def test_a_dump_that_is_not_keepalived_s_is_refused(text: str, problem: str) -> None:
    with pytest.raises(StatusError, match=problem):
        parse(text, "lb1")


def test_odd_values_do_not_crash_the_parser() -> None:
    (s,) = parse('[{"data": {"iname": "X", "state": 7, "effective_priority": true}}]', "n")
    assert s.state == "state 7" and s.effective_priority == 0 and s.vips == ()


def test_where_expected_there_is_nothing_to_explain() -> None:
    seen = {"lb1": [inst("lb1", "MASTER", 150)], "lb2": [inst("lb2", "BACKUP", 100)]}
    assert explain("VI_1", ADDR, "lb1", ["lb1"], seen) is None


def test_a_higher_priority_elsewhere_is_the_reason() -> None:
    seen = {"lb1": [inst("lb1", "BACKUP", 90)], "lb2": [inst("lb2", "MASTER", 100)]}
    why = explain("VI_1", ADDR, "lb1", ["lb2"], seen)
    assert why == (
        "VI_1 is held by lb2, not by lb1 as the topology's master: says: lb2 has the higher "
        "priority (100 > 90) and VRRP elects the highest; `state MASTER` only sets where an "
        "instance starts (lb1 VI_1 BACKUP priority 90, lb2 VI_1 MASTER priority 100)"
    )


def test_a_priority_lowered_by_tracking_says_so() -> None:
    seen = {"lb1": [inst("lb1", "BACKUP", 50, base=150)], "lb2": [inst("lb2", "MASTER", 100)]}
    why = explain("VI_1", ADDR, "lb1", ["lb2"], seen)
    assert why is not None
    assert "lb1's priority is lowered from 150 by a failing tracked script or interface" in why
    assert "lb1 VI_1 BACKUP priority 50 (configured 150)" in why


def test_equal_priorities_nopreempt_fault_split_brain_and_no_holder() -> None:
    tie = {"lb1": [inst("lb1", "BACKUP", 100)], "lb2": [inst("lb2", "MASTER", 100)]}
    assert "the tie goes to the higher primary IP address" in str(
        explain("VI_1", ADDR, "lb1", ["lb2"], tie)
    )
    nopre = {
        "lb1": [inst("lb1", "BACKUP", 150, nopreempt=True)],
        "lb2": [inst("lb2", "MASTER", 100)],
    }
    assert "lb1's VI_1 has nopreempt: it does not take the VIP back" in str(
        explain("VI_1", ADDR, "lb1", ["lb2"], nopre)
    )
    fault = {"lb1": [inst("lb1", "FAULT", 150)], "lb2": [inst("lb2", "MASTER", 100)]}
    assert "lb1's VI_1 is in FAULT" in str(explain("VI_1", ADDR, "lb1", ["lb2"], fault))
    both = {"lb1": [inst("lb1", "MASTER", 150)], "lb2": [inst("lb2", "MASTER", 100)]}
    assert "several nodes are MASTER at once" in str(
        explain("VI_1", ADDR, "lb1", ["lb1", "lb2"], both)
    )
    none = {"lb1": [inst("lb1", "BACKUP", 150)], "lb2": [inst("lb2", "BACKUP", 100)]}
    assert "VI_1 is held by no node" in str(explain("VI_1", ADDR, "lb1", [], none))


def test_an_engine_that_cannot_say_or_has_no_instance_for_the_vip() -> None:
    down = {"lb1": "the VRRP engine is not running", "lb2": [inst("lb2", "MASTER", 100)]}
    assert "lb1 as the topology's master: says: the VRRP engine is not running" in str(
        explain("VI_1", ADDR, "lb1", ["lb2"], down)
    )
    other = {"lb1": [inst("lb1", "MASTER", 150, vips=("10.0.0.4",))], "lb2": []}
    assert f"no VRRP instance of lb1 has {ADDR}" in str(
        explain("VI_1", ADDR, "lb1", ["lb2"], other)
    )


KEEPALIVED_LOG = """\
Wed Dec  2 04:40:59 2026: Starting Keepalived v2.2.7 (01/16,2022)
Wed Dec  2 04:40:59 2026: Script user 'keepalived_script' does not exist
Wed Dec  2 04:40:59 2026: WARNING - script '/etc/keepalived/old.sh' is not executable for uid:gid 0:0 - disabling.
Wed Dec  2 04:41:13 2026: Reloading ...
Wed Dec  2 04:41:13 2026: Script user 'keepalived_script' does not exist
Wed Dec  2 04:41:13 2026: WARNING - script '/etc/keepalived/chk.sh' is not executable for uid:gid 0:0 - disabling.
Wed Dec  2 04:41:13 2026: SECURITY VIOLATION - scripts are being executed but script_security not enabled.
Wed Dec  2 04:41:13 2026: (VI_1) Unknown keyword 'nopremept'
Wed Dec  2 04:41:13 2026: (/etc/keepalived/keepalived.conf: Line 13) (VI_1) tracked interface eth9 doesn't exist
Wed Dec  2 04:41:13 2026: Truncating auth_pass to 8 characters
Wed Dec  2 04:41:13 2026: WARNING - script '/etc/keepalived/chk.sh' is not executable for uid:gid 0:0 - disabling.
Wed Dec  2 04:41:13 2026: (VI_1) Entering BACKUP STATE (init)
"""  # noqa: E501 (log lines as the engine wrote them)


def test_warnings_since_the_last_config_load_once_each_without_routine_notices() -> None:
    assert warnings_in(KEEPALIVED_LOG) == [
        "WARNING - script '/etc/keepalived/chk.sh' is not executable for uid:gid 0:0 - disabling.",
        "(VI_1) Unknown keyword 'nopremept'",
        "(/etc/keepalived/keepalived.conf: Line 13) (VI_1) tracked interface eth9 doesn't exist",
        "Truncating auth_pass to 8 characters",
    ]
    halab = (
        "Wed Dec 02 04:49:28.977884 2026: Starting halab-vrrpd 0.1.0\n"
        "Wed Dec 02 04:49:28.977990 2026: (/etc/keepalived/keepalived.conf: Line 6) WARNING - "
        "script '/x.sh' is not executable for uid:gid 0:0 - disabling.\n"
    )
    assert warnings_in(halab) == [
        "(/etc/keepalived/keepalived.conf: Line 6) WARNING - script '/x.sh' is not executable "
        "for uid:gid 0:0 - disabling."
    ]
    assert warnings_in("") == []


def test_the_configuration_dump_of_dash_d_is_no_warning() -> None:
    """keepalived -d (seed 002's KEEPALIVED_OPTIONS) logs its configuration at start, whose
    lines say "disabled" and "arp_ignore": they are the dump's, not warnings."""
    log = (
        "Wed Dec 02 04:49:28 2026: Starting Keepalived v2.2.7 (01/16,2022)\n"
        "Wed Dec 02 04:49:28 2026: ------< Global definitions >------\n"
        "Wed Dec 02 04:49:28 2026:  Script security disabled\n"
        "Wed Dec 02 04:49:28 2026:    Promote_secondaries = disabled\n"
        "Wed Dec 02 04:49:28 2026:    Original arp_ignore 0\n"
        "Wed Dec 02 04:49:28 2026: (VI_1) Unknown keyword 'nopremept'\n"
    )
    assert warnings_in(log) == ["(VI_1) Unknown keyword 'nopremept'"]


# ---------------------------------------------------------------- kept by nopreempt

WANT = {"VI_1": ["lb1"]}
ADDRS = {"VI_1": ADDR}


def test_kept_when_the_expected_master_is_a_nopreempt_backup_that_hears_the_holder() -> None:
    seen = {
        "lb1": [inst("lb1", "BACKUP", 100, nopreempt=True, master_priority=90)],
        "lb2": [inst("lb2", "MASTER", 90, master_priority=90)],
    }
    assert kept_by_nopreempt({"VI_1": ["lb2"]}, WANT, seen, ADDRS)


@pytest.mark.parametrize(
    ("holders", "lb1", "lb2"),
    [
        # back where expected: nothing is kept elsewhere
        (["lb1"], inst("lb1", "MASTER", 100, nopreempt=True), inst("lb2", "BACKUP", 90)),
        # it preempts (no nopreempt): the VIP comes back by itself
        (["lb2"], inst("lb1", "BACKUP", 100, master_priority=90), inst("lb2", "MASTER", 90)),
        # it has heard no master yet: it takes over at its Master_Down_Interval
        (["lb2"], inst("lb1", "BACKUP", 100, nopreempt=True), inst("lb2", "MASTER", 90)),
        # still starting (INIT), or the holder is not MASTER (its address lags its state)
        (["lb2"], inst("lb1", "INIT", 100, nopreempt=True), inst("lb2", "MASTER", 90)),
        (
            ["lb2"],
            inst("lb1", "BACKUP", 100, nopreempt=True, master_priority=90),
            inst("lb2", "BACKUP", 90),
        ),
        # two holders, or none: a handover or a split brain, not a kept VIP
        (
            ["lb1", "lb2"],
            inst("lb1", "BACKUP", 100, nopreempt=True, master_priority=90),
            inst("lb2", "MASTER", 90),
        ),
        (
            [],
            inst("lb1", "BACKUP", 100, nopreempt=True, master_priority=90),
            inst("lb2", "FAULT", 90),
        ),
    ],
)
def test_not_kept_while_vrrp_may_still_move_the_vip(
    holders: list[str], lb1: InstanceStatus, lb2: InstanceStatus
) -> None:
    assert not kept_by_nopreempt({"VI_1": holders}, WANT, {"lb1": [lb1], "lb2": [lb2]}, ADDRS)


def test_not_kept_when_an_engine_cannot_say() -> None:
    seen: dict[str, list[InstanceStatus] | str] = {
        "lb1": "the VRRP engine is not running",
        "lb2": [inst("lb2", "MASTER", 90)],
    }
    assert not kept_by_nopreempt({"VI_1": ["lb2"]}, WANT, seen, ADDRS)


# ---------------------------------------------------------------- settling


def test_contested_while_a_backup_outranks_the_master_or_has_heard_none() -> None:
    masters = {"VI_1": "lb1"}
    settled = {
        "lb1": [inst("lb1", "MASTER", 100, master_priority=100)],
        "lb2": [inst("lb2", "BACKUP", 90, master_priority=100)],
    }
    assert not contested(settled, masters, ADDRS)
    outranks = {**settled, "lb2": [inst("lb2", "BACKUP", 150, master_priority=100)]}
    unheard = {**settled, "lb2": [inst("lb2", "BACKUP", 90)]}
    starting: dict[str, list[InstanceStatus] | str] = {**settled, "lb2": "no dump yet"}
    for statuses in (outranks, unheard, starting):
        assert contested(statuses, masters, ADDRS)
    held = {**settled, "lb2": [inst("lb2", "BACKUP", 150, master_priority=100, nopreempt=True)]}
    assert not contested(held, masters, ADDRS)


def test_masters_everywhere_only_when_each_holder_s_engine_says_master() -> None:
    both = {"VI_1": ["lb1", "lb2"]}
    masters = {n: [inst(n, "MASTER", 100)] for n in ("lb1", "lb2")}
    assert masters_everywhere(both, masters, ADDRS)
    lagging = {**masters, "lb2": [inst("lb2", "BACKUP", 90, master_priority=100)]}
    assert not masters_everywhere(both, lagging, ADDRS)
    assert not masters_everywhere({"VI_1": []}, masters, ADDRS)

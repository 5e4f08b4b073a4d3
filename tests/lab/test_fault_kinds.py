"""Every kind of fault, for real, on the master/backup topology: it takes effect, the lab
reacts as VRRP says, and the revert puts things back."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pytest_halab.faults import FaultError
from pytest_halab.lab import Lab
from pytest_halab.measures import (
    assert_holder,
    assert_no_failed_requests,
    assert_single_holder,
    assert_split_brain,
)
from pytest_halab.scenario import Scenario

ScenarioFactory = Callable[[Lab], Scenario]


@pytest.fixture
def mb(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("nginx_master_backup")


def vip_ip(lab: Lab) -> str:
    return str(lab.vip_addresses()["VI_1"])


def test_pause_master(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.pause_node("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2" and m.recovered
    # unpaused, lb1 still has the VIP and advertises 150: lb2 steps back
    hal.revert(fault)
    hal.wait_holders({"VI_1": ["lb1"]})


def test_restart_backup_leaves_the_vip_alone(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.restart_node("lb2")
    m = hal.failover("VI_1", fault, to=None, settle=1.0, timeout=0.1)
    assert m.new_holder is None and m.failed_requests == 0
    assert mb.node("lb2").state() == "running"


def test_disconnect_master(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.disconnect("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2" and m.recovered
    r = hal.recovery("VI_1", fault, to="lb1", timeout=20)
    assert r.new_holder == "lb1"


def test_partition_balancers_is_split_brain(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    faults = hal.faults.partition(["lb1"], ["lb2"])
    hal.wait_holders({"VI_1": ["lb1", "lb2"]})
    assert_split_brain(hal.timeline(), "VI_1", faults[0].injected_at, None, initial=["lb1"])
    for f in faults:
        hal.revert(f)
    hal.wait_holders({"VI_1": ["lb1"]})


def test_total_packet_loss_on_backup_is_split_brain(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.packet_loss("lb2", 100, direction="in")
    hal.wait_holders({"VI_1": ["lb1", "lb2"]})
    hal.revert(fault)
    hal.wait_holders({"VI_1": ["lb1"]})


def test_partial_packet_loss_rule_is_in_place(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    hal.faults.packet_loss("lb2", 30, direction="in")
    rules = mb.node("lb2").exec("iptables -w -S INPUT").output
    line = next(x for x in rules.splitlines() if "halab-fault-" in x)
    prob = float(line.split("--probability")[1].split()[0])
    assert abs(prob - 0.30) < 1e-6 and line.endswith("-j DROP")


def test_raise_backup_priority_live(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.set_priority("lb2", "VI_1", 200)
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2"
    adverts = [
        e
        for e in hal.timeline().of_kind("advert")
        if e.data.get("src") == str(mb.node("lb2").ip) and e.ts > fault.injected_at
    ]
    assert adverts and adverts[-1].data["priority"] == 200
    r = hal.recovery("VI_1", fault, to="lb1")
    assert r.new_holder == "lb1"


@pytest.mark.parametrize("engine", ["keepalived", "halab"])
def test_raise_master_priority_live_keeps_the_vip(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    """A reload (SIGHUP) that only changes the master's priority keeps the master: the VIP
    never leaves it, no request fails, and its adverts carry the new priority."""
    lab = lab_factory("nginx_v3_fast", vrrp=engine)
    hal = hal_scenario(lab)
    lb1 = str(lab.node("lb1").ip)
    hal.wait_holders({"VI_1": ["lb1"]})
    fault = hal.faults.set_priority("lb1", "VI_1", 160)

    def wait_for_lb1_advert(priority: int) -> None:
        deadline = time.monotonic() + 5
        while not any(
            e.data.get("src") == lb1 and e.data.get("priority") == priority
            for e in hal.timeline().of_kind("advert")
            if e.ts > fault.injected_at
        ):
            assert time.monotonic() < deadline, f"lb1 never advertised priority {priority}"
            time.sleep(0.1)

    wait_for_lb1_advert(160)
    hal.revert(fault)
    wait_for_lb1_advert(150)
    tl = hal.timeline()
    end = tl.events[-1].ts
    removed = [e for e in tl.of_kind("vip_removed").events if e.ts > fault.injected_at]
    assert not removed, "the reload removed the VIP\n" + tl.format_around(removed[0].ts)
    assert_single_holder(tl, "VI_1", fault.injected_at, end, initial=["lb1"])
    assert_holder(tl, "VI_1", "lb1", end, initial=["lb1"])
    assert_no_failed_requests(tl, "VI_1", fault.injected_at, end)


def test_set_priority_on_unknown_instance_is_refused(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(mb)
    with pytest.raises(FaultError, match="lb2: no vrrp_instance VI_9"):
        hal.faults.set_priority("lb2", "VI_9", 200)


def test_rogue_master_with_the_password_takes_the_vip_away(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    """A forged advert (priority 254, right password) makes both balancers back off: the VIP
    is held by nobody while the rogue keeps advertising."""
    hal = hal_scenario(mb)
    fault = hal.faults.forge_advert(50, 254, [vip_ip(mb)], password="1111", count=30, interval=0.5)
    hal.wait_holders({"VI_1": []})
    m = hal.failover("VI_1", fault, to=None, settle=0.5, timeout=0.1)
    assert m.failed_requests > 0
    hal.revert(fault)
    hal.wait_holders({"VI_1": ["lb1"]})


def test_rogue_advert_with_a_wrong_password_is_ignored(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.forge_advert(50, 254, [vip_ip(mb)], password="wrong", count=1)
    m = hal.failover("VI_1", fault, to=None, settle=2.0, timeout=0.1)
    assert m.new_holder is None and m.failed_requests == 0
    assert mb.vip_holders() == {"VI_1": ["lb1"]}


def test_flood_of_bad_password_adverts(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """keepalived 2.2.7 restarts its master's advert timer on every packet it receives,
    even one it then drops for a wrong password: adverts forged every 0.5 s silence the
    master, and the backup takes over after Master_Down_Interval (a short split brain
    follows). halab-vrrpd restarts the timer only when it has sent an advert."""
    hal = hal_scenario(mb)
    fault = hal.faults.forge_advert(50, 254, [vip_ip(mb)], password="wrong", count=12, interval=0.5)
    time.sleep(6.5)  # an observation window: the flood lasts 6 s
    tl = hal.timeline()
    lb1 = str(mb.node("lb1").ip)
    lb1_adverts = [
        e.ts for e in tl.of_kind("advert") if e.data.get("src") == lb1 and e.ts > fault.effective_at
    ]
    lb2_took = [e for e in tl.of_kind("vip_added") if e.node == "lb2" and e.ts > fault.injected_at]
    if mb.engine == "keepalived":
        assert lb2_took, tl.format_around(fault.injected_at, after=6)
        # from the first forged advert until the backup's takeover the master said nothing
        client = str(mb.client_node().ip)
        first_forged = min(e.ts for e in tl.of_kind("advert") if e.data.get("src") == client)
        lb2 = str(mb.node("lb2").ip)
        takeover = min(
            e.ts for e in tl.of_kind("advert") if e.data.get("src") == lb2 and e.ts > first_forged
        )
        spoken = [t for t in lb1_adverts if first_forged < t < takeover]
        assert spoken == [], tl.format_around(fault.injected_at, after=6)
        assert takeover - first_forged > 2.0  # about Master_Down_Interval of silence
    else:
        assert not lb2_took, tl.format_around(fault.injected_at, after=6)


def test_forged_resignation_of_the_master(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """A priority-0 advert spoofed from lb1: lb2 takes over after Skew_Time, then lb1's real
    adverts (150) send it back: a short, real split brain."""
    hal = hal_scenario(mb)
    lb1 = str(mb.node("lb1").ip)
    # sent right after a real advert of lb1, so lb1's next one (1 s later) comes after
    # lb2's Skew_Time (0.61 s) has run out
    fault = hal.faults.forge_advert(
        50, 0, [vip_ip(mb)], src=lb1, password="1111", count=1, sync_after=lb1
    )
    lb2 = str(mb.node("lb2").ip)

    def lb2_advertised() -> bool:
        return any(
            e.data.get("src") == lb2 and e.ts > fault.injected_at
            for e in hal.timeline().of_kind("advert")
        )

    deadline = time.monotonic() + 10
    while not lb2_advertised():
        assert time.monotonic() < deadline, hal.timeline().format_around(fault.injected_at, after=4)
        time.sleep(0.1)
    hal.wait_holders({"VI_1": ["lb1"]})

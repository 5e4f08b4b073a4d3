"""The seed documents' failure scenarios, for real, on every shipped topology.

Each test injects a fault, waits for the lab to react, and checks where the VIP went and
that the measures (from in-node timestamps) are consistent. Timing *goals* are not asserted
here (see `halab bench`); only generous sanity bounds.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_halab.assertions import (
    assert_no_failed_requests,
    assert_single_holder,
    assert_split_brain,
)
from pytest_halab.lab import Lab
from pytest_halab.lint import lint
from pytest_halab.observe import clock_skew_s
from pytest_halab.scenario import Scenario

TOPOLOGIES = ["nginx_master_backup", "nginx_nopreempt", "nginx_dual_master"]
PREEMPTIVE = {"nginx_master_backup": True, "nginx_nopreempt": False, "nginx_dual_master": True}
# Requests that may time out on a host busy with parallel labs (assert_no_failed_requests)
LOAD_TIMEOUTS = 1

ScenarioFactory = Callable[[Lab], Scenario]


# module scope: pytest then runs all tests of one topology together, one lab at a time
@pytest.fixture(scope="module", params=TOPOLOGIES)
def topo(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def tlab(lab_factory: Callable[..., Lab], topo: str) -> Lab:
    return lab_factory(topo)


def roles(lab: Lab, vip: str = "VI_1") -> tuple[str, str]:
    master = lab.expected_masters()[vip]
    backup = next(b.name for b in lab.balancers() if b.name != master)
    return master, backup


def test_containers_share_the_host_clock(tlab: Lab) -> None:
    """Events from different nodes are comparable: every node reads the host's clock."""
    assert clock_skew_s(list(tlab.nodes.values())) < 0.005


def test_kill_nginx_on_master(tlab: Lab, topo: str, hal_scenario: ScenarioFactory) -> None:
    """Seed 000 §2.4: the health script drops the master's priority (weight -100)."""
    hal = hal_scenario(tlab)
    master, backup = roles(tlab)
    fault = hal.faults.kill_process(master, "nginx", "SIGKILL")
    if PREEMPTIVE[topo]:
        m = hal.failover("VI_1", fault, to=backup)
        assert m.new_holder == backup and m.vip_move_s is not None
        assert m.failed_requests > 0 and m.recovered
        assert m.outage_s is not None and 0 < m.outage_s < 15
        r = hal.recovery("VI_1", fault, to=master)
        assert r.new_holder == master and r.vip_move_s is not None
    else:
        # nopreempt: the backup accepts the (now lower-priority) master's adverts and never
        # takes over, so a dead nginx is NOT failed over: the VIP stays, requests fail.
        # `halab lint` predicts it (nopreempt-trap).
        assert "nopreempt-trap" in {f.rule for f in lint([topo])[1]}
        hal.wait_holders({"VI_1": [master]})
        tl_before = hal.timeline()
        m = hal.failover("VI_1", fault, to=None, settle=5.0, timeout=0.1)
        assert m.new_holder is None and m.vip_move_s is None
        assert m.failed_requests > 0 and not m.recovered
        assert_single_holder(
            hal.timeline(), "VI_1", fault.effective_at, fault.effective_at + 5.0, initial=[master]
        )
        assert tl_before.vips["VI_1"] == str(tlab.vip_addresses()["VI_1"])


def test_sigterm_vrrp_on_master_hands_over(tlab: Lab, hal_scenario: ScenarioFactory) -> None:
    """A stopping daemon sends priority 0: the backup takes over after Skew_Time."""
    hal = hal_scenario(tlab)
    master, backup = roles(tlab)
    fault = hal.faults.kill_process(master, "vrrp", "SIGTERM")
    m = hal.failover("VI_1", fault, to=backup)
    assert m.new_holder == backup
    assert m.vip_move_s is not None and m.vip_move_s < 3.0  # well under Master_Down (3.4 s)
    assert not m.split_brain


def test_sigkill_vrrp_on_master_leaves_two_holders(
    tlab: Lab, hal_scenario: ScenarioFactory
) -> None:
    """keepalived killed with SIGKILL cannot remove its VIP: both balancers hold it."""
    hal = hal_scenario(tlab)
    master, backup = roles(tlab)
    fault = hal.faults.kill_process(master, "vrrp", "SIGKILL")
    hal.wait_holders({"VI_1": [master, backup]})
    sb = assert_split_brain(
        hal.timeline(), "VI_1", fault.injected_at, None, initial=[master], holders=[master, backup]
    )
    assert sb.start > fault.injected_at and sb.end is None


def test_crash_master_then_it_returns(tlab: Lab, topo: str, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(tlab)
    master, backup = roles(tlab)
    fault = hal.faults.crash_node(master)
    m = hal.failover("VI_1", fault, to=backup)
    assert m.new_holder == backup and m.detection_s is not None and m.vip_move_s is not None
    assert m.detection_source == "vrrp_state"
    # Detection is the new master's state event, stamped within a few ms of the VIP move
    # (keepalived reports it after adding the VIP and sending its GARPs; both stamps are
    # taken in user space, in the node).
    assert m.detection_s <= m.vip_move_s + 0.05
    assert m.recovered and m.outage_s is not None and 0 < m.outage_s < 15
    if PREEMPTIVE[topo]:
        r = hal.recovery("VI_1", fault, to=master, timeout=20)
        assert r.new_holder == master
    else:
        hal.revert(fault)
        # the old master is back, but nopreempt keeps the VIP where it is
        hal.wait_holders({"VI_1": [backup]})
        r = hal.recovery("VI_1", fault, to=None, settle=5.0, timeout=0.1)
        assert r.new_holder is None and r.holders_after == {backup}


def test_link_down_on_master(tlab: Lab, topo: str, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(tlab)
    master, backup = roles(tlab)
    fault = hal.faults.link_down(master)
    m = hal.failover("VI_1", fault, to=backup)
    assert m.new_holder == backup and m.recovered
    if PREEMPTIVE[topo]:
        r = hal.recovery("VI_1", fault, to=master)
        assert r.new_holder == master


def test_firewall_vrrp_on_backup_is_split_brain(tlab: Lab, hal_scenario: ScenarioFactory) -> None:
    """Seed 000 §2.4 cause 3: firewalld on the backup drops the master's adverts."""
    hal = hal_scenario(tlab)
    master, backup = roles(tlab)
    fault = hal.faults.firewall(backup, "vrrp", direction="in")
    hal.wait_holders({"VI_1": [master, backup]})
    sb = assert_split_brain(
        hal.timeline(), "VI_1", fault.injected_at, None, initial=[master], holders=[master, backup]
    )
    assert sb.start - fault.injected_at > 1.0  # it takes Master_Down_Interval to happen
    hal.revert(fault)
    hal.wait_holders({"VI_1": [master]})
    sb = assert_split_brain(hal.timeline(), "VI_1", fault.injected_at, None, initial=[master])
    assert sb.end is not None and fault.reverted_at is not None and sb.end > fault.reverted_at


@pytest.mark.lab("nginx_dual_master")
def test_dual_master_vips_fail_over_independently(
    lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    lab = lab_factory("nginx_dual_master")
    hal = hal_scenario(lab)
    for vip, (master, backup) in (("VI_1", ("lb1", "lb2")), ("VI_2", ("lb2", "lb1"))):
        other = "VI_2" if vip == "VI_1" else "VI_1"
        fault = hal.faults.kill_process(master, "nginx", "SIGKILL")
        m = hal.failover(vip, fault, to=backup)
        assert m.new_holder == backup
        # the other VIP was already on the backup: untouched, and it never failed
        o = hal.failover(other, fault, to=None, settle=0.0, timeout=0.1)
        assert o.new_holder is None
        assert_no_failed_requests(
            hal.timeline(), other, o.fault_ts, o.window_end, tolerate_timeouts=LOAD_TIMEOUTS
        )
        r = hal.recovery(vip, fault, to=master)
        assert r.new_holder == master
        hal.wait_holders({"VI_1": ["lb1"], "VI_2": ["lb2"]})

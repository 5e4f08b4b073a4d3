"""LVS directors (seeds 001 and 003) for real, with both VRRP engines: keepalived's checker
(halab-vrrpd --check: this kernel has no IP_VS, so nftables is the forwarding plane) keeps
the pool, VRRP moves the VIP.

- lvs_nat (seed 001's layout, wrr 2:1, TCP_CHECK delay_loop 1, connect_timeout 1, retry 1,
  delay_before_retry 1): requests through the VIP reach both backends in the weights'
  ratio; web1 stopped leaves only 2222 until it is back; the master director crashes and
  the backup, whose pool is in place, serves both backends.
- lvs_dr (seed 003's virtual_server as written: DR, persistence_timeout 50): one client
  stays on one real server, whose answers come straight from it (the VIP on its lo).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest

from pytest_halab.lab import Lab
from pytest_halab.nodes import Node
from pytest_halab.poolmeasures import traffic_split
from pytest_halab.scenario import Scenario

ScenarioFactory = Callable[[Lab], Scenario]
ENGINES = ["keepalived", "halab"]


def bodies(client: Node, vip: str, count: int) -> Counter[str]:
    """What `count` fresh connections to the VIP get, one after the other."""
    res = client.exec(f"halab-probe {vip} --count {count} --interval 0 --timeout 1")
    assert res.ok, res.output
    recs = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    return Counter(r["body"] if r["ok"] else f"error {r['status'] or r['error']}" for r in recs)


def assert_two_to_one(hal: Scenario, since: float | None, got: Counter[str]) -> None:
    """wrr 2:1 while the scenario's own probe shares the director's numgen counter: this
    stream's share of each cycle varies by a request or two, both streams together keep
    2:1 (each is one whole request per connection)."""
    assert set(got) == {"1111", "2222"}, got
    both = got + traffic_split(hal.timeline(), "VI_1", since, None)
    assert abs(both["1111"] - 2 * both["2222"]) <= 3, both


def checker_status(lab: Lab, node: str) -> dict[str, object]:
    return json.loads(lab.node(node).read_file("/run/halab/checker.json"))


@pytest.fixture(scope="module", params=ENGINES)
def nat(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("lvs_nat", vrrp=request.param)


def test_the_checker_says_what_serves_the_pool(nat: Lab) -> None:
    status = checker_status(nat, "lvs1")
    assert status["plane"] == "nftables"
    assert "IP_VS" in str(status["reason"])
    # the VRRP half is the lab's engine; the checker half is halab-vrrpd's, in both labs
    assert nat.node("lvs1").pids(["pgrep", "-x", "halab-checker"])


def test_wrr_sends_the_weights_ratio_to_each_backend(nat: Lab) -> None:
    got = bodies(nat.client_node(), str(nat.vip_addresses()["VI_1"]), 60)
    # nftables' numgen keeps exact per-cycle counts (LVS wrr interleaves, same totals)
    assert got == {"1111": 40, "2222": 20}, got


def test_a_stopped_real_server_leaves_the_pool_and_returns(
    nat: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(nat)
    fault = hal.faults.stop_web("web1")
    out = hal.pool_change("VI_1", fault, "web1")
    assert out.happened and out.director == "lvs1", out.summary()
    assert out.bound_s == 4.0  # delay_loop 1 + 2 x connect_timeout 1 + delay_before_retry 1
    assert out.decided_s is not None and out.applied_s is not None
    assert out.decided_s <= out.applied_s
    vip = str(nat.vip_addresses()["VI_1"])
    assert bodies(nat.client_node(), vip, 20) == {"2222": 20}
    hal.revert(fault)
    back = hal.pool_change("VI_1", fault, "web1", removed=False)
    assert back.happened, back.summary()
    since = hal.timeline().end
    assert_two_to_one(hal, since, bodies(nat.client_node(), vip, 30))
    events = {e.get("event") for e in hal.timeline().of_kind("checker")}
    assert {"rs_state", "pool"} <= events


def test_the_backup_director_serves_when_the_master_crashes(
    nat: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(nat)
    fault = hal.faults.crash_node("lvs1")
    m = hal.failover("VI_1", fault, to="lvs2")
    assert m.recovered, m.summary()
    # lvs2's checker kept its pool while backup: both backends at once, 2:1
    since = hal.timeline().end
    assert_two_to_one(hal, since, bodies(nat.client_node(), str(nat.vip_addresses()["VI_1"]), 30))


@pytest.mark.parametrize("engine", ENGINES)
def test_dr_persistence_keeps_a_client_on_one_real_server(
    engine: str, lab_factory: Callable[..., Lab]
) -> None:
    lab = lab_factory("lvs_dr", vrrp=engine)
    vip = str(lab.vip_addresses()["VI_1"])
    got = bodies(lab.client_node(), vip, 20)
    assert len(got) == 1 and set(got) <= {"1111", "2222"}, got
    served = "web1" if "1111" in got else "web2"
    # DR: the real server holds the VIP on lo and answered the client itself
    assert vip in lab.node(served).exec("ip -4 -o addr show dev lo").output
    status = checker_status(lab, "lvs1")
    assert status["plane"] == "nftables"

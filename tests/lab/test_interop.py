"""halab-vrrpd and Debian's keepalived in one VRRP group, both ways round, v2 and v3."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from pytest_halab.assertions import assert_single_holder
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario

ScenarioFactory = Callable[[Lab], Scenario]
PAIRS: list[dict[str, str]] = [
    {"lb1": "halab", "lb2": "keepalived"},
    {"lb1": "keepalived", "lb2": "halab"},
]
VERSIONS = {"v2": "nginx_master_backup", "v3": "nginx_v3_fast"}


def pair_id(p: dict[str, str]) -> str:
    return "+".join(f"{n}={e}" for n, e in sorted(p.items()))


@pytest.fixture(scope="module", params=list(VERSIONS), ids=list(VERSIONS))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=PAIRS, ids=[pair_id(p) for p in PAIRS])
def mixed(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab], version: str) -> Lab:
    return lab_factory(VERSIONS[version], node_engines=request.param)


def engine_on(lab: Lab, node: str) -> str:
    n = lab.node(node)
    if n.exec(["pgrep", "-x", "halab-vrrpd"]).ok:
        return "halab"
    if n.exec(["pgrep", "-x", "keepalived"]).ok:
        return "keepalived"
    return "none"


def test_engines_as_asked_and_higher_priority_wins(
    mixed: Lab, hal_scenario: ScenarioFactory
) -> None:
    assert {b.name: engine_on(mixed, b.name) for b in mixed.balancers()} == mixed.node_engines
    hal = hal_scenario(mixed)
    hal.wait_holders({"VI_1": ["lb1"]})
    # steady state: exactly one holder, lb1 (priority 150), over at least two adverts
    t0 = hal.observation.started_at
    deadline = time.monotonic() + 10
    while len(hal.timeline().of_kind("advert")) < 2:
        assert time.monotonic() < deadline, "no VRRP adverts captured in 10 s"
        time.sleep(0.1)
    tl = hal.timeline()
    assert assert_single_holder(tl, "VI_1", t0, tl.end or t0, initial=["lb1"]) == "lb1"
    adverts = {(e.data["src"], e.data["priority"], e.data["version"]) for e in tl.of_kind("advert")}
    want_v = 3 if "v3" in mixed.layout.topology else 2 if mixed.layout else 0
    assert adverts == {(str(mixed.node("lb1").ip), 150, want_v)}


def test_crash_master_moves_the_vip(mixed: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mixed)
    fault = hal.faults.crash_node("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2" and m.recovered
    r = hal.recovery("VI_1", fault, to="lb1", timeout=20)
    assert r.new_holder == "lb1"


def test_sigterm_hands_over_after_skew_time(mixed: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mixed)
    fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2" and not m.split_brain
    # well before Master_Down_Interval (3.41 s v2; 0.34 s v3) would have run out
    assert m.vip_move_s is not None
    assert m.vip_move_s < (3.0 if "v3" not in mixed.layout.topology else 1.0)  # type: ignore[union-attr]


@pytest.mark.lab("nginx_nopreempt")
@pytest.mark.parametrize("pair", PAIRS, ids=[pair_id(p) for p in PAIRS])
def test_nopreempt_keeps_the_vip_when_the_old_master_returns(
    lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory, pair: dict[str, str]
) -> None:
    lab = lab_factory("nginx_nopreempt", node_engines=pair)
    hal = hal_scenario(lab)
    fault = hal.faults.crash_node("lb1")
    hal.failover("VI_1", fault, to="lb2")
    hal.revert(fault)
    r = hal.recovery("VI_1", fault, to=None, settle=5.0, timeout=0.1)
    assert r.new_holder is None and r.holders_after == {"lb2"}, (
        f"{r.diagnosis()}\n{hal.timeline().format_around(fault.reverted_at or 0.0, 1, 6)}"
    )

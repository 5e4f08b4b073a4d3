"""What `halab lint` predicts, confirmed by the lab, with both VRRP engines.

- ``lint_split``: six pairs of instances whose halves cannot hear each other (VRID,
  auth_pass, VRRPv2 advert_int, version, unicast against multicast, a unicast_peer list
  without the other node). lint says split brain for each; the lab settles with every one
  of those VIPs on both balancers, both engines saying MASTER.
- ``lint_nomove``: seed 000's ``weight -5`` at 150/100 (lint: a dead nginx does not move
  the VIP; the lab kills nginx and the VIP stays, the master's engine at the 145 lint
  computed); two ``state MASTER`` at equal priority (lint: whoever starts first keeps
  it, so a restart can move it; the lab restarts the first one's engine and the VIP stays
  on the other node); nopreempt on the backup only (lint: the master's failing check
  leaves the VIP where it is, and a restarted master takes it back all the same; the lab
  shows both).

Elsewhere the lab confirms the other rules: ``no-tracking`` (tests/lab/test_no_move.py),
``nopreempt-trap`` with nopreempt on both nodes (tests/lab/test_faults.py,
nginx_nopreempt), ``script-missing`` and
``master-outranked`` (tests/lab/test_first_lab.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab import topology
from pytest_halab.dockerhost import DockerHost
from pytest_halab.lab import Lab
from pytest_halab.lint import lint
from pytest_halab.lint.subjects import IMAGE_SCRIPTS
from pytest_halab.scenario import Scenario

ScenarioFactory = Callable[[Lab], Scenario]
HERE = Path(__file__).resolve().parent / "topologies"
SPLIT = HERE / "lint_split.yaml"
NOMOVE = HERE / "lint_nomove.yaml"
ENGINES = ["keepalived", "halab"]
SPLIT_RULES = {
    "VI_1": "vrid-mismatch",
    "VI_2": "auth-mismatch",
    "VI_3": "advert-mismatch",
    "VI_4": "version-mismatch",
    "VI_5": "unicast-mismatch",
    "VI_6": "unicast-peer-missing",
}


def test_lint_predicts_one_split_brain_per_pair() -> None:
    found = lint([str(SPLIT)])[1]
    assert sorted((f.rule, f.severity) for f in found) == sorted(
        (rule, "error") for rule in SPLIT_RULES.values()
    )
    for vip, rule in SPLIT_RULES.items():
        (f,) = [f for f in found if f.rule == rule]
        assert f"lb1 {vip}" in f.message and "split brain" in f.message, f
        assert f.nodes == ("lb1", "lb2") and f.file.endswith("lint_split/lb1.conf")


@pytest.mark.parametrize("engine", ENGINES)
def test_the_split_brains_lint_predicts_happen(engine: str, halab_docker: DockerHost) -> None:
    lab = Lab(
        topology.load(SPLIT), engine=engine, keep=True, docker_host=halab_docker, strict=False
    )
    lab.start()
    try:
        assert lab.vip_holders() == {vip: ["lb1", "lb2"] for vip in SPLIT_RULES}, lab.mismatch
        seen = lab.instances()
        for node in ("lb1", "lb2"):
            states = seen[node]
            assert not isinstance(states, str), states
            assert {s.name: s.state for s in states} == dict.fromkeys(SPLIT_RULES, "MASTER")
        # the lab says so: each VIP is on both, held by two MASTERs
        assert set(lab.mismatch) == set(SPLIT_RULES)
        for vip, why in lab.mismatch.items():
            assert "lb1" in why and "lb2" in why and "MASTER" in why, (vip, why)
    finally:
        lab.stop()


@pytest.mark.parametrize("engine", ENGINES)
def test_what_lint_says_will_not_move_does_not(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    found = {(f.rule, f.message.split(":")[0]): f for f in lint([str(NOMOVE)])[1]}
    rules = {rule for rule, _ in found}
    assert rules == {"weight-too-small", "equal-masters", "nopreempt-trap", "nopreempt-useless"}
    by_rule = {rule: f.message for (rule, _), f in found.items()}
    assert "VI_1 does not move: weight -5 takes VI_1 from 150 to 145" in by_rule["weight-too-small"]
    assert "lb1 VI_2 and lb2 VI_2 are both state MASTER" in by_rule["equal-masters"]
    assert by_rule["nopreempt-trap"].startswith("VI_3 stays on lb1 when its chk_big fails")
    assert by_rule["nopreempt-useless"].startswith("nopreempt on lb2 VI_3 does not stop")
    lab = lab_factory(str(NOMOVE), vrrp=engine)
    hal = hal_scenario(lab)
    hal.wait_holders({"VI_1": ["lb1"], "VI_2": ["lb1"], "VI_3": ["lb1"]})  # lb1 starts first

    # nginx dies on lb1. weight-too-small: VI_1 stays, lb1's VI_1 at the 145 lint computed.
    # nopreempt-trap: lb1's VI_3 drops to 50, below lb2's 100, and VI_3 stays too.
    fault = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
    for vip in ("VI_1", "VI_3"):
        m = hal.failover(vip, fault)
        assert not m.moved and m.stayed_put and m.holders_after == {"lb1"}, m.summary()
    prio = {(s.node, s.name): s.effective_priority for s in _statuses(lab)}
    assert prio[("lb1", "VI_1")] == 145 and prio[("lb2", "VI_1")] == 100
    assert prio[("lb1", "VI_3")] == 50 and prio[("lb2", "VI_3")] == 100
    hal.revert(fault)

    # lb1's engine restarts. equal-masters: lb2 took VI_2 and keeps it (equal priority).
    # nopreempt-useless: lb2 took VI_3, and lb1 takes it back (as VI_1, 150 against 100).
    fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")
    for vip in ("VI_2", "VI_3"):
        hal.failover(vip, fault, to="lb2")
    hal.revert(fault)
    for vip in ("VI_1", "VI_3"):
        hal.recovery(vip, fault, to="lb1")
    states = {(s.node, s.name): s.state for s in _statuses(lab)}
    assert states[("lb1", "VI_2")] == "BACKUP" and states[("lb2", "VI_2")] == "MASTER"
    assert lab.vip_holders() == {"VI_1": ["lb1"], "VI_2": ["lb2"], "VI_3": ["lb1"]}


def _statuses(lab: Lab) -> list:
    out = []
    for node, states in lab.instances().items():
        assert not isinstance(states, str), (node, states)
        out.extend(states)
    return out


def test_the_scripts_lint_takes_from_the_image_are_there(
    lab_factory: Callable[..., Lab],
) -> None:
    """lint counts these paths as present in every balancer (lint.subjects.IMAGE_SCRIPTS)."""
    node = lab_factory("nginx_master_backup").node("lb1")
    for path in sorted(IMAGE_SCRIPTS):
        assert node.exec(f"test -f {path} && test -x {path}").ok, path

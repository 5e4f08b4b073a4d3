"""nginx_unicast: VRRP adverts by unicast to the peer (unicast_src_ip / unicast_peer), as
on clouds without multicast, with both engines: a capture in the peer and one in the
client prove the adverts go to the peer only, and failover works."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pytest_halab.lab import Lab
from pytest_halab.lint import lint
from pytest_halab.nodes import Node, parallel
from pytest_halab.scenario import Scenario

pytestmark = pytest.mark.lab("nginx_unicast")

ScenarioFactory = Callable[[Lab], Scenario]
ENGINES = ["keepalived", "halab"]
VRID = 50
WATCH_S = 3.5  # advert_int 1 s: three adverts at least


def adverts(node: Node) -> list[dict[str, Any]]:
    """The VRRP adverts of VRID 50 this node's eth0 sees for WATCH_S seconds."""
    res = node.exec(f"halab-observe --capture eth0 --duration {WATCH_S}")
    assert res.ok, res.output
    events = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    return [e for e in events if e.get("kind") == "advert" and e.get("vrid") == VRID]


def test_lint_finds_nothing_wrong() -> None:
    assert lint(["nginx_unicast"])[1] == []


@pytest.mark.parametrize("engine", ENGINES)
def test_adverts_go_to_the_peer_only_and_the_vip_fails_over(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    lab = lab_factory("nginx_unicast", vrrp=engine)
    lb1, lb2, client = lab.node("lb1"), lab.node("lb2"), lab.client_node()
    at_peer, at_client = parallel(adverts, [lb2, client])
    assert len(at_peer) >= 3, at_peer
    assert {(a["src"], a["dst"], a["priority"]) for a in at_peer} == {
        (str(lb1.ip), str(lb2.ip), 150)
    }
    # nothing multicast; the bridge delivers unicast frames to their port only
    assert not [a for a in at_client if a["dst"] == "224.0.0.18"], at_client
    assert len(at_client) < len(at_peer), at_client

    hal = hal_scenario(lab)
    fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")  # priority 0, by unicast
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.moved and m.new_holder == "lb2" and m.vip_move_s is not None, m.summary()
    at_peer = adverts(lb1)  # lb2 now adverts, to lb1 only
    assert at_peer and {(a["src"], a["dst"]) for a in at_peer} == {(str(lb2.ip), str(lb1.ip))}
    hal.revert(fault)
    r = hal.recovery("VI_1", fault, to="lb1")
    assert r.moved and r.new_holder == "lb1", r.summary()

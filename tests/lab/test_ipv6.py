"""nginx_v3_ipv6: VRRPv3 over IPv6 beside VRRPv3 over IPv4, in one lab, with both engines.

The capture proves the IPv6 adverts go to ff02::12 from the master's link-local address with
hop limit 255; the IPv6 VIP fails over on a SIGTERM of the VRRP engine and on a crash of
the master, the client's IPv6 probe follows it, the new holder announces it with
unsolicited neighbour advertisements (the measures' "first GARP" is the first NA for an
IPv6 VIP), and the VIP comes back on recovery. The IPv4 VIP is measured beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pytest_halab import waits
from pytest_halab.faults import Fault
from pytest_halab.lab import Lab
from pytest_halab.measures import FailoverMeasure, takeover_s
from pytest_halab.nodes import Node, parallel
from pytest_halab.scenario import Scenario

pytestmark = pytest.mark.lab("nginx_v3_ipv6")

ScenarioFactory = Callable[[Lab], Scenario]
TOPOLOGY = "nginx_v3_ipv6"
VRID4, VRID6 = 50, 56
LINK_LOCAL_VIP = "fe80::56:1"  # the first address of VI_6 in the topology's keepalived.conf
WATCH_S = 3.5  # advert_int 1 s: three adverts at least

ENGINES = ["keepalived", "halab"]


def wire(node: Node) -> list[dict[str, Any]]:
    """What this node's eth0 capture records for WATCH_S seconds (adverts, GARPs, NAs)."""
    res = node.exec(f"halab-observe --capture eth0 --duration {WATCH_S}")
    assert res.ok, res.output
    return [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("engine", ENGINES)
def test_ipv6_adverts_go_to_ff02_12_from_the_link_local_address(
    engine: str, lab_factory: Callable[..., Lab]
) -> None:
    lab = lab_factory(TOPOLOGY, vrrp=engine)
    lb1 = lab.node("lb1")
    vip6 = str(lab.vip_addresses()["VI_6"])
    seen = wire(lab.client_node())
    v6 = [e for e in seen if e["kind"] == "advert" and e["vrid"] == VRID6 and ":" in e["src"]]
    assert len(v6) >= 3, seen
    assert {(a["src"], a["dst"], a["ttl"], a["version"], a["priority"]) for a in v6} == {
        (str(lb1.link_local()), "ff02::12", 255, 3, 150)
    }
    assert {tuple(a["addrs"]) for a in v6} == {(LINK_LOCAL_VIP, vip6)}
    # the IPv4 instance beside it: VRRPv3 to 224.0.0.18 from lb1's IPv4 address
    v4 = [e for e in seen if e["kind"] == "advert" and e["vrid"] == VRID4]
    assert v4 and {(a["src"], a["dst"], a["version"]) for a in v4} == {
        (str(lb1.ip), "224.0.0.18", 3)
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_the_lab_has_ipv6_and_the_client_reaches_the_ipv6_vip(
    engine: str, lab_factory: Callable[..., Lab]
) -> None:
    lab = lab_factory(TOPOLOGY, vrrp=engine)
    assert lab.layout is not None and lab.layout.subnet6 is not None
    vip6 = lab.vip_addresses()["VI_6"]
    assert vip6.version == 6 and vip6 in lab.layout.subnet6
    assert lab.vip_holders() == {"VI_1": ["lb1"], "VI_6": ["lb1"]}
    client = lab.client_node()
    res = client.exec(f"halab-probe '[{vip6}]' --count 3 --interval 0.05")
    probes = [json.loads(line) for line in res.output.splitlines()]
    assert len(probes) == 3 and all(p["ok"] for p in probes), res.output
    # no node does DAD: no address of eth0 is tentative, the link-local one included
    flags = parallel(
        lambda n: n.exec("ip -6 -o addr show dev eth0").output, list(lab.nodes.values())
    )
    assert all("tentative" not in f and "dadfailed" not in f for f in flags), flags


def _failover_both(hal: Scenario, fault: Fault) -> tuple[FailoverMeasure, FailoverMeasure]:
    """The IPv6 VIP's failover to lb2 and the IPv4 one's, from the same fault."""
    m6 = hal.failover("VI_6", fault, to="lb2")
    m4 = hal.failover("VI_1", fault, to="lb2")
    return m6, m4


def _assert_announced_by_na(hal: Scenario, m: FailoverMeasure) -> None:
    """The new holder announced the IPv6 VIP with unsolicited NAs (to ff02::1, hop limit
    255, its own MAC), and the measure's "first GARP" is the first of them."""
    assert m.garp_s is not None, m.summary()
    tl = hal.timeline()
    vip6 = str(hal.lab.vip_addresses()["VI_6"])
    mac = hal.measure_context.node_macs[str(m.new_holder)]
    # the new holder's: an old master a few seconds into its mastership may still send its
    # garp_master_delay round of NAs after the fault (keepalived does, 5 s after taking over)
    nas = [
        e
        for e in tl.between(m.fault_ts, m.window_end).events
        if e.kind == "na" and e.get("addr") == vip6 and e.get("mac") == mac
    ]
    assert nas, tl.format_around(m.fault_ts)
    first = nas[0]
    assert (first.get("dst"), first.get("hop_limit")) == ("ff02::1", 255)
    assert "solicited" not in first.get("flags", [])
    assert m.garp_s == pytest.approx(first.ts - m.fault_ts, abs=2e-6)  # the first NA
    assert not [
        e
        for e in tl.between(m.fault_ts, m.window_end)
        if e.kind == "garp" and e.get("addr") == vip6
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_ipv6_vip_fails_over_on_sigterm_and_comes_back(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    lab = lab_factory(TOPOLOGY, vrrp=engine)
    hal = hal_scenario(lab)
    fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")  # priority 0 adverts
    m6, m4 = _failover_both(hal, fault)
    for m in (m6, m4):
        assert m.moved and m.new_holder == "lb2" and m.vip_move_s is not None, m.summary()
        assert m.probes > 0 and m.outage_s is not None, m.summary()  # the probe came back
    _assert_announced_by_na(hal, m6)
    hal.revert(fault)
    for vip in ("VI_6", "VI_1"):
        r = hal.recovery(vip, fault, to="lb1")
        assert r.moved and r.new_holder == "lb1", r.summary()


@pytest.mark.parametrize("engine", ENGINES)
def test_ipv6_vip_fails_over_when_the_master_crashes(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    lab = lab_factory(TOPOLOGY, vrrp=engine)
    hal = hal_scenario(lab)
    # the wire takeover starts at the old master's last advert: let the capture see one
    waits.until(
        "lb1's adverts of both families in the capture",
        lambda: (
            {e.data.get("vrid") for e in hal.timeline().events if e.kind == "advert"}
            >= {VRID4, VRID6}
            or None
        ),
        timeout=5,
    )
    fault = hal.faults.crash_node("lb1")
    m6, m4 = _failover_both(hal, fault)
    for m in (m6, m4):
        assert m.moved and m.new_holder == "lb2", m.summary()
        # lb1 is gone: the client's requests fail until lb2 holds the VIP, then succeed
        assert m.failed_requests > 0 and m.outage_s is not None, m.summary()
    _assert_announced_by_na(hal, m6)
    tl, ctx = hal.timeline(), hal.measure_context
    t6, t4 = takeover_s(tl, ctx, m6), takeover_s(tl, ctx, m4)
    # Master_Down_Interval at advert_int 1 s, priority 100: 3.61 s, for both families
    assert t6 is not None and t4 is not None and 3.0 < t6 < 4.5 and 3.0 < t4 < 4.5, (t6, t4)
    hal.revert(fault)
    for vip in ("VI_6", "VI_1"):
        r = hal.recovery(vip, fault, to="lb1", timeout=30)
        assert r.moved and r.new_holder == "lb1", r.summary()


MIXED = [{"lb1": "halab", "lb2": "keepalived"}, {"lb1": "keepalived", "lb2": "halab"}]


@pytest.mark.parametrize("pair", MIXED, ids=["lb1=halab", "lb1=keepalived"])
def test_ipv6_group_of_both_engines_hands_over_both_ways(
    pair: dict[str, str], lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    """halab-vrrpd and keepalived in one IPv6 VRRP group: the backup of one engine hears the
    master of the other (no second master), takes the VIP over on SIGTERM, gives it back."""
    lab = lab_factory(TOPOLOGY, node_engines=pair)
    lb1 = lab.node("lb1")
    seen = wire(lab.client_node())
    v6 = [e for e in seen if e["kind"] == "advert" and e["vrid"] == VRID6]
    assert v6 and {(a["src"], a["priority"]) for a in v6} == {(str(lb1.link_local()), 150)}
    assert lab.vip_holders()["VI_6"] == ["lb1"]
    hal = hal_scenario(lab)
    fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")
    m = hal.failover("VI_6", fault, to="lb2")
    assert m.moved and m.new_holder == "lb2" and not m.split_brain, m.summary()
    _assert_announced_by_na(hal, m)
    hal.revert(fault)
    r = hal.recovery("VI_6", fault, to="lb1")
    # preempting, lb1 adds the VIP as lb2, on hearing it, removes it: a millisecond or two
    # with both, as in a group of one engine
    assert r.moved and r.new_holder == "lb1" and r.holders_after == {"lb1"}, r.summary()

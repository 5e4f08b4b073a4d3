"""Failover measures, the capture's wire figures and domain assertions, on synthetic
timelines with exact timestamps."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.layers.vrrp import VRRPv3

from pytest_halab.assertions import (
    assert_holder,
    assert_no_failed_requests,
    assert_single_holder,
    assert_split_brain,
)
from pytest_halab.bench import AdvertWatch
from pytest_halab.measures import (
    FailoverMeasure,
    MeasureContext,
    VipInfo,
    measure,
    phase_s,
    takeover_s,
)
from pytest_halab.timeline import Event, SplitBrain, Timeline

T0_US = 1_700_000_000_000_000
VIP1, VIP2 = "10.213.5.3", "10.213.5.4"
VIPS = {"VI_1": VIP1, "VI_2": VIP2}
NODE_ADDRS = {"lb1": "10.213.5.10", "lb2": "10.213.5.11"}
NODE_MACS = {"lb1": "02:42:0a:d5:05:0a", "lb2": "02:42:0a:d5:05:0b"}
VIP_INFO = {"VI_1": VipInfo(VIP1), "VI_2": VipInfo(VIP2)}
BARE = MeasureContext(vips=VIP_INFO)  # the VIPs' addresses only
ADDRS = MeasureContext(node_addrs=NODE_ADDRS, vips=VIP_INFO)
FULL = MeasureContext(node_addrs=NODE_ADDRS, node_macs=NODE_MACS, vips=VIP_INFO)


def with_vrid(vrid: int | None, base: MeasureContext = FULL) -> MeasureContext:
    """``base`` with VI_1's VRID known."""
    return MeasureContext(
        base.node_addrs,
        base.node_macs,
        {**base.vips, "VI_1": VipInfo(VIP1, vrid=vrid)},
        base.initial_holders,
    )


def at(ms: float) -> float:
    """The fault happens at at(0); times are written in milliseconds relative to it."""
    return (T0_US + round(ms * 1000)) / 1_000_000


def ev(ms: float, node: str, kind: str, /, **data: Any) -> Event:
    return Event(at(ms), node, kind, data)


def added(ms: float, node: str, addr: str = VIP1, **data: Any) -> Event:
    return ev(ms, node, "vip_added", addr=addr, dev="eth0", **data)


def removed(ms: float, node: str, addr: str = VIP1, **data: Any) -> Event:
    return ev(ms, node, "vip_removed", addr=addr, dev="eth0", **data)


def state(ms: float, node: str, new: str, instance: str = "VI_1", prev: str | None = None) -> Event:
    return ev(ms, node, "vrrp_state", instance=instance, state=new, prev=prev)


def fault(ms: float, phase: str, name: str = "kill_process", target: str = "lb1") -> Event:
    return ev(ms, "lab", "fault", name=name, phase=phase, target=target, detail="keepalived TERM")


def adverts(node: str, vrid: int, from_ms: float, to_ms: float, prio: int = 100) -> list[Event]:
    src = NODE_ADDRS[node]
    n = int((to_ms - from_ms) // 1000) + 1
    return [
        ev(from_ms + i * 1000, "client", "advert", src=src, vrid=vrid, priority=prio, version=2)
        for i in range(n)
        if from_ms + i * 1000 <= to_ms
    ]


def probes(
    from_ms: float, to_ms: float, *, vip: str = "VI_1", ok: bool = True, step: float = 10
) -> list[Event]:
    out = []
    t = from_ms
    while t <= to_ms:
        if ok:
            out.append(ev(t, "client", "probe", vip=vip, ok=True, ms=1.5, status=200, body="1111"))
        else:
            out.append(ev(t, "client", "probe", vip=vip, ok=False, ms=1000.0, status=None,
                          error="timed out"))  # fmt: skip
        t += step
    return out


def clean_failover() -> list[Event]:
    """SIGTERM keepalived on the master lb1 at 0: it resigns, lb2 takes VI_1; no request fails."""
    return [
        state(-10_000, "lb1", "MASTER"),
        added(-10_000, "lb1", vip="VI_1"),
        state(-9_000, "lb2", "BACKUP"),
        *adverts("lb1", 51, -10_000, -1, prio=150),
        fault(0, "inject"),
        fault(0.25, "effective"),
        removed(2.5, "lb1", vip="VI_1"),
        ev(2.6, "client", "advert", src=NODE_ADDRS["lb1"], vrid=51, priority=0, version=2),
        state(612.345, "lb2", "MASTER", prev="BACKUP"),
        ev(612.5, "client", "advert", src=NODE_ADDRS["lb2"], vrid=51, priority=100, version=2),
        added(612.789, "lb2", vip="VI_1"),
        ev(612.9, "client", "garp", addr=VIP1, mac=NODE_MACS["lb1"]),  # stale, from lb1's MAC
        ev(613.001, "client", "garp", addr=VIP1, mac=NODE_MACS["lb2"]),
        *probes(-1000, 3000),
    ]


# --- failover -----------------------------------------------------------------------------------


def test_a_clean_failover_measured_to_the_microsecond() -> None:
    tl = Timeline(clean_failover(), vips=VIPS)
    m = measure(tl, FULL, "VI_1", at=at(0))
    assert m.fault == "kill_process"
    assert m.old_holder == "lb1"
    assert m.new_holder == "lb2"
    assert m.detection_s == 0.612345
    assert m.detection_source == "vrrp_state"
    assert m.vip_move_s == 0.612789
    assert m.garp_s == 0.613001
    assert m.garp_delta_s == 0.000212
    assert m.holders_after == {"lb2"}
    assert m.split_brain == ()
    assert m.moved and m.recovered
    assert m.window_end == at(3000)
    assert m.summary() == (
        "VI_1 failover after kill_process on lb1: lb1 -> lb2, detection 612.3 ms, "
        "VIP move 612.8 ms, "
        "outage 0.0 ms (0 of 301 requests failed), holders after: lb2"
    )


def test_no_failed_probe_means_no_outage() -> None:
    tl = Timeline(clean_failover(), vips=VIPS)
    m = measure(tl, BARE, "VI_1", at=at(0))
    assert (m.outage_s, m.outage_from_fault_s, m.failed_requests) == (0.0, 0.0, 0)
    assert m.probes == 301  # 0, 10, ..., 3000 ms
    assert m.last_failure_ts is None and m.first_failure_ts is None
    assert assert_no_failed_requests(tl, "VI_1", at(0), at(3000)) == 301


def test_no_probes_at_all_means_no_outage_figure() -> None:
    events = [e for e in clean_failover() if e.kind != "probe"]
    m = measure(Timeline(events), BARE, "VI_1", at=at(0))
    assert (m.outage_s, m.outage_from_fault_s, m.probes, m.failed_requests) == (None, None, 0, 0)


def test_the_garp_without_known_macs_is_the_first_for_the_address() -> None:
    m = measure(Timeline(clean_failover()), BARE, "VI_1", at=at(0))
    assert m.garp_s == 0.6129


def failing_probes() -> list[Event]:
    """nginx killed on lb1 at 0: requests fail until the health check moves VI_1 to lb2."""
    return [
        added(-5000, "lb1", vip="VI_1"),
        fault(0, "inject", name="kill_nginx"),
        *probes(-500, -5),
        *probes(5, 2995, ok=False),
        state(2900, "lb1", "BACKUP", prev="MASTER"),
        removed(2900.5, "lb1"),
        state(2950.123, "lb2", "MASTER", prev="BACKUP"),
        added(2950.456, "lb2"),
        *probes(3005.25, 5000),
    ]


def test_a_failover_with_failing_then_recovering_requests() -> None:
    tl = Timeline(failing_probes(), vips=VIPS)
    m = measure(tl, BARE, "VI_1", at=at(0))
    assert m.fault == "kill_nginx"
    assert (m.old_holder, m.new_holder) == ("lb1", "lb2")
    assert m.detection_s == 2.950123
    assert m.vip_move_s == 2.950456
    assert m.garp_s is None  # no capture in this timeline
    assert m.failed_requests == 300
    assert m.first_failure_ts == at(5)
    assert m.last_failure_ts == at(2995)
    assert m.recovery_ts == at(3005.25)
    assert m.outage_s == 3.00025
    assert m.outage_from_fault_s == 3.00525
    assert m.probes == 300 + 200  # 5..2995 failing, 3005.25..4995.25 fine
    assert m.recovered


def test_requests_still_failing_at_the_end_give_no_outage_figure() -> None:
    events = [e for e in failing_probes() if e.ts < at(3000)]
    m = measure(Timeline(events), BARE, "VI_1", at=at(0))
    assert m.failed_requests == 300
    assert m.outage_s is None and m.outage_from_fault_s is None
    assert not m.recovered


def test_assert_no_failed_requests_shows_the_timeline() -> None:
    tl = Timeline(failing_probes(), vips=VIPS)
    with pytest.raises(AssertionError) as info:
        assert_no_failed_requests(tl, "VI_1")
    text = str(info.value)
    assert "300 of 550 requests to VI_1 failed" in text
    assert "timed out" in text
    assert "timeline around" in text and "kill_nginx inject on lb1" in text
    assert_no_failed_requests(tl, "VI_1", None, at(0))  # before the fault all was well


# --- split brain --------------------------------------------------------------------------------


def split_brain() -> list[Event]:
    """VRRP firewalled on the backup lb2 at 1 s: it becomes master too until the revert."""
    return [
        added(-5000, "lb1"),
        fault(1000, "inject", name="firewall_vrrp", target="lb2"),
        fault(1000.4, "effective", name="firewall_vrrp", target="lb2"),
        state(4600.001, "lb2", "MASTER", prev="BACKUP"),
        added(4600.002, "lb2"),
        fault(10_000, "revert", name="firewall_vrrp", target="lb2"),
        state(10_800, "lb2", "BACKUP", prev="MASTER"),
        removed(10_800.5, "lb2"),
        *probes(0, 12_000, step=50),
    ]


def test_split_brain_start_and_end_are_reported() -> None:
    tl = Timeline(split_brain(), vips=VIPS)
    m = measure(tl, BARE, "VI_1", at=at(1000))
    assert m.window_end == at(10_000)  # up to the revert
    assert (m.old_holder, m.new_holder) == ("lb1", "lb2")
    assert m.detection_s == 3.600001
    assert m.vip_move_s == 3.600002
    assert m.holders_after == {"lb1", "lb2"}
    assert m.split_brain == (
        SplitBrain("VI_1", at(4600.002), at(10_800.5), frozenset({"lb1", "lb2"})),
    )
    assert m.split_brain[0].duration == 6.200498

    sb = assert_split_brain(tl, "VI_1", at(1000), at(10_000), holders={"lb1", "lb2"})
    assert sb == m.split_brain[0]
    with pytest.raises(AssertionError, match=r"held by \{lb1, lb2\} from \+4600\.002 ms"):
        assert_single_holder(tl, "VI_1", at(0), at(12_000))
    assert assert_single_holder(tl, "VI_1", at(11_000), at(12_000)) == "lb1"


def test_assert_split_brain_fails_when_there_was_none() -> None:
    tl = Timeline(clean_failover(), vips=VIPS)
    with pytest.raises(AssertionError, match="VI_1: no split brain") as info:
        assert_split_brain(tl, "VI_1", at(0), at(3000))
    assert "vrrp_state" in str(info.value)
    sbtl = Timeline(split_brain(), vips=VIPS)
    with pytest.raises(
        AssertionError,
        match=r"no split brain including \{lb1, lb3\}; split brains seen: \{lb1, lb2\} at \+3600",
    ):
        assert_split_brain(sbtl, "VI_1", holders={"lb1", "lb3"})


# --- the VIP never moves ------------------------------------------------------------------------


def never_moves() -> list[Event]:
    return [
        state(-5000, "lb1", "MASTER"),
        added(-5000, "lb1", vip="VI_1"),
        fault(0, "inject"),
        fault(0.3, "effective"),
        *probes(-100, 3000),
    ]


def test_a_vip_that_never_moves_has_no_figures_and_the_assertion_shows_the_timeline() -> None:
    tl = Timeline(never_moves(), vips=VIPS)
    m = measure(tl, ADDRS, "VI_1", at=at(0))
    assert m.old_holder == "lb1"
    assert m.new_holder is None
    assert (m.detection_s, m.vip_move_s, m.garp_s, m.detection_source) == (None,) * 4
    assert m.holders_after == {"lb1"}
    assert not m.moved

    with pytest.raises(AssertionError) as info:
        assert_holder(tl, "VI_1", "lb2", at(2000))
    text = str(info.value)
    assert "held by {lb1}, expected only lb2" in text
    assert "timeline around" in text
    assert "kill_process inject on lb1: keepalived TERM" in text
    assert "-2000.000" in text  # the fault, 2 s before the instant asked about
    assert "VI_1 ok x" in text
    assert_holder(tl, "VI_1", "lb1", at(2000))
    assert assert_single_holder(tl, "VI_1", at(0), at(3000)) == "lb1"


def dead_service_stays_put() -> list[Event]:
    """nginx killed on lb1 at 0 and no script tracks it: lb1 keeps VI_1 and every request
    fails from +5 ms on. lb2 logs a MASTER state it leaves at once without adding the VIP,
    and lb1 refreshes its gratuitous ARP: neither is a failover."""
    return [
        state(-5000, "lb1", "MASTER"),
        added(-5000, "lb1", vip="VI_1"),
        *adverts("lb1", 51, -5000, 4000, prio=150),
        fault(0, "inject"),
        fault(0.2, "effective"),
        *probes(-500, -5),
        *probes(5, 3995, ok=False),
        state(1200, "lb2", "MASTER", prev="BACKUP"),
        state(1200.5, "lb2", "BACKUP", prev="MASTER"),
        ev(2000, "client", "garp", addr=VIP1, mac=NODE_MACS["lb1"]),
    ]


def test_a_vip_that_stays_put_says_so_with_what_the_client_saw() -> None:
    tl = Timeline(dead_service_stays_put(), vips=VIPS)
    m = measure(tl, FULL, "VI_1", at=at(0), window_end=at(4000))
    assert not m.moved and m.stayed_put
    assert (m.old_holder, m.new_holder, m.fault_target) == ("lb1", None, "lb1")
    assert m.holders_before == m.holders_after == {"lb1"} and m.holder_changes == 0
    assert (m.detection_s, m.vip_move_s, m.garp_s, m.detection_source) == (None,) * 4
    assert (m.failed_requests, m.probes) == (400, 400)  # +5, +15, ..., +3995 ms: all failed
    assert m.outage_s is None and not m.recovered  # no outage that ended...
    assert m.ongoing_outage_s == 3.995  # ...but one going on: first failure -> window end
    assert m.duration_s == 4.0
    outcome = (
        "outage at least 3995.0 ms (requests still failing at the end), 400 of 400 requests failed"
    )
    assert m.summary() == (
        "VI_1 failover after kill_process on lb1: did not move, held by lb1 throughout 4.0 s; "
        + outcome
    )
    assert m.diagnosis("lb2") == (
        "VI_1 did not move to lb2: held by lb1 throughout 4.0 s after kill_process on lb1; "
        + outcome
    )


def test_no_detection_nor_garp_for_the_expected_holder_when_nothing_moved() -> None:
    """A test's `to` names lb2: lb2's passing MASTER state and lb1's GARP (MACs unknown, so
    any GARP for the address would do) must not read as a detection and a GARP."""
    tl = Timeline(dead_service_stays_put(), vips=VIPS)
    m = measure(tl, BARE, "VI_1", at=at(0), window_end=at(4000), new_holder="lb2")
    assert m.new_holder == "lb2" and not m.moved
    assert (m.detection_s, m.vip_move_s, m.garp_s, m.detection_source) == (None,) * 4
    assert m.garp_delta_s is None


def test_a_vip_dropped_by_its_holder_did_not_stay_put() -> None:
    events = [*dead_service_stays_put(), removed(1500, "lb1")]
    m = measure(Timeline(events, vips=VIPS), FULL, "VI_1", at=at(0), window_end=at(4000))
    assert not m.moved and not m.stayed_put
    assert m.holders_before == {"lb1"} and m.holders_after == frozenset()
    assert m.holder_changes == 1
    assert m.holding() == "held by lb1 before, by nobody at the end (1 change in 4.0 s)"


def test_a_stay_put_measure_round_trips_with_its_holders() -> None:
    tl = Timeline(dead_service_stays_put(), vips=VIPS)
    m = measure(tl, FULL, "VI_1", at=at(0), window_end=at(4000))
    d = m.as_dict()
    assert d["moved"] is False and d["recovered"] is False
    assert d["holders_before"] == ["lb1"] and d["holder_changes"] == 0
    assert d["ongoing_outage_s"] == 3.995 and d["fault_target"] == "lb1"
    assert FailoverMeasure.from_dict(d) == m


def test_diagnosis_of_a_vip_that_went_elsewhere_or_not_alone() -> None:
    tl = Timeline(split_brain(), vips=VIPS)
    m = measure(tl, BARE, "VI_1", at=at(1000))
    assert m.moved and m.holders_after == {"lb1", "lb2"}
    went = "it moved to lb2 (VIP move 3600.0 ms), holders at the end: lb1 and lb2"
    tail = " after firewall_vrrp on lb2; no outage, 0 of 181 requests failed"
    assert m.diagnosis("lb2") == f"VI_1 is not held by lb2 alone: {went}{tail}"
    assert m.diagnosis("lb3") == f"VI_1 did not move to lb3: {went}{tail}"


def test_the_client_outcome_of_an_outage_that_ended() -> None:
    m = measure(Timeline(failing_probes(), vips=VIPS), BARE, "VI_1", at=at(0))
    assert m.ongoing_outage_s is None
    assert m.client_outcome() == "outage 3000.2 ms, 300 of 500 requests failed"


def test_assert_single_holder_and_the_gap_of_a_failover() -> None:
    tl = Timeline(clean_failover(), vips=VIPS)
    assert assert_single_holder(tl, "VI_1", at(-9000), at(-1)) == "lb1"
    with pytest.raises(AssertionError, match=r"held by nobody from \+2\.500 ms to \+612\.789 ms"):
        assert_single_holder(tl, "VI_1", at(0), at(3000))
    assert assert_single_holder(tl, "VI_1", at(0), at(3000), allow_none=True) == "lb2"


# --- recovery -----------------------------------------------------------------------------------


def with_recovery(preempt: bool) -> list[Event]:
    events = [*clean_failover(), fault(20_000, "revert"), state(20_100, "lb1", "BACKUP")]
    events += probes(3010, 30_000, step=100)
    if preempt:
        events += [
            state(23_000.5, "lb1", "MASTER", prev="BACKUP"),
            added(23_000.8, "lb1"),
            state(23_001, "lb2", "BACKUP", prev="MASTER"),
            removed(23_001.2, "lb2"),
            ev(23_005, "client", "probe", vip="VI_1", ok=False, error="connection reset"),
            ev(23_015, "client", "probe", vip="VI_1", ok=True, status=200),
        ]
    return events


def test_recovery_under_preemption_moves_the_vip_back() -> None:
    tl = Timeline(with_recovery(preempt=True), vips=VIPS)
    failover = measure(tl, BARE, "VI_1", at=at(0))
    assert failover.window_end == at(20_000)
    assert failover.failed_requests == 0  # the failure after the revert is not the failover's

    m = measure(tl, BARE, "VI_1", at=at(20_000), phase="recovery")
    assert m.phase == "recovery"
    assert m.fault == "kill_process"
    assert (m.old_holder, m.new_holder) == ("lb2", "lb1")
    assert m.detection_s == 3.0005
    assert m.vip_move_s == 3.0008
    assert m.failed_requests == 1
    assert m.outage_s == 0.005  # the failed request at +3005 ms, the next one (+3010 ms) fine
    assert m.outage_from_fault_s == 3.01
    assert m.holders_after == {"lb1"}
    # lb1 added the VIP 0.4 ms before lb2 let it go: a brief split brain, reported
    assert m.split_brain == (
        SplitBrain("VI_1", at(23_000.8), at(23_001.2), frozenset({"lb1", "lb2"})),
    )
    assert m.split_brain[0].duration == 0.0004


def test_recovery_under_nopreempt_leaves_the_vip_where_it_is() -> None:
    tl = Timeline(with_recovery(preempt=False), vips=VIPS)
    m = measure(tl, BARE, "VI_1", at=at(20_000), phase="recovery")
    assert m.old_holder == "lb2"
    assert m.new_holder is None
    assert m.vip_move_s is None
    assert m.holders_after == {"lb2"}
    assert m.failed_requests == 0
    assert_holder(tl, "VI_1", "lb2", at(30_000))


# --- two VIPs, each on its own master ------------------------------------------------------------


def dual_master() -> list[Event]:
    """lb1 masters VI_1 (VRID 51), lb2 VI_2 (VRID 52); no state events: detection by adverts.
    lb1's daemon stops at 0; VI_1 moves to lb2, VI_2 stays; then lb1 comes back at 10 s."""
    return [
        added(-5000, "lb1", addr=VIP1),  # no VIP names: mapped by address
        added(-5000, "lb2", addr=VIP2),
        *adverts("lb1", 51, -5000, -500, prio=150),
        *adverts("lb2", 52, -5000, 15_000, prio=150),
        fault(0, "inject"),
        removed(1.5, "lb1", addr=VIP1),
        *adverts("lb2", 51, 650.5, 9650.5),
        added(650.9, "lb2", addr=VIP1),
        fault(10_000, "revert"),
        *adverts("lb1", 51, 10_700.25, 15_000, prio=150),
        added(10_700.5, "lb1", addr=VIP1),
        removed(10_701, "lb2", addr=VIP1),
        *probes(-200, 15_000, vip="VI_1", step=20),
        *probes(-190, 15_000, vip="VI_2", step=20),
    ]


def test_two_vips_fail_over_independently() -> None:
    tl = Timeline(dual_master(), vips=VIPS)
    vi1 = measure(tl, ADDRS, "VI_1", at=at(0))
    assert (vi1.old_holder, vi1.new_holder) == ("lb1", "lb2")
    # lb2 was advertising VRID 52 all along: the first advert for VRID 51 is the detection
    assert vi1.detection_s == 0.6505
    assert vi1.detection_source == "advert"
    assert vi1.vip_move_s == 0.6509
    assert vi1.holders_after == {"lb2"}

    vi2 = measure(tl, ADDRS, "VI_2", at=at(0))
    assert (vi2.old_holder, vi2.new_holder) == ("lb2", None)
    assert vi2.detection_s is None and vi2.vip_move_s is None
    assert vi2.holders_after == {"lb2"} and vi2.failed_requests == 0

    back = measure(tl, with_vrid(51, ADDRS), "VI_1", at=at(10_000), phase="recovery")
    assert (back.old_holder, back.new_holder) == ("lb2", "lb1")
    assert back.detection_s == 0.70025 and back.vip_move_s == 0.7005
    assert back.split_brain[0].duration == 0.0005
    assert_holder(tl, "VI_2", "lb2", at(14_000))
    assert assert_single_holder(tl, "VI_2", at(-5000), at(15_000)) == "lb2"


def test_explicit_holders_and_initial_state() -> None:
    events = [e for e in clean_failover() if not (e.kind == "vip_added" and e.node == "lb1")]
    tl = Timeline(events)
    # without the initial vip_added, lb1's holding is only known if we say so
    m = measure(tl, BARE, "VI_1", at=at(0), old_holder="lb1")
    assert m.old_holder == "lb1" and m.new_holder == "lb2" and m.split_brain == ()
    m = measure(tl, BARE, "VI_1", at=at(0), new_holder="lb3", fault="custom")
    assert m.new_holder == "lb3" and m.vip_move_s is None and m.fault == "custom"


def test_as_dict_round_trips() -> None:
    tl = Timeline(split_brain(), vips=VIPS)
    m = measure(tl, BARE, "VI_1", at=at(1000))
    d = m.as_dict()
    assert d["split_brain"][0]["holders"] == ["lb1", "lb2"]
    assert d["holders_after"] == ["lb1", "lb2"]
    assert d["vip_move_s"] == 3.600002
    assert FailoverMeasure.from_dict(d) == m


# --- benchmarks ---------------------------------------------------------------------------------


def _frame(src: str, proto: int = 112, vrid: int = 51, ethertype: int = 0x0800) -> bytes:
    """A VRRPv3 advert as the bridge carries it, built by scapy (checksums included)."""
    ip = IP(src=src, dst="224.0.0.18", ttl=255, proto=proto)
    vrrp = VRRPv3(vrid=vrid, priority=100, ipcount=1, addrlist=[VIP1], adv=10)
    return bytes(
        Ether(dst="01:00:5e:00:00:12", src="02:02:02:02:02:02", type=ethertype) / ip / vrrp
    )


def test_advert_watch_recognises_the_masters_adverts_only() -> None:
    src = NODE_ADDRS["lb1"]
    assert AdvertWatch.matches(_frame(src), src, 51)
    assert AdvertWatch.matches(_frame(src), src, None)
    assert not AdvertWatch.matches(_frame(src, vrid=52), src, 51)
    assert not AdvertWatch.matches(_frame(NODE_ADDRS["lb2"]), src, 51)
    assert not AdvertWatch.matches(_frame(src, proto=6), src, 51)
    assert not AdvertWatch.matches(_frame(src, ethertype=0x86DD), src, 51)
    assert not AdvertWatch.matches(_frame(src)[:30], src, 51)  # truncated
    assert not AdvertWatch.matches(b"", src, 51)


def test_bench_phase_and_takeover_from_the_capture() -> None:
    """Phase: the old master's last advert -> the fault; takeover: that advert -> the new
    master's first (priority > 0) advert."""
    events = [
        added(-5000, "lb1", vip="VI_1"),
        *adverts("lb1", 51, -3000, -1, prio=150),  # last one at -1000 ms
        fault(0, "inject", name="crash_node"),
        ev(2612.5, "client", "advert", src=NODE_ADDRS["lb2"], vrid=51, priority=100, version=2),
        added(2612.8, "lb2", vip="VI_1"),
        *probes(-1000, 4000),
    ]
    tl = Timeline(events, vips=VIPS)
    m = measure(tl, FULL, "VI_1", at=at(0))
    assert m.old_holder == "lb1" and m.new_holder == "lb2"
    assert phase_s(tl, with_vrid(51), m) == 1.0
    assert takeover_s(tl, with_vrid(51), m) == 3.6125
    assert phase_s(tl, FULL, m) is None and takeover_s(tl, FULL, m) is None  # VRID unknown
    assert phase_s(tl, with_vrid(52), m) is None  # no advert of that router
    assert takeover_s(tl, with_vrid(51, BARE), m) is None  # nodes' addresses unknown


# --- the measure context -------------------------------------------------------------------------


def test_initial_holders_from_the_context() -> None:
    """Without lb1's vip_added in the timeline, the context's initial holders say who held
    VI_1 when observation began (the scenario reads them from the kernel then)."""
    events = [e for e in clean_failover() if not (e.kind == "vip_added" and e.node == "lb1")]
    tl = Timeline(events)
    assert measure(tl, BARE, "VI_1", at=at(0)).old_holder is None
    ctx = MeasureContext(vips=VIP_INFO, initial_holders={"VI_1": frozenset({"lb1"})})
    m = measure(tl, ctx, "VI_1", at=at(0))
    assert (m.old_holder, m.new_holder) == ("lb1", "lb2")
    assert m.split_brain == () and m.holders_after == {"lb2"}
    # the context's initial holders win over an old holder given: lb3 is named, lb1 held it
    m = measure(tl, ctx, "VI_1", at=at(0), old_holder="lb3")
    assert m.old_holder == "lb3" and m.split_brain == ()
    assert measure(tl, BARE, "VI_1", at=at(0), old_holder="lb3").split_brain != ()


def test_the_vips_instances_tie_state_changes_to_it() -> None:
    tl = Timeline(clean_failover(), vips=VIPS)
    other = MeasureContext(vips={"VI_1": VipInfo(VIP1, vrid=51, instances=("VI_other",))})
    m = measure(tl, MeasureContext(node_addrs=NODE_ADDRS, vips=other.vips), "VI_1", at=at(0))
    assert m.detection_source == "advert" and m.detection_s == 0.6125  # not VI_1's state event
    named = MeasureContext(vips={"VI_1": VipInfo(VIP1, instances=("VI_1",))})
    assert measure(tl, named, "VI_1", at=at(0)).detection_source == "vrrp_state"


def test_the_vips_address_comes_from_the_context_or_the_timeline() -> None:
    events = clean_failover()
    no_names = Timeline(events)  # events name their VIP; garps only carry the address
    assert measure(no_names, BARE, "VI_1", at=at(0)).garp_s == 0.6129
    assert measure(no_names, MeasureContext(), "VI_1", at=at(0)).garp_s is None
    named = Timeline(events, vips={"VI_1": VIP1 + "/24"})
    assert measure(named, MeasureContext(), "VI_1", at=at(0)).garp_s == 0.6129


def test_the_context_is_a_read_only_copy() -> None:
    addrs = dict(NODE_ADDRS)
    ctx = MeasureContext(node_addrs=addrs, vips=VIP_INFO)
    addrs["lb3"] = "10.213.5.12"
    assert "lb3" not in ctx.node_addrs
    with pytest.raises(TypeError):
        ctx.node_addrs["lb3"] = "10.213.5.12"  # type: ignore[index]
    assert ctx.vip("VI_9") == VipInfo()
    assert ctx == MeasureContext(node_addrs=NODE_ADDRS, vips=VIP_INFO)


def test_a_phase_is_failover_or_recovery() -> None:
    with pytest.raises(ValueError, match="phase"):
        measure(Timeline(clean_failover()), BARE, "VI_1", at=at(0), phase="revert")  # type: ignore[arg-type]


def test_a_timeout_or_two_may_be_tolerated_but_never_a_refusal() -> None:
    """tolerate_timeouts: a request now and then outlives the probe's timeout on a busy
    host; a refused or reset request, or more timeouts than allowed, still fails."""
    one = [*probes(0, 100), *probes(105, 105, ok=False), *probes(110, 200)]
    tl = Timeline(one, vips=VIPS)
    assert assert_no_failed_requests(tl, "VI_1", tolerate_timeouts=1) == 22
    with pytest.raises(AssertionError, match="1 of 22 requests to VI_1 failed"):
        assert_no_failed_requests(tl, "VI_1")
    refused = ev(105, "client", "probe", vip="VI_1", ok=False, error="ConnectionRefusedError")
    with pytest.raises(AssertionError, match="ConnectionRefusedError"):
        assert_no_failed_requests(Timeline([*one, refused], vips=VIPS), "VI_1", tolerate_timeouts=2)
    two = Timeline([*one, *probes(150, 150, ok=False)], vips=VIPS)
    with pytest.raises(AssertionError, match="2 of 23 requests"):
        assert_no_failed_requests(two, "VI_1", tolerate_timeouts=1)

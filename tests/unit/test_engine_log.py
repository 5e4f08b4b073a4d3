"""halab-vrrpd's event log as the timeline reads it: microsecond stamps, state changes as
``vrrp_state`` events (the shape keepalived's notify FIFO lines take too)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_halab.engines.halab import engine_log_event
from pytest_halab.measures import measure_failover
from pytest_halab.timeline import Event, Timeline


def test_a_state_change() -> None:
    ev = engine_log_event(
        {
            "ts": 1_795_325_903_906_294,
            "event": "state_change",
            "instance": "VI_1",
            "old": "BACKUP",
            "new": "MASTER",
            "reason": "master down timer",
            "priority": 100,
        },
        "lb2",
    )
    assert ev is not None
    assert (ev.ts, ev.node, ev.kind) == (1_795_325_903.906294, "lb2", "vrrp_state")
    assert ev.data == {
        "instance": "VI_1",
        "state": "MASTER",
        "prev": "BACKUP",
        "reason": "master down timer",
        "priority": 100,
        "engine": "halab",
    }


def test_vrrpd_log_records() -> None:
    group = engine_log_event(
        {
            "ts": 2_000_000,
            "event": "group_state_change",
            "instance": None,
            "group": "G1",
            "new": "MASTER",
        },
        "lb1",
    )
    assert group is not None
    assert (group.ts, group.kind, group.data) == (
        2.0,
        "vrrp_group_state",
        {"group": "G1", "state": "MASTER", "engine": "halab"},
    )
    # the daemon's word for a VIP it added is not the kernel's: it stays an engine event
    vip = engine_log_event(
        {"ts": 3_000_001, "event": "vip_added", "instance": "VI_1", "addr": "10.0.0.3"}, "lb1"
    )
    assert vip is not None
    assert (vip.ts, vip.kind, vip.data["event"], vip.data["addr"]) == (
        3.000001,
        "engine",
        "vip_added",
        "10.0.0.3",
    )


@pytest.mark.parametrize(
    "record",
    [
        {"event": "state_change", "instance": "VI_1", "new": "MASTER"},  # no ts
        {"ts": 1.5, "event": "state_change", "instance": "VI_1", "new": "MASTER"},  # not µs
        {"ts": True, "event": "state_change", "instance": "VI_1", "new": "MASTER"},
        {"ts": 1, "instance": "VI_1", "new": "MASTER"},  # no event name
        {"ts": 1, "event": "state_change", "new": "MASTER"},  # no instance
        {"ts": 1, "event": "state_change", "instance": "VI_1"},  # no new state
    ],
)
def test_unusable_vrrpd_records(record: dict[str, Any]) -> None:
    assert engine_log_event(record, "lb1") is None


def test_vrrpd_state_events_drive_detection() -> None:
    t0 = 1_795_325_900.0
    tl = Timeline(
        [
            Event(t0 - 10, "lb1", "vip_added", {"addr": "10.0.0.3", "dev": "eth0"}),
            Event(t0, "lab", "fault", {"name": "crash_node", "phase": "inject", "target": "lb1"}),
            Event(t0 + 3.6, "client", "advert", {"src": "10.0.0.11", "vrid": 51, "priority": 100}),
        ],
        vips={"VI_1": "10.0.0.3"},
    )
    for ms, name, extra in (
        (3_601, "state_change", {"instance": "VI_1", "old": "BACKUP", "new": "MASTER"}),
        (3_602, "vip_added", {"instance": "VI_1", "addr": "10.0.0.3"}),  # the daemon's word
    ):
        ev = engine_log_event({"ts": round((t0 * 1000 + ms) * 1000), "event": name, **extra}, "lb2")
        assert ev is not None
        tl.add(ev)
    tl.add(Event(t0 + 3.6025, "lb2", "vip_added", {"addr": "10.0.0.3", "dev": "eth0"}))
    m = measure_failover(tl, "VI_1", "10.0.0.3", t0, node_addrs={"lb2": "10.0.0.11"}, vrid=51)
    assert m.detection_source == "vrrp_state" and m.detection_s == 3.601
    assert m.vip_move_s == 3.6025  # netlink's, not the daemon's own vip_added

"""The timeline: events from JSON lines, ordering, filters, holders over time, split brains."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pytest_halab.timeline import (
    Event,
    HolderInterval,
    SplitBrain,
    Timeline,
    describe,
    elapsed,
    holders_at,
    holders_over_time,
    split_brains,
)

T0_US = 1_700_000_000_000_000  # an epoch time, in microseconds
T0 = T0_US / 1_000_000
VIPS = {"VI_1": "10.213.5.3", "VI_2": "10.213.5.4"}


def at(ms: float) -> float:
    """T0 + ms, through integer microseconds (how the observers write it)."""
    return (T0_US + round(ms * 1000)) / 1_000_000


def ev(ms: float, node: str, kind: str, /, **data: Any) -> Event:
    return Event(at(ms), node, kind, data)


def added(ms: float, node: str, addr: str = "10.213.5.3", **data: Any) -> Event:
    return ev(ms, node, "vip_added", addr=addr, dev="eth0", **data)


def removed(ms: float, node: str, addr: str = "10.213.5.3", **data: Any) -> Event:
    return ev(ms, node, "vip_removed", addr=addr, dev="eth0", **data)


# --- events from JSON -------------------------------------------------------------------------


def test_event_from_json_with_ts_us_and_event_key_puts_unknown_keys_in_data() -> None:
    line = json.dumps(
        {"ts_us": T0_US + 1_234_567, "event": "vrrp_state", "instance": "VI_1", "state": "MASTER"}
    )
    e = Event.from_json(line, node="lb2")
    assert e.node == "lb2"
    assert e.kind == "vrrp_state"
    assert e.ts_us == T0_US + 1_234_567
    assert elapsed(T0, e.ts) == 1.234567
    assert e.data == {"instance": "VI_1", "state": "MASTER"}


def test_event_from_json_with_ts_seconds_kind_and_node_in_line() -> None:
    e = Event.from_json('{"ts": 1700000000.5, "kind": "note", "node": "lab", "text": "hi"}')
    assert (e.ts, e.node, e.kind, e.data) == (1700000000.5, "lab", "note", {"text": "hi"})


def test_node_given_wins_and_the_reported_one_is_kept() -> None:
    e = Event.from_json('{"ts": 1.0, "kind": "note", "node": "a1b2c3"}', node="lb1")
    assert e.node == "lb1"
    assert e.data == {"reported_node": "a1b2c3"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"kind": "note", "node": "x"}', "ts"),
        ('{"ts": "soon", "kind": "note", "node": "x"}', "ts must be a number"),
        ('{"ts_us": 1.5, "kind": "note", "node": "x"}', "ts_us must be an integer"),
        ('{"ts": 1.0, "node": "x"}', "kind"),
        ('{"ts": 1.0, "kind": "note"}', "node"),
        ("[1, 2]", "JSON object"),
        ('{"ts": 1.0, "kind": "no', "not JSON"),
    ],
)
def test_bad_event_lines_are_refused_saying_why(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Event.from_json(line)


def test_events_are_hashable_despite_their_data() -> None:
    e = ev(1, "lb1", "probe", ok=True)
    assert e in {e}


# --- ordering and filters ---------------------------------------------------------------------


def test_unordered_sources_merge_into_time_order_with_stable_ties() -> None:
    lb1 = [removed(10, "lb1"), ev(0, "lb1", "vrrp_state", instance="VI_1", state="FAULT")]
    lb2 = [added(30, "lb2"), ev(10, "lb2", "vrrp_state", instance="VI_1", state="MASTER")]
    client = [ev(20, "client", "probe", vip="VI_1", ok=False), ev(5, "client", "probe", ok=True)]
    tl = Timeline.merge(lb1, lb2, client)
    assert [e.ts for e in tl] == sorted(e.ts for e in [*lb1, *lb2, *client])
    # equal timestamps: lb1's event (first source) stays before lb2's
    tied = [e for e in tl if e.ts == at(10)]
    assert [e.node for e in tied] == ["lb1", "lb2"]


def test_add_inserts_in_place_after_equal_times() -> None:
    tl = Timeline([ev(0, "a", "note"), ev(10, "b", "note")])
    tl.add(ev(10, "c", "note"))
    tl.add(ev(5, "d", "note"))
    tl.extend([ev(-1, "e", "note"), ev(10, "f", "note")])
    assert [e.node for e in tl] == ["e", "a", "d", "b", "c", "f"]


def test_shuffled_events_come_out_in_order() -> None:
    events = [ev(i * 7 % 100, f"n{i}", "note") for i in range(100)]
    random.Random(4).shuffle(events)
    tl = Timeline(events)
    ts = [e.ts for e in tl]
    assert ts == sorted(ts)
    assert len(tl) == 100


def test_between_of_kind_and_for_vip() -> None:
    tl = Timeline(
        [
            ev(0, "lab", "fault", name="kill_process", phase="inject", target="lb1"),
            removed(5, "lb1"),
            added(10, "lb2", addr="10.213.5.3/32"),  # no VIP name: mapped by address
            added(11, "lb2", addr="10.213.5.4"),
            ev(12, "lb2", "vrrp_state", instance="VI_1", state="MASTER"),
            ev(13, "lb2", "vrrp_state", instance="VI_2", state="MASTER"),
            ev(14, "client", "garp", addr="10.213.5.3", mac="02:42:0a:d5:05:0b"),
            ev(15, "client", "probe", vip="VI_1", ok=True),
            ev(16, "client", "probe", vip="VI_2", ok=True),
            ev(17, "client", "advert", src="10.213.5.11", vrid=51, priority=100, version=2),
        ],
        vips=VIPS,
    )
    assert [e.kind for e in tl.between(at(5), at(10))] == ["vip_removed", "vip_added"]
    assert len(tl.between(None, at(0))) == 1
    assert len(tl.of_kind("probe", "garp")) == 3
    vi1 = tl.for_vip("VI_1")
    assert [(e.kind, e.node) for e in vi1] == [
        ("fault", "lab"),
        ("vip_removed", "lb1"),
        ("vip_added", "lb2"),
        ("vrrp_state", "lb2"),
        ("garp", "client"),
        ("probe", "client"),
    ]
    assert len(tl.for_vip("VI_1", vrid=51).of_kind("advert")) == 1
    assert tl.vip_of(tl[2]) == "VI_1"
    assert tl.first(lambda e: e.node == "lb2") is tl[2]
    assert tl.last(lambda e: e.node == "lb2", before=at(12.5)) is tl[4]


def test_json_round_trip_keeps_every_event_exactly() -> None:
    events = [
        ev(0.001, "lab", "fault", name="kill_process", phase="inject", target="lb1", detail="x"),
        ev(1234.567, "lb2", "vrrp_state", instance="VI_1", state="MASTER", prev="BACKUP"),
        ev(5, "client", "probe", vip="VI_1", ok=False, ms=1000.0, status=None, error="timeout"),
        ev(5, "client", "note", nested={"a": [1, 2]}, kind_of="x"),
    ]
    tl = Timeline(events, vips=VIPS)
    text = tl.to_json()
    assert text.count("\n") == 4
    back = Timeline.from_json(text, vips=VIPS)
    assert back.events == tl.events
    assert [e.ts_us for e in back] == [e.ts_us for e in tl]
    # a JSON array reads too
    again = Timeline.from_json(json.dumps(tl.to_dicts()))
    assert again.events == tl.events


def test_from_json_names_the_bad_line_or_skips_it_when_not_strict() -> None:
    text = '{"ts": 1.0, "kind": "note"}\n\n{"ts": 2.0, "kind": "no'
    with pytest.raises(ValueError, match="line 3"):
        Timeline.from_json(text, node="lb1")
    assert len(Timeline.from_json(text, node="lb1", strict=False)) == 1


# --- for humans -------------------------------------------------------------------------------


def test_format_around_shows_relative_ms_nodes_kinds_and_a_marker() -> None:
    tl = Timeline(
        [
            ev(-3000, "lb1", "note", text="too early"),
            ev(0, "lab", "fault", name="kill_process", phase="inject", target="lb1", detail="TERM"),
            ev(1234.567, "lb2", "vrrp_state", instance="VI_1", state="MASTER", prev="BACKUP"),
            added(1240.123, "lb2", vip="VI_1"),
        ]
    )
    text = tl.format_around(at(1000))
    assert "too early" not in text
    assert "3 events" in text
    lines = text.splitlines()
    fault = next(line for line in lines if "kill_process" in line)
    assert "-1000.000" in fault and "lab" in fault and "inject on lb1: TERM" in fault
    state = next(line for line in lines if "vrrp_state" in line)
    assert "+234.567" in state and "VI_1 BACKUP -> MASTER" in state
    marker = next(i for i, line in enumerate(lines) if "---- t ----" in line)
    assert lines.index(fault) < marker < lines.index(state)
    assert "10.213.5.3 (VI_1) dev eth0" in text


def test_format_around_collapses_probe_runs_and_respects_the_limit() -> None:
    events = [ev(i * 10, "client", "probe", vip="VI_1", ok=True, status=200) for i in range(50)]
    events += [
        ev(500 + i * 10, "client", "probe", vip="VI_1", ok=False, error="timeout")
        for i in range(20)
    ]
    events += [ev(700, "client", "probe", vip="VI_1", ok=True, status=200)]
    tl = Timeline(events)
    text = tl.format_around(at(500))
    assert "VI_1 ok x50 over 490.0 ms 200" in text
    assert "VI_1 FAIL x20 over 190.0 ms error 'timeout'" in text
    assert len([line for line in text.splitlines() if "probe" in line]) == 3
    raw = tl.format_around(at(500), collapse_probes=False, limit=10)
    assert "earlier rows left out" in raw and "later rows left out" in raw
    assert len([line for line in raw.splitlines() if "probe" in line]) == 10


def test_format_around_an_empty_window() -> None:
    assert "(none)" in Timeline().format_around(T0)


def test_describe_each_kind() -> None:
    assert describe(ev(0, "client", "garp", addr="10.0.0.3", mac="02:42:aa")) == (
        "10.0.0.3 is-at 02:42:aa"
    )
    assert describe(ev(0, "c", "advert", src="10.0.0.1", vrid=51, priority=150, version=2)) == (
        "src 10.0.0.1 vrid 51 prio 150 v2"
    )
    assert describe(ev(0, "c", "probe", vip="VI_1", ok=True, status=200, ms=2.25, body="1111\n"))
    assert describe(ev(0, "c", "whatever", a=1)) == "a=1"


# --- holders over time and split brain --------------------------------------------------------


def test_holders_over_time_from_additions_and_removals() -> None:
    tl = Timeline(
        [
            added(0, "lb1"),
            removed(100, "lb1"),
            added(250, "lb2", addr="10.213.5.3/24"),
            added(250, "lb2", addr="10.213.5.3"),  # a duplicate changes nothing
            added(300, "lb1", addr="10.99.99.99"),  # not a VIP: ignored
        ]
    )
    ivs = holders_over_time(tl, VIPS, {})
    assert ivs["VI_1"] == [
        HolderInterval(at(0), at(100), frozenset({"lb1"})),
        HolderInterval(at(100), at(250), frozenset()),
        HolderInterval(at(250), None, frozenset({"lb2"})),
    ]
    assert ivs["VI_2"] == [HolderInterval(at(0), None, frozenset())]
    assert ivs["VI_1"][1].duration == 0.15
    assert holders_at(ivs["VI_1"], at(99.999)) == {"lb1"}
    assert holders_at(ivs["VI_1"], at(100)) == frozenset()
    assert holders_at(ivs["VI_1"], at(-5)) == {"lb1"}
    assert holders_at(ivs["VI_1"], at(10_000)) == {"lb2"}


def test_a_simultaneous_move_leaves_no_zero_length_interval() -> None:
    tl = Timeline([added(0, "lb2"), removed(0, "lb1"), ev(50, "lab", "note")])
    ivs = holders_over_time(tl, VIPS, {"VI_1": {"lb1"}}, start=at(-100))
    assert ivs["VI_1"] == [
        HolderInterval(at(-100), at(0), frozenset({"lb1"})),
        HolderInterval(at(0), None, frozenset({"lb2"})),
    ]


def test_initial_holders_and_events_named_by_vip() -> None:
    tl = Timeline([removed(10, "lb2", addr="10.213.5.4", vip="VI_2"), added(20, "lb1", vip="VI_2")])
    ivs = holders_over_time(tl, VIPS, {"VI_1": {"lb1"}, "VI_2": {"lb2"}}, start=at(0))
    assert [iv.holders for iv in ivs["VI_2"]] == [{"lb2"}, set(), {"lb1"}]
    assert [iv.holders for iv in ivs["VI_1"]] == [{"lb1"}]
    # by default the first interval starts at the first event, which then already applies
    ivs = holders_over_time(tl, VIPS, {"VI_1": {"lb1"}, "VI_2": {"lb2"}})
    assert ivs["VI_1"][0].start == at(10)
    assert [iv.holders for iv in ivs["VI_2"]] == [set(), {"lb1"}]


def test_split_brain_start_end_and_holders() -> None:
    tl = Timeline(
        [
            added(0, "lb1"),
            ev(1000, "lab", "fault", name="firewall_vrrp", phase="inject", target="lb2"),
            added(4123.456, "lb2"),
            added(5000, "lb3"),
            removed(6000, "lb3"),
            ev(8000, "lab", "fault", name="firewall_vrrp", phase="revert", target="lb2"),
            removed(8765.432, "lb2"),
            added(20000, "lb2", addr="10.213.5.4"),
            added(21000, "lb1", addr="10.213.5.4"),
        ]
    )
    found = split_brains(tl, VIPS)
    assert found == [
        SplitBrain("VI_1", at(4123.456), at(8765.432), frozenset({"lb1", "lb2", "lb3"})),
        SplitBrain("VI_2", at(21000), None, frozenset({"lb1", "lb2"})),
    ]
    assert found[0].duration == 4.641976
    assert found[1].duration is None
    assert split_brains(tl, VIPS, t0=at(9000), t1=at(19000)) == []
    assert split_brains(tl, VIPS, t0=at(8000), t1=at(8000)) == found[:1]
    assert found[0].as_dict()["holders"] == ["lb1", "lb2", "lb3"]

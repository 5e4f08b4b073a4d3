"""Pool changes (a real server out of or back into an LVS director's pool) in every report,
as failover measures are: the recorder of a scenario, the run's records (and their way
from an xdist worker to the controller), the summary table, JUnit properties, the JSON
file, the checker's markers on the timeline picture; and the assertions on pools."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_halab.assertions import assert_pool_change_within_bound, assert_pool_without
from pytest_halab.faults import Fault
from pytest_halab.lab import Lab
from pytest_halab.picture import draw_timeline, marks_of, place_labels, plot_timeline
from pytest_halab.poolmeasures import PoolChange
from pytest_halab.report import (
    PoolRecord,
    ReportCollector,
    pool_junit_properties,
    pool_summary_table,
    read_json,
    read_pool_changes,
    render_pool_text,
    write_json,
)
from pytest_halab.scenario import Scenario
from pytest_halab.session import HalabRun
from pytest_halab.settings import HalabSettings
from pytest_halab.timeline import Event, Timeline

T0 = 1_700_000_000.0
VS = "[10.0.0.3]:tcp:80"
RS1, RS2 = "[10.0.0.20]:tcp:80", "[10.0.0.30]:tcp:80"
VIPS = {"VI_1": "10.0.0.3"}
SERVERS = {"10.0.0.20": "web1", "10.0.0.30": "web2"}


def change(**kw: Any) -> PoolChange:
    base = PoolChange(
        vip="VI_1",
        server="web1",
        director="lvs1",
        removed=True,
        fault_at=T0,
        decided_s=2.5,
        applied_s=2.500431,
        requests=180,
        failed_requests=3,
        bad_answers=0,
        bound_s=4.0,
        fault="stop_web apache2ctl stop",
    )
    return replace(base, **kw)


def records() -> list[PoolRecord]:
    return [
        PoolRecord("t.py::test_a", "lvs_nat", "keepalived", "stop_web", change()),
        PoolRecord(
            "t.py::test_a",
            "lvs_nat",
            "keepalived",
            "stop_web",
            change(removed=False, decided_s=1.2, applied_s=1.2004, failed_requests=0),
        ),
        PoolRecord(
            "t.py::test_b",
            "lvs_dr",
            "halab",
            "web_error",
            change(
                director=None,
                decided_s=None,
                applied_s=None,
                bound_s=None,
                failed_requests=40,
                bad_answers=40,
            ),
        ),
        PoolRecord(
            "t.py::test_c", "lvs_nat", "halab", "hang_web", change(server="web2", applied_s=4.75)
        ),
    ]


# --- the records --------------------------------------------------------------------------------


def test_a_pool_change_reads_back_from_its_dict() -> None:
    for rec in records():
        assert PoolChange.from_dict(json.loads(json.dumps(rec.change.as_dict()))) == rec.change
        assert PoolRecord.from_dict(json.loads(json.dumps(rec.as_dict()))) == rec


def test_the_collector_keeps_pool_changes_apart_from_failover_measures() -> None:
    col = ReportCollector()
    a = col.record_pool("t.py::test_a", "lvs_nat", "keepalived", change())
    col.record_pool("t.py::test_b", "lvs_nat", "halab", change(fault=None))
    col.record_pool("t.py::test_b", "lvs_nat", "halab", change(), fault="custom")
    assert a.fault == "stop_web apache2ctl stop"
    assert [r.fault for r in col.pool_records] == ["stop_web apache2ctl stop", "?", "custom"]
    assert len(col) == 0 and list(col) == []  # the failover measures (and the gate) see none
    assert [r.fault for r in col.pool_for_test("t.py::test_b")] == ["?", "custom"]
    assert col.pool_to_dicts()[0]["change"]["applied_s"] == 2.500431
    assert "halab pool changes" in col.render_pool_text()


# --- the summary --------------------------------------------------------------------------------


def test_pool_summary_table_columns_and_cells() -> None:
    table = pool_summary_table(records())
    assert table.title == "halab pool changes"
    assert [str(c.header) for c in table.columns] == [
        "topology",
        "engine",
        "checker",
        "fault",
        "server",
        "change",
        "decided ms",
        "applied ms",
        "bound ms",
        "failed requests",
    ]
    cells = {str(c.header): list(c.cells) for c in table.columns}
    assert cells["change"] == [
        "removed (lvs1)",
        "added back (lvs1)",
        "not removed",
        "removed (lvs1)",
    ]
    assert cells["decided ms"] == ["2500.0", "1200.0", "-", "2500.0"]
    assert cells["applied ms"] == ["2500.4", "1200.4", "-", "4750.0 (over bound)"]
    assert cells["bound ms"] == ["4000.0", "4000.0", "-", "4000.0"]
    assert cells["failed requests"] == ["3", "0", "40 (40 error answers)", "3"]
    assert cells["server"] == ["web1", "web1", "web1", "web2"]
    assert cells["checker"] == ["-"] * 4  # records made without one


def test_render_pool_text_is_plain_ascii() -> None:
    text = render_pool_text(records())
    assert text.isascii() and "\x1b[" not in text
    assert "halab pool changes" in text
    row = next(line for line in text.splitlines() if "hang_web" in line)
    for cell in ("lvs_nat", "halab", "web2", "removed (lvs1)", "4750.0 (over bound)"):
        assert cell in row
    assert render_pool_text([]) == "halab: no pool changes recorded"


# --- JUnit --------------------------------------------------------------------------------------


def test_pool_junit_properties_names_and_values() -> None:
    assert pool_junit_properties(change()) == [
        ("halab.pool.VI_1.web1.removed.fault", "stop_web apache2ctl stop"),
        ("halab.pool.VI_1.web1.removed.director", "lvs1"),
        ("halab.pool.VI_1.web1.removed.happened", "true"),
        ("halab.pool.VI_1.web1.removed.decided_ms", "2500.000"),
        ("halab.pool.VI_1.web1.removed.applied_ms", "2500.431"),
        ("halab.pool.VI_1.web1.removed.bound_ms", "4000.000"),
        ("halab.pool.VI_1.web1.removed.failed_requests", "3"),
        ("halab.pool.VI_1.web1.removed.bad_answers", "0"),
        ("halab.pool.VI_1.web1.removed.requests", "180"),
    ]


def test_pool_junit_properties_leave_out_what_did_not_happen_and_name_the_direction() -> None:
    missed = dict(pool_junit_properties(records()[2].change))
    assert missed["halab.pool.VI_1.web1.removed.happened"] == "false"
    for gone in ("director", "decided_ms", "applied_ms", "bound_ms"):
        assert f"halab.pool.VI_1.web1.removed.{gone}" not in missed
    back = dict(pool_junit_properties(records()[1].change))
    assert back["halab.pool.VI_1.web1.added.applied_ms"] == "1200.400"


# --- the run: recorder, xdist, terminal summary -------------------------------------------------


@dataclass
class FakeNode:
    ip: str


@dataclass
class FakeLab:
    """What Scenario.pool_change asks of a lab: who holds the VIP, the server's address."""

    nodes: dict[str, FakeNode] = field(
        default_factory=lambda: {"web1": FakeNode("10.0.0.20"), "web2": FakeNode("10.0.0.30")}
    )

    def vip_holders(self) -> dict[str, list[str]]:
        return {"VI_1": ["lvs1"]}


def test_a_scenarios_pool_change_goes_to_its_recorder(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded: list[PoolChange] = []
    hal = Scenario(cast(Lab, FakeLab()), record_pool=recorded.append)
    fault = Fault("stop_web", "web1", "apache2ctl stop", T0, T0 + 0.05)
    tl = Timeline(
        [
            Event(T0 + 1.0, "lvs1", "checker", {"event": "rs_state", "rs": RS1, "up": False}),
            pool_event(T0 + 1.001, "lvs1", (RS2, 1)),
        ]
    )
    monkeypatch.setattr(hal, "timeline", lambda: tl)
    got = hal.pool_change("VI_1", fault, "web1", bound_s=4.0, timeout=1.0)
    assert recorded == [got] == hal.pool_changes
    assert got.applied_s == 1.001 and got.director == "lvs1"
    assert got.fault == "stop_web apache2ctl stop"


def test_pool_records_travel_from_an_xdist_worker_to_the_controllers_summary() -> None:
    worker = HalabRun(HalabSettings())
    worker.config = cast(Any, SimpleNamespace(workeroutput={}))
    for rec in records():
        worker.records.add_pool(rec)
    worker._send_to_controller()
    out = cast(Any, worker.config).workeroutput

    controller = HalabRun(HalabSettings())
    controller.pytest_testnodedown(SimpleNamespace(workeroutput=out), None)
    assert controller.records.pool_records == tuple(records())
    assert len(controller.records) == 0

    lines: list[str] = []
    controller.pytest_terminal_summary(SimpleNamespace(write_line=lines.append))
    text = "\n".join(lines)
    assert "halab pool changes" in text and "halab failover measures" not in text
    assert "4750.0 (over bound)" in text


def test_no_pool_table_when_no_test_measured_a_pool_change() -> None:
    lines: list[str] = []
    HalabRun(HalabSettings()).pytest_terminal_summary(SimpleNamespace(write_line=lines.append))
    assert lines == []


# --- files --------------------------------------------------------------------------------------


def pool_event(ts: float, node: str, *dests: tuple[str, int]) -> Event:
    return Event(
        ts,
        node,
        "checker",
        {
            "event": "pool",
            "vs": VS,
            "plane": "nftables",
            "destinations": [{"rs": rs, "weight": w} for rs, w in dests],
        },
    )


def rs_state(ts: float, node: str, rs: str, up: bool) -> Event:
    return Event(
        ts,
        node,
        "checker",
        {"event": "rs_state", "vs": VS, "rs": rs, "up": up, "checker": "TCP_CHECK"},
    )


def lvs_timeline() -> Timeline:
    """lvs1 holds the VIP; web1 stopped at T0, out at +2.5 s, back at +8 s; both directors'
    checkers decide (lvs2 keeps its pool while backup)."""
    events = [
        Event(T0 - 1.0, "lvs1", "vip_added", {"addr": "10.0.0.3", "dev": "eth0"}),
        Event(T0, "lab", "fault", {"name": "stop_web", "phase": "inject", "target": "web1"}),
        Event(T0 + 6.0, "lab", "fault", {"name": "stop_web", "phase": "revert", "target": "web1"}),
    ]
    for node, lag in (("lvs1", 0.0), ("lvs2", 0.0004)):
        events += [
            rs_state(T0 + 2.5 + lag, node, RS1, False),
            pool_event(T0 + 2.5004 + lag, node, (RS2, 1)),
            rs_state(T0 + 8.0 + lag, node, RS1, True),
            pool_event(T0 + 8.0004 + lag, node, (RS1, 2), (RS2, 1)),
        ]
    for i in range(500):
        t = T0 - 1.0 + i * 0.02
        ok = not (T0 <= t < T0 + 2.5 and i % 3 == 0)
        events.append(Event(t, "client", "probe", {"vip": "VI_1", "ok": ok, "status": None}))
    return Timeline(events, vips=VIPS)


def test_write_json_keeps_pool_changes(tmp_path: Path) -> None:
    tl = lvs_timeline()
    changes = [r.change for r in records()]
    out = write_json(tmp_path / "t.json", tl, [], meta={"test": "t"}, pool_changes=changes)
    doc = json.loads(out.read_text())
    assert doc["pool_changes"][0]["server"] == "web1"
    assert doc["pool_changes"][0]["applied_s"] == 2.500431
    assert read_pool_changes(out) == changes
    back, measures, meta = read_json(out)
    assert back.events == tl.events and measures == [] and meta == {"test": "t"}
    # a report written before pool changes were recorded has none
    del doc["pool_changes"]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert read_pool_changes(tmp_path / "old.json") == []


# --- the picture --------------------------------------------------------------------------------


def test_checker_marks_name_the_servers() -> None:
    marks = marks_of(lvs_timeline(), SERVERS)
    lvs1 = [(round(m.ts - T0, 4), m.style.name, m.label) for m in marks if m.node == "lvs1"]
    assert lvs1 == [
        (2.5, "rs_down", "web1"),
        (2.5004, "pool", None),
        (8.0, "rs_up", "web1"),
        (8.0004, "pool", None),
    ]
    assert {m.label for m in marks_of(lvs_timeline()) if m.label} == {"10.0.0.20"}


def test_place_labels_takes_the_first_free_place_or_none() -> None:
    taken = [(0.0, 0.0, 10.0, 10.0)]
    above = [(5.0, 20.0, 15.0, 30.0), (5.0, 0.0, 15.0, 8.0)]  # free, or on `taken`
    assert place_labels([above], taken) == [0]
    crowd = [
        [(20.0, 20.0, 30.0, 30.0), (20.0, 0.0, 30.0, 8.0)],
        [(25.0, 20.0, 35.0, 30.0), (25.0, 0.0, 35.0, 8.0)],  # above is taken: below
        [(28.0, 20.0, 38.0, 30.0), (28.0, 0.0, 38.0, 8.0)],  # both taken: left out
        [(40.0, 20.0, 50.0, 30.0), (40.0, 0.0, 50.0, 8.0)],
    ]
    assert place_labels(crowd) == [0, 1, None, 0]


def test_the_picture_has_the_checkers_markers_and_labels_that_do_not_overlap(
    tmp_path: Path,
) -> None:
    pytest.importorskip("matplotlib")
    tl = lvs_timeline()
    fig = draw_timeline(tl, VIPS, tl.of_kind("fault"), servers=SERVERS)
    ax = fig.axes[1]
    rows = [t.get_text() for t in ax.get_yticklabels()]
    # lvs2 never held the VIP and is not named a balancer: a row for its checker all the same
    assert rows == [
        "lvs1 state",
        "VI_1 10.0.0.3 held by",
        "VI_1 10.0.0.3 failed requests",
        "lvs2",
    ]
    (legend,) = fig.legends
    entries = [t.get_text() for t in legend.get_texts()]
    for entry in ("real server down (checker)", "real server up (checker)", "pool applied"):
        assert any(e.startswith(entry) for e in entries), entries
    labels = [t for t in ax.texts if t.get_text() in ("web1",)]
    # each down/up on each row is labelled: 2 rows x 2 events, nothing close on a row
    assert len(labels) == 4
    boxes = [t.get_window_extent() for t in ax.texts]
    boxes.append(legend.get_window_extent())
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    plot_timeline(tmp_path / "t.png", tl, VIPS, tl.of_kind("fault"), servers=SERVERS)
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_crowded_checker_labels_are_left_out_rather_than_overlap() -> None:
    pytest.importorskip("matplotlib")
    events = [rs_state(T0 + i * 0.001, "lvs1", RS1 if i % 2 else RS2, i % 4 < 2) for i in range(40)]
    events.append(Event(T0 + 10.0, "client", "probe", {"vip": "VI_1", "ok": True}))
    tl = Timeline(events, vips=VIPS)
    ax = draw_timeline(tl, VIPS, [], servers=SERVERS).axes[1]
    labels = [t for t in ax.texts if t.get_text() in ("web1", "web2")]
    assert 1 <= len(labels) < 40
    boxes = [t.get_window_extent() for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


# --- assertions ---------------------------------------------------------------------------------


def test_assert_pool_without_reads_each_directors_latest_pool() -> None:
    tl = lvs_timeline()
    assert assert_pool_without(tl, "VI_1", "10.0.0.20", at=T0 + 5.0) == ["lvs1", "lvs2"]
    assert assert_pool_without(tl, "VI_1", "10.0.0.20", at=T0 + 5.0, director="lvs2") == ["lvs2"]
    with pytest.raises(AssertionError, match=r"10\.0\.0\.20 still in the pool of \{lvs1, lvs2\}"):
        assert_pool_without(tl, "VI_1", "10.0.0.20")  # back by the end
    with pytest.raises(AssertionError, match=r"10\.0\.0\.30 still in the pool of \{lvs1\}"):
        assert_pool_without(tl, "VI_1", "10.0.0.30", at=T0 + 5.0, director="lvs1")
    with pytest.raises(AssertionError, match="applied no pool for it"):
        assert_pool_without(tl, "VI_1", "10.0.0.20", at=T0 + 1.0)


def test_assert_pool_change_within_bound() -> None:
    assert assert_pool_change_within_bound(change()) == 2.500431
    late = change(applied_s=4.75)
    assert assert_pool_change_within_bound(late, slack_s=1.0) == 4.75
    with pytest.raises(AssertionError, match=r"took 4\.750 s, 750\.000 ms over its bound 4\.000"):
        assert_pool_change_within_bound(late, timeline=lvs_timeline())
    with pytest.raises(AssertionError, match="pool change did not happen"):
        assert_pool_change_within_bound(change(applied_s=None))
    with pytest.raises(ValueError, match="no bound known"):
        assert_pool_change_within_bound(change(bound_s=None))


def test_a_pool_record_keeps_its_checker_across_workers() -> None:
    rec = PoolRecord(
        "t.py::test_a",
        "lvs_nat",
        "keepalived",
        "stop_web",
        change(),
        "halab-vrrpd --check, nftables",
    )
    back = PoolRecord.from_dict(rec.as_dict())
    assert back == rec and back.checker == "halab-vrrpd --check, nftables"
    old = rec.as_dict()
    del old["checker"]  # a record written before the field existed
    assert PoolRecord.from_dict(old).checker == ""

"""Reports: summary table, plain text, JUnit properties, JSON file, timeline picture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.table import Table

from pytest_halab import measures
from pytest_halab.measures import FailoverMeasure, MeasureContext
from pytest_halab.picture import plot_timeline
from pytest_halab.report import (
    FailoverRecord,
    ReportCollector,
    junit_properties,
    read_json,
    render_text,
    summary_table,
    write_json,
)
from pytest_halab.timeline import Event, SplitBrain, Timeline

T0_US = 1_700_000_000_000_000
VIPS = {"VI_1": "10.213.5.3", "VI_2": "10.213.5.4"}


def at(ms: float) -> float:
    return (T0_US + round(ms * 1000)) / 1_000_000


def ev(ms: float, node: str, kind: str, /, **data: Any) -> Event:
    return Event(at(ms), node, kind, data)


def measure(**over: Any) -> FailoverMeasure:
    base: dict[str, Any] = {
        "vip": "VI_1",
        "fault": "kill_process",
        "fault_ts": at(0),
        "old_holder": "lb1",
        "new_holder": "lb2",
        "detection_s": 0.612345,
        "vip_move_s": 0.612789,
        "garp_s": 0.613001,
        "outage_s": 0.04,
        "outage_from_fault_s": 0.65,
        "failed_requests": 4,
        "probes": 301,
        "last_failure_ts": at(640),
        "holders_after": frozenset({"lb2"}),
        "first_failure_ts": at(610),
        "recovery_ts": at(650),
        "detection_source": "vrrp_state",
        "window_end": at(3000),
    }
    base.update(over)
    return FailoverMeasure(**base)


def records() -> list[FailoverRecord]:
    never = measure(
        new_holder=None,
        detection_s=None,
        vip_move_s=None,
        garp_s=None,
        outage_s=None,
        outage_from_fault_s=None,
        failed_requests=150,
        recovery_ts=None,
        holders_after=frozenset({"lb1"}),
    )
    sb = SplitBrain("VI_1", at(3600), at(10800), frozenset({"lb1", "lb2"}))
    return [
        FailoverRecord(
            "t.py::test_a", "nginx_master_backup", "keepalived", "kill_process", "VI_1", measure()
        ),
        FailoverRecord("t.py::test_b", "nginx_master_backup", "halab", "crash", "VI_1", never),
        FailoverRecord(
            "t.py::test_c",
            "nginx_dual_master",
            "halab",
            "firewall_vrrp",
            "VI_2",
            measure(vip="VI_2", split_brain=(sb,), phase="recovery"),
        ),
    ]


# --- the summary --------------------------------------------------------------------------------


def test_summary_table_columns_and_cells() -> None:
    table = summary_table(records())
    assert isinstance(table, Table)
    assert [str(c.header) for c in table.columns] == [
        "topology",
        "engine",
        "fault",
        "VIP",
        "detection ms",
        "VIP move ms",
        "outage ms",
        "failed requests",
    ]
    cells = {str(c.header): list(c.cells) for c in table.columns}
    assert cells["detection ms"] == ["612.3", "-", "612.3"]
    assert cells["VIP move ms"] == ["612.8", "did not move", "612.8"]
    # still failing when the window ended (at +3000 ms), first failure at +610 ms
    assert cells["outage ms"] == ["40.0", ">= 2390.0", "40.0"]
    assert cells["failed requests"] == ["4", "150 (not recovered)", "4 split brain 7200.0 ms"]
    assert cells["fault"] == ["kill_process", "crash", "firewall_vrrp (recovery)"]
    assert cells["engine"] == ["keepalived", "halab", "halab"]


def test_render_text_is_plain_ascii() -> None:
    text = render_text(records())
    assert text.isascii()
    assert "\x1b[" not in text
    lines = text.splitlines()
    header = next(line for line in lines if "topology" in line)
    for word in ("engine", "fault", "VIP", "detection ms", "VIP move ms", "outage ms"):
        assert word in header
    row = next(line for line in lines if "kill_process" in line)
    for cell in ("nginx_master_backup", "keepalived", "612.3", "612.8", "40.0", " 4 "):
        assert cell in row
    crash = next(line for line in lines if "crash" in line)
    assert "did not move" in crash and ">= 2390.0" in crash and "150 (not recovered)" in crash
    assert render_text([]) == "halab: no failover measures recorded"


def test_collector_keeps_records_in_order() -> None:
    col = ReportCollector()
    a = col.record("t.py::test_a", "topo", "halab", measure())
    col.record("t.py::test_b", "topo", "halab", measure(vip="VI_2"), fault="custom")
    assert len(col) == 2
    assert a.fault == "kill_process" and a.vip == "VI_1"
    assert [r.fault for r in col] == ["kill_process", "custom"]
    assert col.for_test("t.py::test_b")[0].vip == "VI_2"
    assert "custom" in col.render_text()
    assert col.to_dicts()[0]["measure"]["vip_move_s"] == 0.612789


# --- JUnit --------------------------------------------------------------------------------------


def test_junit_properties_names_and_values() -> None:
    props = junit_properties(measure())
    assert props == [
        ("halab.VI_1.fault", "kill_process"),
        ("halab.VI_1.detection_ms", "612.345"),
        ("halab.VI_1.vip_move_ms", "612.789"),
        ("halab.VI_1.garp_ms", "613.001"),
        ("halab.VI_1.outage_ms", "40.000"),
        ("halab.VI_1.outage_from_fault_ms", "650.000"),
        ("halab.VI_1.moved", "true"),
        ("halab.VI_1.failed_requests", "4"),
        ("halab.VI_1.probes", "301"),
        ("halab.VI_1.old_holder", "lb1"),
        ("halab.VI_1.new_holder", "lb2"),
        ("halab.VI_1.detection_source", "vrrp_state"),
        ("halab.VI_1.holders_before", ""),
        ("halab.VI_1.holders_after", "lb2"),
        ("halab.VI_1.split_brains", "0"),
    ]


def test_junit_properties_leave_out_what_did_not_happen_and_mark_recovery() -> None:
    names = dict(junit_properties(records()[1].measure))
    assert "halab.VI_1.vip_move_ms" not in names
    assert "halab.VI_1.new_holder" not in names
    assert names["halab.VI_1.failed_requests"] == "150"
    # a VIP that did not move, requests still failing: the outage so far, under its own name
    assert names["halab.VI_1.moved"] == "false"
    assert "halab.VI_1.outage_ms" not in names
    assert names["halab.VI_1.ongoing_outage_ms"] == "2390.000"
    rec = dict(junit_properties(records()[2].measure))
    assert rec["halab.VI_2.recovery.vip_move_ms"] == "612.789"
    assert rec["halab.VI_2.recovery.split_brains"] == "1"


# --- files --------------------------------------------------------------------------------------


def dual_master_timeline() -> Timeline:
    events = [
        ev(-3000, "lb1", "vip_added", addr="10.213.5.3", dev="eth0"),
        ev(-3000, "lb2", "vip_added", addr="10.213.5.4", dev="eth0"),
        ev(0, "lab", "fault", name="kill_process", phase="inject", target="lb1", detail="TERM"),
        ev(2, "lb1", "vip_removed", addr="10.213.5.3", dev="eth0"),
        ev(650, "lb2", "vrrp_state", instance="VI_1", state="MASTER", prev="BACKUP"),
        ev(651, "lb2", "vip_added", addr="10.213.5.3", dev="eth0"),
        ev(5000, "lab", "fault", name="kill_process", phase="revert", target="lb1", detail=""),
        ev(5700, "lb1", "vip_added", addr="10.213.5.3", dev="eth0"),
        ev(5700.4, "lb2", "vip_removed", addr="10.213.5.3", dev="eth0"),
    ]
    for i in range(400):
        t = -1000 + i * 20
        bad = 100 <= t <= 640
        events.append(ev(t, "client", "probe", vip="VI_1", ok=not bad, ms=1.0, status=None))
        events.append(ev(t + 10, "client", "probe", vip="VI_2", ok=True, ms=1.0, status=200))
    return Timeline(events, vips=VIPS)


def test_write_json_round_trips_timeline_and_measures(tmp_path: Path) -> None:
    tl = dual_master_timeline()
    ms = [
        measures.measure(tl, MeasureContext(), "VI_1", at=at(0)),
        measures.measure(tl, MeasureContext(), "VI_1", at=at(5000), phase="recovery"),
    ]
    out = write_json(tmp_path / "sub" / "t.json", tl, ms, meta={"test": "t.py::test_a"})
    doc = json.loads(out.read_text())
    assert doc["version"] == 1
    assert doc["vips"] == VIPS
    assert doc["meta"] == {"test": "t.py::test_a"}
    assert len(doc["events"]) == len(tl)
    assert doc["measures"][0]["vip_move_s"] == 0.651
    assert doc["measures"][1]["phase"] == "recovery"
    back, back_ms, meta = read_json(out)
    assert back.events == tl.events
    assert back.vips == VIPS
    assert back_ms == ms
    assert meta["test"] == "t.py::test_a"


def test_plot_timeline_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    tl = dual_master_timeline()
    out = tmp_path / "plots" / "t.png"
    plot_timeline(out, tl, VIPS, tl.of_kind("fault"), title="t.py::test_a")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000
    # an empty timeline still gives a picture
    plot_timeline(tmp_path / "empty.png", Timeline(), VIPS, [])
    assert (tmp_path / "empty.png").read_bytes()[:4] == b"\x89PNG"

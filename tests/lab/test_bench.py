"""`halab bench` end to end, smallest size: one engine, one fault, one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_halab.cli import main as halab_main


def test_bench_measures_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", "nginx_v3_fast", "--vrrp", "keepalived,halab"]
    argv += ["--fault", "crash_node,sigterm_vrrp", "--runs", "1", "--json", str(out)]
    assert halab_main(argv) == 0
    text = capsys.readouterr().out
    assert (
        "failover benchmark: nginx_v3_fast, VI_1, faults at phase advert, client probe every 10 ms"
        in text
    )
    assert "ratio of medians" in text
    doc = json.loads(out.read_text())
    assert doc["phase"] == "advert"
    runs = {(r["engine"], r["fault"]): r for r in doc["runs"]}
    assert set(runs) == {
        (e, f) for e in ("keepalived", "halab") for f in ("crash_node", "sigterm_vrrp")
    }
    for (engine, fault), run in runs.items():
        m = run["measure"]
        assert m["old_holder"] == "lb1" and m["new_holder"] == "lb2", (engine, fault)
        assert m["vip_move_s"] > 0 and m["detection_s"] > 0
        assert abs(run["garp_vs_netlink_s"]) < 0.05
        # phase lock: injected right after one of the master's adverts (cycle 100 ms)
        assert run["phase_s"] is not None and 0 <= run["phase_s"] < 0.05, (engine, fault)
    for engine in ("keepalived", "halab"):
        crash, term = runs[(engine, "crash_node")], runs[(engine, "sigterm_vrrp")]
        # the crash is a SIGKILL to the container's init, timed by the host
        assert crash["measure"]["fault"].startswith("crash_node SIGKILL to init (host pid ")
        # the wire takeover is Master_Down_Interval after a crash (3 * 0.1 s + Skew_Time
        # 0.061 s at priority 100), and about Skew_Time after a priority-0 advert
        assert 0.3 < crash["takeover_s"] < 0.6, engine
        assert term["takeover_s"] < crash["takeover_s"] - 0.2, engine
    (summary, *_rest) = doc["summary"]
    assert summary["vip_move"]["n"] == 1

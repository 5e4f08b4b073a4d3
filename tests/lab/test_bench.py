"""`halab bench` end to end, smallest size: one engine, one fault, one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_halab.cli import main as halab_main


def test_bench_measures_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert (
        halab_main(
            [
                "bench",
                "nginx_master_backup",
                "--fault",
                "sigterm_vrrp",
                "--runs",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "failover benchmark: nginx_master_backup, VI_1" in text
    assert "sigterm_vrrp" in text
    doc = json.loads(out.read_text())
    (run,) = doc["runs"]
    m = run["measure"]
    assert m["old_holder"] == "lb1" and m["new_holder"] == "lb2"
    assert m["vip_move_s"] > 0 and m["detection_s"] > 0
    # the wire takeover after a priority-0 advert is about Skew_Time (0.61 s at priority 100)
    assert run["takeover_s"] is not None and 0.3 < run["takeover_s"] < 1.5
    assert abs(run["garp_vs_netlink_s"]) < 0.5
    (summary,) = doc["summary"]
    assert summary["vip_move"]["n"] == 1


def test_bench_refuses_unknown_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert halab_main(["bench", "--fault", "meteor"]) == 2
    assert "unknown fault(s) ['meteor']" in capsys.readouterr().err

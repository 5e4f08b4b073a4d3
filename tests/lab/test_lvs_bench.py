"""`halab bench` with a real-server fault on LVS directors: the pool bench, smallest size
(lvs_nat, stop_web, one run per engine). Figures are reported, not asserted as limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_halab.cli import main as halab_main


def test_pool_bench_measures_removal_and_readd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pool.json"
    argv = ["bench", "lvs_nat", "--vrrp", "keepalived,halab", "--fault", "stop_web"]
    assert halab_main([*argv, "--runs", "1", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pool benchmark: lvs_nat, VI_1, faults on web1; random phase" in text
    doc = json.loads(out.read_text())
    assert doc["bench"] == "pool"
    assert [(s["engine"], s["fault"], s["complete"]) for s in doc["summary"]] == [
        ("keepalived", "stop_web", 1),
        ("halab", "stop_web", 1),
    ]
    for r in doc["runs"]:
        # lvs_nat: delay_loop 1, connect_timeout 1, retry 1, delay_before_retry 1
        assert (r["removal_bound_s"], r["readd_bound_s"]) == (4.0, 2.0)
        assert 0 < r["detection_s"] <= r["removal_s"], r
        assert r["readd_s"] > 0, r
        # web1 refuses until the pool drops it: some requests fail, not all of them
        assert 0 < r["failed_requests"] < r["requests"], r
        assert all(0 <= w <= 1.0 for w in r["waits_s"])  # random fractions of delay_loop 1

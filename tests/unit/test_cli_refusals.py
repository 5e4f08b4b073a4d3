"""`halab` refuses bad arguments before it starts anything (no Docker needed)."""

from __future__ import annotations

import pytest

from pytest_halab.cli import main as halab_main


def test_bench_refuses_unknown_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert halab_main(["bench", "--fault", "meteor"]) == 2
    assert "unknown fault(s) ['meteor']" in capsys.readouterr().err


@pytest.mark.parametrize("ms", ["0.5", "101"])
def test_bench_refuses_a_probe_interval_out_of_range(
    ms: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert halab_main(["bench", "--probe-interval", ms]) == 2
    assert "--probe-interval must be between 1 and 100 (ms)" in capsys.readouterr().err

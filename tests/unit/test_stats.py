"""Percentiles and summaries: the one definition the bench, the soak and reports share."""

from __future__ import annotations

import pytest

from pytest_halab.stats import percentile, summarize


def test_summarize_interpolates_linearly() -> None:
    s = summarize([4.0, 1.0, 3.0, 2.0])
    assert s["n"] == 4 and s["min"] == 1.0 and s["max"] == 4.0
    assert s["p50"] == 2.5
    assert s["p90"] == pytest.approx(3.7)
    assert s["p99"] == pytest.approx(3.97)
    assert s["mean"] == 2.5
    assert summarize([7.0]) == dict.fromkeys(["min", "p50", "p90", "p99", "max", "mean"], 7.0) | {
        "n": 1
    }
    assert summarize([])["n"] == 0 and summarize([])["p50"] is None
    assert percentile(list(range(11)), 90) == 9.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_percentile_matches_numpy_linear() -> None:
    """Hyndman-Fan type 7, numpy's default: known answers worked out by hand."""
    values = [1.0, 2.0, 4.0, 8.0, 16.0]
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 16.0
    assert percentile(values, 25) == 2.0
    assert percentile(values, 62.5) == 6.0  # pos 2.5: halfway between 4 and 8
    with pytest.raises(ValueError, match="outside"):
        percentile(values, 101)


def test_the_soak_gap_summary_adds_the_last_thousandth() -> None:
    from pytest_halab.soak import gap_summary

    gaps = [0.020] * 999 + [0.120]
    s = gap_summary(gaps)
    assert s["n"] == 1000 and s["p99"] == pytest.approx(0.020)
    assert s["p99.9"] == pytest.approx(0.020 + 0.001 * 0.1, abs=1e-9)  # type-7 interpolation
    assert s["max"] == pytest.approx(0.120)
    assert gap_summary([])["p99.9"] is None

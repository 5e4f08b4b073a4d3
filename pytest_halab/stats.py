"""Percentiles and summaries of repeated figures (bench runs, advert gaps).

The one place the package computes statistics: the bench, the soak and the reports use
:func:`summarize`, so every ``p50`` in the project means the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

__all__ = ["percentile", "summarize"]

_FIGURES = ("min", "p50", "p90", "p99", "max", "mean")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, by linear interpolation between
    closest ranks (numpy's default ``"linear"``, Hyndman-Fan type 7)."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def summarize(values: Iterable[float]) -> dict[str, float | int | None]:
    """``n``, ``min``, ``p50``, ``p90``, ``p99``, ``max``, ``mean`` of the values
    (percentiles by linear interpolation, see :func:`percentile`); with no values every
    figure but ``n`` is None. Callers drop missing (None) figures first."""
    s = sorted(float(v) for v in values)
    if not s:
        empty: dict[str, float | int | None] = dict.fromkeys(_FIGURES, None)
        return {"n": 0, **empty}
    return {
        "n": len(s),
        "min": s[0],
        "p50": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "max": s[-1],
        "mean": math.fsum(s) / len(s),
    }

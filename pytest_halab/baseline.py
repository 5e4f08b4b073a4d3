"""Baselines of failover figures, and the regression gate that compares a run with one.

A baseline is the samples of some figures (seconds, lower is better) from one run, kept in
a JSON file, so that a later run can be checked against it: ``halab bench --save-baseline``
writes one, ``halab bench --baseline FILE --max-regression PCT`` compares with it. This
module knows nothing of the lab: its keys are strings the caller builds (the bench's are
``engine/fault/figure``, see ``bench.baseline_key``; pytest's, written by ``pytest
--hal-save-baseline`` and compared by ``--hal-baseline``, are ``test/vip/fault/figure``, see
``gate.baseline_key``), so any producer of repeated figures can save, load and compare them
the same way.

File format (``halab-baseline/1``), one JSON object::

    {
      "format": "halab-baseline/1",
      "topology": "nginx_master_backup",      # the topology measured; null if several
      "source": "bench",                      # who measured: "bench" or "pytest"
      "created": "2026-11-22T10:15:00+00:00", # ISO 8601
      "conditions": {"vip": "VI_1", "phase": "advert", "probe_interval_ms": 10.0},
      "entries": {
        "keepalived/crash_node/vip_move": {
          "figure": "vip_move",                          # the measured figure
          "subject": {"engine": "keepalived", "fault": "crash_node"},  # what it was measured on
          "samples": [0.3612, 0.3609, 0.3615],           # seconds, one per run, at least one
          "n": 3, "median": 0.3612, "p90": 0.3614        # for readers
        }
      }
    }

``conditions`` (string or number values) and ``subject`` (string values) may be empty
objects. ``samples`` are the data: ``n``, ``median`` and ``p90`` are written for people
reading the file and recomputed from the samples on load (editing a sample is enough; an
edited median is ignored). Any other key is refused, so that a typo does not pass unseen.

The gate (:func:`compare`): a figure has regressed when its median in the run is above
all three of

- the baseline median plus ``max_regression_pct`` percent of it,
- the baseline's **spread**, defined as the baseline's 90th percentile (``p90``, the same
  percentile as the bench's table, :mod:`pytest_halab.stats`), and
- the baseline median plus the **noise floor**, :data:`MIN_RISE_S` (10 ms).

Why p90: the question the gate asks is "is the typical run now slower than nearly every run
of the baseline was?". A run median above the baseline's p90 means at least half of the runs
are slower than 90 % of the baseline's, which the noise of the machine alone seldom does,
while a median that moved inside the range the baseline already showed is that noise (with
``--phase random`` a figure counted from the fault wanders over a whole advert interval, far
more than any percentage of its median). Failover figures are neither normal nor symmetric
(they fall on the client's probe grid and are bounded by the advert interval), so a
percentile, which assumes no distribution, serves better than mean + k standard deviations;
unlike median + k * MAD it does not shrink to nothing when most samples are equal (an
outage on a 10 ms grid often is). With few samples p90 is close to the maximum, so one slow
baseline run widens the gate: save baselines from 5 runs or more.

Why a floor: some figures are near zero (``garp_vs_netlink``, the gap between the GARP on
the wire and the address change seen by netlink, is typically 0.1 ms; an outage is 0 when
no request failed), and any percentage of nearly nothing is nothing: a CI run saw that gap
go from 0.10 ms to 1.34 ms on a busy host, +1206 %, with nothing regressed. The client
probes every 10 ms, so an outage moves by one probe interval through phase alone, and two
clocks (capture, netlink, the nodes' own) disagree by milliseconds under load. A rise of 10
ms or less is measurement, not regression; a figure of hundreds of milliseconds is still
gated by its percentage.

A figure in the baseline with no sample in the run is a failure too (a gate that passes
because nothing was measured is worthless); a figure only in the run is not gated. A median
exactly at the threshold passes; "above" means by more than 1 ns (:data:`EPSILON_S`), so
that floating-point rounding of a percentage never decides a verdict.

With ``same_subject=True`` a key alone is not enough: when the subject of a baseline entry
and of the run's entry of the same key disagree on a field both have (a pytest baseline's
keys name the test, not the VRRP engine it ran on), the figure is not compared and fails as
measured on something else. The bench's keys hold everything its subjects say, so it needs
no such check.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import BaselineError
from .stats import percentile

__all__ = [
    "DEFAULT_MAX_REGRESSION_PCT",
    "EPSILON_S",
    "FORMAT",
    "MIN_RISE_S",
    "PROBE_CONDITION",
    "SOURCES",
    "Baseline",
    "Entry",
    "Regression",
    "compare",
    "dumps",
    "load",
    "rule",
    "save",
    "subject_differences",
]

FORMAT = "halab-baseline/1"
SOURCES = ("bench", "pytest")
EPSILON_S = 1e-9
DEFAULT_MAX_REGRESSION_PCT = 10.0  # halab bench --max-regression, pytest --hal-max-regression
MIN_RISE_S = 0.010  # the noise floor: a median rising by this much or less never regressed
MAX_FILE_BYTES = 16 * 1024 * 1024
SPREAD_PERCENTILE = 90
# the condition both baselines (bench and pytest) keep the client probe's interval under, in ms
PROBE_CONDITION = "probe_interval_ms"

_TOP_KEYS = {"format", "topology", "source", "created", "conditions", "entries"}
_ENTRY_KEYS = {"figure", "subject", "samples", "n", "median", "p90"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Entry:
    """The samples of one figure (seconds), and what they were measured on."""

    figure: str
    samples: tuple[float, ...]
    subject: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        samples = tuple(float(s) for s in self.samples)
        if not samples:
            raise ValueError(f"{self.figure}: an entry needs at least one sample")
        bad = [s for s in samples if not math.isfinite(s)]
        if bad:
            raise ValueError(f"{self.figure}: samples must be finite numbers, got {bad[0]}")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "subject", dict(self.subject))

    @property
    def median(self) -> float:
        return percentile(sorted(self.samples), 50)

    @property
    def spread(self) -> float:
        """The baseline's spread as the gate reads it: the 90th percentile of the samples."""
        return percentile(sorted(self.samples), SPREAD_PERCENTILE)

    def where(self) -> str:
        """``engine keepalived, fault crash_node``: the subject, for messages."""
        return ", ".join(f"{k} {v}" for k, v in self.subject.items())

    def as_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "subject": dict(self.subject),
            "samples": list(self.samples),
            "n": len(self.samples),
            "median": self.median,
            "p90": self.spread,
        }


@dataclass(frozen=True)
class Baseline:
    """Figures from one run, by key (a string the caller builds, unique per figure)."""

    topology: str | None
    source: str
    entries: Mapping[str, Entry]
    conditions: Mapping[str, str | float] = field(default_factory=dict)
    created: str = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source {self.source!r}: use one of {', '.join(SOURCES)}")
        if "" in self.entries:
            raise ValueError("an entry's key is an empty string")

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "topology": self.topology,
            "source": self.source,
            "created": self.created,
            "conditions": dict(self.conditions),
            "entries": {k: e.as_dict() for k, e in self.entries.items()},
        }


def dumps(baseline: Baseline) -> str:
    """The file's text (what :func:`save` writes)."""
    return json.dumps(baseline.as_dict(), indent=1) + "\n"


def save(baseline: Baseline, path: str | os.PathLike[str]) -> None:
    """Write the baseline to ``path`` (replacing it); OSError if it cannot be written."""
    Path(path).write_text(dumps(baseline), encoding="utf-8")


# ---------------------------------------------------------------- loading


def _read(path: Path) -> str:
    """The file as text: a regular file (a FIFO would block), bounded, UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BaselineError(f"{path}: not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the name
        raise BaselineError(f"{str(path)!r}: cannot read: {exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise BaselineError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BaselineError(
            f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x})"
        ) from None


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:  # json would keep the last one silently
            raise ValueError(f"duplicate key {_shown(k)}")
        out[k] = v
    return out


def _shown(value: object, limit: int = 60) -> str:
    """A value from the file as JSON, cut short for a message."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type(value: object) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


class _Fields:
    """Checks the shape of the parsed document; errors name the file and the field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> BaselineError:
        return BaselineError(
            f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}"
        )

    def obj(self, value: object, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
        """An object; with ``allowed``, only those keys."""
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_type(value)}")
        if allowed is not None and (extra := sorted(set(value) - allowed)):
            raise self.fail(
                f"{where}.{extra[0]}" if where else extra[0],
                f"unknown field (known: {', '.join(sorted(allowed))})",
            )
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {_type(value)}")
        return value

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a number, got {_type(value)}")
        try:
            f = float(value)
        except OverflowError:  # an integer of hundreds of digits
            f = math.inf
        if not math.isfinite(f):  # 1e999 reads as infinity
            raise self.fail(where, "expected a finite number, got one out of range")
        return f


def _parse(path: Path, doc: object) -> Baseline:
    f = _Fields(path)
    if not isinstance(doc, dict):
        raise f.fail("", f"expected an object (a halab baseline), got {_type(doc)}")
    if "format" not in doc:
        raise f.fail("format", f"missing (a halab baseline has format {FORMAT})")
    if doc["format"] != FORMAT:
        raise f.fail(
            "format", f"{_shown(doc['format'])} is not a format this halab reads ({FORMAT})"
        )
    top = f.obj(doc, "", _TOP_KEYS)
    missing = sorted(_TOP_KEYS - {"conditions"} - set(top))
    if missing:
        raise f.fail(missing[0], "missing")
    topology = None if top["topology"] is None else f.text(top["topology"], "topology")
    source = f.text(top["source"], "source")
    if source not in SOURCES:
        raise f.fail("source", f"{_shown(source)}: expected one of {', '.join(SOURCES)}")
    created = f.text(top["created"], "created")
    try:
        datetime.fromisoformat(created)
    except ValueError:
        raise f.fail("created", f"{_shown(created)} is not an ISO 8601 time") from None
    conditions: dict[str, str | float] = {}
    for k, v in f.obj(top.get("conditions", {}), "conditions").items():
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise f.fail(f"conditions.{k}", f"expected a string or a number, got {_type(v)}")
        conditions[k] = v if isinstance(v, str) else f.number(v, f"conditions.{k}")
    entries: dict[str, Entry] = {}
    for key, raw in f.obj(top["entries"], "entries").items():
        where = f"entries[{_shown(key)}]"
        if not key:
            raise f.fail(where, "an empty key")
        e = f.obj(raw, where, _ENTRY_KEYS)
        for need in ("figure", "samples"):
            if need not in e:
                raise f.fail(f"{where}.{need}", "missing")
        figure = f.text(e["figure"], f"{where}.figure")
        subject = {
            k: f.text(v, f"{where}.subject.{k}")
            for k, v in f.obj(e.get("subject", {}), f"{where}.subject").items()
        }
        samples = e["samples"]
        if not isinstance(samples, list):
            raise f.fail(f"{where}.samples", f"expected an array, got {_type(samples)}")
        if not samples:
            raise f.fail(f"{where}.samples", "empty: an entry needs at least one sample")
        values = tuple(f.number(s, f"{where}.samples[{i}]") for i, s in enumerate(samples))
        for summary in ("n", "median", "p90"):  # for readers; checked, then recomputed
            if summary in e:
                f.number(e[summary], f"{where}.{summary}")
        entries[key] = Entry(figure, values, subject)
    return Baseline(topology, source, entries, conditions, created)


def load(path: str | os.PathLike[str]) -> Baseline:
    """Read a baseline file. A file that cannot be read, is not JSON (line and column said),
    or has the wrong shape (the field said) raises :class:`BaselineError` naming the file."""
    p = Path(path)
    text = _read(p)
    try:
        doc = json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_refuse_duplicates
        )
    except json.JSONDecodeError as exc:
        raise BaselineError(f"{p}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    except ValueError as exc:  # NaN, Infinity, a duplicate key
        raise BaselineError(f"{p}: invalid JSON: {exc}") from None
    except RecursionError:
        raise BaselineError(f"{p}: invalid JSON: nested too deeply") from None
    return _parse(p, doc)


# ---------------------------------------------------------------- the gate


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


@dataclass(frozen=True)
class Regression:
    """One figure that failed the gate: regressed, measured in the baseline only, or (with
    ``same_subject``) measured on another subject (``differs`` non-empty: not compared)."""

    key: str
    baseline: Entry
    current: Entry | None  # None: the run has no sample of it
    max_regression_pct: float
    differs: tuple[tuple[str, str, str], ...] = ()  # (subject field, baseline's, run's)

    @property
    def allowed_s(self) -> float:
        """The baseline median plus ``max_regression_pct`` percent (of its magnitude)."""
        m = self.baseline.median
        return m + abs(m) * self.max_regression_pct / 100

    @property
    def threshold_s(self) -> float:
        """What the run's median must not exceed: the largest of the allowance, the spread
        and the baseline median plus the noise floor."""
        return max(self.allowed_s, self.baseline.spread, self.baseline.median + MIN_RISE_S)

    @property
    def change_pct(self) -> float | None:
        """How far the run's median moved from the baseline's, in percent (None: missing,
        or a baseline median of 0)."""
        m = self.baseline.median
        if self.current is None or m == 0:
            return None
        return (self.current.median - m) / abs(m) * 100

    def _name(self) -> str:
        where = self.baseline.where()
        return f"{self.baseline.figure} ({where})" if where else self.key

    def __str__(self) -> str:
        b = self.baseline
        if self.differs:
            then = ", ".join(f"{k} {v}" for k, v, _ in self.differs)
            now = ", ".join(f"{k} {v}" for k, _, v in self.differs)
            return (
                f"DIFFERENT {self._name()}: the baseline measured it on {then}, this run on "
                f"{now}; not compared"
            )
        if self.current is None:
            return (
                f"MISSING {self._name()}: baseline median {_ms(b.median)} (n={len(b.samples)}), "
                "no sample in this run"
            )
        change = "" if (c := self.change_pct) is None else f" ({c:+.1f}%)"
        return (
            f"REGRESSED {self._name()}: median {_ms(b.median)} -> "
            f"{_ms(self.current.median)}{change}; threshold {_ms(self.threshold_s)}, the largest "
            f"of +{self.max_regression_pct:g}% ({_ms(self.allowed_s)}), the baseline p90 "
            f"({_ms(b.spread)}) and +{MIN_RISE_S * 1000:g} ms ({_ms(b.median + MIN_RISE_S)})"
        )


def rule(max_regression_pct: float) -> str:
    """The gate's rule in words, for verdict lines."""
    return (
        f"+{max_regression_pct:g}% over the baseline median, above its p90 and by more "
        f"than {MIN_RISE_S * 1000:g} ms"
    )


def subject_differences(base: Entry, now: Entry) -> tuple[tuple[str, str, str], ...]:
    """The subject fields both entries have and disagree on: (field, base's, now's)."""
    return tuple(
        (k, v, now.subject[k])
        for k, v in base.subject.items()
        if k in now.subject and now.subject[k] != v
    )


def compare(
    baseline: Baseline,
    current: Baseline,
    max_regression_pct: float,
    *,
    same_subject: bool = False,
) -> list[Regression]:
    """The baseline's figures that the ``current`` run regressed or did not measure, in the
    baseline's order (see the module docstring for the rule). Keys only in ``current`` are
    not gated. With ``same_subject``, a figure whose entries' subjects disagree is not
    compared and fails (``Regression.differs``). ``max_regression_pct`` must be a finite
    number >= 0 (ValueError)."""
    if not math.isfinite(max_regression_pct) or max_regression_pct < 0:
        raise ValueError(f"max_regression_pct must be a number >= 0, got {max_regression_pct}")
    out = []
    for key, base in baseline.entries.items():
        now = current.entries.get(key)
        if now is not None and same_subject and (diff := subject_differences(base, now)):
            out.append(Regression(key, base, now, max_regression_pct, diff))
            continue
        r = Regression(key, base, now, max_regression_pct)
        if now is None or now.median - r.threshold_s > EPSILON_S:
            out.append(r)
    return out


def parse_percent(text: str) -> float:
    """A ``--max-regression`` value: a finite number of percent >= 0; ValueError otherwise."""
    try:
        pct = float(text)
    except ValueError:
        pct = math.nan
    if not math.isfinite(pct) or pct < 0:
        raise ValueError(f"expected a percentage >= 0, got {text!r}")
    return pct

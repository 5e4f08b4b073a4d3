"""The failover regression gate of a pytest run: ``--hal-save-baseline`` and ``--hal-baseline``.

``pytest --hal-save-baseline FILE`` writes the failover figures every test measured (the
records of :class:`~pytest_halab.session.HalabRun`) to a baseline file;
``pytest --hal-baseline FILE [--hal-max-regression PCT]`` compares the run's figures with one
and fails the run when a figure regressed. The file format and the rule are
:mod:`pytest_halab.baseline`'s, the same as ``halab bench``'s gate; this module only says
what a pytest run's figures are and wires the gate into pytest.

What a pytest baseline holds:

- **Keys** ``<test node id>/<vip>/<fault>/<figure>``, for example
  ``tests/test_ha.py::test_crash[lb1]/VI_1/crash_node/vip_move``. The node id is the original
  one, without the ``@group`` suffix pytest-xdist adds under ``--dist loadgroup``. A recovery
  measure (``hal.recovery()``) has ``<fault> (recovery)`` in place of the fault, as in the
  summary table. A test that measured the same VIP after the same fault several times gives
  several samples under one key.
- **Figures**: the times of a :class:`~pytest_halab.measures.FailoverMeasure` (seconds,
  lower is better): ``detection``, ``vip_move``, ``garp``, ``outage``,
  ``outage_from_fault``, and ``garp_vs_netlink``, the magnitude of the signed
  ``garp_delta_s`` (as the bench keeps it). Counts (failed requests, probes) are not
  figures; a figure that did not happen (None) gives no sample.
- **Subject** of each entry: ``test``, ``topology``, ``engine``, ``vip``, ``fault`` (and
  ``phase: recovery`` for a recovery measure). One run may measure tests on several
  topologies and engines (``lab_factory``), so what each figure was measured on is kept per
  entry, and the comparison is per entry: a figure whose baseline entry and run entry name
  another topology or engine is not compared and fails as ``DIFFERENT``. The file's
  ``topology`` is the session's ``--hal-topology``, or null without one; ``source`` is
  ``"pytest"``.

The gate, at the end of the session (in the pytest-xdist controller, which has every
worker's records and the tests each worker ran; in a plain run, in the run itself):

- Only tests that ran are gated: a baseline figure of a test that did not run in this
  session (deselected with ``-k``, not collected, skipped, xfailed) is left out, and counted
  in a ``not gated`` line. A test that ran (its body passed or failed, or its setup failed,
  e.g. its lab did not start) and measured no sample of a baselined figure fails it as
  ``MISSING``. A baseline median of 0 (an outage when no request failed) allows no more
  than the noise floor above it (10 ms, ``baseline.MIN_RISE_S``), whatever the percentage.
- A failure of the gate (``REGRESSED``, ``MISSING``, ``DIFFERENT``), or a baseline that
  could not be written (or had nothing to write), makes the run exit with status 1, as a
  failed test does (pytest has no exit status of its own for a gate; as pytest-cov's
  ``--cov-fail-under``, the gate counts one more failure in ``session.testsfailed`` at the
  end of the test loop, so the status every later hook sees is already 1). The verdict is
  the terminal summary's section "halab regression gate".
- An interrupted run (Ctrl-C, collection errors) is not gated and writes no baseline.

The baseline file is loaded and checked at configure time, before any lab starts: a file
that cannot be read or is no baseline, a baseline saved by ``halab bench``, an entry without
its test, a baseline for another topology than ``--hal-topology``, the same file given to
``--hal-baseline`` and ``--hal-save-baseline``, and ``--hal-max-regression`` on the command
line without a baseline are usage errors naming where the value came from.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import distribute
from .baseline import (
    PROBE_CONDITION,
    Baseline,
    Entry,
    Regression,
    compare,
    load,
    rule,
    save,
)
from .errors import BaselineError
from .measures import FailoverMeasure
from .report import FailoverRecord, ReportCollector
from .settings import (
    BASELINE,
    MAX_REGRESSION,
    PROBE_INTERVAL,
    SAVE_BASELINE,
    HalabSettings,
    usage_error,
)

__all__ = [
    "EXIT_STATUS",
    "FIGURES",
    "SOURCE",
    "GatePlan",
    "RegressionGate",
    "Verdict",
    "baseline_key",
    "check_baseline",
    "figures",
    "judge",
    "plan",
    "run_baseline",
]

SOURCE = "pytest"
FIGURES = ("detection", "vip_move", "garp", "outage", "outage_from_fault", "garp_vs_netlink")
EXIT_STATUS = pytest.ExitCode.TESTS_FAILED  # what a failed gate makes of the run's status
WORKER_KEY = "halab-gate"  # pytest-xdist workeroutput: the tests a worker ran
SHOWN = 5  # keys listed by name in a "not gated" line


def figures(m: FailoverMeasure) -> dict[str, float]:
    """The gated figures of a measure, by name (seconds; the ones that happened)."""
    delta = m.garp_delta_s
    values = {
        "detection": m.detection_s,
        "vip_move": m.vip_move_s,
        "garp": m.garp_s,
        "outage": m.outage_s,
        "outage_from_fault": m.outage_from_fault_s,
        "garp_vs_netlink": None if delta is None else abs(delta),
    }
    return {k: v for k, v in values.items() if v is not None and math.isfinite(v)}


def baseline_key(test: str, vip: str, fault: str, figure: str, phase: str = "failover") -> str:
    """A pytest figure's key: ``test/vip/fault/figure`` (``fault (recovery)`` for a
    recovery measure)."""
    label = fault if phase == "failover" else f"{fault} ({phase})"
    return f"{test}/{vip}/{label}/{figure}"


def _joined(values: Iterable[str]) -> str:
    return ",".join(sorted(set(values)))


def run_baseline(
    records: Iterable[FailoverRecord],
    topology: str | None,
    probe_interval_ms: float = PROBE_INTERVAL.default,
) -> Baseline:
    """The run's figures as a baseline (``source`` pytest), in the order they were measured,
    with the client probe's interval as a condition (the outage is resolved to it).

    The records of one key that name several topologies or engines (one test measuring the
    same VIP and fault on two labs) keep them all in the subject, comma-separated."""
    samples: dict[str, list[float]] = {}
    seen: dict[str, list[FailoverRecord]] = {}
    for rec in records:
        phase = rec.measure.phase
        for fig, value in figures(rec.measure).items():
            key = baseline_key(rec.nodeid, rec.vip, rec.fault, fig, phase)
            samples.setdefault(key, []).append(value)
            seen.setdefault(key, []).append(rec)
    entries: dict[str, Entry] = {}
    for key, values in samples.items():
        recs = seen[key]
        first = recs[0]
        subject = {
            "test": first.nodeid,
            "topology": _joined(r.topology for r in recs),
            "engine": _joined(r.engine for r in recs),
            "vip": first.vip,
            "fault": first.fault,
        }
        if first.measure.phase != "failover":
            subject["phase"] = first.measure.phase
        entries[key] = Entry(key.rsplit("/", 1)[1], tuple(values), subject)
    return Baseline(topology, SOURCE, entries, {PROBE_CONDITION: probe_interval_ms})


def check_baseline(base: Baseline, name: str) -> None:
    """BaselineError, naming the file as ``name`` and the field, unless ``base`` was saved by
    pytest and names the test of every entry."""
    if base.source != SOURCE:
        how = " (compare with it in halab bench --baseline)" if base.source == "bench" else ""
        raise BaselineError(
            f'{name}: source: "{base.source}": saved by halab {base.source}, not by pytest '
            f"--hal-save-baseline{how}"
        )
    for key, entry in base.entries.items():
        if not entry.subject.get("test"):
            raise BaselineError(
                f"{name}: entries[{json.dumps(key)}].subject.test: missing (a pytest baseline "
                "names the test of every entry)"
            )


# ---------------------------------------------------------------- the verdict


def _some(keys: Collection[str]) -> str:
    shown = ", ".join(sorted(keys)[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


@dataclass(frozen=True)
class Verdict:
    """The gate's verdict on one run."""

    name: str  # how the lines name the baseline file
    max_regression_pct: float
    compared: int  # the baseline's figures of tests that ran
    regressions: tuple[Regression, ...]
    not_run: tuple[str, ...]  # the baseline's keys whose test did not run: not gated
    not_run_tests: int  # how many tests those are
    ungated: tuple[str, ...]  # the run's keys that the baseline lacks: not gated

    @property
    def passed(self) -> bool:
        return not self.regressions

    def lines(self) -> list[str]:
        """One line per failed figure, then what was not gated."""
        out = [str(r) for r in self.regressions]
        if self.ungated:
            out.append(
                f"not gated: {len(self.ungated)} figure(s) of this run have no entry in "
                f"{self.name}: {_some(self.ungated)}"
            )
        if self.not_run:
            out.append(
                f"not gated: {len(self.not_run)} figure(s) in {self.name} of "
                f"{self.not_run_tests} test(s) that did not run in this session"
            )
        return out

    def summary(self) -> str:
        """The verdict in one line."""
        said = rule(self.max_regression_pct)
        if self.passed:
            return (
                f"halab regression gate passed: {self.compared} figure(s) compared with "
                f"{self.name}, none {said}"
            )
        missing = sum(1 for r in self.regressions if r.current is None)
        other = sum(1 for r in self.regressions if r.differs)
        regressed = len(self.regressions) - missing - other
        return (
            f"halab regression gate FAILED: of {self.compared} figure(s) compared with "
            f"{self.name}, {regressed} regressed ({said}), {missing} not measured, {other} "
            f"measured on another topology or engine; exit status {int(EXIT_STATUS)}"
        )


def judge(
    base: Baseline, name: str, current: Baseline, ran: Collection[str], max_regression_pct: float
) -> Verdict:
    """Compare the run (``current``, from :func:`run_baseline`) with ``base``, gating only
    the tests in ``ran`` (the node ids of the tests that ran) and the tests that measured."""
    tests = set(ran) | {e.subject.get("test") for e in current.entries.values()}
    gated = {k: e for k, e in base.entries.items() if e.subject.get("test") in tests}
    regressions = compare(
        Baseline(base.topology, base.source, gated, base.conditions, base.created),
        current,
        max_regression_pct,
        same_subject=True,
    )
    not_run = {k: e for k, e in base.entries.items() if k not in gated}
    return Verdict(
        name,
        max_regression_pct,
        len(gated),
        tuple(regressions),
        tuple(not_run),
        len({e.subject.get("test") for e in not_run.values()}),
        tuple(k for k in current.entries if k not in base.entries),
    )


# ---------------------------------------------------------------- configure time


@dataclass(frozen=True)
class GatePlan:
    """What the gate does in this run, checked at configure time."""

    baseline: Baseline | None  # to compare with (None in xdist workers: they only report)
    baseline_name: str  # the file as given, for messages
    save_to: Path | None
    max_regression_pct: float
    topology: str | None  # the session's --hal-topology: the saved file's topology
    probe_interval_ms: float = PROBE_INTERVAL.default  # the run's client probe


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except (OSError, ValueError):
        return False


def plan(settings: HalabSettings, *, load_baseline: bool = True) -> GatePlan | None:
    """The gate of this run (None: neither --hal-baseline nor --hal-save-baseline), with the
    baseline loaded and checked (unless ``load_baseline`` is false: an xdist worker).
    pytest.UsageError, naming where the bad value came from, before anything starts."""
    pct_source = settings.source_of(MAX_REGRESSION.name)
    if settings.baseline is None and pct_source == MAX_REGRESSION.option:
        problem = f"needs {BASELINE.option} FILE (the figures to compare with)"
        raise usage_error(MAX_REGRESSION, pct_source, problem)
    if settings.baseline is None and settings.save_baseline is None:
        return None
    topology = settings.topology.name if settings.topology is not None else None
    base: Baseline | None = None
    name = str(settings.baseline) if settings.baseline is not None else ""
    if settings.baseline is not None:
        source = settings.source_of(BASELINE.name)
        if settings.save_baseline is not None and _same_file(
            settings.baseline, settings.save_baseline
        ):
            raise usage_error(
                BASELINE,
                source,
                f"{name} is also the baseline to save (from "
                f"{settings.source_of(SAVE_BASELINE.name)}): the run would overwrite the "
                "figures it compares with",
            )
        if load_baseline:
            try:
                base = load(settings.baseline)
                check_baseline(base, name)
            except BaselineError as exc:
                raise usage_error(BASELINE, source, str(exc)) from None
            if topology is not None and base.topology not in (None, topology):
                raise usage_error(
                    BASELINE,
                    source,
                    f"baseline {name} is for topology {base.topology}, this run's topology "
                    f"is {topology} (from {settings.source_of('topology')})",
                )
            _check_probe_interval(base, name, settings, source)
    return GatePlan(
        base,
        name,
        settings.save_baseline,
        settings.max_regression_pct,
        topology,
        settings.probe_interval_ms,
    )


def _check_probe_interval(base: Baseline, name: str, settings: HalabSettings, source: str) -> None:
    """A baseline measured with the client probing at another interval is refused: its
    outages were resolved to that interval, this run's would be to another. A baseline
    without the condition was saved before the interval could be set: at the default."""
    then = base.conditions.get(PROBE_CONDITION, PROBE_INTERVAL.default)
    now = settings.probe_interval_ms
    if isinstance(then, str) or not math.isclose(then, now):
        shown = then if isinstance(then, str) else f"{then:g}"
        raise usage_error(
            BASELINE,
            source,
            f"baseline {name} was measured with the client probing every {shown} ms, this "
            f"run probes every {now:g} ms (from {settings.source_of(PROBE_INTERVAL.name)}): "
            "the client outage is resolved to the probe's interval; give the run "
            f"{PROBE_INTERVAL.option} {shown}, or save a new baseline",
        )


# ---------------------------------------------------------------- the plugin


class RegressionGate:
    """Registered with the plugin manager (as ``halab-gate``) when the run saves or compares a
    baseline. Each process that runs tests notes which ran; an xdist worker sends them to
    the controller, which (or a plain run) gates and writes at the end of the test loop."""

    def __init__(self, gate: GatePlan, records: ReportCollector, config: pytest.Config) -> None:
        self.plan = gate
        self.records = records
        self.config = config
        self.ran: set[str] = set()
        self.lines: list[tuple[str, dict[str, bool]]] = []  # (text, terminal markup)

    @property
    def _worker(self) -> bool:
        return distribute.worker_input(self.config) is not None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        # Ran: its body ran and passed or failed, or its setup failed (no figure can come
        # of it: MISSING). Skipped (also from the body) and xfailed tests did not.
        body_ran = report.when == "call" and report.outcome in ("passed", "failed")
        if body_ran or (report.when == "setup" and report.outcome == "failed"):
            self.ran.add(distribute.original_nodeid(item.nodeid, item))
        return report

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._worker:
            out: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
            out[WORKER_KEY] = json.dumps(sorted(self.ran))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """The controller receives the tests a worker ran (xdist hook)."""
        raw = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if raw:
            self.ran.update(json.loads(raw))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            result = yield
        except BaseException:
            if not self._worker:
                self._line("halab regression gate: not evaluated, the run was interrupted")
            raise
        gates = not self._worker and not self.config.option.collectonly
        if gates and not self.finish():
            session.testsfailed += 1  # the run exits with EXIT_STATUS
        return result

    def finish(self) -> bool:
        """Gate and write, as asked; the lines go to the terminal summary. False: the gate
        failed, or the baseline could not be written."""
        ok = True
        current = run_baseline(self.records, self.plan.topology, self.plan.probe_interval_ms)
        if self.plan.baseline is not None:
            verdict = judge(
                self.plan.baseline,
                self.plan.baseline_name,
                current,
                self.ran,
                self.plan.max_regression_pct,
            )
            for text in verdict.lines():
                self._line(text)
            ok = verdict.passed
            self._line(verdict.summary(), red=not ok, green=ok, bold=True)
        if self.plan.save_to is not None:
            ok = self._save(current, self.plan.save_to) and ok
        return ok

    def _save(self, current: Baseline, path: Path) -> bool:
        status = f"exit status {int(EXIT_STATUS)}"
        if not current.entries:
            self._line(
                f"halab: no failover figure was measured in this run: {path} not written; {status}",
                red=True,
            )
            return False
        try:
            save(current, path)
        except OSError as exc:
            self._line(
                f"halab: could not write the baseline {path}: {exc.strerror or exc}; {status}",
                red=True,
            )
            return False
        tests = {e.subject["test"] for e in current.entries.values()}
        self._line(
            f"halab: baseline of {len(current.entries)} figure(s) from {len(tests)} test(s) "
            f"written to {path}"
        )
        return True

    def _line(self, text: str, **markup: bool) -> None:
        self.lines.append((text, markup))

    @pytest.hookimpl(trylast=True)  # after the failover measures table
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("halab regression gate")
            for text, markup in self.lines:
                terminalreporter.write_line(text, **markup)

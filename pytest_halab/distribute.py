"""pytest-xdist: which worker runs which tests, on which Docker engine, and what comes back.

pytest-xdist does the distributing; this module only tells it what belongs together:

- **Groups.** Each test that uses a lab is put in an ``xdist_group`` named after that lab's
  topology, so the tests of one topology run on one worker, which builds the lab once: in
  the group they come ordered by VRRP engine, and the worker switches the running lab's
  engines between them (``Lab.use_engines``, the session's pool) instead of building a lab
  per engine. A big group is cut into consecutive chunks, so one topology does not hold the
  whole run on one worker: each chunk costs one more lab, and buys parallel time. When
  ``-n`` is given without ``--dist``, the run uses ``--dist loadgroup`` (which distributes
  tests without a group as ``load`` does). A test the user grouped already is left alone.
- **Order.** xdist hands out its units of work (a group, or a test alone) in the order the
  workers collected them, one more to a worker whenever it has two tests or fewer left: the
  units come longest first (a lab group, a test that starts labs of its own, ... an inner
  pytest session last), so that the run does not end waiting for a minute-long test that was
  handed out last while the other workers sit idle. A unit's length is what its tests took
  in the last run (pytest's cache), else in the ``--hal-durations`` file (a fresh clone has
  no cache), else an estimate by kind (``estimate_s``). The plain tests, CPU work without a
  lab, are what a quarter of the workers start with, while the others start labs that then
  wait on VRRP timers (``longest_first``). With ``--dist`` given, xdist's own order stays
  (groups by number of tests).
- **Engines.** Worker ``gwN`` runs its labs on the N-th engine of ``--hal-docker-host``,
  round robin; images are built on the first engine and copied to the others.
- **Results.** Each worker sends its failover records and its labs' entries for
  ``labs.json`` to the controller (xdist's ``workeroutput``), which prints one summary
  table and writes one ``labs.json``.

A test's lab is known at collection time when it uses the session's lab (``lab``, ``hal``,
``faults``: the ``--hal-topology``), when its parameters name a shipped topology, or when its
``lab`` marker names the topology (labmark.py); its engine then comes from its parameters,
the marker, ``--hal-vrrp`` or the topology. Other tests that use ``lab_factory`` are grouped by
their module (their labs are usually the module's).
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
from collections.abc import Callable, Generator, Sequence
from typing import Any

import pytest

from . import engines, labmark
from .errors import TopologyError
from .settings import HalabSettings

SESSION_LAB_FIXTURES = frozenset({"lab", "hal", "faults"})
FACTORY_FIXTURES = frozenset({"lab_factory", "hal_scenario"})
GROUP_PREFIX = "halab:"
MIN_CHUNK = 4  # a lab start costs about as much as a few tests: never cut smaller


def worker_input(config: pytest.Config) -> dict[str, Any] | None:
    """xdist's worker input when this process is a worker, else None."""
    wi = getattr(config, "workerinput", None)
    return wi if isinstance(wi, dict) else None


def worker_index(config: pytest.Config) -> int:
    """0 for ``gw0`` (and for a run without xdist), N for ``gwN``."""
    wi = worker_input(config)
    if wi is None:
        return 0
    digits = "".join(ch for ch in str(wi.get("workerid", "")) if ch.isdigit())
    return int(digits or 0)


def worker_count(config: pytest.Config) -> int:
    wi = worker_input(config)
    if wi is not None:
        return int(wi.get("workercount") or 1)
    return int(getattr(config.option, "numprocesses", 0) or 0) or 1


def is_controller(config: pytest.Config) -> bool:
    """This process hands tests to xdist workers (and runs none itself)."""
    return worker_input(config) is None and getattr(config.option, "dist", "no") != "no"


def _dist_given(config: pytest.Config) -> bool:
    args = [
        *config.invocation_params.args,
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *(config.getini("addopts") or []),
    ]
    return any(str(a) in ("-d", "--dist") or str(a).startswith("--dist=") for a in args)


LOADGROUP_INPUT = "halab_loadgroup"


def choose_dist(config: pytest.Config) -> None:
    """``-n N`` alone means ``--dist loadgroup``: our groups decide (an explicit ``--dist``
    is the user's choice, kept)."""
    if getattr(config.option, "dist", "no") == "load" and not _dist_given(config):
        config.option.dist = "loadgroup"
        # xdist would sort the units by number of tests: ours come longest first
        config.option.loadscopereorder = False


def loadgroup_in_worker(config: pytest.Config) -> bool:
    """In a worker: whether the run distributes by group. A worker parses the command line
    again, where ``-n N`` alone says ``--dist no``; xdist would then add no group to the
    node ids, and every test would be a unit of its own (each worker building the labs of
    every topology). So the controller says it in the worker's input (``XdistController``),
    and the worker sets the option xdist reads when it names the collected tests."""
    wi = worker_input(config)
    if wi is not None and wi.get(LOADGROUP_INPUT):
        config.option.loadgroup = True
    return bool(getattr(config.option, "loadgroup", False))


class XdistController:
    """Registered in the controller of a ``--dist loadgroup`` run: tells each worker so."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[LOADGROUP_INPUT] = True


def engine_url(config: pytest.Config, urls: Sequence[str]) -> str | None:
    """The engine this process's labs run on: round robin over the workers (None: the
    environment's engine)."""
    if not urls:
        return None
    return urls[worker_index(config) % len(urls)]


# ------------------------------------------------------------------ groups


def lab_key(item: pytest.Item, settings: HalabSettings) -> str | None:
    """The lab a test will use, as far as collection can tell (``lab_of``), as one string
    ``LAB/ENGINES``; None: no lab."""
    got = lab_of(item, settings)
    return None if got is None else "/".join(p for p in got if p)


def lab_stems(item: pytest.Item, settings: HalabSettings) -> frozenset[str] | None:
    """The topologies (their files' stems) a test will use, as far as collection can tell
    (``lab_of``): empty for a test that uses no lab, None when collection cannot name them
    (a ``lab_factory`` test without a ``lab`` marker: its lab is its module's)."""
    got = lab_of(item, settings)
    if got is None:
        return frozenset()
    if got[0] == _module_of(item):
        return None
    return frozenset(got[0].split("+"))


def _module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def halab_fixtures(item: pytest.Item) -> set[str]:
    """The fixtures a test uses, less those of its own that only share a name with one of
    the plugin's: a test module's fixture ``lab`` that makes a directory is no lab (one that
    asks for the plugin's ``lab`` itself, to add to it, still is)."""
    names = set(getattr(item, "fixturenames", ()))
    info = getattr(item, "_fixtureinfo", None)
    defs = getattr(info, "name2fixturedefs", None) or {}
    for name in names & (SESSION_LAB_FIXTURES | FACTORY_FIXTURES):
        chain = defs.get(name)
        if not chain:
            continue
        closest = chain[-1]
        module = str(getattr(closest.func, "__module__", ""))
        if module.split(".", 1)[0] != "pytest_halab" and name not in closest.argnames:
            names.discard(name)
    return names


def lab_of(item: pytest.Item, settings: HalabSettings) -> tuple[str, str] | None:
    """The lab a test will use, as far as collection can tell, and its engines; None: no
    lab.

    The lab is the topology's name when the test uses the session's lab, names its topology
    in a ``lab`` marker (labmark.py) or as a parameter, else the test's module. Its engines
    come from its parameters, the marker, the run's ``--hal-vrrp`` or else the topology's
    own (``halab``, ``lb1=halab,lb2=keepalived``; empty where none can be told)."""
    fixtures = halab_fixtures(item)
    if fixtures & SESSION_LAB_FIXTURES and settings.topology is not None:
        engine = settings.vrrp or settings.topology.spec.vrrp_engine
        return settings.topology.path.stem, engine
    if not fixtures & (FACTORY_FIXTURES | SESSION_LAB_FIXTURES):
        return None
    from . import topology as topology_mod  # only where a test asks for a lab

    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    shipped = set(topology_mod.available())
    known = set(engines.names())
    paths = {
        topology_mod.resolve(v) for v in params.values() if isinstance(v, str) and v in shipped
    }
    names = sorted({v for v in params.values() if isinstance(v, str) and v in known})
    pairs = sorted(
        ",".join(f"{k}={v}" for k, v in sorted(p.items()))
        for p in params.values()
        if isinstance(p, dict) and p and all(v in known for v in p.values())
    )
    mark = labmark.of(item)
    if mark is not None:
        # a name that is no topology: the test's setup fails with it (labmark.LabMarkCheck)
        with contextlib.suppress(TopologyError):
            paths.update(labmark.resolve(item, t) for t in mark.topologies)
        if mark.vrrp and not names:
            names = [mark.vrrp]
    if not paths:
        return _module_of(item), "/".join([*names, *pairs])
    if not names and not pairs:
        names = sorted({settings.vrrp or labmark.default_engine(p) for p in paths})
    return "+".join(sorted(p.stem for p in paths)), "/".join([*names, *pairs])


def assign_groups(
    items: Sequence[pytest.Item],
    key: Callable[[pytest.Item], tuple[str, str] | None],
    workers: int,
) -> list[tuple[pytest.Item, str]]:
    """The tests that use a lab and have no group yet, each with its group's name, in the
    order to run them: the tests of one lab (``key``: lab, engines) form a group, ordered by
    engines (those met first in collection first; collection order within), so the lab
    switches engines once per engine set; a group longer than the chunk size (the lab tests
    spread over twice the workers, at least MIN_CHUNK) is cut into consecutive chunks."""
    by_lab: dict[str, dict[str, list[pytest.Item]]] = {}
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        k = key(item)
        if k is not None:
            by_lab.setdefault(k[0], {}).setdefault(k[1], []).append(item)
    total = sum(len(m) for by_engines in by_lab.values() for m in by_engines.values())
    chunk = max(MIN_CHUNK, math.ceil(total / max(1, 2 * workers)))
    out: list[tuple[pytest.Item, str]] = []
    for lab, by_engines in by_lab.items():
        members = [item for m in by_engines.values() for item in m]
        parts = math.ceil(len(members) / chunk)
        for i, item in enumerate(members):
            suffix = f"#{i // chunk + 1}" if parts > 1 else ""
            out.append((item, f"{GROUP_PREFIX}{lab}{suffix}"))
    return out


class XdistGroups:
    """Registered in xdist workers running ``--dist loadgroup``: marks each lab test with
    its group before xdist reads the marks (tryfirst)."""

    def __init__(self, settings: HalabSettings) -> None:
        self.settings = settings

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        grouped = assign_groups(items, lambda it: lab_of(it, self.settings), worker_count(config))
        for item, name in grouped:
            item.add_marker(pytest.mark.xdist_group(name=name))
        # a worker runs a group's tests in the order they have here (assign_groups')
        ids = {id(item) for item, _name in grouped}
        items[:] = [it for it, _name in grouped] + [it for it in items if id(it) not in ids]

    @pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
    def pytest_collection_modifyitems_last(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Last, once every conftest has marked its tests (``lab``): the units longest
        first (what xdist hands out in this order, ``choose_dist``)."""
        cache = getattr(config, "cache", None)
        cached = cache.get(DURATIONS_KEY, {}) if cache is not None else {}
        # the run's file (--hal-durations) where the cache has nothing: a fresh clone's case
        known = {**(self.settings.durations or {}), **(cached if isinstance(cached, dict) else {})}
        # a quarter of the workers (one at least) starts with the plain tests
        workers = worker_count(config)
        items[:] = longest_first(items, known, fill_after=workers - max(1, workers // 4))

    @pytest.hookimpl(wrapper=True)
    def pytest_collection_finish(self, session: pytest.Session) -> Generator[None, None, None]:
        """The test ids xdist sends the controller carry their group (``@NAME``) while it
        sends them, and only then.

        xdist's worker names a grouped test ``ID@GROUP`` by setting ``item._nodeid``, which
        pytest 9 no longer reads (a node's id is ``item._id``): the controller then got
        plain ids, and every test was a unit of its own, so each worker built the labs of
        nearly every topology. Reports keep the plain ids: the scheduler matches results
        by index, not by id."""
        swapped = []
        for item in session.items:
            mark = item.get_closest_marker("xdist_group")
            old = getattr(item, "_id", None)
            if mark is None or old is None or "@" in item.nodeid:
                continue  # not grouped, or an older pytest where xdist's suffix holds
            name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
            item._id = _node_id(f"{item.nodeid}@{name}")
            swapped.append((item, old))
        try:
            return (yield)
        finally:
            for item, old in swapped:
                item._id = old


# ------------------------------------------------------------------ order

DURATIONS_KEY = "halab/durations"  # pytest's cache: node id -> seconds, from the last runs
LAB_START_S = 7.0  # a lab's start, paid once by a group's worker (about 5-10 s here)
PLAIN_S = 0.2  # a test without a lab nor an inner session (``estimate_s``)


def estimate_s(item: pytest.Item, grouped: bool) -> float:
    """What a test takes, roughly, when no run has recorded it: on a lab its group's worker
    holds, about 8 s (VRRP timers of a second, a fault, a restore); one that starts labs of
    its own (``lab`` marker, no group: the CLI, an inner pytest session) about 20; an inner
    pytest session without a lab 3; any other test a fifth of a second. Only the order
    these give matters."""
    if grouped:
        return 8.0
    if item.get_closest_marker("lab") is not None:
        return 20.0
    if "pytester" in getattr(item, "fixturenames", ()):
        return 3.0
    return PLAIN_S


def _group_of(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))


def _is_filler(item: pytest.Item) -> bool:
    """A test that neither uses nor starts a lab nor runs an inner pytest session (the kind
    ``estimate_s`` gives the plain estimate): work for the CPU, not for VRRP timers."""
    return _group_of(item) is None and estimate_s(item, grouped=False) == PLAIN_S


def longest_first(
    items: Sequence[pytest.Item], known: dict[str, Any], fill_after: int = 0
) -> list[pytest.Item]:
    """The items as units of work (a group's tests together, in their order; any other test
    alone), the units ordered by length, longest first (collection order among equals). A
    unit's length is the sum of its tests': what ``known`` recorded (node id -> seconds),
    else ``estimate_s``; a group adds its lab's start when none of its tests is known.

    With ``fill_after`` K, the plain tests (``_is_filler``) come after the first K units
    instead of where their length puts them (mostly last): xdist hands each worker one unit
    at the start, so the workers after the K-th start with the plain tests and take them one
    at a time until none is left, while the others start labs. A lab's tests mostly wait on
    VRRP timers of a second, and with only labs at the start the host's CPU was a third idle
    from 20 to 130 s into a run; the plain tests are CPU work that fits there, rather than at
    the end of the run where the CPU was busy. The inner pytest sessions, short and without
    a lab, stay last to fill the end.
    """
    units: dict[str, list[pytest.Item]] = {}
    for n, item in enumerate(items):
        units.setdefault(_group_of(item) or f"#{n}", []).append(item)
    length: dict[str, float] = {}
    for key, members in units.items():
        grouped = not key.startswith("#")
        total = 0.0
        recorded = False
        for item in members:
            got = known.get(original_nodeid(item.nodeid, item))
            if isinstance(got, int | float) and got >= 0:
                total += float(got)
                recorded = True
            else:
                total += estimate_s(item, grouped)
        length[key] = total + (LAB_START_S if grouped and not recorded else 0.0)
    order = sorted(units, key=lambda k: -length[k])  # stable: collection order among equals
    if fill_after > 0:
        fillers = [k for k in order if k.startswith("#") and _is_filler(units[k][0])]
        if fillers:
            chosen = set(fillers)
            rest = [k for k in order if k not in chosen]
            order = [*rest[:fill_after], *fillers, *rest[fill_after:]]
    return [item for key in order for item in units[key]]


class DurationsRecorder:
    """Registered in the process that reports the tests (xdist's controller, or a run
    without xdist) when pytest's cache is on: each test's setup, call and teardown summed,
    written to the cache at the end (``DURATIONS_KEY``, merged with what earlier runs
    recorded), for the next run's order."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.durations: dict[str, float] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when in ("setup", "call", "teardown"):
            # plain ids here (XdistGroups); with an older pytest xdist's "@group" stays on
            nodeid = report.nodeid.split(f"@{GROUP_PREFIX}", 1)[0]
            self.durations[nodeid] = self.durations.get(nodeid, 0.0) + report.duration

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is None or not self.durations:
            return
        old = cache.get(DURATIONS_KEY, {})
        merged = dict(old) if isinstance(old, dict) else {}
        merged.update({k: round(v, 3) for k, v in self.durations.items()})
        cache.set(DURATIONS_KEY, merged)


def _node_id(text: str) -> Any:
    from _pytest.nodeid import coerce_node_id  # pytest 9's node ids (absent before)

    return coerce_node_id(text)


def original_nodeid(item_nodeid: str, item: pytest.Item) -> str:
    """The node id without the ``@group`` suffix xdist adds under loadgroup."""
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return item_nodeid
    name = mark.args[0] if mark.args else mark.kwargs.get("name", "default")
    suffix = f"@{name}"
    return item_nodeid[: -len(suffix)] if item_nodeid.endswith(suffix) else item_nodeid

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


def lab_of(item: pytest.Item, settings: HalabSettings) -> tuple[str, str] | None:
    """The lab a test will use, as far as collection can tell, and its engines; None: no
    lab.

    The lab is the topology's name when the test uses the session's lab, names its topology
    in a ``lab`` marker (labmark.py) or as a parameter, else the test's module. Its engines
    come from its parameters, the marker, the run's ``--hal-vrrp`` or else the topology's
    own (``halab``, ``lb1=halab,lb2=keepalived``; empty where none can be told)."""
    fixtures = set(getattr(item, "fixturenames", ()))
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
        return item.nodeid.split("::", 1)[0], "/".join([*names, *pairs])
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
        # xdist hands out the biggest groups first, then the rest in collection order, and a
        # worker runs a group's tests in the order they have here: lab tests go first, so
        # that no lab test (seconds to a minute each) is what the run waits for at its end
        # while the other workers have finished, each group's tests in assign_groups' order
        ids = {id(item) for item, _name in grouped}
        rest = [it for it in items if id(it) not in ids]
        items[:] = [it for it, _name in grouped] + sorted(rest, key=_weight_class)

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


def _weight_class(item: pytest.Item) -> int:
    """Of the tests not in a lab group: 0, a test that needs a lab (``lab`` marker, e.g. a
    pytester run that starts its own); 1, the rest. ``sorted`` keeps each class's order."""
    return 0 if item.get_closest_marker("lab") is not None else 1


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

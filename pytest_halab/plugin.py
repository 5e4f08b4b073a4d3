"""pytest hooks, options and fixtures of pytest-halab. Thin: the work is in lab.py.

Settings come from the command line, then the environment (HALAB_TOPOLOGY, HALAB_VRRP),
then ini options (halab_topology, halab_vrrp), and are resolved once into a frozen
``HalabSettings`` kept under ``SETTINGS_KEY`` in ``config.stash``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from . import engines as engines_mod
from . import topology as topology_mod
from .errors import HalabError
from .faults import Faults
from .lab import Lab
from .measures import FailoverMeasure
from .report import ReportCollector, junit_properties, plot_timeline, write_json
from .scenario import Scenario
from .topology import Topology

ENGINES = engines_mod.names()
Engine = str
MAX_LABS = 4  # labs kept running at once by one session


@dataclass(frozen=True)
class HalabSettings:
    """Resolved plugin settings; ``source`` says where each value came from."""

    topology: Topology | None
    vrrp: Engine | None
    keep: bool
    report_dir: Path | None
    source: dict[str, str]


SETTINGS_KEY = pytest.StashKey[HalabSettings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("halab", "high-availability lab (pytest-halab)")
    group.addoption(
        "--hal-topology",
        metavar="NAME|PATH",
        default=None,
        help="topology of the session's `lab` fixture (name in lab/topologies "
        "or path to a .yaml file); env HALAB_TOPOLOGY, ini halab_topology",
    )
    group.addoption(
        "--hal-vrrp",
        choices=ENGINES,
        default=None,
        help="VRRP engine on the balancers (default: the topology's); "
        "env HALAB_VRRP, ini halab_vrrp",
    )
    group.addoption(
        "--hal-keep",
        action="store_true",
        default=False,
        help="leave labs up after the run (remove with `halab down`)",
    )
    group.addoption(
        "--hal-report",
        metavar="DIR",
        default=None,
        help="reports: per test a JSON timeline + PNG picture; labs.json",
    )
    parser.addini("halab_topology", "default topology of the `lab` fixture", default="")
    parser.addini("halab_vrrp", "default VRRP engine (keepalived|halab)", default="")


def _setting(config: pytest.Config, opt: str, env: str, ini: str) -> tuple[str | None, str]:
    val = config.getoption(opt)
    if val:
        return str(val), f"--{opt.replace('_', '-')}"
    if os.environ.get(env):
        return os.environ[env], f"environment {env}"
    ini_val = config.getini(ini)
    if ini_val:
        return str(ini_val), f"ini option {ini}"
    return None, "default"


def resolve_settings(config: pytest.Config) -> HalabSettings:
    """Settings from CLI, environment and ini; bad values raise pytest.UsageError naming
    their source."""
    source: dict[str, str] = {}
    topo_name, source["topology"] = _setting(
        config, "hal_topology", "HALAB_TOPOLOGY", "halab_topology"
    )
    vrrp, source["vrrp"] = _setting(config, "hal_vrrp", "HALAB_VRRP", "halab_vrrp")
    if vrrp is not None and vrrp not in ENGINES:
        raise pytest.UsageError(
            f"halab: VRRP engine {vrrp!r} from {source['vrrp']} is not one of {', '.join(ENGINES)}"
        )
    topo = None
    if topo_name:
        try:
            topo = topology_mod.load(topo_name)
        except HalabError as exc:
            raise pytest.UsageError(f"halab: topology from {source['topology']}: {exc}") from None
    report = config.getoption("hal_report")
    return HalabSettings(
        topology=topo,
        vrrp=vrrp,
        keep=bool(config.getoption("hal_keep")),
        report_dir=Path(report) if report else None,
        source=source,
    )


class HalabRun:
    """Run state registered with the plugin manager: the labs this session started and the
    failover measures its tests took."""

    def __init__(self, settings: HalabSettings) -> None:
        self.settings = settings
        self.labs: dict[tuple[str, str], Lab] = {}  # (topology path, engine label) -> lab
        self.records = ReportCollector()
        self._old_sigterm: Any = None

    def scenario(self, request: pytest.FixtureRequest, lab: Lab) -> Iterator[Scenario]:
        """A Scenario for one test: measures go to the JUnit record and the summary; with
        --hal-report, the test's timeline (JSON) and a picture of it are written."""
        node = request.node

        def record(m: FailoverMeasure) -> None:
            layout = lab.layout
            self.records.record(node.nodeid, layout.topology if layout else "?", str(lab.engine), m)
            for name, value in junit_properties(m):
                node.user_properties.append((name, value))

        with Scenario(lab, record=record) as hal:
            yield hal
        if self.settings.report_dir is not None:
            self._write_test_report(node.nodeid, lab, hal)

    def _write_test_report(self, nodeid: str, lab: Lab, hal: Scenario) -> None:
        assert self.settings.report_dir is not None
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]
        tl = hal.observation.timeline()
        meta = {
            "test": nodeid,
            "lab": lab.lab_id,
            "vrrp": lab.engine_label,
            "topology": lab.layout.topology if lab.layout else None,
        }
        write_json(self.settings.report_dir / f"{stem}.json", tl, hal.measures, meta=meta)
        try:
            plot_timeline(
                self.settings.report_dir / f"{stem}.png",
                tl,
                {v: str(ip) for v, ip in lab.vip_addresses().items()},
                tl.of_kind("fault"),
                initial=hal.observation.initial_holders,
                title=nodeid,
            )
        except RuntimeError as exc:  # matplotlib missing: the JSON is still there
            warnings.warn(f"halab: no timeline picture for {nodeid}: {exc}", stacklevel=1)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if len(self.records):
            terminalreporter.write_line("")
            terminalreporter.write_line(self.records.render_text())

    def get_lab(
        self,
        topo: Topology | str,
        vrrp: Engine | None = None,
        node_engines: dict[str, Engine] | None = None,
    ) -> Lab:
        """A running lab for this topology and engine (``node_engines``: per-balancer
        overrides, e.g. ``{"lb2": "keepalived"}`` for an interop lab), started on first use."""
        if isinstance(topo, str):
            topo = topology_mod.load(topo)
        engine: Engine = vrrp or self.settings.vrrp or topo.spec.vrrp_engine
        overrides = dict(node_engines or {})
        key = (
            str(topo.path),
            ";".join([engine, *(f"{n}={e}" for n, e in sorted(overrides.items()))]),
        )
        if key in self.labs and not self.labs[key].alive():
            self.labs.pop(key).stop()  # removed under us (`halab clean`): start afresh
        if key not in self.labs and not self.settings.keep:
            # A 2-core machine runs a few labs well, not ten: the least recently used goes.
            while len(self.labs) >= MAX_LABS:
                oldest = next(iter(self.labs))
                self.labs.pop(oldest).stop()
        if key not in self.labs:
            lab = Lab(topo, engine=engine, keep=self.settings.keep, node_engines=overrides)
            lab.start()
            self.labs[key] = lab
        self.labs[key] = self.labs.pop(key)  # most recently used last
        return self.labs[key]

    def write_report(self) -> None:
        """With --hal-report=DIR: DIR/labs.json, each lab's layout, timings and final status."""
        if self.settings.report_dir is None or not self.labs:
            return
        out = []
        for lab in self.labs.values():
            entry: dict[str, Any] = {"lab": lab.lab_id, "timings_s": lab.timings}
            try:
                entry["status"] = lab.status()
            except Exception as exc:  # a dead lab still gets its entry
                entry["status_error"] = str(exc)
            out.append(entry)
        self.settings.report_dir.mkdir(parents=True, exist_ok=True)
        (self.settings.report_dir / "labs.json").write_text(json.dumps(out, indent=2))

    def stop_all(self) -> None:
        errors = []
        while self.labs:
            _key, lab = self.labs.popitem()
            if self.settings.keep:
                continue
            try:
                lab.stop()
            except Exception as exc:  # keep going: remove every other lab too
                errors.append(exc)
        if errors:
            raise errors[0]

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # A SIGTERM (CI timeout, docker stop) becomes Ctrl-C, so teardown removes the lab.
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            self.write_report()
        finally:
            self.stop_all()
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)

    def pytest_report_header(self, config: pytest.Config) -> str:
        s = self.settings
        if s.topology is None:
            return "halab: no topology selected (--hal-topology)"
        engine = s.vrrp or s.topology.spec.vrrp_engine
        return (
            f"halab: topology {s.topology.name} ({s.topology.path}), vrrp {engine}"
            f"{' (keep)' if s.keep else ''}"
        )


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: the test needs a real Docker lab")
    settings = resolve_settings(config)
    config.stash[SETTINGS_KEY] = settings
    config.pluginmanager.register(HalabRun(settings), "halab-run")


def _run(config: pytest.Config) -> HalabRun:
    run = config.pluginmanager.get_plugin("halab-run")
    assert isinstance(run, HalabRun)
    return run


@pytest.fixture(scope="session")
def lab_factory(pytestconfig: pytest.Config) -> Callable[..., Lab]:
    """``lab_factory(topology, vrrp=None, node_engines=None)``: a running lab for any
    topology (and engine, or per-balancer engines), shared by the
    session (started on first use, removed at session end unless --hal-keep)."""
    return _run(pytestconfig).get_lab


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config, lab_factory: Callable[..., Lab]) -> Iterator[Lab]:
    """The session's lab, built from --hal-topology: ``lab.node("lb1").exec(...)``,
    ``lab.vip_holders()``, ``lab.status()``."""
    settings = pytestconfig.stash[SETTINGS_KEY]
    if settings.topology is None:
        raise pytest.UsageError(
            "halab: the `lab` fixture needs a topology: pass --hal-topology=NAME|PATH "
            f"(shipped: {', '.join(topology_mod.available())})"
        )
    yield lab_factory(settings.topology)


@pytest.fixture
def hal(request: pytest.FixtureRequest, lab: Lab) -> Iterator[Scenario]:
    """The test's scenario on the session lab: ``hal.faults`` to inject, ``hal.failover()``
    / ``hal.recovery()`` to measure, ``hal.timeline()`` for everything observed. Faults are
    reverted and the lab restored at the end of the test."""
    yield from _run(request.config).scenario(request, lab)


@pytest.fixture
def hal_scenario(request: pytest.FixtureRequest) -> Iterator[Callable[[Lab], Scenario]]:
    """``hal_scenario(lab)``: like ``hal`` for a lab of your choosing (from ``lab_factory``)."""
    gens: list[Iterator[Scenario]] = []

    def make(lab: Lab) -> Scenario:
        gen = _run(request.config).scenario(request, lab)
        gens.append(gen)
        return next(gen)

    yield make
    errors = []
    for gen in reversed(gens):
        try:
            next(gen, None)
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def faults(hal: Scenario) -> Faults:
    """Fault injection on the session lab (the faults of ``hal``)."""
    return hal.faults

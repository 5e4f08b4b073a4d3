"""pytest hooks, options and fixtures of pytest-halab: wiring only.

Settings are resolved by ``settings.resolve`` (command line, then environment, then ini, then
default) into one frozen ``HalabSettings`` under ``settings.SETTINGS_KEY`` in
``config.stash``. The run state (the lab pool, the measures, the reports) is a
``session.HalabRun`` registered with the plugin manager as ``halab-run``; with
``--hal-baseline`` or ``--hal-save-baseline``, the failover regression gate is a
``gate.RegressionGate`` registered as ``halab-gate``; with pytest-html's ``--html``, the
pictures' way there is an ``htmlextras.HtmlExtras`` registered as ``halab-html``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from . import distribute, engines, gate, htmlextras
from .session import HalabRun
from .settings import (
    BASELINE,
    DOCKER_HOSTS,
    DURATIONS,
    KEEP,
    MAX_REGRESSION,
    PROBE_INTERVAL,
    REPORT,
    SAVE_BASELINE,
    SETTINGS_KEY,
    TOPOLOGY,
    VRRP,
    resolve,
)

if TYPE_CHECKING:
    # Loaded when a test asks for a lab, or an engine is named: pytest's start-up in a
    # project that installs the plugin but uses no lab stays as it was (session.py).
    from .dockerhost import DockerHost
    from .faults import Faults
    from .lab import Lab
    from .scenario import Scenario

RUN_PLUGIN = "halab-run"
GATE_PLUGIN = "halab-gate"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("halab", "high-availability lab (pytest-halab)")
    group.addoption(
        TOPOLOGY.option,
        dest=TOPOLOGY.dest,
        metavar="NAME|PATH",
        default=None,
        help="topology of the session's `lab` fixture (name in lab/topologies "
        f"or path to a .yaml file); env {TOPOLOGY.env}, ini {TOPOLOGY.ini}",
    )
    group.addoption(
        VRRP.option,
        dest=VRRP.dest,
        choices=engines.names(),
        default=None,
        help="VRRP engine on the balancers (default: the topology's); "
        f"env {VRRP.env}, ini {VRRP.ini}",
    )
    group.addoption(
        KEEP.option,
        dest=KEEP.dest,
        action="store_true",
        default=None,  # None: not given, so the environment or the ini file may decide
        help="leave labs up after the run (remove with `halab down`); "
        f"env {KEEP.env}, ini {KEEP.ini} (1/0, true/false, yes/no)",
    )
    group.addoption(
        REPORT.option,
        dest=REPORT.dest,
        metavar="DIR",
        default=None,
        help="reports: per test a JSON timeline + PNG picture; labs.json; "
        f"env {REPORT.env}, ini {REPORT.ini}",
    )
    group.addoption(
        DOCKER_HOSTS.option,
        dest=DOCKER_HOSTS.dest,
        metavar="URL",
        action="append",
        default=None,
        help="Docker engine for the labs (unix://, tcp://, ssh://); repeat it to spread "
        "pytest-xdist workers over several engines, round robin; "
        f"env {DOCKER_HOSTS.env}, ini {DOCKER_HOSTS.ini} (space-separated)",
    )
    group.addoption(
        SAVE_BASELINE.option,
        dest=SAVE_BASELINE.dest,
        metavar="FILE",
        default=None,
        help="write the failover figures of every test (a baseline for a later "
        f"{BASELINE.option}); env {SAVE_BASELINE.env}, ini {SAVE_BASELINE.ini}",
    )
    group.addoption(
        BASELINE.option,
        dest=BASELINE.dest,
        metavar="FILE",
        default=None,
        help="compare each test's failover figures with a saved baseline: exit status 1 if "
        f"a median rose more than {MAX_REGRESSION.option} and above the baseline's p90, or a "
        f"test that ran did not measure it; env {BASELINE.env}, ini {BASELINE.ini}",
    )
    group.addoption(
        MAX_REGRESSION.option,
        dest=MAX_REGRESSION.dest,
        metavar="PCT",
        default=None,
        help="allowed rise of a median over the baseline's, in percent "
        f"(default {MAX_REGRESSION.default:g}); env {MAX_REGRESSION.env}, "
        f"ini {MAX_REGRESSION.ini}",
    )
    group.addoption(
        PROBE_INTERVAL.option,
        dest=PROBE_INTERVAL.dest,
        metavar="MS",
        default=None,
        help="milliseconds between the client probe's requests to each VIP in every "
        f"scenario ({PROBE_INTERVAL.default:g}; 1-1000): the client outage is resolved to it, "
        f"and the probe's CPU grows with its rate; env {PROBE_INTERVAL.env}, "
        f"ini {PROBE_INTERVAL.ini}",
    )
    group.addoption(
        DURATIONS.option,
        dest=DURATIONS.dest,
        metavar="FILE",
        default=None,
        help="what each test took (JSON, the format of .pytest_cache/v/halab/durations), "
        "for the order of the tests under pytest-xdist where pytest's cache has not "
        f"recorded it; env {DURATIONS.env}, ini {DURATIONS.ini}",
    )
    parser.addini(TOPOLOGY.ini, "default topology of the `lab` fixture", default="")
    parser.addini(DURATIONS.ini, "file of the tests' durations (order under xdist)", default="")
    parser.addini(DOCKER_HOSTS.ini, "Docker engine URLs for the labs (space-separated)", default="")
    parser.addini(VRRP.ini, f"default VRRP engine ({'|'.join(engines.names())})", default="")
    parser.addini(KEEP.ini, "leave labs up after the run (1/0, true/false, yes/no)", default="")
    parser.addini(REPORT.ini, "directory of the halab reports", default="")
    parser.addini(BASELINE.ini, "baseline file to compare the failover figures with", default="")
    parser.addini(SAVE_BASELINE.ini, "baseline file to write the failover figures to", default="")
    parser.addini(
        PROBE_INTERVAL.ini,
        f"ms between the client probe's requests (default {PROBE_INTERVAL.default:g})",
        default="",
    )
    pct = MAX_REGRESSION.default
    parser.addini(
        MAX_REGRESSION.ini, f"allowed rise of a median, percent (default {pct:g})", default=""
    )


def pytest_configure(config: pytest.Config) -> None:
    # The marker's one registration: users of the installed plugin get it from here.
    config.addinivalue_line(
        "markers",
        "lab(*topologies, vrrp=None): the test needs a real Docker lab; the topologies its "
        "lab_factory calls use, so that pytest-xdist groups it with their other tests",
    )
    settings = resolve(config)
    config.stash[SETTINGS_KEY] = settings
    # The baseline is read and checked first: a bad one stops the run before any engine is asked.
    worker = distribute.worker_input(config) is not None
    gate_plan = gate.plan(settings, load_baseline=not worker)
    hosts = _docker_hosts(config, settings.docker_hosts)
    if not worker and hosts:
        from .capacity import check_engines

        # Before any lab starts, in the process that runs (or hands out) the tests: every
        # engine answers, and holds the labs the workers bound to it will run.
        check_engines(hosts, distribute.worker_count(config), settings.source_of("docker_hosts"))
    if config.pluginmanager.hasplugin("xdist"):
        distribute.choose_dist(config)
        if distribute.is_controller(config) and config.option.dist == "loadgroup":
            config.pluginmanager.register(distribute.XdistController(), "halab-xdist-controller")
        if distribute.loadgroup_in_worker(config):
            config.pluginmanager.register(distribute.XdistGroups(settings), "halab-xdist-groups")
    if distribute.worker_input(config) is None and config.pluginmanager.hasplugin("cacheprovider"):
        # each test's duration, for the next run's order under xdist (distribute.longest_first)
        config.pluginmanager.register(distribute.DurationsRecorder(config), "halab-durations")
    url = distribute.engine_url(config, settings.docker_hosts)
    mine = next((h for h in hosts if h.url == url), None)
    run = HalabRun(settings, docker_host=mine, config=config)
    config.pluginmanager.register(run, RUN_PLUGIN)
    config.pluginmanager.register(run.mark_check, "halab-lab-marks")
    if htmlextras.wanted(config):
        # pytest-html is installed and its report asked for: each test's picture goes there
        run.html = True
        config.pluginmanager.register(htmlextras.HtmlExtras(run), htmlextras.HTML_PLUGIN)
    if gate_plan is not None:
        config.pluginmanager.register(
            gate.RegressionGate(gate_plan, run.records, config), GATE_PLUGIN
        )


def _docker_hosts(config: pytest.Config, urls: tuple[str, ...]) -> list[DockerHost]:
    """The engines of --hal-docker-host; images are built on the first, copied to others."""
    if not urls:
        return []
    from .dockerhost import DockerHost

    source = config.stash[SETTINGS_KEY].source_of("docker_hosts")
    hosts = [DockerHost(url, source) for url in urls]
    for h in hosts[1:]:
        h.image_source = hosts[0]
    return hosts


def _run(config: pytest.Config) -> HalabRun:
    run = config.pluginmanager.get_plugin(RUN_PLUGIN)
    assert isinstance(run, HalabRun)
    return run


@pytest.fixture(scope="session")
def lab_factory(pytestconfig: pytest.Config) -> Callable[..., Lab]:
    """``lab_factory(topology, vrrp=None, node_engines=None, pin=False)``: a running lab for
    any topology (and engine, or per-balancer engines), shared by the session (started on
    first use, removed at session end unless --hal-keep). A test's lab is its own for the
    test; ``pin=True`` keeps it from being switched to other engines or paused between
    tests, for a fixture that holds it across modules."""
    return _run(pytestconfig).get_lab


@pytest.fixture(scope="session")
def halab_docker(pytestconfig: pytest.Config) -> DockerHost:
    """The Docker engine this session's labs run on (under pytest-xdist: this worker's)."""
    run = _run(pytestconfig)
    if run.docker_host is None:
        from . import dockerhost

        run.docker_host = dockerhost.from_env()
    return run.docker_host


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config, lab_factory: Callable[..., Lab]) -> Iterator[Lab]:
    """The session's lab, built from --hal-topology: ``lab.node("lb1").exec(...)``,
    ``lab.vip_holders()``, ``lab.status()``."""
    settings = pytestconfig.stash[SETTINGS_KEY]
    if settings.topology is None:
        from . import topology as topology_mod

        raise pytest.UsageError(
            "halab: the `lab` fixture needs a topology: pass --hal-topology=NAME|PATH "
            f"(shipped: {', '.join(topology_mod.available())})"
        )
    # pinned: the session holds it, the pool never switches its engines for another test
    yield _run(pytestconfig).get_lab(settings.topology, pin=True)


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

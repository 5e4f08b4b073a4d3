"""The run state of a pytest session: the labs it started, the measures its tests took.

``HalabRun`` is registered with the plugin manager by ``plugin.pytest_configure`` (as
pytest-xdist registers its DSession) and holds its own hooks: the report header, the
terminal summary, SIGTERM handling and the teardown of every lab at session end.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import re
import signal
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import pytest

from . import distribute
from .errors import EngineWarning, LabMismatchError
from .htmlextras import TestPicture
from .labmark import LabMarkCheck
from .report import (
    FailoverRecord,
    PoolRecord,
    ReportCollector,
    junit_properties,
    pool_junit_properties,
    write_json,
)
from .settings import HalabSettings
from .timeline import EventKind, Timeline

if TYPE_CHECKING:
    # The lab, its scenario and the picture are loaded by the first test that asks for a
    # lab: a pytest run that uses none (the plugin is installed for every project) does not
    # pay for them at start-up.
    from .dockerhost import DockerHost
    from .lab import Lab
    from .measures import FailoverMeasure
    from .poolmeasures import PoolChange
    from .scenario import Scenario
    from .topology import Topology


def report_stem(nodeid: str) -> str:
    """The file name (without suffix) of a test's report files: a readable form of the node
    id plus a short hash of the whole id, so ``test[a b]`` and ``test[a_b]`` (the same
    readable form) or two long ids sharing their first 100 characters never share a file."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_.")[:100] or "test"
    digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{readable}-{digest}"


def picture_args(lab: Lab, hal: Scenario, timeline: Timeline) -> dict[str, Any]:
    """What the timeline picture of a scenario draws beside its timeline (the keyword
    arguments of ``picture.draw_timeline`` but the title): the lab's VIPs, balancers,
    addresses and VRIDs, the faults, the holders at the start, the measures taken."""
    layout = lab.layout
    return {
        "vips": {v: str(ip) for v, ip in lab.vip_addresses().items()},
        "fault_events": timeline.of_kind("fault"),
        "initial": hal.observation.initial_holders,
        "servers": {str(n.ip): n.name for n in lab.nodes.values()},
        "balancers": [b.name for b in lab.balancers()],
        "vrids": {
            d.vrid: d.instance
            for d in (layout.vips.values() if layout else ())
            if d.vrid is not None and d.instance is not None
        },
        "measures": list(hal.measures),
        "pool_changes": list(hal.pool_changes),
    }


def note_instances(lab: Lab, hal: Scenario) -> None:
    """Each balancer's instances as its engine's status dump says (state, effective
    priority), as ``vrrp_status`` events stamped when asked: the picture's start for an
    instance that says nothing more in the window (a backup whose priority never changes).
    A balancer that cannot say is left out; a lab that cannot be asked is a warning, never
    the test's error."""
    asked = time.time()
    try:
        statuses = lab.instances()
    except Exception as exc:
        warnings.warn(f"halab: no engine status for the picture: {exc}", stacklevel=1)
        return
    for node, said in statuses.items():
        if isinstance(said, str):
            continue
        for inst in said:
            hal.observation.note(
                node,
                EventKind.VRRP_STATUS,
                at=asked,
                instance=inst.name,
                state=inst.state,
                priority=inst.effective_priority,
                base_priority=inst.base_priority,
                vrid=inst.vrid,
            )


MAX_LABS = 4  # labs kept running at once by one session: a 2-core machine runs a few well
# Under pytest-xdist each worker gets the tests of one lab together (distribute.py), so it
# seldom goes back to an older lab: two per worker, and the workers' labs fit the machine.
WORKER_MAX_LABS = 2


class RunningLab(Protocol):
    """What the pool needs of a lab."""

    def alive(self) -> bool: ...

    def stop(self) -> None: ...

    def pause(self) -> list[str]: ...

    def wake(self) -> None: ...


K = TypeVar("K", bound=Hashable)
L = TypeVar("L", bound=RunningLab)


class LabPool(Generic[K, L]):
    """Running labs by key, each started by ``start(key)`` on first use.

    At most ``max_labs`` run at once: before another starts, the least recently used is
    stopped. A lab found dead (removed under us, e.g. by ``halab clean``) is stopped and
    started afresh. With ``keep``, no lab is ever stopped by the pool, however many there are.

    With ``reuse``, a running lab may be made to serve another key instead of starting one
    (``reuse(old_key, lab, new_key)`` says whether it could: the session switches a lab's
    VRRP engines). Never a lab the current test has been given (``new_test`` says when one
    begins) nor a pinned one, never with ``keep``; the first choice with ``reuse_first``
    (an xdist worker, whose tests come ordered by lab and engine), else only instead of
    stopping one to make room.

    ``pause_unwanted`` freezes the labs the next tests will not use (never a pinned one, nor
    any with ``keep``): a paused lab is woken (``wake``) when a test asks for it again or
    it is switched to other engines, and stopped as any other when it is evicted or at the
    end. One that cannot be woken is stopped and, when asked for, started afresh.
    """

    def __init__(
        self,
        start: Callable[[K], L],
        *,
        keep: bool = False,
        max_labs: int = MAX_LABS,
        remember: tuple[type[Exception], ...] = (),
        reuse: Callable[[K, L, K], bool] | None = None,
        reuse_first: bool = False,
    ) -> None:
        self._start = start
        self.keep = keep
        self.max_labs = max_labs
        self._labs: OrderedDict[K, L] = OrderedDict()  # least recently used first
        self._reuse = reuse
        self._reuse_first = reuse_first
        self._leased: set[K] = set()  # the keys the current test was given
        self._pinned: set[K] = set()
        # Start failures that would only repeat (``remember``): raised again at once for
        # the same key, as pytest does for a session fixture that failed, instead of
        # building the same lab to see it fail again for every test.
        self._remember = remember
        self._failed: dict[K, Exception] = {}
        self._unstopped: list[L] = []
        self._paused: set[K] = set()
        self.paused_count = 0  # labs paused so far (a lab paused twice counts twice)
        self.woken = 0  # paused labs woken so far

    def get(self, key: K, *, pin: bool = False) -> L:
        """The running lab for ``key``, started (after making room) if there is none.
        ``pin``: it is never made to serve another key (a session fixture holds it)."""
        lab = self._labs.get(key)
        if lab is not None and key in self._paused:
            lab = self._woken(key)
        if lab is not None and not lab.alive():
            del self._labs[key]
            lab.stop()  # whatever is left of it
            lab = None
        if lab is None:
            if key in self._failed:
                raise self._failed[key]
            lab = self._reused(key)
            if lab is None:
                if not self.keep:
                    while len(self._labs) >= self.max_labs:
                        oldest, evicted = self._labs.popitem(last=False)
                        self._pinned.discard(oldest)
                        self._paused.discard(oldest)
                        self._stop_evicted(evicted)
                try:
                    lab = self._start(key)
                except self._remember as exc:
                    self._failed[key] = exc
                    raise
            self._labs[key] = lab
        self._labs.move_to_end(key)
        self._leased.add(key)
        if pin:
            self._pinned.add(key)
        return lab

    def pause_unwanted(self, wanted: Callable[[K], bool]) -> int:
        """Pause the running labs ``wanted`` declines (see the class); how many. For between
        tests: a lab the test just finished with counts as free."""
        if self.keep:
            return 0
        idle = [
            k
            for k in self._labs
            if k not in self._pinned and k not in self._paused and not wanted(k)
        ]
        for key in idle:
            # marked paused whatever the engine said: a wake starts what was frozen
            self._paused.add(key)
            self.paused_count += 1
            refused = self._labs[key].pause()
            if refused:
                warnings.warn(
                    EngineWarning(
                        "halab: an idle lab was not wholly paused (it is woken at its next "
                        f"use as it is): {'; '.join(refused)}"
                    ),
                    stacklevel=2,
                )
        return len(idle)

    def paused(self) -> list[L]:
        """The paused labs."""
        return [lab for k, lab in self._labs.items() if k in self._paused]

    def wake_all(self) -> None:
        """Wake every paused lab (one that cannot be woken is stopped, with a warning)."""
        for key in [k for k in self._labs if k in self._paused]:
            self._woken(key)

    def _woken(self, key: K) -> L | None:
        """The paused lab of ``key`` woken, or None: it could not be, and was stopped."""
        self._paused.discard(key)
        lab = self._labs[key]
        self.woken += 1
        try:
            lab.wake()
        except Exception as exc:
            del self._labs[key]
            self._pinned.discard(key)
            self._stop_evicted(lab)
            warnings.warn(
                EngineWarning(f"halab: a paused lab could not be woken, stopped instead: {exc}"),
                stacklevel=3,
            )
            return None
        return lab

    def new_test(self) -> None:
        """A test begins: the labs the previous one was given may be reused."""
        self._leased.clear()

    def _reused(self, key: K) -> L | None:
        """A running lab made to serve ``key`` (see the class), or None."""
        if self._reuse is None or self.keep:
            return None
        if not self._reuse_first and len(self._labs) < self.max_labs:
            return None
        for old in reversed(list(self._labs)):  # the most recently used first
            if old in self._leased or old in self._pinned:
                continue
            if old in self._paused and self._woken(old) is None:
                continue
            lab = self._labs[old]
            if not lab.alive():
                continue
            try:
                reused = self._reuse(old, lab, key)
            except BaseException as exc:
                # half switched: it serves neither key
                del self._labs[old]
                self._stop_evicted(lab)
                if isinstance(exc, self._remember):
                    self._failed[key] = exc
                raise
            if reused:
                del self._labs[old]
                return lab
        return None

    def _stop_evicted(self, lab: L) -> None:
        """Stop a lab to make room. What the engine will not remove yet (a network it says
        still has endpoints after its containers are gone: seen on Docker 20.10 under
        pytest-xdist) is tried again at ``stop_all``, not made the error of the test that
        needed the room."""
        try:
            lab.stop()
        except Exception as exc:
            self._unstopped.append(lab)
            warnings.warn(
                EngineWarning(f"halab: a lab not removed yet, tried again at the end: {exc}"),
                stacklevel=2,
            )

    def __len__(self) -> int:
        return len(self._labs)

    def __iter__(self) -> Iterator[L]:
        """The labs, least recently used first."""
        return iter(list(self._labs.values()))

    def stop_all(self) -> None:
        """Stop every lab (none with ``keep``), the most recently used first; every lab is
        tried, and the first error is raised at the end."""
        errors: list[Exception] = []
        self._paused.clear()
        while self._labs:
            _key, lab = self._labs.popitem()
            if self.keep:
                continue
            try:
                lab.stop()
            except Exception as exc:  # keep going: remove every other lab too
                errors.append(exc)
        while self._unstopped:  # evicted labs the engine did not let go of at the time
            try:
                self._unstopped.pop().stop()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


@dataclass(frozen=True)
class LabRequest:
    """Which lab a test asked for: a topology (known by its path) and the engines to run."""

    topology: Topology = field(compare=False)
    path: str
    engine: str  # an engine name (pytest_halab.engines)
    node_engines: tuple[tuple[str, str], ...] = ()  # (balancer, engine), sorted


class HalabRun:
    """Run state registered with the plugin manager: the labs this session started and the
    failover measures and pool changes its tests took."""

    def __init__(
        self,
        settings: HalabSettings,
        start_lab: Callable[[LabRequest], Lab] | None = None,
        *,
        docker_host: DockerHost | None = None,
        config: pytest.Config | None = None,
    ) -> None:
        self.settings = settings
        self.docker_host = docker_host
        self.config = config
        worker = config is not None and distribute.worker_input(config) is not None
        self._worker = worker
        self.labs: LabPool[LabRequest, Lab] = LabPool(
            start_lab or self._start_lab,
            keep=settings.keep,
            max_labs=WORKER_MAX_LABS if worker else MAX_LABS,
            remember=(LabMismatchError,),
            reuse=self._switch_lab,
            reuse_first=worker,
        )
        self.records = ReportCollector()
        # each test's lab requests, checked against its `lab` marker (registered with this)
        self.mark_check = LabMarkCheck()
        # With pytest-html's report asked for (htmlextras.HtmlExtras): each test's pictures,
        # by item node id, until its teardown report takes them.
        self.html = False
        self._pictures: dict[str, list[TestPicture]] = {}
        self._worker_labs: list[dict[str, Any]] = []  # labs.json entries from xdist workers
        # each lab this run started (all workers'): (topology, engine, seconds to start)
        self.started: list[tuple[str, str, float]] = []
        # each running lab whose engines this run switched: (topology, engine, seconds)
        self.switched: list[tuple[str, str, float]] = []
        # labs xdist workers paused while idle, and woke again (the controller's sums)
        self.paused_elsewhere = 0
        self.woken_elsewhere = 0
        self._old_sigterm: Any = None
        if worker:
            # A worker the controller tears down (Ctrl-C, -x) may exit without a session
            # finish: its labs go at interpreter exit. A SIGKILLed one leaves them to the
            # next run's sweep, or `halab clean`.
            atexit.register(self._stop_quietly)

    # ------------------------------------------------------------ labs

    def _start_lab(self, req: LabRequest) -> Lab:
        from .lab import Lab

        lab = Lab(
            req.topology,
            engine=req.engine,
            keep=self.settings.keep,
            node_engines=dict(req.node_engines),
            docker_host=self.docker_host,
        )
        t0 = time.monotonic()
        lab.start()
        self.started.append((req.topology.name, req.engine, time.monotonic() - t0))
        self._warn_engine_warnings(lab)
        return lab

    def _switch_lab(self, old: LabRequest, lab: Lab, new: LabRequest) -> bool:
        """The pool's reuse: a running lab of the same topology made to run the engines
        ``new`` asks for (``Lab.use_engines``), instead of a lab started for them."""
        if old.path != new.path:
            return False
        t0 = time.monotonic()
        lab.use_engines(new.engine, dict(new.node_engines))
        self.switched.append((new.topology.name, new.engine, time.monotonic() - t0))
        self._warn_engine_warnings(lab)
        return True

    def _warn_engine_warnings(self, lab: Lab) -> None:
        for node, lines in lab.engine_warnings().items():
            for line in lines:
                warnings.warn(EngineWarning(f"lab {lab.lab_id}: {node}: {line}"), stacklevel=1)

    def get_lab(
        self,
        topo: Topology | str,
        vrrp: str | None = None,
        node_engines: dict[str, str] | None = None,
        *,
        pin: bool = False,
    ) -> Lab:
        """A running lab for this topology and engine (``node_engines``: per-balancer
        overrides, e.g. ``{"lb2": "keepalived"}`` for an interop lab), started on first use,
        or a running lab of the topology whose engines are switched (the pool's reuse; never
        one the test has already been given). ``pin``: never switched nor paused (the
        session's lab, or one a fixture keeps for tests in several modules)."""
        if isinstance(topo, str):
            from . import topology as topology_mod

            topo = topology_mod.load(topo)
        self.mark_check.requested(topo.path)
        engine = vrrp or self.settings.vrrp or topo.spec.vrrp_engine
        req = LabRequest(topo, str(topo.path), engine, tuple(sorted((node_engines or {}).items())))
        return self.labs.get(req, pin=pin)

    # ------------------------------------------------------------ per test

    def scenario(self, request: pytest.FixtureRequest, lab: Lab) -> Iterator[Scenario]:
        """A Scenario for one test: failover measures and pool changes go to the JUnit
        record and the summary; with --hal-report, the test's timeline (JSON) and a picture
        of it are written; with pytest-html's --html, the picture and the measures go to
        the test's row there."""
        node = request.node
        nodeid = distribute.original_nodeid(node.nodeid, node)

        def topology() -> str:
            return lab.layout.topology if lab.layout else "?"

        def record(m: FailoverMeasure) -> None:
            self.records.record(nodeid, topology(), str(lab.engine), m)
            node.user_properties.extend(junit_properties(m))

        def record_pool(change: PoolChange) -> None:
            checker = ""
            # the lab's status is read from the nodes: a director gone since is no error
            with contextlib.suppress(Exception):
                said = next((c for c in lab.checkers() if c["node"] == change.director), None)
                checker = f"{said['checker']}, {said.get('plane', '?')}" if said else ""
            self.records.record_pool(nodeid, topology(), str(lab.engine), change, checker=checker)
            node.user_properties.extend(pool_junit_properties(change))

        from .scenario import Scenario

        hal = Scenario(
            lab,
            record=record,
            record_pool=record_pool,
            probe_interval=self.settings.probe_interval_ms / 1000,
        )
        pictures = self.settings.report_dir is not None or self.html
        try:
            with hal:
                if pictures:
                    note_instances(lab, hal)
                yield hal
        finally:
            # Written however the test or the restore ended: a failed restore (a lab that
            # cannot be put back) is when the timeline is most wanted.
            if self.settings.report_dir is not None or self.html:
                self._write_report_quietly(nodeid, node.nodeid, lab, hal)

    def take_pictures(self, item_nodeid: str) -> list[TestPicture]:
        """The pictures drawn for a test (its scenarios'), forgotten here once taken."""
        return self._pictures.pop(item_nodeid, [])

    def _write_report_quietly(self, nodeid: str, item_nodeid: str, lab: Lab, hal: Scenario) -> None:
        """The test's report; a failure to write it is a warning, never the test's error."""
        try:
            self._write_test_report(nodeid, item_nodeid, lab, hal)
        except Exception as exc:
            warnings.warn(
                f"halab: no report for {nodeid}: {type(exc).__name__}: {exc}", stacklevel=1
            )

    def _write_test_report(self, nodeid: str, item_nodeid: str, lab: Lab, hal: Scenario) -> None:
        from .picture import measure_lines, picture_png

        tl = hal.observation.timeline()
        out = self.settings.report_dir
        if out is not None:
            self._write_json(out / f"{report_stem(nodeid)}.json", nodeid, lab, hal, tl)
        try:
            png = picture_png(tl, title=nodeid, **picture_args(lab, hal, tl))
        except RuntimeError as exc:  # matplotlib missing: the JSON is still there
            warnings.warn(f"halab: no timeline picture for {nodeid}: {exc}", stacklevel=1)
            return
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{report_stem(nodeid)}.png").write_bytes(png)
        if self.html:
            lines = tuple(measure_lines(hal.measures, hal.pool_changes))
            pic = TestPicture(f"{nodeid} ({lab.engine_label})", png, lines)
            self._pictures.setdefault(item_nodeid, []).append(pic)

    def _write_json(self, path: Path, nodeid: str, lab: Lab, hal: Scenario, tl: Timeline) -> None:
        meta = {
            "test": nodeid,
            "lab": lab.lab_id,
            "docker": lab.host.name,
            "vrrp": lab.engine_label,
            "topology": lab.layout.topology if lab.layout else None,
            "engine_warnings": lab.engine_warnings(),
        }
        write_json(path, tl, hal.measures, meta=meta, pool_changes=hal.pool_changes)

    # ------------------------------------------------------------ end of the run

    def lab_entries(self) -> list[dict[str, Any]]:
        """This process's labs, as labs.json entries: layout, timings and final status."""
        out = []
        self.labs.wake_all()  # a paused lab's nodes cannot say its final status
        for lab in self.labs:
            entry: dict[str, Any] = {
                "lab": lab.lab_id,
                "docker": lab.host.name,
                "timings_s": lab.timings,
            }
            try:
                entry["status"] = lab.status()
            except Exception as exc:  # a dead lab still gets its entry
                entry["status_error"] = str(exc)
            out.append(entry)
        return out

    def write_report(self) -> None:
        """With --hal-report=DIR: DIR/labs.json, every lab of the run (all xdist workers'
        labs, written once by the controller; a worker sends its entries there)."""
        if self.settings.report_dir is None:
            return
        entries = [*self._worker_labs, *self.lab_entries()]
        if not entries:
            return
        self.settings.report_dir.mkdir(parents=True, exist_ok=True)
        (self.settings.report_dir / "labs.json").write_text(json.dumps(entries, indent=2))

    def _send_to_controller(self) -> None:
        """In an xdist worker: the records and lab entries go to the controller."""
        assert self.config is not None
        out: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
        labs = self.lab_entries() if self.settings.report_dir is not None else []
        out["halab"] = json.dumps(
            {
                "records": self.records.to_dicts(),
                "pool_records": self.records.pool_to_dicts(),
                "labs": labs,
                "started": self.started,
                "switched": self.switched,
                "paused": self.labs.paused_count,
                "woken": self.labs.woken,
            }
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """The controller receives a worker's records and lab entries (xdist hook)."""
        raw = getattr(node, "workeroutput", {}).get("halab")
        if not raw:
            return
        data = json.loads(raw)
        for rec in data.get("records", []):
            self.records.add(FailoverRecord.from_dict(rec))
        for rec in data.get("pool_records", []):
            self.records.add_pool(PoolRecord.from_dict(rec))
        self._worker_labs.extend(data.get("labs", []))
        self.started.extend((str(t), str(e), float(s)) for t, e, s in data.get("started", []))
        self.switched.extend((str(t), str(e), float(s)) for t, e, s in data.get("switched", []))
        self.paused_elsewhere += int(data.get("paused", 0))
        self.woken_elsewhere += int(data.get("woken", 0))

    def stop_all(self) -> None:
        self.labs.stop_all()

    def _stop_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.labs.stop_all()

    # ------------------------------------------------------------ hooks

    def pytest_report_header(self, config: pytest.Config) -> str:
        s = self.settings
        if s.topology is None:
            return "halab: no topology selected (--hal-topology)"
        engine = s.vrrp or s.topology.spec.vrrp_engine
        return (
            f"halab: topology {s.topology.name} ({s.topology.path}), vrrp {engine}"
            f"{' (keep)' if s.keep else ''}"
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.started:
            kinds = len({(t, e) for t, e, _s in self.started})
            took = sum(s for _t, _e, s in self.started)
            switches = ""
            if self.switched:
                spent = sum(s for _t, _e, s in self.switched)
                switches = (
                    f"; {len(self.switched)} switched to other engines instead, "
                    f"{spent:.0f} s spent switching"
                )
            paused = self.paused_elsewhere + self.labs.paused_count
            if paused:
                woken = self.woken_elsewhere + self.labs.woken
                switches += f"; {paused} paused while idle, {woken} of them woken again"
            terminalreporter.write_line(
                f"halab: {len(self.started)} lab(s) started, {kinds} different "
                f"(topology and engine), {took:.0f} s spent starting them{switches}"
            )
        if len(self.records):
            terminalreporter.write_line("")
            terminalreporter.write_line(self.records.render_text())
        if self.records.pool_records:
            terminalreporter.write_line("")
            terminalreporter.write_line(self.records.render_pool_text())

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.labs.new_test()  # before the test's fixtures ask for labs

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, None, None]:
        """In an xdist worker, once a test is torn down and the next one is in another
        module: the labs the next test will not use are paused (``pause_idle_labs``)."""
        try:
            return (yield)
        finally:
            # into another module only: pytest has then finalized this module's fixtures,
            # one of which may hold a lab of the pool (a module-scoped fixture returns one)
            if self._worker and nextitem is not None and nextitem.path != item.path:
                self.pause_idle_labs(nextitem)

    def pause_idle_labs(self, nextitem: pytest.Item) -> None:
        """Pause the labs of the topologies ``nextitem`` will not use, when collection can
        tell which it uses (``distribute.lab_stems``; none when it uses no lab). A worker
        gets the tests of a lab together (distribute.py), so a lab whose tests are done
        would otherwise run idle beside the other workers' tests to the end of the session
        (its engines, checks and observers: 0.7-7 % of a core each at rest). Paused, it
        costs nothing; a later test that asks for it has it woken (``Lab.wake``)."""
        stems = distribute.lab_stems(nextitem, self.settings)
        if stems is not None:
            self.labs.pause_unwanted(lambda req: Path(req.path).stem in stems)

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # A SIGTERM (CI timeout, docker stop) becomes Ctrl-C, so teardown removes the lab.
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            if self.config is not None and distribute.worker_input(self.config) is not None:
                self._send_to_controller()
            else:
                self.write_report()
        finally:
            self.stop_all()
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)


def _sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")

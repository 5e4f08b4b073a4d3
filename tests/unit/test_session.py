"""The run state without Docker: the lab pool's eviction, the keys labs are shared by, and
labs.json, all with fake labs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_halab import engines, topology
from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import EngineWarning
from pytest_halab.lab import Lab
from pytest_halab.session import MAX_LABS, HalabRun, LabPool, LabRequest
from pytest_halab.settings import HalabSettings


@dataclass(eq=False)
class FakeLab:
    key: object
    running: list[FakeLab]  # every fake lab started and not stopped, shared
    is_alive: bool = True
    stops: int = 0
    fail_stop: bool = False
    paused: bool = False
    pauses: int = 0
    refuse_pause: tuple[str, ...] = ()
    wakes: int = 0
    fail_wake: bool = False

    def alive(self) -> bool:
        return self.is_alive and not self.paused  # as Lab.alive: every node running

    def pause(self) -> list[str]:
        self.pauses += 1
        self.paused = True
        return list(self.refuse_pause)

    def wake(self) -> None:
        self.wakes += 1
        if self.fail_wake:
            raise RuntimeError(f"cannot wake {self.key}")
        self.paused = False

    def stop(self) -> None:
        self.stops += 1
        if self in self.running:
            self.running.remove(self)
        if self.fail_stop:
            raise RuntimeError(f"cannot stop {self.key}")


@dataclass
class Starter:
    """The pool's lab-making callable: fake labs, and a check that room was made first."""

    max_running: int | None = None
    running: list[FakeLab] = field(default_factory=list)
    started: list[object] = field(default_factory=list)

    def __call__(self, key: object) -> FakeLab:
        if self.max_running is not None:
            assert len(self.running) < self.max_running, "started before making room"
        lab = FakeLab(key, self.running)
        self.running.append(lab)
        self.started.append(key)
        return lab


def pool(keep: bool = False, max_labs: int = MAX_LABS) -> tuple[LabPool[Any, FakeLab], Starter]:
    start = Starter(max_running=None if keep else max_labs)
    return LabPool(start, keep=keep, max_labs=max_labs), start


def test_a_lab_is_started_once_and_shared() -> None:
    labs, start = pool()
    first = labs.get("a")
    assert labs.get("a") is first
    assert start.started == ["a"]


def test_never_more_than_max_labs_running() -> None:
    labs, start = pool()
    for i in range(3 * MAX_LABS):
        labs.get(i)
        assert len(start.running) <= MAX_LABS
        assert len(labs) == min(i + 1, MAX_LABS)
    assert start.started == list(range(3 * MAX_LABS))


def test_the_least_recently_used_lab_is_stopped_first() -> None:
    labs, _start = pool(max_labs=3)
    a, b, c = labs.get("a"), labs.get("b"), labs.get("c")
    labs.get("a")  # a is now the most recently used: b is the oldest
    labs.get("d")
    assert b.stops == 1 and a.stops == c.stops == 0
    labs.get("e")
    assert c.stops == 1 and a.stops == 0
    assert [lab.key for lab in labs] == ["a", "d", "e"]


def test_an_evicted_lab_is_started_afresh_when_asked_again() -> None:
    labs, start = pool(max_labs=1)
    a = labs.get("a")
    labs.get("b")
    again = labs.get("a")
    assert again is not a and a.stops == 1
    assert start.started == ["a", "b", "a"]


def test_a_dead_lab_is_replaced() -> None:
    labs, start = pool()
    a, b = labs.get("a"), labs.get("b")
    a.is_alive = False  # e.g. removed by `halab clean` under the run
    fresh = labs.get("a")
    assert fresh is not a and fresh.alive()
    assert a.stops == 1  # whatever was left of it is removed
    assert b.stops == 0 and len(labs) == 2
    assert start.started == ["a", "b", "a"]


def test_keep_keeps_every_lab() -> None:
    labs, start = pool(keep=True)
    made = [labs.get(i) for i in range(MAX_LABS + 3)]
    assert len(start.running) == MAX_LABS + 3 and len(labs) == MAX_LABS + 3
    labs.stop_all()
    assert all(lab.stops == 0 for lab in made) and len(labs) == 0


def test_keep_still_replaces_a_dead_lab() -> None:
    labs, _start = pool(keep=True)
    a = labs.get("a")
    a.is_alive = False
    assert labs.get("a") is not a and a.stops == 1


def test_stop_all_stops_every_lab_despite_errors() -> None:
    labs, start = pool()
    a, b, c = labs.get("a"), labs.get("b"), labs.get("c")
    b.fail_stop = c.fail_stop = True
    with pytest.raises(RuntimeError, match="cannot stop c"):  # most recently used first
        labs.stop_all()
    assert a.stops == b.stops == c.stops == 1
    assert len(labs) == 0 and not start.running


def test_an_evicted_lab_that_will_not_go_is_tried_again_at_the_end() -> None:
    labs, _start = pool(max_labs=1)
    a = labs.get("a")
    a.fail_stop = True  # the engine keeps its network for now
    with pytest.warns(EngineWarning, match="cannot stop a"):
        b = labs.get("b")  # the test that needed the room gets its lab all the same
    assert b.key == "b" and a.stops == 1
    a.fail_stop = False
    labs.stop_all()
    assert a.stops == 2 and b.stops == 1


def test_an_evicted_lab_that_never_goes_is_the_end_s_error() -> None:
    labs, _start = pool(max_labs=1)
    labs.get("a").fail_stop = True
    with pytest.warns(EngineWarning):
        labs.get("b")
    with pytest.raises(RuntimeError, match="cannot stop a"):
        labs.stop_all()


# ------------------------------------------------------------ HalabRun


@dataclass(eq=False)
class ReportingLab(FakeLab):
    lab_id: str = "hl000000"
    timings: dict[str, float] = field(default_factory=lambda: {"up": 1.5})
    broken: bool = False
    host: Any = field(default_factory=lambda: DockerHost("tcp://engine.example:2375"))

    def status(self) -> dict[str, Any]:
        if self.broken:
            raise RuntimeError("no such container")
        if self.paused:
            raise RuntimeError("container is paused")
        return {"lab": self.lab_id}


def run_with_fakes(settings: HalabSettings) -> tuple[HalabRun, list[LabRequest]]:
    asked: list[LabRequest] = []
    running: list[FakeLab] = []

    def start_lab(req: LabRequest) -> Lab:
        asked.append(req)
        return cast(Lab, ReportingLab(req, running, lab_id=f"hl{len(asked):06d}"))

    return HalabRun(settings, start_lab=start_lab), asked


def test_labs_are_shared_by_topology_and_engines() -> None:
    topo = topology.load("nginx_master_backup")
    own = topo.spec.vrrp_engine
    other = next(e for e in engines.names() if e != own)
    run, asked = run_with_fakes(HalabSettings())
    mb = run.get_lab("nginx_master_backup")
    assert run.get_lab(topo) is mb  # by name or loaded: the same file
    assert run.get_lab(topo, vrrp=own) is mb
    assert run.get_lab(topo, vrrp=other) is not mb
    interop = run.get_lab(topo, node_engines={"lb2": other})
    assert interop is not mb
    assert run.get_lab(topo, node_engines={"lb2": other}) is interop
    assert [(r.engine, r.node_engines) for r in asked] == [
        (own, ()),
        (other, ()),
        (own, (("lb2", other),)),
    ]


def test_the_engine_is_the_callers_then_the_settings_then_the_topologys() -> None:
    topo = topology.load("nginx_master_backup")
    run, asked = run_with_fakes(HalabSettings())
    run.get_lab(topo)
    assert asked[-1].engine == topo.spec.vrrp_engine
    run, asked = run_with_fakes(HalabSettings(vrrp="halab"))
    run.get_lab(topo)
    assert asked[-1].engine == "halab"
    run.get_lab(topo, vrrp="keepalived")
    assert asked[-1].engine == "keepalived"


def test_hal_keep_keeps_every_lab_of_the_run() -> None:
    run, _asked = run_with_fakes(HalabSettings(keep=True))
    labs = [
        run.get_lab("nginx_master_backup", vrrp=e, node_engines=n)
        for e in engines.names()
        for n in ({}, {"lb1": "halab"}, {"lb2": "halab"})
    ]
    assert len(labs) > MAX_LABS and len(run.labs) == len(labs)
    run.stop_all()
    assert all(cast(FakeLab, lab).stops == 0 for lab in labs)


def test_labs_json_has_every_lab_even_a_broken_one(tmp_path: Path) -> None:
    report = tmp_path / "report"
    run, _asked = run_with_fakes(HalabSettings(report_dir=report))
    run.get_lab("nginx_master_backup")
    broken = cast(ReportingLab, run.get_lab("nginx_master_backup", vrrp="halab"))
    broken.broken = True
    run.write_report()
    entries = json.loads((report / "labs.json").read_text())
    assert entries == [
        {
            "lab": "hl000001",
            "docker": "tcp://engine.example:2375",
            "timings_s": {"up": 1.5},
            "status": {"lab": "hl000001"},
        },
        {
            "lab": "hl000002",
            "docker": "tcp://engine.example:2375",
            "timings_s": {"up": 1.5},
            "status_error": "no such container",
        },
    ]


def test_no_report_without_a_report_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run, _asked = run_with_fakes(HalabSettings())
    run.get_lab("nginx_master_backup")
    run.write_report()
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ reuse (switching engines)


@dataclass
class Reuser:
    """The pool's reuse callable: keys are (topology, engine); a lab of the same topology
    is switched (its key rewritten), unless ``refuse`` or ``fail``."""

    calls: list[tuple[object, object]] = field(default_factory=list)
    fail: Exception | None = None

    def __call__(self, old: Any, lab: FakeLab, new: Any) -> bool:
        self.calls.append((old, new))
        if old[0] != new[0]:
            return False
        if self.fail is not None:
            raise self.fail
        lab.key = new
        return True


def reusing_pool(
    reuse_first: bool = True, max_labs: int = 2, keep: bool = False
) -> tuple[LabPool[Any, FakeLab], Starter, Reuser]:
    start, reuse = Starter(), Reuser()
    p = LabPool(
        start,
        keep=keep,
        max_labs=max_labs,
        remember=(LookupError,),
        reuse=reuse,
        reuse_first=reuse_first,
    )
    return p, start, reuse


def test_a_worker_switches_a_lab_of_the_topology_instead_of_starting_one() -> None:
    p, start, _reuse = reusing_pool()
    ka = p.get(("t", "keepalived"))
    p.new_test()
    assert p.get(("t", "halab")) is ka and ka.key == ("t", "halab")
    assert start.started == [("t", "keepalived")] and len(p) == 1
    p.new_test()
    other = p.get(("u", "halab"))  # another topology: a lab of its own
    assert other is not ka and start.started[-1] == ("u", "halab")
    p.new_test()
    assert p.get(("t", "keepalived")) is ka  # and back
    assert start.started == [("t", "keepalived"), ("u", "halab")]


def test_a_lab_the_test_was_given_or_a_pinned_one_is_never_switched() -> None:
    p, start, _reuse = reusing_pool(max_labs=4)
    ka = p.get(("t", "keepalived"))
    halab = p.get(("t", "halab"))  # the same test: both engines side by side
    assert halab is not ka and ka.key == ("t", "keepalived")
    p.new_test()
    pinned = p.get(("s", "keepalived"), pin=True)
    p.new_test()
    assert p.get(("s", "halab")) is not pinned and pinned.key == ("s", "keepalived")
    assert len(start.started) == 3 + 1


def test_a_single_process_switches_only_instead_of_stopping_a_lab() -> None:
    p, start, _reuse = reusing_pool(reuse_first=False, max_labs=2)
    ka = p.get(("t", "keepalived"))
    p.new_test()
    halab = p.get(("t", "halab"))  # room left: both engines' labs kept running
    assert halab is not ka
    p.new_test()
    assert p.get(("t", "halab", "lb2")) in (ka, halab)  # full: switched, none stopped
    assert len(start.started) == 2 and not any(lab.stops for lab in start.running)


def test_keep_never_switches() -> None:
    p, _start, reuse = reusing_pool(keep=True)
    ka = p.get(("t", "keepalived"))
    p.new_test()
    assert p.get(("t", "halab")) is not ka and reuse.calls == []


def test_a_switch_that_fails_stops_that_lab_and_is_remembered() -> None:
    p, start, reuse = reusing_pool()
    ka = p.get(("t", "keepalived"))
    p.new_test()
    reuse.fail = LookupError("the VIP settled on lb2")
    with pytest.raises(LookupError):
        p.get(("t", "halab"))
    assert ka.stops == 1 and len(p) == 0
    with pytest.raises(LookupError):  # not tried again for that key
        p.get(("t", "halab"))
    assert start.started == [("t", "keepalived")]


def test_a_dead_lab_is_not_switched() -> None:
    p, _start, reuse = reusing_pool()
    ka = p.get(("t", "keepalived"))
    ka.is_alive = False
    p.new_test()
    assert p.get(("t", "halab")) is not ka and reuse.calls == []


def test_the_run_switches_a_labs_engines_and_counts_it() -> None:
    """HalabRun's reuse: only a lab of the same topology file, through Lab.use_engines."""

    @dataclass(eq=False)
    class SwitchingLab(ReportingLab):
        used: list[tuple[str, dict[str, str]]] = field(default_factory=list)

        def use_engines(self, engine: str, node_engines: dict[str, str]) -> bool:
            self.used.append((engine, node_engines))
            return True

        def engine_warnings(self) -> dict[str, list[str]]:
            return {}

    running: list[FakeLab] = []
    run = HalabRun(
        HalabSettings(),
        start_lab=lambda req: cast(Lab, SwitchingLab(req, running)),
    )
    run.labs._reuse_first = True  # as in an xdist worker
    got = run.get_lab("nginx_master_backup", vrrp="keepalived")
    mb = cast(SwitchingLab, got)
    run.labs.new_test()
    assert run.get_lab("nginx_master_backup", node_engines={"lb2": "halab"}) is got
    run.labs.new_test()
    assert run.get_lab("nginx_dual_master", vrrp="halab") is not got
    assert mb.used == [("keepalived", {"lb2": "halab"})]
    assert [(t, e) for t, e, _s in run.switched] == [("nginx_master_backup", "keepalived")]


def test_idle_labs_are_paused_and_woken_when_asked_for_again() -> None:
    labs, start = pool()
    a, b = labs.get("a"), labs.get("b")
    labs.new_test()
    assert labs.pause_unwanted(lambda k: k == "b") == 1
    assert a.paused and not b.paused and labs.paused() == [a]
    assert labs.pause_unwanted(lambda k: k == "b") == 0  # paused once
    labs.new_test()
    assert labs.get("a") is a and not a.paused and a.wakes == 1  # woken, not rebuilt
    assert start.started == ["a", "b"] and labs.paused() == []


def test_a_pinned_lab_or_any_with_keep_is_never_paused() -> None:
    labs, _start = pool()
    pinned = labs.get("s", pin=True)
    labs.new_test()
    assert labs.pause_unwanted(lambda k: False) == 0 and not pinned.paused
    kept, _ = pool(keep=True)
    lab = kept.get("a")
    kept.new_test()
    assert kept.pause_unwanted(lambda k: False) == 0 and not lab.paused


def test_a_paused_lab_that_cannot_be_woken_is_stopped_and_started_afresh() -> None:
    labs, start = pool()
    a = labs.get("a")
    labs.new_test()
    labs.pause_unwanted(lambda k: False)
    a.fail_wake = True
    with pytest.warns(EngineWarning, match="could not be woken, stopped instead: cannot wake a"):
        fresh = labs.get("a")
    assert fresh is not a and a.stops == 1 and start.started == ["a", "a"]


def test_paused_labs_are_evicted_and_stopped_at_the_end_as_others() -> None:
    labs, start = pool(max_labs=2)
    a = labs.get("a")
    labs.new_test()
    labs.pause_unwanted(lambda k: False)
    b, c = labs.get("b"), labs.get("c")  # room for c: a, the oldest, goes
    assert a.stops == 1 and a.wakes == 0 and labs.paused() == []
    labs.new_test()
    labs.pause_unwanted(lambda k: k == "c")
    labs.stop_all()
    assert (b.stops, c.stops, b.wakes) == (1, 1, 0) and start.running == []


def test_a_paused_lab_is_woken_to_be_switched_to_other_engines() -> None:
    p, start, reuse = reusing_pool()
    ka = p.get(("t", "keepalived"))
    p.new_test()
    p.pause_unwanted(lambda k: False)
    p.new_test()
    assert p.get(("t", "halab")) is ka and ka.wakes == 1 and not ka.paused
    assert start.started == [("t", "keepalived")] and len(reuse.calls) == 1


def test_labs_json_wakes_a_paused_lab_for_its_final_status(tmp_path: Path) -> None:
    running: list[FakeLab] = []
    run = HalabRun(
        HalabSettings(report_dir=tmp_path),
        start_lab=lambda req: cast(Lab, ReportingLab(req, running)),
    )
    lab = cast(ReportingLab, run.get_lab("nginx_master_backup", vrrp="keepalived"))
    run.labs.new_test()
    run.labs.pause_unwanted(lambda k: False)
    run.write_report()
    assert lab.wakes == 1
    [entry] = json.loads((tmp_path / "labs.json").read_text())
    assert "status" in entry and "status_error" not in entry


def test_a_worker_pauses_the_labs_the_next_module_s_test_will_not_use() -> None:
    @dataclass
    class Item:
        nodeid: str
        params: dict[str, Any]
        fixturenames: tuple[str, ...] = ("lab_factory",)

        @property
        def callspec(self) -> Any:
            return type("CallSpec", (), {"params": self.params})()

        @property
        def path(self) -> Path:
            return Path(self.nodeid.split("::", 1)[0])

        def get_closest_marker(self, name: str) -> Any:
            return None

        def iter_markers(self, name: str) -> Any:
            return iter(())

    running: list[FakeLab] = []
    run = HalabRun(HalabSettings(), start_lab=lambda req: cast(Lab, ReportingLab(req, running)))
    run._worker = True  # as in an xdist worker
    mb = cast(FakeLab, run.get_lab("nginx_master_backup", vrrp="keepalived"))
    dm = cast(FakeLab, run.get_lab("nginx_dual_master", vrrp="keepalived"))
    run.labs.new_test()
    done = Item("a.py::t", {"name": "nginx_master_backup"})
    same_module = Item("a.py::u", {"name": "nginx_nopreempt"})
    unknown = Item("b.py::v", {})
    nxt = Item("b.py::w", {"name": "nginx_dual_master"})

    def teardown(item: Item, nextitem: Item) -> None:
        hook = run.pytest_runtest_teardown(cast(pytest.Item, item), cast(pytest.Item, nextitem))
        next(hook)
        with pytest.raises(StopIteration):
            hook.send(None)

    teardown(done, same_module)  # the module's fixtures may still hold its labs
    teardown(done, unknown)  # collection cannot tell which labs the next test uses
    assert not mb.paused and not dm.paused
    teardown(done, nxt)
    assert mb.paused and not dm.paused
    run._worker = False  # a run without xdist pauses nothing
    run.get_lab("nginx_master_backup", vrrp="keepalived")
    teardown(done, nxt)
    assert not mb.paused


def test_the_summary_counts_the_labs_paused_and_woken_in_every_worker() -> None:
    class Reporter:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write_line(self, line: str) -> None:
            self.lines.append(line)

    run, _asked = run_with_fakes(HalabSettings())
    run.started.append(("nginx_master_backup", "keepalived", 4.0))
    worker = json.dumps({"paused": 3, "woken": 1, "started": [], "switched": []})
    run.pytest_testnodedown(type("Node", (), {"workeroutput": {"halab": worker}})(), None)
    run.labs.paused_count, run.labs.woken = 2, 0
    out = Reporter()
    run.pytest_terminal_summary(out)
    assert out.lines[0].endswith("; 5 paused while idle, 1 of them woken again")


def test_a_lab_not_wholly_paused_is_a_warning_naming_the_node_and_woken_as_any() -> None:
    labs, _start = pool()
    a = labs.get("a")
    a.refuse_pause = ("lb2: Container abc is not running",)
    labs.new_test()
    with pytest.warns(EngineWarning, match="not wholly paused .*: lb2: Container abc is not"):
        assert labs.pause_unwanted(lambda k: False) == 1
    labs.new_test()
    assert labs.get("a") is a and a.wakes == 1

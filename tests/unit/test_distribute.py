"""pytest-xdist support without Docker: which lab a test uses, the groups, the dist mode,
which engine a worker is bound to, the engines' capacity check, and the host rules' labels."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_halab import capacity, distribute, hostrules, labmark, topology
from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import LabMarkWarning
from pytest_halab.settings import HalabSettings

TESTS = Path(__file__).resolve().parent.parent  # tests/


@dataclass
class FakeItem:
    nodeid: str
    fixturenames: tuple[str, ...] = ()
    params: dict[str, Any] | None = None
    marks: dict[str, Any] = field(default_factory=dict)
    lab_marks: list[Any] = field(default_factory=list)  # closest first, as pytest gives them

    @property
    def callspec(self) -> Any:
        return None if self.params is None else SimpleNamespace(params=self.params)

    @property
    def path(self) -> Path:
        return TESTS / self.nodeid.split("::", 1)[0]

    def get_closest_marker(self, name: str) -> Any:
        return self.marks.get(name)

    def iter_markers(self, name: str) -> Iterator[Any]:
        return iter(self.lab_marks if name == "lab" else [])


def key(item: FakeItem, settings: HalabSettings | None = None) -> str | None:
    return distribute.lab_key(cast(pytest.Item, item), settings or HalabSettings())


def test_the_session_lab_is_the_topology_and_engine() -> None:
    settings = HalabSettings(topology=topology.load("nginx_dual_master"), vrrp="halab")
    assert key(FakeItem("t.py::a", ("hal",)), settings) == "nginx_dual_master/halab"
    default = HalabSettings(topology=topology.load("nginx_master_backup"))
    assert key(FakeItem("t.py::b", ("lab",)), default) == "nginx_master_backup/keepalived"


def test_factory_labs_from_parameters_else_the_module() -> None:
    item = FakeItem("t.py::a[x]", ("lab_factory",), {"name": "nginx_nopreempt", "engine": "halab"})
    assert key(item) == "nginx_nopreempt/halab"
    # no engine among the parameters: the run's --hal-vrrp, else the topology's own
    alone = FakeItem("t.py::a[y]", ("lab_factory",), {"name": "nginx_nopreempt"})
    assert key(alone) == "nginx_nopreempt/keepalived"
    assert key(alone, HalabSettings(vrrp="halab")) == "nginx_nopreempt/halab"
    pair = FakeItem("t.py::b", ("lab_factory",), {"pair": {"lb1": "halab", "lb2": "keepalived"}})
    assert key(pair) == "t.py/lb1=halab,lb2=keepalived"
    assert key(FakeItem("tests/x.py::c", ("hal_scenario",))) == "tests/x.py"
    assert key(FakeItem("tests/x.py::d", ("tmp_path",))) is None


def test_groups_keep_a_lab_together_and_cut_big_ones() -> None:
    items = [FakeItem(f"t.py::a{i}", ("lab_factory",), {"t": "nginx_nopreempt"}) for i in range(9)]
    items += [FakeItem(f"u.py::b{i}", ("lab_factory",)) for i in range(2)]
    items += [FakeItem("v.py::unit")]
    items += [FakeItem("w.py::mine", ("lab_factory",), marks={"xdist_group": object()})]

    def k(it: pytest.Item) -> tuple[str, str] | None:
        return lab_of(cast(FakeItem, it))

    groups = _groups(distribute.assign_groups(cast(list[pytest.Item], items), k, workers=2))
    assert "v.py::unit" not in groups and "w.py::mine" not in groups
    assert {groups[f"u.py::b{i}"] for i in range(2)} == {"halab:u.py"}
    # 11 lab tests over 2 workers: chunks of max(4, ceil(11 / 4)) = 4, consecutive
    names = [groups[f"t.py::a{i}"] for i in range(9)]
    lab = "halab:nginx_nopreempt"
    assert names == [f"{lab}#1"] * 4 + [f"{lab}#2"] * 4 + [f"{lab}#3"]
    one = _groups(distribute.assign_groups(cast(list[pytest.Item], items[:3]), k, workers=8))
    assert set(one.values()) == {lab}


def _groups(grouped: list[tuple[pytest.Item, str]]) -> dict[str, str]:
    return {item.nodeid: name for item, name in grouped}


def lab_of(item: FakeItem, settings: HalabSettings | None = None) -> tuple[str, str] | None:
    return distribute.lab_of(cast(pytest.Item, item), settings or HalabSettings())


def test_one_group_per_topology_its_tests_ordered_by_engines() -> None:
    """Both engines' tests of a topology in one group, those of the engines met first first
    (the lab switches its engines once), collection order within; a module's lab keeps its
    module, with its engine pairs ordered the same way."""
    e = {"lab_factory"}
    items = [
        FakeItem("t.py::x[keepalived]", tuple(e), {"t": "nginx_nopreempt", "engine": "keepalived"}),
        FakeItem("t.py::x[halab]", tuple(e), {"t": "nginx_nopreempt", "engine": "halab"}),
        FakeItem("t.py::y[keepalived]", tuple(e), {"t": "nginx_nopreempt", "engine": "keepalived"}),
        FakeItem("t.py::y[halab]", tuple(e), {"t": "nginx_nopreempt", "engine": "halab"}),
        FakeItem(
            "t.py::z[pair]",
            tuple(e),
            {"t": "nginx_nopreempt", "p": {"lb1": "halab", "lb2": "keepalived"}},
        ),
        FakeItem("m.py::a[p1]", tuple(e), {"p": {"lb1": "halab", "lb2": "keepalived"}}),
        FakeItem("m.py::a[p2]", tuple(e), {"p": {"lb1": "keepalived", "lb2": "halab"}}),
        FakeItem("m.py::b[p1]", tuple(e), {"p": {"lb1": "halab", "lb2": "keepalived"}}),
    ]
    assert lab_of(items[1]) == ("nginx_nopreempt", "halab")
    assert lab_of(items[4]) == ("nginx_nopreempt", "lb1=halab,lb2=keepalived")
    assert lab_of(items[6]) == ("m.py", "lb1=keepalived,lb2=halab")
    grouped = distribute.assign_groups(
        cast(list[pytest.Item], items), lambda it: lab_of(cast(FakeItem, it)), workers=1
    )
    # 8 lab tests, 1 worker: chunks of 4, cut in that order
    assert [(it.nodeid, name) for it, name in grouped] == [
        ("t.py::x[keepalived]", "halab:nginx_nopreempt#1"),
        ("t.py::y[keepalived]", "halab:nginx_nopreempt#1"),
        ("t.py::x[halab]", "halab:nginx_nopreempt#1"),
        ("t.py::y[halab]", "halab:nginx_nopreempt#1"),
        ("t.py::z[pair]", "halab:nginx_nopreempt#2"),
        ("m.py::a[p1]", "halab:m.py"),
        ("m.py::b[p1]", "halab:m.py"),
        ("m.py::a[p2]", "halab:m.py"),
    ]


def mark(*topologies: str, **kwargs: str) -> Any:
    return pytest.mark.lab(*topologies, **kwargs).mark


def test_a_lab_marker_groups_tests_of_one_lab_across_modules() -> None:
    a = FakeItem("lab/test_a.py::t", ("lab_factory",), lab_marks=[mark("nginx_master_backup")])
    b = FakeItem(
        "lab/test_b.py::t[halab]",
        ("hal_scenario",),
        {"engine": "halab"},
        lab_marks=[mark("nginx_master_backup")],
    )
    c = FakeItem("lab/test_c.py::t", ("lab_factory",), lab_marks=[mark("nginx_master_backup")])
    assert key(a) == key(c) == "nginx_master_backup/keepalived"
    assert key(b) == "nginx_master_backup/halab"
    # the engine the test names in its code
    d = FakeItem(
        "lab/test_d.py::t", ("lab_factory",), lab_marks=[mark("nginx_master_backup", vrrp="halab")]
    )
    assert key(d) == "nginx_master_backup/halab"
    # a path beside the test's file; the test's own marker before its module's (pytest's
    # order), and a bare `lab` marker (tests/lab/conftest.py adds one to every test) says nothing
    e = FakeItem(
        "lab/test_e.py::t",
        ("lab_factory",),
        lab_marks=[mark(), mark("topologies/flaps_tracked.yaml"), mark("nginx_master_backup")],
    )
    assert key(e) == "flaps_tracked/keepalived"
    grouped = distribute.assign_groups(
        cast(list[pytest.Item], [a, b, c, d, e]), lambda it: lab_of(cast(FakeItem, it)), workers=1
    )
    groups = _groups(grouped)
    # one lab, its engines switched once: both engines' tests in one group, keepalived's first
    assert groups["lab/test_a.py::t"] == groups["lab/test_c.py::t"]
    assert groups["lab/test_b.py::t[halab]"] == groups["lab/test_d.py::t"]
    assert groups["lab/test_a.py::t"] == groups["lab/test_b.py::t[halab]"]
    order = [it.nodeid for it, _name in grouped]
    assert order[:4] == [
        "lab/test_a.py::t",
        "lab/test_c.py::t",
        "lab/test_b.py::t[halab]",
        "lab/test_d.py::t",
    ]


def test_a_marker_naming_no_topology_keeps_the_module_and_fails_the_tests_setup() -> None:
    item = FakeItem("lab/test_a.py::t", ("lab_factory",), lab_marks=[mark("no_such_topology")])
    assert key(item) == "lab/test_a.py"
    check = labmark.LabMarkCheck()
    with pytest.raises(pytest.fail.Exception, match=r"no_such_topology.*unknown topology"):
        check.pytest_runtest_setup(cast(pytest.Item, item))


def test_a_lab_the_marker_does_not_name_is_a_warning() -> None:
    check = labmark.LabMarkCheck()
    item = FakeItem("lab/test_a.py::t", ("lab_factory",), lab_marks=[mark("nginx_master_backup")])
    check.pytest_runtest_setup(cast(pytest.Item, item))
    check.requested(topology.resolve("nginx_master_backup"))  # named: nothing said
    with pytest.warns(LabMarkWarning, match=r"test_a.py::t asks for a lab of .*nginx_dual_master"):
        check.requested(topology.resolve("nginx_dual_master"))
    check.pytest_runtest_logfinish()
    check.requested(topology.resolve("nginx_dual_master"))  # no test running: nothing said
    unmarked = FakeItem("lab/test_b.py::t", ("lab_factory",))
    check.pytest_runtest_setup(cast(pytest.Item, unmarked))
    check.requested(topology.resolve("nginx_dual_master"))


def test_the_default_engine_is_read_from_the_file_alone(tmp_path: Path) -> None:
    (tmp_path / "h.yaml").write_text("name: h\nvrrp_engine: halab\nnodes: {}\n")
    (tmp_path / "bad.yaml").write_text("name: [\n")
    (tmp_path / "odd.yaml").write_text("name: o\nvrrp_engine: nope\n")
    assert labmark.default_engine(tmp_path / "h.yaml") == "halab"
    assert labmark.default_engine(tmp_path / "bad.yaml") == "keepalived"
    assert labmark.default_engine(tmp_path / "odd.yaml") == "keepalived"


def test_the_group_suffix_is_taken_off_node_ids() -> None:
    mark = SimpleNamespace(args=(), kwargs={"name": "halab:x#2"})
    item = FakeItem("t.py::a@halab:x#2", marks={"xdist_group": mark})
    assert distribute.original_nodeid(item.nodeid, cast(pytest.Item, item)) == "t.py::a"
    plain = FakeItem("t.py::a[x@y]")
    assert distribute.original_nodeid(plain.nodeid, cast(pytest.Item, plain)) == "t.py::a[x@y]"


def _config(dist: str, args: tuple[str, ...] = (), worker: dict[str, Any] | None = None) -> Any:
    cfg = SimpleNamespace(
        option=SimpleNamespace(dist=dist, numprocesses=4),
        invocation_params=SimpleNamespace(args=args),
        getini=lambda _name: [],
    )
    if worker is not None:
        cfg.workerinput = worker
    return cfg


def test_n_alone_means_loadgroup_but_an_explicit_dist_stays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    cfg = _config("load", ("-n", "4"))
    distribute.choose_dist(cfg)
    assert cfg.option.dist == "loadgroup"
    for args in (("--dist", "load"), ("--dist=load",), ("-d",)):
        cfg = _config("load", ("-n", "4", *args))
        distribute.choose_dist(cfg)
        assert cfg.option.dist == "load", args
    monkeypatch.setenv("PYTEST_ADDOPTS", "--dist load")
    cfg = _config("load", ("-n", "4"))
    distribute.choose_dist(cfg)
    assert cfg.option.dist == "load"


def test_loadgroup_chosen_here_keeps_the_order_given_an_explicit_one_xdist_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    cfg = _config("load", ("-n", "4"))
    cfg.option.loadscopereorder = True  # xdist's default
    distribute.choose_dist(cfg)
    assert cfg.option.loadscopereorder is False
    cfg = _config("loadgroup", ("-n", "4", "--dist", "loadgroup"))
    cfg.option.loadscopereorder = True
    distribute.choose_dist(cfg)
    assert cfg.option.loadscopereorder is True


def _grouped(nodeid: str, group: str, **kw: Any) -> FakeItem:
    return FakeItem(nodeid, marks={"xdist_group": pytest.mark.xdist_group(group).mark}, **kw)


def test_units_come_longest_first_a_group_together() -> None:
    lab = FakeItem("lab/t.py::own", marks={"lab": object()})  # starts its own labs: 20 s
    inner = FakeItem("plugin/t.py::inner", ("pytester",))  # 3 s
    units = [FakeItem(f"unit/t.py::u{i}") for i in range(3)]  # 0.2 s each
    small = [_grouped(f"lab/s.py::s{i}", "halab:s") for i in range(2)]  # 7 + 2 * 8 s
    big = [_grouped(f"lab/b.py::b{i}", "halab:b") for i in range(4)]  # 7 + 4 * 8 s
    items = [units[0], *small, lab, units[1], inner, *big, units[2]]
    got = distribute.longest_first(cast(list[pytest.Item], items), {})
    assert [i.nodeid for i in got] == [
        *(b.nodeid for b in big),
        *(s.nodeid for s in small),
        lab.nodeid,
        inner.nodeid,
        *(u.nodeid for u in units),  # equals keep their order
    ]
    # what the last run took wins over the estimates: a group's lab start is in its tests'
    known = {"unit/t.py::u2": 100.0, "lab/b.py::b0": 1.0, "lab/t.py::own": 0.5}
    got = distribute.longest_first(cast(list[pytest.Item], items), known)
    assert [i.nodeid for i in got] == [
        "unit/t.py::u2",  # 100 s
        *(b.nodeid for b in big),  # 1 + 3 * 8 s, no lab start added: it is in b0's second
        *(s.nodeid for s in small),  # 7 + 2 * 8 s
        inner.nodeid,  # 3 s
        lab.nodeid,  # 0.5 s
        "unit/t.py::u0",
        "unit/t.py::u1",
    ]


def test_plain_tests_come_after_each_workers_first_unit() -> None:
    """With fill_after K the plain tests (no lab, no inner session) come after the first K
    units, the workers' first (their labs then wait on their timers); inner sessions stay
    last."""
    own = FakeItem("lab/t.py::own", marks={"lab": object()})  # 20 s
    inner = FakeItem("plugin/t.py::inner", ("pytester",))  # 3 s
    units = [FakeItem(f"unit/t.py::u{i}") for i in range(3)]
    big = [_grouped(f"lab/b.py::b{i}", "halab:b") for i in range(4)]
    small = [_grouped(f"lab/s.py::s{i}", "halab:s") for i in range(2)]
    items = [units[0], *small, own, units[1], inner, *big, units[2]]
    got = distribute.longest_first(cast(list[pytest.Item], items), {}, fill_after=2)
    assert [i.nodeid for i in got] == [
        *(b.nodeid for b in big),
        *(s.nodeid for s in small),
        *(u.nodeid for u in units),
        own.nodeid,
        inner.nodeid,
    ]
    # fewer units than workers: the plain tests come last, as without the option
    few = [*units, own]
    got = distribute.longest_first(cast(list[pytest.Item], few), {}, fill_after=8)
    assert [i.nodeid for i in got] == [own.nodeid, *(u.nodeid for u in units)]
    # a plain test the last run recorded as long is still a plain test
    got = distribute.longest_first(
        cast(list[pytest.Item], items), {"unit/t.py::u2": 100.0}, fill_after=1
    )
    assert [i.nodeid for i in got] == [
        *(b.nodeid for b in big),
        "unit/t.py::u2",
        "unit/t.py::u0",
        "unit/t.py::u1",
        *(s.nodeid for s in small),
        own.nodeid,
        inner.nodeid,
    ]


def test_durations_are_recorded_for_the_next_run() -> None:
    store: dict[str, Any] = {distribute.DURATIONS_KEY: {"old::t": 4.0, "a::t": 9.0}}
    cache = SimpleNamespace(get=lambda k, d: store.get(k, d), set=store.__setitem__)
    rec = distribute.DurationsRecorder(cast(pytest.Config, SimpleNamespace(cache=cache)))
    for when, d in (("setup", 1.0), ("call", 2.5), ("teardown", 0.5)):
        rec.pytest_runtest_logreport(
            cast(pytest.TestReport, SimpleNamespace(nodeid="a::t", when=when, duration=d))
        )
    rec.pytest_runtest_logreport(
        cast(
            pytest.TestReport,
            SimpleNamespace(nodeid="b::t[x@y]@halab:lab", when="call", duration=1.25),
        )
    )
    rec.pytest_sessionfinish()
    assert store[distribute.DURATIONS_KEY] == {"old::t": 4.0, "a::t": 4.0, "b::t[x@y]": 1.25}


def test_workers_are_bound_to_engines_round_robin() -> None:
    urls = ("unix:///a.sock", "tcp://127.0.0.1:2380")
    bound = [
        distribute.engine_url(_config("no", worker={"workerid": f"gw{i}", "workercount": 5}), urls)
        for i in range(5)
    ]
    assert bound == [urls[0], urls[1], urls[0], urls[1], urls[0]]
    assert distribute.engine_url(_config("no"), urls) == urls[0]
    assert distribute.engine_url(_config("no"), ()) is None
    assert [capacity.workers_on(i, 2, 5) for i in range(2)] == [3, 2]


class FakeEngine(DockerHost):
    def __init__(self, url: str, mem: int, answers: bool = True) -> None:
        super().__init__(url, "--hal-docker-host")
        self.mem, self.answers = mem, answers

    def ping(self) -> None:
        if not self.answers:
            from pytest_halab.errors import DockerUnavailableError

            raise DockerUnavailableError(f"no Docker engine answers at {self.url}")

    def client(self, timeout: int = 120) -> Any:
        return SimpleNamespace(info=lambda: {"MemTotal": self.mem})


def test_engines_that_do_not_answer_or_cannot_hold_the_workers_are_usage_errors() -> None:
    gib = 2**30
    capacity.check_engines([FakeEngine("tcp://a:1", 24 * gib)], 8, "--hal-docker-host")
    with pytest.raises(pytest.UsageError, match=r"from --hal-docker-host: no Docker engine"):
        capacity.check_engines(
            [FakeEngine("tcp://a:1", gib, answers=False)], 2, "--hal-docker-host"
        )
    with pytest.raises(pytest.UsageError) as info:
        capacity.check_engines(
            [FakeEngine("tcp://a:1", 24 * gib), FakeEngine("tcp://b:2", 1 * gib)], 8, "env X"
        )
    msg = str(info.value)
    assert "tcp://b:2 (from env X) has 1.0 GiB" in msg and "the 4 pytest-xdist worker(s)" in msg


def test_rules_name_their_engine_and_are_read_back_per_engine() -> None:
    rule = hostrules.BridgeRule("hl-abc123", "hlabc123", "run1", "engine1")
    line = (
        f'-A DOCKER-USER -i hl-abc123 -o hl-abc123 -m comment --comment "{rule.comment}" -j ACCEPT'
    )
    m = hostrules.COMMENT_RE.search(line)
    assert m is not None and (m.group(2), m.group(3), m.group(4)) == ("hlabc123", "run1", "engine1")
    old = '-A DOCKER-USER -m comment --comment "io.halab.lab=hlold io.halab.run=r" -j ACCEPT'
    m = hostrules.COMMENT_RE.search(old)
    assert m is not None and m.group(2) == "hlold" and m.group(4) is None


def test_engine_locality_follows_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert DockerHost().local and DockerHost("unix:///run/x.sock").local
    assert not DockerHost("tcp://127.0.0.1:2380").local  # treated as remote, even here
    assert not DockerHost("ssh://root@builder").local
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert not DockerHost().local and DockerHost().name == "tcp://10.0.0.1:2375"


def test_lab_stems_name_the_topologies_a_test_will_use() -> None:
    def stems(item: FakeItem) -> frozenset[str] | None:
        return distribute.lab_stems(cast(pytest.Item, item), HalabSettings())

    assert stems(FakeItem("t.py::plain")) == frozenset()  # no lab
    named = FakeItem("t.py::a", ("lab_factory",), {"name": "nginx_nopreempt"})
    assert stems(named) == {"nginx_nopreempt"}
    assert stems(FakeItem("t.py::b", ("lab_factory",))) is None  # its module's: unknown

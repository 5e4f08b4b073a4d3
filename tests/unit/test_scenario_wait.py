"""When ``hal.failover`` stops waiting, without a lab: a fake lab answers who holds the VIP
and the measure of each moment is scripted (``Scenario._compute``). What is checked is the
control flow: a VIP that stays put is concluded on at the move bound, one on the move is
waited for until the timeout, and with ``to`` a miss raises ``VipDidNotMove`` carrying the
recorded measure."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from pytest_halab.errors import VipDidNotMove
from pytest_halab.faults import Fault
from pytest_halab.lab import Lab
from pytest_halab.measures import FailoverMeasure
from pytest_halab.scenario import Scenario

BOUND_S = 0.3  # move_within of these tests
TIMEOUT_S = 1.5


@dataclass
class FakeLab:
    """Holders of VI_1 as each node's kernel would say; `holders` may change mid-test."""

    holders: list[str] = field(default_factory=lambda: ["lb1"])

    def vip_holders(self) -> dict[str, list[str]]:
        return {"VI_1": list(self.holders)}


@dataclass
class World:
    """What the timeline shows at each measure: `after` = holders at the window's end."""

    lab: FakeLab
    after: frozenset[str] = frozenset({"lb1"})
    failing: bool = True
    computed: list[FailoverMeasure] = field(default_factory=list)

    def compute(
        self, phase: str, vip: str, ts: float, to: str | None, fault: Fault
    ) -> tuple[FailoverMeasure, bool]:
        taker = next(iter(self.after - {"lb1"}), None)
        moved = taker is not None and (to is None or to == taker)
        m = FailoverMeasure(
            vip=vip,
            fault="kill_process nginx SIGKILL",
            fault_ts=ts,
            old_holder="lb1",
            new_holder=taker if to is None else to,
            detection_s=0.1 if moved else None,
            vip_move_s=0.1 if moved else None,
            garp_s=None,
            outage_s=None,
            outage_from_fault_s=None,
            failed_requests=10 if self.failing else 0,
            probes=20,
            last_failure_ts=ts + 0.01 if self.failing else None,
            holders_before=frozenset({"lb1"}),
            holders_after=self.after,
            holder_changes=0 if self.after == {"lb1"} else 1,
            first_failure_ts=ts + 0.01 if self.failing else None,
            window_end=time.time(),
            fault_target="lb1",
            phase=phase,
        )
        self.computed.append(m)
        return m, False


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[Scenario, World, list[FailoverMeasure]]:
    lab = FakeLab()
    recorded: list[FailoverMeasure] = []
    hal = Scenario(cast(Lab, lab), record=recorded.append)
    w = World(lab)
    monkeypatch.setattr(hal, "_compute", w.compute)
    return hal, w, recorded


def kill_nginx() -> Fault:
    now = time.time()
    return Fault("kill_process", "lb1", "nginx SIGKILL", now, now + 0.01)


def failover(hal: Scenario, to: str | None = None, **kw: Any) -> tuple[FailoverMeasure, float]:
    t0 = time.monotonic()
    m = hal.failover(
        "VI_1", kill_nginx(), to, settle=0.0, timeout=TIMEOUT_S, move_within=BOUND_S, **kw
    )
    return m, time.monotonic() - t0


def test_a_vip_that_stays_put_is_concluded_on_at_the_bound(world: Any) -> None:
    hal, _, recorded = world
    m, took = failover(hal)
    assert not m.moved and m.stayed_put
    # watched for the whole bound (within a float's rounding of epoch seconds: 1.8e9 + 0.3
    # - 1.8e9 can come out as 0.29999995)...
    assert m.window_end - m.fault_ts >= BOUND_S - 1e-6
    assert took < TIMEOUT_S  # ...and no longer: not until the timeout
    assert recorded == [m] and hal.measures == [m]


def test_a_vip_on_the_move_is_waited_for_until_the_timeout(world: Any) -> None:
    """Dropped by lb1, taken by nobody yet: no conclusion at the bound."""
    hal, w, recorded = world
    w.after = frozenset()
    m, took = failover(hal)
    assert not m.moved and not m.stayed_put
    assert took >= TIMEOUT_S
    assert recorded == [m]


def test_a_move_ends_the_wait_once_the_service_answers(world: Any) -> None:
    hal, w, _ = world
    w.after, w.failing = frozenset({"lb2"}), False
    m, took = failover(hal)
    assert m.moved and m.new_holder == "lb2"
    assert took < BOUND_S + 0.2  # the first measure was final


def test_with_to_a_vip_that_stays_put_fails_at_the_bound_with_the_diagnosis(
    world: Any,
) -> None:
    hal, _, recorded = world
    t0 = time.monotonic()
    with pytest.raises(VipDidNotMove) as info:
        failover(hal, "lb2")
    assert time.monotonic() - t0 < TIMEOUT_S
    assert str(info.value).startswith("VI_1 did not move to lb2: held by lb1 throughout ")
    assert "after kill_process nginx SIGKILL on lb1; outage at least" in str(info.value)
    # measured as what happened (no expected holder put in), and recorded
    assert info.value.measure.new_holder is None
    assert recorded == [info.value.measure] == hal.measures


def test_with_to_a_vip_gone_elsewhere_fails_at_the_timeout(world: Any) -> None:
    hal, w, recorded = world
    w.lab.holders, w.after = ["lb3"], frozenset({"lb3"})
    t0 = time.monotonic()
    with pytest.raises(VipDidNotMove, match=r"^VI_1 did not move to lb2: it moved to lb3 "):
        failover(hal, "lb2")
    assert time.monotonic() - t0 >= TIMEOUT_S
    assert len(recorded) == 1


def test_with_to_reached_the_measure_is_taken_for_it(world: Any) -> None:
    hal, w, recorded = world
    w.lab.holders, w.after, w.failing = ["lb2"], frozenset({"lb2"}), False
    m, took = failover(hal, "lb2")
    assert m.moved and m.new_holder == "lb2" and recorded == [m]
    assert took < BOUND_S


class SettledLab(FakeLab):
    """The kernels' live sets already show lb1 alone holding VI_1."""

    def wait_for_holders(self, expected: dict[str, list[str]], timeout: float) -> None:
        assert self.vip_holders() == expected

    def vip_addresses(self) -> dict[str, str]:
        return {"VI_1": "10.9.9.3"}


def test_wait_holders_returns_once_the_timeline_shows_the_holders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A split brain ended in the kernels a moment before lb2's observer recorded it: a
    test reading the timeline right after wait_holders must find the end."""
    from types import SimpleNamespace

    from pytest_halab.timeline import Event, Timeline

    hal = Scenario(cast(Lab, SettledLab()))
    hal.observation = SimpleNamespace(initial_holders={"VI_1": ["lb1"]})  # type: ignore[assignment]
    added = Event(ts=100.0, node="lb2", kind="vip_added", data={"addr": "10.9.9.3"})
    removed = Event(ts=105.0, node="lb2", kind="vip_removed", data={"addr": "10.9.9.3"})
    reads: list[int] = []

    def timeline() -> Timeline:
        reads.append(1)
        return Timeline([added, removed] if len(reads) >= 3 else [added])

    monkeypatch.setattr(hal, "timeline", timeline)
    hal.wait_holders({"VI_1": ["lb1"]})
    assert len(reads) == 3


def test_wait_holders_does_not_fail_on_a_timeline_that_never_shows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node whose observer was not running when its address changed cannot record it:
    the kernels have the last word, after a bounded wait."""
    from types import SimpleNamespace

    from pytest_halab import scenario
    from pytest_halab.timeline import Event, Timeline

    hal = Scenario(cast(Lab, SettledLab()))
    hal.observation = SimpleNamespace(initial_holders={"VI_1": ["lb1"]})  # type: ignore[assignment]
    added = Event(ts=100.0, node="lb2", kind="vip_added", data={"addr": "10.9.9.3"})
    monkeypatch.setattr(hal, "timeline", lambda: Timeline([added]))
    monkeypatch.setattr(scenario, "TIMELINE_LAG_S", 0.3)
    t0 = time.monotonic()
    hal.wait_holders({"VI_1": ["lb1"]})
    assert 0.3 <= time.monotonic() - t0 < 2.0

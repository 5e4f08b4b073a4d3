"""The VRRP state machine under a fake clock: every RFC 3768/5798 transition, both versions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pytest_halab.vrrp.packet import VrrpAdvert, interval_field
from pytest_halab.vrrp.state import (
    Action,
    AddVips,
    InstanceParams,
    LogNotice,
    LowerPriorityAdvertSeen,
    NewMasterSeen,
    PriorityChange,
    RemoveVips,
    SendAdvert,
    SendGratuitousArp,
    State,
    StateChange,
    VrrpInstanceMachine,
)

OURS = "10.0.0.9"
PEER_HIGH = "10.0.0.10"  # higher as an integer, lower as a string
PEER_LOW = "10.0.0.2"
T0 = 1000.0


def params(**kw: object) -> InstanceParams:
    base: dict[str, object] = {"name": "VI_1", "vrid": 51, "primary_address": OURS}
    base.update(kw)
    return InstanceParams(**base)  # type: ignore[arg-type]


def machine(**kw: object) -> VrrpInstanceMachine:
    return VrrpInstanceMachine(params(**kw))


def advert(m: VrrpInstanceMachine, priority: int, interval: float | None = None) -> VrrpAdvert:
    version = m.params.version
    seconds = m.params.advert_interval if interval is None else interval
    return VrrpAdvert(
        version=version,
        vrid=m.params.vrid,
        priority=priority,
        advert_int=interval_field(version, seconds),
    )


def at(now: float, seconds: float) -> object:
    """``now + seconds`` up to float rounding (timers are whole microseconds)."""
    return pytest.approx(now + seconds, abs=1e-7)


def state_of(m: VrrpInstanceMachine) -> State:
    """The state, without mypy narrowing ``m.state`` across calls that change it."""
    return m.state


def kinds(actions: list[Action]) -> list[type]:
    return [type(a) for a in actions]


def started_backup(**kw: object) -> VrrpInstanceMachine:
    m = machine(**kw)
    m.start(T0)
    assert m.state is State.BACKUP
    return m


def started_master(**kw: object) -> VrrpInstanceMachine:
    m = started_backup(**kw)
    deadline = m.next_deadline
    assert deadline is not None
    m.on_timer(deadline)
    assert m.state is State.MASTER
    return m


# --- timers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "interval", "priority", "skew", "down"),
    [
        (2, 1.0, 100, 0.609375, 3.609375),
        # keepalived truncates Skew_Time to whole microseconds (TIMER_HZ) in both versions
        (2, 1.0, 255, 0.003906, 3.003906),
        (2, 1.0, 1, 0.996093, 3.996093),
        (2, 2.0, 254, 0.007812, 6.007812),  # v2 skew ignores the interval
        (3, 1.0, 100, 0.609375, 3.609375),
        (3, 0.1, 100, 0.060937, 0.360937),
        (3, 0.1, 200, 0.021875, 0.321875),
        (3, 2.5, 150, 1.035156, 8.535156),
    ],
)
def test_timer_values(
    version: int, interval: float, priority: int, skew: float, down: float
) -> None:
    m = machine(version=version, advert_interval=interval, priority=priority)
    assert m.advert_interval == interval
    assert m.master_advert_interval == interval
    assert m.skew_time == skew
    assert m.master_down_interval == down


def test_down_timer_adverts() -> None:
    m = machine(down_timer_adverts=5)
    assert m.master_down_interval == 5.609375


def test_interval_rounding_like_keepalived() -> None:
    m = machine(version=2, advert_interval=1.4)
    assert m.advert_interval == 1.0
    assert m.advert_int_field == 1
    assert m.config_warnings
    m3 = machine(version=3, advert_interval=0.125)
    assert m3.advert_interval == 0.13
    assert m3.advert_int_field == 13
    assert machine(version=3, advert_interval=0.001).advert_interval == 0.01
    assert machine(version=2, advert_interval=300).advert_interval == 255.0


# --- start -------------------------------------------------------------------------------


def test_start_backup_waits_master_down() -> None:
    m = machine()
    assert m.state is State.INIT
    assert m.next_deadline is None
    actions = m.start(T0)
    assert actions == [StateChange(State.INIT, State.BACKUP, "init")]
    assert m.next_deadline == T0 + 3.609375
    assert m.start(T0) == []


def test_start_state_master_below_255_is_backup_first() -> None:
    # keepalived 2.2 vrrp_init_state: only the address owner goes straight to MASTER.
    m = machine(initial_state=State.MASTER, priority=150)
    assert m.start(T0) == [StateChange(State.INIT, State.BACKUP, "init")]
    assert m.next_deadline == at(T0, 3.414062)


@pytest.mark.parametrize("initial", [None, State.MASTER])
def test_start_owner_goes_master_at_once(initial: State | None) -> None:
    m = machine(priority=255, initial_state=initial)
    actions = m.start(T0)
    assert actions[:3] == [
        SendAdvert(255),
        AddVips(),
        SendGratuitousArp(5, "became master"),
    ]
    assert actions[3] == StateChange(State.INIT, State.MASTER, "address owner (priority 255)")
    assert m.state is State.MASTER
    assert m.next_deadline == T0 + 1.0


def test_start_owner_with_state_backup_waits() -> None:
    m = machine(priority=255, initial_state=State.BACKUP)
    m.start(T0)
    assert m.state is State.BACKUP
    assert m.next_deadline == at(T0, 3.003906)


def test_start_in_fault() -> None:
    m = machine()
    assert m.set_fault(T0, True) == []
    assert m.start(T0) == [StateChange(State.INIT, State.FAULT, "init: instance is in fault")]
    assert m.next_deadline is None


# --- BACKUP -> MASTER by timeout; MASTER adverts --------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
def test_backup_times_out_to_master(version: int) -> None:
    m = started_backup(version=version)
    down = T0 + 3.609375
    assert m.on_timer(down - 0.001) == []
    assert m.state is State.BACKUP
    actions = m.on_timer(down)
    assert actions == [
        SendAdvert(100),
        AddVips(),
        SendGratuitousArp(5, "became master"),
        StateChange(State.BACKUP, State.MASTER, "master down timer expired"),
    ]
    assert m.next_deadline == down + 1.0


def test_master_advertises_every_interval_and_second_garp_burst() -> None:
    m = started_master()
    became = T0 + 3.609375
    t = became
    for _ in range(4):
        t += 1.0
        assert m.next_deadline == t
        assert m.on_timer(t) == [SendAdvert(100)]
    # garp_master_delay 5 s: the second burst
    assert m.next_deadline == pytest.approx(became + 5)
    # the advert is due at the same instant
    assert m.on_timer(became + 5) == [SendGratuitousArp(5, "garp_master_delay"), SendAdvert(100)]
    assert m.on_timer(became + 6) == [SendAdvert(100)]


def test_garp_parameters() -> None:
    m = started_master(garp_master_delay=0, garp_master_repeat=2)
    assert m.next_deadline == T0 + 3.609375 + 1
    m2 = machine(garp_master_repeat=0)
    m2.start(T0)
    assert SendGratuitousArp not in kinds(m2.on_timer(T0 + 10))


def test_garp_master_refresh() -> None:
    m = started_master(garp_master_refresh=2.5, garp_master_delay=0)
    t = T0 + 3.609375
    refreshes = [
        i for i in range(1, 7) for a in m.on_timer(t + i) if isinstance(a, SendGratuitousArp)
    ]
    # checked only when an advert goes out: after 2.5 s -> at 3 s, then 5.5 -> at 6 s
    assert refreshes == [3, 6]


# --- BACKUP receiving ------------------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
def test_backup_priority_zero_sets_skew(version: int) -> None:
    m = started_backup(version=version)
    assert m.on_advert(T0 + 1, PEER_HIGH, advert(m, 0)) == [
        LogNotice("Backup received priority 0 advertisement", detail=True)
    ]
    assert m.next_deadline == T0 + 1 + 0.609375
    assert kinds(m.on_timer(T0 + 1.609375))[-1] is StateChange
    assert m.state is State.MASTER


@pytest.mark.parametrize("priority", [100, 150, 255])
def test_backup_higher_or_equal_resets_timer(priority: int) -> None:
    m = started_backup()
    assert m.on_advert(T0 + 2, PEER_LOW, advert(m, priority)) == [NewMasterSeen(PEER_LOW, priority)]
    assert m.next_deadline == T0 + 2 + 3.609375
    # The same master again is not news.
    assert m.on_advert(T0 + 3, PEER_LOW, advert(m, priority)) == []
    assert m.next_deadline == T0 + 3 + 3.609375
    assert m.master == (PEER_LOW, priority)
    assert m.on_timer(T0 + 6) == []
    assert m.state is State.BACKUP


def test_backup_lower_priority_is_ignored_then_preempts() -> None:
    m = started_backup(priority=150)
    first = m.next_deadline
    for t in (1.0, 2.0, 3.0):
        assert m.on_advert(T0 + t, PEER_HIGH, advert(m, 100)) == [
            LogNotice(f"received lower priority (100) advert from {PEER_HIGH} - discarding")
        ]
    assert m.next_deadline == first
    assert first is not None
    m.on_timer(first)
    assert m.state is State.MASTER


def test_backup_nopreempt_accepts_lower_priority() -> None:
    m = started_backup(priority=150, nopreempt=True)
    assert m.nopreempt
    m.on_advert(T0 + 3, PEER_LOW, advert(m, 100))
    assert m.next_deadline == at(T0 + 3, 3.414062)
    m.on_advert(T0 + 6, PEER_LOW, advert(m, 100))
    assert m.on_timer(T0 + 7) == []
    assert m.state is State.BACKUP


def test_nopreempt_cleared_with_initial_master_or_owner() -> None:
    m = machine(nopreempt=True, initial_state=State.MASTER)
    assert not m.nopreempt
    assert any("nopreempt" in w for w in m.config_warnings)
    assert not machine(nopreempt=True, priority=255, initial_state=State.BACKUP).nopreempt
    m2 = machine(preempt_delay=5, initial_state=State.MASTER)
    assert m2.preempt_delay == 0
    assert machine(preempt_delay=5, nopreempt=True).preempt_delay == 0


def test_preempt_delay_keepalived_semantics() -> None:
    m = started_backup(priority=150, preempt_delay=10)
    assert m.preempt_delay == 10
    down = 3.414062
    # The first lower-priority advert starts the delay and is accepted (timer reset).
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 100))
    assert m.next_deadline == at(T0 + 1, down)
    for t in range(2, 11):
        m.on_advert(T0 + t, PEER_LOW, advert(m, 100))
        assert m.next_deadline == at(T0 + t, down)
    # At T0+11 the delay (ended T0+11) is over: discarded from now on.
    m.on_advert(T0 + 11, PEER_LOW, advert(m, 100))
    assert m.next_deadline == at(T0 + 10, down)
    m.on_timer(T0 + 10 + down)
    assert m.state is State.MASTER


def test_preempt_delay_stopped_by_higher_priority() -> None:
    m = started_backup(priority=150, preempt_delay=10)
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 100))  # delay until T0+11
    m.on_advert(T0 + 5, PEER_HIGH, advert(m, 200))  # stops it
    m.on_advert(T0 + 6, PEER_LOW, advert(m, 100))  # restarts: until T0+16
    m.on_advert(T0 + 15, PEER_LOW, advert(m, 100))
    assert m.next_deadline == at(T0 + 15, 3.414062)


def test_preempt_delay_does_not_delay_master_down() -> None:
    m = started_backup(priority=150, preempt_delay=30)
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 100))
    # The master dies: no more adverts, master down fires as usual.
    m.on_timer(T0 + 1 + 3.414062)
    assert m.state is State.MASTER


def test_v3_backup_learns_master_interval() -> None:
    m = started_backup(version=3, advert_interval=1.0)
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 200, interval=0.5))
    assert m.master_advert_interval == 0.5
    # skew = 156 * 50 cs * 625 / 16 us = 304687 us
    assert m.skew_time == 0.304687
    assert m.master_down_interval == 1.804687
    assert m.next_deadline == T0 + 1 + 1.804687
    # priority 0 then uses the learned interval in the skew too
    m.on_advert(T0 + 2, PEER_LOW, advert(m, 0, interval=0.5))
    assert m.next_deadline == T0 + 2 + 0.304687
    m.on_timer(T0 + 2.304687)
    assert m.state is State.MASTER
    # as master our own interval applies again
    assert m.master_advert_interval == 1.0
    assert m.next_deadline == T0 + 3.304687


def test_v3_backup_does_not_learn_from_discarded_advert() -> None:
    m = started_backup(version=3, priority=150)
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 100, interval=0.2))
    assert m.master_advert_interval == 1.0


def test_v2_interval_never_learned() -> None:
    m = started_backup(version=2)
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 200, interval=3))
    assert m.master_advert_interval == 1.0


# --- MASTER receiving ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [2, 3])
def test_master_priority_zero_advertises_now(version: int) -> None:
    m = started_master(version=version)
    t = T0 + 4.0
    assert m.on_advert(t, PEER_HIGH, advert(m, 0)) == [
        SendAdvert(100),
        LogNotice("Master received priority 0 message", detail=True),
    ]
    assert m.next_deadline == t + 1.0
    assert m.state is State.MASTER


@pytest.mark.parametrize("version", [2, 3])
def test_master_higher_priority_goes_backup(version: int) -> None:
    m = started_master(version=version)
    t = T0 + 4.0
    actions = m.on_advert(t, PEER_LOW, advert(m, 101))
    assert actions == [
        LogNotice(f"Master received advert from {PEER_LOW} with higher priority 101, ours 100"),
        RemoveVips(),
        StateChange(State.MASTER, State.BACKUP, f"higher priority advert from {PEER_LOW}"),
        NewMasterSeen(PEER_LOW, 101),
    ]
    assert m.state is State.BACKUP
    assert m.next_deadline == t + 3.609375
    assert m.master == (PEER_LOW, 101)


def test_master_equal_priority_higher_address_as_integer_goes_backup() -> None:
    # "10.0.0.10" > "10.0.0.9" only as integers.
    m = started_master()
    actions = m.on_advert(T0 + 4, PEER_HIGH, advert(m, 100))
    assert kinds(actions) == [LogNotice, RemoveVips, StateChange, NewMasterSeen]
    assert actions[0] == LogNotice(
        f"Master received advert from {PEER_HIGH} with same priority 100"
        " but higher IP address than ours"
    )
    change = actions[2]
    assert isinstance(change, StateChange)
    assert "equal priority" in change.reason
    assert m.state is State.BACKUP


@pytest.mark.parametrize(("src", "priority"), [(PEER_LOW, 100), (PEER_HIGH, 99), (PEER_LOW, 1)])
def test_master_lower_priority_stays_and_forces_election(src: str, priority: int) -> None:
    m = started_master()
    t = T0 + 4.2
    actions = m.on_advert(t, src, advert(m, priority))
    assert actions == [
        SendAdvert(100),
        SendGratuitousArp(5, "lower priority advert"),
        LowerPriorityAdvertSeen(src, priority),
    ]
    assert m.state is State.MASTER
    assert m.next_deadline == t + 1.0
    # the second GARP burst after garp_lower_prio_delay (defaults to garp_master_delay)
    m.on_timer(t + 1)  # advert
    m.on_timer(t + 2)
    m.on_timer(t + 3)
    m.on_timer(t + 4)
    assert SendGratuitousArp(5, "lower priority advert") in m.on_timer(t + 5)


def test_master_lower_priority_no_advert() -> None:
    m = started_master(lower_prio_no_advert=True, garp_lower_prio_repeat=0)
    before = m.next_deadline
    assert m.on_advert(T0 + 4.2, PEER_LOW, advert(m, 50)) == [LowerPriorityAdvertSeen(PEER_LOW, 50)]
    assert m.next_deadline == before


def test_master_higher_prio_send_advert() -> None:
    m = started_master(higher_prio_send_advert=True)
    actions = m.on_advert(T0 + 4, PEER_LOW, advert(m, 200))
    assert kinds(actions) == [SendAdvert, LogNotice, RemoveVips, StateChange, NewMasterSeen]


def test_master_equal_priority_from_own_address_is_logged_only() -> None:
    m = started_master()
    actions = m.on_advert(T0 + 4, OURS, advert(m, 100))
    assert kinds(actions) == [LogNotice]
    assert m.state is State.MASTER


def test_two_owners_conflict_lowers_ours() -> None:
    m = machine(priority=255)
    m.start(T0)
    actions = m.on_advert(T0 + 0.5, PEER_LOW, advert(m, 255))
    assert kinds(actions) == [LogNotice, LogNotice, RemoveVips, StateChange, NewMasterSeen]
    assert "CONFIGURATION ERROR" in str(actions[0])
    assert actions[1] == LogNotice(
        f"Master received advert from {PEER_LOW} with higher priority 255, ours 254"
    )
    assert m.effective_priority == 254
    assert m.state is State.BACKUP


def test_leaving_master_cancels_pending_garp() -> None:
    m = started_master()
    m.on_advert(T0 + 4, PEER_LOW, advert(m, 200))
    assert m.next_deadline == T0 + 4 + 3.609375  # no GARP timer left
    m.on_advert(T0 + 5, PEER_LOW, advert(m, 200))
    assert m.on_timer(T0 + 8) == []


# --- priority, fault, shutdown ----------------------------------------------------------------


def test_effective_priority_in_master_goes_in_next_advert() -> None:
    m = started_master()
    t = m.next_deadline
    assert t is not None
    assert m.set_effective_priority(t - 0.5, 80) == [PriorityChange(100, 80)]
    assert m.on_timer(t) == [SendAdvert(80)]
    assert m.set_effective_priority(t, 80) == []


def test_effective_priority_clamped_and_owner_fixed() -> None:
    m = started_backup()
    m.set_effective_priority(T0, 400)
    assert m.effective_priority == 254
    m.set_effective_priority(T0, -20)
    assert m.effective_priority == 1
    owner = machine(priority=255)
    assert owner.set_effective_priority(T0, 100) == []
    assert owner.effective_priority == 255


def test_effective_priority_moves_backup_deadline_by_skew() -> None:
    m = started_backup()
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 200))
    m.set_effective_priority(T0 + 2, 228)  # skew 156/256 -> 28/256
    assert m.next_deadline == at(T0 + 1, 3.109375)  # 28e6 / 256 is exact
    assert m.master_down_interval == 3.109375


def test_backup_outranking_master_waits_master_down() -> None:
    m = started_backup(priority=100)
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 150))
    m.set_effective_priority(T0 + 1.5, 200)
    expiry = T0 + 1 + 3.21875
    assert m.next_deadline == expiry
    for t in (2.0, 3.0, 4.0):
        assert m.on_advert(T0 + t, PEER_LOW, advert(m, 150)) == [
            LogNotice(f"received lower priority (150) advert from {PEER_LOW} - discarding")
        ]
    assert m.next_deadline == expiry
    assert m.state is State.BACKUP
    m.on_timer(expiry)
    assert state_of(m) is State.MASTER
    assert m.on_timer(expiry + 1) == [SendAdvert(200)]


def test_fault_from_master() -> None:
    m = started_master()
    actions = m.set_fault(T0 + 5, True)
    assert actions == [SendAdvert(0), RemoveVips(), StateChange(State.MASTER, State.FAULT, "fault")]
    assert m.next_deadline is None
    assert m.on_advert(T0 + 6, PEER_LOW, advert(m, 0)) == []
    assert m.on_timer(T0 + 100) == []
    assert m.set_fault(T0 + 7, True) == []
    assert m.set_fault(T0 + 8, False) == [StateChange(State.FAULT, State.BACKUP, "fault cleared")]
    assert m.next_deadline == T0 + 8 + 3.609375


def test_fault_from_backup_and_v3_interval_reset() -> None:
    m = started_backup(version=3)
    m.on_advert(T0 + 1, PEER_LOW, advert(m, 200, interval=0.3))
    assert m.set_fault(T0 + 2, True) == [StateChange(State.BACKUP, State.FAULT, "fault")]
    m.set_fault(T0 + 3, False)
    assert m.master_advert_interval == 1.0
    assert m.next_deadline == T0 + 3 + 3.609375


def test_owner_after_fault_goes_backup() -> None:
    # keepalived's try_up_instance: the wanted state was replaced by FAULT.
    m = machine(priority=255)
    m.start(T0)
    m.set_fault(T0 + 1, True)
    m.set_fault(T0 + 2, False)
    assert m.state is State.BACKUP
    assert m.next_deadline == at(T0 + 2, 3.003906)


@pytest.mark.parametrize("version", [2, 3])
def test_shutdown_master_sends_priority_zero(version: int) -> None:
    m = started_master(version=version)
    assert m.shutdown(T0 + 5) == [
        SendAdvert(0),
        RemoveVips(),
        StateChange(State.MASTER, State.STOP, "shutdown"),
    ]
    assert m.next_deadline is None
    assert m.shutdown(T0 + 6) == []
    assert m.on_advert(T0 + 7, PEER_LOW, advert(m, 100)) == []


def test_shutdown_backup_and_fault() -> None:
    m = started_backup()
    assert m.shutdown(T0) == [StateChange(State.BACKUP, State.STOP, "shutdown")]
    f = started_backup()
    f.set_fault(T0, True)
    assert f.shutdown(T0) == [StateChange(State.FAULT, State.STOP, "shutdown")]


@pytest.mark.parametrize(
    "kw",
    [
        {"version": 1},
        {"vrid": 0},
        {"priority": 0},
        {"priority": 256},
        {"advert_interval": 0},
        {"initial_state": State.FAULT},
        {"down_timer_adverts": 0},
        {"preempt_delay": -1},
        {"primary_address": "nope"},
    ],
)
def test_invalid_params(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        params(**kw)


# --- several routers on one simulated LAN ------------------------------------------------------


@dataclass
class Lan:
    """Delivers each SendAdvert to every other router at the same instant."""

    routers: dict[str, VrrpInstanceMachine]
    log: list[tuple[float, str, Action]] = field(default_factory=list)

    def start(self, now: float) -> None:
        for addr, m in self.routers.items():
            self._deliver(now, addr, m.start(now))

    def _deliver(self, now: float, src: str, actions: list[Action]) -> None:
        for action in actions:
            self.log.append((now, src, action))
            if isinstance(action, SendAdvert):
                sender = self.routers[src]
                adv = VrrpAdvert(
                    version=sender.params.version,
                    vrid=sender.params.vrid,
                    priority=action.priority,
                    advert_int=sender.advert_int_field,
                )
                for addr, m in self.routers.items():
                    if addr != src:
                        self._deliver(now, addr, m.on_advert(now, src, adv))

    def run_until(self, end: float) -> None:
        while True:
            due = [(m.next_deadline, a) for a, m in self.routers.items() if m.next_deadline]
            if not due:
                return
            when, addr = min(due)
            if when is None or when > end:
                return
            self._deliver(when, addr, self.routers[addr].on_timer(when))

    def masters(self) -> list[str]:
        return [a for a, m in self.routers.items() if m.state is State.MASTER]

    def became_master_at(self, addr: str) -> list[float]:
        return [
            t
            for t, src, a in self.log
            if src == addr and isinstance(a, StateChange) and a.new is State.MASTER
        ]


@pytest.mark.parametrize(("version", "interval"), [(2, 1.0), (3, 1.0), (3, 0.1)])
def test_lan_election_and_failover(version: int, interval: float) -> None:
    def router(addr: str, prio: int) -> VrrpInstanceMachine:
        return VrrpInstanceMachine(
            params(primary_address=addr, priority=prio, version=version, advert_interval=interval)
        )

    lan = Lan({"10.0.0.1": router("10.0.0.1", 150), "10.0.0.2": router("10.0.0.2", 100)})
    lan.start(T0)
    lan.run_until(T0 + 30 * interval)
    assert lan.masters() == ["10.0.0.1"]
    assert lan.routers["10.0.0.2"].master == ("10.0.0.1", 150)

    # The master stops: the backup takes over after Skew_Time.
    stop = T0 + 30 * interval + 0.25 * interval
    lan._deliver(stop, "10.0.0.1", lan.routers["10.0.0.1"].shutdown(stop))
    lan.run_until(stop + 10 * interval)
    assert lan.masters() == ["10.0.0.2"]
    skew = lan.routers["10.0.0.2"].skew_time
    assert lan.became_master_at("10.0.0.2") == [pytest.approx(stop + skew)]


def test_lan_equal_priority_higher_address_wins() -> None:
    lan = Lan(
        {a: VrrpInstanceMachine(params(primary_address=a)) for a in ("10.0.0.9", "10.0.0.10")}
    )
    lan.start(T0)
    lan.run_until(T0 + 20)
    assert lan.masters() == ["10.0.0.10"]


def test_lan_higher_priority_returns_and_preempts() -> None:
    lan = Lan(
        {
            "10.0.0.1": VrrpInstanceMachine(params(primary_address="10.0.0.1", priority=100)),
            "10.0.0.2": VrrpInstanceMachine(params(primary_address="10.0.0.2", priority=200)),
        }
    )
    lan.routers["10.0.0.1"].start(T0)
    lan.run_until(T0 + 10)
    assert lan.masters() == ["10.0.0.1"]
    lan.start(T0 + 10)  # the higher-priority router boots as BACKUP
    lan.run_until(T0 + 30)
    assert lan.masters() == ["10.0.0.2"]
    # it discarded the lower master's adverts and took over at its master-down timeout
    took_over = lan.became_master_at("10.0.0.2")[0]
    assert T0 + 10 < took_over <= T0 + 10 + 3.21875 + 1e-9

"""The VRRP state machine of one instance, pure: events and a clock in, actions out.

No sockets and no clock reads: every method takes ``now`` (seconds on a monotonic clock
the caller chooses) and returns the :data:`Action` list the event loop must carry out, in
order. :attr:`VrrpInstanceMachine.next_deadline` tells the loop when to call
:meth:`VrrpInstanceMachine.on_timer` next. Adverts given to
:meth:`VrrpInstanceMachine.on_advert` must already have passed
:func:`pytest_halab.vrrp.packet.check_advert`.

The behaviour follows RFC 3768 (VRRPv2) and RFC 5798 (VRRPv3) section 6 as keepalived
2.2.7 implements them; the keepalived functions named below are in keepalived/vrrp/vrrp.c
unless another file is given.

Timers are kept in integer microseconds, as keepalived keeps them (``TIMER_HZ``), so
the values are exactly keepalived's (``vrrp.h``)::

    v2  Skew_Time = (256 - Priority) * 1 s / 256
    v3  Skew_Time = (256 - Priority) * Master_Adver_Interval / 256
    Master_Down_Interval = down_timer_adverts (3) * Master_Adver_Interval + Skew_Time

where Priority is the effective priority and, for v2, Master_Adver_Interval is always the
configured interval (a v2 advert with another interval is dropped before it gets here).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from enum import StrEnum

from pytest_halab.vrrp.packet import VrrpAdvert

__all__ = [
    "PRIORITY_OWNER",
    "PRIORITY_STOP",
    "Action",
    "AddVips",
    "InstanceParams",
    "LogNotice",
    "LowerPriorityAdvertSeen",
    "NewMasterSeen",
    "PriorityChange",
    "RemoveVips",
    "SendAdvert",
    "SendGratuitousArp",
    "State",
    "StateChange",
    "VrrpInstanceMachine",
]

PRIORITY_OWNER = 255
"""Priority of the address owner: goes MASTER at once, ignores tracking weights."""
PRIORITY_STOP = 0
"""Priority of the advert a master sends when it stops being master."""

_SECOND = 1_000_000
_CENTISECOND = 10_000


class State(StrEnum):
    """VRRP instance states (keepalived's names)."""

    INIT = "INIT"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"
    STOP = "STOP"


# --- actions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SendAdvert:
    """Send one advertisement now, carrying ``priority``."""

    priority: int


@dataclass(frozen=True)
class AddVips:
    """Add the virtual addresses (and virtual routes/rules) to the interfaces."""


@dataclass(frozen=True)
class RemoveVips:
    """Remove the virtual addresses (and virtual routes/rules)."""


@dataclass(frozen=True)
class SendGratuitousArp:
    """Send ``repeat`` gratuitous ARPs for each virtual address (keepalived's paced burst)."""

    repeat: int
    reason: str


@dataclass(frozen=True)
class StateChange:
    """The instance changed state: run notify scripts, write the event log line.

    Comes after the network actions of the same transition, as keepalived runs notifies
    after adding or removing the addresses (``send_instance_notifies``).
    """

    old: State
    new: State
    reason: str


@dataclass(frozen=True)
class NewMasterSeen:
    """A backup accepted an advert from a master other than the last one seen (or the
    same master at another priority)."""

    address: str
    priority: int


@dataclass(frozen=True)
class LowerPriorityAdvertSeen:
    """As master, an advert from a lower-priority router arrived: keepalived runs
    ``notify_master_rx_lower_pri`` then."""

    address: str
    priority: int


@dataclass(frozen=True)
class PriorityChange:
    """The effective priority changed (tracking weights): keepalived's
    ``notify_priority_changes``."""

    old: int
    new: int


@dataclass(frozen=True)
class LogNotice:
    """Something worth a log line that is not a state change (keepalived logs it).

    ``detail``: keepalived logs it only with ``-D``/``--log-detail``."""

    message: str
    detail: bool = False


Action = (
    SendAdvert
    | AddVips
    | RemoveVips
    | SendGratuitousArp
    | StateChange
    | NewMasterSeen
    | LowerPriorityAdvertSeen
    | PriorityChange
    | LogNotice
)


# --- parameters ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class InstanceParams:
    """What the state machine needs of one ``vrrp_instance`` block.

    ``priority`` is the configured (base) priority. ``initial_state`` is keepalived's
    ``state``: None derives it from the priority (MASTER only for 255), as
    ``vrrp_complete_instance`` does. ``primary_address`` is the address adverts are sent
    from (IPv4, or IPv6 for an IPv6 instance), used to break priority ties. Durations are
    seconds. The ``garp_*``, ``lower_prio_no_advert`` and ``higher_prio_send_advert``
    defaults are keepalived's non-strict defaults (``VRRP_GARP_*`` in include/vrrp.h,
    global_data.c); the two ``garp_lower_prio_*`` default to the master values, as
    keepalived does.
    """

    name: str
    vrid: int
    primary_address: str
    version: int = 2
    priority: int = 100
    advert_interval: float = 1.0
    initial_state: State | None = None
    nopreempt: bool = False
    preempt_delay: float = 0.0
    down_timer_adverts: int = 3
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float | None = None
    garp_lower_prio_repeat: int | None = None
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False

    def __post_init__(self) -> None:
        if self.version not in (2, 3):
            raise ValueError(f"VRRP version must be 2 or 3, not {self.version}")
        if not 1 <= self.vrid <= 255:
            raise ValueError(f"VRID must be 1-255, not {self.vrid}")
        if not 1 <= self.priority <= PRIORITY_OWNER:
            raise ValueError(f"priority must be 1-255, not {self.priority}")
        if not self.advert_interval > 0:
            raise ValueError("advert_interval must be positive")
        if self.initial_state not in (None, State.MASTER, State.BACKUP):
            raise ValueError("initial_state must be MASTER, BACKUP or None")
        if self.down_timer_adverts < 1:
            raise ValueError("down_timer_adverts must be at least 1")
        if min(self.preempt_delay, self.garp_master_delay, self.garp_master_refresh) < 0:
            raise ValueError("delays must not be negative")
        ipaddress.ip_address(self.primary_address)


def _micros(seconds: float) -> int:
    return round(seconds * _SECOND)


class VrrpInstanceMachine:
    """The RFC state machine of one VRRP instance (see the module docstring).

    Construct, then :meth:`start`. Feed it :meth:`on_advert` for each advert that passed
    ``check_advert``, :meth:`on_timer` when :attr:`next_deadline` is reached,
    :meth:`set_effective_priority` when tracking weights change, :meth:`set_fault` when a
    tracked interface or script says the instance must be down, :meth:`shutdown` at exit.
    """

    def __init__(self, params: InstanceParams) -> None:
        warnings: list[str] = []
        unit = _SECOND if params.version == 2 else _CENTISECOND
        adver = _micros(params.advert_interval)
        limit = 255 * _SECOND if params.version == 2 else 0x0FFF * _CENTISECOND
        if adver > limit:
            warnings.append(f"advert interval out of range, set to {limit / _SECOND} s")
            adver = limit
        elif adver % unit:
            # vrrp_complete_instance: round to whole seconds (v2) or 10 ms (v3), min 1 unit.
            adver = max(unit, (adver + unit // 2) // unit * unit)
            warnings.append(f"advert interval rounded to {adver / _SECOND} s")
        initial = params.initial_state
        if initial is None:
            initial = State.MASTER if params.priority == PRIORITY_OWNER else State.BACKUP
        nopreempt, preempt_delay = params.nopreempt, _micros(params.preempt_delay)
        # The same clean-ups as vrrp_complete_instance, with its warnings.
        if nopreempt and params.priority == PRIORITY_OWNER:
            warnings.append("nopreempt is incompatible with priority 255, resetting nopreempt")
            nopreempt = False
        if initial is State.MASTER:
            if nopreempt:
                warnings.append("nopreempt will not work with initial state MASTER, clearing")
                nopreempt = False
            if preempt_delay:
                warnings.append("preempt delay will not work with initial state MASTER, clearing")
                preempt_delay = 0
        if preempt_delay and nopreempt:
            warnings.append("preempt_delay is incompatible with nopreempt mode, resetting")
            preempt_delay = 0

        self.params = params
        self.config_warnings: tuple[str, ...] = tuple(warnings)
        self._initial_state = initial
        self._nopreempt = nopreempt
        self._preempt_delay = preempt_delay
        self._adver_us = adver
        self._address = int(ipaddress.ip_address(params.primary_address))
        self._base_priority = params.priority
        self._priority = params.priority
        self._state = State.INIT
        self._fault = False
        self._master_adver_us = adver
        self._ms_down_us = 0
        self._deadline: float | None = None  # BACKUP: master down; MASTER: next advert
        self._garp_deadline: float | None = None
        self._lower_prio_garp_deadline: float | None = None
        self._garp_refresh_at: float | None = None
        self._preempt_at: float | None = None
        self._master: tuple[str, int] | None = None
        self._ms_down_us = self._master_down_us()

    # --- what the loop reads ----------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def effective_priority(self) -> int:
        return self._priority

    @property
    def nopreempt(self) -> bool:
        """nopreempt after keepalived's clean-ups (cleared for initial state MASTER)."""
        return self._nopreempt

    @property
    def preempt_delay(self) -> float:
        """preempt_delay in seconds after keepalived's clean-ups."""
        return self._preempt_delay / _SECOND

    @property
    def advert_interval(self) -> float:
        """Our Advertisement_Interval in seconds (rounded to the wire unit)."""
        return self._adver_us / _SECOND

    @property
    def advert_int_field(self) -> int:
        """Our interval as the advert field: v2 seconds, v3 centiseconds."""
        unit = _SECOND if self.params.version == 2 else _CENTISECOND
        return self._adver_us // unit

    @property
    def master_advert_interval(self) -> float:
        """Master_Adver_Interval in seconds (v3: learned from the master's adverts)."""
        return self._master_adver_us / _SECOND

    @property
    def skew_time(self) -> float:
        return self._skew_us() / _SECOND

    @property
    def master_down_interval(self) -> float:
        return self._master_down_us() / _SECOND

    @property
    def master(self) -> tuple[str, int] | None:
        """(address, priority) of the last master a backup accepted adverts from."""
        return self._master

    @property
    def next_deadline(self) -> float | None:
        """When :meth:`on_timer` must next be called, or None when no timer runs."""
        pending = [
            t
            for t in (self._deadline, self._garp_deadline, self._lower_prio_garp_deadline)
            if t is not None
        ]
        return min(pending) if pending else None

    # --- timers -----------------------------------------------------------------------

    def _skew_us(self, priority_value: int | None = None) -> int:
        value = 256 - self._priority if priority_value is None else priority_value
        if self.params.version == 3:
            # VRRP_TIMER_SKEW_CALC: centiseconds * 625 / 16 == us / 256, truncated as keepalived
            return value * (self._master_adver_us // _CENTISECOND) * 625 // 16
        return value * _SECOND // 256

    def _master_down_us(self) -> int:
        return self.params.down_timer_adverts * self._master_adver_us + self._skew_us()

    def _arm(self, now: float, micros: int) -> None:
        self._deadline = now + micros / _SECOND

    # --- events -----------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Leave INIT (keepalived's ``vrrp_init_state`` in vrrp_scheduler.c).

        - a fault already reported (:meth:`set_fault` before start): FAULT;
        - initial state MASTER and priority 255 (the address owner): MASTER at once
          (keepalived enters BACKUP with a 1 us master-down timer, silently);
        - otherwise, *including* ``state MASTER`` with a priority below 255: BACKUP with
          the full Master_Down_Interval; keepalived 2.2 treats ``state MASTER`` of a
          non-owner as a hint only, so it waits to hear from a current master.
        """
        if self._state is not State.INIT:
            return []
        if self._fault:
            return self._enter(now, State.FAULT, "init: instance is in fault")
        if self._initial_state is State.MASTER and self._base_priority == PRIORITY_OWNER:
            return self._become_master(now, "address owner (priority 255)")
        return self._enter_backup(now, "init")

    def on_timer(self, now: float) -> list[Action]:
        """Handle every timer due at ``now``: master down, advert, delayed GARP bursts."""
        actions: list[Action] = []
        if self._garp_deadline is not None and self._garp_deadline <= now:
            self._garp_deadline = None
            if self._state is State.MASTER and self.params.garp_master_repeat:
                actions.append(
                    SendGratuitousArp(self.params.garp_master_repeat, "garp_master_delay")
                )
        due = self._lower_prio_garp_deadline
        if due is not None and due <= now:
            self._lower_prio_garp_deadline = None
            if self._state is State.MASTER:
                actions.append(SendGratuitousArp(self.lower_prio_repeat, "lower priority advert"))
        if self._deadline is not None and self._deadline <= now:
            if self._state is State.BACKUP:
                actions += self._become_master(now, "master down timer expired")
            elif self._state is State.MASTER:
                actions += self._master_tx(now)
        return actions

    def on_advert(self, now: float, src_ip: str, advert: VrrpAdvert) -> list[Action]:
        """An advert for this instance from ``src_ip`` that passed ``check_advert``.

        Ignored in INIT, FAULT and STOP (keepalived's ``vrrp_dispatcher_read``).
        """
        if self._state is State.BACKUP:
            return self._backup_rx(now, src_ip, advert)
        if self._state is State.MASTER:
            return self._master_rx(now, src_ip, advert)
        return []

    def set_base_priority(self, priority: int) -> None:
        """A reload changed the configured priority; the state is kept, as keepalived's
        ``restore_vrrp_state`` keeps it. The new value reaches the effective priority (and
        the adverts) through :meth:`set_effective_priority`. Becoming or ceasing to be the
        address owner (255) is not a change of priority but of role: the caller restarts
        the instance instead."""
        if PRIORITY_OWNER in (priority, self._base_priority):
            raise ValueError("a change to or from priority 255 restarts the instance")
        self._base_priority = priority
        self.params = replace(self.params, priority=priority)

    def set_effective_priority(self, now: float, priority: int) -> list[Action]:
        """Base priority plus tracking weights changed to ``priority``.

        As keepalived's ``vrrp_set_effective_priority`` (vrrp_track.c): the owner's
        priority never changes; the value is clamped to 1-254; a master carries it in its
        next advert (no advert is sent now); a backup's master-down deadline moves by the
        change in Skew_Time. A backup that now outranks a (preemptible) master does not
        take over at once: it discards the master's lower-priority adverts and takes over
        when Master_Down_Interval runs out, as the RFC says.
        """
        del now  # the deadline moves relative to itself, as keepalived's sands
        if self._base_priority == PRIORITY_OWNER:
            return []
        new = min(max(priority, 1), PRIORITY_OWNER - 1)
        if new == self._priority:
            return []
        old, old_down = self._priority, self._ms_down_us
        self._priority = new
        self._ms_down_us = self._master_down_us()
        if self._state is State.BACKUP and self._deadline is not None:
            self._deadline += (self._ms_down_us - old_down) / _SECOND
        return [PriorityChange(old, new)]

    def set_fault(self, now: float, fault: bool) -> list[Action]:
        """A tracked interface or script puts the instance in FAULT, or lets it out.

        Into FAULT (keepalived's ``down_instance``): a master sends a priority-0 advert and
        removes its addresses. Out of FAULT (``try_up_instance``): BACKUP with a full
        Master_Down_Interval and Master_Adver_Interval reset to ours, even for the address
        owner (keepalived has replaced the wanted state MASTER by FAULT by then).
        """
        if fault == self._fault:
            return []
        self._fault = fault
        if fault:
            if self._state is State.MASTER:
                return self._leave_master(now, State.FAULT, "fault", send_stop=True)
            if self._state is State.BACKUP:
                return self._enter(now, State.FAULT, "fault")
            return []
        if self._state is not State.FAULT:
            return []
        self._master_adver_us = self._adver_us
        return self._enter_backup(now, "fault cleared")

    def step_down(self, now: float, reason: str) -> list[Action]:
        """keepalived's ``set_vrrp_backup``: something a master put in place (a tracked
        virtual route or rule) was deleted. A master leaves MASTER with a priority-0
        advert and removes its addresses, to BACKUP with a master-down timer of Skew_Time
        alone: it takes over again at once unless another master is heard."""
        if self._state is not State.MASTER:
            return []
        actions = self._leave_master(now, State.BACKUP, reason, send_stop=True)
        self._ms_down_us = self._skew_us()
        self._arm(now, self._ms_down_us)
        return actions

    def shutdown(self, now: float) -> list[Action]:
        """Stop: a master sends a priority-0 advert and removes its addresses
        (keepalived's ``restore_vrrp_interfaces``), then every state goes to STOP."""
        if self._state is State.STOP:
            return []
        if self._state is State.MASTER:
            return self._leave_master(now, State.STOP, "shutdown", send_stop=True)
        return self._enter(now, State.STOP, "shutdown")

    # --- transitions ------------------------------------------------------------------

    @property
    def lower_prio_repeat(self) -> int:
        """garp_lower_prio_repeat, defaulting to garp_master_repeat (keepalived's)."""
        rep = self.params.garp_lower_prio_repeat
        return self.params.garp_master_repeat if rep is None else rep

    @property
    def lower_prio_delay(self) -> float:
        """garp_lower_prio_delay, defaulting to garp_master_delay (keepalived's)."""
        delay = self.params.garp_lower_prio_delay
        return self.params.garp_master_delay if delay is None else delay

    def _clear_timers(self) -> None:
        self._deadline = None
        self._garp_deadline = None
        self._lower_prio_garp_deadline = None
        self._garp_refresh_at = None

    def _enter(self, now: float, new: State, reason: str) -> list[Action]:
        del now
        old, self._state = self._state, new
        self._clear_timers()
        return [StateChange(old, new, reason)]

    def _enter_backup(self, now: float, reason: str) -> list[Action]:
        old, self._state = self._state, State.BACKUP
        self._clear_timers()
        self._preempt_at = None
        self._ms_down_us = self._master_down_us()
        self._arm(now, self._ms_down_us)
        return [StateChange(old, State.BACKUP, reason)]

    def _become_master(self, now: float, reason: str) -> list[Action]:
        """``vrrp_state_goto_master`` then ``vrrp_state_master_tx``: the advert goes first
        so the old master drops the addresses before our gratuitous ARPs, then the
        addresses, the first GARP burst, the notify, and a second burst after
        ``garp_master_delay`` (``vrrp_gratuitous_arp_thread``)."""
        old, self._state = self._state, State.MASTER
        self._clear_timers()
        learned = self._master_adver_us
        self._master_adver_us = self._adver_us
        self._master = None
        actions: list[Action] = [SendAdvert(self._priority), AddVips()]
        if self.params.garp_master_repeat:
            actions.append(SendGratuitousArp(self.params.garp_master_repeat, "became master"))
        if self.params.garp_master_refresh:
            self._garp_refresh_at = now + self.params.garp_master_refresh
        actions.append(StateChange(old, State.MASTER, reason))
        if self.params.version == 3 and learned != self._adver_us:
            actions.append(
                LogNotice(
                    f"changing advert interval from {learned // 1000}ms"
                    f" to locally configured {self._adver_us // 1000}ms",
                    detail=True,
                )
            )
        if self.params.garp_master_delay:
            self._garp_deadline = now + self.params.garp_master_delay
        self._arm(now, self._adver_us)
        return actions

    def _master_tx(self, now: float) -> list[Action]:
        """Advert timer fired: advertise; refresh GARPs when ``garp_master_refresh`` is due
        (keepalived only checks it when it advertises, so it needs no timer of its own)."""
        actions: list[Action] = [SendAdvert(self._priority)]
        if self._garp_refresh_at is not None and now > self._garp_refresh_at:
            actions.append(
                SendGratuitousArp(self.params.garp_master_refresh_repeat, "garp_master_refresh")
            )
            self._garp_refresh_at = now + self.params.garp_master_refresh
        self._arm(now, self._adver_us)
        return actions

    def _leave_master(
        self, now: float, new: State, reason: str, *, send_stop: bool
    ) -> list[Action]:
        """``vrrp_state_leave_master``/``vrrp_restore_interface``: optional priority-0
        advert, remove the addresses (pending GARPs are cancelled), then the notify."""
        actions: list[Action] = [SendAdvert(PRIORITY_STOP)] if send_stop else []
        actions.append(RemoveVips())
        if new is State.BACKUP:
            actions += self._enter_backup(now, reason)
        else:
            actions += self._enter(now, new, reason)
        return actions

    def _learn_master_interval(self, advert: VrrpAdvert) -> list[Action]:
        # RFC 5798 6.4.2/6.4.3: a v3 backup takes Master_Adver_Interval from the advert.
        if self.params.version != 3:
            return []
        learned = advert.advert_int * _CENTISECOND
        if learned == self._master_adver_us:
            return []
        old, self._master_adver_us = self._master_adver_us, learned
        return [
            LogNotice(
                f"advertisement interval updated from {old // 1000}ms to {learned // 1000}ms"
                " by master",
                detail=True,
            )
        ]

    def _backup_rx(self, now: float, src_ip: str, advert: VrrpAdvert) -> list[Action]:
        """``vrrp_state_backup``.

        - priority 0: Master_Down_Timer = Skew_Time (take over quickly);
        - nopreempt, or priority >= ours, or a preempt delay still running: accept it:
          learn the v3 interval, reset Master_Down_Timer, remember the master;
        - otherwise (a lower-priority master and we may preempt): discard it, leaving
          the master-down timer to run out so we take over.

        keepalived's preempt_delay: the first lower-priority advert starts a delay of
        ``preempt_delay`` during which lower-priority adverts are still accepted; once it
        has passed they are discarded. An advert of priority >= ours stops the delay, and
        entering BACKUP clears it. With no adverts at all (the master died) the delay plays
        no part: the master-down timer fires as usual.
        """
        if advert.priority == PRIORITY_STOP:
            self._ms_down_us = self._skew_us()
            self._arm(now, self._ms_down_us)
            return [LogNotice("Backup received priority 0 advertisement", detail=True)]
        delay_running = bool(self._preempt_delay) and (
            self._preempt_at is None or self._preempt_at > now
        )
        if not (self._nopreempt or advert.priority >= self._priority or delay_running):
            source = ipaddress.ip_address(src_ip)
            return [
                LogNotice(
                    f"received lower priority ({advert.priority}) advert from {source} - discarding"
                )
            ]
        actions = self._learn_master_interval(advert)
        self._ms_down_us = self._master_down_us()
        self._arm(now, self._ms_down_us)
        if self._preempt_delay:
            if advert.priority >= self._priority:
                if self._preempt_at is not None:
                    actions.append(LogNotice("stop preempt delay", detail=True))
                self._preempt_at = None
            elif self._preempt_at is None:
                self._preempt_at = now + self._preempt_delay / _SECOND
                delay = self._preempt_delay
                actions.append(
                    LogNotice(
                        f"start preempt delay ({delay // _SECOND}.{delay % _SECOND:06d})",
                        detail=True,
                    )
                )
        seen = (str(ipaddress.ip_address(src_ip)), advert.priority)
        if seen == self._master:
            return actions
        self._master = seen
        return [*actions, NewMasterSeen(*seen)]

    def _master_rx(self, now: float, src_ip: str, advert: VrrpAdvert) -> list[Action]:
        """``vrrp_state_master_rx``.

        - priority 0: advertise at once (and restart the advert timer), stay master;
        - equal priority from the address owner while we are owner too: a configuration
          error; keepalived lowers our priority to 254 and so yields;
        - lower priority, or equal priority from a lower address: stay master; keepalived
          (unless ``lower_prio_no_advert``) advertises at once to force a new election,
          sends ``garp_lower_prio_repeat`` GARPs now and again after
          ``garp_lower_prio_delay``, and runs ``notify_master_rx_lower_pri``;
        - higher priority, or equal priority from a higher address (compared as
          integers): learn the v3 interval and go BACKUP, removing the addresses
          (no priority-0 advert).

        keepalived restarts the advert timer after *any* received packet unless
        ``lower_prio_no_advert``; we restart it only when we did advertise.
        """
        address = ipaddress.ip_address(src_ip)
        src = int(address)
        cmp = (src > self._address) - (src < self._address)
        prio, ours = advert.priority, self._priority
        actions: list[Action] = []
        if prio == PRIORITY_STOP or (
            self.params.higher_prio_send_advert and (prio > ours or (prio == ours and cmp > 0))
        ):
            actions.append(SendAdvert(ours))
            self._arm(now, self._adver_us)
            if prio == PRIORITY_STOP:
                actions.append(LogNotice("Master received priority 0 message", detail=True))
                return actions
        if prio == ours:
            if cmp == 0:
                actions.append(
                    LogNotice(
                        "WARNING - equal priority advert received from remote host with our"
                        " IP address."
                    )
                )
            elif ours == PRIORITY_OWNER:
                actions.append(
                    LogNotice(
                        "CONFIGURATION ERROR: local instance and a remote instance are both"
                        " configured as address owner, please fix - reducing local priority"
                    )
                )
                self._priority = self._base_priority = ours = PRIORITY_OWNER - 1
        if prio < ours or (prio == ours and cmp < 0):
            if not self.params.lower_prio_no_advert:
                actions.append(SendAdvert(ours))
                self._arm(now, self._adver_us)
            if self.lower_prio_repeat:
                actions.append(SendGratuitousArp(self.lower_prio_repeat, "lower priority advert"))
                if self.lower_prio_delay:
                    self._lower_prio_garp_deadline = now + self.lower_prio_delay
            actions.append(LowerPriorityAdvertSeen(str(address), prio))
            return actions
        if prio > ours or (prio == ours and cmp > 0):
            if prio > ours:
                seen = f"with higher priority {prio}, ours {ours}"
            else:
                seen = f"with same priority {prio} but higher IP address than ours"
            actions.append(LogNotice(f"Master received advert from {address} {seen}"))
            actions += self._learn_master_interval(advert)
            why = "higher priority" if prio > ours else "equal priority, higher address"
            actions += self._leave_master(
                now, State.BACKUP, f"{why} advert from {src_ip}", send_stop=False
            )
            self._master = (str(address), prio)
            actions.append(NewMasterSeen(*self._master))
        return actions

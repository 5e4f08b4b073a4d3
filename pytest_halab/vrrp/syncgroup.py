"""vrrp_sync_group: members move together, as keepalived's vrrp_sync.c.

Into FAULT when one is; to MASTER only once every member's master-down timer has run out
(one that still hears a master keeps the whole group BACKUP), then all at once; to BACKUP
when one loses an election. state.py has no way to force a state, so members are fed
adverts made up here (never sent): priority 0 (then the Skew_Time timer is run) or
priority 255.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from pytest_halab.vrrp.conf import KeepalivedConfig
from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.instance import Instance
from pytest_halab.vrrp.packet import VrrpAdvert
from pytest_halab.vrrp.state import (
    PRIORITY_OWNER,
    Action,
    LogNotice,
    NewMasterSeen,
    State,
    StateChange,
)
from pytest_halab.vrrp.track import NotifyCommand, notify_runs

__all__ = ["SyncGroups"]

log = logging.getLogger("halab-vrrpd")

# Source of the adverts made up to move a member (never sent).
_SYNC_SRC = "0.0.0.0"


class SyncGroups:
    """The configured sync groups, moving their members together.

    It works through the coordinator's hands: ``instances()`` gives the running instances
    by name, ``apply(inst, actions)`` carries out a member's actions (and comes back to
    :meth:`follow`), ``run(command)`` starts a notify script as its user.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        events: EventLog,
        instances: Callable[[], Mapping[str, Instance]],
        apply: Callable[[Instance, Sequence[Action]], None],
        run: Callable[[NotifyCommand], object],
        detail: bool = False,
        alert: Callable[[str, str], object] | None = None,
    ) -> None:
        self._clock = clock
        self._events = events
        self._instances = instances
        self._apply = apply
        self._run = run
        self._detail = detail
        self._alert = alert  # (group, state): the group's state-change mail
        self._config = KeepalivedConfig()
        self._syncing = False
        self.states: dict[str, str] = {}  # group name -> the state all members share

    def configure(self, config: KeepalivedConfig) -> None:
        """Take the groups of a newly loaded configuration."""
        self._config = config

    def members(self, inst: Instance) -> list[Instance]:
        """The other running members of the instance's sync group."""
        group = self._config.sync_groups.get(inst.group or "")
        if group is None:
            return []
        running = self._instances()
        members = (running.get(name) for name in group.members if name != inst.name)
        return [m for m in members if m is not None]

    def shared_fault(self, inst: Instance, faults: Mapping[str, bool]) -> bool:
        """The instance's fault (``faults``: each instance's own, by name): in a group,
        FAULT when any member is."""
        group = self._config.sync_groups.get(inst.group or "")
        if group is None:
            return faults[inst.name]
        return any(faults[m] for m in group.members if m in faults)

    def holds_back(self, inst: Instance, now: float) -> bool:
        """Called when a member's timer runs out. Master down: it goes MASTER only when
        every member wants to (keepalived's vrrp_sync_can_goto_master: prefer BACKUP to
        thrashing). True when it must wait: its master-down timer is re-armed instead."""
        machine = inst.machine
        deadline = machine.next_deadline
        if not (
            inst.group
            and machine.state is State.BACKUP
            and deadline is not None
            and deadline <= now
        ):
            return False
        inst.wants_master = True
        waiting = [
            m.name
            for m in self.members(inst)
            if m.machine.state is not State.MASTER and not m.wants_master
        ]
        if not waiting:
            return False
        if self._detail:
            log.info(
                "(%s) master down, but sync group %s waits for %s",
                inst.name,
                inst.group,
                " ".join(waiting),
            )
        self._apply(inst, self._sync_advert(inst, now, PRIORITY_OWNER))
        return True

    def follow(self, inst: Instance, actions: Sequence[Action]) -> None:
        """After a member's actions: one that became MASTER or lost an election takes
        the others with it (keepalived's vrrp_sync_master/vrrp_sync_backup)."""
        if not inst.group or self._syncing:
            return
        for action in actions:
            if not isinstance(action, StateChange):
                continue
            if (action.old, action.new) == (State.BACKUP, State.MASTER):
                self._sync_to(inst, State.MASTER)
            elif (action.old, action.new) == (State.MASTER, State.BACKUP):
                self._sync_to(inst, State.BACKUP)

    def report(self, name: str) -> None:
        """A member changed state: once all share a new one, log it, record it and run
        the group's notify commands."""
        group = self._config.sync_groups.get(name)
        if group is None:
            return
        running = self._instances()
        states = {running[m].machine.state for m in group.members if m in running}
        if len(states) != 1:
            return
        state = states.pop().value
        if self.states.get(name) == state:
            return
        self.states[name] = state
        log.info("(%s) Sync group entering %s STATE", name, state)
        self._events.emit("group_state_change", None, group=name, new=state)
        specific = {
            "MASTER": group.notify_master,
            "BACKUP": group.notify_backup,
            "FAULT": group.notify_fault,
            "STOP": group.notify_stop,
        }.get(state)
        for command in notify_runs(
            kind="GROUP",
            name=name,
            state=state,
            priority=0,
            specific=specific,
            generic=group.notify,
        ):
            self._run(command)
        if self._alert is not None:
            self._alert(name, state)

    def _sync_advert(self, inst: Instance, now: float, priority: int) -> list[Action]:
        """Feed the machine an advert made up here (never sent): priority 255 makes a
        master step down, or re-arms a backup's Master_Down_Timer; priority 0 shortens a
        backup's timer to Skew_Time. These are the RFC's own transitions. The made-up
        master is not reported."""
        machine = inst.machine
        unit = 1.0 if machine.params.version == 2 else 0.01
        advert = VrrpAdvert(
            version=machine.params.version,
            vrid=machine.params.vrid,
            priority=priority,
            advert_int=round(machine.master_advert_interval / unit),
            addresses=inst.advert_addresses,
        )
        actions = machine.on_advert(now, _SYNC_SRC, advert)
        # the advert is made up: no master was seen, and nothing of it is logged (keepalived
        # moves a group's members without one)
        return [a for a in actions if not isinstance(a, (NewMasterSeen, LogNotice))]

    def _sync_to(self, cause: Instance, state: State) -> None:
        """One member became MASTER (all wanted to) or lost an election, and the others
        follow it at once."""
        members = [m for m in self.members(cause) if m.machine.state is not state]
        if state is State.MASTER:
            members = [m for m in members if m.machine.state is State.BACKUP]
        else:
            # An address owner cannot be outranked: it stays (keepalived warns about it).
            members = [
                m
                for m in members
                if m.machine.state is State.MASTER and m.machine.effective_priority < 255
            ]
        if not members:
            return
        log.info("VRRP_Group(%s) Syncing instances to %s state", cause.group, state.value)
        now = self._clock()
        self._syncing = True
        try:
            for member in members:
                reason = f"sync group {cause.group} ({cause.name} {state.value})"
                if state is State.MASTER:
                    # Priority 0: Master_Down_Timer = Skew_Time, then run that timer now.
                    # The advert timer starts Skew_Time late, less than one interval.
                    actions = self._sync_advert(member, now, 0)
                    deadline = member.machine.next_deadline
                    if deadline is not None:
                        actions += member.machine.on_timer(deadline)
                else:
                    actions = self._sync_advert(member, now, PRIORITY_OWNER)
                member.wants_master = False
                self._apply(
                    member,
                    [
                        replace(a, reason=reason) if isinstance(a, StateChange) else a
                        for a in actions
                    ],
                )
        finally:
            self._syncing = False

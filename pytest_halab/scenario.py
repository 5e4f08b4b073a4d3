"""A test's scenario on a lab: observe everything, inject faults, measure what happened.

``Scenario`` is what the ``hal`` fixture gives a test::

    def test_crash_master(hal):
        fault = hal.faults.crash_node("lb1")
        m = hal.failover("VI_1", fault, to="lb2")          # waits, then measures
        assert m.vip_move_s is not None and m.failed_requests < 100
        hal.revert(fault)
        hal.recovery("VI_1", fault, to="lb1")              # preemption brings it back

At the end of the test every fault still applied is reverted and the lab is restored to its
initial state (each VIP on its expected master), so the next test starts clean.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from . import waits
from .errors import LabTimeoutError
from .faults import Fault, Faults
from .lab import Lab
from .measures import FailoverMeasure, MeasureContext, Phase, VipInfo, measure
from .observe import PROBE_INTERVAL_S, PROBE_TIMEOUT_S, Observation
from .timeline import Timeline

Recorder = Callable[[FailoverMeasure], None]


@dataclass
class Scenario:
    """Observation + faults + measures on one lab, for one test."""

    lab: Lab
    record: Recorder | None = None
    faults: Faults = field(init=False)
    observation: Observation = field(init=False)
    measures: list[FailoverMeasure] = field(default_factory=list)
    probe_interval: float = PROBE_INTERVAL_S
    _macs: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.observation = Observation(self.lab, probe_interval=self.probe_interval)
        self.faults = Faults(self.lab, sink=self.observation)

    def __enter__(self) -> Scenario:
        self.observation.start()
        return self

    def __exit__(self, *exc: object) -> None:
        errors: list[Exception] = []
        try:
            errors = self.faults.revert_all()
            self.observation.stop()
        finally:
            try:
                self.lab.restore()
            except Exception as exc:
                # a fault that failed to undo usually explains why the lab did not recover
                for err in errors:
                    exc.add_note(f"while undoing faults: {type(err).__name__}: {err}")
                raise
        if errors:
            raise errors[0]

    # ------------------------------------------------------------ queries

    def timeline(self) -> Timeline:
        """Everything observed so far (agents keep running)."""
        return self.observation.snapshot()

    def _node_addrs(self) -> dict[str, str]:
        return {n.name: str(n.ip) for n in self.lab.nodes.values()}

    def _vip_addr(self, vip: str) -> str:
        return str(self.lab.vip_addresses()[vip])

    def revert(self, fault: Fault) -> None:
        self.faults.revert(fault)

    def wait_holders(self, expected: dict[str, list[str]], timeout: float = 15.0) -> None:
        self.lab.wait_for_holders(expected, timeout)

    def _node_macs(self) -> dict[str, str]:
        if self._macs is None:
            self._macs = {}
            for n in self.lab.nodes.values():
                n.container.reload()
                for net in (n.container.attrs["NetworkSettings"].get("Networks") or {}).values():
                    if net.get("MacAddress"):
                        self._macs[n.name] = str(net["MacAddress"]).lower()
        return self._macs

    def _vip_info(self, vip: str) -> VipInfo:
        d = self.lab.layout.vips.get(vip) if self.lab.layout else None
        return VipInfo(
            self._vip_addr(vip),
            vrid=d.vrid if d is not None else None,
            instances=(d.instance,) if d is not None and d.instance else None,
        )

    @cached_property
    def measure_context(self) -> MeasureContext:
        """What the measures need to know about this lab: built at the first measure (the
        nodes' MACs are read from Docker then), after observation has begun."""
        return MeasureContext(
            node_addrs=self._node_addrs(),
            node_macs=self._node_macs(),
            vips={vip: self._vip_info(vip) for vip in self.lab.vip_addresses()},
            initial_holders={
                vip: frozenset(held) for vip, held in self.observation.initial_holders.items()
            },
        )

    def _measure(
        self,
        phase: Phase,
        vip: str,
        ts: float,
        to: str | None,
        settle: float,
        timeout: float,
        fault: Fault,
    ) -> FailoverMeasure:
        if to is not None:
            self.lab.wait_for_holders({vip: [to]}, timeout)
        deadline = time.monotonic() + timeout
        # `settle`: a stretch of observation after the move (not a race: the measure is
        # taken from the timestamps recorded in the nodes, whatever the wait).
        time.sleep(settle)

        def compute() -> FailoverMeasure:
            # A probe is written when it ends, up to its timeout after it started: measure
            # up to `cut` only once every probe started before `cut` has reported.
            cut = time.time()
            time.sleep(max(0.0, cut + PROBE_TIMEOUT_S + 0.2 - time.time()))
            tl = self.timeline()
            nxt = tl.first(
                lambda e: (
                    e.kind == "fault" and e.get("phase") in ("inject", "revert") and e.ts > ts
                ),
                after=ts,
            )
            return measure(
                tl,
                self.measure_context,
                vip,
                phase=phase,
                at=ts,
                window_end=min(cut, nxt.ts) if nxt is not None else cut,
                new_holder=to,
                fault=_label(fault),
            )

        # The service may answer again a little after the move: measure again until it
        # does (bounded by the timeout; an unrecovered measure is still the result).
        m = compute()

        def recovered() -> FailoverMeasure | None:
            nonlocal m
            if not m.recovered:
                m = compute()
            return m if m.recovered else None

        with contextlib.suppress(LabTimeoutError):
            waits.until(
                f"the client's requests to {vip} to succeed again",
                recovered,
                max(0.0, deadline - time.monotonic()),
                interval=0.0,
            )
        self.measures.append(m)
        if self.record is not None:
            self.record(m)
        return m

    def failover(
        self,
        vip: str,
        fault: Fault,
        to: str | None = None,
        *,
        settle: float = 0.3,
        timeout: float = 15.0,
    ) -> FailoverMeasure:
        """Wait until ``to`` holds ``vip`` (if given) and the service answers again, then
        measure the failover from the moment ``fault`` was injected."""
        return self._measure("failover", vip, fault.injected_at, to, settle, timeout, fault)

    def recovery(
        self,
        vip: str,
        fault: Fault,
        to: str | None = None,
        *,
        settle: float = 0.3,
        timeout: float = 15.0,
    ) -> FailoverMeasure:
        """Same, from the moment ``fault`` was reverted (revert it first)."""
        if fault.reverted_at is None:
            self.faults.revert(fault)
        assert fault.reverted_at is not None
        return self._measure("recovery", vip, fault.reverted_at, to, settle, timeout, fault)


def _label(fault: Fault) -> str:
    """How a fault reads in reports: its name and what it did."""
    return f"{fault.name} {fault.detail}"

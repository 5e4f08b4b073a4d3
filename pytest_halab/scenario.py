"""A test's scenario on a lab: observe everything, inject faults, measure what happened.

``Scenario`` is what the ``hal`` fixture gives a test::

    def test_crash_master(hal):
        fault = hal.faults.crash_node("lb1")
        m = hal.failover("VI_1", fault, to="lb2")          # waits, then measures
        assert m.vip_move_s is not None and m.failed_requests < 100
        hal.revert(fault)
        hal.recovery("VI_1", fault, to="lb1")              # preemption brings it back

    def test_does_the_vip_move_if_nginx_dies(hal):
        m = hal.failover("VI_1", hal.faults.kill_process("lb1", "nginx"))   # no `to`
        assert m.moved, m.summary()   # "... did not move, held by lb1 throughout 7.0 s; ..."

A fault may move nothing. Watching for a move that does not come needs an end: a failover
measure watches for as long as the lab's VRRP configuration lets a move take
(:meth:`Scenario.move_bound`, see :mod:`pytest_halab.movebound`), then concludes. Without
``to`` the measure says so (``moved`` False, the holders, what the client saw); with ``to``
the wait fails at that point with :class:`~pytest_halab.errors.VipDidNotMove`, whose message
is the diagnosis, rather than at the timeout. Either way the measure is recorded.

At the end of the test every fault still applied is reverted and the lab is restored to its
initial state (each VIP on its expected master), so the next test starts clean.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from . import services, waits
from .containerlist import listed, macs_of
from .errors import LabTimeoutError, TopologyError, VipDidNotMove
from .faults import Fault, Faults
from .lab import Lab
from .labels import L_LAB
from .mail import Mail, mails
from .measures import FailoverMeasure, MeasureContext, Phase, VipInfo, measure
from .movebound import MoveBound, move_bound
from .nodes import parallel
from .observe import PROBE_INTERVAL_S, PROBE_TIMEOUT_S, Observation
from .poolmeasures import PoolChange, measure_pool_change, probes_complete
from .timeline import Timeline, holders_over_time
from .topology import KEEPALIVED_CONF

# how long wait_holders waits for the observers' records to show what the kernels do
TIMELINE_LAG_S = 2.0

Recorder = Callable[[FailoverMeasure], None]
PoolRecorder = Callable[[PoolChange], None]


@dataclass
class Scenario:
    """Observation + faults + measures on one lab, for one test."""

    lab: Lab
    record: Recorder | None = None
    record_pool: PoolRecorder | None = None
    faults: Faults = field(init=False)
    observation: Observation = field(init=False)
    measures: list[FailoverMeasure] = field(default_factory=list)
    pool_changes: list[PoolChange] = field(default_factory=list)
    probe_interval: float = PROBE_INTERVAL_S
    _macs: dict[str, str] | None = None
    _link_locals: dict[str, str] | None = None
    _bounds: dict[str, MoveBound] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.observation = Observation(self.lab, probe_interval=self.probe_interval)
        self.faults = Faults(self.lab, sink=self.observation)

    def __enter__(self) -> Scenario:
        self.observation.start()
        # read now, while every balancer runs: a crashed one has no address to read later
        self._link_locals = self._node_link_locals()
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

    def timeline_through(
        self, vip: str, until: float, since: float | None = None, *, strict: bool = True
    ) -> Timeline:
        """The timeline once every probe request to ``vip`` started between ``since`` and
        ``until`` has ended and is in it (a request's line comes when it ends, up to the
        probe's timeout after it started: a count taken at once would miss the ones still
        running). Waits at most that timeout and a margin; past it, ``strict`` raises
        LabTimeoutError, otherwise the timeline is taken as it is (a VIP without a probe,
        a probe that has stopped)."""
        found: list[Timeline] = []

        def complete() -> bool:
            found[:] = [self.timeline()]
            return probes_complete(found[0], vip, since, until)

        bound = PROBE_TIMEOUT_S + (5.0 if strict else 0.2)
        # the first request that can show the window closed starts one interval on; each
        # read of the timeline costs the engine CPU (one exec per node): not more often
        # than every 50 ms
        poll = max(self.probe_interval, 0.05)
        time.sleep(max(0.0, until + min(1.5 * self.probe_interval, bound) - time.time()))
        try:
            waits.until(
                f"the probe's requests to {vip} started by {until:.3f} to end",
                complete,
                bound,
                interval=poll,
            )
        except LabTimeoutError:
            if strict:
                raise
        return found[0] if found else self.timeline()

    def mail(self) -> list[Mail]:
        """The messages the lab's SMTP server (its mail node) received since the test
        began, in the order received: ``from_``, ``to``, ``subject``, ``body``,
        ``received_at``, ``sender_node``... (see :class:`~pytest_halab.mail.Mail`)."""
        addrs = {ip: name for name, ip in self._node_addrs().items()}
        return mails(self.timeline(), addrs)

    def _node_addrs(self) -> dict[str, str]:
        return {n.name: str(n.ip) for n in self.lab.nodes.values()}

    def _node_link_locals(self) -> dict[str, str]:
        """Balancer -> its eth0 link-local address (its IPv6 adverts' source), in a lab with
        IPv6 VIPs; read from the nodes, all at once."""
        if not any(ip.version == 6 for ip in self.lab.vip_addresses().values()):
            return {}
        bals = [b for b in self.lab.balancers() if b.state() == "running"]
        found = parallel(lambda b: b.link_local(), bals)
        return {b.name: str(ll) for b, ll in zip(bals, found, strict=True) if ll is not None}

    def _vip_addr(self, vip: str) -> str:
        return str(self.lab.vip_addresses()[vip])

    def revert(self, fault: Fault) -> None:
        self.faults.revert(fault)

    def wait_holders(self, expected: dict[str, list[str]], timeout: float = 15.0) -> None:
        """Wait until each VIP of ``expected`` is held by those nodes alone (their kernels
        say so), and then until the timeline says so too, for a test that reads it next:
        each node's observer records a change a moment after the kernel's live address set
        has it (later on a loaded host). That second wait is bounded and never fails (a
        node whose observer was not running when the change came cannot record it)."""
        self.lab.wait_for_holders(expected, timeout)
        addrs = self.lab.vip_addresses()
        vips = {v: str(addrs[v]) for v in expected if v in addrs}
        want = {v: frozenset(expected[v]) for v in vips}
        initial = self.observation.initial_holders

        def recorded() -> bool:
            held = holders_over_time(self.timeline(), vips, initial)
            return all(held[v][-1].holders == want[v] for v in vips)

        with contextlib.suppress(LabTimeoutError):
            waits.until("the timeline to show the holders", recorded, TIMELINE_LAG_S, 0.1)

    def _node_macs(self) -> dict[str, str]:
        """Each node's MAC address on the lab's network, from one list of the lab's
        containers (``containerlist``; an inspect per node before)."""
        if self._macs is None:
            by_id = {n.container.id: n.name for n in self.lab.nodes.values()}
            self._macs = {}
            for c in listed(self.lab.client, {"label": f"{L_LAB}={self.lab.lab_id}"}):
                name = by_id.get(c.id)
                if name is not None and (macs := macs_of(c)):
                    self._macs[name] = macs[-1]
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
            node_addrs6=(
                self._link_locals if self._link_locals is not None else self._node_link_locals()
            ),
            node_macs=self._node_macs(),
            vips={vip: self._vip_info(vip) for vip in self.lab.vip_addresses()},
            initial_holders={
                vip: frozenset(held) for vip, held in self.observation.initial_holders.items()
            },
        )

    def move_bound(self, vip: str) -> MoveBound:
        """How long after a fault ``vip`` may still move in this lab: from the keepalived.conf
        the topology renders for each balancer (advert interval, tracked scripts,
        preempt_delay) and the VIP's advert interval in the layout. A lab without its
        topology (reattached) gets the advert interval's part only."""
        if vip not in self._bounds:
            confs: list[bytes] = []
            topo, layout = self.lab.topology, self.lab.layout
            if topo is not None and layout is not None:
                addr = topo.addressing(layout.subnet, layout.subnet6)
                for node in topo.balancers:
                    with contextlib.suppress(OSError, TopologyError):
                        conf = topo.render_files(node, addr).get(KEEPALIVED_CONF)
                        if conf is not None:
                            confs.append(conf.data)
            d = layout.vips.get(vip) if layout is not None else None
            advert = d.advert_int if d is not None else None
            self._bounds[vip] = move_bound(confs, self._vip_addr(vip), advert)
        return self._bounds[vip]

    def _compute(
        self, phase: Phase, vip: str, ts: float, to: str | None, fault: Fault
    ) -> tuple[FailoverMeasure, bool]:
        """The measure from ``ts`` to now, and whether its window was cut by the next fault
        (then it can grow no longer). A probe is written when it ends, up to its timeout
        after it started: measure up to ``cut`` only once every probe started before
        ``cut`` has reported."""
        cut = time.time()
        tl = self.timeline_through(vip, cut, ts, strict=False)
        nxt = tl.first(
            lambda e: e.kind == "fault" and e.get("phase") in ("inject", "revert") and e.ts > ts,
            after=ts,
        )
        capped = nxt is not None and nxt.ts < cut
        m = measure(
            tl,
            self.measure_context,
            vip,
            phase=phase,
            at=ts,
            window_end=min(cut, nxt.ts) if nxt is not None else cut,
            new_holder=to,
            fault=_label(fault),
        )
        return m, capped

    def _keep(self, m: FailoverMeasure) -> FailoverMeasure:
        self.measures.append(m)
        if self.record is not None:
            self.record(m)
        return m

    def _keep_pool(self, change: PoolChange) -> PoolChange:
        self.pool_changes.append(change)
        if self.record_pool is not None:
            self.record_pool(change)
        return change

    def _await_holder(
        self,
        phase: Phase,
        vip: str,
        ts: float,
        to: str,
        watch_end: float,
        deadline: float,
        fault: Fault,
    ) -> FailoverMeasure | None:
        """Wait until ``to`` alone holds ``vip`` (each node's kernel says). None when it does;
        else the measure of what happened instead: as soon as ``watch_end`` (wall clock) has
        passed with the VIP held as before the fault, or at the deadline when it is on the
        move (taken by another node, or by nobody)."""

        def held() -> bool | None:
            return True if sorted(self.lab.vip_holders().get(vip, [])) == [to] else None

        watching = True
        while True:
            budget = deadline - time.monotonic()
            if watching:
                budget = min(budget, watch_end - time.time())
            try:
                waits.until(f"{to} alone to hold {vip}", held, max(0.0, budget))
                return None
            except LabTimeoutError:
                pass
            m, _ = self._compute(phase, vip, ts, None, fault)
            if m.stayed_put or not watching or time.monotonic() >= deadline:
                return m
            watching = False

    def _measure(
        self,
        phase: Phase,
        vip: str,
        ts: float,
        to: str | None,
        settle: float,
        timeout: float,
        fault: Fault,
        move_within: float | None,
    ) -> FailoverMeasure:
        __tracebackhide__ = True  # a VipDidNotMove shows at the test's line, not in here
        deadline = time.monotonic() + timeout
        # Past `watch_end` (wall clock), a VIP still held as before the fault is one that
        # did not move. A recovery's revert (a node booting, a daemon starting) takes a time
        # no VRRP setting bounds: by default it gets the whole timeout.
        if move_within is None and phase == "failover":
            move_within = self.move_bound(vip).seconds
        watch_end = ts + move_within if move_within is not None else time.time() + timeout
        if to is not None:
            missed = self._await_holder(phase, vip, ts, to, watch_end, deadline, fault)
            if missed is not None:
                self._keep(missed)
                raise VipDidNotMove(missed.diagnosis(to), missed)
        # `settle`: a stretch of observation after the move (not a race: the measure is
        # taken from the timestamps recorded in the nodes, whatever the wait).
        time.sleep(settle)
        m, capped = self._compute(phase, vip, ts, to, fault)

        def done(m: FailoverMeasure) -> bool:
            if to is not None or m.moved:
                # The service may answer again a little after the move.
                return m.recovered
            # Nothing moved: the answer is final once the VIP stayed put past the bound.
            return m.stayed_put and (capped or (m.window_end or 0.0) >= watch_end)

        def final() -> FailoverMeasure | None:
            nonlocal m, capped
            if not done(m) and time.monotonic() < deadline:
                m, capped = self._compute(phase, vip, ts, to, fault)
            return m if done(m) else None

        # Bounded by the timeout; an unfinished measure is still the result.
        with contextlib.suppress(LabTimeoutError):
            waits.until(
                f"the client's requests to {vip} to succeed again, or {vip} to stay put "
                f"for {watch_end - ts:.1f} s",
                final,
                max(0.0, deadline - time.monotonic()),
                interval=0.0,
            )
        return self._keep(m)

    def failover(
        self,
        vip: str,
        fault: Fault,
        to: str | None = None,
        *,
        settle: float = 0.3,
        timeout: float = 15.0,
        move_within: float | None = None,
    ) -> FailoverMeasure:
        """Measure the failover from the moment ``fault`` was injected.

        With ``to``: wait until ``to`` alone holds ``vip`` and the service answers again,
        then measure. If the VIP is still held as before the fault ``move_within`` seconds
        after it, or ``to`` does not hold it alone within ``timeout``, raise
        :class:`~pytest_halab.errors.VipDidNotMove` (an AssertionError) whose message is the
        diagnosis ("VI_1 did not move to lb2: held by lb1 throughout 7.0 s after ...").

        Without ``to``: wait until another node took the VIP and the service answers again,
        or until the VIP stayed put for ``move_within`` seconds: then the measure says it
        did not move (``moved`` False, ``holders_before``/``holders_after``, the client's
        ``failed_requests`` and outage, no detection/VIP-move/GARP figure).

        ``move_within``: how long a move may take after the fault; default
        :meth:`move_bound` (4 advert intervals + the slowest tracked script + preempt_delay
        + 1 s: 7 s on ``nginx_master_backup``). ``timeout`` bounds the whole wait. Either
        way the measure is recorded (summary table, JUnit properties, report).
        """
        __tracebackhide__ = True
        return self._measure(
            "failover", vip, fault.injected_at, to, settle, timeout, fault, move_within
        )

    def recovery(
        self,
        vip: str,
        fault: Fault,
        to: str | None = None,
        *,
        settle: float = 0.3,
        timeout: float = 15.0,
        move_within: float | None = None,
    ) -> FailoverMeasure:
        """Same, from the moment ``fault`` was reverted (revert it first). ``move_within``
        defaults to the timeout: undoing a fault (a node booting, a daemon starting) takes a
        time that no VRRP setting bounds."""
        __tracebackhide__ = True
        if fault.reverted_at is None:
            self.faults.revert(fault)
        assert fault.reverted_at is not None
        return self._measure(
            "recovery", vip, fault.reverted_at, to, settle, timeout, fault, move_within
        )

    def pool_change(
        self,
        vip: str,
        fault: Fault,
        server: str,
        *,
        removed: bool = True,
        timeout: float = 60.0,
        bound_s: float | None = None,
    ) -> PoolChange:
        """Wait until the checker of the director holding ``vip`` takes ``server`` out of
        its pool (``removed``), or back in, counted from ``fault``'s injection (its revert
        when not ``removed``: revert it first), and measure it. Bounded by ``timeout``; a
        change that did not come is still the result (``happened`` False). ``bound_s``
        defaults to the bound the director's config gives its health checks (an LVS
        checker's keepalived.conf, haproxy.cfg: the service's ``pool_bound``). The
        change is recorded as failover measures are (summary table, JUnit properties,
        report)."""
        ts = fault.injected_at if removed else fault.reverted_at
        if ts is None:
            raise ValueError(f"{fault.name} on {fault.target} was not reverted")
        held = self.lab.vip_holders().get(vip, [])
        director = held[0] if len(held) == 1 else None
        ip = str(self.lab.nodes[server].ip)
        if bound_s is None and director is not None:
            bound_s = self.pool_bound(director, ip, removed)

        def take() -> PoolChange:
            return measure_pool_change(
                self.timeline(),
                vip=vip,
                server=server,
                server_ip=ip,
                fault_at=ts,
                removed=removed,
                director=director,
                bound_s=bound_s,
                fault=_label(fault),
            )

        what = "out of" if removed else "back into"
        with contextlib.suppress(LabTimeoutError):
            waits.until(
                f"{director or 'a director'} to take {server} {what} its pool for {vip}",
                lambda: take().happened or None,
                timeout,
                interval=0.2,
            )
        return self._keep_pool(take())

    def pool_bound(self, director: str, server_ip: str, removed: bool = True) -> float | None:
        """The bound for the change, from the balancer's config files as the topology
        renders them: each of its services that health-checks `server_ip` gives one (an
        LVS director's checker from keepalived.conf, `checkbound`; haproxy from
        haproxy.cfg, `haproxybound`), the largest counts. None for a lab without its
        topology, or when nothing checks that server."""
        topo, layout = self.lab.topology, self.lab.layout
        if topo is None or layout is None:
            return None
        addr = topo.addressing(layout.subnet, layout.subnet6)
        files = {path: f.data for path, f in topo.render_files(director, addr).items()}
        bounds = [
            b
            for svc in services.SERVICES.values()
            if (b := svc.pool_bound(files, server_ip, removed)) is not None
        ]
        return max(bounds) if bounds else None


def _label(fault: Fault) -> str:
    """How a fault reads in reports: its name and what it did."""
    return f"{fault.name} {fault.detail}"

"""Observation of a running lab: in-node agents whose events merge into one timeline.

While an ``Observation`` runs:

- every balancer's VIP additions and removals, stamped as the kernel reports them (netlink),
  come from the lab's live address sets (``addrwatch``: one ``halab-observe --addr`` per
  node for as long as it runs, its lines kept), so no agent starts in a balancer for each
  test; a balancer whose live set cannot be had runs ``halab-observe --addr VIP...`` for
  the observation, as the lab's first version did;
- the client's capture of the lab's wire (``wirewatch``: one ``halab-observe --capture eth0``
  for as long as the client runs, its lines kept) gives every VRRP advert, gratuitous ARP
  and unsolicited IPv6 neighbour advertisement (``na``), stamped by the kernel on receipt;
  a client whose capture cannot be had runs one for the observation;
- the client runs one ``halab-probe`` per VIP (an IPv6 VIP as ``[ADDR]``), which makes an
  HTTP request every 20 ms and records when it started, its result and the backend that
  answered;
- each balancer's VRRP engine adds its state changes as ``vrrp_state`` events (instance,
  ``state``, ``prev``, ``priority``, ``engine``), the same for both engines: halab-vrrpd's
  event log (``--event-log``, translated by :func:`engine_log_event`), and keepalived's notify
  FIFO, which ``halab-observe --fifo`` reads in the node from keepalived's start on
  (``keepalived-events.jsonl``; the balancer image's ``30-vrrp`` sets that up);
- the lab's mail node (if any) keeps every message its SMTP server received, stamped on
  receipt: each becomes a ``mail`` event of the node that sent it (``pytest_halab.mail``);
- faults add their own events (inject, effective, revert): an ``Observation`` is the
  ``FaultSink`` the scenario hands its faults.

All containers share the host kernel's clock, so their wall-clock stamps are directly
comparable (``clock_skew_s`` checks that). Events are collected when the observation stops.
"""

from __future__ import annotations

import contextlib
import functools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import docker.errors

from . import mail, scriptpaths, services
from .errors import NodeCommandError, ObserverError
from .naps import polling
from .nodes import parallel
from .timeline import Event, EventKind, Timeline

if TYPE_CHECKING:
    from .lab import Lab
    from .nodes import Node

LOG_DIR = "/var/log/halab"
PROBE_INTERVAL_S = 0.02
PROBE_TIMEOUT_S = 0.5  # lab RTT is sub-millisecond; a hung request is a failed one
MAX_DURATION_S = 900.0


@dataclass
class _Agent:
    node: str
    name: str  # file stem
    argv: list[str]

    @property
    def out(self) -> str:
        return f"{LOG_DIR}/{self.name}.jsonl"

    @property
    def pidfile(self) -> str:
        return f"/run/halab/{self.name}.pid"


@dataclass
class Observation:
    """Agents watching a lab; ``timeline()`` returns everything seen, in order."""

    lab: Lab
    probe: bool = True
    probe_interval: float = PROBE_INTERVAL_S
    capture: bool = True
    token: str = field(default_factory=lambda: secrets.token_hex(3))
    agents: list[_Agent] = field(default_factory=list)
    extra: list[Event] = field(default_factory=list)
    started_at: float = 0.0
    initial_holders: dict[str, list[str]] = field(default_factory=dict)
    watched: list[str] = field(default_factory=list)  # balancers whose live sets are used
    wire: str | None = None  # the client whose live capture is used
    marks: dict[str, tuple[int, int]] = field(default_factory=dict)  # Lab.event_marks
    _collected: Timeline | None = None

    def start(self) -> Observation:
        lab = self.lab
        assert lab.layout is not None
        vips = lab.vip_addresses()
        # where each node's kept live lines stand now, before the start: a line stamped
        # from the start on comes after these (the lab's captures run for hours at 20 ms
        # adverts; each collection reads only what came since)
        self.marks = {n: lab.event_marks(n) for n in lab.nodes}
        self.started_at = time.time()
        # the lab's live address sets, running from the lab's start on (each listed its
        # node's addresses before it answers): their events from now on are this one's
        bals = lab.balancers()
        live = parallel(lambda b: b.state() == "running" and lab.watch_addresses(b), bals)
        self.watched = [b.name for b, ok in zip(bals, live, strict=True) if ok]
        self.agents += [self._addr_agent(b.name) for b in bals if b.name not in self.watched]
        client = lab.client_node()
        if self.capture and lab.watch_wire(client):
            self.wire = client.name
        elif self.capture:
            self.agents.append(self._wire_agent(client.name))
        if self.probe:
            port = {v: str(d.port) for v, d in lab.layout.vips.items()}
            for vip, ip in vips.items():
                count = int(MAX_DURATION_S / self.probe_interval)
                self.agents.append(
                    _Agent(
                        client.name,
                        f"obs-{self.token}-probe-{vip}",
                        [
                            "halab-probe",
                            f"[{ip}]" if ip.version == 6 else str(ip),
                            "--port",
                            port[vip],
                            "--label",
                            vip,
                            "--count",
                            str(count),
                            "--interval",
                            str(self.probe_interval),
                            "--timeout",
                            str(PROBE_TIMEOUT_S),
                            "--duration",
                            str(MAX_DURATION_S),
                        ],
                    )
                )
        try:
            self._launch_all()
        except BaseException:
            # The agents that did start must not outlive an observation that failed.
            with contextlib.suppress(Exception):
                self._kill_agents()
            raise
        self.initial_holders = lab.vip_holders()
        return self

    def _agent_cmd(self, agent: _Agent, append: bool = False) -> str:
        """Shell: start ``agent`` in the background, its pid in its pid file."""
        redirect = ">>" if append else ">"
        return (
            f"{' '.join(agent.argv)} {redirect} {agent.out} 2>{agent.out}.err & "
            f"echo $! > {agent.pidfile}"
        )

    def _launch(self, agent: _Agent, append: bool = False) -> None:
        """Start one agent and return at once (a restarted node's agents)."""
        node = self.lab.node(agent.node)
        cmd = f"mkdir -p /run/halab {LOG_DIR}; {self._agent_cmd(agent, append)}"
        node.container.exec_run(["sh", "-c", cmd], detach=True)

    def _launch_all(self, timeout: float = 10.0) -> None:
        """Start every agent and wait until each has said it listens (observers) or
        written its first record (probes, so that the timeline starts from a known state).

        One exec per node, all nodes at once: it starts the node's agents and waits in the
        node, where checking a file costs nothing, rather than polling each agent's file
        over the engine's API (a round trip of 0.1-0.2 s on a busy 2-core host). An agent
        that exits before it is ready fails the start at once."""
        by_node: dict[str, list[_Agent]] = {}
        for a in self.agents:
            by_node.setdefault(a.node, []).append(a)
        seconds = max(1, math.ceil(timeout))

        def start(name: str) -> list[_Agent]:
            agents = by_node[name]
            checks = []
            for i, a in enumerate(agents):
                ready = f"[ -s {a.out} ]" if "probe" in a.name else f"said_ready {a.out}"
                checks.append(
                    f"if ! {ready}; then ok=0; "
                    f'kill -0 "$p{i}" 2>/dev/null || {{ echo "dead {a.name}"; exit 3; }}; fi'
                )
            # Polled every 20 ms with shell builtins only (the file read by `read`, the clock
            # from /proc/uptime): a test starts these agents in every node for each measure,
            # and a fork per check per poll was a good part of the suite's processes.
            cmd = (
                f"mkdir -p /run/halab {LOG_DIR}; "
                "said_ready() { while IFS= read -r l; do case $l in "
                '*"observer_ready"*) return 0 ;; esac; done 2>/dev/null < "$1"; return 1; }; '
                + "; ".join(f"{self._agent_cmd(a)}; p{i}=$!" for i, a in enumerate(agents))
                + f"; read up _ < /proc/uptime; end=$(( ${{up%.*}} + {seconds} )); "
                "while :; do ok=1; "
                + "; ".join(checks)
                + "; [ $ok = 1 ] && exit 0; read up _ < /proc/uptime; "
                '[ "${up%.*}" -ge "$end" ] && break; sleep 0.02; done; echo "timeout"; exit 4'
            )
            res = self.lab.node(name).exec(polling(cmd))
            if res.ok:
                return []
            dead = [a for a in agents if f"dead {a.name}" in res.output]
            return dead or [a for a in agents if not self._is_ready(a)]

        failed = [a for pending in parallel(start, list(by_node)) for a in pending]
        if failed:
            exc = ObserverError(
                f"the lab's observers and probes to start: {len(failed)} did not "
                f"(within {timeout:g} s, or exited)",
                failed[0].node,
            )
            for a in failed:
                err = self._read(a, err=True).decode(errors="replace").strip()
                exc.add_note(f"{a.node} {a.name}: {err or '(nothing on stderr)'}")
            raise exc

    def _is_ready(self, a: _Agent) -> bool:
        out = self._read(a)
        return bool(out.strip()) if "probe" in a.name else b"observer_ready" in out

    def node_restarted(self, node: str) -> None:
        """``FaultSink``: the node's container started again; restart its agents, its live
        address set and the wire's capture (this observation's events come from there),
        where one cannot be had an agent of this observation's in its place."""
        n = self.lab.node(node)
        if node == self.wire and not self.lab.watch_wire(n):
            self.wire = None
            self.agents.append(self._wire_agent(node))
        if node in self.watched and not self.lab.watch_addresses(n):
            self.watched.remove(node)
            self.agents.append(self._addr_agent(node))
        self.reattach(node)

    def _addr_agent(self, node: str) -> _Agent:
        """The agent of a balancer without a live address set: its VIPs' changes."""
        vips = [str(ip) for ip in self.lab.vip_addresses().values()]
        argv = ["halab-observe", "--addr", *vips, "--duration", str(MAX_DURATION_S)]
        return _Agent(node, f"obs-{self.token}-addr", argv)

    def _wire_agent(self, node: str) -> _Agent:
        """The capture of a client without a live one."""
        argv = ["halab-observe", "--capture", "eth0", "--duration", str(MAX_DURATION_S)]
        return _Agent(node, f"obs-{self.token}-wire", argv)

    def _read(self, agent: _Agent, err: bool = False) -> bytes:
        node = self.lab.node(agent.node)
        try:
            return node.read_file(agent.out + (".err" if err else ""))
        except (FileNotFoundError, docker.errors.APIError):
            return b""

    def reattach(self, node_name: str) -> None:
        """Restart this node's agents (after its container was restarted), appending."""
        for agent in self.agents:
            if agent.node == node_name:
                self._launch(agent, append=True)

    def note(self, node: str, kind: str, *, at: float | None = None, **data: Any) -> Event:
        """Add a host-side event (faults use this); stamped now, or ``at``."""
        ev = Event(ts=time.time() if at is None else at, node=node, kind=kind, data=data)
        self.extra.append(ev)
        return ev

    def stop(self) -> Timeline:
        """Stop the agents and collect every event they recorded."""
        if self._collected is not None:
            return self._collected
        self._kill_agents()
        self._collected = self._collect()
        return self._collected

    def _kill_agents(self) -> None:
        by_node: dict[str, list[_Agent]] = {}
        for a in self.agents:
            by_node.setdefault(a.node, []).append(a)

        def kill(name: str) -> None:
            node = self.lab.node(name)
            if node.state() != "running":
                return
            reads = "; ".join(
                f'q=; read q < {a.pidfile} 2>/dev/null; p="$p $q"' for a in by_node[name]
            )
            # and wait (at most 1 s) until they have exited: their files are then whole
            # when read (kill only signals; the next command follows within milliseconds).
            # Shell builtins only (naps: sleep is one too): no cat, no seq.
            node.exec(
                polling(
                    f"p=; {reads}; kill -TERM $p 2>/dev/null; i=0; while [ $i -lt 100 ]; do "
                    f"a=0; for q in $p; do kill -0 $q 2>/dev/null && a=1; done; "
                    f'[ "$a" = 0 ] && break; i=$((i + 1)); sleep 0.01; done; true'
                )
            )

        parallel(kill, list(by_node))

    def snapshot(self) -> Timeline:
        """Everything recorded so far; the agents keep running."""
        return self._collected if self._collected is not None else self._collect()

    def _collect(self) -> Timeline:
        """Every event recorded so far: the agents' files, the engines' and services' event
        logs, the notify scripts' runs, the mailbox. All of a node's files come in one read
        (``Node.read_files``: one exec per node, all nodes at once); each read through the
        engine's API costs about 50 ms of its CPU, and a test collects two or three times."""
        lab = self.lab
        bals = lab.balancers()
        # (node, file, parse(line, node) -> event or None, only events since the start)
        Parse = Callable[[bytes, str], Event | None]
        sources: list[tuple[str, str, Parse, bool]] = [
            (a.node, a.out, Event.from_record, False) for a in self.agents
        ]
        for bal in bals:
            engine = lab.engine_of(bal.name)
            sources.append((bal.name, engine.events_path, engine.parse_event, True))
            sources += [
                (bal.name, svc.events_path, svc.parse_event, True)
                for svc in services.SERVICES.values()
                if svc.events_path is not None
            ]
            sources.append((bal.name, scriptpaths.SCRIPT_EVENTS, scriptpaths.script_event, True))
        senders = {str(n.ip): n.name for n in lab.nodes.values()}
        mail_event = functools.partial(_mail_event, senders=senders)
        sources += [(m.name, mail.MAILBOX, mail_event, True) for m in lab.mail_nodes()]

        by_node: dict[str, list[str]] = {}
        for node, path, _parse, _since in sources:
            by_node.setdefault(node, []).append(path)
        names = list(by_node)
        got = dict(
            zip(names, parallel(lambda n: self._read_all(n, by_node[n]), names), strict=True)
        )
        events: list[Event] = list(self.extra)
        vip_set = {str(ip) for ip in lab.vip_addresses().values()}

        def mark(n: str) -> tuple[int, int]:
            return self.marks.get(n, (0, 0))

        live = [(n, lab.address_events(n, mark(n)[0]), True) for n in self.watched]
        if self.wire is not None:
            live.append((self.wire, lab.wire_events(self.wire, mark(self.wire)[1]), False))
        for node, lines, vips_only in live:
            for line in lines:
                ev = Event.from_record(line, node)
                if (
                    ev is not None
                    and ev.ts >= self.started_at - 0.001
                    and (not vips_only or ev.data.get("addr") in vip_set)
                ):
                    events.append(ev)
        for node, path, parse, since in sources:
            for line in got[node].get(path, b"").splitlines():
                ev = parse(line, node)
                if ev is not None and (not since or ev.ts >= self.started_at - 0.001):
                    events.append(ev)
        vips = {v: str(ip) for v, ip in lab.vip_addresses().items()}
        return Timeline(events, vips=vips)

    def _read_all(self, name: str, paths: list[str]) -> dict[str, bytes]:
        """The files of one node that exist (none from a node that is not running)."""
        node = self.lab.node(name)
        try:
            if node.state() != "running":  # an exec into it would be refused
                return {}
            return node.read_files(paths)
        except docker.errors.APIError:  # gone (removed), or refused all the same
            return {}
        except NodeCommandError:  # tar's output lost or cut short: file by file
            if node.state() != "running":
                return {}
            found = {}
            for path in paths:
                with contextlib.suppress(FileNotFoundError, docker.errors.APIError):
                    found[path] = node.read_file(path)
            return found

    def timeline(self) -> Timeline:
        return self.stop()


def _mail_event(line: bytes, node: str, senders: dict[str, str]) -> Event | None:
    """A line of the mail node's mailbox as the ``mail`` event of the node that sent it."""
    ev = Event.from_record(line, node)
    if ev is None or ev.kind != EventKind.MAIL:
        return None
    return mail.sender_event(ev, senders)


def clock_skew_s(nodes: list[Node]) -> float:
    """Largest difference between a node's clock and the host's, with exec latency removed.

    Containers share the host kernel's clock, so this is expected to be ~0 (what is left is
    the exec round trip, bounded by halving it).
    """
    worst = 0.0
    for node in nodes:
        t0 = time.time()
        res = node.exec(["python3", "-c", "import time; print(repr(time.time()))"])
        t1 = time.time()
        if not res.ok:
            raise ObserverError(f"{node.name}: cannot read its clock: {res.output}", node.name)
        theirs = float(res.output.strip())
        mid = (t0 + t1) / 2
        worst = max(worst, abs(theirs - mid) - (t1 - t0) / 2, 0.0)
    return worst

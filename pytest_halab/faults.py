"""Faults: each one is injected, verified to have taken effect, and reverted at test end.

``Faults(lab)`` is what the ``faults`` fixture gives a test::

    faults.kill_process("lb1", "nginx", "SIGKILL")
    faults.crash_node("lb1")
    faults.firewall("lb2", "vrrp", direction="in")
    faults.stop_web("web1")          # web-node faults: see pytest_halab.webfaults

A fault that cannot be applied raises ``FaultError`` naming the node and the reason; a fault
whose effect is not observed (process still alive, rule not in place) raises
``FaultNotEffective``; both carry the node's recent logs as notes. Each fault publishes
``fault`` events (inject, effective, revert) to the sink the scenario gives it (its
observation), so measures are taken from the moment it was injected; the lab itself knows
nothing of its observers.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal as signal_mod
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import docker.errors

from . import engines, services
from .errors import FaultError, FaultNotEffective, NodeCommandError
from .faultmixin import safe_read, wait_effect
from .labels import FAULT_RULE_COMMENT
from .linkfaults import LinkFaults
from .mailfaults import MailFaults
from .nodes import pid_in_container
from .servicefaults import ServiceFaults
from .vrrp.conf import set_instance_priority
from .webfaults import WebFaults

if TYPE_CHECKING:
    from .engines import VrrpEngine
    from .lab import Lab
    from .nodes import Node
    from .timeline import Event

__all__ = ["Direction", "Fault", "FaultError", "FaultNotEffective", "FaultSink", "Faults"]

Direction = Literal["in", "out", "both"]
Step = Callable[[], None]  # one of a fault's inject, verify, undo
LOG_TAIL = 40  # lines of each node log attached to a fault's error


class FaultSink(Protocol):
    """Where faults publish what they did (the scenario's observation implements it)."""

    def note(self, node: str, kind: str, *, at: float | None = None, **data: Any) -> Event:
        """Record a host-side event and return it (its ``ts`` is the fault's time): stamped
        now, or ``at`` (epoch seconds) when the moment was taken where the fault ran."""
        ...

    def node_restarted(self, node: str) -> None:
        """The node's container was started again: its in-node observers are gone."""
        ...


# Shell: send SIG to each pid of "$@" that still exists; exit 1 when none did.
_SIGNAL_EACH = (
    'ok=0; for p in "$@"; do kill -{sig} "$p" 2>/dev/null && ok=1; done; '
    '[ $ok = 1 ] || {{ echo "no process left of $*" >&2; exit 1; }}'
)


@dataclass
class Fault:
    """One applied fault and how to undo it."""

    name: str
    target: str
    detail: str
    injected_at: float
    effective_at: float
    undo: Callable[[], None] | None = None
    reverted_at: float | None = None


@dataclass
class Faults(WebFaults, ServiceFaults, MailFaults, LinkFaults):
    """Fault injection on a running lab (the web-node faults come from ``WebFaults``, the
    service-config ones from ``ServiceFaults``, the mail node's from ``MailFaults``, the
    network links' from ``LinkFaults``)."""

    lab: Lab
    sink: FaultSink | None = None
    applied: list[Fault] = field(default_factory=list)
    # Called right before each injection, after the fault's preparation (looking up pids,
    # held VIPs...): the benchmark uses it to inject at a fixed point of the advert cycle.
    sync: Callable[[], None] | None = None

    # ------------------------------------------------------------ bookkeeping

    def _event(
        self, fault: str, phase: str, target: str, detail: str, at: float | None = None
    ) -> float:
        if self.sink is not None:
            return self.sink.note(
                "lab", "fault", at=at, name=fault, phase=phase, target=target, detail=detail
            ).ts
        return time.time() if at is None else at

    def _apply(
        self,
        name: str,
        target: str,
        detail: str,
        inject: Callable[[], object],
        verify: Callable[[], None],
        undo: Callable[[], None] | None,
        *,
        stamped: bool = False,
    ) -> Fault:
        """Inject, verify, record. With ``stamped``, ``inject`` returns the moment it acted
        (epoch seconds, taken where it ran: a helper container on a remote engine's host),
        and that is the fault's time; otherwise the time is taken right before ``inject``."""
        self.lab.node(target)  # unknown node: KeyError naming the nodes
        if self.sync is not None:
            self.sync()
        t_inject = 0.0 if stamped else self._event(name, "inject", target, detail)
        fault = Fault(name, target, detail, t_inject, t_inject, undo)
        try:
            try:
                at = inject()
                if stamped:
                    assert isinstance(at, float), f"{name}: a stamped inject returns its time"
                    t_inject = fault.injected_at = self._event(name, "inject", target, detail, at)
                verify()
            except NodeCommandError as exc:
                raise FaultError(exc.node, str(exc)) from exc
        except FaultError as exc:
            if undo is not None:
                # An inject that failed or did not verify may still have taken effect (one
                # of two rules in place, a process half killed): it must not outlive the
                # test that failed on it.
                try:
                    undo()
                    exc.add_note(f"the fault was undone ({name} on {target})")
                except Exception as undo_exc:
                    exc.add_note(f"undoing the fault failed too: {undo_exc}")
            self._attach_logs(exc, target)
            raise
        fault.effective_at = self._event(name, "effective", target, detail)
        self.applied.append(fault)
        return fault

    def _attach_logs(self, exc: Exception, target: str) -> None:
        node = self.lab.nodes.get(target)
        if node is None:
            return
        try:
            exc.add_note(f"--- logs of {target} ---\n{node.logs(tail=LOG_TAIL)}")
        except Exception as log_exc:  # logs are a courtesy; never mask the real error
            exc.add_note(f"--- no logs of {target}: {log_exc}")

    def revert(self, fault: Fault) -> None:
        """Undo one fault now (it is then not undone again at test end)."""
        if fault.reverted_at is not None or fault.undo is None:
            return
        fault.reverted_at = self._event(fault.name, "revert", fault.target, fault.detail)
        fault.undo()

    def revert_all(self) -> list[Exception]:
        """Undo every fault still applied, newest first; returns what failed to undo.

        An undo may depend on an older fault's: a killed nginx does not start again while
        its config is still broken. So the undos that failed are tried once more, in the
        same order, after the others ran; what fails then is returned."""
        pending = [f for f in reversed(self.applied) if f.reverted_at is None and f.undo]
        failed: list[tuple[Fault, Exception]] = []
        for fault in pending:
            try:
                self.revert(fault)
            except Exception as exc:  # undo the others regardless
                failed.append((fault, exc))
        if len(failed) == len(pending):
            return [exc for _, exc in failed]  # nothing else was undone: no second try
        errors: list[Exception] = []
        for fault, first in failed:
            assert fault.undo is not None
            try:
                fault.undo()
            except Exception as exc:
                exc.add_note(f"(second try; the first failed with: {first})")
                errors.append(exc)
        return errors

    # ------------------------------------------------------------ processes

    def _engine_named(self, process: str, node: str) -> type[VrrpEngine] | None:
        """The engine a process name designates: "vrrp"/"engine" = the node's engine."""
        if process in ("vrrp", "engine"):
            return self.lab.engine_of(node)
        return next((e for e in engines.ENGINES.values() if e.process == process), None)

    def _pattern(self, process: str, node: str) -> list[str]:
        engine = self._engine_named(process, node)
        if engine is not None:
            return engine.pgrep()
        service = services.by_process(process)
        return service.pgrep() if service is not None else ["pgrep", "-x", process]

    def kill_process(self, node: str, process: str, sig: str | int = "SIGTERM") -> Fault:
        """Signal every process named ``process`` ("vrrp" = the balancer's VRRP engine).

        SIGTERM/SIGKILL/SIGINT/SIGQUIT must make them exit; other signals must leave them
        alive. Reverted by starting the service again (a balancer service, or the VRRP engine).
        """
        n = self.lab.node(node)
        signum = signal_mod.Signals[sig] if isinstance(sig, str) else signal_mod.Signals(sig)
        pattern = self._pattern(process, node)
        pids = n.pids(pattern)
        if not pids:
            raise FaultError(node, f"no running process matches {shlex.join(pattern[1:])}")
        terminal = signum in (
            signal_mod.SIGTERM,
            signal_mod.SIGKILL,
            signal_mod.SIGINT,
            signal_mod.SIGQUIT,
        )

        def inject() -> None:
            ordered = list(map(str, _children_first(n, pids)))
            if signum is signal_mod.SIGKILL:
                # Freeze them all, then kill them all: no process gets to react to another's
                # death in between (keepalived's VRRP child would get SIGTERM through
                # PR_SET_PDEATHSIG and shut down cleanly; nginx's master would fork a new
                # worker that outlives it and keeps port 80).
                # A pid pgrep listed may be gone by now (a forked child that has exec'd or
                # exited: a check script of the engine): the others are signalled all the
                # same; none left at all is an error.
                script = f"{_SIGNAL_EACH.format(sig='STOP')}; {_SIGNAL_EACH.format(sig='KILL')}"
            else:
                # Children before parents, for the same reason.
                script = _SIGNAL_EACH.format(sig=signum.name[3:])
            n.exec(["sh", "-c", script, "kill", *ordered], check=True)

        def verify() -> None:
            if terminal:
                # the processes signalled are gone: a new one of the same name may be there
                # already (a user's check script starts nginx again as soon as it sees it
                # dead, and waiting for none at all then timed out)
                try:
                    wait_effect(
                        f"{process} ({pids}) exiting after {signum.name}",
                        node,
                        lambda: not set(n.pids(pattern)) & set(pids),
                    )
                except FaultNotEffective as exc:
                    exc.add_note(n.exec("ps -eo pid,ppid,stat,wchan:20,etime,args").output)
                    raise
            elif not n.pids(pattern):
                raise FaultNotEffective(node, f"{process} died on {signum.name}")

        def undo() -> None:
            if n.pids(pattern):
                return
            self._start_service(n, process)

        return self._apply(
            "kill_process",
            node,
            f"{process} {signum.name}",
            inject,
            verify,
            undo if terminal else None,
        )

    def _start_service(self, n: Node, process: str) -> None:
        engine = self._engine_named(process, n.name)
        service = services.by_process(process)
        if engine is None and service is None:
            raise FaultError(n.name, f"do not know how to restart {process}")

        def running() -> bool:
            return bool(n.pids(self._pattern(process, n.name)))

        try:
            if engine is not None:
                engine.start(n)
            elif service is not None:
                service.start(n)
        except NodeCommandError as exc:
            # Another starter may have won the race: a user's check script that starts the
            # service again (seed 004's, every 2 s) ran between the check that found none
            # and this start, whose nginx then found port 80 taken (seen once under xdist).
            # The undo's aim, the process running, holds then; else the start's error stands.
            try:
                wait_effect(f"{process} running again", n.name, running, timeout=1.0)
            except FaultNotEffective:
                raise exc from None
            return
        wait_effect(f"{process} running again", n.name, running)

    # ------------------------------------------------------------ containers

    def _status(self, n: Node) -> str:
        try:
            return n.state()
        except docker.errors.NotFound:
            return "removed"

    def _restarted(self, n: Node, since: float) -> None:
        wait_effect("container running again", n.name, lambda: self._status(n) == "running")

        def services_started() -> bool:
            res = n.exec("cat /run/halab/services-started")
            return res.ok and float(res.output.strip() or 0) >= since - 0.5

        wait_effect("node services started", n.name, services_started)
        if self.sink is not None:
            self.sink.node_restarted(n.name)

    def _held_vips(self, n: Node) -> list[str]:
        vips = {str(ip) for ip in self.lab.vip_addresses().values()}
        return sorted(str(a.ip) for a in n.addresses() if str(a.ip) in vips)

    def _note_vips_gone(
        self, n: Node, held: list[str], reason: str, at: float | None = None
    ) -> None:
        """A killed container's addresses vanish with its network namespace, and its
        observer dies with it: record their removal on its behalf, at ``at`` (the moment of
        the kill) when known, else now."""
        if self.sink is not None:
            for addr in held:
                self.sink.note(n.name, "vip_removed", at=at, addr=addr, dev="eth0", reason=reason)

    def _exited_and_unplugged(self, n: Node) -> bool:
        """The container exited and the engine has released its network: its address no
        longer answers (the engine says "exited" with its first event, before it removes
        the network namespace, in which the node's kernel refuses connections meanwhile;
        an inspect says "exited" once both are done)."""
        if self._status(n) != "exited":
            return False
        n.container.reload()
        nets = (n.container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        return n.container.status == "exited" and not any(
            v.get("EndpointID") for v in nets.values()
        )

    def crash_node(self, node: str) -> Fault:
        """SIGKILL the whole container (power cut). Reverted by starting it again.

        The container's init is SIGKILLed: the kernel then kills every process of the
        container's PID namespace at once, which is what ``docker kill`` does, but without
        the engine's round trip (about 50 ms on this machine, and jittery). On a local
        engine this process sends the signal, and the fault's time is the moment of the
        crash to well under a millisecond. On a remote engine a helper container in the
        host's PID namespace sends it and reports the moment by that host's clock, the
        clock the lab's own observers use there. ``docker kill`` is the fallback when the
        init's PID cannot be had. The fault's detail says which way it ran.
        """
        n = self.lab.node(node)
        held = self._held_vips(n) if self._status(n) == "running" else []
        host = self.lab.host
        if host.local:
            pid = n.host_pid()
            how = f"SIGKILL to init (host pid {pid})" if pid else "docker kill"
        else:
            pid = n.init_pid()
            how = (
                f"SIGKILL to init (host pid {pid}) by a helper container on {host.name}"
                if pid
                else f"docker kill on {host.name}"
            )

        def inject() -> float:
            t = time.time()
            if pid is None:
                n.container.kill()
            elif host.local:
                if pid_in_container(pid, n.container.id):
                    t = time.time()
                    os.kill(pid, signal_mod.SIGKILL)
                else:
                    n.container.kill()
            else:
                # The PID must still be the container's (its cgroup path names the
                # container); the moment is printed right before the signal.
                script = (
                    f"grep -q {shlex.quote(n.container.id)} /proc/{pid}/cgroup || exit 3; "
                    f"date +%s.%N; kill -KILL {pid}"
                )
                res = host.run(["sh", "-c", script])
                if res.returncode == 3:
                    t = time.time()
                    n.container.kill()
                elif not res.ok:
                    raise FaultError(node, f"helper on {host.name} could not kill: {res.stderr}")
                else:
                    t = float(res.stdout.split()[0])
            # The addresses went with the kill, not when this process heard of it: on a
            # remote engine the helper's answer came seconds later once, under load, after
            # the backup had taken the VIP, which looked like a split brain.
            self._note_vips_gone(n, held, "container killed", at=t)
            return t

        def undo() -> None:
            t = time.time()
            n.container.start()
            self._restarted(n, t)

        return self._apply(
            "crash_node",
            node,
            how,
            inject,
            lambda: wait_effect(
                "container exited, its network released",
                node,
                lambda: self._exited_and_unplugged(n),
            ),
            undo,
            stamped=True,
        )

    def pause_node(self, node: str) -> Fault:
        """Freeze every process of the node (cgroup freezer). Reverted by unpausing."""
        n = self.lab.node(node)
        return self._apply(
            "pause_node",
            node,
            "docker pause",
            lambda: n.container.pause(),
            lambda: wait_effect("container paused", node, lambda: self._status(n) == "paused"),
            lambda: n.container.unpause(),
        )

    def restart_node(self, node: str, timeout: int = 2) -> Fault:
        """Stop (SIGTERM, then SIGKILL after ``timeout`` s) and start the container."""
        n = self.lab.node(node)
        n.container.reload()
        before = n.container.attrs["State"]["StartedAt"]
        before_run = n.run_id()
        held = self._held_vips(n)
        t0 = time.time()

        def verify() -> None:
            def restarted() -> bool:
                n.container.reload()
                # and the lab's container states have read the restart's events (the
                # node's commands go by them)
                return bool(
                    n.container.attrs["State"]["StartedAt"] != before
                    and n.container.status == "running"
                    and n.run_id() != before_run
                )

            wait_effect("container restarted", node, restarted)
            self._restarted(n, t0)

        def inject() -> None:
            n.container.stop(timeout=timeout)
            self._note_vips_gone(n, held, "container stopped")
            n.container.start()

        return self._apply(
            "restart_node", node, f"docker stop -t {timeout} + start", inject, verify, None
        )

    # ------------------------------------------------------------ links

    # ------------------------------------------------------------ firewall

    def _rules(self, n: Node, rules: list[list[str]], name: str, detail: str) -> Fault:
        inject, verify, undo = self._rule_steps(n, rules)
        return self._apply(name, n.name, detail, inject, verify, undo)

    @staticmethod
    def _rule_steps(n: Node, rules: list[list[str]]) -> tuple[Step, Step, Step]:
        """Insert, check and delete iptables ``rules`` (chain, match..., "-j", target) in
        the node, each tagged with a comment of its own."""
        tag = f"{FAULT_RULE_COMMENT}-{secrets.token_hex(3)}"
        tagged = [[*r[:-2], "-m", "comment", "--comment", tag, *r[-2:]] for r in rules]

        def inject() -> None:
            for r in tagged:
                n.exec(["iptables", "-w", "-I", *r], check=True)

        def verify() -> None:
            for r in tagged:
                if not n.exec(["iptables", "-w", "-C", *r]).ok:
                    raise FaultNotEffective(n.name, f"rule not in place: {shlex.join(r)}")

        def undo() -> None:
            for r in tagged:
                while n.exec(["iptables", "-w", "-C", *r]).ok:
                    n.exec(["iptables", "-w", "-D", *r], check=True)

        return inject, verify, undo

    @staticmethod
    def _match(what: str | int) -> list[str]:
        if what == "vrrp":
            return ["-p", "112"]
        if what == "all":
            return []
        if isinstance(what, int) or (isinstance(what, str) and what.isdigit()):
            return ["-p", "tcp", "--dport", str(what)]
        m = re.fullmatch(r"(tcp|udp)/(\d+)", str(what))
        if m:
            return ["-p", m.group(1), "--dport", m.group(2)]
        raise ValueError(f"firewall: what={what!r}: use 'vrrp', 'all', a port or 'tcp/80'")

    def firewall(self, node: str, what: str | int = "vrrp", direction: Direction = "in") -> Fault:
        """Drop ``what`` ("vrrp", "all", a TCP port, "udp/53") on the node, inbound,
        outbound or both (iptables inside the node, as firewalld would)."""
        match = self._match(what)
        rules = []
        if direction in ("in", "both"):
            rules.append(["INPUT", *match, "-j", "DROP"])
        if direction in ("out", "both"):
            rules.append(["OUTPUT", *match, "-j", "DROP"])
        return self._rules(self.lab.node(node), rules, "firewall", f"drop {what} {direction}")

    def packet_loss(self, node: str, percent: float, direction: Direction = "both") -> Fault:
        """Drop a random ``percent`` of the node's packets (iptables statistic: this kernel
        has no netem)."""
        if not 0 < percent <= 100:
            raise ValueError("percent must be in (0, 100]")
        p = ["-m", "statistic", "--mode", "random", "--probability", f"{percent / 100:.4f}"]
        rules = []
        if direction in ("in", "both"):
            rules.append(["INPUT", *p, "-j", "DROP"])
        if direction in ("out", "both"):
            rules.append(["OUTPUT", *p, "-j", "DROP"])
        return self._rules(self.lab.node(node), rules, "packet_loss", f"{percent}% {direction}")

    def partition(self, *groups: list[str]) -> list[Fault]:
        """Nodes in different groups stop hearing each other (both ways)."""
        if len(groups) < 2:
            raise ValueError("partition needs at least two groups of nodes")
        seen: set[str] = set()
        for g in groups:
            for name in g:
                self.lab.node(name)
                if name in seen:
                    raise ValueError(f"node {name} is in two groups")
                seen.add(name)
        faults = []
        for i, g in enumerate(groups):
            others = [n for j, h in enumerate(groups) if j != i for n in h]
            for name in g:
                rules = []
                for other in others:
                    ip = str(self.lab.node(other).ip)
                    rules.append(["INPUT", "-s", ip, "-j", "DROP"])
                    rules.append(["OUTPUT", "-d", ip, "-j", "DROP"])
                faults.append(
                    self._rules(
                        self.lab.node(name),
                        rules,
                        "partition",
                        f"{'+'.join(g)} | {'+'.join(others)}",
                    )
                )
        return faults

    # ------------------------------------------------------------ VRRP

    def set_priority(self, node: str, instance: str, priority: int) -> Fault:
        """Edit the instance's priority in the node's keepalived.conf and reload the engine
        (SIGHUP). Reverted by restoring the file and reloading again."""
        if not 1 <= priority <= 255:
            raise ValueError("priority must be 1..255")
        n = self.lab.node(node)
        path = "/etc/keepalived/keepalived.conf"
        original = n.read_file(path).decode()
        changed = set_instance_priority(original, instance, priority)
        if changed is None:
            raise FaultError(node, f"no vrrp_instance {instance} with a priority line in {path}")
        pid_before = self._engine_pid(n)

        def reload(text: str) -> None:
            n.put_files({path: text.encode()})
            n.exec(["kill", "-HUP", str(pid_before)], check=True)

        def verify() -> None:
            now = n.read_file(path).decode()
            if set_instance_priority(now, instance, priority) != now:
                raise FaultNotEffective(node, f"{instance}'s priority is not {priority} in {path}")
            wait_effect(
                "engine alive after reload",
                node,
                lambda: self._engine_pid(n) == pid_before,
                timeout=3,
            )

        return self._apply(
            "set_priority",
            node,
            f"{instance} priority {priority}",
            lambda: reload(changed),
            verify,
            lambda: reload(original),
        )

    def _engine_pid(self, n: Node) -> int:
        engine = self.lab.engine_of(n.name)
        pid = engine.pid(n)
        if pid is None:
            raise FaultError(n.name, f"{engine.name} is not running (no live {engine.pidfile})")
        return pid

    def forge_advert(
        self,
        vrid: int,
        priority: int,
        addrs: list[str],
        *,
        src: str | None = None,
        version: int = 2,
        password: str | None = None,
        advert_int: float = 1.0,
        count: int = 5,
        interval: float = 1.0,
        node: str | None = None,
        sync_after: str | None = None,
    ) -> Fault:
        """Send forged VRRP adverts from a non-balancer node (default: the client) with
        scapy: a rogue master (high priority), or a fake resignation (priority 0, ``src``
        spoofed as the real master). Verified by the adverts appearing in the sender's
        record. ``sync_after=IP`` sends the first one right after an advert from IP (e.g. a
        resignation that the real master's next advert cannot cancel before Skew_Time).
        Runs in the background; reverted by stopping it."""
        sender = self.lab.node(node) if node else self.lab.client_node()
        if sender.role == "balancer":
            raise FaultError(sender.name, "forge adverts from a node that is not a balancer")
        out = f"/var/log/halab/forge-{secrets.token_hex(3)}.jsonl"
        argv = [
            "halab-forge",
            "--vrid",
            str(vrid),
            "--priority",
            str(priority),
            "--version",
            str(version),
            "--advert-int",
            str(advert_int),
            "--count",
            str(count),
            "--interval",
            str(interval),
        ]
        for a in addrs:
            argv += ["--addr", a]
        if src:
            argv += ["--src", src]
        if password is not None:
            argv += ["--password", password]
        if sync_after:
            argv += ["--sync-after", sync_after]
        pidfile = out + ".pid"

        def inject() -> None:
            sender.container.exec_run(
                ["sh", "-c", f"echo $$ > {pidfile}; exec {shlex.join(argv)} > {out} 2>&1"],
                detach=True,
            )

        def verify() -> None:
            wait_effect(
                "first forged advert sent",
                sender.name,
                lambda: b'"forged"' in safe_read(sender, out),
            )

        def undo() -> None:
            sender.exec(f"kill $(cat {pidfile}) 2>/dev/null; true")

        detail = f"vrid {vrid} priority {priority} src {src or sender.ip} v{version}"
        return self._apply("forge_advert", sender.name, detail, inject, verify, undo)


def _children_first(n: Node, pids: list[int]) -> list[int]:
    """The pids ordered so that every process comes before its ancestors among them."""
    res = n.exec(["ps", "-o", "pid=,ppid=", "-p", ",".join(map(str, pids))])
    parent = {}
    for line in res.output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            parent[int(parts[0])] = int(parts[1])

    def depth(pid: int) -> int:
        d, seen = 0, set()
        while pid in parent and parent[pid] in pids and pid not in seen:
            seen.add(pid)
            pid = parent[pid]
            d += 1
        return d

    return sorted(pids, key=lambda p: (-depth(p), -p))

"""Faults on a web node (a real server behind the balancers), mixed into ``Faults``::

    faults.stop_web("web1")                 # apache2ctl stop: connections refused
    faults.kill_web("web1")                 # SIGKILL to every apache process: refused
    faults.web_error("web1", status=503)    # every request answered 503
    faults.hang_web("web1")                 # connections accepted, never answered
    faults.firewall_web("web1", port=80)    # incoming TCP to the port dropped
    faults.refuse_checks("web1")            # the balancers' health checks refused, only them

Each one is verified from inside the node where that means something (no listener left,
the processes stopped) and always from the client node, as a health checker would see it:
:func:`ask` connects to the web node and sends one HTTP request. Each undo puts the node
back and checks it the same way (the node serving its own body again; for the firewall,
connections no longer time out). ``Lab.restore`` brings every web node back to serving
(``webserver.ensure_serving_cmd``) whatever fault a test left behind.

Crashing or pausing a web node needs nothing of its own: ``crash_node`` / ``pause_node``.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import webserver
from .errors import FaultError, FaultNotEffective
from .faultmixin import VERIFY_TIMEOUT_S, FaultMixin, wait_effect
from .topology import Role

if TYPE_CHECKING:
    from .faults import Fault, Step
    from .lab import Lab
    from .nodes import Node

__all__ = ["ANSWER_BOUND_S", "NodeFaultMixin", "WebAnswer", "WebFaults", "ask"]

# How long the client waits to connect, then for the first byte of an answer. A lab-local
# connect or answer takes about a millisecond; a second of silence is a hang (or a drop).
ANSWER_BOUND_S = 1.0
INDEX = "/var/www/html/index.html"

# Run in the client by python3 (in every image): one TCP connect, one HTTP/1.0 GET, and one
# line saying what came of it (see WebAnswer).
_ASK = r"""
import socket, sys
host, port, bound = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    s = socket.create_connection((host, port), timeout=bound)
except ConnectionRefusedError:
    print("refused"); raise SystemExit
except TimeoutError:
    print("timeout"); raise SystemExit
except OSError as exc:
    print("unreachable", exc.strerror or exc); raise SystemExit
s.settimeout(bound)
data = b""
try:
    s.sendall(b"GET / HTTP/1.0\r\nHost: " + host.encode() + b"\r\n\r\n")
    while chunk := s.recv(65536):
        data += chunk
except TimeoutError:
    if not data:
        print("silent"); raise SystemExit
except OSError as exc:
    if not data:
        print("reset", exc.strerror or exc); raise SystemExit
head, _, body = data.partition(b"\r\n\r\n")
words = head.split()
if len(words) < 2 or not words[1].isdigit():
    print("garbled"); raise SystemExit
line = body.decode(errors="replace").strip().splitlines()
print("http", int(words[1]), line[0] if line else "")
"""


@dataclass(frozen=True)
class WebAnswer:
    """What the client got from one connection to a web node.

    ``kind``: ``refused`` (RST to the SYN: nothing listens), ``timeout`` (no connection
    within the bound: dropped, or the node is gone), ``unreachable`` (the kernel says so:
    no ARP answer), ``silent`` (connected, no byte of answer within the bound), ``reset``
    (connected, then reset), ``garbled`` (not HTTP), ``http`` (``status`` and the first
    line of the body in ``body``)."""

    kind: str
    status: int | None = None
    body: str = ""

    @classmethod
    def parse(cls, line: str) -> WebAnswer:
        words = line.strip().split(" ", 2)
        if words[0] == "http" and len(words) >= 2 and words[1].isdigit():
            return cls("http", int(words[1]), words[2] if len(words) > 2 else "")
        if words[0] in ("refused", "timeout", "unreachable", "silent", "reset", "garbled"):
            return cls(words[0], None, " ".join(words[1:]))
        return cls("garbled", None, line.strip()[:200])

    def serves(self, body: str) -> bool:
        return self.kind == "http" and self.status == 200 and self.body == body

    def __str__(self) -> str:
        if self.kind == "http":
            return f"HTTP {self.status} {self.body!r}"
        return f"{self.kind} ({self.body})" if self.body else self.kind


def ask(
    lab: Lab,
    node: str,
    port: int = webserver.PORT,
    bound: float = ANSWER_BOUND_S,
    *,
    source: str | None = None,
) -> WebAnswer:
    """Connect from the lab's client (or the node ``source``) to ``node`` (its IPv4
    address, or a VIP's name) on ``port`` and send ``GET /``; what came of it within
    ``bound`` seconds per step."""
    vips = lab.vip_addresses() if lab.layout is not None else {}
    addr = str(vips[node]) if node in vips else str(lab.node(node).ip)
    argv = ["python3", "-c", _ASK, addr, str(port), f"{bound:g}"]
    asker = lab.client_node() if source is None else lab.node(source)
    res = asker.exec(argv)
    if not res.ok:
        raise FaultError(asker.name, f"asking {node} failed: {res.output.strip()}")
    return WebAnswer.parse(res.output.strip().splitlines()[-1] if res.output.strip() else "")


class NodeFaultMixin(FaultMixin):
    """``FaultMixin`` and the iptables steps of ``Faults``, for the faults of a node that
    firewall it (web and mail nodes)."""

    if TYPE_CHECKING:

        @staticmethod
        def _rule_steps(n: Node, rules: list[list[str]]) -> tuple[Step, Step, Step]: ...


class WebFaults(NodeFaultMixin):
    """The web-node faults of :class:`~pytest_halab.faults.Faults` (a mixin: ``Faults``
    provides the lab, ``_apply`` and the iptables steps)."""

    # ------------------------------------------------------------ helpers

    def _web_node(self, node: str, fault: str) -> Node:
        n = self.lab.node(node)  # unknown node: KeyError naming the nodes
        if n.role != Role.WEB.value:
            webs = [m.name for m in self.lab.nodes.values() if m.role == Role.WEB.value]
            raise FaultError(
                node,
                f"{fault} acts on a web node (role web), and {node} is a {n.role} node; "
                f"web nodes of this lab: {', '.join(webs) or 'none'}",
            )
        return n

    @staticmethod
    def _apache_pids(n: Node, fault: str) -> list[int]:
        pids = n.pids(webserver.PGREP)
        if not pids:
            raise FaultError(n.name, f"{fault}: {webserver.PROCESS} is not running")
        return pids

    @staticmethod
    def _body(n: Node) -> str:
        """The body the node serves on ``/`` (its image writes it at start)."""
        try:
            return n.read_file(INDEX).decode(errors="replace").strip()
        except FileNotFoundError:
            raise FaultError(n.name, f"no {INDEX}: not a halab web node?") from None

    def _expect(self, n: Node, port: int, kinds: tuple[str, ...], why: str) -> None:
        """The client asks until its answer is of a kind, for at most VERIFY_TIMEOUT_S
        (one answer lost on a busy host, a `timeout` where a RST was due, was seen under
        pytest -n 4 on 2 cores); FaultNotEffective naming the last answer otherwise."""
        deadline = time.monotonic() + VERIFY_TIMEOUT_S
        while (got := ask(self.lab, n.name, port)).kind not in kinds:
            if time.monotonic() > deadline:
                raise FaultNotEffective(
                    n.name,
                    f"{why}: the client expected {' or '.join(kinds)} on port {port}, got {got}",
                )
            time.sleep(0.05)

    def _gone(self, n: Node) -> None:
        """No apache process left, nothing listening on its port, connections refused."""
        wait_effect(f"no {webserver.PROCESS} process", n.name, lambda: not n.pids(webserver.PGREP))
        listening = webserver.listening_cmd()
        wait_effect(
            f"nothing listening on port {webserver.PORT}",
            n.name,
            lambda: not n.exec(listening).output.strip(),
        )
        self._expect(n, webserver.PORT, ("refused",), f"{webserver.PROCESS} is down")

    def _serving(self, n: Node, body: str) -> None:
        wait_effect(
            f"{n.name} answering 200 {body!r} to the client",
            n.name,
            lambda: ask(self.lab, n.name).serves(body),
        )

    def _start(self, n: Node, body: str) -> None:
        n.exec(webserver.start_cmd(), check=True)
        self._serving(n, body)

    # ------------------------------------------------------------ faults

    def stop_web(self, node: str) -> Fault:
        """Stop apache cleanly (``apache2ctl stop``) on a web node. Verified by no apache
        process and nothing listening on port 80 in the node, and the client's connection
        refused. Reverted by starting apache, verified by the node serving its body."""
        n = self._web_node(node, "stop_web")
        self._apache_pids(n, "stop_web")
        body = self._body(n)
        return self._apply(
            "stop_web",
            node,
            "apache2ctl stop",
            lambda: n.exec(["apache2ctl", "stop"], check=True),
            lambda: self._gone(n),
            lambda: self._start(n, body),
        )

    def kill_web(self, node: str) -> Fault:
        """SIGKILL every apache process of a web node (all stopped first, so that the
        parent forks no new child in between). Verified and reverted as ``stop_web``."""
        n = self._web_node(node, "kill_web")
        pids = self._apache_pids(n, "kill_web")
        body = self._body(n)
        listed = [str(p) for p in pids]

        def inject() -> None:
            n.exec(["sh", "-c", 'kill -STOP "$@" && kill -KILL "$@"', "kill", *listed], check=True)

        return self._apply(
            "kill_web",
            node,
            f"SIGKILL to {webserver.PROCESS} (pids {' '.join(listed)})",
            inject,
            lambda: self._gone(n),
            lambda: self._start(n, body),
        )

    def web_error(self, node: str, status: int = 500) -> Fault:
        """Answer every request with HTTP ``status`` (400..599): a ``Redirect STATUS /``
        snippet (mod_alias) and a graceful restart, so apache keeps accepting throughout.
        Verified by the client's request getting ``status``; apache answers 500 to a status
        it does not know (418, 425...), and the fault says so. Reverted by removing the
        snippet (graceful restart again), verified by the node serving its body."""
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"web_error: status {status!r} must be an HTTP error, 400..599")
        n = self._web_node(node, "web_error")
        self._apache_pids(n, "web_error")
        body = self._body(n)
        conf = webserver.FAULT_CONF
        snippet = f"# halab web_error fault: every request answered {status}\nRedirect {status} /\n"
        seen: list[WebAnswer] = []

        def inject() -> None:
            n.put_files({conf: snippet.encode()})
            n.exec(["apache2ctl", "graceful"], check=True)

        def not_200() -> bool:
            got = ask(self.lab, node)
            seen.append(got)
            return got.kind == "http" and got.status != 200

        def verify() -> None:
            wait_effect("an HTTP answer other than 200 from the client's request", node, not_200)
            got = seen[-1]
            if got.status != status:
                raise FaultNotEffective(
                    node,
                    f"answers {got.status}, not {status} (apache answers 500 to a status "
                    "it has no reason phrase for)",
                )

        def undo() -> None:
            q = shlex.quote(conf)
            n.exec(f"if [ -e {q} ]; then rm -f {q} && apache2ctl graceful; fi", check=True)
            self._serving(n, body)

        return self._apply(
            "web_error", node, f"HTTP {status} to every request", inject, verify, undo
        )

    def hang_web(self, node: str) -> Fault:
        """Freeze every apache process (SIGSTOP): the kernel still completes TCP handshakes
        into the listen backlog, so connections are accepted and never answered. Verified
        by every apache process stopped and the client connecting and getting no byte
        within ``ANSWER_BOUND_S``. Reverted by SIGCONT, verified by the node serving its
        body (the requests queued meanwhile are answered then)."""
        n = self._web_node(node, "hang_web")
        pids = self._apache_pids(n, "hang_web")
        body = self._body(n)
        listed = [str(p) for p in pids]

        def stopped() -> bool:
            # every apache process there is now: stopped, or a child that had exited
            # before the stop and that its stopped parent cannot reap (a zombie, seen in
            # CI under pytest -n 4); the parent among the stopped
            res = n.exec(["ps", "-C", webserver.PROCESS, "-o", "pid=,ppid=,stat="])
            rows = [line.split()[:3] for line in res.output.splitlines() if line.strip()]
            apache = {pid for pid, _ppid, _stat in rows}
            parents = [stat for _pid, ppid, stat in rows if ppid not in apache]
            return (
                bool(rows)
                and all(stat[0] in "TZ" for _pid, _ppid, stat in rows)
                and all(stat[0] == "T" for stat in parents)
            )

        def verify() -> None:
            wait_effect(f"{webserver.PROCESS} ({' '.join(listed)}) stopped", node, stopped)
            self._expect(n, webserver.PORT, ("silent",), f"{webserver.PROCESS} is frozen")

        def undo() -> None:
            n.exec(f"pkill -CONT -x {webserver.PROCESS}; true", check=True)
            self._serving(n, body)

        return self._apply(
            "hang_web",
            node,
            f"SIGSTOP to {webserver.PROCESS} (pids {' '.join(listed)})",
            # every apache process, twice: a child forked while the first pass ran (or one
            # not listed) is stopped by the second; the parent, stopped, forks no more
            lambda: n.exec(
                f"pkill -STOP -x {webserver.PROCESS}; pkill -STOP -x {webserver.PROCESS}; true"
            ),
            verify,
            undo,
        )

    def firewall_web(self, node: str, port: int = webserver.PORT) -> Fault:
        """Drop incoming TCP to ``port`` on a web node (iptables in the node, tagged as the
        ``firewall`` fault's rules). Verified by the rule in place and the client's
        connection timing out. Reverted by deleting the rule, verified by connections no
        longer timing out (answered or refused: what serves the port is not this fault's)."""
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"firewall_web: port {port!r} must be 1..65535")
        n = self._web_node(node, "firewall_web")
        rules = [["INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP"]]
        inject, rule_in_place, delete = self._rule_steps(n, rules)

        def verify() -> None:
            rule_in_place()
            self._expect(n, port, ("timeout",), f"tcp/{port} is dropped")

        def undo() -> None:
            delete()
            wait_effect(
                f"connections to port {port} not timing out",
                node,
                lambda: ask(self.lab, node, port).kind != "timeout",
            )

        return self._apply("firewall_web", node, f"drop tcp/{port} in", inject, verify, undo)

    def refuse_checks(self, node: str, port: int = webserver.PORT) -> Fault:
        """Refuse TCP to ``port`` from every balancer of the lab (its addresses and the
        VIPs'; iptables REJECT: an ICMP port unreachable, a refused connect) and from no
        one else: the directors' health checks fail and take the node out of their pools,
        while the client's connections (NAT and DR keep the client's address) are served
        throughout. A pool change with no server failing
        (the pool churn figure). Verified by the rules in place, a balancer's connection
        refused and the client still served; reverted by deleting the rules, verified by a
        balancer's connection served again."""
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"refuse_checks: port {port!r} must be 1..65535")
        n = self._web_node(node, "refuse_checks")
        body = self._body(n)
        bals = [b.name for b in self.lab.balancers()]
        if not bals:
            raise FaultError(node, "refuse_checks: the lab has no balancer to refuse")
        sources = sorted(
            {str(self.lab.node(b).ip) for b in bals}
            | {str(ip) for ip in self.lab.vip_addresses().values() if ip.version == 4}
        )
        rules = [
            ["INPUT", "-s", src, "-p", "tcp", "--dport", str(port), "-j", "REJECT"]
            for src in sources
        ]
        inject, rule_in_place, delete = self._rule_steps(n, rules)
        asker = bals[0]

        def verify() -> None:
            rule_in_place()
            got = ask(self.lab, node, port, source=asker)
            if got.kind != "refused":
                raise FaultNotEffective(node, f"{asker}'s connection to tcp/{port}: {got}")
            self._serving(n, body)

        def undo() -> None:
            delete()
            wait_effect(
                f"{asker}'s connections to port {port} served",
                node,
                lambda: ask(self.lab, node, port, source=asker).serves(body),
            )

        return self._apply(
            "refuse_checks",
            node,
            f"tcp/{port} from the balancers ({' '.join(sources)}) refused",
            inject,
            verify,
            undo,
        )

"""The running lab: one isolated network, a container per node, labels, readiness, teardown.

``Lab(topology).start()`` builds it (images first, when missing or stale) and returns once
every backend and balancer answers and every VIP has exactly one holder. A start that fails
removes everything it made and raises ``LabStartError`` naming the node, with its logs.
Every container, network and host rule carries ``io.halab.lab`` / ``io.halab.run`` labels;
``sweep_stale()`` removes labs whose owning process died, ``clean()`` removes all of them.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool

from . import (
    directors,
    dockerhost,
    engines,
    hostrules,
    images,
    instances,
    labengines,
    labrestore,
    mail,
    scriptpaths,
    services,
    waits,
)
from .addrwatch import AddressWatch
from .configcheck import check_service_configs
from .containerstates import ContainerStates
from .dockerhost import DockerHost
from .engines import VrrpEngine
from .errors import (
    LabMismatchError,
    LabStartError,
    LabTimeoutError,
    LabWarning,
    LayoutError,
)
from .labels import (
    L_ENGINE,
    L_KEEP,
    L_LAB,
    L_LAYOUT,
    L_NODE,
    L_OWNER,
    L_ROLE,
    L_RUN,
    L_TOPOLOGY,
    RUN_ID,
    owner,
)
from .layout import LabLayout
from .network import POOL, candidate_subnets, subnet_lock
from .nodes import Node, parallel
from .sweep import NetworkStuck, remove_lab, sweep_stale
from .topology import Addressing, IPAddress, Role, Topology
from .wirewatch import WireCapture

ENGINE_GRACE_S = 2.0
CHECK_ENGINES_S = 0.5  # settling: whether each engine still runs, this often
ENGINE_LAG_S = 0.5
MASTER_START_WAIT_S = 10.0

# The VRRP groups' names, as public DNS answers for their addresses (RFC 5798's
# 224.0.0.18 is vrrp.mcast.net), so that tcpdump in a node prints what it prints on a host.
MULTICAST_NAMES = (("vrrp.mcast.net", "224.0.0.18"),)

_ROLE_IMAGE = {
    Role.CLIENT: "client",
    Role.BALANCER: "balancer",
    Role.WEB: "web",
    Role.MAIL: "mail",
}

# The nodes of an IPv6 lab do no duplicate address detection. The lab hands out every
# address once, so DAD protects against nothing here, while it would make a VIP an engine
# adds "tentative" (unusable: packets to it are dropped) for about a second, and a VIP that
# two nodes hold for a moment during a handover "dadfailed". eth0 exists when Docker applies
# these; its link-local address is made before, see the base image's halab-entry.
IPV6_SYSCTLS = {
    "net.ipv6.conf.all.accept_dad": "0",
    "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.eth0.accept_dad": "0",
}
# Balancers forward IPv6 as they forward IPv4: a container's net.ipv4.ip_forward comes from
# the host's, where Docker turns it on, while IPv6 forwarding starts off. A client request
# that still reaches the old master for a VIP it just gave up is forwarded to the new holder
# over IPv4 (held in the old master's neighbour queue until the new holder's gratuitous ARP
# arrives); without IPv6 forwarding it is always dropped over IPv6 (with it, seen forwarded
# in one run of three: the families still differ there, an open question).
BALANCER_IPV6_SYSCTLS = {**IPV6_SYSCTLS, "net.ipv6.conf.all.forwarding": "1"}


def docker_client() -> docker.DockerClient:
    """A client for the environment's engine, or a clear error saying how to start one."""
    return dockerhost.from_env().client()


@dataclass
class Lab:
    """A lab built from a topology. Use as a context manager, or ``start()`` / ``stop()``."""

    topology: Topology | None
    engine: str | None = None  # the balancers' VRRP engine (default: the topology's)
    keep: bool = False
    node_engines: dict[str, str] = field(default_factory=dict)  # per-balancer override
    docker_host: DockerHost | None = None  # the engine (default: the environment's)
    ready_timeout: float = 60.0
    progress: Callable[[str], None] = field(default=lambda _msg: None)
    # A VIP that settles elsewhere than its `master:` fails the start (LabMismatchError)
    # when strict; otherwise the lab stays up and `mismatch` says why (`halab up`).
    strict: bool = True

    lab_id: str = field(default_factory=lambda: "hl" + secrets.token_hex(3))
    layout: LabLayout | None = None
    network: Network | None = None
    rule: hostrules.BridgeRule | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    mismatch: dict[str, str] = field(default_factory=dict)  # VIP -> why it is elsewhere
    # balancer -> the (interface, group) of VRRP it had joined when ready (restore checks)
    vrrp_groups: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    _engine_go: float = 0.0
    _engine_at: dict[str, float] = field(default_factory=dict)  # balancer -> its go time
    _addr_watch: AddressWatch = field(default_factory=AddressWatch)  # vip_holders' live view
    _wire: WireCapture = field(default_factory=WireCapture)  # the client's capture, kept
    _states: ContainerStates = field(default_factory=ContainerStates)  # nodes' states, live
    _services: dict[str, list[type[services.BalancerService]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.topology is not None and self.engine is None:
            self.engine = self.topology.spec.vrrp_engine
        labengines.check(
            (self.engine, *self.node_engines.values()),
            self.node_engines,
            list(self.topology.balancers) if self.topology is not None else None,
        )

    @property
    def engine_label(self) -> str:
        """The engine, with per-node overrides: ``keepalived`` or ``halab;lb2=keepalived``."""
        extra = [f"{n}={e}" for n, e in sorted(self.node_engines.items()) if e != self.engine]
        return ";".join([str(self.engine), *extra])

    @property
    def host(self) -> DockerHost:
        """The Docker engine the lab runs on."""
        if self.docker_host is None:
            self.docker_host = dockerhost.from_env()
        return self.docker_host

    @property
    def client(self) -> docker.DockerClient:
        return self.host.client()

    def engine_of(self, node: str) -> type[VrrpEngine]:
        """The VRRP engine the balancer ``node`` runs."""
        if self.layout is not None and node in self.layout.nodes:
            name = self.layout.nodes[node].engine
            if name is not None:
                return engines.get(name)
        return engines.get(self.node_engines.get(node) or self.engine or engines.DEFAULT)

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            self.stop()

    def start(self) -> Lab:
        assert self.topology is not None, "a reattached lab cannot be started again"
        t0 = time.monotonic()
        self.progress("images")
        tags = images.ensure_on(self.host, progress=lambda n, m: self.progress(f"[{n}] {m}"))
        self.timings["images"] = time.monotonic() - t0
        sweep_stale(self.host)
        # a config its service rejects (haproxy -c) is refused before any lab container
        check_service_configs(self.host, tags["balancer"], self.topology, self._labels())
        t1 = time.monotonic()
        try:
            self._create(tags)
            self._wait_ready()
        except BaseException as exc:
            self._attach_logs(exc)
            self.stop()
            raise
        self.timings["up"] = time.monotonic() - t1
        return self

    def _labels(self, **extra: str) -> dict[str, str]:
        labels = {L_LAB: self.lab_id, L_RUN: RUN_ID, L_OWNER: owner()}
        if self.topology is not None:
            labels[L_TOPOLOGY] = self.topology.name
        if self.keep:
            labels[L_KEEP] = "1"
        labels.update(extra)
        return labels

    @property
    def bridge(self) -> str:
        """The host-side Linux bridge of the lab's network (named after the lab id)."""
        return f"hl-{self.lab_id[2:]}"

    def _create_network(self, prefixlen: int) -> Addressing:
        assert self.client is not None and self.topology is not None
        with subnet_lock():
            return self._create_network_locked(prefixlen)

    def _create_network_locked(self, prefixlen: int) -> Addressing:
        assert self.topology is not None
        bridge = self.bridge
        last: Exception | None = None
        ipv6 = self.topology.spec.ipv6
        for attempt, subnet in enumerate(candidate_subnets(self.client, prefixlen, ipv6)):
            if attempt >= 20:
                break
            addr = self.topology.addressing(subnet)
            pools = [IPAMPool(subnet=str(subnet), gateway=str(addr.gateway))]
            if addr.subnet6 is not None:
                # Docker 20.10 makes an IPv6 user network without any daemon IPv6 setting
                pools.append(IPAMPool(subnet=str(addr.subnet6), gateway=str(addr.gateway6)))
            self.layout = LabLayout.build(
                self.lab_id,
                self.topology,
                addr,
                {n: self.node_engines.get(n) or str(self.engine) for n in self.topology.balancers},
                self.engine_label,
            )
            try:
                self.network = self.client.networks.create(
                    f"halab-{self.lab_id}",
                    driver="bridge",
                    internal=True,
                    enable_ipv6=addr.subnet6 is not None,
                    ipam=IPAMConfig(pool_configs=pools),
                    options={"com.docker.network.bridge.name": bridge},
                    labels=self._labels(
                        **{L_ENGINE: self.engine_label, L_LAYOUT: self.layout.to_json()}
                    ),
                )
            except docker.errors.APIError as exc:
                if "overlap" in str(exc).lower():
                    last = exc
                    continue
                raise
            self.rule = hostrules.BridgeRule(bridge, self.lab_id, RUN_ID, self.host.engine_id)
            hostrules.add(self.host, self.rule)
            return addr
        raise LabStartError(f"no free /{prefixlen} subnet in {POOL} ({last})")

    def _create(self, tags: dict[str, str]) -> None:
        assert self.client is not None and self.topology is not None
        spec = self.topology.spec
        self.progress("network")
        addr = self._create_network(spec.prefixlen)
        assert self.network is not None

        hosts = [f"{n}:{a}" for n, a in addr.nodes.items()]
        hosts += [f"{n}:{a}" for n, a in addr.nodes6.items()]
        hosts += [f"{name}:{a}" for name, a in MULTICAST_NAMES]

        def create(name: str) -> Node:
            assert self.client is not None and self.topology is not None
            nspec = spec.nodes[name]
            env = {"HALAB_NODE": name, "HALAB_LAB": self.lab_id, **nspec.env}
            if nspec.body is not None:
                env["HALAB_WEB_BODY"] = nspec.body
            ip6 = addr.nodes6.get(name)
            endpoint = self.client.api.create_endpoint_config(
                ipv4_address=str(addr.nodes[name]),
                ipv6_address=str(ip6) if ip6 is not None else None,
                aliases=[name],
            )
            container = self.client.containers.create(
                tags[_ROLE_IMAGE[nspec.role]],
                name=f"halab-{self.lab_id}-{name}",
                hostname=name,
                labels=self._labels(**{L_NODE: name, L_ROLE: nspec.role.value}),
                environment=env,
                cap_add=["NET_ADMIN"] + (["SYS_NICE"] if nspec.rt_runtime_us else []),
                # keepalived's vrrp_rt_priority needs a real-time budget in the cgroup
                **({"cpu_rt_runtime": nspec.rt_runtime_us} if nspec.rt_runtime_us else {}),
                # The lab's node names are in every node's /etc/hosts (a reverse lookup, as
                # tcpdump and ipvsadm make, names lb1, not Docker's container name), with
                # the VRRP group's name as public DNS gives it. Docker's embedded DNS
                # forwards every other name to the node's own loopback, where nothing
                # answers: no lookup ever leaves the lab, and the resolver gives up after
                # one second instead of glibc's default 2 x 5 s (tcpdump without -n, ipvsadm
                # -L, iptables -L each waited 10 s on an address outside the lab's names).
                dns=["127.0.0.1"],
                dns_opt=["timeout:1", "attempts:1"],
                extra_hosts=hosts,
                network=self.network.name if self.network else None,
                networking_config={self.network.name: endpoint} if self.network else None,
                detach=True,
                stop_signal="SIGTERM",
                sysctls=self._sysctls(name, ip6 is not None) or None,
            )
            node = Node(name, nspec.role.value, addr.nodes[name], container, ip6, self._states)
            rendered = self.topology.render_files(name, addr)
            files = {dest: f.data for dest, f in rendered.items()}
            if nspec.role is Role.BALANCER:
                files[engines.ENGINE_FILE] = f"{self.engine_of(name).name}\n".encode()
            files.update(self._director_files(name, addr))
            modes = {dest: f.mode for dest, f in rendered.items()}
            for path in self.topology.notify_scripts.get(name, ()):
                # the user's file kept unchanged; at its path, the wrapper that records runs
                files[scriptpaths.NOTIFY_REAL_DIR + path] = files[path]
                modes[scriptpaths.NOTIFY_REAL_DIR + path] = modes.get(path, 0o755)
                files[path], modes[path] = scriptpaths.notify_wrapper(path), 0o755
            if files:
                node.put_files(files, modes=modes)
            return node

        self.progress("containers")
        names = list(spec.nodes)
        made = parallel(create, names)
        self.nodes = dict(zip(names, made, strict=True))
        # The mail node first, so that the engines' first mails find its server; then the
        # balancers: their VRRP engines count down their timers while the other nodes start.
        parallel(_start_node, self.mail_nodes())
        parallel(_start_node, self.balancers())
        others = [
            n for n in self.nodes.values() if n.role not in (Role.BALANCER.value, Role.MAIL.value)
        ]
        parallel(
            lambda job: job(),
            [self._release_engines, *(lambda n=n: _start_node(n) for n in others)],
        )

    def _sysctls(self, name: str, ipv6: bool) -> dict[str, str]:
        """What Docker sets in the node's network namespace when it makes the container:
        IPv6 settings in an IPv6 lab, an LVS director's or real server's (`directors`)."""
        assert self.topology is not None
        out: dict[str, str] = {}
        if ipv6:
            balancer = self.topology.spec.nodes[name].role is Role.BALANCER
            out.update(BALANCER_IPV6_SYSCTLS if balancer else IPV6_SYSCTLS)
        out.update(self.topology.directing.sysctls(name))
        return out

    def _director_files(self, name: str, addr: Addressing) -> dict[str, bytes]:
        """An LVS director's marker (its image then starts the checker), a real server's
        set-up script (the VIP on lo for DR, the route back through the VIP for NAT)."""
        assert self.topology is not None
        directing = self.topology.directing
        if directing.is_director(name):
            return {directors.CHECKER_FILE: b"halab-vrrpd --check\n"}
        clients = [addr.nodes[n] for n in self.topology.nodes_with_role(Role.CLIENT)]
        script = directing.real_server_script(name, addr.vips, clients)
        return {} if script is None else {directors.REAL_SERVER_SCRIPT: script}

    def _release_engines(self) -> None:
        """Tell the balancers' VRRP engines when to start (each waits for its go file).

        Every balancer that is the expected master of a VIP starts at the same instant, so
        container start order never decides who becomes master. The others start
        ENGINE_LAG_S later, and never before the masters' engines have started their
        instances (a state event since the go time): under nopreempt whoever comes up first
        keeps the VIP, and on a loaded machine an engine can take seconds to start
        (halab-vrrpd is Python), so neither a fixed lag nor a live pid file is enough: in a
        CI run halab-vrrpd's child entered BACKUP 1.8 s after its pid file was written, and
        keepalived on the other node, released meanwhile, became master first.
        """
        masters = set(self.expected_masters().values())
        first = [n for n in self.balancers() if n.name in masters]
        rest = [n for n in self.balancers() if n.name not in masters]
        self._engine_go = go = time.time() + 0.05
        self._engine_at = {n.name: go for n in first}
        parallel(lambda n: self._go(n, go), first)
        if not rest:
            return
        # A master whose engine never starts (its config refused) is reported by the
        # readiness check; the others are released after MASTER_START_WAIT_S regardless.
        with contextlib.suppress(LabTimeoutError):
            waits.until(
                f"the VRRP instances of {', '.join(n.name for n in first)} to start",
                lambda: all(
                    parallel(lambda n: self.engine_of(n.name).instances_started(n, go), first)
                ),
                MASTER_START_WAIT_S,
                0.05,
            )
        at = max(go + ENGINE_LAG_S, time.time() + 0.05)
        self._engine_at.update({n.name: at for n in rest})
        parallel(lambda n: self._go(n, at), rest)

    @staticmethod
    def _go(node: Node, at: float) -> None:
        node.put_files({engines.GO_FILE: f"{at:.6f}\n".encode()})

    def balancers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.role == Role.BALANCER.value]

    def mail_nodes(self) -> list[Node]:
        """The mail node (the lab's SMTP server), if the topology has one."""
        return [n for n in self.nodes.values() if n.role == Role.MAIL.value]

    def webs(self) -> list[Node]:
        """The web nodes (the real servers behind the balancers)."""
        return [n for n in self.nodes.values() if n.role == Role.WEB.value]

    def _wait_ready(self) -> None:
        assert self.layout is not None
        self.progress("ready: backends and balancer services")
        client = self.client_node()
        urls = [f"http://{n.ip}/health" for n in self.nodes.values() if n.role == "web"]
        in_node: list[tuple[Node, str]] = []
        for n in self.balancers():
            for svc in self.services_of(n):
                url, ready = svc.health_url(n), svc.ready_cmd()
                if url is not None:
                    urls.append(url)
                elif ready is not None:
                    in_node.append((n, ready))
        loop = " ".join(f"until curl -sf -m 1 -o /dev/null {u}; do sleep 0.05; done;" for u in urls)
        in_node += [(n, mail.READY_CMD) for n in self.mail_nodes()]
        budget = max(5, int(self.ready_timeout))
        if in_node:
            self._wait_in_node(in_node, budget)
        res = client.exec(f"timeout {budget} sh -c '{loop}'")
        if not res.ok:
            failing = [u for u in urls if not client.exec(f"curl -sf -m 1 -o /dev/null {u}").ok]
            node = next(
                (n.name for n in self.nodes.values() if str(n.ip) in " ".join(failing)), None
            )
            raise LabTimeoutError(f"not answering after {budget} s: {', '.join(failing)}", node)
        self.progress("ready: one holder per VIP")
        self._settle(self.ready_timeout)
        for n in self.balancers():
            if n.state() != "running":
                raise LabStartError(f"{n.name} stopped during start", n.name)
        if self.mismatch and self.strict:
            first = next(iter(self.mismatch))
            raise LabMismatchError(self._mismatch_text(), self.expected_masters()[first])
        self.vrrp_groups = labrestore.joined_groups(self)

    @staticmethod
    def _wait_in_node(checks: list[tuple[Node, str]], budget: int) -> None:
        """Wait until each service without a health URL says it is up in its node."""

        def wait(check: tuple[Node, str]) -> None:
            node, ready = check
            cmd = f"until {ready}; do sleep 0.05; done"
            if not node.exec(["timeout", str(budget), "sh", "-c", cmd]).ok:
                why = f"{node.name}: not ready after {budget} s: {ready}"
                raise LabTimeoutError(why, node.name)

        parallel(wait, checks)

    def _settle(self, timeout: float) -> dict[str, list[str]]:
        """Wait until each VIP has one holder and VRRP has settled; record in ``mismatch``
        why a VIP settled elsewhere than its expected master."""
        expected = {v: [m] for v, m in self.expected_masters().items()}
        # One holder per VIP, but not the one the topology expects: give VRRP the time to
        # correct it (on a loaded machine a master's engine may start after its backup took
        # over, and then preempts), then accept what it settled on and say why.
        # The expected masters may hold the VIPs only for now: a backup of higher priority
        # preempts them once its Master_Down_Interval has run, so ask the engines too.
        # The same goes for a split brain (a VIP on two nodes whose engines both say MASTER,
        # e.g. peers that drop each other's adverts): once it has lasted as long, it is what
        # VRRP settled on, and explain() says why (a lab test confirms a lint prediction so).
        # The kernel's addresses are read from live sets (cheap); the engines are asked by
        # an exec in each balancer (about 50 ms of engine CPU each): at most every
        # instances.ASK_ENGINES_S, and only when the addresses could mean "settled".
        grace = 3 * self._max_advert_int() + 1.0
        last: dict[str, list[str]] | None = None
        since = 0.0
        asked = checked = -math.inf
        split = False

        def settled() -> dict[str, list[str]] | None:
            nonlocal last, since, asked, checked, split
            now = time.monotonic()
            if now - checked >= CHECK_ENGINES_S:
                checked = now
                self._check_engines()
            holders = self.vip_holders()
            may_ask = now - asked >= instances.ASK_ENGINES_S
            if holders == expected:
                if not may_ask:
                    return None
                asked = now
                if not instances.contested(
                    self.instances(), self.expected_masters(), self.vip_addresses()
                ):
                    return holders
            single = all(len(h) == 1 for h in holders.values())
            if not single and may_ask:  # the engines' word on two holders, kept till asked again
                asked = now
                split = instances.masters_everywhere(
                    holders, self.instances(), self.vip_addresses()
                )
            if not (single or split):
                last = None
                return None
            if holders != last:
                last, since = holders, time.monotonic()
                return None
            return holders if time.monotonic() - since >= grace else None

        try:
            holders = waits.until("every VIP to have exactly one holder", settled, timeout)
        except LabTimeoutError as exc:
            holders = self.vip_holders()
            bad = [h for v, h in holders.items() if len(h) != 1]
            node = bad[0][0] if bad and bad[0] else self.balancers()[0].name
            why = self.explain(holders)
            detail = "".join(f"\n  {w}" for w in why.values())
            raise LabTimeoutError(f"{exc} (holders: {holders}){detail}", node) from None
        self.mismatch = self.explain(holders) if holders != expected else {}
        return holders

    def _mismatch_text(self) -> str:
        lines = "\n".join(f"  {why}" for why in self.mismatch.values())
        warned = "".join(
            f"\n  {node}: {w}" for node, ws in self.engine_warnings().items() for w in ws
        )
        if warned:
            warned = "\nThe VRRP engines warned (a disabled check script changes nothing):" + warned
        return (
            f"lab {self.lab_id}: VRRP settled the VIPs elsewhere than the topology's "
            f"`master:` says:\n{lines}{warned}\nMake the priorities and `master:` agree."
        )

    def _max_advert_int(self) -> float:
        assert self.layout is not None
        return max((v.advert_int or 1.0 for v in self.layout.vips.values()), default=1.0)

    def _check_engines(self) -> None:
        """Fail at once (not at the timeout) when a balancer's VRRP engine has died."""
        # Each engine from its own go time: a backup is released only once the masters'
        # engines run, seconds after them on a loaded machine, and must not be found "not
        # running" while it still waits for its go file.
        now = time.time()
        due = [
            n
            for n in self.balancers()
            if now >= self._engine_at.get(n.name, self._engine_go) + ENGINE_GRACE_S
        ]
        checks = parallel(lambda n: self.engine_of(n.name).running(n), due)
        for node, alive in zip(due, checks, strict=True):
            if not alive:
                raise LabStartError(
                    f"the VRRP engine ({self.engine_of(node.name).name}) is not running",
                    node.name,
                )

    def services_of(self, node: Node) -> list[type[services.BalancerService]]:
        """The balancer services the node runs (those whose config the lab gave it at
        create: asked of the node once)."""
        known = list(services.SERVICES.values())
        if not known or node.role != Role.BALANCER.value:
            return []
        if node.name not in self._services:
            cmd = " ; ".join(f"{s.enabled_cmd()} && echo {s.name}" for s in known) + "; true"
            on = set(node.exec(cmd, check=True).output.split())
            self._services[node.name] = [s for s in known if s.name in on]
        return list(self._services[node.name])

    def client_node(self) -> Node:
        for n in self.nodes.values():
            if n.role == Role.CLIENT.value:
                return n
        raise LabStartError("the lab has no client node")

    def _attach_logs(self, exc: BaseException) -> None:
        if not isinstance(exc, Exception) or not self.nodes:
            return
        name = getattr(exc, "node", None)
        targets = [self.nodes[name]] if name in self.nodes else list(self.nodes.values())
        for node in targets:
            try:
                exc.add_note(f"--- logs of {node.name} ---\n{node.logs(tail=60)}")
            except Exception as log_exc:  # logs are a courtesy; never mask the real error
                exc.add_note(f"--- no logs of {node.name}: {log_exc}")

    def stop(self) -> None:
        """Remove every container, the network and the host rule. Safe to call twice."""
        self._addr_watch.close()
        self._wire.close()
        self._states.close()
        for n in self.nodes.values():
            n.close()
        try:
            remove_lab(self.host, self.lab_id)
        except NetworkStuck as exc:
            # the engine's fault, not the test's: everything else of the lab is gone
            warnings.warn(LabWarning(f"lab {self.lab_id}: {exc}"), stacklevel=2)
        self.nodes = {}
        self.network = None
        self.rule = None

    # ------------------------------------------------------------ queries

    def alive(self) -> bool:
        """Whether the lab's network and every node's container still exist and run."""
        try:
            if self.network is None:
                return False
            self.network.reload()
            return bool(self.nodes) and all(n.state() == "running" for n in self.nodes.values())
        except docker.errors.NotFound:
            return False

    def node(self, name: str) -> Node:
        try:
            return self.nodes[name]
        except KeyError:
            raise KeyError(
                f"no node {name!r} in lab {self.lab_id}; nodes: {list(self.nodes)}"
            ) from None

    def vip_addresses(self) -> dict[str, IPAddress]:
        assert self.layout is not None
        return {v: d.ip for v, d in self.layout.vips.items()}

    def expected_masters(self) -> dict[str, str]:
        assert self.layout is not None
        return {v: d.master for v, d in self.layout.vips.items()}

    def watch_addresses(self, node: Node) -> bool:
        """Start (or restart, after the node's container started again) the node's live
        address set, `addrwatch`, and wait until it has listed the node's addresses: True
        when it has, and from then on its address events are in ``address_events``."""
        return self._addr_watch.ensure(node)

    def address_events(self, name: str, start: int = 0) -> list[bytes]:
        """Node ``name``'s ``vip_added``/``vip_removed`` lines from its live address sets
        (``watch_addresses``), in order, as its agent wrote them; from line ``start`` on
        (``event_marks``)."""
        return self._addr_watch.history(name, start)

    def watch_wire(self, node: Node) -> bool:
        """Start (or restart, after its container started again) the capture of the lab's
        wire in ``node`` (the client), `wirewatch`, and wait until it listens: True when it
        does, and from then on its adverts, GARPs and NAs are in ``wire_events``."""
        return self._wire.ensure(node)

    def wire_events(self, name: str, start: int = 0) -> list[bytes]:
        """The capture's lines (``watch_wire``) in node ``name``, in order; from line
        ``start`` on (``event_marks``)."""
        return self._wire.history(name, start)

    def event_marks(self, name: str) -> tuple[int, int]:
        """How many address and wire lines of node ``name`` have come so far (``livestream``'s
        marks): a reader that starts here later takes the lines from these on."""
        return self._addr_watch.mark(name), self._wire.mark(name)

    def vip_holders(self) -> dict[str, list[str]]:
        """VIP name -> balancers that have the address configured now (kernel's view: each
        running balancer's live address set, `addrwatch`; asked with ``ip`` when there is
        none)."""
        vips = self.vip_addresses()
        bals = [n for n in self.balancers() if n.state() == "running"]
        families = {ip.version for ip in vips.values()}

        # the live sets answer at once (no thread: this is every poll of every wait); only
        # a node without one is asked, all such at once
        live = [self._addr_watch.addresses(n) for n in bals]
        asked = iter(
            parallel(
                lambda n: {a.ip for a in n.addresses(families)},
                [n for n, got in zip(bals, live, strict=True) if got is None],
            )
        )
        found = [got if got is not None else next(asked) for got in live]
        return {
            v: sorted(n.name for n, addrs in zip(bals, found, strict=True) if ip in addrs)
            for v, ip in vips.items()
        }

    def instances(self) -> dict[str, list[instances.InstanceStatus] | str]:
        """Each balancer's VRRP instances as its engine reports them (state, priorities),
        or why they could not be read."""
        bals = self.balancers()

        def one(n: Node) -> list[instances.InstanceStatus] | str:
            try:
                return instances.read(n, self.engine_of(n.name).pidfile)
            except instances.StatusError as exc:
                return str(exc).removeprefix(f"{n.name}: ")

        return dict(zip((n.name for n in bals), parallel(one, bals), strict=True))

    def explain(self, holders: dict[str, list[str]] | None = None) -> dict[str, str]:
        """VIP -> why it is not held by its expected master alone (only such VIPs)."""
        holders = self.vip_holders() if holders is None else holders
        expected = self.expected_masters()
        odd = [v for v in expected if holders.get(v) != [expected[v]]]
        if not odd:
            return {}
        seen = self.instances()
        addrs = self.vip_addresses()
        out = {}
        for v in odd:
            why = instances.explain(v, str(addrs[v]), expected[v], holders.get(v, []), seen)
            if why is not None:
                out[v] = why
        return out

    def engine_warnings(self) -> dict[str, list[str]]:
        """Balancer -> its VRRP engine's run-time warnings (scripts disabled, keywords or
        values ignored), from the engine's log; balancers without any are left out."""
        bals = self.balancers()
        found = parallel(instances.warnings_of, bals)
        return {n.name: w for n, w in zip(bals, found, strict=True) if w}

    def wait_for_holders(
        self, expected: dict[str, list[str]], timeout: float = 15.0
    ) -> dict[str, list[str]]:
        """Poll until the named VIPs are held by exactly the given nodes (kernel's view)."""

        def match() -> dict[str, list[str]] | None:
            h = self.vip_holders()
            return h if all(sorted(h[v]) == sorted(n) for v, n in expected.items()) else None

        try:
            return waits.until(f"VIP holders {expected}", match, timeout)
        except LabTimeoutError as exc:
            raise AssertionError(f"{exc}; holders now: {self.vip_holders()}") from None

    def restore(self, settle_timeout: float = 8.0) -> None:
        """Bring the lab back to its initial state after faults (``labrestore.restore``):
        every node running and unpaused, its services up, each web node serving, each VIP
        on its expected master (the engines restarted together when VRRP does not put it
        back), and the other nodes' ARP/ND entries for the VIPs forgotten."""
        labrestore.restore(self, settle_timeout)

    def pause(self) -> list[str]:
        """Freeze the lab while no test needs it (``labrestore.pause``): no CPU spent until
        ``wake``. What the engine said of each node it would not pause (none: all were)."""
        return labrestore.pause(self)

    def wake(self) -> None:
        """A paused lab running again, restored (``labrestore.wake``)."""
        labrestore.wake(self)

    def reset_vrrp(self) -> None:
        """Stop every balancer's VRRP engine, remove every VIP, start the engines together
        and wait for the expected masters (the start-up sequence, on a running lab)."""
        labengines.restart(self, {})

    def use_engines(self, engine: str, node_engines: Mapping[str, str] | None = None) -> bool:
        """Run these VRRP engines from now on (``node_engines``: per-balancer overrides), as
        a lab started with them does: each balancer whose engine changes has it killed, its
        VIPs removed and its engine's log set aside (``vrrp.log.1``), then every balancer
        starts its engine at the lab's go and the lab settles on the expected masters, as at
        start (``labengines``). False, and nothing done, when these engines already run."""
        return labengines.use(self, engine, node_engines)

    def status(self) -> dict[str, Any]:
        """Nodes, addresses, states, VIP holders (with why a VIP is elsewhere than its
        expected master), each balancer's VRRP instances and its engine's warnings, as
        JSON-ready data."""
        assert self.layout is not None
        holders = self.vip_holders()
        seen = self.instances()
        expected = self.expected_masters()
        addrs = self.vip_addresses()
        vips = []
        for v, d in self.layout.vips.items():
            why = instances.explain(v, str(addrs[v]), expected[v], holders[v], seen)
            vips.append(
                {"name": v, "ip": str(d.ip), "expected": d.master, "holders": holders[v]}
                | ({"why": why} if why else {})
            )
        return {
            "lab": self.lab_id,
            "topology": self.layout.topology,
            "vrrp": self.layout.engine,
            "subnet": str(self.layout.subnet),
            **({"subnet6": str(self.layout.subnet6)} if self.layout.subnet6 is not None else {}),
            "nodes": [
                {"name": n.name, "role": n.role, "ip": str(n.ip)}
                | ({"ip6": str(n.ip6)} if n.ip6 is not None else {})
                | {"state": n.state()}
                for n in self.nodes.values()
            ],
            "vips": vips,
            "instances": [
                row
                for node, v in seen.items()
                for row in (
                    [{"node": node, "error": v}] if isinstance(v, str) else [s.as_dict() for s in v]
                )
            ],
            "warnings": self.engine_warnings(),
            **({"checkers": checkers} if (checkers := self.checkers()) else {}),
        }

    def checkers(self) -> list[dict[str, Any]]:
        """Each balancer's health checker of its backends: an LVS director's (which program
        runs it, on which forwarding plane and why, and what it runs in place of what the
        config asks), haproxy's own. Empty in a lab whose balancers check nothing."""
        out: list[dict[str, Any]] = []
        for n in self.balancers():
            for svc in self.services_of(n):
                said = svc.checker_info(n) if n.state() == "running" else {}
                if said is None:
                    continue
                out.append({"node": n.name, "vrrp": self.engine_of(n.name).name, **said})
        return out

    @classmethod
    def attach(cls, host: DockerHost, lab_id: str) -> Lab:
        """Reattach to a running lab (from another process) by its id."""
        client = host.client()
        nets = client.networks.list(filters={"label": f"{L_LAB}={lab_id}"})
        if not nets:
            raise LabStartError(f"no lab {lab_id}")
        try:
            layout = LabLayout.from_json(nets[0].attrs["Labels"].get(L_LAYOUT, ""))
        except LayoutError as exc:
            raise LabStartError(f"lab {lab_id}: {exc}") from None
        default = layout.engine.split(";")[0]
        lab = cls(
            topology=None,
            engine=default if default in engines.ENGINES else None,
            keep=True,
            docker_host=host,
            lab_id=lab_id,
        )
        lab.layout = layout
        lab.network = nets[0]
        for c in client.containers.list(
            all=True, ignore_removed=True, filters={"label": f"{L_LAB}={lab_id}"}
        ):
            name = c.labels.get(L_NODE, "")
            if name in layout.nodes:
                d = layout.nodes[name]
                lab.nodes[name] = Node(name, d.role.value, d.ip, c, d.ip6, lab._states)
        lab.nodes = {n: lab.nodes[n] for n in layout.nodes if n in lab.nodes}
        labengines.read_from_nodes(lab)
        return lab


def _start_node(node: Node) -> None:
    """Start a node's container; a real-time budget the engine cannot give is said plainly."""
    try:
        node.container.start()
    except docker.errors.APIError as exc:
        if "rt_runtime" not in str(exc):
            raise
        raise LabStartError(
            f"{node.name} asks for a real-time CPU budget (rt_runtime_us) that the Docker "
            "engine has none of to share: start dockerd with --cpu-rt-runtime (scripts/"
            "ensure-docker does where the kernel has real-time group scheduling, "
            f"/sys/fs/cgroup/cpu/cpu.rt_runtime_us): {exc}",
            node.name,
        ) from None

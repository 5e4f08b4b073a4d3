"""Bringing a lab back to its initial state after a test's faults (``Lab.restore``):
every node running, services up, each VIP on its expected master, the other nodes'
neighbour entries for the VIPs and the balancers' tracked connections forgotten; and an
idle lab frozen (``Lab.pause``) and woken by such a restore (``Lab.wake``). Functions of a
``Lab``; ``lab.py`` holds the lab's making and its queries."""

from __future__ import annotations

import math
import re
import time
import warnings
from typing import TYPE_CHECKING

import docker.errors

from . import instances, mail, services, waits, webserver
from .errors import LabTimeoutError, LabWarning
from .nodes import Node, parallel
from .topology import Role
from .vrrp.check.nftplane import TABLE

if TYPE_CHECKING:
    from .lab import Lab


# A balancer's firewalld (only a user starts it) stopped and its /etc/firewalld as installed.
# Its unit's start leaves a mark: without one, a shell builtin's test is all it costs.
FIREWALL_USED = "/run/halab-firewalld-used"
FIREWALL_RESET_CMD = f"[ ! -e {FIREWALL_USED} ] || halab-service firewalld reset >/dev/null 2>&1"


def restore(lab: Lab, settle_timeout: float = 8.0) -> None:
    """Bring the lab back to its initial state after faults: every node running and
    unpaused, its balancer services up and a firewalld a user started stopped, each web
    node's apache serving (no web fault left: ``webserver.ensure_serving_cmd``), and each
    VIP on its expected master. When VRRP
    does not put the VIPs back by itself (nopreempt, or a daemon killed with SIGKILL left
    its VIPs), or when a balancer no longer listens on a VRRP group it had joined when the
    lab was ready (an engine that did not join it again on a NIC that came back), the
    engines are restarted together, as at start."""
    expected = {v: [m] for v, m in lab.expected_masters().items()}

    def wake(n: Node) -> bool:
        # running as the engine's events last said (``containerstates``): no inspect for
        # it. Any other state is asked again before acting on it: an event of a moment ago
        # (an unpause just answered) may not have been read yet.
        if n.state() == "running":
            return True
        n.container.reload()
        if n.container.status == "paused":
            n.container.unpause()
        elif n.container.status != "running":
            n.container.start()
        else:
            return True
        return False

    nodes = list(lab.nodes.values())
    running = parallel(wake, nodes)  # each is a round trip to the engine: all at once
    # a firewalld a user started goes first: its zone drops the peers' adverts
    ensure = "; ".join(
        [FIREWALL_RESET_CMD, *(s.ensure_running_cmd() for s in services.SERVICES.values())]
    )
    try:
        if not all(running):
            waits.until(
                "nodes running",
                lambda: all(state == "running" for state in parallel(Node.state, nodes)),
                30,
            )
        # the web nodes too: apache serving, whatever web fault was left in place
        webs = lab.webs()
        mails = lab.mail_nodes()

        def ensure_node(n: Node) -> None:
            if n in webs:
                n.exec(webserver.ensure_serving_cmd())
            else:
                n.exec(mail.ensure_running_cmd())

        balancers = lab.balancers()
        listening = parallel(lambda n: _ensure_balancer(n, ensure), balancers)
        parallel(ensure_node, [*webs, *mails])
        # services that tell readiness in the node (haproxy: every checked server
        # serving again, `rise` checks after a web fault's revert)
        in_node = [
            (n, ready)
            for n in lab.balancers()
            for svc in lab.services_of(n)
            if (ready := svc.ready_cmd()) is not None
        ]
        if in_node:
            lab._wait_in_node(in_node, max(5, int(settle_timeout)))
        if _wait_back_or_kept(lab, expected, settle_timeout) != "back":
            lab.reset_vrrp()
        # An engine restarted by an undo may not have joined yet when the ensure ran: it
        # has once VRRP has put the VIPs back. Read again then, and only then.
        elif _groups_left(lab, dict(zip((n.name for n in balancers), listening, strict=True))) and (
            deaf := _groups_left(lab, joined_groups(lab))
        ):
            why = f"lab {lab.lab_id}: {deaf} (VRRP hears no adverts there): engines restarted"
            warnings.warn(LabWarning(why), stacklevel=2)
            lab.reset_vrrp()
    except (AssertionError, LabTimeoutError):
        lab.reset_vrrp()
    forget_traffic_state(lab)


def pause(lab: Lab) -> list[str]:
    """Freeze an idle lab: every node paused at once (the engine's cgroup freezer), so its
    engines, checks, services and observers cost no CPU until ``wake``. Lab traffic never
    crosses labs, so a frozen lab disturbs no other. A pause is answered once the freezer
    holds the container's processes. Returns what the engine said of each node it would
    not pause (``lb1: ...``; none when all are frozen): such a node is left as it is, for
    ``wake`` too."""

    def freeze(n: Node) -> str | None:
        said = ""
        # runc gives up on a cgroup v1 freezer that processes keep joining (forks, execs:
        # "unable to freeze", seen once in a CI run), thawed again: a second try is the
        # freezer's second chance
        for _ in range(2):
            try:
                n.container.pause()
            except docker.errors.APIError as exc:
                said = f"{n.name}: {exc.explanation or exc}"
                if "unable to freeze" not in said:
                    break
            else:
                return None
        return said

    return [said for said in parallel(freeze, list(lab.nodes.values())) if said]


def wake(lab: Lab, settle_timeout: float = 8.0) -> None:
    """Wake a paused lab: ``restore`` (every node unpaused, services up, VIPs on their
    masters, the neighbour entries for the VIPs forgotten). The engines' clocks ran on while
    they were frozen, so a backup thaws with its Master_Down timer long expired and becomes
    MASTER for a few ms, with its gratuitous ARPs and notify scripts, until its master's
    advert puts it back (seen at every wake of a lab paused 6 s, both engines), as VRRP
    moves after a fault's revert. When an engine has changed state since the wake began,
    the lab is restored once more: what the other nodes learnt from those ARPs is
    forgotten after them, and the VIPs are checked on their masters again."""
    since = time.time()
    restore(lab, settle_timeout)
    if _moved_since(lab, since):
        restore(lab, settle_timeout)


def _moved_since(lab: Lab, since: float) -> bool:
    """Whether a balancer's engine said it changed state at or after ``since``."""
    return any(
        parallel(lambda n: lab.engine_of(n.name).instances_started(n, since), lab.balancers())
    )


# The multicast groups VRRP adverts go to (RFC 3768 5.2.2, RFC 5798 5.1.1.2 and 5.1.2.2).
# An engine that has left one, or not joined it again on a NIC that came back, still
# sends its adverts but hears none: a master that stays master whatever its peers say.
VRRP_GROUPS = frozenset({"224.0.0.18", "ff02::12"})
GROUPS_CMD = "ip maddr show"
_GROUPS_MARK = "--- halab: ip maddr ---"


def vrrp_groups(maddr: str) -> frozenset[tuple[str, str]]:
    """(interface, group) for each VRRP group joined, from ``ip maddr show``'s output."""
    out: set[tuple[str, str]] = set()
    iface = None
    for line in maddr.splitlines():
        if m := re.match(r"\d+:\s+(\S+)", line):
            iface = m[1].split("@")[0]
            continue
        f = line.split()
        if iface is not None and len(f) >= 2 and f[0] in ("inet", "inet6") and f[1] in VRRP_GROUPS:
            out.add((iface, f[1]))
    return frozenset(out)


def joined_groups(lab: Lab) -> dict[str, frozenset[tuple[str, str]]]:
    """Each balancer's VRRP groups (an exec each, all at once): the lab's are taken when it
    is ready, and a restore finds any it lost."""

    def read(n: Node) -> frozenset[tuple[str, str]]:
        return vrrp_groups(n.exec(GROUPS_CMD).output)

    balancers = lab.balancers()
    return dict(zip((n.name for n in balancers), parallel(read, balancers), strict=True))


def _ensure_balancer(n: Node, ensure: str) -> frozenset[tuple[str, str]]:
    """The balancer's services started if they are not running, and the VRRP groups it has
    joined, in one exec."""
    out = n.exec(f"{ensure}; echo '{_GROUPS_MARK}'; {GROUPS_CMD}").output
    return vrrp_groups(out.rpartition(_GROUPS_MARK)[2])


def _groups_left(lab: Lab, now: dict[str, frozenset[tuple[str, str]]]) -> str:
    """What VRRP groups the balancers had joined when the lab was ready and have not now,
    said in a sentence ('' when none)."""
    left = [
        f"{node} no longer listens on {', '.join(f'{g} on {i}' for i, g in sorted(gone))}"
        for node, had in lab.vrrp_groups.items()
        if (gone := had - now.get(node, had))
    ]
    return "; ".join(left)


# What a balancer remembers of the connections it served: conntrack's entries (LVS NAT)
# and the LVS plane's dynamic maps, DR's connection table (c_*) and persistence (p_*).
_FORGET_CONNECTIONS = (
    "conntrack -F 2>/dev/null; for f in inet netdev; do "
    f"nft list table $f {TABLE} 2>/dev/null "
    "| sed -n 's/^[[:space:]]*map \\([cp]_[^ ]*\\) .*/\\1/p' "
    f'| while read -r m; do nft flush map $f {TABLE} "$m"; done; done; true'
)


def forget_traffic_state(lab: Lab) -> None:
    """Every node forgets what earlier traffic left, as in a lab just made: the other
    nodes their neighbour entries (ARP and ND) for the VIPs, the balancers the
    connections they tracked. The next test's first packet asks, and the holder answers;
    its first connection is scheduled afresh.

    - A fault can leave neighbour entries naming a node that no longer holds the VIP:
      after a short split brain the master's gratuitous ARPs (keepalived sends them on
      each lower priority advert) race the other node's own, and the last one wins.
      Traffic then goes through the ex-master, which routes it on; with LVS NAT the real
      servers' replies go to it too, and break, until the entries expire (seen with
      keepalived in this lab: the ex-master's burst came last).
    - The lab's client makes tens of thousands of connections from one address: its
      source ports come round again within a minute or so, while a director still
      tracks their earlier connections. A SYN that a firewalled real server never
      answered stays tracked for 120 s (SYN_SENT), bound to that server: a new
      connection from the same port is taken for its retransmission and goes there,
      whatever the pool says now, and takes no turn of the scheduler (shown here with a
      fixed source port; the likely cause of wrr 3:1 served as 37:9 in CI after the
      firewall test). IPVS most likely does the same: its conn_reuse_mode schedules a
      reused port afresh only when the old connection is in TIME_WAIT or CLOSE.

    Both are production's behaviour, for a test to see within itself; the next test
    starts without them."""
    addrs = " ".join(str(a) for a in lab.vip_addresses().values())
    neigh = f"for a in {addrs}; do ip neigh flush to $a; done 2>/dev/null; true"

    def forget(n: Node) -> None:
        n.exec(_FORGET_CONNECTIONS if n.role == Role.BALANCER.value else neigh)

    parallel(forget, list(lab.nodes.values()))


def _wait_back_or_kept(lab: Lab, expected: dict[str, list[str]], timeout: float) -> str:
    """Wait until each VIP is back on its expected master ("back"), or until the
    engines say VRRP keeps it where it is ("kept": `kept_by_nopreempt`), so a restore
    does not wait out its timeout on what only a restart of the engines undoes.
    The engines are asked (an exec each) only while a VIP sits on one other node, and
    no more once they said that no expected master has nopreempt."""
    masters = {m for want in expected.values() for m in want}
    asked = -math.inf
    preempts = False

    def verdict() -> str | None:
        nonlocal asked, preempts
        holders = lab.vip_holders()
        if holders == expected:
            return "back"
        now = time.monotonic()
        off = [v for v, want in expected.items() if holders.get(v) != want]
        split = any(len(holders[v]) != 1 for v in off)
        if preempts or now - asked < instances.ASK_ENGINES_S or split:
            return None
        asked = now
        seen = lab.instances()
        if instances.kept_by_nopreempt(holders, expected, seen, lab.vip_addresses()):
            return "kept"
        said = [seen.get(m) for m in masters]
        preempts = all(isinstance(v, list) and not any(s.nopreempt for s in v) for v in said)
        return None

    return waits.until(f"VIP holders {expected}", verdict, timeout)

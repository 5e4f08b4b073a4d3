"""What each balancer's VRRP engine says of its instances, and why a VIP is not where the
topology expects it.

Both engines answer keepalived's JSON signal (``keepalived --signum=JSON``) with
``/tmp/keepalived.json``: keepalived itself, and halab-vrrpd in the same format
(:mod:`pytest_halab.vrrp.status`). :func:`read` asks a node for it and :func:`parse` turns it
into :class:`InstanceStatus` records: state, base and effective priority, the master's
priority as the instance last heard it, nopreempt, the VIPs.

:func:`explain` answers the question a user asks when ``halab up`` says *moved*: "the
topology says lb1 is master of VI_1, why does lb2 hold it?". VRRP elects the instance with
the highest effective priority (equal priorities: the higher primary address, RFC 5798
6.4.3); a config's ``state MASTER`` only sets where an instance starts, and ``nopreempt``
keeps a lower-priority master in place. Each answer names the nodes, states and priorities
it was drawn from, so that the user can check it against their configs.

Also here: the engines' run-time warnings (:func:`warnings_of`), the lines of the engine's
log that say it did not do what the config asked (a script disabled, a keyword or value
ignored), which otherwise scroll by unseen while ``status`` says *ok*.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .naps import polling

if TYPE_CHECKING:
    from .nodes import Node

JSON_PATH = "/tmp/keepalived.json"
JSON_SIGNAL = 36  # keepalived --signum=JSON on Linux (SIGRTMIN + 2); halab-vrrpd the same
STATES = {0: "INIT", 1: "BACKUP", 2: "MASTER", 3: "FAULT"}
ENGINE_LOG = "/var/log/halab/vrrp.log"  # the balancer image's 30-vrrp sends the engine's log here
# Asking the engines their states is a command in each balancer: a lab waiting on VRRP
# (settling, restore) asks at most this often.
ASK_ENGINES_S = 0.25


@dataclass(frozen=True)
class InstanceStatus:
    """One VRRP instance on one node, as its engine reported it."""

    node: str
    name: str
    state: str  # MASTER, BACKUP, FAULT, INIT
    base_priority: int
    effective_priority: int
    master_priority: int  # the master's, as last heard (its own when master); 0: none heard
    nopreempt: bool
    preempt_delay: float
    vrid: int
    vips: tuple[str, ...]  # addresses, without prefix
    track_scripts: tuple[str, ...]  # commands of the scripts that run (not disabled ones)

    def holds(self, address: str) -> bool:
        return address in self.vips

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "instance": self.name,
            "state": self.state,
            "priority": self.effective_priority,
            "base_priority": self.base_priority,
            "master_priority": self.master_priority,
            "nopreempt": self.nopreempt,
            "vrid": self.vrid,
            "vips": list(self.vips),
            "track_scripts": list(self.track_scripts),
        }


class StatusError(Exception):
    """The engine's dump could not be read or is not what keepalived writes."""


def _int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    v = data.get(key, default)
    return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else default


def parse(text: str, node: str) -> list[InstanceStatus]:
    """keepalived's JSON dump as records; StatusError if it is not one."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise StatusError(f"{node}: {JSON_PATH} is not JSON: {exc}") from None
    if not isinstance(doc, list):
        raise StatusError(f"{node}: {JSON_PATH} is not a list of instances")
    out = []
    for item in doc:
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("iname"), str):
            raise StatusError(f"{node}: {JSON_PATH}: an instance without data.iname")
        vips = tuple(str(v).split()[0].split("/")[0] for v in data.get("vips") or () if str(v))
        scripts = tuple(
            " ".join(w.strip("'") for w in str(s).split("' '"))
            for s in data.get("track_script") or ()
        )
        delay = data.get("preempt_delay", 0)
        out.append(
            InstanceStatus(
                node=node,
                name=data["iname"],
                state=STATES.get(_int(data, "state", -1), f"state {data.get('state')}"),
                base_priority=_int(data, "base_priority"),
                effective_priority=_int(data, "effective_priority"),
                master_priority=_int(data, "master_priority"),
                nopreempt=bool(data.get("nopreempt")),
                preempt_delay=float(delay) if isinstance(delay, int | float) else 0.0,
                vrid=_int(data, "vrid"),
                vips=vips,
                track_scripts=scripts,
            )
        )
    return out


def read_cmd(pidfile: str) -> str:
    """Shell: signal the engine for its JSON dump and print it once written (2 s at most).
    Exit 3 when the engine does not run, 4 when it wrote nothing."""
    f = shlex.quote(pidfile)
    # builtins where they do (read, :>, a counter): the lab reads this often, and each
    # fork in the node costs CPU the labs share
    return (
        f'p=; read p < {f} 2>/dev/null; [ -n "$p" ] && kill -0 "$p" 2>/dev/null || exit 3; '
        f': > {JSON_PATH}; kill -{JSON_SIGNAL} "$p"; '
        f"i=0; while [ $i -lt 100 ]; do [ -s {JSON_PATH} ] && break; i=$((i + 1)); "
        f"sleep 0.02; done; [ -s {JSON_PATH} ] || exit 4; sleep 0.05; cat {JSON_PATH}"
    )


def read(node: Node, pidfile: str) -> list[InstanceStatus]:
    """The instances of the engine running in ``node``; StatusError when it cannot say."""
    last: StatusError | None = None
    for _ in range(3):  # keepalived writes in place: a read may catch half the file
        res = node.exec(polling(read_cmd(pidfile)))
        if res.exit_code == 3:
            raise StatusError(f"{node.name}: the VRRP engine is not running")
        if res.exit_code == 4:
            raise StatusError(f"{node.name}: the VRRP engine wrote no {JSON_PATH} in 2 s")
        try:
            return parse(res.output, node.name)
        except StatusError as exc:
            last = exc
    assert last is not None
    raise last


# ---------------------------------------------------------------- why a VIP is elsewhere


def _of(statuses: Iterable[InstanceStatus], address: str) -> list[InstanceStatus]:
    return [s for s in statuses if s.holds(address)]


def _describe(s: InstanceStatus) -> str:
    prio = f"priority {s.effective_priority}"
    if s.effective_priority != s.base_priority:
        prio += f" (configured {s.base_priority})"
    extra = ", nopreempt" if s.nopreempt else ""
    return f"{s.node} {s.name} {s.state} {prio}{extra}"


Statuses = Mapping[str, Sequence[InstanceStatus] | str]  # node -> its instances, or why not


def masters_everywhere(
    holders: Mapping[str, Sequence[str]], statuses: Statuses, addresses: Mapping[str, Any]
) -> bool:
    """A split brain the engines confirm: every VIP has a holder, and each VIP held twice
    or more is so by engines that all say MASTER for it (not the kernel's addresses
    lagging a handover)."""
    if not all(holders.values()):
        return False
    for vip, nodes in holders.items():
        if len(nodes) < 2:
            continue
        for node in nodes:
            mine = statuses.get(node)
            if isinstance(mine, str) or not mine:
                return False
            if not any(s.state == "MASTER" for s in _of(mine, str(addresses[vip]))):
                return False
    return True


def contested(statuses: Statuses, masters: Mapping[str, str], addresses: Mapping[str, Any]) -> bool:
    """Whether VRRP may still move a VIP that its expected master (``masters``: VIP -> node)
    holds now, by what the engines report (the kernel's addresses lag their states by a
    handover): the expected master's instance is not MASTER, another node's is, a backup
    outranks it and will preempt it (higher effective priority, no nopreempt) or has heard
    no master yet; or an engine cannot say yet (still starting: no dump, or one without
    instances, as keepalived writes before its VRRP process has read the config)."""
    if any(isinstance(v, str) or not v for v in statuses.values()):
        return True
    for vip, master in masters.items():
        address = str(addresses[vip])
        found = [
            (node, s)
            for node, v in statuses.items()
            if not isinstance(v, str)
            for s in _of(v, address)
        ]
        mine = [s for node, s in found if node == master]
        others = [s for node, s in found if node != master]
        if not mine:
            continue  # explain() says so, once settled
        top = max(s.effective_priority for s in mine)
        if not any(s.state == "MASTER" for s in mine) or any(
            s.state == "MASTER"
            or (s.effective_priority > top and s.state in ("INIT", "BACKUP") and not s.nopreempt)
            # a backup that has heard no master yet takes over at its Master_Down_Interval
            # (it may never hear this one: peers that drop each other's adverts)
            or (s.state == "BACKUP" and s.master_priority == 0)
            for s in others
        ):
            return True  # the engines are handing over, or are about to
    return False


def kept_by_nopreempt(
    holders: Mapping[str, Sequence[str]],
    expected: Mapping[str, Sequence[str]],
    statuses: Statuses,
    addresses: Mapping[str, Any],
) -> bool:
    """Whether VRRP keeps every VIP that is off its expected master where it is: held by
    one other node, whose instance says MASTER, while the expected master's instances of
    it are BACKUP with nopreempt and have heard that master. Only a fault of the holder
    (or a restart of the engines) moves such a VIP; False when any VIP may still move."""
    off = [v for v, want in expected.items() if sorted(holders.get(v, [])) != sorted(want)]
    if not off:
        return False
    for vip in off:
        held, want = list(holders.get(vip, [])), list(expected[vip])
        if len(held) != 1 or len(want) != 1:
            return False
        other, master = held[0], want[0]
        said_other, said_master = statuses.get(other), statuses.get(master)
        if isinstance(said_other, str) or isinstance(said_master, str):
            return False
        address = str(addresses[vip])
        theirs, mine = _of(said_other or (), address), _of(said_master or (), address)
        if not theirs or not mine or not all(s.state == "MASTER" for s in theirs):
            return False
        if not all(s.state == "BACKUP" and s.nopreempt and s.master_priority > 0 for s in mine):
            return False
    return True


def explain(
    vip: str,
    address: str,
    expected: str,
    holders: Sequence[str],
    statuses: Mapping[str, Sequence[InstanceStatus] | str],
) -> str | None:
    """Why ``vip`` (``address``) is held by ``holders`` and not by ``expected`` alone; None
    when it is where expected. ``statuses``: node -> its instances, or why they are
    unknown (a string)."""
    if list(holders) == [expected]:
        return None
    known = {n: _of(v, address) for n, v in statuses.items() if not isinstance(v, str)}
    unknown = {n: v for n, v in statuses.items() if isinstance(v, str)}
    seen = ", ".join(_describe(s) for found in known.values() for s in found)
    notes = [f"{n}: {why}" for n, why in unknown.items()]
    facts = "; ".join(x for x in (seen, *notes) if x) or "no engine reported an instance"
    held = ", ".join(holders) or "no node"
    head = f"{vip} is held by {held}, not by {expected} as the topology's master: says"
    if expected in unknown:
        return f"{head}: {unknown[expected]} ({facts})"
    mine = known.get(expected, [])
    if not mine:
        return f"{head}: no VRRP instance of {expected} has {address} ({facts})"
    m = max(mine, key=lambda s: s.effective_priority)
    if len(holders) > 1:
        why = (
            "several nodes are MASTER at once: they do not hear each other's adverts "
            "(a firewall, a different virtual_router_id, auth_pass or unicast peers)"
        )
        return f"{head}: {why} ({facts})"
    if m.state == "FAULT":
        return (
            f"{head}: {expected}'s {m.name} is in FAULT (a tracked interface or script "
            f"failed) ({facts})"
        )
    others = [s for n, found in known.items() if n != expected for s in found]
    if not holders:
        return f"{head}: no instance is MASTER ({facts})"
    top = max(others, key=lambda s: s.effective_priority, default=None)
    if top is not None and top.effective_priority > m.effective_priority:
        why = (
            f"{top.node} has the higher priority ({top.effective_priority} > "
            f"{m.effective_priority}) and VRRP elects the highest; `state MASTER` only "
            "sets where an instance starts"
        )
        if m.effective_priority < m.base_priority:
            why += (
                f"; {expected}'s priority is lowered from {m.base_priority} by a failing "
                "tracked script or interface"
            )
        return f"{head}: {why} ({facts})"
    if top is not None and top.effective_priority == m.effective_priority:
        why = (
            f"{expected} and {top.node} have the same priority ({m.effective_priority}): "
            "the tie goes to the higher primary IP address (RFC 5798 6.4.3)"
        )
        return f"{head}: {why} ({facts})"
    if m.nopreempt or m.preempt_delay:
        why = (
            f"{expected}'s {m.name} has nopreempt"
            if m.nopreempt
            else f"{expected}'s {m.name} has preempt_delay {m.preempt_delay:g} s"
        )
        return (
            f"{head}: {why}: it does not take the VIP back from a lower-priority master ({facts})"
        )
    return f"{head}: ({facts})"


# ---------------------------------------------------------------- engine warnings

# The engines' words (keepalived's, which halab-vrrpd reuses) for "I did not do what the
# config says". Routine notices every lab with scripts gets (SECURITY VIOLATION without
# enable_script_security, the default script user missing: both fall back to root, as on
# the users' own machines) are not warnings here.
WARNING_RE = re.compile(
    r"WARNING|[Dd]isabl|[Ii]gnor|[Uu]nknown keyword|[Tt]runcat|not supported|"
    r"[Cc]onfiguration error|[Ii]nsecure|doesn't exist|does not exist|[Nn]on-existent|"
    r"not found"
)
ROUTINE_RE = re.compile(r"SECURITY VIOLATION|[Ss]cript user '[^']*' does not exist")
_STAMP_RE = re.compile(r"^\w{3} \w{3} +\d+ [\d:.]+ \d{4}: ")


# Where the running configuration was read: a start or a reload (SIGHUP), after which the
# engine repeats every warning that still holds.
LOADED_RE = re.compile(r": (Starting Keepalived|Starting halab-vrrpd|Reloading)\b")


def warnings_in(log: str) -> list[str]:
    """The warning lines of an engine's log since it last read its configuration, without
    timestamps, each once, in order."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if LOADED_RE.search(line)]
    out: list[str] = []
    for line in lines[starts[-1] if starts else 0 :]:
        body = _STAMP_RE.sub("", line)
        if body.startswith((" ", "------<")):
            continue  # the configuration dump of -d ("   Script security disabled")
        text = body.strip()
        if text and WARNING_RE.search(text) and not ROUTINE_RE.search(text) and text not in out:
            out.append(text)
    return out


def warnings_of(node: Node) -> list[str]:
    """The run-time warnings of the VRRP engine in ``node`` (from its log)."""
    res = node.exec(["cat", ENGINE_LOG])
    return warnings_in(res.output) if res.ok else []

"""The rules of `halab lint`: what will go wrong across the balancers' keepalived.conf.

The checks read every balancer together (`Balancer`) and yield `Finding`s, each at the
line a user would edit, with the peer's line as a related place. Instances are peers when
they run on different balancers and share a virtual address or a virtual_router_id: what a
user means as one VRRP router, whether or not its halves agree. A rule is an id with one
line of help in `RULES` (``halab lint --rules``, SARIF); a check in `CHECKS` yields the
findings of one or more rules.

What the rules know of keepalived 2.2.7 (and of halab-vrrpd, which behaves the same):

- a VRRPv2 advert whose VRID, version, authentication (type, and auth_pass's first 8
  bytes), advert interval or address list differs from the receiver's is discarded, so
  both nodes stay MASTER: split brain. VRRPv3 backups take the master's interval instead;
- the highest effective priority wins; a backup accepts adverts of its own priority, so at
  equal priorities whoever became master first keeps the VIP (only two masters at once
  compare their addresses);
- a tracked script's weight: W > 0 is added while the script succeeds, W < 0 added while
  it fails (``reverse`` swaps the two), weight 0 puts the instance in FAULT when it
  fails; the result stays within 1..254, and an address owner (255) is not changed;
- ``nopreempt`` keeps a backup from taking the VIP from a lower-priority master; with
  ``state MASTER`` it is cleared (keepalived warns);
- a tracked script that is missing or not executable is disabled: it never runs, so it
  never moves anything.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..vrrp.conf.model import VrrpInstance
from ..vrrp.smtpalert import MailPolicy, alert_setting
from ..vrrp.track import TrackedItem, tracking_result
from .subjects import Balancer

__all__ = ["CHECKS", "RULES", "Finding", "effective_priority", "run"]

AUTH_PASS_BYTES = 8  # VRRPv2 carries 8 bytes of password (RFC 2338 5.3.10)


@dataclass(frozen=True)
class Finding:
    """One thing that will go wrong, where to fix it, and the other places involved."""

    rule: str
    severity: str  # "error": it breaks failover or splits the brain; "warning": it may
    file: str
    line: int
    message: str
    related: tuple[tuple[str, int], ...] = ()
    nodes: tuple[str, ...] = ()


Check = Callable[[list[Balancer]], Iterable[Finding]]


@dataclass(frozen=True)
class Peer:
    """An instance on its balancer."""

    bal: Balancer
    inst: VrrpInstance

    @property
    def label(self) -> str:
        return f"{self.bal.name} {self.inst.name}"

    def at(self, keyword: str) -> tuple[str, int]:
        """Where ``keyword`` is set in this instance, else the instance's own line."""
        file, line = self.inst.lines.get(keyword, (self.inst.file, self.inst.line))
        return self.bal.where(file, line)

    def vips(self) -> set[str]:
        return {v.address for v in self.inst.vips}

    def vip_text(self) -> str:
        names = [self.bal.vip_names.get(a, a) for a in sorted(self.vips())]
        return ", ".join(names) or "no address"


@dataclass
class Group:
    """Instances of different balancers meant as one VRRP router."""

    members: list[Peer] = field(default_factory=list)

    def counterparts(self, p: Peer) -> list[Peer]:
        """The instances of other balancers that share ``p``'s VRID: its VRRP peers."""
        return [o for o in self.members if o.bal is not p.bal and o.inst.vrid == p.inst.vrid]

    def pairs(self) -> Iterator[tuple[Peer, Peer]]:
        for a, b in itertools.combinations(self.members, 2):
            if a.bal is not b.bal:
                yield a, b


def groups(balancers: list[Balancer], *, lone: bool = False) -> list[Group]:
    """Instances joined when they share an address or a VRID (union-find): the groups
    that span balancers, or with ``lone`` the instances that have no peer."""
    peers = [Peer(b, i) for b in balancers for i in b.cfg.instances.values()]
    parent = list(range(len(peers)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(peers)), 2):
        a, b = peers[i], peers[j]
        if a.bal is b.bal:
            continue
        same_vrid = a.inst.vrid is not None and a.inst.vrid == b.inst.vrid
        if a.vips() & b.vips() or same_vrid:
            parent[find(i)] = find(j)
    out: dict[int, Group] = {}
    for i, p in enumerate(peers):
        out.setdefault(find(i), Group()).members.append(p)
    return [g for g in out.values() if (len({id(p.bal) for p in g.members}) > 1) != lone]


# ---------------------------------------------------------------- priorities


def script_weight(p: Peer, name: str) -> int | None:
    """The weight ``name`` has in this instance (its own, else the script's); None when
    the instance does not track it or the script is not defined."""
    script = p.bal.cfg.scripts.get(name)
    for t in p.inst.track_scripts:
        if t.name == name and script is not None:
            return t.weight if t.weight is not None else script.weight
    return None


def effective_priority(p: Peer, failing: frozenset[str] = frozenset()) -> int | None:
    """The instance's priority with the scripts in ``failing`` failing and the others
    succeeding, by the daemon's own rules (`tracking_result`); None when a failing
    weight-0 script puts it in FAULT. Scripts that never run count for nothing."""
    items = []
    for t in p.inst.track_scripts:
        script = p.bal.cfg.scripts.get(t.name)
        if script is None or not _runs(p, t.name):
            continue
        weight = t.weight if t.weight is not None else script.weight
        reverse = t.reverse or (t.weight is None and script.weight_reverse)
        items.append(TrackedItem("script", t.name, weight, reverse, t.name not in failing))
    fault, prio = tracking_result(p.inst.priority, items)
    return None if fault else prio


def _runs(p: Peer, name: str) -> bool:
    """The script is defined, and keepalived would run it (found and executable)."""
    script = p.bal.cfg.scripts.get(name)
    if script is None or script.disabled or not script.script:
        return False
    return p.bal.check_script(script_argv0(script.script)) in ("ok", None)


def script_argv0(command: str) -> str:
    return command.split()[0] if command.split() else command


def _outranks(a: Peer, pa: int, b: Peer, pb: int) -> bool | None:
    """Whether a at priority pa wins over b at pb; None when it depends on addresses
    that are not known."""
    if pa != pb:
        return pa > pb
    if a.bal.address is not None and b.bal.address is not None:
        return a.bal.address > b.bal.address
    return None


def _f(
    rule: str,
    severity: str,
    p: Peer,
    keyword: str,
    text: str,
    *others: Peer,
    related_kw: str | None = None,
) -> Finding:
    """A finding at ``keyword`` of ``p``, the same keyword (or ``related_kw``) of the
    ``others`` related."""
    file, line = p.at(keyword)
    related = tuple(o.at(related_kw or keyword) for o in others)
    return Finding(
        rule, severity, file, line, text, related, (p.bal.name, *(o.bal.name for o in others))
    )


# ---------------------------------------------------------------- rules


def peers_disagree(balancers: list[Balancer]) -> Iterator[Finding]:
    """VRID, version, authentication, advert interval or addresses differ between peers."""
    for g in groups(balancers):
        for a, b in g.pairs():
            yield from _disagree(a, b)


def _disagree(a: Peer, b: Peer) -> Iterator[Finding]:
    ia, ib = a.inst, b.inst
    both = f"{a.label} and {b.label}"
    split = "they do not accept each other's adverts and both become MASTER: split brain"
    if ia.vrid != ib.vrid:
        yield _f(
            "vrid-mismatch",
            "error",
            a,
            "virtual_router_id",
            f"{a.label} has virtual_router_id {ia.vrid}, {b.label} has {ib.vrid}: "
            f"they are two VRRP routers that never hear each other, and both hold "
            f"{a.vip_text()}: split brain",
            b,
        )
        return  # the rest compares adverts they never exchange
    if ia.version != ib.version:
        yield _f(
            "version-mismatch",
            "error",
            a,
            "version",
            f"{a.label} speaks VRRPv{ia.version}, {b.label} VRRPv{ib.version}: {split}",
            b,
        )
        return
    if ia.version == 2:
        auth_a = (ia.auth_type, (ia.auth_pass or "")[:AUTH_PASS_BYTES] if ia.auth_type else None)
        auth_b = (ib.auth_type, (ib.auth_pass or "")[:AUTH_PASS_BYTES] if ib.auth_type else None)
        if auth_a != auth_b:
            yield _f(
                "auth-mismatch",
                "error",
                a,
                "authentication",
                f"{both} differ in authentication ({_auth(ia)} / {_auth(ib)}): {split}",
                b,
            )
        if ia.advert_int != ib.advert_int:
            yield _f(
                "advert-mismatch",
                "error",
                a,
                "advert_int",
                f"{a.label} adverts every {ia.advert_int:g} s, {b.label} every "
                f"{ib.advert_int:g} s; VRRPv2 drops adverts of another interval: {split}",
                b,
            )
    if a.vips() != b.vips():
        only_a, only_b = sorted(a.vips() - b.vips()), sorted(b.vips() - a.vips())
        parts = []
        if only_a:
            parts.append(f"only {a.bal.name} has {', '.join(only_a)}")
        if only_b:
            parts.append(f"only {b.bal.name} has {', '.join(only_b)}")
        yield _f(
            "vip-mismatch",
            "error",
            a,
            "virtual_ipaddress",
            f"{both} carry different addresses ({'; '.join(parts)}): keepalived drops "
            f"adverts whose address list differs from its own, {split} (addresses only one "
            f"side needs go in virtual_ipaddress_excluded, which adverts do not carry)",
            b,
        )


def _auth(inst: VrrpInstance) -> str:
    if inst.auth_type is None:
        return "none"
    return f"{inst.auth_type} {inst.auth_pass or ''}".strip()


def unicast_peers(balancers: list[Balancer]) -> Iterator[Finding]:
    """Unicast on one side only, or peers that do not list each other."""
    for g in groups(balancers):
        for a, b in g.pairs():
            if a.inst.vrid != b.inst.vrid:
                continue
            ua, ub = bool(a.inst.unicast_peers), bool(b.inst.unicast_peers)
            if ua != ub:
                uni, multi = (a, b) if ua else (b, a)
                yield _f(
                    "unicast-mismatch",
                    "error",
                    uni,
                    "unicast_peer",
                    f"{uni.label} sends its adverts by unicast, {multi.label} by multicast: "
                    f"neither hears the other, both become MASTER: split brain",
                    multi,
                    related_kw="virtual_router_id",
                )
                continue
            if not ua:
                continue
            for x, y in ((a, b), (b, a)):
                src = _src_of(y)
                if src is not None and src not in x.inst.unicast_peers:
                    yield _f(
                        "unicast-peer-missing",
                        "error",
                        x,
                        "unicast_peer",
                        f"{x.label}'s unicast_peer does not list {y.bal.name}"
                        f"{'' if y.bal.sample else f' ({src})'}: "
                        f"{x.bal.name}'s adverts never reach {y.bal.name}, so whenever "
                        f"{x.bal.name} should hold {x.vip_text()}, {y.bal.name} takes it "
                        f"too: split brain",
                        y,
                        related_kw="unicast_src_ip" if y.inst.unicast_src_ip else "unicast_peer",
                    )


def _src_of(p: Peer) -> str | None:
    if p.inst.unicast_src_ip:
        return p.inst.unicast_src_ip
    return str(p.bal.address) if p.bal.address is not None else None


def equal_masters(balancers: list[Balancer]) -> Iterator[Finding]:
    """Two ``state MASTER`` at the same priority: the addresses decide."""
    for g in groups(balancers):
        masters = [p for p in g.members if p.inst.configured_state == "MASTER"]
        for a, b in itertools.combinations(masters, 2):
            if a.bal is b.bal or a.inst.vrid != b.inst.vrid:
                continue
            if a.inst.priority == b.inst.priority:
                yield _f(
                    "equal-masters",
                    "warning",
                    a,
                    "state",
                    f"{a.label} and {b.label} are both state MASTER at priority "
                    f"{a.inst.priority}: whichever node's VRRP daemon starts first holds "
                    f"{a.vip_text()} (a backup accepts an equal priority's adverts; only when "
                    f"both start together does the higher address win), so a restart can "
                    f"move it; give the intended master the higher priority",
                    b,
                )


def master_outranked(balancers: list[Balancer]) -> Iterator[Finding]:
    """``state MASTER`` on a node a peer outranks: the peer holds the VIP."""
    for g in groups(balancers):
        for m in g.members:
            if m.inst.configured_state != "MASTER":
                continue
            for o in g.counterparts(m):
                if o.inst.priority > m.inst.priority:
                    yield _f(
                        "master-outranked",
                        "warning",
                        m,
                        "priority",
                        f"{m.label} is state MASTER at priority {m.inst.priority}, but "
                        f"{o.label} has {o.inst.priority}: {o.bal.name} takes "
                        f"{m.vip_text()} (state only sets how an instance starts; the "
                        f"highest priority is elected)",
                        o,
                    )


def weight_too_small(balancers: list[Balancer]) -> Iterator[Finding]:
    """A tracked script whose failure does not drop the master below its peer."""
    for g in groups(balancers):
        for m in g.members:
            others = g.counterparts(m)
            healthy = effective_priority(m)
            if not others or healthy is None:
                continue
            if any(healthy < (effective_priority(o) or 0) for o in others):
                continue  # m is not the master while all is well
            for script, down in _drops(m):
                for o in others:
                    po = effective_priority(o) or 0
                    if down < po:
                        continue
                    how = (
                        f"{m.bal.name} still has {down} against {o.bal.name}'s {po}"
                        if down > po
                        else f"{down} only equals {o.bal.name}'s {po} (a backup accepts "
                        f"adverts of its own priority)"
                    )
                    yield _f(
                        "weight-too-small",
                        "error",
                        m,
                        "track_script",
                        f"when {script} fails on {m.bal.name}, {m.vip_text()} does not move: "
                        f"weight {script_weight(m, script)} takes {m.inst.name} from {healthy} "
                        f"to {down}, and {how}; it must drop below {po} (only the script's "
                        f"own action, such as stopping keepalived, moves the VIP now)",
                        o,
                        related_kw="priority",
                    )


def _drops(p: Peer) -> Iterator[tuple[str, int]]:
    """Each tracked script of ``p`` whose failure lowers its priority (it runs, weight not
    0), with the priority then."""
    for t in p.inst.track_scripts:
        if not _runs(p, t.name) or script_weight(p, t.name) == 0:
            continue
        down = effective_priority(p, frozenset({t.name}))
        if down is not None:
            yield t.name, down


def nopreempt_trap(balancers: list[Balancer]) -> Iterator[Finding]:
    """nopreempt on a node whose peer's check can fail while holding the VIP."""
    for g in groups(balancers):
        for n in g.members:
            pn = effective_priority(n)
            if not n.inst.nopreempt or pn is None:
                continue
            for p in g.counterparts(n):
                healthy = effective_priority(p)
                for script, down in _drops(p):
                    if down >= pn:
                        continue
                    first = (
                        f"{p.bal.name} holds it from the start, at priority {healthy} against {pn}"
                        if healthy is not None and _outranks(p, healthy, n, pn)
                        else f"{p.bal.name} holds it after {n.bal.name} failed or restarted"
                    )
                    yield _f(
                        "nopreempt-trap",
                        "warning",
                        n,
                        "nopreempt",
                        f"{n.vip_text()} stays on {p.bal.name} when its {script} fails: "
                        f"{p.label} drops to {down}, below {n.label}'s {pn}, but "
                        f"{n.bal.name} has nopreempt and never takes a VIP from a live "
                        f"master ({first}); only {p.bal.name}'s death or a FAULT (weight 0) "
                        f"moves it",
                        p,
                        related_kw="track_script",
                    )


def nopreempt_useless(balancers: list[Balancer]) -> Iterator[Finding]:
    """nopreempt on a node that a preempting peer outranks: the VIP fails back anyway."""
    for g in groups(balancers):
        for n in g.members:
            if not n.inst.nopreempt:
                continue
            pn = effective_priority(n)
            for p in g.counterparts(n):
                if p.inst.nopreempt:
                    continue
                pp = effective_priority(p)
                if pn is None or pp is None or pp <= pn:
                    continue
                yield _f(
                    "nopreempt-useless",
                    "warning",
                    n,
                    "nopreempt",
                    f"nopreempt on {n.label} does not stop a failback: it only keeps "
                    f"{n.bal.name} from taking a VIP, and {p.label} (priority {pp} against "
                    f"{pn}, no nopreempt) takes {n.vip_text()} back whenever it returns; for "
                    f"no failback, give every node state BACKUP and nopreempt",
                    p,
                    related_kw="priority",
                )


def router_id_shared(balancers: list[Balancer]) -> Iterator[Finding]:
    """Two balancers with one router_id: their mails and logs look alike."""
    by_id: dict[str, list[Balancer]] = {}
    for b in balancers:
        rid = b.cfg.global_defs.router_id
        if rid:
            by_id.setdefault(rid, []).append(b)
    for rid, same in by_id.items():
        for b in same[1:]:
            first = same[0]
            file, line = _router_id_at(b)
            yield Finding(
                "router-id-shared",
                "warning",
                file,
                line,
                f"{b.name} and {first.name} both have router_id {rid}: their state-change "
                f"mails and logs say the same machine",
                (_router_id_at(first),),
                (b.name, first.name),
            )


def mail_never_sent(balancers: list[Balancer]) -> Iterator[Finding]:
    """notification_email and smtp_server set, and no smtp_alert where keepalived 2.2.7
    looks for one (the instance's or group's own, global smtp_alert_vrrp, global
    smtp_alert): it mails nothing (seeds 001-004 as written)."""
    for b in balancers:
        gd = b.cfg.global_defs
        if not gd.notification_email or gd.smtp_server is None:
            continue
        policy = MailPolicy(
            global_alert=alert_setting(gd.options, "smtp_alert"),
            global_alert_vrrp=alert_setting(gd.options, "smtp_alert_vrrp"),
        )
        own = [i.smtp_alert for i in b.cfg.instances.values()]
        own += [g.smtp_alert for g in b.cfg.sync_groups.values()]
        if not own or any(policy.wants(o) for o in own):
            continue
        file, line = b.where(*gd.lines.get("smtp_server", ("", 1)))
        yield Finding(
            "mail-never-sent",
            "warning",
            file,
            line,
            f"{b.name}: notification_email and smtp_server are set, but no smtp_alert: "
            f"keepalived 2.2.7 sends no state-change mail (add smtp_alert to global_defs, "
            f"or to each vrrp_instance that should mail)",
            (),
            (b.name,),
        )


def _router_id_at(b: Balancer) -> tuple[str, int]:
    return b.where(*b.cfg.global_defs.lines.get("router_id", ("", 1)))


def no_peer(balancers: list[Balancer]) -> Iterator[Finding]:
    """An instance no other balancer backs up (no shared address, no shared VRID)."""
    if len(balancers) < 2:
        return
    for g in groups(balancers, lone=True):
        for p in g.members:
            yield _f(
                "no-peer",
                "warning",
                p,
                "virtual_router_id",
                f"no other balancer has an instance with {p.vip_text()} or virtual_router_id "
                f"{p.inst.vrid}: {p.label}'s addresses never fail over",
            )


def no_tracking(balancers: list[Balancer]) -> Iterator[Finding]:
    """An instance of a pair that tracks nothing: a dead service never moves its VIP."""
    for g in groups(balancers):
        for p in g.members:
            # a tracked script that never runs is script-missing's finding
            if p.inst.track_scripts or p.inst.track_interfaces or "track_file" in p.inst.options:
                continue
            yield _f(
                "no-tracking",
                "warning",
                p,
                "virtual_router_id",
                f"{p.label} tracks no script, interface or file: {p.vip_text()} moves only "
                f"when {p.bal.name} or its VRRP daemon dies, never when the service behind "
                f"it does",
            )


def nopreempt_master(balancers: list[Balancer]) -> Iterator[Finding]:
    """nopreempt with ``state MASTER``: keepalived clears it."""
    for b in balancers:
        for inst in b.cfg.instances.values():
            if "nopreempt" in inst.lines and inst.configured_state == "MASTER":
                p = Peer(b, inst)
                yield _f(
                    "nopreempt-master",
                    "warning",
                    p,
                    "nopreempt",
                    f"{p.label} has nopreempt with state MASTER: keepalived ignores "
                    f"nopreempt then (it warns and clears it) and this node preempts; use "
                    f"state BACKUP on every node for nopreempt to work",
                )


def script_missing(balancers: list[Balancer]) -> Iterator[Finding]:
    """A tracked script that is missing or not executable never runs."""
    for b in balancers:
        used = {t.name for i in b.cfg.instances.values() for t in i.track_scripts}
        for name in sorted(used):
            script = b.cfg.scripts.get(name)
            if script is None or not script.script:
                continue
            path = script_argv0(script.script)
            state = b.check_script(path)
            if state in ("missing", "not executable"):
                file, line = b.where(script.file, script.line)
                yield Finding(
                    "script-missing",
                    "error",
                    file,
                    line,
                    f"{b.name}: vrrp_script {name} runs {path}, which is {state} there: "
                    f"keepalived disables the script, so what it checks never moves a VIP",
                    (),
                    (b.name,),
                )


def _subnet_text(b: Balancer) -> str:
    """The balancer's subnet for a message: a topology's lab gets its own at start."""
    return "(the lab's)" if b.sample else str(b.subnet)


def vip_outside_subnet(balancers: list[Balancer]) -> Iterator[Finding]:
    """A VIP outside the subnet of the node's interface."""
    for b in balancers:
        if b.subnet is None:
            continue
        for inst in b.cfg.instances.values():
            for v in inst.vips:
                if v.family != 4 or v.dev not in (None, inst.interface):
                    continue
                if ipaddress.ip_address(v.address) not in b.subnet:
                    file, line = b.where(v.file, v.line)
                    yield Finding(
                        "vip-outside-subnet",
                        "warning",
                        file,
                        line,
                        f"{b.name} {inst.name}: {v.address} is outside {inst.interface}'s "
                        f"subnet {_subnet_text(b)}: hosts on that subnet will not reach "
                        f"it without a route",
                        (),
                        (b.name,),
                    )


# keepalived's messages that a rule of its own explains better
_EXPLAINED = ("nopreempt will not work with initial state MASTER",)


def config_errors(balancers: list[Balancer]) -> Iterator[Finding]:
    """What keepalived -t reports as an error in a file it still runs."""
    for b in balancers:
        for d in b.diags:
            if d.severity == "warning" or any(e in d.message for e in _EXPLAINED):
                continue
            file, line = b.where(d.file, d.line)
            yield Finding(
                "config-error", "error", file, line, f"{b.name}: {d.message}", (), (b.name,)
            )


RULES: dict[str, str] = {
    "config-error": "an error keepalived -t reports (the daemon runs, not as written)",
    "vrid-mismatch": "peers with different virtual_router_id: split brain",
    "version-mismatch": "peers speaking different VRRP versions: split brain",
    "auth-mismatch": "VRRPv2 peers with different authentication: split brain",
    "advert-mismatch": "VRRPv2 peers with different advert_int: split brain",
    "vip-mismatch": "peers carrying different virtual addresses: split brain",
    "unicast-mismatch": "unicast on one peer, multicast on the other: split brain",
    "unicast-peer-missing": "a unicast_peer list that omits the other node: split brain",
    "equal-masters": "two state MASTER at equal priority: the addresses decide",
    "master-outranked": "state MASTER on a node its peer outranks: the peer holds the VIP",
    "weight-too-small": "a tracked script whose failure cannot move the VIP",
    "nopreempt-trap": "nopreempt where the peer's failing check keeps the VIP",
    "no-peer": "an instance no other balancer backs up: its VIP never fails over",
    "no-tracking": "an instance that tracks nothing: a dead service never moves its VIP",
    "nopreempt-useless": "nopreempt on a node a preempting peer outranks: failback anyway",
    "router-id-shared": "two balancers with one router_id: their mails say the same machine",
    "mail-never-sent": "notification_email and smtp_server without smtp_alert: no mail at all",
    "nopreempt-master": "nopreempt with state MASTER: keepalived clears it",
    "script-missing": "a tracked script missing or not executable: never run",
    "vip-outside-subnet": "a VIP outside its interface's subnet",
}
"""Every rule: its id (in findings, ``--rules``, SARIF) and one line of help."""

CHECKS: tuple[Check, ...] = (
    config_errors,
    peers_disagree,
    unicast_peers,
    equal_masters,
    master_outranked,
    weight_too_small,
    nopreempt_trap,
    nopreempt_useless,
    no_peer,
    no_tracking,
    nopreempt_master,
    script_missing,
    vip_outside_subnet,
    router_id_shared,
    mail_never_sent,
)
"""The checks, each reading all balancers; one check may yield findings of several rules."""


def run(balancers: list[Balancer]) -> list[Finding]:
    """Every finding, once, sorted by file and line."""
    seen: set[tuple[str, str, int, str]] = set()
    out = []
    for check in CHECKS:
        for f in check(balancers):
            assert f.rule in RULES, f.rule
            key = (f.rule, f.file, f.line, f.message)
            if key not in seen:
                seen.add(key)
                out.append(f)
    return sorted(out, key=lambda f: (f.file, f.line, f.rule))

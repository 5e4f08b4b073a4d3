"""The VRRP engines of a lab: which ones may run, restarting them on a running lab, and
switching a running lab to others.

A lab starts its engines together (``Lab._release_engines``) and settles on its expected
masters. The same sequence on a running lab is ``restart``: each balancer's engine killed,
every VIP removed, the engines started at the lab's go, masters first, and the lab settled.
``use`` is that with other engines, which the session's pool does instead of starting
another lab of the same topology (a lab start costs the host about 5 s of CPU; this, a
restart of the engines): the balancer image's ``30-vrrp use`` knows what else an engine
leaves in a node (its log set aside as ``vrrp.log.1``, keepalived's FIFO reader, a checker
keepalived replaces with IP_VS). ``read_from_nodes`` is what a reattached lab runs: the
network's label tells the engines the lab started with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import docker.errors

from . import engines, labrestore, waits
from .engines import VrrpEngine
from .errors import LabMismatchError, LabStartError, NodeCommandError
from .naps import polling
from .nodes import Node, parallel
from .topology import Role

if TYPE_CHECKING:
    from .lab import Lab


def check(
    names: Iterable[str | None], overrides: Iterable[str], balancers: list[str] | None
) -> None:
    """LabStartError unless every engine name is known and every override is a balancer's
    (``balancers``: None when the topology is not known)."""
    for name in names:
        if name is not None:
            try:
                engines.get(name)
            except ValueError as exc:
                raise LabStartError(str(exc)) from None
    if balancers is not None:
        for name in overrides:
            if name not in balancers:
                raise LabStartError(
                    f"VRRP engine override for {name!r}: not a balancer "
                    f"(balancers: {', '.join(balancers)})"
                )


def use(lab: Lab, engine: str, node_engines: Mapping[str, str] | None = None) -> bool:
    """``Lab.use_engines``: see there."""
    assert lab.topology is not None and lab.layout is not None
    overrides = dict(node_engines or {})
    check((engine, *overrides.values()), sorted(overrides), list(lab.topology.balancers))
    was = {n: lab.engine_of(n) for n in lab.topology.balancers}
    assign(lab, engine, overrides)
    changed = {n: e for n, e in was.items() if e.name != lab.engine_of(n).name}
    if not changed:
        return False
    restart(lab, changed)
    lab.vrrp_groups = labrestore.joined_groups(lab)
    return True


def restart(lab: Lab, was: Mapping[str, type[VrrpEngine]]) -> None:
    """The start-up sequence of the VRRP engines on a running lab: on every balancer the
    engine it runs (``was``: the one it ran before, when that changes) killed, every VIP
    removed, then each balancer's engine (``engine_of``) started at the lab's go, and the
    lab settled on the expected masters."""
    vips = list(lab.vip_addresses().values())
    dels = "; ".join(
        f"for a in $(ip -o -{ip.version} addr show to {ip} | awk '{{print $4\"@\"$2}}'); do "
        f'ip addr del "${{a%@*}}" dev "${{a#*@}}"; done'
        for ip in vips
    )

    def stop_and_start(n: Node) -> None:
        engine = lab.engine_of(n.name)
        old = was.get(n.name, engine)
        # the balancer image's 30-vrrp knows what else an engine leaves in the node
        switch = "" if old is engine else f"{engines.USE} {engine.name} && "
        n.exec(
            polling(
                f"{old.kill_all_cmd()}; rm -f {engines.GO_FILE}; ip link set dev eth0 up; "
                f"{dels}; {switch}{engines.START}"
            ),
            check=True,
        )

    parallel(stop_and_start, lab.balancers())
    lab._release_engines()
    lab._settle(lab.ready_timeout)
    # The VIPs settle once the masters run; a backup's engine may still be on its way (its
    # pid file not written: halab-vrrpd is Python, seconds on a loaded host), and the test
    # that comes next at once would not find it (seen in CI after a switch).
    bals = lab.balancers()
    waits.until(
        "every balancer's VRRP engine to run",
        lambda: all(parallel(lambda n: lab.engine_of(n.name).alive(n), bals)) or None,
        lab.ready_timeout,
    )
    # VRRP itself puts the VIPs there: waiting longer changes nothing (a lab that is not
    # strict keeps them there, and ``mismatch`` says why, as at start)
    if lab.mismatch and lab.strict:
        first = next(iter(lab.mismatch))
        raise LabMismatchError(lab._mismatch_text(), lab.expected_masters()[first])


def read_from_nodes(lab: Lab) -> None:
    """The engines the balancers run, as their nodes say (``/etc/halab/vrrp-engine``): the
    network's label tells those the lab started with, and a session's lab may have switched
    since (``use``). A node that cannot say keeps the label's."""
    assert lab.layout is not None
    bals = [n for n in lab.balancers() if n.state() == "running"]

    def read(n: Node) -> str | None:
        try:
            return n.read_file(engines.ENGINE_FILE).decode(errors="replace").strip()
        except (FileNotFoundError, docker.errors.APIError, NodeCommandError):
            return None

    found = {
        n.name: e for n, e in zip(bals, parallel(read, bals), strict=True) if e in engines.ENGINES
    }
    if not found:
        return
    now = {n: found.get(n) or d.engine for n, d in lab.layout.nodes.items() if d.engine}
    default = next(iter(now.values()))
    assign(lab, str(default), {n: e for n, e in now.items() if e and e != default})


def assign(lab: Lab, engine: str, overrides: dict[str, str]) -> None:
    """The lab's engines are ``engine`` but for the balancers in ``overrides``: its
    ``engine``, ``node_engines`` and layout say so."""
    assert lab.layout is not None
    lab.engine, lab.node_engines = engine, overrides
    lab.layout = dataclasses.replace(
        lab.layout,
        engine=lab.engine_label,
        nodes={
            n: dataclasses.replace(d, engine=overrides.get(n) or engine)
            if d.role is Role.BALANCER
            else d
            for n, d in lab.layout.nodes.items()
        },
    )

"""Host firewall rules the lab needs, each labelled with an iptables comment.

Docker isolates an ``--internal`` network by dropping bridged packets whose destination is
outside its subnet; with br_netfilter those rules also see traffic *inside* the bridge, so
VRRP adverts to 224.0.0.18 would be dropped (LAB_NOTES pitfall 1). A rule accepts traffic
that enters and leaves the lab's own bridge; nothing else is opened: the lab still cannot
reach the outside world, nor the outside world the lab.

The rule goes into DOCKER-USER and, where the host has it, into the top of
DOCKER-ISOLATION-STAGE-1. One chain is not enough: each time the host's iptables-managing
engine creates a network (any network, another lab's too), Docker 20.10 deletes and
re-inserts its jumps from FORWARD, first to the isolation chain, then to DOCKER-USER,
each in a command of its own. While the DOCKER-USER jump is gone the isolation chain
drops the lab's multicast, and a lab on an engine that leaves iptables alone (no accept
rule of Docker's in FORWARD) loses every packet to FORWARD's DROP policy: probes timed out
by the dozen while another engine created networks. With the rule in both chains one of
the two jumps is always in place.

The rules live on the host of the lab's Docker engine: they are read and changed through
``DockerHost.run`` (here, or in a helper container on a remote engine).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .dockerhost import DockerHost, HostResult
from .errors import HalabError, LabStartError

CHAIN = "DOCKER-USER"  # always used: the lab does not start without it
ISOLATION_CHAIN = "DOCKER-ISOLATION-STAGE-1"  # used where the host has it
CHAINS = (CHAIN, ISOLATION_CHAIN)
COMMENT_RE = re.compile(
    r'--comment "?(io\.halab\.lab=(\S+?) io\.halab\.run=(\S+?)'
    r'(?: io\.halab\.engine=(\S+?))?)"?(\s|$)'
)


@dataclass(frozen=True)
class BridgeRule:
    """ACCEPT traffic bridged within one lab bridge."""

    bridge: str
    lab_id: str
    run_id: str
    engine_id: str  # the Docker engine's ID: engines sharing one host keep their rules apart

    @property
    def comment(self) -> str:
        return (
            f"io.halab.lab={self.lab_id} io.halab.run={self.run_id} "
            f"io.halab.engine={self.engine_id}"
        )

    def spec(self) -> list[str]:
        return [
            "-i",
            self.bridge,
            "-o",
            self.bridge,
            "-m",
            "comment",
            "--comment",
            self.comment,
            "-j",
            "ACCEPT",
        ]


def _iptables(host: DockerHost, args: list[str], *, again: bool = False) -> HostResult:
    return host.run(["iptables", "-w", "5", *args], again=again)


def add(host: DockerHost, rule: BridgeRule) -> None:
    """Insert the rule at the top of DOCKER-USER and of the isolation chain (if the host has
    it) and check it is there: one command on the engine's host."""
    ipt = ["iptables", "-w", "5"]
    spec = rule.spec()
    script = (
        f"{shlex.join([*ipt, '-I', CHAIN, *spec])} || exit 3; "
        f"{shlex.join([*ipt, '-C', CHAIN, *spec])} || exit 4; "
        f"{shlex.join([*ipt, '-S', ISOLATION_CHAIN])} >/dev/null 2>&1 || exit 0; "
        f"{shlex.join([*ipt, '-I', ISOLATION_CHAIN, *spec])} || exit 3; "
        f"{shlex.join([*ipt, '-C', ISOLATION_CHAIN, *spec])} || exit 5"
    )
    res = host.run(["sh", "-c", script])
    if res.returncode == 127 or "not found" in res.stderr:
        raise LabStartError(
            f"iptables is not installed on the host of {host.name}; the lab needs it"
        )
    if res.returncode in (4, 5):
        chain = CHAIN if res.returncode == 4 else ISOLATION_CHAIN
        raise LabStartError(f"host rule for {rule.bridge} not in {chain} after adding it")
    if not res.ok:
        raise LabStartError(
            f"could not add host rule for {rule.bridge} on {host.name}: {res.stderr.strip()}"
        )


def _filter_table(host: DockerHost) -> list[str]:
    """``iptables -S`` of the engine's host: every chain (``-N``) and rule (``-A``)."""
    try:
        # a listing: run again if its output came garbled
        return _iptables(host, ["-S"], again=True).stdout.splitlines()
    except HalabError:  # a remote engine without the base image holds no lab of ours
        return []


def _ours(listing: list[str], engine_id: str) -> list[tuple[str, str]]:
    out = []
    for line in listing:
        m = COMMENT_RE.search(line)
        parts = line.split(maxsplit=2)
        if (
            m
            and parts[0] == "-A"
            and len(parts) > 1
            and parts[1] in CHAINS
            and m.group(4) in (None, engine_id)
        ):
            out.append((m.group(2), line))
    return out


def _chains_holding(listing: list[str], host: DockerHost, rule: BridgeRule) -> set[str]:
    return {
        line.split()[1]
        for _lab, line in _ours(listing, host.engine_id)
        if f'"{rule.comment}"' in line
    }


def has_isolation_chain(host: DockerHost) -> bool:
    return _iptables(host, ["-S", ISOLATION_CHAIN]).ok


def exists(host: DockerHost, rule: BridgeRule) -> bool:
    """The rule is in DOCKER-USER, and in the isolation chain if the host has that chain
    (one listing of the host's table)."""
    listing = _filter_table(host)
    chains = _chains_holding(listing, host, rule)
    has_isolation = f"-N {ISOLATION_CHAIN}" in listing
    return CHAIN in chains and (ISOLATION_CHAIN in chains or not has_isolation)


def remove(host: DockerHost, rule: BridgeRule) -> None:
    remove_labelled(host, {rule.lab_id})
    left = _chains_holding(_filter_table(host), host, rule)
    if left:
        raise HalabError(
            f"could not remove the host rule of lab {rule.lab_id} on {host.name} "
            f"from {', '.join(sorted(left))}"
        )


def labelled(host: DockerHost) -> list[tuple[str, str]]:
    """(lab id, full rule spec as iptables -S prints it) of every rule the project made for
    a lab of this engine (or, from before rules named their engine, for any engine), in
    any of the chains it uses."""
    return _ours(_filter_table(host), host.engine_id)


def remove_labelled(host: DockerHost, lab_ids: set[str] | None = None) -> int:
    """Remove project rules (all, or those of the given labs); returns how many. On a
    remote engine all of them go in one helper run."""
    doomed = []
    for lab_id, line in labelled(host):
        if lab_ids is not None and lab_id not in lab_ids:
            continue
        args = shlex.split(line)
        args[0] = "-D"
        doomed.append(args)
    if not doomed:
        return 0
    script = "; ".join(shlex.join(["iptables", "-w", "5", *a]) + " && echo ok" for a in doomed)
    return host.run(["sh", "-c", script]).stdout.split().count("ok")

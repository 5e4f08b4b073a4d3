"""Host firewall rules the lab needs, each labelled with an iptables comment.

Docker isolates an ``--internal`` network by dropping bridged packets whose destination is
outside its subnet; with br_netfilter those rules also see traffic *inside* the bridge, so
VRRP adverts to 224.0.0.18 would be dropped (LAB_NOTES pitfall 1). One rule in DOCKER-USER
accepts traffic that enters and leaves the lab's own bridge; nothing else is opened: the lab
still cannot reach the outside world, nor the outside world the lab.

The rules live on the host of the lab's Docker engine: they are read and changed through
``DockerHost.run`` (here, or in a helper container on a remote engine).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .dockerhost import DockerHost, HostResult
from .errors import HalabError, LabStartError

CHAIN = "DOCKER-USER"
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


def _iptables(host: DockerHost, args: list[str]) -> HostResult:
    return host.run(["iptables", "-w", "5", *args])


def add(host: DockerHost, rule: BridgeRule) -> None:
    """Insert the rule and check it is there (one command on the engine's host)."""
    ipt = ["iptables", "-w", "5"]
    script = (
        f"{shlex.join([*ipt, '-I', CHAIN, *rule.spec()])} || exit 3; "
        f"{shlex.join([*ipt, '-C', CHAIN, *rule.spec()])} || exit 4"
    )
    res = host.run(["sh", "-c", script])
    if res.returncode == 127 or "not found" in res.stderr:
        raise LabStartError(
            f"iptables is not installed on the host of {host.name}; the lab needs it"
        )
    if res.returncode == 4:
        raise LabStartError(f"host rule for {rule.bridge} not in {CHAIN} after adding it")
    if not res.ok:
        raise LabStartError(
            f"could not add host rule to {CHAIN} on {host.name}: {res.stderr.strip()}"
        )


def exists(host: DockerHost, rule: BridgeRule) -> bool:
    return _iptables(host, ["-C", CHAIN, *rule.spec()]).ok


def remove(host: DockerHost, rule: BridgeRule) -> None:
    while exists(host, rule):
        res = _iptables(host, ["-D", CHAIN, *rule.spec()])
        if not res.ok:
            raise HalabError(f"could not remove host rule on {host.name}: {res.stderr.strip()}")


def labelled(host: DockerHost) -> list[tuple[str, str]]:
    """(lab id, full rule spec as iptables -S prints it) of every rule the project made for
    a lab of this engine (or, from before rules named their engine, for any engine)."""
    try:
        res = _iptables(host, ["-S", CHAIN])
    except HalabError:  # a remote engine without the base image holds no lab of ours
        return []
    out = []
    for line in res.stdout.splitlines():
        m = COMMENT_RE.search(line)
        if m and line.startswith("-A ") and m.group(4) in (None, host.engine_id):
            out.append((m.group(2), line))
    return out


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

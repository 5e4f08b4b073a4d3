"""Host firewall rules the lab needs, each labelled with an iptables comment.

Docker isolates an ``--internal`` network by dropping bridged packets whose destination is
outside its subnet; with br_netfilter those rules also see traffic *inside* the bridge, so
VRRP adverts to 224.0.0.18 would be dropped (LAB_NOTES pitfall 1). One rule in DOCKER-USER
accepts traffic that enters and leaves the lab's own bridge; nothing else is opened: the lab
still cannot reach the outside world, nor the outside world the lab.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass

from .errors import HalabError, LabStartError

CHAIN = "DOCKER-USER"
COMMENT_RE = re.compile(r'--comment "?(io\.halab\.lab=(\S+?) io\.halab\.run=(\S+?))"?(\s|$)')


@dataclass(frozen=True)
class BridgeRule:
    """ACCEPT traffic bridged within one lab bridge."""

    bridge: str
    lab_id: str
    run_id: str

    @property
    def comment(self) -> str:
        return f"io.halab.lab={self.lab_id} io.halab.run={self.run_id}"

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


def _iptables() -> str:
    exe = shutil.which("iptables")
    if exe is None:
        raise LabStartError("iptables is not installed on this host; the lab needs it")
    return exe


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_iptables(), "-w", "5", *args], capture_output=True, text=True)


def add(rule: BridgeRule) -> None:
    res = _run(["-I", CHAIN, *rule.spec()])
    if res.returncode != 0:
        raise LabStartError(f"could not add host rule to {CHAIN}: {res.stderr.strip()}")
    if not exists(rule):
        raise LabStartError(f"host rule for {rule.bridge} not in {CHAIN} after adding it")


def exists(rule: BridgeRule) -> bool:
    return _run(["-C", CHAIN, *rule.spec()]).returncode == 0


def remove(rule: BridgeRule) -> None:
    while exists(rule):
        res = _run(["-D", CHAIN, *rule.spec()])
        if res.returncode != 0:
            raise HalabError(f"could not remove host rule: {res.stderr.strip()}")


def labelled() -> list[tuple[str, str]]:
    """(lab id, full rule spec as iptables -S prints it) of every rule the project made."""
    if shutil.which("iptables") is None:
        return []
    res = _run(["-S", CHAIN])
    out = []
    for line in res.stdout.splitlines():
        m = COMMENT_RE.search(line)
        if m and line.startswith("-A "):
            out.append((m.group(2), line))
    return out


def remove_labelled(lab_ids: set[str] | None = None) -> int:
    """Remove project rules (all, or those of the given labs); returns how many."""
    n = 0
    for lab_id, line in labelled():
        if lab_ids is not None and lab_id not in lab_ids:
            continue
        args = shlex.split(line)
        args[0] = "-D"
        if _run(args).returncode == 0:
            n += 1
    return n

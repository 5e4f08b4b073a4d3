"""The labels on every resource the lab makes, and who owns a lab.

Every container, network and host rule carries ``io.halab.lab`` (the lab id) and
``io.halab.run`` (the run id); the owner label names the process that made it, so that a
sweep can tell a live lab from one whose process died.
"""

from __future__ import annotations

import os
import secrets
import socket

L_LAB = "io.halab.lab"
L_RUN = "io.halab.run"
L_NODE = "io.halab.node"
L_ROLE = "io.halab.role"
L_OWNER = "io.halab.owner"
L_KEEP = "io.halab.keep"
L_LAYOUT = "io.halab.layout"
L_TOPOLOGY = "io.halab.topology"
L_ENGINE = "io.halab.vrrp"
L_HELPER = "io.halab.helper"  # a short-lived helper container on a remote engine
# The comment on every iptables rule a fault adds inside a node: FAULT_RULE_COMMENT-<hex>
FAULT_RULE_COMMENT = "halab-fault"

RUN_ID = secrets.token_hex(4)


def owner() -> str:
    """This process, as the owner label of the resources it makes: host:pid:start time."""
    return f"{socket.gethostname()}:{os.getpid()}:{_proc_start(os.getpid())}"


def _proc_start(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "?"


def owner_alive(owner: str) -> bool:
    """Whether the process an owner label names still runs (other hosts: assumed so)."""
    try:
        host, pid_s, start = owner.split(":")
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # not ours to judge
    return os.path.exists(f"/proc/{pid}") and _proc_start(pid) == start

"""keepalived's checker on an LVS director (halab-vrrpd ``--check``, process
``halab-checker``): it health-checks the real servers and keeps the kernel's pools (IPVS,
or nftables where the kernel has none). It is the director's "service": the traffic the
VIP carries goes through the pools it programs.

The lab makes a balancer a director when its keepalived.conf has virtual servers
(`directors`); the balancer image then starts the checker at boot (``25-checker``), beside
whichever VRRP engine runs the VRRP half. Its decisions (a real server down or up, a
weight, quorum, the sorry server, each pool applied) are timeline events of kind
``checker``, read from its event log.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from .. import checkbound
from ..timeline import Event
from ..topology import KEEPALIVED_CONF
from .base import BalancerService, checker_event

if TYPE_CHECKING:
    from ..nodes import Node


class Checker(BalancerService):
    name: ClassVar[str] = "checker"
    process: ClassVar[str] = "halab-checker"
    config_path: ClassVar[str] = "/etc/halab/checker"
    port: ClassVar[int] = 80
    health_path: ClassVar[str] = ""
    start_cmd: ClassVar[str] = "/etc/halab/services.d/25-checker start"
    events_path: ClassVar[str | None] = "/var/log/halab/check-events.jsonl"
    status_path: ClassVar[str] = "/run/halab/checker.json"

    @classmethod
    def health_url(cls, node: Node) -> str | None:
        return None  # a director serves the VIP only while it holds it

    @classmethod
    def ready_cmd(cls) -> str | None:
        # halab's checker runs and has applied its first pools; or keepalived runs whole
        # (a kernel with IP_VS: 25-checker says so) and its checker is keepalived's own
        path = shlex.quote(cls.events_path or "")
        status = shlex.quote(cls.status_path)
        pool = '\'"event":"pool"\''
        whole = '\'"checker": "keepalived"\''
        return (
            f"{{ pgrep -x {cls.process} >/dev/null && grep -q {pool} {path}; }} "
            f"|| grep -q {whole} {status}"
        )

    @classmethod
    def status(cls, node: Node) -> dict[str, object]:
        """What the checker says it runs: its forwarding plane and why, the schedulers it
        runs in place of others, the services it refused."""
        try:
            data = json.loads(node.read_file(cls.status_path))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @classmethod
    def checker_info(cls, node: Node) -> dict[str, object] | None:
        said = cls.status(node)
        return {
            "checker": str(said.get("checker", "halab-vrrpd --check")),
            **{k: said[k] for k in ("plane", "reason", "approximations") if k in said},
        }

    @classmethod
    def pool_bound(cls, files: Mapping[str, bytes], server_ip: str, removed: bool) -> float | None:
        conf = files.get(KEEPALIVED_CONF)
        return checkbound.pool_bound(conf, server_ip, removed=removed) if conf else None

    @classmethod
    def parse_event(cls, line: bytes, node: str) -> Event | None:
        return checker_event(line, node)

"""haproxy (Debian's haproxy 2.6) as the balancer's load balancer (seeds 001, 003).

The topology gives it ``/etc/haproxy/haproxy.cfg``, which runs unchanged; the image adds
a file of its own (``/etc/halab/haproxy-lab.cfg``: a stats socket) and starts
``halab-backend-watch``, which reads haproxy's server states (its own health checks:
inter, fall, rise) through that socket and writes them as the checker's events: a server
down or up (``rs_state``) and the servers each backend serves (``pool``). So a backend's
pool is measured as an LVS director's is (`poolmeasures`).

A user's haproxy.cfg need not answer any health URL: the lab knows haproxy is ready when its
watcher last saw every checked server serving.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from .. import haproxybound
from .base import BalancerService, checker_event

if TYPE_CHECKING:
    from ..nodes import Node
    from ..timeline import Event

LAB_CONFIG = "/etc/halab/haproxy-lab.cfg"


class Haproxy(BalancerService):
    name: ClassVar[str] = "haproxy"
    process: ClassVar[str] = "haproxy"
    config_path: ClassVar[str] = "/etc/haproxy/haproxy.cfg"
    port: ClassVar[int] = 80
    health_path: ClassVar[str] = ""
    start_cmd: ClassVar[str] = "/etc/halab/services.d/22-haproxy start"
    events_path: ClassVar[str | None] = "/var/log/halab/backend-events.jsonl"
    socket_path: ClassVar[str] = "/run/halab/lb-stats.sock"
    state_path: ClassVar[str] = "/run/halab/backends.json"  # the watcher's current view
    checked_at_load: ClassVar[bool] = True  # `haproxy -c` before any lab container

    @classmethod
    def health_url(cls, node: Node) -> str | None:
        return None  # the user's haproxy.cfg decides what it answers

    @classmethod
    def ready_cmd(cls) -> str | None:
        # haproxy's master runs and, as its watcher last read it, every server it checks
        # serves (at boot haproxy may check a web node before it listens, and takes `rise`
        # checks to bring it back)
        return (
            'p=$(cat /run/haproxy.pid 2>/dev/null) && [ -n "$p" ] '
            '&& [ "$(cat /proc/$p/comm 2>/dev/null)" = haproxy ] '
            f"&& grep -q '\"all_serving\": true' {cls.state_path}"
        )

    @classmethod
    def checker_info(cls, node: Node) -> dict[str, object] | None:
        return {"checker": "haproxy", "plane": "haproxy"}

    @classmethod
    def pool_bound(cls, files: Mapping[str, bytes], server_ip: str, removed: bool) -> float | None:
        conf = files.get(cls.config_path)
        return haproxybound.pool_bound(conf, server_ip, removed) if conf is not None else None

    @classmethod
    def config_test_cmd(cls) -> str:
        return f"haproxy -c -f {shlex.quote(cls.config_path)} -f {LAB_CONFIG}"

    @classmethod
    def parse_event(cls, line: bytes, node: str) -> Event | None:
        return checker_event(line, node)

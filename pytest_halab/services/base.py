"""What the lab knows of a balancer service (the traffic the VIP carries): how it starts,
how to tell it is up, which port it serves, which faults hit it.

One subclass per service, in its own module, registered in ``services/__init__.py``. A
balancer runs a service when the topology put the service's config file in it; the image's
``/etc/halab/services.d`` script starts it at boot under the same rule.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from ..timeline import Event, EventKind, json_record

if TYPE_CHECKING:
    from ..nodes import Node


def checker_event(line: bytes, node: str) -> Event | None:
    """One JSON line of a health checker's event log as a timeline event of kind
    ``checker``: ``{"ts": <epoch us>, "event": NAME, ...}`` (an LVS director's checker and
    halab-haproxy-watch write this format); None when the line is not one."""
    record = json_record(line)
    if record is None:
        return None
    ts_us, name = record.pop("ts", None), record.pop("event", None)
    if isinstance(ts_us, bool) or not isinstance(ts_us, int) or not isinstance(name, str):
        return None
    record.pop("instance", None)
    return Event(
        ts=ts_us / 1_000_000,
        node=node,
        kind=EventKind.CHECKER.value,
        data={"event": name, **record},
    )


class BalancerService:
    name: ClassVar[str]
    process: ClassVar[str]  # the process name, as `pgrep -x` sees it
    config_path: ClassVar[str]  # present in the node <=> the node runs the service
    port: ClassVar[int] = 80
    health_path: ClassVar[str]  # answers 2xx on `port` while the service is up
    start_cmd: ClassVar[str]  # starts it (in the background) when it is not running
    events_path: ClassVar[str | None] = None  # its events (JSON lines), if it writes any
    # its config is put to `config_test_cmd` before a lab starts (`configcheck`)
    checked_at_load: ClassVar[bool] = False

    @classmethod
    def ready_cmd(cls) -> str | None:
        """Shell run in the node: exit 0 once the service is up, for a service that has
        no health URL (None: its health URL says)."""
        return None

    @classmethod
    def pool_bound(cls, files: Mapping[str, bytes], server_ip: str, removed: bool) -> float | None:
        """How long its health checks may take to take the backend `server_ip` out of its
        pool (`removed`) or back in, from the node's config files as rendered (path ->
        content); None when it does not check that server."""
        return None

    @classmethod
    def checker_info(cls, node: Node) -> dict[str, object] | None:
        """What checks its backends, when it checks some: ``checker`` (the program),
        ``plane`` (what serves the pool) and what else it says; None when it checks none."""
        return None

    @classmethod
    def config_test_cmd(cls) -> str | None:
        """Shell run in the node: exit 0 while its config would load (None: no test)."""
        return None

    @classmethod
    def parse_event(cls, line: bytes, node: str) -> Event | None:
        """One line of its events file as a timeline event (None: not one)."""
        return None

    @classmethod
    def pgrep(cls) -> list[str]:
        return ["pgrep", "-x", cls.process]

    @classmethod
    def enabled_cmd(cls) -> str:
        return f"test -f {shlex.quote(cls.config_path)}"

    @classmethod
    def enabled(cls, node: Node) -> bool:
        return node.exec(cls.enabled_cmd()).ok

    @classmethod
    def health_url(cls, node: Node) -> str | None:
        """The URL the client asks to see it up; None when only `ready_cmd` can tell."""
        port = "" if cls.port == 80 else f":{cls.port}"
        return f"http://{node.ip}{port}{cls.health_path}"

    @classmethod
    def pids(cls, node: Node) -> list[int]:
        return node.pids(cls.pgrep())

    @classmethod
    def start(cls, node: Node) -> None:
        node.exec(cls.start_cmd, check=True)

    @classmethod
    def ensure_running_cmd(cls) -> str:
        """Shell: start it if the node runs it and it is down; always exits 0."""
        return (
            f"{cls.enabled_cmd()} && ! pgrep -x {shlex.quote(cls.process)} >/dev/null "
            f"&& {cls.start_cmd}; true"
        )

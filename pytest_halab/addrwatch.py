"""Which addresses each node has now, kept live from the node's kernel instead of asked for.

``Lab.vip_holders()`` is what every wait on a failover polls. Asking each balancer with
``docker exec ip addr`` costs about 45 ms of CPU on the engine's host per node and poll (runc
starts a process in the container; measured here, 2 cores): under pytest-xdist those polls
were most of the CPU a lab test used, and with 2 cores shared by 4 labs they made the labs
wait for CPU. So each node runs one ``halab-observe --addr --present --until-eof`` for as
long as it runs, through one ``docker exec`` whose output streams back (remote engines
alike): it prints the addresses configured when it starts, then every change the kernel
announces over netlink; a poll reads the set kept here and costs nothing on the engine.

The set is the kernel's, not an estimate: the agent subscribes to the kernel's address
changes before it lists the addresses, and changes are applied in order after the list
(adding or removing an address twice changes nothing). A node whose container restarted,
whose stream ended (the agent stops when the container does, or when the kernel dropped
changes: it exits then) or that did not list its addresses within ``SYNC_TIMEOUT_S`` has no
live set: ``addresses`` returns None and the caller asks the node directly, as before. The
agent stops when its standard input ends, i.e. when this process closes the stream or dies.

The same stream is the lab's record of its VIPs' comings and goings: each node's
``vip_added`` and ``vip_removed`` lines are kept (``AddressWatch.history``), across the
node's restarts, as the agent stamped them on the kernel's word. A test's observation takes
its balancers' address events from there (``observe.py``) instead of starting an agent of
its own in each balancer for each test.

The docker SDK is used directly: testcontainers runs a command to its end
(``exec``), this needs the exec's output as a stream that stays open.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
from typing import TYPE_CHECKING, Any

import docker.errors
from docker.utils.socket import frames_iter

if TYPE_CHECKING:
    from .nodes import Node
    from .topology import IPAddress

AGENT = ["halab-observe", "--addr", "--present", "--until-eof", "--duration", "0"]
SYNC_TIMEOUT_S = 5.0
STDOUT = 1


class NodeWatch:
    """One node's address set, fed by its agent's stream (see the module's text)."""

    def __init__(self, node: Node, history: list[bytes] | None = None) -> None:
        self.node = node.name
        self.started_at = _started_at(node)
        self.synced = threading.Event()
        self.ended = threading.Event()
        self._addrs: set[IPAddress] = set()
        self._lock = threading.Lock()
        # the node's address events (raw lines), appended to as they come
        self.history: list[bytes] = [] if history is None else history
        api = node.container.client.api
        exec_id = api.exec_create(node.container.id, AGENT, stdin=True, stdout=True)["Id"]
        self._sock: Any = api.exec_start(exec_id, socket=True)
        self._thread = threading.Thread(target=self._read, name=f"addrwatch-{self.node}")
        self._thread.daemon = True
        self._thread.start()

    def _read(self) -> None:
        buf = b""
        try:
            for stream, data in frames_iter(self._sock, tty=False):
                if stream != STDOUT:
                    continue
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self.apply(line)
        except (OSError, ValueError):
            pass  # the stream was closed: this watch has ended
        finally:
            self.ended.set()

    def apply(self, line: bytes) -> None:
        """One line of the agent's output."""
        try:
            rec = json.loads(line)
            kind = rec.get("kind")
            addr = ipaddress.ip_address(rec["addr"]) if "addr" in rec else None
        except (ValueError, TypeError, AttributeError):
            return
        with self._lock:
            if kind in ("addr_present", "vip_added") and addr is not None:
                self._addrs.add(addr)
            elif kind == "vip_removed" and addr is not None:
                self._addrs.discard(addr)
            elif kind == "addr_synced":
                self.synced.set()
            if kind in ("vip_added", "vip_removed") and addr is not None:
                self.history.append(line)

    def current(self, node: Node, timeout: float = SYNC_TIMEOUT_S) -> set[IPAddress] | None:
        """The node's addresses now, or None when this watch cannot say (ended, another run
        of the container, not listed in time)."""
        if self.ended.is_set() or _started_at(node) != self.started_at:
            return None
        if not self.synced.wait(timeout) or self.ended.is_set():
            return None
        with self._lock:
            return set(self._addrs)

    def close(self) -> None:
        raw = getattr(self._sock, "_sock", self._sock)
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)  # wakes the reader; the agent sees its stdin end
        with contextlib.suppress(OSError):
            self._sock.close()


class AddressWatch:
    """The live address sets of a lab's nodes, each started on first use and again after
    its node restarted."""

    def __init__(self) -> None:
        self._watches: dict[str, NodeWatch] = {}
        self._history: dict[str, list[bytes]] = {}
        self._lock = threading.Lock()

    def addresses(self, node: Node) -> set[IPAddress] | None:
        """``node``'s addresses (every family) from its live set; None: ask the node."""
        with self._lock:
            watch = self._watches.get(node.name)
            if watch is not None and (
                watch.ended.is_set() or _started_at(node) != watch.started_at
            ):
                watch.close()
                watch = None
            if watch is None:
                try:
                    watch = NodeWatch(node, self._history.setdefault(node.name, []))
                except (docker.errors.DockerException, OSError):  # the caller asks the node
                    return None
                self._watches[node.name] = watch
        return watch.current(node)

    def history(self, name: str) -> list[bytes]:
        """The ``vip_added``/``vip_removed`` lines of node ``name`` seen so far, in order,
        over every run of its container that had a live set (complete from the moment a
        watch of that run listed the node's addresses: see ``addresses``)."""
        with self._lock:
            return list(self._history.get(name, ()))

    def close(self) -> None:
        with self._lock:
            for watch in self._watches.values():
                watch.close()
            self._watches.clear()


def _started_at(node: Node) -> str:
    """When the node's container last started (its attributes as last read)."""
    return str(node.container.attrs.get("State", {}).get("StartedAt", ""))

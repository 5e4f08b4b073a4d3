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

The stream itself (one exec per node run, its reader, a watch per node restarted with its
node) is ``livestream``'s.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from .livestream import StreamWatch, Watches

if TYPE_CHECKING:
    from .nodes import Node
    from .topology import IPAddress


class NodeWatch(StreamWatch):
    """One node's address set, fed by its agent's stream (see the module's text)."""

    AGENT = ("halab-observe", "--addr", "--present", "--until-eof", "--duration", "0")
    KEPT = frozenset({"vip_added", "vip_removed"})
    SYNC = "addr_synced"

    def __init__(self, node: Node, history: list[bytes] | None = None) -> None:
        self._addrs: set[IPAddress] = set()
        super().__init__(node, history)

    def take(self, rec: dict[str, Any], kind: object, line: bytes) -> None:
        try:
            addr = ipaddress.ip_address(rec["addr"]) if "addr" in rec else None
        except (ValueError, TypeError):
            return
        if kind in ("addr_present", "vip_added") and addr is not None:
            self._addrs.add(addr)
        elif kind == "vip_removed" and addr is not None:
            self._addrs.discard(addr)
        if addr is not None or kind not in self.KEPT:  # an address event names its address
            super().take(rec, kind, line)

    def current(self, node: Node) -> set[IPAddress] | None:
        """The node's addresses now, or None when this watch cannot say (ended, another run
        of the container, not listed in time)."""
        if not self.live(node):
            return None
        with self._lock:
            return set(self._addrs)


class AddressWatch(Watches[NodeWatch]):
    """The live address sets of a lab's nodes, each started on first use and again after
    its node restarted; each node's address events kept (``history``)."""

    def __init__(self) -> None:
        super().__init__(NodeWatch)

    def addresses(self, node: Node) -> set[IPAddress] | None:
        """``node``'s addresses (every family) from its live set; None: ask the node."""
        watch = self.watch(node)
        return None if watch is None else watch.current(node)

"""Faults on a node's network link, mixed into ``Faults``::

    faults.link_down("lb1")                      # ip link set eth0 down, in the node
    faults.flap_link("lb1", 3, 0.5, 2.0)         # down 0.5 s, up 2 s, three times
    faults.disconnect("lb1")                     # the NIC pulled: interface and endpoint gone

Each is verified in the node (the interface's operstate, no interface carrying the node's
address) and undone by bringing the link back as it was.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING

import docker.errors

from . import waits
from .errors import FaultError, FaultNotEffective
from .faultmixin import VERIFY_TIMEOUT_S, FaultMixin, not_effective, safe_read, wait_effect
from .flap import FLAP_PROCESS, FLAP_SCRIPT, FlapLine, check_flap_args
from .flapmeasures import FLAP_FAULT, LINK_DOWN, LINK_UP

if TYPE_CHECKING:
    from .faults import Fault
    from .nodes import Node

__all__ = ["LinkFaults"]


def _operstate(n: Node, iface: str) -> str:
    """The interface's operational state in the node (up, down...; empty when absent)."""
    return n.exec(f"cat /sys/class/net/{iface}/operstate").output.strip()


def _set_up(n: Node, iface: str) -> None:
    """``ip link set up``, verified: the revert of link_down and flap_link."""
    n.exec(["ip", "link", "set", "dev", iface, "up"], check=True)
    wait_effect(f"{iface} up", n.name, lambda: _operstate(n, iface) == "up")


class LinkFaults(FaultMixin):
    """The link faults of :class:`~pytest_halab.faults.Faults` (a mixin: ``Faults``
    provides the lab, its sink and ``_apply``)."""

    def link_down(self, node: str, iface: str = "eth0") -> Fault:
        """Take an interface down inside the node. Reverted by setting it up again."""
        n = self.lab.node(node)
        if not n.exec(f"test -e /sys/class/net/{iface}").ok:
            raise FaultError(node, f"no interface {iface}")
        return self._apply(
            "link_down",
            node,
            iface,
            lambda: n.exec(["ip", "link", "set", "dev", iface, "down"], check=True),
            lambda: wait_effect(f"{iface} down", node, lambda: _operstate(n, iface) == "down"),
            lambda: _set_up(n, iface),
        )

    def flap_link(
        self, node: str, count: int, down_s: float, up_s: float, iface: str = "eth0"
    ) -> Fault:
        """Take an interface down for ``down_s`` and up for ``up_s``, ``count`` times.

        The whole sequence runs inside the node (one detached shell loop), so its timing
        does not depend on ``docker exec`` latency: each transition is stamped there, by the
        clock the containers share, right after ``ip link set`` returned. The call returns
        once the sequence has finished (about ``count * (down_s + up_s)`` s after the first
        down; the last ``up_s`` included) and the link is up again: measure what it did
        right after, e.g. with :func:`pytest_halab.flapmeasures.measure_flaps`.

        Every transition becomes a ``fault`` event named ``flap_link``, phase ``link_down``
        or ``link_up``, with ``flap`` (1..count), ``at`` (when it happened, node clock:
        the event's own ``ts`` is when the fault read it, a poll later) and ``operstate``
        (read right after the change). Verified by every ``link_down`` having found the
        interface's operstate ``down``, every flap having run, and the link up at the end.
        Reverted by stopping the loop if it still runs and setting the link up.

        Bounds: 1 <= count <= 1000, 0.001 <= down_s, up_s <= 60, the whole sequence at
        most 600 s, ``iface`` an interface name; ValueError otherwise (FaultError when the
        node has no such interface).
        """
        check_flap_args(count, down_s, up_s, iface)
        n = self.lab.node(node)
        if not n.exec(["test", "-e", f"/sys/class/net/{iface}"]).ok:
            raise FaultError(node, f"no interface {iface}")
        log = f"/var/log/halab/flap-{secrets.token_hex(3)}.log"
        argv = ["bash", "-c", FLAP_SCRIPT, FLAP_PROCESS, log, iface, str(count)]
        argv += [f"{down_s:.6f}", f"{up_s:.6f}"]
        lines: list[FlapLine | None] = []  # the log's complete lines read so far

        def note(line: FlapLine) -> None:
            if self.sink is not None:
                self.sink.note(
                    "lab",
                    "fault",
                    name=FLAP_FAULT,
                    phase=LINK_DOWN if line.what == "down" else LINK_UP,
                    target=node,
                    detail=f"{iface} flap {line.flap}/{count}",
                    iface=iface,
                    flap=line.flap,
                    at=line.ts,
                    operstate=line.state,
                )

        def follow() -> bool:
            """Note the transitions logged since the last call; True once the loop ended."""
            text = safe_read(n, log).decode(errors="replace")
            for raw in text.split("\n")[len(lines) : -1]:  # the last piece is unfinished
                line = FlapLine.parse(raw)
                lines.append(line)
                if line is None:
                    continue
                if line.what in ("down", "up"):
                    note(line)
                elif line.what == "error":
                    err = safe_read(n, log + ".err").decode(errors="replace").strip()
                    raise FaultError(node, f"flap {line.flap}: ip link set failed: {err}")
                elif line.what == "stopped":
                    raise FaultNotEffective(node, f"the flap loop was stopped in flap {line.flap}")
            return any(line is not None and line.what == "done" for line in lines)

        def alive() -> bool:
            # the pid is checked to be the loop's own: a reused pid is left alone
            return n.exec(
                f'p=$(cat {log}.pid 2>/dev/null) && grep -qa {FLAP_PROCESS} "/proc/$p/cmdline"'
            ).ok

        def stop() -> None:
            n.exec(
                f'p=$(cat {log}.pid 2>/dev/null) && grep -qa {FLAP_PROCESS} "/proc/$p/cmdline" '
                '&& kill -TERM "$p"; true'
            )
            wait_effect("the flap loop to stop", node, lambda: not alive())

        def verify() -> None:
            budget = count * (down_s + up_s + 0.05) + VERIFY_TIMEOUT_S
            try:
                waits.until(
                    f"{count} flap(s) of {iface} to run",
                    follow,
                    budget,
                    0.05,
                    node=node,
                    error=not_effective,
                )
            except BaseException as exc:
                if not isinstance(exc, FaultError):  # _apply undoes FaultErrors only
                    with contextlib.suppress(Exception):
                        stop()
                raise
            done = [line for line in lines if line is not None]
            for what in ("down", "up"):
                flaps = [line.flap for line in done if line.what == what]
                if flaps != list(range(1, count + 1)):
                    raise FaultNotEffective(node, f"{iface} {what} logged for flaps {flaps}")
            not_down = [
                f"{line.flap} ({line.state})"
                for line in done
                if line.what == "down" and line.state != "down"
            ]
            if not_down:
                raise FaultNotEffective(
                    node, f"{iface} not down after ip link set down, flap(s) {', '.join(not_down)}"
                )
            wait_effect(f"{iface} up after the flaps", node, lambda: _operstate(n, iface) == "up")

        def undo() -> None:
            stop()
            _set_up(n, iface)

        return self._apply(
            "flap_link",
            node,
            f"{iface} {count} x ({down_s:g} s down, {up_s:g} s up)",
            lambda: n.container.exec_run(argv, detach=True),
            verify,
            undo,
        )

    def disconnect(self, node: str) -> Fault:
        """Detach the node from the lab network: its interface there is deleted (the NIC
        pulled out) and the engine's endpoint removed. Reverted by reconnecting it with the
        same address, under the interface's old name."""
        n = self.lab.node(node)
        net = self.lab.network
        if net is None:
            raise FaultError(node, "the lab has no network")

        def attached() -> bool:
            net.reload()
            return n.container.id in (net.attrs.get("Containers") or {})

        def carrier() -> str:
            """The node's interface that carries its lab address ('' when none does)."""
            res = n.exec(["ip", "-o", "-4", "addr", "show", "to", str(n.ip)])
            return res.output.split()[1].split("@")[0] if res.ok and res.output.strip() else ""

        # The NIC goes away at one instant, by the node's own kernel, and then the engine
        # forgets the endpoint. The engine's disconnect alone finds the interface by the name
        # it gave it: after a revert has renamed it back to eth0 it would leave it in place,
        # plugged into the bridge, while saying the node is detached.
        iface = carrier()
        if not iface:
            raise FaultError(node, f"no interface of {node} carries {n.ip}")

        def inject() -> None:
            n.exec(["ip", "link", "del", "dev", iface], check=True)
            try:
                net.disconnect(n.container)
            except docker.errors.APIError as exc:  # the NIC is gone: the undo must run
                raise FaultError(node, f"{iface} deleted, the engine's disconnect: {exc}") from exc

        def detached() -> None:
            wait_effect("detached", node, lambda: not attached())
            wait_effect(f"no interface with {n.ip}", node, lambda: not carrier())

        def undo() -> None:
            six = str(n.ip6) if n.ip6 is not None else None
            net.connect(n.container, ipv4_address=str(n.ip), ipv6_address=six, aliases=[n.name])
            wait_effect("reconnected", node, attached)
            # Docker names the new interface eth1 (eth2 the next time); the node's configs
            # name the old one: give it its old name back, as udev would a replaced NIC.
            new = carrier()
            if new and new != iface:
                n.exec(
                    f"ip link set dev {new} down && ip link set dev {new} name {iface} && "
                    f"ip link set dev {iface} up",
                    check=True,
                )
            wait_effect(
                f"{iface} up with the node's address",
                node,
                lambda: n.exec(f"ip -o -4 addr show dev {iface} up to {n.ip} | grep -q .").ok,
            )

        return self._apply(
            "disconnect",
            node,
            f"{net.name} ({iface} deleted)",
            inject,
            detached,
            undo,
        )

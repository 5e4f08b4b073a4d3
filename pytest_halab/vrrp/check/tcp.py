"""TCP_CHECK: a TCP connection to the real server (or connect_ip/connect_port), bounded by
connect_timeout; keepalived's check_tcp.c closes it as soon as it is up."""

from __future__ import annotations

import asyncio
import contextlib
import socket

from ..conf.model import ConfigItem, RealServer, VirtualServer
from .model import format_rs
from .probe import Attempt, Target
from .target import connection_target, rs_defaults

__all__ = ["TcpProbe", "open_socket"]

SO_MARK = getattr(socket, "SO_MARK", 36)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


def open_socket(target: Target) -> socket.socket:
    """A non-blocking TCP socket set up as keepalived's tcp_bind_connect() sets it: the
    fwmark, the interface and the source address of the checker. Raises OSError."""
    sock = socket.socket(target.family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if target.fwmark:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, target.fwmark)
        if target.bind_interface:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, target.bind_interface.encode())
        if target.bind_ip or target.bind_port:
            any_ip = "::" if target.family == socket.AF_INET6 else "0.0.0.0"
            sock.bind((target.bind_ip or any_ip, target.bind_port))
    except OSError:
        sock.close()
        raise
    return sock


async def connect(target: Target) -> socket.socket:
    """A connected socket to `target` within its timeout. Raises OSError, or
    TimeoutError when the timeout passes first."""
    sock = open_socket(target)
    try:
        address = (target.ip, target.port)
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, address), target.timeout
        )
    except BaseException:
        sock.close()
        raise
    return sock


class TcpProbe:
    """One TCP_CHECK of one real server."""

    kind = "TCP_CHECK"

    def __init__(self, target: Target, name: str) -> None:
        self.target = target
        self.name = name  # FMT_CHK: the real server as keepalived names it

    @classmethod
    def from_config(
        cls,
        item: ConfigItem,
        rs: RealServer,
        vs: VirtualServer,
        defaults: Target | None = None,
    ) -> TcpProbe:
        target = connection_target(item, defaults or rs_defaults(rs, vs))
        return cls(target, format_rs(rs, vs))

    async def attempt(self) -> Attempt:
        try:
            sock = await connect(self.target)
        except TimeoutError:
            return Attempt(False, f"TCP connection to {self.name} timeout.")
        except OSError:
            return Attempt(False, f"TCP connection to {self.name} failed.")
        with contextlib.suppress(OSError):
            sock.close()
        return Attempt(True, f"TCP connection to {self.name} success.")

    def up_line(self, rs_name: str) -> str:
        return f"TCP connection to {rs_name} success."

    def down_line(self, rs_name: str, retries: int | None) -> str:
        if retries:
            return f"TCP_CHECK on service {rs_name} failed after {retries} retries."
        return f"TCP_CHECK on service {rs_name} failed."

"""TCP_CHECK: a TCP connection to the real server (or connect_ip/connect_port), bounded by
connect_timeout; keepalived's check_tcp.c closes it as soon as it is up."""

from __future__ import annotations

import logging

from .conn import Connect, connect
from .model import CheckerSpec, format_rs
from .probe import Attempt, Target

__all__ = ["TcpProbe"]

log = logging.getLogger("halab-vrrpd")


class TcpProbe:
    """One TCP_CHECK of one real server."""

    kind = "TCP_CHECK"

    def __init__(self, target: Target, name: str) -> None:
        self.target = target
        self.name = name  # FMT_CHK: the real server as keepalived names it

    @classmethod
    def from_spec(cls, spec: CheckerSpec) -> TcpProbe:
        assert spec.conn is not None
        return cls(spec.conn.target(), format_rs(spec.rs, spec.vs))

    async def attempt(self) -> Attempt:
        """One connect (tcp_connect_thread, tcp_check_thread): closed once it is up."""
        done = await connect(self.target)
        if done.sock is not None:
            done.sock.close()
            return Attempt(True, f"TCP connection to {self.name} success.")
        if done.status is Connect.ERROR and done.why:
            log.info("%s", done.why)
        if done.status is Connect.TIMEOUT:
            return Attempt(False, f"TCP connection to {self.name} timeout.")
        return Attempt(False, f"TCP connection to {self.name} failed.")

    def up_line(self, rs_name: str) -> str:
        return f"TCP connection to {rs_name} success."

    def down_line(self, rs_name: str, retries: int | None) -> str:
        if retries:
            return f"TCP_CHECK on service {rs_name} failed after {retries} retries."
        return f"TCP_CHECK on service {rs_name} failed."

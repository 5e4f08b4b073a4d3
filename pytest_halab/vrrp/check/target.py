"""Where a checker connects: its connection keywords (connect_ip, connect_port, bindto,
bind_port, bind_if, connect_timeout, fwmark) over its real server's defaults."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from ..conf.model import ConfigItem, RealServer, VirtualServer
from .model import DEFAULT_CONNECT_TIMEOUT, item_value, seconds
from .probe import Target

__all__ = ["connection_target", "rs_defaults"]


def rs_defaults(rs: RealServer, vs: VirtualServer) -> Target:
    """A real server's connection defaults: its address and port, and connect_timeout
    from the real server, else the virtual server, else 5 s."""
    timeout = (
        seconds(rs.items, "connect_timeout", 1e-6)
        or seconds(vs.items, "connect_timeout", 1e-6)
        or DEFAULT_CONNECT_TIMEOUT
    )
    family = rs.family or vs.family or socket.AF_INET
    return Target(ip=rs.ip or "", port=rs.port_num, family=family, timeout=timeout)


def connection_target(item: ConfigItem, defaults: Target) -> Target:
    """The checker's connection keywords (connect_ip, connect_port, bindto, bind_port,
    bind_if, connect_timeout, fwmark) over `defaults`."""
    sub = item.children
    ip, family = defaults.ip, defaults.family
    connect_ip = item_value(sub, "connect_ip")
    if connect_ip:
        ip = connect_ip[0]
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    port = _port(sub, "connect_port", defaults.port)
    bind_args = item_value(sub, "bindto")
    bind_ip = bind_args[0] if bind_args else defaults.bind_ip
    if bind_ip is not None and (":" in bind_ip) != (family == socket.AF_INET6):
        bind_ip = None  # keepalived: "does not match address family of connect_ip"
    mark = item_value(sub, "fwmark")
    return Target(
        ip=ip,
        port=port,
        family=family,
        timeout=seconds(sub, "connect_timeout", 1e-6) or defaults.timeout,
        bind_ip=bind_ip,
        bind_port=_port(sub, "bind_port", defaults.bind_port),
        bind_interface=_first(item_value(sub, "bind_if"), defaults.bind_interface),
        fwmark=int(mark[0]) if mark and mark[0].isdigit() else defaults.fwmark,
    )


def _first(args: list[str] | None, default: str | None) -> str | None:
    return args[0] if args else default


def _port(items: Sequence[ConfigItem], keyword: str, default: int) -> int:
    args = item_value(items, keyword)
    if args and args[0].isdigit() and 1 <= int(args[0]) <= 65535:
        return int(args[0])
    return default

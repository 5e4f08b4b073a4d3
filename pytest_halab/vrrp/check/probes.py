"""The checker kinds halab-vrrpd runs, by keepalived keyword, and what they share: where a
checker connects (its connection keywords over its real server's defaults).

Each kind is a class with ``from_config(item, rs, vs, defaults=None)`` returning the probe
(a `Probe`): `item` the checker's block as read, `rs`/`vs` the parsed real and virtual
server, `defaults` the real server's connection `Target` (its address and port, its
resolved connect_timeout), computed from `rs`/`vs` when not given.

A probe may also offer what the runner logs when its checker changes state, in its own
kind's words: ``up_line(rs_name) -> str`` and ``down_line(rs_name, retries) -> str``
(`retries` None when no retry was made); without them the runner uses
``KIND on service RS succeeded.`` / ``... failed[ after N retries].``.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..conf.model import ConfigItem, RealServer, VirtualServer
from .probe import Probe, Target
from .target import connection_target, rs_defaults

__all__ = ["PROBES", "build_probes", "connection_target", "rs_defaults"]


# keyword -> "module:Class" (imported when first used: DNS_CHECK and SMTP_CHECK live in
# modules that may not be there)
_KINDS = {
    "TCP_CHECK": "tcp:TcpProbe",
    "HTTP_GET": "http:HttpProbe",
    "SSL_GET": "http:HttpProbe",
    "MISC_CHECK": "misc:MiscProbe",
    "DNS_CHECK": "dns:DnsProbe",
    "SMTP_CHECK": "smtp:SmtpProbe",
}


def _load(kind: str) -> Any | None:
    module, _, name = _KINDS[kind].partition(":")
    try:
        mod = importlib.import_module(f"{__package__}.{module}")
    except ImportError:
        return None
    return getattr(mod, name, None)


PROBES: dict[str, Any] = {kind: cls for kind in _KINDS if (cls := _load(kind)) is not None}


def build_probes(
    item: ConfigItem, rs: RealServer, vs: VirtualServer, defaults: Target | None = None
) -> list[Probe]:
    """The probes one checker block makes (SMTP_CHECK: one per host), or none when
    halab-vrrpd has no such checker. Raises CheckerRefused when keepalived drops it."""
    cls = PROBES.get(item.keyword)
    if cls is None:
        return []
    if hasattr(cls, "all_from_config"):
        return list(cls.all_from_config(item, rs, vs))
    if defaults is None:
        return [cls.from_config(item, rs, vs)]
    return [cls.from_config(item, rs, vs, defaults)]

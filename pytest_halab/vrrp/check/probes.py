"""The checker kinds halab-vrrpd runs, by keepalived keyword.

Each kind is a class with ``from_spec(spec)`` returning the probe (a `Probe`) of one
checker of the model (`model.CheckerSpec`: its block as read, its servers, its resolved
timers and connection options). A connecting probe's `Target` is ``spec.conn.target()``
(`conn.ConnOpts`), which raises CheckerRefused when keepalived drops the checker.

A probe may also offer what the runner logs when its checker changes state, in its own
kind's words: ``up_line(rs_name) -> str`` and ``down_line(rs_name, retries) -> str``
(`retries` None when no retry was made); without them the runner uses
``KIND on service RS succeeded.`` / ``... failed[ after N retries].``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .model import CheckerSpec
from .probe import Probe

__all__ = ["PROBES", "build_probe"]


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


def build_probe(spec: CheckerSpec) -> Probe | None:
    """The probe of one checker, or None when halab-vrrpd has no such checker. Raises
    CheckerRefused when keepalived drops it."""
    cls = PROBES.get(spec.kind)
    if cls is None:
        return None
    probe: Probe = cls.from_spec(spec)
    return probe

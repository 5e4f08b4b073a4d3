"""How long haproxy may take to take a backend server out after a fault on it, or to put
it back after the revert, from the haproxy.cfg as the topology renders it. Pure: reads
config text, no lab (`checkbound` is the same for an LVS director's keepalived.conf).

haproxy 2.6 checks a server every ``inter`` while it is up and healthy, every
``fastinter`` while it is changing state (after a first failure, or a first success of a
DOWN server), every ``downinter`` while it is DOWN (both default to ``inter``). A server
goes DOWN after ``fall`` failed checks in a row and UP after ``rise`` good ones (defaults
inter 2s, fall 3, rise 2). A failed check lasts at most its timeout: the smaller of
``inter`` and ``timeout connect`` to connect, plus ``timeout check`` to read the answer
when that is set (a refused connection fails at once, a dropped one uses all of it). So:

- out: ``inter + (fall - 1) x fastinter + check timeout``
- back in: ``downinter + (rise - 1) x fastinter``

:func:`server_checks` also gives ``inter x fall``, the figure users reason with ("the
issue's detection against inter x fall").
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

__all__ = ["ServerChecks", "parse_time_ms", "pool_bound", "server_checks"]

_UNITS_MS = {
    "us": 0.001,
    "ms": 1.0,
    "s": 1000.0,
    "m": 60_000.0,
    "h": 3_600_000.0,
    "d": 86_400_000.0,
}
_TIME = re.compile(r"^(\d+)(us|ms|s|m|h|d)?$")
_SECTIONS = (
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
)
_CHECK_OPTS = ("inter", "fastinter", "downinter", "fall", "rise")


def parse_time_ms(text: str) -> float:
    """haproxy's time format (``2s``, ``500``, ``1m``...) in milliseconds (no unit: ms)."""
    m = _TIME.match(text.strip())
    if not m:
        raise ValueError(f"not a haproxy time: {text!r}")
    return int(m.group(1)) * _UNITS_MS[m.group(2) or "ms"]


@dataclass(frozen=True)
class ServerChecks:
    """One `server` line's health check timers, with its defaults applied (seconds)."""

    backend: str
    server: str
    inter: float
    fastinter: float
    downinter: float
    fall: int
    rise: int
    check_timeout: float

    @property
    def inter_x_fall(self) -> float:
        return round(self.inter * self.fall, 6)

    def bound(self, removed: bool = True) -> float:
        if removed:
            return round(self.inter + (self.fall - 1) * self.fastinter + self.check_timeout, 6)
        return round(self.downinter + (self.rise - 1) * self.fastinter, 6)


def _words(line: str) -> list[str]:
    return line.split("#", 1)[0].split()


def _opts(words: list[str], into: dict[str, str]) -> None:
    for i, w in enumerate(words[:-1]):
        if w in _CHECK_OPTS:
            into[w] = words[i + 1]


def server_checks(conf: str | bytes, server_ip: str) -> list[ServerChecks]:
    """Every checked `server` line (``check``) whose address is `server_ip`."""
    text = conf.decode(errors="replace") if isinstance(conf, bytes) else conf
    want = ipaddress.ip_address(server_ip)
    out: list[ServerChecks] = []
    defaults: dict[str, str] = {}  # the last defaults section's default-server
    timeouts_d: dict[str, str] = {}
    section, name = "", ""
    local: dict[str, str] = {}
    timeouts: dict[str, str] = {}
    for raw in text.splitlines():
        words = _words(raw)
        if not words:
            continue
        if words[0] in _SECTIONS:
            section, name = words[0], (words[1] if len(words) > 1 else "")
            if section == "defaults":
                defaults, timeouts_d = {}, {}
            local, timeouts = dict(defaults), dict(timeouts_d)
            continue
        if words[0] == "default-server":
            _opts(words[1:], local)
            if section == "defaults":
                _opts(words[1:], defaults)
            continue
        if words[0] == "timeout" and len(words) >= 3 and words[1] in ("check", "connect"):
            timeouts[words[1]] = words[2]
            if section == "defaults":
                timeouts_d[words[1]] = words[2]
            continue
        if words[0] != "server" or section not in ("backend", "listen") or len(words) < 3:
            continue
        if "check" not in words[3:]:
            continue
        host = words[2].rsplit(":", 1)[0].strip("[]") if ":" in words[2] else words[2]
        try:
            if ipaddress.ip_address(host) != want:
                continue
        except ValueError:
            continue
        opts = dict(local)
        _opts(words[3:], opts)
        inter = parse_time_ms(opts.get("inter", "2000")) / 1000
        fast = parse_time_ms(opts["fastinter"]) / 1000 if "fastinter" in opts else inter
        down = parse_time_ms(opts["downinter"]) / 1000 if "downinter" in opts else inter
        connect = parse_time_ms(timeouts["connect"]) / 1000 if "connect" in timeouts else None
        tmo = min(inter, connect) if connect is not None else inter
        if "check" in timeouts:
            tmo += parse_time_ms(timeouts["check"]) / 1000
        out.append(
            ServerChecks(
                backend=name,
                server=words[1],
                inter=inter,
                fastinter=fast,
                downinter=down,
                fall=int(opts.get("fall", "3")),
                rise=int(opts.get("rise", "2")),
                check_timeout=tmo,
            )
        )
    return out


def pool_bound(conf: str | bytes, server_ip: str, removed: bool = True) -> float | None:
    """The largest bound over the backends that check `server_ip` (None: none checks it)."""
    bounds = [c.bound(removed) for c in server_checks(conf, server_ip)]
    return max(bounds) if bounds else None

"""How long a director's checker may take to take a real server out of its pool after a
fault, or to put it back after the revert, from the director's keepalived.conf (the
issue's "bound computed from the config"). Pure: reads config text, no lab.

keepalived 2.2.7's checker (and halab-vrrpd's, which follows it) runs a checker every
``delay_loop`` after its previous attempt ended; a failed attempt is retried ``retry``
times, ``delay_before_retry`` apart; only the last failure takes the server out. An
attempt lasts at most ``connect_timeout`` (a server that hangs or a port dropped by a
firewall uses all of it; a refused connection none). So, for the slowest of the server's
checkers (the server is out once any one fails):

- out: ``delay_loop + (retry + 1) x connect_timeout + retry x delay_before_retry``
- back in: ``delay_loop + connect_timeout`` (a failed server is checked every delay_loop,
  and one success brings it back; HTTP_GET's url walk needs one success per url more).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from .vrrp.check.model import CheckerSpec, build_model
from .vrrp.conf import load_config

__all__ = ["checker_bound", "checker_period", "pool_bound"]


def checker_bound(spec: CheckerSpec, removed: bool = True) -> float:
    """One checker's bound (seconds) to fail a server (`removed`) or to pass it again."""
    if removed:
        return (
            spec.delay_loop
            + (spec.retry + 1) * spec.connect_timeout
            + spec.retry * spec.delay_before_retry
        )
    urls = 1
    if spec.kind in ("HTTP_GET", "SSL_GET"):
        urls = 1 + sum(1 for c in spec.item.children if c.keyword == "url")
    return urls * (spec.delay_loop + spec.connect_timeout)


def pool_bound(
    conf: str | bytes, server_ip: str, port: int | None = None, removed: bool = True
) -> float | None:
    """The bound for the real server at `server_ip` (and `port`, None: any) in the
    keepalived.conf text `conf`: the largest over its virtual servers of the quickest
    checker to fail it (out), or of the slowest to pass it (back in). None when no
    virtual server has that real server with a checker."""
    bounds: list[float] = []
    for checkers in _checkers_of(conf, server_ip, port):
        each = _each(checkers, removed)
        bounds.append(min(each) if removed else max(each))
    return round(max(bounds), 6) if bounds else None


def checker_period(conf: str | bytes, server_ip: str, port: int | None = None) -> float | None:
    """The longest ``delay_loop`` of the checkers of the real server at `server_ip` in the
    keepalived.conf text `conf`: the period of the checker's own timer (a bench spreads its
    faults over it). None when no virtual server has that real server with a checker."""
    periods = [c.delay_loop for cs in _checkers_of(conf, server_ip, port) for c in cs]
    return max(periods) if periods else None


def _checkers_of(
    conf: str | bytes, server_ip: str, port: int | None
) -> list[tuple[CheckerSpec, ...]]:
    """The checkers of each real server at `server_ip` (and `port`) that has any."""
    with tempfile.TemporaryDirectory(prefix="halab-checkbound-") as tmp:
        path = Path(tmp) / "keepalived.conf"
        path.write_bytes(conf.encode() if isinstance(conf, str) else conf)
        cfg, _diags = load_config(path, interfaces={"eth0", "lo"}, check_scripts=False)
    return [
        tuple(rs.checkers)
        for vs in build_model(cfg)
        for rs in vs.real_servers
        if rs.ip == server_ip and (port is None or rs.port == port) and rs.checkers
    ]


def _each(checkers: Iterable[CheckerSpec], removed: bool) -> list[float]:
    return [checker_bound(c, removed) for c in checkers]

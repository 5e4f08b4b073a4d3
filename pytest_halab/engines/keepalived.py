"""Debian's keepalived (2.2.7), the reference engine.

It runs VRRP only (``--vrrp``: this kernel has no IPVS). Its state changes reach the lab
through its notify FIFO, which ``halab-observe --fifo`` reads in the node and writes as
timeline events (``30-vrrp`` in the balancer image sets that up). The same reader follows
keepalived's log for its priority changes (``halab-observe --log``): keepalived tells the
FIFO of those only with ``notify_priority_changes``, and a BACKUP sends no adverts, so its
log is the one place that says when a backup's track script took its priority down.
"""

from __future__ import annotations

from typing import ClassVar

from ..timeline import Event
from .base import VrrpEngine


class Keepalived(VrrpEngine):
    name: ClassVar[str] = "keepalived"
    process: ClassVar[str] = "keepalived"
    pidfile: ClassVar[str] = "/run/keepalived.pid"
    events_path: ClassVar[str] = "/var/log/halab/keepalived-events.jsonl"

    @classmethod
    def parse_event(cls, line: bytes, node: str) -> Event | None:
        # halab-observe --fifo writes timeline events already
        return Event.from_record(line, node)

"""halab-vrrpd, the project's own VRRP daemon (``pytest_halab.vrrp``, run in the node).

Its processes are called ``halab-vrrpd`` (comm and argv[0]), as keepalived's are called
keepalived: the base class finds and kills them by that name.

Its state changes come from its event log (``--event-log``): JSON lines stamped with
integer microseconds, translated here into the timeline's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..timeline import Event, EventKind, json_record
from .base import VrrpEngine


class Halab(VrrpEngine):
    name: ClassVar[str] = "halab"
    process: ClassVar[str] = "halab-vrrpd"
    pidfile: ClassVar[str] = "/run/halab-vrrpd.pid"
    events_path: ClassVar[str] = "/var/log/halab/vrrp-events.jsonl"

    @classmethod
    def parse_event(cls, line: bytes, node: str) -> Event | None:
        record = json_record(line)
        return engine_log_event(record, node) if record is not None else None


def engine_log_event(record: Mapping[str, Any], node: str) -> Event | None:
    """One record of halab-vrrpd's ``--event-log`` as a timeline event; None if unusable.

    The log stamps ``ts`` in integer microseconds and names the record ``event``:

    - ``state_change`` (``old``, ``new``) becomes ``vrrp_state`` with ``state``/``prev``,
      the shape keepalived's notify FIFO lines take too;
    - ``group_state_change`` becomes ``vrrp_group_state``;
    - anything else becomes ``engine`` with the record's name in ``data["event"]``: the
      daemon's own ``vip_added``/``vip_removed`` must not pass for the kernel's (netlink's).
    """
    rest = dict(record)
    ts_us = rest.pop("ts", None)
    name = rest.pop("event", None)
    if isinstance(ts_us, bool) or not isinstance(ts_us, int) or not isinstance(name, str):
        return None
    rest.pop("node", None)
    ts = ts_us / 1_000_000
    if name == "state_change":
        instance, new = rest.pop("instance", None), rest.pop("new", None)
        old = rest.pop("old", None)
        if not isinstance(instance, str) or not isinstance(new, str):
            return None
        data = {"instance": instance, "state": new, "prev": old, **rest, "engine": "halab"}
        return Event(ts=ts, node=node, kind=EventKind.VRRP_STATE.value, data=data)
    if name == "group_state_change":
        rest.pop("instance", None)
        group, new = rest.pop("group", None), rest.pop("new", None)
        data = {"group": group, "state": new, **rest, "engine": "halab"}
        return Event(ts=ts, node=node, kind=EventKind.VRRP_GROUP_STATE.value, data=data)
    return Event(ts=ts, node=node, kind=EventKind.ENGINE.value, data={"event": name, **rest})

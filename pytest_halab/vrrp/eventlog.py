"""halab-vrrpd's ``--event-log``: JSON lines, one event each, stamped in wall-clock
microseconds (``ts``), with ``event``, ``instance`` and the event's own fields."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import IO, Any

__all__ = ["EventLog"]


class EventLog:
    """JSON lines, one event each, flushed at once (observers tail the file)."""

    def __init__(self, path: str | None) -> None:
        self._fh: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self.counts: Counter[str] = Counter()

    def emit(self, event: str, instance: str | None, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "ts": time.time_ns() // 1000,
            "event": event,
            "instance": instance,
            **fields,
        }
        self.counts[event] += 1
        if self._fh is not None:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._fh.flush()
        return record

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

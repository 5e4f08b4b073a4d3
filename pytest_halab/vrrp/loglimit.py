"""A rate limit for a log that an attacker can drive (malformed packets): a few lines per
source, then one summary, in bounded memory."""

from __future__ import annotations

from collections.abc import Callable

from pytest_halab.vrrp.loop import EventLoop

__all__ = ["LogLimiter"]


class LogLimiter:
    """Rate limit for a log that an attacker can drive: per key (a packet's source and
    interface), the first `burst` in `interval` seconds are logged; the rest are only
    counted, and one summary per key (``on_suppressed(key, count, interval)``) follows at
    the interval's end. At most `max_keys` keys are followed; beyond that, new keys share
    one (``("*", "*")``), so that a flood of forged sources cannot grow memory."""

    OVERFLOW = ("*", "*")

    def __init__(
        self,
        loop: EventLoop,
        on_suppressed: Callable[[tuple[str, str], int, float], None],
        *,
        burst: int = 5,
        interval: float = 10.0,
        max_keys: int = 256,
    ) -> None:
        self.loop = loop
        self.on_suppressed = on_suppressed
        self.burst, self.interval, self.max_keys = burst, interval, max_keys
        # key -> [window start, logged, suppressed]
        self.windows: dict[tuple[str, str], list[float]] = {}

    def allow(self, key: tuple[str, str]) -> bool:
        now = self.loop.time()
        window = self.windows.get(key)
        if window is not None and now - window[0] >= self.interval and not window[2]:
            window = None  # expired with nothing suppressed: start again
        if window is None:
            if key not in self.windows and len(self.windows) >= self.max_keys:
                self._expire(now)
                if len(self.windows) >= self.max_keys and key != self.OVERFLOW:
                    return self.allow(self.OVERFLOW)
            window = self.windows[key] = [now, 0, 0]
        if window[1] < self.burst:
            window[1] += 1
            return True
        window[2] += 1
        if window[2] == 1:
            self.loop.call_at(window[0] + self.interval, lambda: self._summary(key))
        return False

    def _expire(self, now: float) -> None:
        for key, window in list(self.windows.items()):
            if now - window[0] >= self.interval and not window[2]:
                del self.windows[key]

    def _summary(self, key: tuple[str, str]) -> None:
        window = self.windows.pop(key, None)
        if window is not None and window[2]:
            self.on_suppressed(key, int(window[2]), self.interval)

"""halab-vrrpd's event loop: readers on a selector plus a heap of monotonic deadlines.

The loop sleeps exactly until the nearest deadline: there is no polling tick. The VRRP
protocol's own deadlines (advert, master down) are ``precise``: their last 0.3 ms are
polled rather than slept, because a wake-up from the kernel lands late.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import select
import selectors
import time
from collections.abc import Callable

__all__ = ["EventLoop", "Timer"]

log = logging.getLogger("halab-vrrpd")

_FINE_WAIT = 0.002  # the last 2 ms before a deadline are waited with select(2)
_KERNEL_SLACK = 0.0011  # epoll_wait's timer slack is 0.1 % of the timeout
# The last 0.3 ms before a protocol deadline (advert, master down) are polled: a wake-up
# from select(2) lands 0.15 ms late at the median and 0.4 ms at p90 on a busy 2-core host,
# a poll 0.03 / 0.04 ms. It costs 0.3 ms of CPU per deadline: 0.03 % of a core at advert 1 s.
_SPIN = 0.0003


class Timer:
    """A deadline on the loop; ``cancel`` it and it never runs."""

    __slots__ = ("callback", "cancelled", "precise", "when")

    def __init__(self, when: float, callback: Callable[[], None], precise: bool = False) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.precise = precise

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """Readers on a selector plus timers on a heap of monotonic deadlines."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self.wakeups = 0

    def time(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None], *, precise: bool = False) -> Timer:
        """Run ``callback`` at ``when``; ``precise`` timers are polled for their last
        0.3 ms instead of slept for (the VRRP protocol's own deadlines)."""
        timer = Timer(when, callback, precise)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self._selector.register(fd, selectors.EVENT_READ, callback)

    def remove_reader(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def run_once(self, max_wait: float | None = None) -> None:
        """Wait for the first reader or deadline (or ``max_wait``), run what is due.

        Linux lets epoll_wait oversleep by 0.1 % of its timeout (``select_estimate_accuracy``:
        3.6 ms on a 3.6 s master-down timer) and counts in whole milliseconds, where
        keepalived's timerfd is exact. So a long wait stops a little early and the rest is
        waited with select(2) on the epoll descriptor, which takes microseconds and whose
        slack on a short timeout is the 50 us timer slack.
        """
        deadline = self.next_deadline()
        if max_wait is not None:
            limit = self.time() + max_wait
            deadline = limit if deadline is None else min(deadline, limit)
        events = self._wait(deadline)
        self.wakeups += 1
        for key, _mask in events:
            self._call(key.data)
        now = self.time()
        while self._timers and self._timers[0][0] <= now:
            _when, _seq, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._call(timer.callback)

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        # One failing handler must not take the daemon (and its VIPs) down with it.
        try:
            callback()
        except Exception:
            log.exception("internal error in the event loop (continuing)")

    def _wait(self, deadline: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        if deadline is None:
            return self._selector.select(None)
        remaining = deadline - self.time()
        if remaining > _FINE_WAIT:
            coarse = remaining * (1 - _KERNEL_SLACK) - _FINE_WAIT
            events = self._selector.select(coarse)
            if events:
                return events
            remaining = deadline - self.time()
        fd = self._selector.fileno() if hasattr(self._selector, "fileno") else -1
        spin = _SPIN if fd >= 0 and self._timers and self._timers[0][2].precise else 0.0
        if remaining > spin:
            if fd >= 0:
                ready, _, _ = select.select([fd], [], [], remaining - spin)
                if ready:
                    return self._selector.select(0)
            else:
                time.sleep(remaining)
        while spin and self.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0)
            if ready:
                break
        return self._selector.select(0)

    def close(self) -> None:
        self._selector.close()

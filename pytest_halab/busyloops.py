"""CPU hogs beside the labs: the contention under which a soak or a bench is taken.

``count`` CPU-bound shell loops run in one lab node (the client), so they go with its
container whatever happens to the run; they compete with every lab on the engine's host for
its cores (the issues' "three busy loops on the 2 cores"). Each is a copy of the shell named
``halab-busy``, so that ``pgrep -x`` counts them (a process's name is its executable's,
whatever argv[0] says). They are counted after starting, on request while they should run
(a hog that did not run, or died early, makes the figures taken beside it an error, not a
figure), and after stopping.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .errors import HalabError

if TYPE_CHECKING:  # light to import: the command line's tables use busy_words
    from .nodes import Node

__all__ = ["BUSY_MAX", "BusyLoops", "busy_words"]

BUSY_MAX = 16  # the command lines' bound: more hogs than this measure the host, not the lab
_BUSY_NAME = "halab-busy"
_BUSY_PATH = f"/tmp/{_BUSY_NAME}"
_BUSY_CMD = f"exec {_BUSY_PATH} -c 'while :; do :; done'"
START_S = 10.0
STOP_S = 5.0


def busy_words(count: int) -> str:
    """``"1 busy loop"``, ``"3 busy loops"``."""
    return f"{count} busy loop" if count == 1 else f"{count} busy loops"


class BusyLoops:
    """``count`` CPU-bound loops in ``node``, verified running, stopped and verified gone."""

    def __init__(self, node: Node, count: int) -> None:
        self.node = node
        self.count = count

    def running(self) -> int:
        return len(self.node.pids(["pgrep", "-x", _BUSY_NAME]))

    def check(self, what: str) -> None:
        """Raise if fewer loops run than were started: the load did not hold for ``what``."""
        if self.count and (n := self.running()) != self.count:
            raise HalabError(
                f"{what}: only {n} of {self.count} busy loops still run in {self.node.name}: "
                "the load did not hold"
            )

    def __enter__(self) -> BusyLoops:
        if self.count:
            self.node.exec(f"cp /bin/sh {_BUSY_PATH}", check=True)
            for _ in range(self.count):
                self.node.container.exec_run(["sh", "-c", _BUSY_CMD], detach=True)
            deadline = time.monotonic() + START_S
            while self.running() < self.count:
                if time.monotonic() > deadline:
                    self.stop()
                    raise HalabError(
                        f"{self.running()} of {self.count} busy loops started in {self.node.name}"
                    )
                time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the loops and wait until they are gone (pkill only signals): SIGTERM, then
        SIGKILL for what is left after STOP_S."""
        for signal, wait_s in (("TERM", STOP_S), ("KILL", STOP_S)):
            self.node.exec(["pkill", f"-{signal}", "-x", _BUSY_NAME])
            deadline = time.monotonic() + wait_s
            while self.running():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            else:
                return
        raise HalabError(f"{self.running()} busy loops left in {self.node.name}")

    def __exit__(self, *exc: object) -> None:
        if self.count:
            self.stop()

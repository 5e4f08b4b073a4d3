"""An in-node agent that runs for as long as its node does, its output streamed back live.

One ``docker exec`` per node run, with its standard input open: the agent (``halab-observe
... --until-eof``) stops when that input ends, i.e. when this process closes the stream or
dies, and with its container. Each line it prints is handed to the watch (``apply``) by a
reader thread as it comes; the lines a watch keeps (``KEPT``) go to a history that outlives
the watch, so that the node's record spans its restarts. ``Watches`` keeps one watch per
node, started on first use and again once its node's container has started again.

A watch is ``synced`` once its agent has said the line that makes it usable (``SYNC``); a
watch whose stream ended, of an earlier run of its container, or not synced within
``SYNC_TIMEOUT_S`` is not live, and its caller falls back to asking the node.

The docker SDK is used directly: testcontainers runs a command to its end (``exec``), this
needs the exec's output as a stream that stays open.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import docker.errors
from docker.utils.socket import frames_iter

if TYPE_CHECKING:
    from .nodes import Node

SYNC_TIMEOUT_S = 5.0
STDOUT = 1
# Lines kept per node at most: the oldest half goes when there are more (a capture at 20 ms
# adverts keeps about an hour). Marks count every line ever kept, so they stay valid.
KEEP_MAX = 200_000


class StreamWatch:
    """One node's agent, its output streamed live (see the module's text)."""

    AGENT: ClassVar[tuple[str, ...]]
    KEPT: ClassVar[frozenset[str]] = frozenset()  # kinds of line kept in the history
    SYNC: ClassVar[str] = "observer_ready"  # the kind of line after which the watch is usable

    def __init__(self, node: Node, history: list[bytes] | None = None) -> None:
        self.node = node.name
        self.started_at = _started_at(node)
        self.synced = threading.Event()
        self.ended = threading.Event()
        self._lock = threading.Lock()
        self.history: list[bytes] = [] if history is None else history
        api = node.container.client.api
        made = api.exec_create(node.container.id, list(self.AGENT), stdin=True, stdout=True)
        self._sock: Any = api.exec_start(made["Id"], socket=True)
        self._thread = threading.Thread(
            target=self._read, name=f"{type(self).__name__}-{self.node}"
        )
        self._thread.daemon = True
        self._thread.start()

    def _read(self) -> None:
        buf = b""
        try:
            for stream, data in frames_iter(self._sock, tty=False):
                if stream != STDOUT:
                    continue
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    self.apply(line)
        except (OSError, ValueError):
            pass  # the stream was closed: this watch has ended
        finally:
            self.ended.set()

    def apply(self, line: bytes) -> None:
        """One line of the agent's output: kept when its kind is one of ``KEPT``."""
        try:
            rec = json.loads(line)
            kind = rec.get("kind")
        except (ValueError, AttributeError):
            return
        with self._lock:
            self.take(rec, kind, line)

    def take(self, rec: dict[str, Any], kind: object, line: bytes) -> None:
        """A parsed line, under the watch's lock (what a kind of watch adds goes here)."""
        if kind == self.SYNC:
            self.synced.set()
        if kind in self.KEPT:
            self.history.append(line)

    def live(self, node: Node, timeout: float = SYNC_TIMEOUT_S) -> bool:
        """Whether this watch speaks for the node now: its stream runs, the node's container
        is the run it started in, and its agent has synced (waited for, ``timeout``)."""
        if self.ended.is_set() or _started_at(node) != self.started_at:
            return False
        return self.synced.wait(timeout) and not self.ended.is_set()

    def close(self) -> None:
        raw = getattr(self._sock, "_sock", self._sock)
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)  # wakes the reader; the agent sees its stdin end
        with contextlib.suppress(OSError):
            self._sock.close()


W = TypeVar("W", bound=StreamWatch)


class Watches(Generic[W]):
    """One watch of type ``kind`` per node, each started on first use and again after its
    node restarted; each node's history kept across its watches."""

    def __init__(self, kind: type[W]) -> None:
        self.kind = kind
        self._watches: dict[str, W] = {}
        self._history: dict[str, list[bytes]] = {}
        self._dropped: dict[str, int] = {}  # lines of each node's history let go
        self._lock = threading.Lock()

    def watch(self, node: Node) -> W | None:
        """The node's watch for its current run, started if need be (None: it cannot be
        started, and the caller asks the node itself)."""
        with self._lock:
            watch = self._watches.get(node.name)
            if watch is not None and (
                watch.ended.is_set() or _started_at(node) != watch.started_at
            ):
                watch.close()
                watch = None
            if watch is None:
                try:
                    watch = self.kind(node, self._history.setdefault(node.name, []))
                except (docker.errors.DockerException, OSError):
                    return None
                self._watches[node.name] = watch
        return watch

    def ensure(self, node: Node) -> bool:
        """The node has a live watch (started if need be, and synced)."""
        watch = self.watch(node)
        return watch is not None and watch.live(node)

    def history(self, name: str, start: int = 0) -> list[bytes]:
        """The kept lines of node ``name`` so far, in order, over every run of its container
        that had a live watch (complete from the moment that watch synced); from line
        ``start`` on (``mark``), or from the oldest still kept (``KEEP_MAX``)."""
        with self._lock:
            lines = self._history.get(name, [])
            dropped = self._trim(name, lines)
            return lines[max(0, start - dropped) :]

    def mark(self, name: str) -> int:
        """How many lines of node ``name`` came so far: a reader that starts here later
        takes ``history(name, mark)``, every line that came after."""
        with self._lock:
            lines = self._history.get(name, [])
            return self._trim(name, lines) + len(lines)

    def _trim(self, name: str, lines: list[bytes]) -> int:
        """Let the oldest half go past ``KEEP_MAX`` lines (under the lock; the watch's
        reader only appends); how many lines of the node were let go so far."""
        if len(lines) > KEEP_MAX:
            half = len(lines) // 2
            del lines[:half]  # one step for the interpreter: an append comes before or after
            self._dropped[name] = self._dropped.get(name, 0) + half
        return self._dropped.get(name, 0)

    def close(self) -> None:
        with self._lock:
            for watch in self._watches.values():
                watch.close()
            self._watches.clear()


def _started_at(node: Node) -> str:
    """When the node's container last started (its attributes as last read)."""
    return str(node.container.attrs.get("State", {}).get("StartedAt", ""))

"""One command channel per node: the lab's commands run through a resident ``halab-shell``.

``Node.exec`` used to start each command with a ``docker exec`` of its own. An exec costs the
engine's host about 45 ms of CPU (dockerd, containerd, its shim and runc start a process in
the container; measured here, 2 cores), and a lab test runs about 28 of them: under
pytest-xdist those execs were a third of the CPU the suite used, and a busy CPU makes VRRP
timers late. So each node gets one ``halab-shell`` (lab/images/base) through one exec whose
standard input and output stay open: a command is a JSON line sent to it, its answer a JSON
header and the output, and costs a fork in the node. Commands run concurrently, each in its
own session with stdin from /dev/null and stdout and stderr merged, as an exec runs them,
and their exit codes are docker's (128+N for signal N). Files are read by halab-shell itself,
without a fork (its builtins ``cat`` and ``tar``, where its ready answer names them).

A command goes through the channel only when the container runs: a paused node's shell
could not answer, and a command for a stopped or paused node must fail as an exec fails
(the caller gets the engine's error). A channel belongs to one run of the container: after
a restart a new one is made. Both are read from the lab's container states
(``containerstates``: the engine's events, asked with an inspect only when no event has
said), not asked per command. A pause, stop or kill made elsewhere is seen once its event is
read, milliseconds after the engine answered the call that made it; a command sent in that
gap waits for the unpause, or ends as if the node had died under it (the lab's own faults
wait until the event is read before they return). A state that says "not running" when the
node runs again is harmless: the command runs with an exec.
A channel that ends while a command runs (the container was killed) answers that command
with exit code -1 and no output, as an exec interrupted so does; it is never run twice.
Where no channel can be made (an image without ``halab-shell``), commands use execs.

The docker SDK is used directly: testcontainers runs a command to its end (``exec``), this
needs an exec whose input and output stay open.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import docker.errors
from docker.models.containers import Container
from docker.utils.socket import frames_iter

from .containerstates import ContainerStates

SERVER = ["halab-shell"]
STDOUT = 1
STDERR = 2
GONE = (-1, b"")  # the answer to a command whose channel ended before it answered
READY_TIMEOUT_S = 10.0


class ShellUnavailable(Exception):
    """No halab-shell answered in the node (the text says what the engine said instead)."""


class ShellChannel:
    """A running ``halab-shell`` in one run of one container."""

    def __init__(self, container: Container, started_at: str) -> None:
        self.started_at = started_at
        self.ended = threading.Event()
        self._ready = threading.Event()
        self._said = b""  # what came on stderr (an exec that could not start says why there)
        self.builtins: frozenset[str] = frozenset()  # its requests besides argv ("cat", "tar")
        self._ids = itertools.count(1)
        self._pending: dict[int, Future[tuple[int, bytes]]] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        api = container.client.api
        exec_id = api.exec_create(container.id, SERVER, stdin=True, stdout=True, stderr=True)
        self._sock: Any = api.exec_start(exec_id["Id"], socket=True)
        self._raw: Any = getattr(self._sock, "_sock", self._sock)
        self._thread = threading.Thread(target=self._read, name="nodeshell", daemon=True)
        self._thread.start()
        # halab-shell's first answer (id 0) says it runs; an exec that could not start it
        # ends with the engine's reason instead
        if not self._ready.wait(READY_TIMEOUT_S) or self.ended.is_set():
            self.close()
            raise ShellUnavailable(self._said.decode(errors="replace").strip() or "no answer")

    def run(self, argv: Sequence[str]) -> tuple[int, bytes] | None:
        """Run argv in the node: (exit code, output), or None when the channel could not
        take the command (it had ended: nothing was run, the caller may use an exec)."""
        return self.request({"argv": list(argv)})

    def request(self, body: dict[str, Any]) -> tuple[int, bytes] | None:
        """One request (``argv``, or one of the builtins), as ``run``."""
        rid = next(self._ids)
        fut: Future[tuple[int, bytes]] = Future()
        with self._lock:
            if self.ended.is_set():
                return None
            self._pending[rid] = fut
        line = json.dumps({"id": rid, **body}).encode() + b"\n"
        try:
            with self._send_lock:
                self._raw.sendall(line)
        except OSError:
            with self._lock:
                self._pending.pop(rid, None)
            self.close()
            return None
        return fut.result()

    def _read(self) -> None:
        buf = b""
        try:
            for stream, data in frames_iter(self._sock, tty=False):
                if stream != STDOUT:
                    self._said = (self._said + data)[-4096:]
                    continue  # not an answer
                buf += data
                while True:
                    head, sep, rest = buf.partition(b"\n")
                    if not sep:
                        break
                    meta = json.loads(head)
                    size = int(meta["len"])
                    if len(rest) < size:
                        break
                    buf = rest[size:]
                    if int(meta["id"]) == 0:
                        said = rest[:size].decode(errors="replace").split()
                        self.builtins = frozenset(said)
                        self._ready.set()
                        continue
                    with self._lock:
                        fut = self._pending.pop(int(meta["id"]), None)
                    if fut is not None:
                        fut.set_result((int(meta["code"]), rest[:size]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # the stream ended, or is not halab-shell's
        finally:
            # what was left unread: the engine's reason when the exec could not start
            self._said = (self._said + buf)[-4096:]
            self._end()

    def _end(self) -> None:
        with self._lock:
            self.ended.set()
            self._ready.set()
            pending, self._pending = self._pending, {}
        for fut in pending.values():
            fut.set_result(GONE)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_RDWR)  # halab-shell sees its stdin end
        with contextlib.suppress(OSError):
            self._sock.close()
        self._end()


class NodeShell:
    """A node's command channel, made on first use and again for each run of the node."""

    def __init__(self, container: Container, states: ContainerStates | None = None) -> None:
        self.container = container
        self._states = states  # the lab's container states, from the engine's events
        self._channel: ShellChannel | None = None
        self._lock = threading.Lock()
        self._unavailable = False  # the image has no halab-shell: execs only

    def run(self, argv: Sequence[str]) -> tuple[int, bytes] | None:
        """(exit code, output) of argv run in the node, or None: run it with an exec (the
        node is not running, or no channel could be made or take it)."""
        return self._request({"argv": list(argv)})

    def builtin(self, name: str, arg: Any) -> tuple[int, bytes] | None:
        """(exit code, output) of one of halab-shell's builtins (``cat``, ``tar``: see
        halab-shell), or None: use a command (as for ``run``, or a halab-shell without it)."""
        return self._request({name: arg}, builtin=name)

    def _request(
        self, body: dict[str, Any], builtin: str | None = None
    ) -> tuple[int, bytes] | None:
        api = getattr(getattr(self.container, "client", None), "api", None)
        if self._unavailable or api is None:  # a container without an engine API: execs
            return None
        try:
            if self._states is not None:
                status, run = self._states.run(self.container)
            else:
                state = api.inspect_container(self.container.id)["State"]
                status, run = str(state.get("Status", "")), str(state.get("StartedAt", ""))
        except docker.errors.APIError:
            return None
        if status != "running":
            return None
        channel = self._channel_for(run)
        if channel is None or (builtin is not None and builtin not in channel.builtins):
            return None
        return channel.request(body)

    def _channel_for(self, started_at: str) -> ShellChannel | None:
        with self._lock:
            ch = self._channel
            if ch is not None and (ch.ended.is_set() or ch.started_at != started_at):
                ch.close()
                ch = self._channel = None
            if ch is None:
                try:
                    ch = self._channel = ShellChannel(self.container, started_at)
                except ShellUnavailable as exc:
                    # an image without halab-shell (made before it existed): execs only
                    if "not found" in str(exc) or "no such file" in str(exc).lower():
                        self._unavailable = True
                    return None
                except (docker.errors.APIError, OSError):
                    return None
            return ch

    def close(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
                self._channel = None

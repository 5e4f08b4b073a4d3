"""Each node's container state (running, paused, exited), kept from the engine's event stream
instead of asked for.

Every wait on a failover polls ``Lab.vip_holders()``, which counts only the balancers whose
container runs; ``Node.state()`` asked the engine (``docker inspect``) for each balancer at
each poll, 20 times a second. Measured under pytest-xdist (py-spy on four workers), those
inspects were 40 % of the CPU the test processes used, and the engine answered each one.
So a lab subscribes once to the engine's events for its containers (``/events`` filtered by
the lab's label and by the events that change a state) and keeps the last state each
event said; a state nobody has said yet is asked with an inspect, as before.

What a state read here is: the engine's own word, the same an inspect would have given,
as of the last event this process has read. The engine sends an event before it answers
the call that caused it (a pause, a start, a kill that waits for the exit), so the lag is
the time this process takes to read it: milliseconds. An inspect answered while an event
was being read is not kept (the event is newer), and once the stream ends (the engine
went away, the lab stopped) every read is an inspect again.

The node's command channel (``nodeshell``) asks here too, before each command, whether the
node runs and in which run: an inspect per command was most of the engine API calls a lab
test made (1577 of 1807 in tests/lab/test_engine_states.py), about 1.1 ms of this
process's CPU each, and the engine's.

The docker SDK is used directly: testcontainers has no event stream.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import docker.errors
from docker.models.containers import Container

from .labels import L_LAB

# event -> the state it leaves the container in (None: gone, ask again; the next inspect
# raises NotFound as it did before)
STATE_OF_EVENT: dict[str, str | None] = {
    "start": "running",
    "unpause": "running",
    "pause": "paused",
    "die": "exited",
    "destroy": None,
}


class ContainerStates:
    """The containers of one lab: their states, from the engine's events (see the module)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, str] = {}
        self._versions: dict[str, int] = {}  # events read per container
        self._runs: dict[str, str] = {}  # container -> a token of its current run
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self._live = False
        self._closed = False

    def state(self, container: Container) -> str:
        """The container's state (``docker inspect``'s ``State.Status``)."""
        with self._lock:
            if self._live and container.id in self._states:
                return self._states[container.id]
        return self.run(container)[0]

    def run(self, container: Container) -> tuple[str, str]:
        """The container's state and a token of its current run: the token changes with
        each start of the container (its ``StartedAt`` when asked, then one more mark per
        start event read), so a thing made for one run can tell it is stale."""
        cid = container.id
        with self._lock:
            if self._live and cid in self._states and cid in self._runs:
                return self._states[cid], self._runs[cid]
            version = self._versions.get(cid, 0)
        if not self._live:
            self._subscribe(container)
        container.reload()
        status = str(container.status)
        run = str((container.attrs.get("State") or {}).get("StartedAt", ""))
        with self._lock:
            if self._live and self._versions.get(cid, 0) == version:
                self._states[cid] = status
                self._runs[cid] = run
        return status, run

    def _subscribe(self, container: Container) -> None:
        """Open the lab's event stream once (the first container asked names the lab). The
        engine subscribes before it answers, so no event is missed after this returns."""
        lab = (container.labels or {}).get(L_LAB)
        with self._lock:
            if self._closed or self._thread is not None or lab is None:
                return
            self._thread = threading.Thread(target=self._read, name=f"states-{lab}", daemon=True)
        try:
            self._stream = container.client.api.events(
                decode=True,
                filters={
                    "type": "container",
                    "label": f"{L_LAB}={lab}",
                    "event": list(STATE_OF_EVENT),
                },
            )
        except docker.errors.DockerException:
            return  # no stream: every read stays an inspect
        with self._lock:
            self._live = not self._closed
        self._thread.start()

    def _read(self) -> None:
        try:
            for ev in self._stream:
                cid = ev.get("id") or (ev.get("Actor") or {}).get("ID")
                action = str(ev.get("Action") or ev.get("status") or "")
                if not cid or action not in STATE_OF_EVENT:
                    continue
                with self._lock:
                    version = self._versions[cid] = self._versions.get(cid, 0) + 1
                    state = STATE_OF_EVENT[action]
                    if state is None:
                        self._states.pop(cid, None)
                        self._runs.pop(cid, None)
                    else:
                        self._states[cid] = state
                    if action == "start":
                        self._runs[cid] = f"{self._runs.get(cid, '')}+{version}"
        except Exception:  # the stream broke or was closed: inspects from now on
            pass
        finally:
            with self._lock:
                self._live = False
                self._states.clear()

    def close(self) -> None:
        """End the stream (at the lab's stop). Reads go on, as inspects."""
        with self._lock:
            self._closed = True
            self._live = False
            self._states.clear()
            self._runs.clear()
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=2.0)

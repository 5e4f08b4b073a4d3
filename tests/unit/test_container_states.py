"""containerstates: node states kept from the engine's events, asked only when unknown."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from pytest_halab.containerstates import ContainerStates

END = object()


class Stream:
    """The engine's /events stream: what the test puts, until END or close()."""

    def __init__(self) -> None:
        self.events: queue.Queue[Any] = queue.Queue()
        self.closed = False

    def __iter__(self) -> Any:
        while True:
            ev = self.events.get()
            if ev is END or self.closed:
                return
            yield ev

    def close(self) -> None:
        self.closed = True
        self.events.put(END)


class Api:
    def __init__(self) -> None:
        self.stream = Stream()
        self.filters: Any = None

    def events(self, decode: bool, filters: Any) -> Stream:
        self.filters = filters
        return self.stream


class Client:
    def __init__(self) -> None:
        self.api = Api()


class Container:
    """What ContainerStates uses of docker's Container: id, labels, reload(), status."""

    def __init__(self, cid: str, client: Client, status: str = "running") -> None:
        self.id = cid
        self.labels = {"io.halab.lab": "hl1"}
        self.client = client
        self.engine_status = status  # what an inspect says
        self.engine_started = "t1"  # and its StartedAt
        self.status = "created"
        self.attrs: dict[str, Any] = {}
        self.inspects = 0
        self.during_inspect: Any = None

    def reload(self) -> None:
        self.inspects += 1
        if self.during_inspect is not None:
            self.during_inspect()
        self.status = self.engine_status
        self.attrs = {"State": {"Status": self.status, "StartedAt": self.engine_started}}


def event(cid: str, action: str) -> dict[str, Any]:
    return {"Type": "container", "Action": action, "id": cid, "Actor": {"ID": cid}}


def settle(states: ContainerStates, c: Container, want: str) -> None:
    deadline = time.monotonic() + 5
    while states.state(c) != want:
        assert time.monotonic() < deadline, f"still {states.state(c)}, wanted {want}"
        time.sleep(0.005)


def test_the_first_read_asks_then_events_answer() -> None:
    client = Client()
    c = Container("c1", client)
    states = ContainerStates()
    try:
        assert states.state(c) == "running" and c.inspects == 1
        assert client.api.filters["label"] == "io.halab.lab=hl1"
        assert set(client.api.filters["event"]) == {"start", "unpause", "pause", "die", "destroy"}
        for _ in range(10):
            assert states.state(c) == "running"
        assert c.inspects == 1
        c.engine_status = "paused"
        client.api.stream.events.put(event("c1", "pause"))
        settle(states, c, "paused")
        client.api.stream.events.put(event("c1", "unpause"))
        settle(states, c, "running")
        client.api.stream.events.put(event("c1", "die"))
        settle(states, c, "exited")
        assert c.inspects == 1
    finally:
        states.close()


def test_an_inspect_answered_while_an_event_came_is_not_kept() -> None:
    """The event is newer than what the inspect said: the next read asks again."""
    client = Client()
    c = Container("c1", client, status="running")
    states = ContainerStates()
    arrived = threading.Event()

    def pause_meanwhile() -> None:
        c.during_inspect = None
        client.api.stream.events.put(event("c1", "pause"))
        deadline = time.monotonic() + 5
        while not states._versions.get("c1"):  # the reader has applied it
            assert time.monotonic() < deadline
            time.sleep(0.002)
        arrived.set()

    c.during_inspect = pause_meanwhile
    try:
        assert states.state(c) == "running"  # what the inspect said, returned
        assert arrived.is_set()
        assert states.state(c) == "paused"  # the event's word, not the older inspect's
    finally:
        states.close()


def test_a_destroyed_container_is_asked_again() -> None:
    client = Client()
    c = Container("c1", client)
    states = ContainerStates()
    try:
        assert states.state(c) == "running"
        client.api.stream.events.put(event("c1", "destroy"))
        deadline = time.monotonic() + 5
        while "c1" in states._states:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        c.engine_status = "removing"
        assert states.state(c) == "removing" and c.inspects == 2
    finally:
        states.close()


def test_once_the_stream_ends_every_read_asks() -> None:
    client = Client()
    c = Container("c1", client)
    states = ContainerStates()
    assert states.state(c) == "running"
    client.api.stream.events.put(END)  # the engine went away
    deadline = time.monotonic() + 5
    while states._live:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    c.engine_status = "exited"
    assert states.state(c) == "exited" and states.state(c) == "exited"
    assert c.inspects == 3
    states.close()


def test_close_ends_the_reader_and_reads_go_on() -> None:
    client = Client()
    c = Container("c1", client)
    states = ContainerStates()
    assert states.state(c) == "running"
    thread = states._thread
    states.close()
    assert thread is not None and not thread.is_alive()
    assert client.api.stream.closed
    assert states.state(c) == "running" and c.inspects == 2  # asked: no stream any more


def test_a_run_token_changes_with_each_start_and_only_then() -> None:
    client = Client()
    c = Container("c1", client)
    states = ContainerStates()
    try:
        assert states.run(c) == ("running", "t1") and c.inspects == 1
        for action, want in (("pause", "paused"), ("unpause", "running")):
            client.api.stream.events.put(event("c1", action))
            settle(states, c, want)
            assert states.run(c)[1] == "t1"  # the same run
        client.api.stream.events.put(event("c1", "die"))
        settle(states, c, "exited")
        assert states.run(c)[1] == "t1"
        client.api.stream.events.put(event("c1", "start"))
        settle(states, c, "running")
        second = states.run(c)[1]
        client.api.stream.events.put(event("c1", "die"))
        client.api.stream.events.put(event("c1", "start"))
        deadline = time.monotonic() + 5
        while states.run(c)[1] == second:
            assert time.monotonic() < deadline
            time.sleep(0.002)
        assert len({"t1", second, states.run(c)[1]}) == 3
        assert c.inspects == 1  # all from the events
    finally:
        states.close()

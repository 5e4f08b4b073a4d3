"""What the checker's tests share: a configuration read from text, a forwarding plane that
records what it is asked to serve, an event log the test can wait on, and local servers
that can be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pytest_halab.vrrp.check.model import VirtualServerSpec, build_model
from pytest_halab.vrrp.check.pool import Service
from pytest_halab.vrrp.check.probe import Attempt
from pytest_halab.vrrp.check.runner import Runner
from pytest_halab.vrrp.conf import KeepalivedConfig, load_config
from pytest_halab.vrrp.eventlog import EventLog

WAIT = 10.0  # bound of every wait: generous, never a measure


def config(tmp_path: Path, text: str) -> KeepalivedConfig:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    cfg, diags = load_config(path, interfaces={"lo": True}, check_scripts=False)
    # keepalived's warnings (counted as errors, as keepalived counts them) are not what
    # these tests look at
    errors = [
        d
        for d in diags
        if "SECURITY" not in d.message and "Warning" not in d.message and "WARNING" not in d.message
    ]
    assert not [d for d in errors if d.kind not in ("syslog",)], errors
    return cfg


def model(tmp_path: Path, text: str) -> list[VirtualServerSpec]:
    return build_model(config(tmp_path, text))


class RecordingPlane:
    """A forwarding plane that keeps every state it was given."""

    name = "recorder"

    def __init__(self, refuse: Callable[[Service], str | None] | None = None) -> None:
        self.applied: list[list[Service]] = []
        self.cleared = 0
        self._refuse = refuse

    def refusal(self, service: Service) -> str | None:
        return self._refuse(service) if self._refuse else None

    def approximations(self, service: Service) -> list[str]:
        return []

    def apply(self, services: Sequence[Service]) -> None:
        self.applied.append(list(services))

    def clear(self) -> None:
        self.cleared += 1

    def pool(self, name: str) -> dict[tuple[str, int], int] | None:
        """The last pool of service `name`: (ip, port) -> weight."""
        if not self.applied:
            return None
        for service in self.applied[-1]:
            if service.name == name:
                return {(d.ip, d.port): d.weight for d in service.destinations}
        return None


class RecordingEvents(EventLog):
    """An EventLog that keeps its events, and wakes whoever waits on them."""

    def __init__(self) -> None:
        super().__init__(None)
        self.records: list[dict[str, Any]] = []
        self._changed: asyncio.Event | None = None

    def emit(self, event: str, instance: str | None, **fields: Any) -> dict[str, Any]:
        record = super().emit(event, instance, **fields)
        self.records.append(record)
        if self._changed is not None:
            self._changed.set()
        return record

    def of(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records
            if r["event"] == event and all(r.get(k) == v for k, v in match.items())
        ]

    async def wait_for(self, event: str, count: int = 1, **match: Any) -> list[dict[str, Any]]:
        """The events matching, once there are `count` of them; fails after WAIT s."""
        if self._changed is None:
            self._changed = asyncio.Event()
        deadline = time.monotonic() + WAIT
        while len(found := self.of(event, **match)) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {count} x {event} {match} in {self.records}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return found


async def until(check: Callable[[], bool], what: str | Callable[[], str]) -> None:
    """Wait (bounded) for a condition that is not an event (a file a script writes).
    `what` may be a function: what it says at the timeout (the state then)."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out waiting for {said}")
        await asyncio.sleep(0.02)


class Backend:
    """A TCP server on 127.0.0.1 that can be stopped and started on the same port;
    `handler` serves each connection (default: close it)."""

    def __init__(self, handler: Callable[..., Any] | None = None) -> None:
        self.handler = handler
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.handler is not None:
            await self.handler(reader, writer)
        writer.close()

    async def start(self, ssl: Any = None) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True, ssl=ssl
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class AttemptLog:
    """Every attempt of every checker of a runner, in order: (rs, ok, monotonic time)."""

    def __init__(self, runner: Runner) -> None:
        self.entries: list[tuple[str, bool, float]] = []
        for run in runner.checkers:
            self._wrap(run.probe, run.rs.name)

    def _wrap(self, probe: Any, name: str) -> None:
        for method in ("attempt", "attempt_url"):
            inner = getattr(probe, method, None)
            if inner is None:
                continue

            async def recorded(*args: Any, _inner: Any = inner) -> Attempt:
                result: Attempt = await _inner(*args)
                self.entries.append((name, result.ok, time.monotonic()))
                return result

            setattr(probe, method, recorded)

    def of(self, name: str) -> list[tuple[bool, float]]:
        return [(ok, t) for n, ok, t in self.entries if n == name]


class LogLines(logging.Handler):
    """The daemon's log lines, as keepalived would write them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def __enter__(self) -> LogLines:
        logger = logging.getLogger("halab-vrrpd")
        self._level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger("halab-vrrpd")
        logger.removeHandler(self)
        logger.setLevel(self._level)

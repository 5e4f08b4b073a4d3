"""The checker's scheduler (keepalived 2.2.7's checker threads, on asyncio): each checker
runs every delay_loop; after a failure it retries `retry` times, delay_before_retry apart,
and only when these all fail is its real server marked down; one success brings it back
(HTTP_GET and SSL_GET: one success of the url that failed, then one of every url, as
keepalived's check_http.c walks them). A checker starts up (its real server in the pool)
unless `alpha`; then it starts down until its first success. A real server with several
checkers is up only while all are up.

At start, one failure is enough (keepalived's retry_it starts at `retry`). Each checker
starts one second (keepalived's BOOTSTRAP_DELAY) plus a random part of its `warmup`
after the start. Every change of state logs keepalived's line, emits an event, and the
changes of one loop iteration reach the plane as one apply() of every service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..eventlog import EventLog
from .conn import CheckerRefused
from .model import CheckerSpec, VirtualServerSpec
from .pool import ForwardingPlane, PlaneError, Service
from .pools import Pools, RsState, VsState
from .probe import Attempt, Probe
from .probes import build_probe
from .reload import migrate
from .scripts import ScriptRunner

__all__ = ["BOOTSTRAP_DELAY", "CheckerRun", "Runner"]

log = logging.getLogger("halab-vrrpd")

BOOTSTRAP_DELAY = 1.0


@dataclass
class CheckerRun:
    """One checker's state (keepalived's checker_t): up or not, whether it has run, its
    retry count, its share of its server's weight (MISC_CHECK misc_dynamic), and for
    HTTP the url it is at and the url that failed."""

    spec: CheckerSpec
    probe: Probe
    rs: RsState
    is_up: bool = True
    has_run: bool = False
    retry_it: int = 0
    cur_weight: int = 0
    enabled: bool = True
    url_it: int = 0
    failed_url: int | None = None

    @property
    def kind(self) -> str:
        return self.spec.kind


class Runner:
    """Runs every checker of `model` and keeps `plane` serving the result."""

    def __init__(
        self,
        model: list[VirtualServerSpec],
        plane: ForwardingPlane,
        events: EventLog,
        scripts: ScriptRunner | None = None,
        *,
        log_all_failures: bool = False,
        bootstrap_delay: float = BOOTSTRAP_DELAY,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.plane = plane
        self.events = events
        self.scripts = scripts or ScriptRunner()
        self.pools = Pools(model, events, self.scripts)
        self.log_all_failures = log_all_failures
        self.bootstrap_delay = bootstrap_delay
        self.rng = rng
        self.checkers: list[CheckerRun] = []
        self.refused: set[str] = set()
        self.approximations: list[str] = []  # what the plane runs in place of the config's
        self._applied: dict[str, tuple[Service, ...]] = {}
        # told what the plane serves after each apply (the ipvsadm view's file)
        self.on_applied: Callable[[list[Service]], None] | None = None
        self._flush_pending = False
        self._tasks: list[asyncio.Task[None]] = []
        for vs in self.pools.servers:
            for rs in vs.servers:
                self._add_checkers(rs)

    def _add_checkers(self, rs: RsState) -> None:
        for spec in rs.spec.checkers:
            try:
                probe = build_probe(spec)
            except CheckerRefused as exc:
                log.info("%s", exc)
                continue
            if probe is None:
                log.info(
                    "%s for service %s of VS %s is not supported - ignoring",
                    spec.kind,
                    rs.name,
                    rs.vs.name,
                )
                continue
            if hasattr(probe, "runner"):
                probe.runner = self.scripts
            if spec.kind in ("HTTP_GET", "SSL_GET") and not getattr(probe, "urls", None):
                continue  # keepalived: "HTTP/SSL_GET checker has no urls specified"
            run = CheckerRun(spec, probe, rs, retry_it=spec.retry)
            if spec.alpha:  # alpha: down until the first success
                run.is_up = False
                rs.num_failed_checkers += 1
            self.checkers.append(run)

    # -- running
    def start(self, reloaded_from: Runner | None = None) -> None:
        """Initial pools (or those `reloaded_from` leaves: :mod:`.reload`), the plane's
        first state, then every checker's task."""
        if reloaded_from is None:
            self.pools.start()
        else:
            migrate(self, reloaded_from)
        for vs in self.pools.servers:
            for service in self.pools.services(vs):
                reason = self.plane.refusal(service)
                if reason is not None:
                    log.info(
                        "VS %s cannot be served by %s: %s", service.name, self.plane.name, reason
                    )
                    self.refused.add(service.name)
                    continue
                for note in self.plane.approximations(service):
                    log.info("VS %s on %s: %s", service.name, self.plane.name, note)
                    self.approximations.append(f"{service.name}: {note}")
        self.flush()
        loop = asyncio.get_running_loop()
        for run in self.checkers:
            log.info(
                "%sctivating healthchecker for service %s for VS %s",
                "A" if run.enabled else "Dea",
                run.rs.name,
                run.rs.vs.name,
            )
            self._tasks.append(loop.create_task(self._loop(run)))

    def inherit_applied(self, old: Runner) -> None:
        """What `old` has the plane serve: only pools that differ are applied and told."""
        self._applied = dict(old._applied)

    async def halt(self) -> None:
        """Stop every checker (a check script under way is killed) and leave the pools and
        the plane as they are: a reload carries them on.

        A cancellation can be lost: Python 3.11's ``asyncio.wait_for`` (a check script's
        wait) returns the result when its awaitable ends as it is cancelled, and that
        checker then runs on. So it is cancelled again until it has ended."""
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.5)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()
        self._tasks.clear()

    async def stop(self) -> None:
        """Stop every checker, shut the pools down as keepalived does, clear the plane."""
        await self.halt()
        self.pools.stop()
        try:
            self.plane.clear()
        except PlaneError as exc:
            log.info("Clearing %s failed: %s", self.plane.name, exc)
        await self.scripts.drain()

    async def _loop(self, run: CheckerRun) -> None:
        warmup = run.spec.warmup * self.rng() if run.spec.warmup else 0.0
        await asyncio.sleep(self.bootstrap_delay + warmup)
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if not self._enabled(run):
                delay = run.spec.delay_loop
            elif run.kind in ("HTTP_GET", "SSL_GET"):
                delay = await self._http_step(run)
            elif run.kind == "MISC_CHECK":
                delay = await self._misc_step(run)
                # keepalived times the next run from this one's start
                delay = max(started + delay - loop.time(), 1e-6)
            else:
                delay = await self._generic_step(run)
            self.changed()
            await asyncio.sleep(delay)

    def _enabled(self, run: CheckerRun) -> bool:
        """ha_suspend: a checker runs only while its virtual address is on this host."""
        spec = run.rs.vs.spec
        if not spec.ha_suspend or spec.ip is None:
            return True
        local = _is_local(spec.ip, spec.family)
        if local != run.enabled:
            log.info(
                "%sing healthchecker for service %s for VS %s",
                "Activat" if local else "Suspend",
                run.rs.name,
                run.rs.vs.name,
            )
            run.enabled = local
        return local

    # -- keepalived's epilogs
    def _log_failure(self, run: CheckerRun, attempt: Attempt) -> None:
        if run.is_up and (self.log_all_failures or run.spec.log_all_failures):
            log.info("%s", attempt.detail)

    async def _generic_step(self, run: CheckerRun) -> float:
        """TCP_CHECK's epilog (and the checkers that share its shape)."""
        attempt = await run.probe.attempt()
        if not attempt.ok:
            self._log_failure(run, attempt)
        spec = run.spec
        if attempt.ok or run.retry_it >= spec.retry:
            delay = spec.delay_loop
            run.retry_it = 0
            if attempt.ok and (not run.is_up or not run.has_run):
                line = _up_line(run)
                log.info("%s", line)
                self.checker_state(run, True, line)
            elif not attempt.ok and (run.is_up or not run.has_run):
                retries = spec.retry if spec.retry and run.has_run else None
                line = _down_line(run, retries)
                log.info("%s", line)
                self.checker_state(run, False, line)
        else:
            delay = spec.delay_before_retry
            run.retry_it += 1
        run.has_run = True
        return delay

    async def _misc_step(self, run: CheckerRun) -> float:
        """MISC_CHECK's misc_check_child_thread."""
        attempt = await run.probe.attempt()
        spec, rs = run.spec, run.rs
        logs_all = self.log_all_failures or spec.log_all_failures
        what: str | None = None
        success = message_only = False
        if attempt.ok:
            cur = attempt.weight - rs.spec.weight if attempt.weight is not None else 0
            if cur != run.cur_weight:
                weight = rs.effective_weight - run.cur_weight + cur
                run.cur_weight = cur
                self.pools.set_weight(rs, weight, update_quorum=True)
            if not run.is_up or not run.has_run:
                what, success = "succeeded", True
            run.retry_it = 0
        elif run.is_up or not run.has_run:
            what = "failed"
            if run.retry_it < spec.retry:
                run.retry_it += 1
                if logs_all:
                    message_only = True
                else:
                    what = None
            else:
                run.retry_it = 0
                if not attempt.detail.startswith(("timed out", "failed (due to signal")):
                    rs.effective_weight -= run.cur_weight
                    run.cur_weight = 0
        if what is not None:
            suffix = "" if success else _misc_suffix(spec.retry, run.retry_it)
            line_of = getattr(run.probe, "line", None)
            line = line_of(attempt, suffix) if line_of else attempt.detail
            log.info("%s", line)
            if not message_only:
                self.checker_state(run, success, line)
                if not success:
                    run.cur_weight = 0
        run.has_run = True
        return spec.delay_before_retry if run.retry_it else spec.delay_loop

    async def _http_step(self, run: CheckerRun) -> float:
        """check_http.c: one url per connection; epilog() and timeout_epilog()."""
        urls: Sequence[object] = getattr(run.probe, "urls", ())
        attempt: Attempt = await run.probe.attempt_url(run.url_it)  # type: ignore[attr-defined]
        if attempt.ok:
            if not run.is_up:
                log.info("%s", attempt.detail)
            return self._http_epilog(run, "new", len(urls))
        if run.is_up or not run.has_run:
            self._log_failure(run, attempt)
            run.has_run = True
            return self._http_epilog(run, "retry", len(urls))
        return self._http_epilog(run, "failed", len(urls))

    def _http_epilog(self, run: CheckerRun, method: str, url_count: int) -> float:
        spec = run.spec
        at_end = False
        if method == "new":
            run.url_it += 1
            at_end = run.url_it >= url_count
            run.retry_it = 0
        elif method == "retry":
            run.retry_it += 1
        if method == "new" and at_end and run.failed_url is None:
            if not run.is_up or not run.has_run:
                line = _up_line(run)
                log.info("%s", line)
                self.checker_state(run, True, line)
                run.has_run = True
            run.url_it = 0
            run.retry_it = 0
        elif method == "retry" and run.retry_it > spec.retry:
            if run.is_up or not run.has_run:
                retries = run.retry_it - 1 if run.has_run and spec.retry else None
                line = _down_line(run, retries)
                log.info("%s", line)
                self.checker_state(run, False, line)
            run.failed_url = run.url_it
        elif method == "new" and run.failed_url is not None:
            run.failed_url = None
            run.url_it = 0
            run.retry_it = 0
        if method == "new":
            if not run.has_run:
                run.retry_it = spec.retry
            return spec.delay_loop
        if run.failed_url is not None:
            return max(spec.delay_before_retry, spec.delay_loop)
        return spec.delay_before_retry

    # -- a checker up or down (update_svr_checker_state, set_checker_state)
    def checker_state(self, run: CheckerRun, alive: bool, detail: str) -> None:
        rs = run.rs
        if run.is_up == alive:
            if not run.has_run:
                if run.spec.alpha or not alive:
                    self.pools.rs_notify(rs)
                run.has_run = True
            return
        run.has_run = True
        if alive:
            if rs.num_failed_checkers <= 1:
                self.pools.set_alive(rs, True, run.kind, detail)
        elif rs.num_failed_checkers == 0:
            self.pools.set_alive(rs, False, run.kind, detail)
        run.is_up = alive
        if not alive:
            rs.num_failed_checkers += 1
        elif rs.num_failed_checkers:
            rs.num_failed_checkers -= 1

    # -- the plane
    def changed(self) -> None:
        """Something may have changed: apply once, after this loop iteration."""
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Apply every service when any pool differs from what the plane serves."""
        self._flush_pending = False
        wanted: dict[str, tuple[Service, ...]] = {}
        pools: dict[str, VsState] = {}
        for vs in self.pools.servers:
            services = tuple(s for s in self.pools.services(vs) if s.name not in self.refused)
            wanted[vs.name] = services
            pools[vs.name] = vs
        if wanted == self._applied:
            return
        serving = [s for services in wanted.values() for s in services]
        try:
            self.plane.apply(serving)
        except PlaneError as exc:
            log.info("%s refused the new pools: %s", self.plane.name, exc)
            return
        if self.on_applied is not None:
            self.on_applied(serving)
        previous, self._applied = self._applied, wanted
        for name, services in wanted.items():
            if previous.get(name) == services:
                continue
            destinations = [
                {"rs": rs_name, "weight": dest.weight}
                for rs_name, dest in self.pools.destinations(pools[name])
            ]
            self.events.emit(
                "pool", None, vs=name, plane=self.plane.name, destinations=destinations
            )


def _up_line(run: CheckerRun) -> str:
    up_line = getattr(run.probe, "up_line", None)
    if up_line is not None:
        return str(up_line(run.rs.name))
    return f"{run.kind} on service {run.rs.name} succeeded."


def _down_line(run: CheckerRun, retries: int | None) -> str:
    down_line = getattr(run.probe, "down_line", None)
    if down_line is not None:
        return str(down_line(run.rs.name, retries))
    after = f" after {retries} retries" if retries else ""
    return f"{run.kind} on service {run.rs.name} failed{after}."


def _misc_suffix(retry: int, retry_it: int) -> str:
    """What keepalived's MISC_CHECK line says of its retries."""
    if not retry:
        return " with retry disabled"
    if retry_it == 1:
        return f", will do {retry} {'retry' if retry == 1 else 'retries'}"
    if retry_it > 1:
        return f" on retry {retry_it - 1}/{retry}"
    return f" after {retry} {'retry' if retry == 1 else 'retries'}"


def _is_local(ip: str, family: int) -> bool:
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((ip, 0))
        except OSError:
            return False
    return True

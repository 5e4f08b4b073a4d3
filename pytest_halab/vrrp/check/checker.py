"""halab-vrrpd's checker process (keepalived's ``--check``): the runtime model of the
configuration's virtual servers, their checkers run until stopped, the forwarding plane
kept in step, and keepalived's shutdown (every service shut down, the plane cleared,
``Stopped``)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

from ..conf.model import KeepalivedConfig
from ..eventlog import EventLog
from .model import build_model
from .pool import ForwardingPlane, Service
from .runner import BOOTSTRAP_DELAY, Runner
from .scripts import ScriptRunner

__all__ = ["run_checker"]

log = logging.getLogger("halab-vrrpd")


async def run_checker(
    config: KeepalivedConfig,
    plane: ForwardingPlane,
    events: EventLog,
    stop: asyncio.Event | None = None,
    *,
    bootstrap_delay: float = BOOTSTRAP_DELAY,
    on_start: Callable[[list[str], list[str]], None] | None = None,
    reload: Callable[[], KeepalivedConfig | None] | None = None,
    reload_requested: asyncio.Event | None = None,
    on_applied: Callable[[list[Service]], None] | None = None,
) -> int:
    """Run the checkers of `config`'s virtual servers until `stop` is set (or, without
    one, until SIGTERM/SIGINT when run in the main thread), then shut down as keepalived
    does. Returns the exit status (0). `on_start` is told, once the first pools are
    applied (and again after each reload), what the plane approximates and which services
    it refused; `on_applied`, after each apply, what the plane serves. With `reload`
    (which reads the configuration again: None when it cannot be read, and the checker
    goes on as it was), `reload_requested` or SIGHUP reloads it (:mod:`.reload`)."""

    def make_runner(cfg: KeepalivedConfig) -> Runner:
        gd = cfg.global_defs
        log_all = (gd.options.get("checker_log_all_failures") or ["true"])[0] == "true" and (
            "checker_log_all_failures" in gd.options
        )
        made = Runner(
            build_model(cfg),
            plane,
            events,
            ScriptRunner(gd.script_user, gd.script_group),
            log_all_failures=log_all,
            bootstrap_delay=bootstrap_delay,
        )
        made.on_applied = on_applied
        return made

    runner = make_runner(config)
    if stop is None:
        stop = asyncio.Event()
    if reload_requested is None:
        reload_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        wanted = [(signal.SIGTERM, stop.set), (signal.SIGINT, stop.set)]
        if reload is not None:
            wanted.append((signal.SIGHUP, reload_requested.set))
        for sig, handler in wanted:
            try:
                loop.add_signal_handler(sig, handler)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            handled.append(sig)
        if signal.SIGHUP in handled:
            # blocked from the process's start (a reload asked for while it read its
            # configuration would have killed it): delivered now, to the handler
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    try:
        runner.start()
        if on_start is not None:
            on_start(list(runner.approximations), sorted(runner.refused))
        while not stop.is_set():
            waits = [loop.create_task(stop.wait()), loop.create_task(reload_requested.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
            if stop.is_set() or reload is None:
                continue
            reload_requested.clear()
            log.info("Reloading")
            cfg = reload()
            if cfg is None:
                log.info("Reload abandoned: the checker goes on with the configuration it had")
                continue
            new = make_runner(cfg)
            await runner.halt()
            await runner.scripts.drain(timeout=0)  # keepalived ends every script it runs
            old, runner = runner, new
            runner.start(reloaded_from=old)
            events.emit("reload", None, virtual_servers=len(runner.pools.servers))
            if on_start is not None:
                on_start(list(runner.approximations), sorted(runner.refused))
    finally:
        await runner.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)
        log.info("Stopped")
    return 0

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
from .pool import ForwardingPlane
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
) -> int:
    """Run the checkers of `config`'s virtual servers until `stop` is set (or, without
    one, until SIGTERM/SIGINT when run in the main thread), then shut down as keepalived
    does. Returns the exit status (0). `on_start` is told, once the first pools are
    applied, what the plane approximates and which services it refused."""
    gd = config.global_defs
    log_all = (gd.options.get("checker_log_all_failures") or ["true"])[0] == "true" and (
        "checker_log_all_failures" in gd.options
    )
    runner = Runner(
        build_model(config),
        plane,
        events,
        ScriptRunner(gd.script_user, gd.script_group),
        log_all_failures=log_all,
        bootstrap_delay=bootstrap_delay,
    )
    if stop is None:
        stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            handled.append(sig)
    try:
        runner.start()
        if on_start is not None:
            on_start(list(runner.approximations), sorted(runner.refused))
        await stop.wait()
    finally:
        await runner.stop()
        for sig in handled:
            loop.remove_signal_handler(sig)
        log.info("Stopped")
    return 0

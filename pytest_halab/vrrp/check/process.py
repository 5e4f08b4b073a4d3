"""The checker as a process (keepalived's ``--check`` child): read the configuration,
choose the forwarding plane, run the health checks until SIGTERM/SIGINT; SIGHUP reads the
configuration again and carries the checkers' state into it (:mod:`.reload`).

halab-vrrpd runs it three ways, as keepalived runs its halves: ``--check`` (this process
only), ``--vrrp`` (none of it), or neither flag, where the VRRP process starts it as a
child (:func:`spawn`) when the configuration has virtual servers.

At start it writes what it runs to ``STATUS_FILE`` (JSON: the plane, why that plane, the
approximations it makes, the services it refused), which the lab's status shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..eventlog import EventLog

if TYPE_CHECKING:
    from ..conf.model import KeepalivedConfig
    from .pool import Service

__all__ = ["PROCESS_NAME", "STATUS_FILE", "run", "spawn"]

log = logging.getLogger("halab-vrrpd")

PROCESS_NAME = "halab-checker"
STATUS_FILE = "/run/halab/checker.json"
_PR_SET_PDEATHSIG = 1


def run(
    conf: str, events: EventLog, config_id: str | None = None, *, all_config: bool = False
) -> int:
    """Run the checker until SIGTERM/SIGINT; the exit status. `all_config` is -e."""
    from .checker import run_checker
    from .ipvsview import POOL_FILE, write_pools
    from .planes import reason as plane_reason
    from .planes import select_plane
    from .pool import PlaneError

    cfg = _read(conf, config_id, all_config)
    if cfg is None:
        return 1
    try:
        plane, reason = select_plane(), plane_reason()
    except PlaneError as exc:
        log.error("No forwarding plane: %s", exc)
        return 1
    log.info("Forwarding plane: %s", reason)
    events.emit("checker_start", None, plane=plane.name, reason=reason)

    def started(approximations: list[str], refused: list[str]) -> None:
        status = {
            "plane": plane.name,
            "reason": reason,
            "pid": os.getpid(),
            "approximations": approximations,
            "refused": refused,
        }
        with contextlib.suppress(OSError):
            os.makedirs(os.path.dirname(STATUS_FILE), exist_ok=True)
            with open(STATUS_FILE + ".new", "w", encoding="utf-8") as fh:
                json.dump(status, fh)
            os.replace(STATUS_FILE + ".new", STATUS_FILE)

    def applied(services: list[Service]) -> None:
        write_pools(POOL_FILE, plane.name, services)

    try:
        return asyncio.run(
            run_checker(
                cfg,
                plane,
                events,
                on_start=started,
                reload=lambda: _read(conf, config_id, all_config),
                on_applied=applied,
            )
        )
    finally:
        # the plane's table goes with the checker: ipvsadm then shows an empty table, as on
        # a host whose keepalived stopped (IP_VS stays loaded there)
        with contextlib.suppress(OSError):
            write_pools(POOL_FILE, plane.name, [])


def _read(conf: str, config_id: str | None, all_config: bool) -> KeepalivedConfig | None:
    """The configuration, its diagnostics logged; None when its file cannot be read."""
    from ..conf import load_config

    cfg, diags = load_config(conf, config_id=config_id, resolve_hosts=True, all_config=all_config)
    for diag in diags:
        level = logging.WARNING if diag.severity == "warning" else logging.ERROR
        log.log(level, "%s", diag)
    if any(d.kind == "file_not_found" for d in diags):
        return None
    return cfg


def spawn(argv: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start the checker as a child of the VRRP process (keepalived's checker child), with
    `argv` the flags it shares with its parent; it dies with its parent (PR_SET_PDEATHSIG).
    """

    def die_with_parent() -> None:
        with contextlib.suppress(ImportError, OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return subprocess.Popen(
        [PROCESS_NAME, "-m", "pytest_halab.vrrp", "--check", *argv],
        executable=sys.executable,
        preexec_fn=die_with_parent,
        close_fds=True,
    )

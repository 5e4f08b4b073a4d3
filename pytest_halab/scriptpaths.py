"""The scripts a balancer's keepalived.conf runs, and where they come from. Pure.

A script keepalived runs is a track script (``vrrp_script``'s ``script``) or a notify
script (``notify_master``, ``notify_backup``, ``notify_fault``, ``notify_stop``,
``notify``, ``notify_master_rx_lower_pri``, ``notify_deleted``, of an instance or a sync
group). In a lab, a script named by an absolute path comes from the topology's files, or
from the balancer image (`IMAGE_SCRIPTS`, and the system's own programs): anything else
is a path that does not exist in the node, which topology load refuses (keepalived would
quietly disable a track script and never run a notify script).

The lab wraps each notify script the topology ships (`notify_wrapper`): the engine runs
the wrapper at the user's path, which runs the user's file unchanged and records the
invocation (arguments, exit status, duration) as a timeline event.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from .timeline import Event, EventKind, json_record
from .vrrp.conf.model import INSTANCE_NOTIFY_KEYWORDS, KeepalivedConfig, NotifyScript

__all__ = [
    "IMAGE_SCRIPTS",
    "NOTIFY_KEYWORDS",
    "NOTIFY_REAL_DIR",
    "SCRIPT_EVENTS",
    "ScriptUse",
    "notify_wrapper",
    "provided",
    "script_event",
    "script_uses",
]

# Scripts the balancer image provides (lab/images/balancer/Dockerfile); a lab test checks
# each is there and executable in a running balancer. The seeds' own scripts are not among
# them: a topology ships them as its files, as the users wrote them.
IMAGE_SCRIPTS = frozenset({"/etc/keepalived/check_nginx.sh"})
# Directories whose programs come with the image's Debian packages.
SYSTEM_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/lib/", "/usr/libexec/")
NOTIFY_KEYWORDS = INSTANCE_NOTIFY_KEYWORDS
# where the lab keeps the user's notify script when it wraps it, and the wrapper's log
NOTIFY_REAL_DIR = "/etc/halab/notify"
SCRIPT_EVENTS = "/var/log/halab/script-events.jsonl"
RUN_NOTIFY = "/usr/local/lib/halab/run-notify"


@dataclass(frozen=True)
class ScriptUse:
    """One script a keepalived.conf names: its program (`path`), the keyword and the
    block (instance, sync group or vrrp_script) naming it, and the line."""

    path: str
    keyword: str
    owner: str
    line: int

    @property
    def notify(self) -> bool:
        """A notify script (run on a change, the lab wraps it), not a check."""
        return self.keyword not in ("script", "misc_path")


def script_uses(cfg: KeepalivedConfig) -> Iterator[ScriptUse]:
    for name, scr in cfg.scripts.items():
        if scr.script:
            try:
                words = shlex.split(scr.script)
            except ValueError:
                words = scr.script.split()
            if words:
                yield ScriptUse(words[0], "script", name, scr.line)
    blocks: list[tuple[str, object]] = [*cfg.instances.items(), *cfg.sync_groups.items()]
    for owner, block in blocks:
        for kw in NOTIFY_KEYWORDS:
            ns = getattr(block, kw, None)
            if isinstance(ns, NotifyScript) and ns.path:
                yield ScriptUse(ns.path, kw, owner, ns.line)
    # the checker's: quorum_up/down of a virtual server, notify_up/down and misc_path of
    # its real servers (the checker's notifies are notifies too; a MISC_CHECK is a check)
    for vs in cfg.virtual_servers:
        vs_name = f"virtual_server {vs.address} {vs.port or ''}".strip()
        for ns in vs.notify_scripts:
            yield ScriptUse(ns.path, "quorum notify", vs_name, ns.line)
        for rs in vs.real_servers:
            for ns in rs.notify_scripts:
                yield ScriptUse(ns.path, "real_server notify", vs_name, ns.line)
            for ns in rs.misc_scripts:
                yield ScriptUse(ns.path, "misc_path", vs_name, ns.line)


def provided(path: str, node_files: set[str] | frozenset[str]) -> bool | None:
    """Whether the node will have `path`: True (the topology's files, the image), False
    (an absolute path nothing provides), None (a command found on PATH: not judged)."""
    if not path.startswith("/"):
        return None
    return path in node_files or path in IMAGE_SCRIPTS or path.startswith(SYSTEM_DIRS)


def notify_wrapper(path: str) -> bytes:
    """What the lab puts at a notify script's path: a one-line script handing the user's
    file (kept under NOTIFY_REAL_DIR) and the engine's arguments to run-notify, which
    runs it unchanged (as ``$0`` its own path, for sh and bash scripts) and records it."""
    real = NOTIFY_REAL_DIR + path
    return (
        "#!/bin/sh\n"
        "# halab: runs the topology's notify script (kept unchanged in "
        f"{shlex.quote(real)}) and records the run\n"
        f'exec {RUN_NOTIFY} {shlex.quote(path)} {shlex.quote(real)} "$@"\n'
    ).encode()


def script_event(line: bytes, node: str) -> Event | None:
    """One line of run-notify's log as a timeline event of kind ``script``: `script` (the
    path the config names), `args`, `exit_status` (negative: killed by that signal),
    `duration_ms`; stamped when the script started. None when the line is not one."""
    record = json_record(line)
    if record is None or record.pop("event", None) != "script":
        return None
    ts_us = record.pop("ts", None)
    if isinstance(ts_us, bool) or not isinstance(ts_us, int):
        return None
    if not isinstance(record.get("script"), str):
        return None
    return Event(ts=ts_us / 1_000_000, node=node, kind=EventKind.SCRIPT.value, data=record)

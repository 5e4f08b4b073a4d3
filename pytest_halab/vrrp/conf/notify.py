"""Notify-type scripts as keepalived 2.2.7 reads them (lib/notify.c notify_script_init).

``notify_master``, ``notify_backup``, ``notify_fault``, ``notify_stop``, ``notify``,
``notify_master_rx_lower_pri`` and ``notify_deleted`` (in a vrrp_instance; the first five
in a vrrp_sync_group too), and in global_defs ``startup_script``, ``shutdown_script`` and
the ``*notify_fifo_script`` keywords, are all read the same way:

- the whole line is split again, with keepalived's quotes (``"..."`` and ``'...'``) and
  backslash escapes (`split_quoted_escaped`);
- its second word is the command, itself split the same way into the argv the script is
  run with: ``"/etc/keepalived/n.sh backup"`` runs ``n.sh`` with the argument ``backup``;
- a third word is the user the script runs as, a fourth that user's group; a fifth and
  any further word are ignored without a word;
- a user or group that does not exist drops the script: keepalived logs
  ``Invalid user/group for notify script /etc/keepalived/n.sh - ignoring`` and never runs
  it. ``notify_master /etc/keepalived/n.sh master`` (an argument meant for the script,
  left unquoted) is such a script, unless a user ``master`` exists.
"""

from __future__ import annotations

from .context import ParseContext
from .lexer import Line, split_quoted_escaped
from .model import NotifyScript
from .scripts import lookup_user

__all__ = ["notify_script"]


def notify_script(ctx: ParseContext, line: Line, kind: str) -> NotifyScript | None:
    """keepalived's notify_script_init(): the script `line` declares, or None (reported as
    keepalived reports it) when keepalived drops it. `kind` is the type keepalived names
    it by in its messages ("notify" for every vrrp_instance and vrrp_sync_group script)."""

    def report(what: str, message: str) -> None:
        ctx.report(what, message, line)

    def log(message: str) -> None:
        ctx.report("syslog", message, line)

    words = split_quoted_escaped(line.text, report)
    if words is None:
        log("Unable to parse notify script")
        return None
    if len(words) < 2:
        # keepalived reads the missing word, and stops as for any missing parameter
        ctx.arg(Line(line.file, line.line, words, line.text), 1)
    argv = split_quoted_escaped(words[1], report)
    if argv is None:
        log(f"Unable to parse script '{words[1]}' - ignoring")
        return None
    user = group = None
    if len(words) > 2:
        user = words[2]
        group = words[3] if len(words) > 3 else None
        if lookup_user(user, group, log) is None:
            log(f"Invalid user/group for {kind} script {argv[0]} - ignoring")
            return None
    return NotifyScript(argv, user, group, line.line, line.file)

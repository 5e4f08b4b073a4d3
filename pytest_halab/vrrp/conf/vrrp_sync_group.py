"""The ``vrrp_sync_group NAME { ... }`` block."""

from __future__ import annotations

from .bfd import track_bfd
from .context import Handler, Kw, ParseContext, ignore, ignore_value_block
from .keywords import NOTIFY_SCRIPTS
from .lexer import Line
from .model import SyncGroup
from .notify import notify_script
from .values import true_false

__all__ = ["KEYWORD"]


def _start(ctx: ParseContext, line: Line) -> None:
    if len(line.words) != 2:
        ctx.report("general", "vrrp_sync_group must have a name - skipping")
        ctx.request_skip(block_without_brace=ctx.group is not None)
        return
    name = line.words[1]
    if name in ctx.cfg.sync_groups:
        ctx.report("general", f"vrrp sync group {name} already defined")
        ctx.request_skip(block_without_brace=ctx.group is not None)
        return
    ctx.group = SyncGroup(name=name, line=line.line, file=line.file)
    ctx.cfg.sync_groups[name] = ctx.group
    ctx.group_has_list = False


def _grp(ctx: ParseContext) -> SyncGroup:
    assert ctx.group is not None
    return ctx.group


def _group(ctx: ParseContext, line: Line) -> None:
    grp = _grp(ctx)
    if ctx.group_has_list:
        ctx.report("general", f"Group list already specified for sync group {grp.name}")
        ctx.request_skip()
        return
    names = [w for item in ctx.value_block(line) for w in item.words]
    ctx.group_has_list = bool(names)
    if not names:
        # said at the line that ends the block (keepalived has read it by then)
        ctx.report("general", f"Warning - sync group {grp.name} has empty group block")
    grp.declared_members = names


def _track(attr: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        getattr(_grp(ctx), attr).extend(i.words[0] for i in ctx.value_block(line))

    return handler


def _track_bfd(ctx: ParseContext, line: Line) -> None:
    grp = _grp(ctx)
    track_bfd(ctx, line, grp.name, grp.track_bfds)


def _notify(name: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        grp = _grp(ctx)
        if getattr(grp, name) is not None:
            ctx.report(
                "general",
                f"vrrp group {grp.name}: {name} script already specified - ignoring"
                f" {ctx.arg(line, 1)}",
            )
            return
        setattr(grp, name, notify_script(ctx, line, "notify"))

    return handler


def _tracking_weight(ctx: ParseContext, line: Line) -> None:
    _grp(ctx).tracking_weight = True


def _smtp(ctx: ParseContext, line: Line) -> None:
    value: bool | None = True
    if len(line.words) >= 2:
        value = true_false(line.words[1])
        if value is None:
            ctx.report("general", f"Invalid vrrp_sync_group smtp_alert parameter {line.words[1]}")
            return
    _grp(ctx).smtp_alert = value


def _table() -> dict[str, Kw]:
    table = {
        "group": Kw(_group),
        "track_interface": Kw(_track("track_interfaces")),
        "track_script": Kw(_track("track_scripts")),
        "track_file": Kw(ignore_value_block),
        "track_process": Kw(ignore_value_block),
        "track_bfd": Kw(_track_bfd),
        "smtp_alert": Kw(_smtp),
        "global_tracking": Kw(ignore),
        "sync_group_tracking_weight": Kw(_tracking_weight),
        "notify_priority_changes": Kw(ignore),
    }
    for name in NOTIFY_SCRIPTS:
        table[name] = Kw(_notify(name))
    return table


TABLE: dict[str, Kw] = _table()

# the top-level keyword: starts a group (or has its block skipped), parses its block
KEYWORD = Kw(_start, TABLE)

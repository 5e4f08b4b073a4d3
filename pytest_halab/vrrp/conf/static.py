"""The top-level blocks of things keepalived's VRRP process keeps in place whatever the
instances' states: ``static_ipaddress``, ``static_routes``, ``static_rules`` (one address,
route or rule a line), and the ``track_group`` blocks that name the instances tracking
their interfaces (vrrp_parser.c: static_*_handler, static_track_group_*)."""

from __future__ import annotations

from .addresses import alloc_ipaddress
from .context import Kw, ParseContext
from .lexer import Line
from .model import TrackGroup
from .routes import alloc_route
from .rules import alloc_rule

__all__ = ["ADDRESSES", "ROUTES", "RULES", "TRACK_GROUP"]


def _addresses(ctx: ParseContext, line: Line) -> None:
    for item in ctx.value_block(line):
        vip = alloc_ipaddress(ctx, item, static=True)
        if vip is not None:
            ctx.cfg.static_addresses.append(vip)


def _routes(ctx: ParseContext, line: Line) -> None:
    for item in ctx.value_block(line):
        route = alloc_route(ctx, item, static=True)
        if route is not None:
            ctx.cfg.static_routes.append(route)


def _rules(ctx: ParseContext, line: Line) -> None:
    for item in ctx.value_block(line):
        rule = alloc_rule(ctx, item, static=True)
        if rule is not None:
            ctx.cfg.static_rules.append(rule)


def _track_group(ctx: ParseContext, line: Line) -> None:
    # A refused group leaves the previous one current, as in keepalived (whose `group`
    # keyword acts on the last group defined).
    if len(line.words) != 2:
        ctx.report("general", "track_group must have a name - skipping")
        ctx.request_skip()
        return
    name = line.words[1]
    if name in ctx.cfg.track_groups:
        ctx.report("general", f"track_group {name} already defined")
        ctx.request_skip()
        return
    ctx.track_group = TrackGroup(name, line=line.line, file=line.file)
    ctx.cfg.track_groups[name] = ctx.track_group


def _group(ctx: ParseContext, line: Line) -> None:
    group = ctx.track_group
    if group is None:  # a `group` before any track_group was defined
        ctx.value_block(line)
        return
    if group.group is not None:
        # keepalived's wording (it shares the sync group's)
        ctx.report("general", f"Group list already specified for sync group {group.name}")
        ctx.request_skip()
        return
    names = [w for item in ctx.value_block(line) for w in item.words]
    if names:
        group.group = names
    else:
        ctx.report("general", f"Warning - track group {group.name} has empty group block")


ADDRESSES = Kw(_addresses)
ROUTES = Kw(_routes)
RULES = Kw(_rules)
TRACK_GROUP = Kw(_track_group, {"group": Kw(_group)})

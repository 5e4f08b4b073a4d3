"""The parser's core: the top-level keyword table and keepalived's process_stream(), which
dispatches each keyword of a block to its handler and each nested block to its table.

The blocks themselves are parsed by their own modules (global_defs, vrrp_script,
vrrp_instance, vrrp_sync_group, virtual_server, static, bfd), every handler taking the
`ParseContext`.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import (
    bfd,
    global_defs,
    static,
    virtual_server,
    vrrp_instance,
    vrrp_script,
    vrrp_sync_group,
)
from .context import Kw, ParseContext, ignore, ignore_block
from .keywords import TOP_GENERIC_BLOCKS, TOP_IGNORED
from .lexer import Line

__all__ = ["TOP", "parse", "process", "skim"]


def _top_table() -> dict[str, Kw]:
    top: dict[str, Kw] = {
        "global_defs": Kw(sub=global_defs.TABLE),
        "vrrp_script": vrrp_script.KEYWORD,
        "vrrp_instance": vrrp_instance.KEYWORD,
        "vrrp_sync_group": vrrp_sync_group.KEYWORD,
        "virtual_server": virtual_server.KEYWORD,
        "static_ipaddress": static.ADDRESSES,
        "static_routes": static.ROUTES,
        "static_rules": static.RULES,
        "track_group": static.TRACK_GROUP,
        "bfd_instance": bfd.KEYWORD,
    }
    for name in TOP_GENERIC_BLOCKS:
        top[name] = Kw(ignore_block)
    top["virtual_server_group"] = Kw(_vs_group)
    for name in TOP_IGNORED:
        top[name] = Kw(ignore)
    top.update(global_defs.ROOT)
    return top


def _vs_group(ctx: ParseContext, line: Line) -> None:
    """``virtual_server_group NAME { ADDRESS PORT | fwmark N ... }``: kept as data, read by
    the checker (vrrp/check/model.py)."""
    ctx.cfg.virtual_server_groups.append(ctx.generic_block(line))


TOP: dict[str, Kw] = _top_table()
# keepalived's parent process parses global_defs and skips the other blocks; its VRRP
# process skips global_defs (it has the parent's).
_PARENT_TOP: dict[str, Kw] = {
    name: Kw(ignore_block) if name != "global_defs" and kw.handler is not ignore else kw
    for name, kw in TOP.items()
}
_CHILD_TOP: dict[str, Kw] = {**TOP, "global_defs": Kw(ignore_block)}


def parse(
    ctx: ParseContext,
    parent_lines: list[Line] | None = None,
    other_lines: Sequence[list[Line]] = (),
) -> None:
    """Parse the context's lines into ``ctx.cfg``; raises MissingParameter where
    keepalived stops.

    keepalived reads the configuration in each of its processes, and they can see other
    lines (see `Reader`). By default they all see the context's. Otherwise the context
    has the lines of the VRRP process, `parent_lines` those of the parent process, which
    parses global_defs (first, as keepalived does), and `other_lines` those of the
    checker and BFD processes; the top-level complaints of all but the VRRP process come
    from their own lines. keepalived's BFD process reads last: what it says of the
    bfd_instance blocks comes after the rest (see `bfd.finish`)."""
    if parent_lines is None:
        skim(ctx)
        ctx.pos = 0
        process(ctx, TOP, 0, False)
        bfd.finish(ctx)
        return
    lines = ctx.lines
    try:
        for other in (parent_lines, *other_lines):
            ctx.lines = other
            skim(ctx)
        ctx.lines = parent_lines
        ctx.pos = 0
        process(ctx, _PARENT_TOP, 0, False)
    finally:
        ctx.lines = lines
    ctx.pos = 0
    process(ctx, _CHILD_TOP, 0, False)
    bfd.finish(ctx)


def process(ctx: ParseContext, table: dict[str, Kw], level: int, need_bob: bool) -> bool:
    """keepalived's process_stream(); returns True when the block was skipped."""
    for line in ctx.block_lines(level, need_bob):
        word = line.words[0]
        kw = table.get(word)
        if kw is None:
            ctx.report("unknown_keyword", f"Unknown keyword '{word}'")
            continue
        if kw.handler is not None:
            ctx.skip_requested = False
            kw.handler(ctx, line)
            if ctx.skip_requested:
                ctx.skip_requested = False
                # keepalived's skip_block(true): a following '{ ... }' is skipped; when
                # the next line is no '{', nothing is, and that line is read as the
                # first of the keyword's block (which then misses its '{').
                if not ctx.skip_reads_block and not ctx.next_opens_block() and kw.sub:
                    # no '{' and nothing to work on (a first vrrp_instance without a
                    # name): keepalived still reads what follows as the block, missing
                    # its '{'; its handlers would touch freed memory, here the block's
                    # lines are only reported as unknown
                    process(ctx, {}, level + 1, True)
                    continue
                if ctx.next_opens_block() or not ctx.skip_reads_block:
                    ctx.skip_block()
                    if kw.sub is None and level > 0:
                        # keepalived: the end of a block skipped at this level ends the
                        # level too (its own '}' is then read one level up)
                        return True
                    continue
                if kw.sub is None:
                    continue
        if kw.sub is not None:
            outer = ctx.in_global_defs
            ctx.in_global_defs = outer or (level == 0 and word == "global_defs")
            try:
                skipped = process(ctx, kw.sub, level + 1, True)
            finally:
                ctx.in_global_defs = outer
            if not skipped and kw.close is not None:
                kw.close(ctx)
    return False


def skim(ctx: ParseContext) -> None:
    """The top-level view of keepalived's other processes: known blocks skipped whole.

    keepalived's parent and checker processes skip blocks they do not handle by
    counting braces, so they see an extra ``}`` or an unknown keyword at top level
    where the VRRP process sees something else; their reports are part of the output.
    """
    lines = ctx.lines
    i = 0
    while i < len(lines):
        line = lines[i]
        ctx.cur = line
        word = line.words[0]
        i += 1
        if word in TOP:
            if i < len(lines) and lines[i].words[0] == "{":
                depth = 0
                while i < len(lines):
                    for w in lines[i].words:
                        depth += (w == "{") - (w == "}")
                    i += 1
                    if depth <= 0:
                        break
        elif word == "{":
            ctx.report("unexpected_bob", "Unexpected '{' - ignoring")
        else:
            ctx.report("unknown_keyword", f"Unknown keyword '{word}'")

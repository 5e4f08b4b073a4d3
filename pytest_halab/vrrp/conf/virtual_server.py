"""The ``virtual_server ADDRESS PORT { ... }`` block: keywords checked against
keepalived's tree, kept as data (the VRRP side does not act on it)."""

from __future__ import annotations

from .context import Kw, ParseContext
from .keywords import VS_TABLE, KeywordTree
from .lexer import Line
from .model import ConfigItem, RealServer, VirtualServer

__all__ = ["KEYWORD", "checked_block"]


def checked_block(ctx: ParseContext, table: KeywordTree, level: int) -> list[ConfigItem]:
    """Parse a ``{ ... }`` block against a keyword tree, keeping it as data."""
    items: list[ConfigItem] = []
    need_bob = True
    while (line := ctx.next_line()) is not None:
        word = line.words[0]
        if need_bob:
            need_bob = False
            if word == "{":
                continue
            ctx.report("missing_bob", "Missing '{' at beginning of configuration block")
        elif word == "{":
            ctx.report("unexpected_bob", "Unexpected '{' - ignoring")
            continue
        if word == "}":
            break
        if word not in table:
            ctx.report("unknown_keyword", f"Unknown keyword '{word}'")
            continue
        item = ConfigItem(word, line.words[1:], line.line, line.file)
        sub = table[word]
        if isinstance(sub, dict):
            item.children = checked_block(ctx, sub, level + 1)
        items.append(item)
    return items


def _virtual_server(ctx: ParseContext, line: Line) -> None:
    words = line.words
    vs = VirtualServer(
        address=words[1] if len(words) > 1 else "",
        port=words[2] if len(words) > 2 else None,
        line=line.line,
        file=line.file,
    )
    ctx.cfg.virtual_servers.append(vs)
    for item in checked_block(ctx, VS_TABLE, 1):
        if item.keyword == "real_server":
            args = item.args
            vs.real_servers.append(
                RealServer(
                    address=args[0] if args else "",
                    port=args[1] if len(args) > 1 else None,
                    items=item.children,
                    line=item.line,
                    file=item.file,
                )
            )
        else:
            vs.items.append(item)


# the top-level keyword: the handler reads the whole block itself
KEYWORD = Kw(_virtual_server)

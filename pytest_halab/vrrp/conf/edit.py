"""Edits of a keepalived.conf's text that keep everything else as it was: the place to
change is found by the real lexer and parser, then only that value's characters change."""

from __future__ import annotations

import contextlib

from .context import MissingParameter, ParseContext
from .diagnostics import Diagnostics
from .lexer import Line, Reader
from .parser import parse

__all__ = ["set_instance_priority"]

_SHOWN = "<text>"


def _parse_text(text: str) -> ParseContext:
    """The text parsed as keepalived would (its ``include`` lines not followed)."""
    reader = Reader(Diagnostics())
    reader.read_text(text, _SHOWN)
    ctx = ParseContext(reader.lines, reader.main, [], Diagnostics(), {}, resolve_hosts=False)
    with contextlib.suppress(MissingParameter):  # keepalived stops there too
        parse(ctx)
    return ctx


def _value_offsets(text: str, lines: list[Line]) -> list[tuple[int, int]]:
    """[start, end) in `text` of the first parameter of each line."""
    # The reader ends a line at a NUL character: the columns before it are the file's.
    starts = [0]
    for physical in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(physical) + 1)
    spans = []
    for line in lines:
        col_start, col_end = line.spans[1]
        spans.append((starts[line.line - 1] + col_start, starts[line.line - 1] + col_end))
    return spans


def set_instance_priority(text: str, instance: str, priority: int) -> str | None:
    """The configuration `text` with the ``priority`` of ``vrrp_instance INSTANCE`` set to
    `priority`, or None when keepalived would see no such instance or no priority in it.

    Only the instance's own ``priority`` keywords count (not a word in a nested block, a
    comment, a quoted string, or a later duplicate of the instance, which keepalived
    skips). Should the instance give its priority more than once, every one is set, so
    that the instance runs with `priority`. Only the value's characters change (a quoted
    value keeps its quotes); comments, blanks and line ends stay as they were. ``include``
    lines are not followed: an instance in an included file is not found.
    """
    ctx = _parse_text(text)
    lines = ctx.priority_lines.get(instance)
    if not lines:
        return None
    value = str(priority)
    result = text
    for start, end in sorted(_value_offsets(text, lines), reverse=True):
        result = result[:start] + value + result[end:]
    return result

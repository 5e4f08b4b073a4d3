"""The state of one parse, passed to every block parser: the cursor over the logical lines,
the diagnostics, the host's interfaces, the model being built, the block being parsed, and
the readers every block shares (a parameter, a value block, a block kept as data)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .diagnostics import Diagnostics
from .lexer import Line
from .model import (
    ConfigItem,
    KeepalivedConfig,
    ParseNotes,
    SyncGroup,
    TrackGroup,
    VrrpInstance,
    VrrpScript,
)
from .rttables import IPROUTE2_DIR, RtTables
from .values import Numbers

if TYPE_CHECKING:
    from .bfd import BfdViews

__all__ = [
    "Close",
    "Handler",
    "Kw",
    "MissingParameter",
    "ParseContext",
    "ignore",
    "ignore_block",
    "ignore_value_block",
]


# Nesting kept by generic_block: keepalived's blocks nest a few levels at most.
MAX_KEPT_DEPTH = 32


class MissingParameter(Exception):
    """keepalived exits (status 2) when a keyword lacks its parameter."""


Handler = Callable[["ParseContext", Line], None]
Close = Callable[["ParseContext"], None]


@dataclass
class Kw:
    """A keyword of a block: its handler, the table of its own block, what ends that block."""

    handler: Handler | None = None
    sub: dict[str, Kw] | None = None
    close: Close | None = None


class ParseContext:
    """One parse of a configuration's logical lines into `cfg` (and `notes`)."""

    def __init__(
        self,
        lines: list[Line],
        main_file: str,
        files: list[str],
        diags: Diagnostics,
        interfaces: Mapping[str, bool],
        resolve_hosts: bool,
        iproute2_dir: str = IPROUTE2_DIR,
    ) -> None:
        self.lines = lines
        self.pos = 0
        self.diags = diags
        self.interfaces = interfaces  # name -> is loopback
        self.resolve_hosts = resolve_hosts
        self.cfg = KeepalivedConfig(files=list(files))
        self.notes = ParseNotes()
        self.cur: Line = Line("", 0, [""], "")
        self.main_file = main_file
        self.in_global_defs = False
        self.skip_requested = False
        self.skip_reads_block = True
        # The readers report through a weak reference: a context holding itself would be
        # freed only by the cycle collector (halab-vrrpd keeps it out of a reload's read).
        me = weakref.proxy(self)
        self.num = Numbers(lambda kind, message: me.report(kind, message))
        # numbers whose complaints may repeat
        self.num_each = Numbers(lambda kind, message: me.say(kind, message))
        # routing names (/etc/iproute2), and the preference keepalived gives the next rule
        # without one, per address family (RULE_START_PRIORITY, counting down)
        self.rt = RtTables(iproute2_dir)
        self.next_rule_priority = {4: 16384, 6: 16384}
        # the block being parsed, and what its parser remembers about it
        self.instance: VrrpInstance | None = None
        self.script: VrrpScript | None = None
        self.script_removed = False
        self.group: SyncGroup | None = None
        self.group_has_list = False
        self.track_group: TrackGroup | None = None
        # what keepalived's processes read of bfd_instance blocks (bfd.py)
        self.bfd: BfdViews | None = None
        # interfaces named while dynamic_interfaces is set that do not exist (keepalived
        # creates a placeholder for each: a later lookup finds it)
        self.dynamic_interfaces: set[str] = set()
        # where each instance's own ``priority`` keyword is (for edits of the text)
        self.priority_lines: dict[str, list[Line]] = {}

    # -- reporting
    def report(
        self, kind: str, message: str, line: Line | None = None, *, once: bool = True
    ) -> None:
        """A diagnostic about `line` (default: the current one); `once` False when
        keepalived says the same thing twice about one line (see `Diagnostics.add`)."""
        where = line or self.cur
        bare = self.in_global_defs and where.file == self.main_file
        self.diags.add(where.file, where.line, kind, message, show_file=not bare, once=once)

    def say(self, kind: str, message: str) -> None:
        """A diagnostic about the current line, repeated if keepalived repeats it: the
        reports of the VRRP process alone (its route and rule lines), which keepalived's
        other processes never read."""
        self.report(kind, message, once=False)

    # -- the cursor
    def next_line(self) -> Line | None:
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        self.pos += 1
        self.cur = line
        return line

    def block_lines(self, level: int = 1, need_bob: bool = True) -> Iterator[Line]:
        """keepalived's process_stream() loop: each keyword line of the block being read, up
        to its ``}`` (at level 0, to the end of the file). A missing ``{`` at the block's
        start and a stray one are said as keepalived says them."""
        while (line := self.next_line()) is not None:
            word = line.words[0]
            if need_bob:
                need_bob = False
                if word == "{" and level > 0:
                    continue
                self.report("missing_bob", "Missing '{' at beginning of configuration block")
            elif word == "{":
                self.report("unexpected_bob", "Unexpected '{' - ignoring")
                continue
            if word == "}" and level > 0:
                return
            yield line

    def next_opens_block(self) -> bool:
        return self.pos < len(self.lines) and self.lines[self.pos].words[0] == "{"

    def arg(self, line: Line, index: int) -> str:
        """The word at `index`; a missing one stops the parse, as in keepalived."""
        if index < len(line.words):
            return line.words[index]
        if index > 0 and index - 1 < len(line.words):
            message = (
                f"*** Configuration line starting `{line.words[0]}` is missing a parameter"
                f" after keyword `{line.words[index - 1]}` at word position {index + 1}"
            )
        else:
            message = (
                f"*** Configuration line starting `{line.words[0]}` is missing a parameter"
                f" at word position {index + 1}"
            )
        self.report("missing_parameter", message, line)
        raise MissingParameter

    def request_skip(self, *, block_without_brace: bool = True) -> None:
        """Have the dispatcher skip the block that follows the current keyword.

        When the next line is no ``{``, keepalived skips nothing and reads that line as
        the first of the keyword's block, whose keywords then act on the block parsed
        before (the last instance, group...). `block_without_brace` False when there is
        none: keepalived then works on freed memory and aborts; here the block is
        skipped as if it had its ``{``."""
        self.skip_requested = True
        self.skip_reads_block = block_without_brace

    def skip_block(self, *, inside: bool = False) -> None:
        """keepalived's skip_block(): drop a following ``{ ... }`` block; `inside`, the
        rest of the block being read, up to its ``}`` (skip_block(false))."""
        if inside or self.next_opens_block():
            depth = 1 if inside else 0
            while (line := self.next_line()) is not None:
                for word in line.words:
                    if word == "{":
                        depth += 1
                    elif word == "}":
                        depth -= 1
                if depth <= 0:
                    return

    def value_block(self, line: Line) -> list[Line]:
        """keepalived's alloc_value_block(): the lines of a ``{ ... }`` value list."""
        if len(line.words) > 1:
            self.report(
                "general", f"Block {line.words[0]} has extra parameters {line.words[1]} ...", line
            )
        items: list[Line] = []
        need_bob = True
        while (item := self.next_line()) is not None:
            words = item.words
            if need_bob:
                need_bob = False
                if words[0] == "{":
                    continue
                self.report("syslog", f"'{{' missing from beginning of block {line.words[0]}", item)
            if words[-1] == "}":
                break
            items.append(item)
        return items

    def generic_block(self, line: Line) -> ConfigItem:
        """Keep a keyword and any nested block as data, without checking keywords.

        Iterative, so that no nesting exhausts Python's stack; items nested deeper than
        `MAX_KEPT_DEPTH` are read past but not kept (nothing reads them)."""
        root = ConfigItem(line.words[0], line.words[1:], line.line, line.file)
        # the items whose block is open, innermost last
        open_items: list[ConfigItem] = []
        if self.next_opens_block():
            self.next_line()
            open_items.append(root)
        while open_items and (sub := self.next_line()) is not None:
            word = sub.words[0]
            if word == "}":
                open_items.pop()
                continue
            if word == "{":
                continue
            item = ConfigItem(word, sub.words[1:], sub.line, sub.file)
            if len(open_items) <= MAX_KEPT_DEPTH:
                open_items[-1].children.append(item)
            if self.next_opens_block():
                self.next_line()
                open_items.append(item)
        return root

    # -- the host
    def interface_known(self, name: str) -> bool:
        """keepalived's lookup without creation (IF_NO_CREATE): an interface of the host,
        or a placeholder made for one named earlier under dynamic_interfaces."""
        return name in self.interfaces or name in self.dynamic_interfaces

    def interface_exists(self, name: str) -> bool:
        """Whether the interface exists; the first that does not is noted for validation."""
        if name in self.interfaces:
            return True
        if self.cfg.global_defs.dynamic_interfaces:
            self.dynamic_interfaces.add(name)
            return True
        if self.notes.missing_interface is None:
            self.notes.missing_interface = (self.cur.file, self.cur.line)
        return False


# -- handlers shared by several blocks


def ignore(ctx: ParseContext, line: Line) -> None:
    return


def ignore_block(ctx: ParseContext, line: Line) -> None:
    ctx.generic_block(line)


def ignore_value_block(ctx: ParseContext, line: Line) -> None:
    ctx.value_block(line)

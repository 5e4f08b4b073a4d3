"""The ``vrrp_script NAME { ... }`` block."""

from __future__ import annotations

import shlex

from .context import Handler, Kw, ParseContext
from .lexer import Line, split_quoted_escaped
from .model import TIMER_HZ, VrrpScript
from .scripts import cmd_str, lookup_user

__all__ = ["KEYWORD"]


def _start(ctx: ParseContext, line: Line) -> None:
    name = ctx.arg(line, 1)
    ctx.script = VrrpScript(name=name, line=line.line, file=line.file)
    ctx.script_removed = False


def _scr(ctx: ParseContext) -> VrrpScript:
    assert ctx.script is not None
    return ctx.script


def _script(ctx: ParseContext, line: Line) -> None:
    """As keepalived's set_script_params_array(): the second word of the line, split
    with quotes and escapes, is the command (any further word is ignored: an argument
    must be inside the quotes). A word that cannot be split leaves the script as it was.
    The command is kept as a shell would write it back (split_command gives its argv)."""

    def report(kind: str, message: str) -> None:
        ctx.report(kind, message, line)

    words = split_quoted_escaped(line.text, report)
    if words is None or len(words) < 2:
        return
    argv = split_quoted_escaped(words[1], report)
    if argv is None:
        return
    _scr(ctx).script = shlex.join(argv)


def _interval(ctx: ParseContext, line: Line) -> None:
    scr = _scr(ctx)
    text = ctx.arg(line, 1)
    value = ctx.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
    if value is None:
        ctx.report(
            "general",
            f"({scr.name}): vrrp script interval '{text}' must be between 1 and"
            f" {0xFFFFFFFF // TIMER_HZ} - ignoring",
        )
        return
    if value == 0:
        ctx.report(
            "general",
            f"({scr.name}): vrrp script interval must be greater than 0, setting to 1",
        )
        value = 1
    scr.interval = value


def _timeout(ctx: ParseContext, line: Line) -> None:
    scr = _scr(ctx)
    text = ctx.arg(line, 1)
    value = ctx.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
    if value is None:
        ctx.report("general", f"({scr.name}): vrrp script timeout '{text}' invalid - ignoring")
        return
    if value == 0:
        ctx.report(
            "general", f"({scr.name}): vrrp script timeout must be greater than 0, setting to 1"
        )
        value = 1
    scr.timeout = value


def _weight(ctx: ParseContext, line: Line) -> None:
    scr = _scr(ctx)
    text = ctx.arg(line, 1)
    value, guess = ctx.num.integer(text, -253, 253)
    if value is None:
        ctx.report("general", f"vrrp_script {scr.name} weight {text} must be in [-253, 253]")
    scr.weight = guess
    if len(line.words) >= 3:
        if line.words[2] == "reverse":
            scr.weight_reverse = True
        else:
            ctx.report("general", f"vrrp_script {scr.name} unknown weight option {line.words[2]}")


def _rise_fall(name: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        scr = _scr(ctx)
        text = ctx.arg(line, 1)
        value = ctx.num.unsigned(text, 1, 2**31 - 1)
        if value is None:
            ctx.report(
                "general",
                f"({scr.name}): vrrp script {name} value '{text}' invalid, defaulting to 1",
            )
            value = 1
        setattr(scr, name, value)

    return handler


def _user(ctx: ParseContext, line: Line) -> None:
    scr = _scr(ctx)
    user = ctx.arg(line, 1)
    group = line.words[2] if len(line.words) > 2 else None
    if lookup_user(user, group, lambda message: ctx.report("syslog", message)) is None:
        shown = cmd_str(shlex.split(scr.script)) if scr.script else ""
        ctx.report("general", f"Unable to set uid/gid for script {shown}")
        ctx.script_removed = True
        return
    scr.user, scr.group = user, group
    ctx.script_removed = False


def _init_fail(ctx: ParseContext, line: Line) -> None:
    _scr(ctx).init_fail = True


def _end(ctx: ParseContext) -> None:
    scr = _scr(ctx)
    scr.end_line = ctx.cur.line
    if not scr.script:
        ctx.report("general", f"No script set for vrrp_script {scr.name} - removing", ctx.cur)
        return
    if ctx.script_removed:
        return
    ctx.cfg.scripts.setdefault(scr.name, scr)


TABLE: dict[str, Kw] = {
    "script": Kw(_script),
    "interval": Kw(_interval),
    "timeout": Kw(_timeout),
    "weight": Kw(_weight),
    "rise": Kw(_rise_fall("rise")),
    "fall": Kw(_rise_fall("fall")),
    "user": Kw(_user),
    "init_fail": Kw(_init_fail),
}

# the top-level keyword: starts a script, parses its block, keeps it if complete
KEYWORD = Kw(_start, TABLE, _end)

"""`load_config`: read, parse and validate a keepalived.conf, as ``keepalived -t`` would."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .context import MissingParameter, ParseContext
from .diagnostics import Diagnostic, Diagnostics
from .lexer import Reader
from .model import KeepalivedConfig
from .parser import parse
from .validate import validate

__all__ = ["load_config", "system_interfaces"]


def system_interfaces() -> dict[str, bool]:
    """Interface name -> is loopback, from /sys/class/net."""
    result: dict[str, bool] = {}
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return {"lo": True}
    for name in names:
        try:
            with open(f"/sys/class/net/{name}/type") as fh:
                result[name] = fh.read().strip() == "772"
        except OSError:
            result[name] = name == "lo"
    return result


def load_config(
    path: str | os.PathLike[str],
    *,
    interfaces: Iterable[str] | None = None,
    check_scripts: bool = True,
    resolve_hosts: bool = False,
) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    """Parse and check a keepalived.conf; never raises on malformed input.

    `interfaces` names the interfaces that exist (default: this host's, from
    /sys/class/net; ``lo`` counts as loopback). `check_scripts` looks scripts up on this
    host as keepalived does. `resolve_hosts` resolves an ``smtp_server`` host name.
    """
    diags = Diagnostics()
    name = os.fspath(path)
    reader = Reader(diags)
    try:
        if not reader.read_main(name):
            return KeepalivedConfig(), diags.items
    except (OSError, ValueError) as exc:
        diags.add(name, 0, "file_not_found", f"Unable to read configuration file {name} ({exc})")
        return KeepalivedConfig(), diags.items
    known = system_interfaces() if interfaces is None else {n: n == "lo" for n in interfaces}
    ctx = ParseContext(reader.lines, reader.main, reader.files, diags, known, resolve_hosts)
    try:
        parse(ctx)
    except MissingParameter:
        return ctx.cfg, diags.items
    validate(ctx.cfg, ctx.notes, diags, check_scripts=check_scripts)
    return ctx.cfg, diags.items

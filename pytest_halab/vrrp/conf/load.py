"""`load_config`: read, parse and validate a keepalived.conf, as ``keepalived -t`` would."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from .context import MissingParameter, ParseContext
from .diagnostics import Diagnostic, Diagnostics
from .lexer import Reader
from .model import KeepalivedConfig
from .parser import parse
from .rttables import IPROUTE2_DIR
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
    interfaces: Iterable[str] | Mapping[str, bool] | None = None,
    check_scripts: bool = True,
    resolve_hosts: bool = False,
    iproute2_dir: str = IPROUTE2_DIR,
) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    """Parse and check a keepalived.conf; never raises on malformed input.

    `interfaces` names the interfaces that exist (default: this host's, from
    /sys/class/net; ``lo`` counts as loopback), or maps each name to whether it is a
    loopback. `check_scripts` looks scripts up on this
    host as keepalived does. `resolve_hosts` resolves an ``smtp_server`` host name.
    `iproute2_dir` holds the names of routing tables, protocols, scopes... (``rt_tables``
    and its kin, as keepalived reads them from /etc/iproute2).
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
    except Exception as exc:
        file, line = reader.last
        _internal_error(diags, file or name, line, "reading", exc)
        return KeepalivedConfig(), diags.items
    if interfaces is None:
        known: Mapping[str, bool] = system_interfaces()
    elif isinstance(interfaces, Mapping):
        known = interfaces
    else:
        known = {n: n == "lo" for n in interfaces}
    ctx = ParseContext(
        reader.lines, reader.main, reader.files, diags, known, resolve_hosts, iproute2_dir
    )
    try:
        parse(ctx)
    except MissingParameter:
        return ctx.cfg, diags.items
    except Exception as exc:  # a bug met on hostile input: a diagnostic, never a traceback
        _internal_error(diags, ctx.cur.file or name, ctx.cur.line, "parsing", exc)
        return ctx.cfg, diags.items
    try:
        validate(ctx.cfg, ctx.notes, diags, check_scripts=check_scripts)
    except Exception as exc:
        _internal_error(diags, name, 0, "checking", exc)
    return ctx.cfg, diags.items


INTERNAL_ERROR = "halab-vrrpd internal error"


def _internal_error(diags: Diagnostics, file: str, line: int, stage: str, exc: Exception) -> None:
    """Report an unexpected exception as a fatal diagnostic (exit status 4) at the line
    being read. The message starts with `INTERNAL_ERROR`: the fuzz tests look for it."""
    diags.add(
        file, line, "fatal", f"{INTERNAL_ERROR} {stage} this line: {type(exc).__name__}: {exc}"
    )

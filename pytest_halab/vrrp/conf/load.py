"""`load_config`: read, parse and validate a keepalived.conf, as ``keepalived -t`` would."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Mapping

from .check_validate import validate_virtual_servers
from .context import MissingParameter, ParseContext
from .diagnostics import Diagnostic, Diagnostics
from .lexer import Line, Reader
from .model import KeepalivedConfig
from .parser import parse
from .rttables import IPROUTE2_DIR
from .validate import validate

__all__ = ["load_config", "system_interfaces"]


def system_mtus() -> dict[str, int]:
    """Interface name -> MTU, from /sys/class/net."""
    result: dict[str, int] = {}
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return result
    for name in names:
        try:
            with open(f"/sys/class/net/{name}/mtu") as fh:
                result[name] = int(fh.read().strip())
        except (OSError, ValueError):
            continue
    return result


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
    config_id: str | None = None,
    iproute2_dir: str = IPROUTE2_DIR,
    all_config: bool = False,
) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    """Parse and check a keepalived.conf; never raises on malformed input.

    `interfaces` names the interfaces that exist (default: this host's, from
    /sys/class/net; ``lo`` counts as loopback), or maps each name to whether it is a
    loopback. `check_scripts` looks scripts up on this
    host as keepalived does. `resolve_hosts` resolves an ``smtp_server`` host name.
    `config_id` is keepalived's ``-i``: the id that ``@ID`` lines must name to be read
    (and ``@^ID`` lines must not), and ``${_INSTANCE}``; None is keepalived's default,
    this host's node name up to its first dot.

    `iproute2_dir` holds the names of routing tables, protocols, scopes... (``rt_tables``
    and its kin, as keepalived reads them from /etc/iproute2). `all_config` is keepalived's
    ``-e``: a missing file is an error (every include checked, as by ``include_check``).
    """
    diags = Diagnostics()
    name = os.fspath(path)
    # keepalived seeds random() with the time at each read of the configuration
    seed = int(time.time())
    # Read once as keepalived's VRRP process would if it were alone; when its other
    # processes see other lines, read again as each of them does.
    trial = Diagnostics()
    reader = Reader(trial, config_id=config_id, rng=random.Random(seed), all_config=all_config)
    views: tuple[list[Line], list[list[Line]]] | None = None
    try:
        try:
            found = reader.read_main(name)
        finally:
            # a failed include check ends it all: what this read said is what there is
            alone = (
                not (reader.diverged or reader.failed_lists)
                or reader.stopped
                or reader.include_failed
            )
            if alone:
                for d in trial.items:
                    diags.add_again(d)
        if not found or reader.include_failed:  # an include's check failed: nothing parsed
            return KeepalivedConfig(), diags.items
        if not alone:
            reader, views = _process_views(
                name, config_id, seed, diags, (reader, trial), all_config
            )
    except (OSError, ValueError) as exc:
        diags.add(name, 0, "file_not_found", f"Unable to read configuration file {name} ({exc})")
        return KeepalivedConfig(), diags.items
    except Exception as exc:
        file, line = reader.last
        _internal_error(diags, file or name, line, "reading", exc)
        return KeepalivedConfig(), diags.items
    mtus: dict[str, int] = {}
    if interfaces is None:
        known: Mapping[str, bool] = system_interfaces()
        mtus = system_mtus()
    elif isinstance(interfaces, Mapping):
        known = interfaces
    else:
        known = {n: n == "lo" for n in interfaces}
    ctx = ParseContext(
        reader.lines, reader.main, reader.files, diags, known, resolve_hosts, iproute2_dir
    )
    ctx.notes.mtus = mtus
    try:
        if views is None:
            parse(ctx)
        else:
            parse(ctx, *views)
    except MissingParameter:
        return ctx.cfg, diags.items
    except Exception as exc:  # a bug met on hostile input: a diagnostic, never a traceback
        _internal_error(diags, ctx.cur.file or name, ctx.cur.line, "parsing", exc)
        return ctx.cfg, diags.items
    try:
        validate(ctx.cfg, ctx.notes, diags, check_scripts=check_scripts)
        validate_virtual_servers(ctx.cfg, diags, check_scripts=check_scripts)
    except Exception as exc:
        _internal_error(diags, name, 0, "checking", exc)
    return ctx.cfg, diags.items


def _process_views(
    name: str,
    config_id: str | None,
    seed: int,
    diags: Diagnostics,
    first: tuple[Reader, Diagnostics],
    all_config: bool = False,
) -> tuple[Reader, tuple[list[Line], list[list[Line]]]]:
    """The configuration read as each of keepalived's processes reads it, when they differ
    (see `Reader`): the parent reads the files, then the checker, VRRP and BFD processes
    read the copy the parent wrote, each starting with the ~SEQ count the previous one
    left. `first` is the read made first (as a process reading the copy, from a count of
    0) and what it said: the checker's, unless the parent's read changes its count.
    Returns the VRRP process's reader and the (parent, [checker, BFD]) lines."""
    readers: list[Reader] = []
    seq_count = 0
    for parent_view in (True, False, False, False):
        if not parent_view and len(readers) == 1 and seq_count == 0:
            view, said = first
            for d in said.items:
                diags.add_again(d)
        else:
            view = Reader(
                diags,
                config_id=config_id,
                rng=random.Random(seed),
                parent_view=parent_view,
                seq_count=seq_count,
                all_config=all_config,
            )
            view.read_main(name)
        seq_count -= view.failed_lists
        readers.append(view)
    parent, checker, vrrp, bfd = readers
    return vrrp, (parent.lines, [checker.lines, bfd.lines])


INTERNAL_ERROR = "halab-vrrpd internal error"


def _internal_error(diags: Diagnostics, file: str, line: int, stage: str, exc: Exception) -> None:
    """Report an unexpected exception as a fatal diagnostic (exit status 4) at the line
    being read. The message starts with `INTERNAL_ERROR`: the fuzz tests look for it."""
    diags.add(
        file, line, "fatal", f"{INTERNAL_ERROR} {stage} this line: {type(exc).__name__}: {exc}"
    )

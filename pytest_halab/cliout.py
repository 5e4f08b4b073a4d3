"""What the ``halab`` command prints and writes: its two consoles (results on stdout,
progress and errors on stderr), progress lines, and the files it writes (checked before a
long run, printed on stdout rather than lost when writing fails). Shared by the command's
modules (`cli`, `benchcmd`); tests swap `console` here."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from .errors import HalabError

__all__ = ["console", "err", "progress", "timed", "writable", "write_json", "write_text"]


class _Console(Console):
    """A console that lets main() handle a closed pipe (rich would exit on its own)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


# Whatever a user or a lab gave (paths, lab ids, node names, descriptions, messages) is printed
# as plain text: as a Text, or escape()d inside markup. Emoji codes are off for the same reason.
# Tables stay readable when piped (CI logs): no 80-column wrapping.
console = _Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 160)
err = _Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def progress(name: str, msg: str) -> None:
    err.print(Text.assemble((f"{name:>9}", "bold"), " ", msg))


def timed(t0: float, fmt: str) -> Callable[[str], None]:
    """A progress printer that prefixes the seconds since t0."""
    return lambda m: err.print(Text.assemble((f"{time.monotonic() - t0:{fmt}} s", "dim"), " ", m))


def writable(name: str | None, option: str = "--json") -> Path | None:
    """An output file, checked before any run: a bench that took minutes is not lost to a
    typo. Creates nothing (a file made to test is removed), truncates nothing."""
    if name is None:
        return None
    path = Path(name)
    try:
        if path.is_dir():
            raise HalabError(f"{option} {name}: is a directory")
        if path.exists():
            with path.open("a"):
                pass
        else:
            with path.open("x"):
                pass
            path.unlink()
    except OSError as exc:
        raise HalabError(f"{option} {name}: cannot write: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the name
        raise HalabError(f"{option} {name!r}: cannot write: {exc}") from None
    return path


def write_json(path: Path, doc: dict[str, Any]) -> bool:
    """Write the results; if that fails now, print them on stdout rather than lose them."""
    return write_text(path, json.dumps(doc, indent=1) + "\n", "the JSON")


def write_text(path: Path, text: str, what: str) -> bool:
    """Write ``text``; if that fails now, print it on stdout rather than lose it."""
    try:
        path.write_text(text)
    except OSError as exc:
        print(text, end="")
        err.print(
            Text.assemble(
                ("halab: error:", "red"),
                f" could not write {path} ({exc.strerror or exc}); {what} is above, on stdout",
            )
        )
        return False
    return True

"""Reading keepalived.conf into logical lines, as keepalived's read_line() does.

A physical line loses its leading blanks and unquoted ``!``/``#`` comments (decomment),
each unquoted ``{`` / ``}`` goes on a logical line of its own (split_braces), and a logical
line is split into blank-separated words, ``"..."`` being one word (split_words). The
`Reader` follows ``include`` globs relative to the including file.

Every word keeps where it came from: `Line.spans` holds, for each word, its columns in the
physical line, so that a tool can change a value without touching anything else.
"""

from __future__ import annotations

import glob
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from .diagnostics import Diagnostics

__all__ = [
    "Line",
    "Reader",
    "Report",
    "decomment",
    "is_include",
    "split_braces",
    "split_quoted_escaped",
    "split_words",
]

Report = Callable[[str, str], None]  # (kind, message) about the line being read

Span = tuple[int, int]  # [start, end) columns in the physical line


@dataclass(slots=True)
class Line:
    """A logical line: its file (as keepalived names it), physical line number, words.

    `text` is the logical line's text after decommenting; `spans` the [start, end) columns
    of each word in the physical line (a quoted word's span excludes its quotes)."""

    file: str
    line: int
    words: list[str]
    text: str
    spans: list[Span] = field(default_factory=list)


def decomment(text: str, report: Report) -> tuple[str, list[int]]:
    """keepalived's decomment(): strip leading blanks and unquoted ``!``/``#`` comments.

    Returns the text and, for each of its characters, its column in `text` (an escaped
    ``\\#`` outside quotes becomes ``#``, so columns are not always consecutive)."""
    s = text.lstrip(" \t")
    base = len(text) - len(s)
    out: list[str] = []
    columns: list[int] = []
    quote = False
    i = 0
    while i < len(s):
        c = s[i]
        if c == '"':
            quote = not quote
        elif c == "\\":
            if i + 1 < len(s):
                if not quote and s[i + 1] in "#!":
                    out.append(s[i + 1])
                    columns.append(base + i + 1)
                else:
                    out.append(s[i : i + 2])
                    columns.extend((base + i, base + i + 1))
                i += 2
                continue
            break  # a trailing backslash: kept, below
        elif not quote and c in "!#":
            break
        out.append(c)
        columns.append(base + i)
        i += 1
    result = "".join(out)
    if quote:
        shown = result.rstrip(" \t")
        report("general", f"Unterminated quote '{shown}'")
    result = result.rstrip(" \t")
    columns = columns[: len(result)]
    if _continued(s):
        # keepalived marks a line that ends with an unpaired backslash (a continuation
        # it only acts on in definitions) by keeping that backslash after the trimmed
        # text, even when a comment came before it.
        result += "\\"
        columns.append(base + len(s) - 1)
    return result, columns


def _continued(text: str) -> bool:
    """The line ends with an odd run of backslashes: its last one pairs with nothing."""
    run = len(text) - len(text.rstrip("\\"))
    return run % 2 == 1


def split_words(text: str, report: Report) -> list[tuple[int, str]]:
    """keepalived's alloc_strvec(): blank-separated words, ``"..."`` as one word.

    Returns (offset in `text`, word) pairs; a quoted word's offset is after its quote."""
    words: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t\r\n\v\f":
            i += 1
        if i >= n:
            break
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                report("unmatched_quote", f"Unmatched quote: '{text}'")
                break
            words.append((i + 1, text[i + 1 : end]))
            i = end + 1
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n\v\f"':
                j += 1
            words.append((i, text[i:j]))
            i = j
    return words


_WHITE_SPACE = b" \t\f\n\r\v"
_SIMPLE_ESCAPES = {
    ord("a"): 0x07,
    ord("b"): 0x08,
    ord("E"): 0x1B,
    ord("f"): 0x0C,
    ord("n"): 0x0A,
    ord("r"): 0x0D,
    ord("t"): 0x09,
    ord("v"): 0x0B,
}
_HEX = b"0123456789abcdefABCDEF"
_OCTAL = b"01234567"


def split_quoted_escaped(text: str, report: Report) -> list[str] | None:
    """keepalived's alloc_strvec_quoted_escaped(): the words of a script line.

    Words are separated by blanks; ``"..."`` and ``'...'`` (which may start or end inside
    a word, as in a shell) keep blanks; a backslash escapes the next character anywhere,
    quotes included, with C's escapes (``\\n``, ``\\t``, ``\\xHH``, ``\\ooo``,
    ``\\cX``, ``\\E``...). A byte 0 ends its word, as it ends a C string.

    None when there is no word, when a quote is not closed (reported as keepalived's
    configuration error) or when the text ends with a lone backslash (logged)."""
    src = text.encode("utf-8", "surrogateescape")
    words: list[str] = []
    i, n = 0, len(src)
    while True:
        while i < n and src[i] in _WHITE_SPACE:
            i += 1
        if i >= n:
            break
        word = bytearray()
        quote = 0
        while i < n:
            c = src[i]
            if c == 0x5C:  # backslash
                i += 1
                if i >= n:
                    report("log", f"Missing escape char at end: '{text}'")
                    return None
                value, i = _escape(src, i)
                word.append(value)
            elif quote:
                if c == quote:
                    quote = 0
                else:
                    word.append(c)
                i += 1
            elif c in b"\"'":
                quote = c
                i += 1
            elif c in _WHITE_SPACE:
                break
            else:
                word.append(c)
                i += 1
        if quote:
            report("unmatched_quote", f"String '{text}': missing terminating {chr(quote)}")
            return None
        words.append(bytes(word).split(b"\0", 1)[0].decode("utf-8", "surrogateescape"))
    return words or None


def _escape(src: bytes, i: int) -> tuple[int, int]:
    """The byte an escape stands for (`i` is after the backslash), and where it ends."""
    c, n = src[i], len(src)
    if c == ord("x") and i + 1 < n and src[i + 1] in _HEX:
        value, i = 0, i + 1
        while i < n and src[i] in _HEX:
            value = ((value << 4) | int(chr(src[i]), 16)) & 0xFF
            i += 1
        return value, i
    if c == ord("c") and i + 1 < n:
        return src[i + 1] & 0x1F, i + 2
    if c in _OCTAL:
        value, end = 0, i
        while end < n and end < i + 3 and src[end] in _OCTAL:
            value = (value << 3) + src[end] - ord("0")
            end += 1
        return value & 0xFF, end
    return _SIMPLE_ESCAPES.get(c, c), i + 1


_BRACE_OR_QUOTE = re.compile(r'["{}]')


def split_braces(text: str) -> list[tuple[int, str]]:
    """keepalived's read_line() puts each unquoted ``{`` / ``}`` on a line of its own.

    Returns (offset in `text`, part) pairs, empty parts left out. One pass over the
    text: a quoted string is jumped over whole; after an unmatched quote nothing more is
    split."""
    parts: list[tuple[int, str]] = []
    n = len(text)
    start = i = 0
    while (found := _BRACE_OR_QUOTE.search(text, i)) is not None:
        i = found.start()
        c = text[i]
        if c == '"':
            end = text.find('"', i + 1)
            if end < 0:
                break
            i = end + 1
        else:
            parts.append((start, text[start:i].rstrip(" \t")))
            parts.append((i, c))
            i += 1
            while i < n and text[i] in " \t":
                i += 1
            start = i
    parts.append((start, text[start:].rstrip(" \t")))
    return [(offset, part) for offset, part in parts if part]


def is_include(text: str) -> bool:
    """An ``include`` line (``include``, or ``includer``/``m``/``w``/``b``/``a``, a blank)."""
    if not text.startswith("include") or len(text) < 8:
        return False
    if text[7] in " \t":
        return True
    return len(text) > 8 and text[7] in "rmwba" and text[8] in " \t"


MAX_INCLUDE_DEPTH = 32
# Reads of a file already read for this configuration (a snippet included in several
# places is fine): bounds files that include each other, which would otherwise be read
# once for every order of the files on the include stack (n! times for n files).
MAX_INCLUDE_REREADS = 256

_INCLUDE_TYPES = {"": "", "r": "r", "m": "rm", "w": "rmw", "b": "rb", "a": "rmbw"}


class Reader:
    """Reads the main file and its includes into logical lines, like read_line()."""

    def __init__(self, diags: Diagnostics) -> None:
        self.diags = diags
        self.lines: list[Line] = []
        self.files: list[str] = []
        self.main = ""  # the main file, as its lines name it
        self.stack: list[tuple[int, int]] = []  # (device, inode) of each file being read
        self.seen: set[tuple[int, int]] = set()  # every file read so far
        self.rereads = 0  # reads of a file already read (the same snippet included twice)
        self.depth = 0
        self.last: tuple[str, int] = ("", 0)

    def read_main(self, path: str) -> bool:
        if not os.path.isfile(path):
            self.diags.add(path, 0, "file_not_found", f"Config files missing '{path}'.")
            return False
        if not os.access(path, os.R_OK):
            self.diags.add(path, 0, "file_not_found", f"Unable to read configuration file {path}")
            return False
        self.main = path
        self._read_file(path, path, 0)
        self._check_depth()
        return True

    def read_text(self, text: str, shown: str) -> None:
        """A configuration given as text, its lines named `shown`. With no file to be
        relative to, ``include`` lines are not followed."""
        self.main = shown
        self._read_text(text, shown, None, 0)
        self._check_depth()

    def _check_depth(self) -> None:
        if self.depth > 0:
            file, line = self.last
            self.diags.add(
                file,
                line,
                "missing_eob",
                f"There are {self.depth} missing '}}'s or extra '{{'s",
            )

    def _read_file(self, real: str, shown: str, nesting: int) -> None:
        try:
            with open(real, "rb") as fh:
                identity = _identity(os.fstat(fh.fileno()))
                raw = fh.read()
        except OSError as exc:
            self.diags.add(
                shown,
                0,
                "file_not_found",
                f"Configuration file '{shown}' open problem ({exc.strerror}) - skipping",
            )
            return
        self.files.append(os.path.abspath(real))
        if identity in self.seen:
            self.rereads += 1
        self.seen.add(identity)
        self.stack.append(identity)
        text = raw.decode("utf-8", errors="surrogateescape")
        self._read_text(text, shown, os.path.dirname(real), nesting)
        self.stack.pop()

    def _read_text(self, text: str, shown: str, base: str | None, nesting: int) -> None:
        text = text.replace("\x00", "")
        for lineno, physical in enumerate(text.split("\n"), start=1):
            self._read_line(physical, shown, lineno, base, nesting)

    def _read_line(
        self, physical: str, shown: str, lineno: int, base: str | None, nesting: int
    ) -> None:
        def report(kind: str, message: str) -> None:
            self.diags.add(shown, lineno, kind, message)

        physical = physical.rstrip("\r\n")
        if not physical.strip(" \t\r\f\v"):
            return
        self.last = (shown, lineno)
        text, columns = decomment(physical, report)
        if not text:
            return
        if is_include(text):
            if base is not None:
                self._include(text, shown, lineno, base, nesting)
            return
        for offset, part in split_braces(text):
            if part == "{" or part == "}":
                if part == "{":
                    self.depth += 1
                elif self.depth < 1:
                    report("unexpected_eob", "Extra '}' found")
                    self.depth = 0
                else:
                    self.depth -= 1
                column = columns[offset]
                self.lines.append(Line(shown, lineno, [part], part, [(column, column + 1)]))
                continue
            words = split_words(part, report)
            if words:
                spans = [_span(columns, offset + at, len(word)) for at, word in words]
                self.lines.append(Line(shown, lineno, [w for _, w in words], part, spans))

    def _include(self, text: str, shown: str, lineno: int, base: str, nesting: int) -> None:
        if text[7] in " \t":
            itype, pattern = "", text[8:]
        else:
            itype, pattern = _INCLUDE_TYPES[text[7]], text[9:]
        pattern = pattern.strip(" \t")
        if nesting > MAX_INCLUDE_DEPTH:
            self.diags.add(shown, lineno, "fatal", f"Include depth exceeded for '{pattern}'")
            return
        if not pattern:
            return
        root = base or "."
        try:
            matches = sorted(glob.glob(pattern, root_dir=root))
        except (OSError, ValueError):
            matches = []
        if not matches:
            wildcard = any(c in pattern for c in "*?[")
            if not wildcard or not os.path.isdir(os.path.join(root, os.path.dirname(pattern))):
                kind = "file_not_found" if "m" in itype else "log"
                self.diags.add(shown, lineno, kind, f"Config files missing '{pattern}'.")
            else:
                kind = "file_not_found" if "w" in itype else "log"
                self.diags.add(shown, lineno, kind, f"No config files matched '{pattern}'.")
            return
        for match in matches:
            real = os.path.join(root, match)
            try:
                st = os.stat(real)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o111:
                kind = "file_not_found" if "r" in itype else "log"
                self.diags.add(
                    shown,
                    lineno,
                    kind,
                    f"Configuration file '{match}' is not a regular non-executable file - skipping",
                )
                continue
            if _identity(st) in self.stack:
                self.diags.add(
                    shown,
                    lineno,
                    "general",
                    f"Configuration file '{match}' includes itself - skipping",
                )
                continue
            if _identity(st) in self.seen and self.rereads >= MAX_INCLUDE_REREADS:
                # keepalived 2.2.7 has no bound here: files that include each other make
                # it recurse until it runs out of file descriptors, through every order.
                self.diags.add(
                    shown,
                    lineno,
                    "fatal",
                    f"Configuration file '{match}' already read too often"
                    f" ({MAX_INCLUDE_REREADS} repeated includes) - skipping",
                )
                continue
            self._read_file(real, match, nesting + 1)


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _span(columns: list[int], at: int, length: int) -> Span:
    """The physical-line columns of a word at offset `at` of the decommented text."""
    if length == 0:  # an empty quoted word: where its closing quote is
        start = columns[at] if at < len(columns) else (columns[-1] + 1 if columns else 0)
        return start, start
    return columns[at], columns[at + length - 1] + 1

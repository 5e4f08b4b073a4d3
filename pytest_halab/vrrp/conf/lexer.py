"""Reading keepalived.conf into logical lines, as keepalived's read_line() does.

A physical line loses its leading blanks and unquoted ``!``/``#`` comments (decomment),
each unquoted ``{`` / ``}`` goes on a logical line of its own, and a logical line is split
into blank-separated words, ``"..."`` being one word (split_words). The `Reader` follows
``include`` globs relative to the including file, and preprocesses lines as keepalived
2.2.7 does: ``@ID`` / ``@^ID`` config-id prefixes, ``$NAME=value`` parameters and their
``$NAME`` / ``${NAME}`` substitution, ``~SEQ`` / ``~SEQx`` / ``~LST`` repeated lines.

Every word of a line read as written keeps where it came from: `Line.spans` holds, for
each word, its columns in the physical line, so that a tool can change a value without
touching anything else. A line that preprocessing changed (a parameter replaced, a line
of a sequence or of a multiline parameter) has no spans.
"""

from __future__ import annotations

import glob
import itertools
import os
import random
import re
import stat
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from .diagnostics import Diagnostics

__all__ = [
    "Line",
    "Reader",
    "Report",
    "c_strtol",
    "decomment",
    "default_config_id",
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


def decomment(text: str, report: Report, *, untrimmed: bool = False) -> tuple[str, list[int]]:
    """keepalived's decomment(): strip leading blanks and unquoted ``!``/``#`` comments.

    Returns the text and, for each of its characters, its column in `text` (an escaped
    ``\\#`` outside quotes becomes ``#``, so columns are not always consecutive).

    An unterminated quote is reported with the line once its trailing blanks are trimmed;
    `untrimmed`: before, as keepalived prints it (the lines its VRRP process reads were
    trimmed by its parent, which wrote them)."""
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
        shown = result if untrimmed else result.rstrip(" \t")
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
                    report("syslog", f"Missing escape char at end: '{text}'")
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

# keepalived reads a line into a buffer of MAXBUF (1024) bytes: a parameter substitution
# that would make the line that long is refused (and logged).
MAXBUF = 1024
# keepalived copies a ~SEQ's numbers, up to and including its ')', into a 64-byte buffer.
SEQ_NUMBERS_MAX = 64

# Bounds keepalived 2.2.7 does not have. Parameters that refer to each other without
# growing the line ($A=$A, or $A=${B} with $B=$A) make it loop forever on the line; a
# ~SEQ is limited only by a C long (~SEQ(I, 9223372036854775807) runs for ever), and
# nested ~SEQ/~LST or multiline parameters multiply. Past these bounds the configuration
# is not read further, with a fatal diagnostic.
MAX_SUBSTITUTIONS_PER_LINE = 10_000
# The characters moved by substitutions (each costs the length of its line): bounds the
# time spent on many lines of many parameters.
MAX_SUBSTITUTION_WORK = 20_000_000
MAX_GENERATED_LINES = 100_000  # lines made by ~SEQ, ~LST and multiline parameters
MAX_GENERATED_CHARS = 4_000_000  # their characters

_ULONG = 1 << 64
_UINT = 1 << 32
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1
_BLANKS = " \t"
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = "0123456789"


def default_config_id() -> str:
    """keepalived's default config id: this host's node name (uname), up to its first dot."""
    return os.uname().nodename.split(".", 1)[0]


def _skip_blanks(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in _BLANKS:
        i += 1
    return i


def _scan_until(text: str, i: int, stops: str) -> int:
    """C's ``i + strcspn(text + i, stops)``."""
    n = len(text)
    while i < n and text[i] not in stops:
        i += 1
    return i


def _wrap_long(value: int) -> int:
    """A value as a 64-bit C long holds it (two's complement wrap-around)."""
    value &= _ULONG - 1
    return value - _ULONG if value > _LONG_MAX else value


def c_strtol(text: str, i: int = 0) -> tuple[int, int]:
    """C's ``strtol(text + i, &end, 0)``: (value saturated to a long, index of end).

    Leading white space, a sign, then hexadecimal after ``0x``, octal after ``0``, decimal
    otherwise. With no digits the value is 0 and the end is `i` itself."""
    n = len(text)
    j = i
    while j < n and text[j] in " \t\n\v\f\r":
        j += 1
    negative = False
    if j < n and text[j] in "+-":
        negative = text[j] == "-"
        j += 1
    digits, base = _DIGITS, 10
    if text.startswith(("0x", "0X"), j) and j + 2 < n and text[j + 2] in string.hexdigits:
        digits, base = string.hexdigits, 16
        j += 2
    elif j < n and text[j] == "0":
        digits, base = "01234567", 8
    k = j
    while k < n and text[k] in digits:
        k += 1
    if k == j:
        return 0, i
    value = int(text[j:k], base) if k - j <= 64 else _LONG_MAX + 1
    if negative:
        value = -value
    return max(_LONG_MIN, min(_LONG_MAX, value)), k


def _c_strtoul10(text: str, i: int) -> tuple[int, int]:
    """C's ``strtoul(text + i, &end, 10)`` on blanks and digits: saturates at ULONG_MAX."""
    j = _skip_blanks(text, i)
    k = j
    while k < len(text) and text[k] in _DIGITS:
        k += 1
    if k == j:
        return 0, i
    value = int(text[j:k]) if k - j <= 40 else _ULONG
    return min(value, _ULONG - 1), k


class _Stop(Exception):
    """A bound on preprocessing was passed: the configuration is not read further."""


@dataclass(slots=True)
class _Definition:
    """A parameter (keepalived's def_t): ``$NAME=value``, or a predefined one whose value a
    function computes at each use (`fn`, given the ``${NAME PARAMS}`` parameters)."""

    name: str
    value: str
    multiline: bool = False
    fn: Callable[[str | None], str] | None = None
    max_params: int = 0


@dataclass(slots=True)
class _Sequence:
    """``~SEQ(var, start, step, end) text``: `text` read once for each value of `var`."""

    var: str
    next: int
    step: int
    last: int
    hex: bool
    text: str


@dataclass(slots=True)
class _ValueList:
    """``~LST(var, v1, v2...) text`` or ``~LST({a, b}, {1, 2}, ...) text``."""

    names: list[str]
    sets: list[list[str]]
    text: str
    index: int = 0


@dataclass(slots=True, eq=False)
class _Source:
    """A file being read (an entry of keepalived's include stack).

    `copy`: read as keepalived's VRRP and checker processes read it, from the copy of the
    configuration the parent process wrote as it read the files (see `Reader`). `more`: the
    further matches of the ``include`` glob that opened it, read when it ends."""

    shown: str
    lines: list[str]
    base: str | None  # its directory, for relative includes; None: includes not followed
    nesting: int
    identity: tuple[int, int] | None
    copy: bool
    index: int = 0  # lines read; the line number of the last one read
    pwd: str | None = None
    more: list[str] = field(default_factory=list)
    root: str = "."
    where: tuple[str, int] = ("", 0)
    # includes the parent process made while reading this file's last line and that this
    # process (reading the copy) finds again both on disk and, after them, in the copy
    pending: list[tuple[list[str], str, int, tuple[str, int]]] = field(default_factory=list)


# A line being read: its text, where the logical line starts in it, and for each of its
# characters the columns of the physical line it comes from (a parameter's value, those
# of the reference it replaced), None for a line that is not in the file as such (of a
# ~SEQ, a ~LST or a multiline parameter).
Buffer = tuple[str, int, list[Span] | None]


class Reader:
    """Reads the main file and its includes into logical lines, like keepalived's read_line().

    Besides comments, braces and includes, the reader does keepalived's preprocessing
    (keepalived.conf(5), "Conditional configuration", "Parameter substitution",
    "Sequence blocks", "List blocks"): lines starting ``@ID `` or ``@^ID `` kept or dropped
    by `config_id`, ``$NAME=value`` definitions (``\\`` continues one over several lines),
    ``$NAME`` / ``${NAME}`` replaced on every line, the predefined ``${_PWD}``,
    ``${_INSTANCE}``, ``${_RANDOM [MIN [MAX]]}``, ``${_HASH}`` and ``${_BANG}``, and the
    lines ``~SEQ``, ``~SEQx`` and ``~LST`` repeat. keepalived 2.2.7 has no ``@if``-style
    blocks: such a line is a config-id line for the id ``if``.

    keepalived's parent process reads the files and writes what it read, decommented, into
    a consolidated copy; its checker, VRRP and BFD processes read that copy. All apply the
    preprocessing, and they differ where the copy is not the files: a line that is blank
    once decommented ends a multiline definition in the copy (not in the files); a '\\'
    that a blank followed ends a line of the copy (its blanks trimmed), which continues
    it; and a file that only a preprocessed line includes (``@id include f``, ``$INC``, a
    ``~SEQ`` of includes, ``x { include f``) is in the copy after that line, so the VRRP
    process reads it twice: from disk, then from the copy. By default the reader reads as
    the VRRP process (`parent_view` False); `diverged` says that the parent reads
    otherwise. The processes differ too by the ~SEQ count each starts with
    (`seq_count`, lowered by the `failed_lists` of the ones before).

    Not followed: in the copy, the ``\\#`` and ``\\!`` escapes of the files have become
    ``#`` and ``!``, which the VRRP process then reads as comments; here such a line reads
    as the parent reads it.
    """

    def __init__(
        self,
        diags: Diagnostics,
        *,
        config_id: str | None = None,
        parent_view: bool = False,
        rng: random.Random | None = None,
        seq_count: int = 0,
    ) -> None:
        self.diags = diags
        self.config_id = default_config_id() if config_id is None else config_id
        self.parent_view = parent_view
        self.rng = rng if rng is not None else random.Random()
        self.lines: list[Line] = []
        self.files: list[str] = []
        self.main = ""  # the main file, as its lines name it
        self.seen: set[tuple[int, int]] = set()  # every file read so far
        self.rereads = 0  # reads of a file already read (the same snippet included twice)
        self.depth = 0
        self.last: tuple[str, int] = ("", 0)
        self.diverged = False  # keepalived's parent process reads this text otherwise
        self.stopped = False  # a bound was passed: the rest was not read
        self.failed_lists = 0  # invalid ~LST lines (each lowers keepalived's ~SEQ count)
        self._sources: list[_Source] = []  # keepalived's include stack, innermost last
        self._copy_next = not parent_view  # how _read_file reads the file it opens
        self._defs: dict[str, _Definition] = {}
        self._seqs: list[_Sequence | _ValueList] = []  # innermost last
        # keepalived's seq_list_count, an unsigned int: one more for each ~SEQ/~LST read,
        # one less for each done, and one less for each invalid ~LST too (it frees an
        # entry it never counted). It is never reset: each of keepalived's processes
        # starts with what the previous one left, `seq_count`. A ~SEQ/~LST makes lines
        # only while it is above the count at the start of a multiline parameter.
        self._seq_count = seq_count % _UINT
        self._multiline: tuple[str, int] | None = None  # the rest of a multiline value
        self._multiline_stack: list[tuple[tuple[str, int], int]] = []
        self._multiline_seq_depth = 0
        self._defining: _Definition | None = None  # a multiline definition being read
        self._residue: Buffer | None = None  # the rest of a line after a brace
        self._origin: _Source | None = None  # the file the last physical line came from
        self._no_reference: tuple[str, int] | None = None  # (line, from): nothing to replace
        self._refused = False  # the last _replace refused a substitution (line too long)
        self._line_substitutions = 0
        self._work = 0
        self._generated = 0
        self._generated_chars = 0
        self._add_predefined()

    # -- the predefined parameters (keepalived's set_std_definitions)
    def _add_predefined(self) -> None:
        for name, value, fn, max_params in (
            ("_PWD", "", self._pwd, 0),
            ("_INSTANCE", "", lambda _params: self.config_id, 0),
            ("_RANDOM", "", self._random, 2),
            ("_HASH", "#", None, 0),
            ("_BANG", "!", None, 0),
        ):
            self._defs[name] = _Definition(name, value, fn=fn, max_params=max_params)

    def _pwd(self, _params: str | None) -> str:
        """The directory keepalived is in: that of the file being read (it changes to the
        directory of every file it opens by a path with a '/'), symbolic links resolved."""
        source = self._sources[-1] if self._sources else None
        if source is None or source.base is None:
            return os.getcwd()
        if source.pwd is None:
            source.pwd = os.path.realpath(source.base or ".")
        return source.pwd

    def _random(self, params: str | None) -> str:
        """keepalived's get_random(): ``${_RANDOM [MIN [MAX]]}``, in C's arithmetic."""
        low, high = 0, 32767
        if params is not None:
            low, end = _c_strtoul10(params, 0)
            if end < len(params) - 1:
                high, end = _c_strtoul10(params, end)
                if end != len(params):
                    self._report(
                        "syslog", f"Too many parameters or extra text for ${{_RANDOM {params}}}"
                    )
        span = (high - low + 1) % _ULONG
        if span == 0:
            raise _Stop(
                f"${{_RANDOM {params}}}: the range of all unsigned longs; keepalived 2.2.7"
                " divides by zero here and dies (SIGFPE) - not reading the configuration further"
            )
        value = _wrap_long(self.rng.randrange(1 << 31) % span + low)
        # keepalived prints it into room for as many digits as MAX has
        width = len(str(abs(_wrap_long(high))))
        return str(value)[:width]

    # -- reading
    def read_main(self, path: str) -> bool:
        if not os.path.isfile(path):
            self.diags.add(path, 0, "file_not_found", f"Config files missing '{path}'.")
            return False
        if not os.access(path, os.R_OK):
            self.diags.add(path, 0, "file_not_found", f"Unable to read configuration file {path}")
            return False
        self.main = path
        self._copy_next = not self.parent_view
        self._read_file(path, path, 0)
        self._run()
        return True

    def read_text(self, text: str, shown: str) -> None:
        """A configuration given as text, its lines named `shown`. With no file to be
        relative to, ``include`` lines are not followed."""
        self.main = shown
        lines = _physical_lines(text)
        self._sources.append(_Source(shown, lines, None, 0, None, not self.parent_view))
        self._run()

    def _run(self) -> None:
        try:
            while (buffer := self._next_line()) is not None:
                self._emit(*buffer)
        except _Stop as stop:
            self._report("fatal", str(stop))
            self.stopped = True
            self._sources.clear()
            return
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

    def _report(self, kind: str, message: str) -> None:
        """A diagnostic where keepalived is: the line last read from the innermost file."""
        if self._sources:
            top = self._sources[-1]
            self.diags.add(top.shown, top.index, kind, message)
        else:
            self.diags.add(self.last[0] or self.main, self.last[1], kind, message)

    def _read_file(self, real: str, shown: str, nesting: int) -> None:
        """Open a file: it is read next (from the top of the include stack)."""
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
        text = raw.decode("utf-8", errors="surrogateescape")
        base = os.path.dirname(real)
        self._sources.append(
            _Source(shown, _physical_lines(text), base, nesting, identity, self._copy_next)
        )

    # -- keepalived's read_line(): the next logical line, preprocessed
    def _next_line(self) -> Buffer | None:
        while True:
            literal = False
            if self._residue is not None:
                buf, off, cols = self._residue
                self._residue = None
            elif self._seqs and self._seq_count > self._multiline_seq_depth:
                buf, off, cols = self._sequence_line(), 0, None
            elif self._multiline is not None:
                buf, off, cols = self._multiline_line(), 0, None
            else:
                physical = self._physical()
                if physical is None:
                    return None
                buf, cols, literal = physical
                off = 0
            if off == 0:
                # a new line (not the rest of one after a brace), perhaps the same text
                # as one before it (a ~SEQ's), with other parameters
                self._no_reference = None
            if self._defining is not None:
                self._continue_definition(buf[off:])
                continue
            if off >= len(buf):
                continue
            self._line_substitutions = 0
            buf, off, cols = self._preprocess(buf, off, cols)
            if off >= len(buf):
                continue
            if _is_include_at(buf, off):
                self._include(buf[off:], literal)
                continue
            if literal and self._origin is not None and self._origin.copy:
                # An include line as written that is no include once preprocessed: the
                # parent reads it as a keyword line, its copy has an empty line there.
                self.diverged = True
                continue
            return buf, off, cols

    def _physical(self) -> tuple[str, list[Span], bool] | None:
        """The next line of the innermost file that is not empty once decommented (ending
        a multiline definition at an empty one), its columns, and whether it is an
        ``include`` line as written."""
        while self._sources:
            source = self._sources[-1]
            if source.pending:
                pending, source.pending = source.pending, []
                for matches, root, nesting, where in pending:
                    self._open(matches, root, nesting, True, where)
                continue
            if source.index >= len(source.lines):
                self._sources.pop()
                if source.more:
                    self._open(source.more, source.root, source.nesting, source.copy, source.where)
                continue
            physical = source.lines[source.index].rstrip("\r\n")
            source.index += 1
            if not physical:
                if self._defining is not None:
                    self._end_definition()
                continue
            if physical.strip(" \t\r\f\v"):
                self.last = (source.shown, source.index)

            def report(kind: str, message: str, at: _Source = source) -> None:
                self.diags.add(at.shown, at.index, kind, message)

            # What keepalived's parent reads in the file, and writes to its copy (it prints
            # an unterminated quote with the line's trailing blanks).
            text, columns = decomment(physical, report, untrimmed=True)
            literal = is_include(text)
            if source.copy and not literal and ("\\" in text or '"' in text):
                # The VRRP process decomments the copy's line again: its complaints, and a
                # backslash that a blank followed in the file ends the line (continues it).
                again, positions = decomment(text, report, untrimmed=True)
                if again != text and not _escapes_a_comment(text):
                    self.diverged = True
                    columns = [columns[i] for i in positions]
                    text = again
            if source.copy and (not text or (literal and self._defining is not None)):
                # The copy has an empty line here (an include line's file follows it).
                if self._defining is not None:
                    self.diverged = True
                    self._end_definition()
                continue
            if not text:
                continue
            self._origin = source
            return text, [(c, c + 1) for c in columns], literal
        return None

    def _emit(self, buf: str, off: int, cols: list[Span] | None) -> None:
        """Split a preprocessed line at its first unquoted brace, keeping the rest for the
        next read (preprocessed again), and make it a `Line`."""
        source = self._sources[-1] if self._sources else None
        shown, lineno = (source.shown, source.index) if source else self.last

        def report(kind: str, message: str) -> None:
            self.diags.add(shown, lineno, kind, message)

        end = len(buf)
        while end > off and buf[end - 1] in _BLANKS:
            end -= 1
        brace = -1
        if buf[off] in "{}":
            brace = off
        else:
            i = off
            while (found := _BRACE_OR_QUOTE.search(buf, i, end)) is not None:
                i = found.start()
                if buf[i] != '"':
                    brace = i
                    break
                close = buf.find('"', i + 1, end)
                if close < 0:
                    break
                i = close + 1
        if brace == off:
            rest = _skip_blanks(buf, off + 1)
            if rest < end:
                self._residue = (buf[:end], rest, cols)
            part_end = off + 1
        elif brace > off:
            self._residue = (buf[:end], brace, cols)
            part_end = brace
        else:
            part_end = end
        while part_end > off and buf[part_end - 1] in _BLANKS:
            part_end -= 1
        part = buf[off:part_end]
        if part == "{":
            self.depth += 1
        elif part == "}":
            if self.depth < 1:
                report("unexpected_eob", "Extra '}' found")
                self.depth = 0
            else:
                self.depth -= 1
        if part in ("{", "}"):
            spans = [] if cols is None else [cols[off]]
            self.lines.append(Line(shown, lineno, [part], part, spans))
            return
        words = split_words(part, report)
        if words:
            spans = [] if cols is None else _word_spans(cols, off, words)
            self.lines.append(Line(shown, lineno, [w for _, w in words], part, spans))

    # -- preprocessing
    def _preprocess(self, buf: str, off: int, cols: list[Span] | None) -> Buffer:
        """keepalived's config-id, definition, ~SEQ/~LST and substitution steps on a line;
        an empty result (`off` at the end) when nothing of it is left to parse."""
        while True:
            if buf.startswith("@", off):
                reverse = buf.startswith("^", off + 1)
                start = off + (2 if reverse else 1)
                blank = _scan_until(buf, start, _BLANKS)
                if blank >= len(buf):
                    return buf, len(buf), None
                if (buf[start:blank] == self.config_id) == reverse:
                    return buf, len(buf), None
                off = _skip_blanks(buf, blank)
            if buf.startswith("$", off):
                definition = self._define(buf[off:])
                if definition is not None:
                    if definition.multiline:
                        self._defining = definition
                    return buf, len(buf), None
            if buf.startswith(("~SEQ", "~LST"), off):
                line = buf[off:]
                if line[1] == "S":
                    if not self._add_sequence(line):
                        self._report("general", f"Invalid ~SEQ specification '{line}'")
                elif not self._add_list(line):
                    self._report("general", f"Invalid ~LST specification '{line}'")
                    self.failed_lists += 1
                    self._seq_count = (self._seq_count - 1) % _UINT
                return buf, len(buf), None
            if buf.startswith("~", off):
                return buf, off, cols
            cached = self._no_reference
            if cached is not None and cached[0] is buf and off >= cached[1]:
                return buf, off, cols  # the rest of a line where nothing was found
            if buf.find("$", off) < 0:
                return buf, off, cols
            line = buf[off:]
            origins = None if cols is None else cols[off:]
            replaced, changed, self._multiline, origins = self._replace(
                line, MAXBUF, self._multiline, origins
            )
            if not changed:
                if replaced is line and not self._refused:
                    self._no_reference = (buf, off)
                    return buf, off, cols
                if replaced is line:
                    return buf, off, cols
                return replaced, 0, origins  # a refused substitution: the line as it was then

            def report(kind: str, message: str) -> None:
                self._report(kind, message)

            buf, positions = decomment(replaced, report, untrimmed=True)
            off, cols = 0, None if origins is None else [origins[i] for i in positions]
            if not (buf.startswith("@") or "$" in buf):
                return buf, off, cols

    def _define(self, line: str) -> _Definition | None:
        """keepalived's check_definition(): ``$NAME=value`` (no blank before the ``=``)
        defines NAME, or redefines it (a predefined one too); a value ending with ``\\``
        starts a multiline definition."""
        if len(line) < 2 or line[1] not in _NAME_START:
            return None
        equals = 2
        while equals < len(line) and line[equals] != "=":
            if line[equals] not in _NAME_CHARS:
                return None
            equals += 1
        if equals >= len(line):
            return None
        name = line[1:equals]
        definition = self._defs.get(name)
        if definition is None:
            definition = self._defs[name] = _Definition(name, "")
        definition.fn = None
        value = line[_skip_blanks(line, equals + 1) :]
        if value.endswith("\\"):
            length = len(value)
            while length >= 2 and value[length - 2] in _BLANKS:
                length -= 1
            value = value[: length - 1] + "\n" if length >= 2 else ""
            definition.multiline = True
        else:
            definition.multiline = False
        definition.value = value
        return definition

    def _continue_definition(self, line: str) -> None:
        """A line of a multiline definition: up to a line without a final ``\\``."""
        definition = self._defining
        assert definition is not None
        if line.endswith("\\"):
            piece = line[:-1].rstrip(_BLANKS) + "\n"
            more = True
        else:
            piece, more = line, False
            self._end_definition()
        if len(piece) >= 2 or (piece and not more):
            definition.value += piece

    def _end_definition(self) -> None:
        definition = self._defining
        assert definition is not None
        self._defining = None
        if not definition.value:
            definition.multiline = False

    def _set(self, name: str, value: str) -> None:
        """keepalived's set_definition(), for a ~SEQ/~LST variable."""
        if not name or name[0] not in _NAME_START:
            return  # keepalived adds a definition no reference can name
        definition = self._defs.get(name)
        if definition is None:
            self._defs[name] = _Definition(name, value)
        else:
            definition.value, definition.fn = value, None

    def _reference(self, line: str, at: int) -> tuple[_Definition, int, str | None] | None:
        """keepalived's find_definition() for the ``$`` at `at - 1`: the definition, the
        length of the text it replaces, and its ``${NAME PARAMS}`` parameters.

        ``$NAME`` counts when followed by a blank, ``,``, ``)`` or the end of the line,
        ``${NAME}`` anywhere; a multiline definition only at the end of the line."""
        n = len(line)
        braces = at < n and line[at] == "{"
        start = at + 1 if braces else at
        if start >= n or line[start] not in _NAME_START:
            return None
        end = start + 1
        while end < n and line[end] in _NAME_CHARS:
            end += 1
        name = line[start:end]
        params: tuple[int, int] | None = None
        if braces:
            p = end
            while p < n and (line[p] == " " or line[p] in _DIGITS):
                if line[p] != " ":
                    params = (params[0] if params else p, p)
                p += 1
            if params is not None and params[1] + 1 != p:
                return None
            if p >= n or line[p] != "}":
                return None
            at_end = end + 1 == n
        else:
            if end < n and line[end] not in " \t,)":
                return None
            at_end = end == n
        definition = self._defs.get(name)
        if definition is None or (definition.multiline and not at_end):
            return None
        if params is not None:
            if not definition.max_params:
                return None
            # the whole ${NAME PARAMS}
            return definition, params[1] + 2 - (at - 1), line[params[0] : params[1] + 1]
        # keepalived replaces $NAME or ${NAME} (a blank before the '}' stays)
        return definition, len(name) + 1 + (2 if braces else 0), None

    def _replace(
        self,
        line: str,
        max_len: int,
        multiline: tuple[str, int] | None,
        origins: list[Span] | None = None,
    ) -> tuple[str, bool, tuple[str, int] | None, list[Span] | None]:
        """keepalived's replace_param(): replace the parameters of `line`, again and again
        from where each was (so a value's own parameters are replaced in turn), until none
        is left or a value starting with ``~`` was put in.

        Returns the line, whether anything was replaced, the rest of a multiline value to
        read next, and the `origins` of the line's characters (those of a value are the
        columns of the whole reference it replaced). A substitution that would make the
        line `max_len` long is refused (logged): the line stays as it was then, reported
        unchanged."""
        found = False
        self._refused = False
        original = multiline
        pos = 0
        while (pos := line.find("$", pos)) >= 0 and pos + 1 < len(line):
            reference = self._reference(line, pos + 1)
            if reference is None:
                pos += 1
                continue
            definition, replaced, params = reference
            self._count_substitution(line)
            found = True
            if definition.multiline:
                if multiline is not None:
                    self._multiline_stack.append((multiline, self._multiline_seq_depth))
                self._multiline_seq_depth = self._seq_count
            if definition.fn is not None:
                definition.value = definition.fn(params)
            value = definition.value
            if definition.multiline:
                newline = value.find("\n")
                first = value if newline < 0 else value[:newline]
                multiline = (value, len(value) if newline < 0 else newline + 1)
            else:
                first = value
            if len(line) + len(first) - replaced >= max_len:
                self._report(
                    "syslog",
                    f"Parameter substitution on line '{line}' would exceed maximum line length",
                )
                self._refused = True
                return line, False, original, origins
            end = pos + replaced
            kept = pos + len(first) + 1
            if params is not None and len(first) < replaced and end < len(line):
                # keepalived 2.2.7 moves only the character after the '}' back, the rest
                # of the line stays where it was: "${_RANDOM 1 9} x" -> "5 RANDOM 1 9} x"
                line = line[:pos] + first + line[end] + line[kept:]
                if origins is not None:
                    where = (origins[pos][0], origins[end - 1][1])
                    moved = [origins[end]]
                    origins = origins[:pos] + [where] * len(first) + moved + origins[kept:]
            else:
                line = line[:pos] + first + line[end:]
                if origins is not None:
                    where = (origins[pos][0], origins[end - 1][1])
                    origins = origins[:pos] + [where] * len(first) + origins[end:]
            if value.lstrip(_BLANKS).startswith("~"):
                break
        return line, found, multiline, origins

    def _count_substitution(self, line: str) -> None:
        self._line_substitutions += 1
        self._work += len(line) + 64
        if self._line_substitutions > MAX_SUBSTITUTIONS_PER_LINE:
            raise _Stop(
                f"Parameter substitution on line '{line}' does not end (more than"
                f" {MAX_SUBSTITUTIONS_PER_LINE} substitutions: parameters that refer to each"
                " other; keepalived 2.2.7 loops for ever here) - not reading the configuration"
                " further"
            )
        if self._work > MAX_SUBSTITUTION_WORK:
            raise _Stop(
                f"Parameter substitutions moved more than {MAX_SUBSTITUTION_WORK} characters"
                " - not reading the configuration further"
            )

    def _generated_line(self, text: str) -> str:
        self._generated += 1
        self._generated_chars += len(text) + 1
        if self._generated > MAX_GENERATED_LINES or self._generated_chars > MAX_GENERATED_CHARS:
            raise _Stop(
                f"~SEQ, ~LST and multiline parameters made more than {MAX_GENERATED_LINES}"
                f" lines or {MAX_GENERATED_CHARS} characters - not reading the configuration"
                " further"
            )
        return text

    def _multiline_line(self) -> str:
        """The next line of a multiline parameter's value (then of the one it was in)."""
        assert self._multiline is not None
        value, at = self._multiline
        newline = value.find("\n", at)
        if newline < 0:
            line = value[at:]
            if self._multiline_stack:
                self._multiline, self._multiline_seq_depth = self._multiline_stack.pop()
            else:
                self._multiline, self._multiline_seq_depth = None, 0
        else:
            line = value[at:newline]
            self._multiline = (value, newline + 1)
        return self._generated_line(line)

    def _sequence_line(self) -> str:
        """The innermost ~SEQ/~LST's text, its variables set to their next values."""
        seq = self._seqs[-1]
        if isinstance(seq, _Sequence):
            value = format(seq.next % _ULONG, "x") if seq.hex else str(seq.next)
            self._set(seq.var, value)
            seq.next = _wrap_long(seq.next + seq.step)
            if (seq.step > 0 and seq.next > seq.last) or (seq.step < 0 and seq.next < seq.last):
                self._drop_sequence()
        else:
            for name, value in zip(seq.names, seq.sets[seq.index], strict=True):
                self._set(name, value)
            if seq.index == len(seq.sets) - 1:
                self._drop_sequence()
            else:
                seq.index += 1
        return self._generated_line(seq.text)

    def _drop_sequence(self) -> None:
        self._seqs.pop()
        self._seq_count = (self._seq_count - 1) % _UINT

    def _push_sequence(self, seq: _Sequence | _ValueList) -> None:
        self._seqs.append(seq)
        self._seq_count = (self._seq_count + 1) % _UINT

    def _add_sequence(self, line: str) -> bool:
        """keepalived's add_seq(): ``~SEQ(VAR, [START,] [STEP,] END) text`` (``~SEQx``:
        the values in hexadecimal). Its numbers may be parameters (not multiline ones)."""
        p = 4
        hexa = line.startswith("x", p)
        p = _skip_blanks(line, p + 1 if hexa else p)
        if not line.startswith("(", p):
            return False
        var = p = _skip_blanks(line, p + 1)
        p = _scan_until(line, p, " \t,)")
        var_end = p
        p = _skip_blanks(line, p)
        if p >= len(line) or line[p] == ")" or p == var:
            self._report("general", f"Invalid ~SEQ definition '{line}'")
            return False
        p = _skip_blanks(line, p + 1)  # past the ',' (or whatever is there)
        close = line.find(")", p)
        if close < 0 or close + 2 - p > SEQ_NUMBERS_MAX:
            self._report("general", f"~SEQ parameter strings too long '{line}'")
            return False
        numbers, _, multiline, _ = self._replace(line[p : close + 1], SEQ_NUMBERS_MAX, None)
        if multiline is not None:
            self._report("general", f"~SEQ parameter is multiline definition '{line}'")
            return False
        invalid = f"Invalid ~SEQ definition '{line}'"
        one, q = c_strtol(numbers, 0)
        q = _skip_blanks(numbers, q)
        if numbers.startswith(")", q):
            end = one
            step = -1 if end < 1 else 1
            start = -1 if end < 0 else 1
        else:
            if not numbers.startswith(",", q):
                self._report("general", invalid)
                return False
            two, q = c_strtol(numbers, q + 1)
            q = _skip_blanks(numbers, q)
            if numbers.startswith(")", q):
                start, end = one, two
                step = 1 if start <= end else -1
            else:
                if not numbers.startswith(",", q):
                    self._report("general", invalid)
                    return False
                three, q = c_strtol(numbers, q + 1)
                q = _skip_blanks(numbers, q)
                if not numbers.startswith(")", q):
                    self._report("general", invalid)
                    return False
                start, step, end = one, two, three
                if not step or (start < end and step < 0) or (start > end and step > 0):
                    self._report("general", f"Invalid ~SEQ values '{line}'")
                    return False
        if hexa and (start < 0 or end < 0):
            self._report("general", f"~SEQx is only valid for positive numbers '{line}'")
            return False
        text = line[_skip_blanks(line, close + 1) :]
        self._push_sequence(_Sequence(line[var:var_end], start, step, end, hexa, text))
        return True

    def _add_list(self, line: str) -> bool:
        """keepalived's add_lst(): ``~LST(VAR, v1, v2...) text`` or
        ``~LST({A, B}, {a1, b1}, {a2, b2}...) text`` (missing values are empty)."""
        p = _skip_blanks(line, 4)
        if not line.startswith("(", p):
            return False
        p = _skip_blanks(line, p + 1)
        closing = ","
        if line.startswith("{", p):
            closing = "}"
            p = _skip_blanks(line, p + 1)
        names: list[str] = []
        while True:
            end = _scan_until(line, p, " \t,}")
            names.append(line[p:end])
            p = _skip_blanks(line, end)
            if line.startswith(closing, p):
                break
            if not line.startswith(",", p):
                return False
            p = _skip_blanks(line, p + 1)
        if line.startswith("}", p):
            p = _skip_blanks(line, p + 1)
        if not line.startswith(",", p):
            return False
        p = _skip_blanks(line, p + 1)
        sets: list[list[str]] = []
        while True:
            closing = ","
            if line.startswith("{", p):
                closing = "}"
                p = _skip_blanks(line, p + 1)
            values: list[str] = []
            while True:
                end = _scan_until(line, p, " \t,})")
                values.append(line[p:end])
                p = _skip_blanks(line, end)
                if line.startswith(closing, p) or (closing == "," and line.startswith(")", p)):
                    break
                if not line.startswith(",", p):
                    return False
                p = _skip_blanks(line, p + 1)
                if len(values) > len(names) - 1:
                    self._report("general", f"~LST specification has too many values '{line}'")
                    return False
            values.extend([""] * (len(names) - len(values)))
            sets.append(values)
            if closing == "}" and line.startswith("}", p):
                p = _skip_blanks(line, p + 1)
            if line.startswith(")", p):
                break
            if not line.startswith(",", p):
                return False
            p = _skip_blanks(line, p + 1)
        text = line[_skip_blanks(line, p + 1) :]
        self._push_sequence(_ValueList(names, sets, text))
        return True

    # -- includes
    def _include(self, text: str, literal: bool) -> None:
        """An ``include`` line: its files are read next, relative to the innermost file.

        One that preprocessing made (not an include line as written) while reading the
        copy is read twice: from disk now, from the copy after that line."""
        top = self._sources[-1]
        if text[7] in " \t":
            itype, pattern = "", text[8:]
        else:
            itype, pattern = _INCLUDE_TYPES[text[7]], text[9:]
        pattern = pattern.strip(" \t")
        if top.nesting > MAX_INCLUDE_DEPTH:
            self._report("fatal", f"Include depth exceeded for '{pattern}'")
            return
        if not pattern or top.base is None:
            return
        root = top.base or "."
        try:
            matches = sorted(glob.glob(pattern, root_dir=root))
        except (OSError, ValueError):
            matches = []
        if not matches:
            wildcard = any(c in pattern for c in "*?[")
            if not wildcard or not os.path.isdir(os.path.join(root, os.path.dirname(pattern))):
                kind = "file_not_found" if "m" in itype else "log"
                self._report(kind, f"Config files missing '{pattern}'.")
            else:
                kind = "file_not_found" if "w" in itype else "log"
                self._report(kind, f"No config files matched '{pattern}'.")
            return
        files = []
        for match in matches:
            try:
                st = os.stat(os.path.join(root, match))
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o111:
                kind = "file_not_found" if "r" in itype else "log"
                self._report(
                    kind,
                    f"Configuration file '{match}' is not a regular non-executable file - skipping",
                )
                continue
            files.append(match)
        if not files:
            return
        where = (top.shown, top.index)
        origin = self._origin
        doubled = not literal and origin is not None and origin.copy
        if doubled:
            self.diverged = True
        copy = literal and origin is not None and origin.copy
        self._open(files, root, top.nesting + 1, copy, where)
        if doubled and origin is not None:
            origin.pending.append((files, root, top.nesting + 1, where))

    def _open(
        self, matches: list[str], root: str, nesting: int, copy: bool, where: tuple[str, int]
    ) -> None:
        """Open the first of `matches` that can be read; the others follow it."""
        for i, match in enumerate(matches):
            real = os.path.join(root, match)
            try:
                identity = _identity(os.stat(real))
            except OSError:
                continue
            if any(s.identity == identity and s.index > 0 for s in self._sources):
                self.diags.add(
                    *where, "general", f"Configuration file '{match}' includes itself - skipping"
                )
                continue
            if identity in self.seen and self.rereads >= MAX_INCLUDE_REREADS:
                # keepalived 2.2.7 has no bound here: files that include each other make
                # it recurse until it runs out of file descriptors, through every order.
                self.diags.add(
                    *where,
                    "fatal",
                    f"Configuration file '{match}' already read too often"
                    f" ({MAX_INCLUDE_REREADS} repeated includes) - skipping",
                )
                continue
            depth = len(self._sources)
            self._copy_next = copy
            self._read_file(real, match, nesting)
            if len(self._sources) > depth:
                opened = self._sources[-1]
                opened.more, opened.root, opened.where = matches[i + 1 :], root, where
                return


def _escapes_a_comment(text: str) -> bool:
    """A decommented line has a '#' or '!' outside quotes: the file had ``\\#`` or
    ``\\!`` there, which keepalived's VRRP process reads as a comment (in its copy of the
    file, decommented once more). Not followed here: such lines keep the escaped
    character, as keepalived's parent process reads them."""
    quote = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            quote = not quote
        elif not quote and c in "#!":
            return True
        i += 1
    return False


def _physical_lines(text: str) -> list[str]:
    """The lines of a file (NUL characters dropped); a final newline ends the last line,
    it does not start an empty one (which would end a multiline definition)."""
    lines = text.replace("\x00", "").split("\n")
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    return lines


def _is_include_at(text: str, off: int) -> bool:
    if not text.startswith("include", off):
        return False
    return is_include(text[off : off + 9])


def _identity(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _word_spans(origins: list[Span], off: int, words: list[tuple[int, str]]) -> list[Span]:
    """The physical-line columns of each word (at its offset from `off`): from the start of
    its first character's origin to the end of its last's. None (an empty list) when two
    words share columns (both come from one parameter): no word can be changed alone."""
    spans = []
    for at, word in words:
        at += off
        if not word:  # an empty quoted word: where its closing quote is
            start = origins[at][0] if at < len(origins) else (origins[-1][1] if origins else 0)
            spans.append((start, start))
            continue
        chars = origins[at : at + len(word)]
        spans.append((min(s for s, _ in chars), max(e for _, e in chars)))
    ordered = sorted(spans)
    if any(b[0] < a[1] for a, b in itertools.pairwise(ordered)):
        return []
    return spans

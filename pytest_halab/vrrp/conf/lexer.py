"""Reading keepalived.conf into logical lines, as keepalived's read_line() does.

A physical line loses its leading blanks and unquoted ``!``/``#`` comments, each unquoted
``{`` / ``}`` goes on a logical line of its own, and a logical line is split into
blank-separated words, ``"..."`` being one word (how a line is cut: `words`). The `Reader`
follows ``include`` globs relative to the including file, and preprocesses lines as
keepalived 2.2.7 does (config ids, parameters, ~SEQ/~LST: `preprocess`).

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
import stat
from dataclasses import dataclass, field

from .diagnostics import Diagnostics
from .preprocess import (
    _BLANKS,
    _UINT,
    MAXBUF,
    Buffer,
    Preprocessor,
    _Definition,
    _Sequence,
    _skip_blanks,
    _Stop,
    _ValueList,
    c_strtol,
    default_config_id,
)
from .words import (
    _BRACE_OR_QUOTE,
    Report,
    Span,
    decomment,
    is_include,
    split_braces,
    split_quoted_escaped,
    split_words,
)

_PIECE = MAXBUF - 1  # the most bytes fgets() reads into keepalived's buffer at a time

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


MAX_INCLUDE_DEPTH = 32
# Reads of a file already read for this configuration (a snippet included in several
# places is fine): bounds files that include each other, which would otherwise be read
# once for every order of the files on the include stack (n! times for n files).
MAX_INCLUDE_REREADS = 256

_INCLUDE_TYPES = {"": "", "r": "r", "m": "rm", "w": "rmw", "b": "rb", "a": "rmbw"}
# include_check's options, as the include variants' letters
# (keepalived 2.2.7 takes "read", and calls "readable", which its man page names, unknown)
_INCLUDE_CHECKS = {"read": "r", "match": "rm", "wildcard_match": "rmw", "brace_match": "rb"}


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
    unterminated: bool = False  # the file's last line has no newline
    pwd: str | None = None
    more: list[str] = field(default_factory=list)
    root: str = "."
    where: tuple[str, int] = ("", 0)
    include: tuple[str, str] = ("", "")  # the include's pattern and checks (for `more`)
    # includes the parent process made while reading this file's last line and that this
    # process (reading the copy) finds again both on disk and, after them, in the copy
    pending: list[tuple[list[str], str, int, tuple[str, int]]] = field(default_factory=list)
    # include_check as it was when this file was opened: restored when it is closed
    saved_check: str = ""
    # the parent's number of each line, when a line of the file was cut (_physical_lines)
    numbers: list[int] | None = None
    # the copy's last line read was MAXBUF - 1 bytes long: fgets() gave it without its
    # newline, so it has the number of the line before (a piece of a cut line, whole)
    lag: int = 0

    @property
    def line_number(self) -> int:
        """The number keepalived gives the line last read. Its parent process, reading
        the file itself, counts a line when it reads its newline: a last line without one
        keeps the number of the line before (the processes reading its copy, where the
        parent wrote one, do not). A line of the file cut in pieces is a line per piece in
        the copy; the parent numbers the pieces by the newlines it read."""
        if self.numbers is not None:
            if not self.copy:
                return self.numbers[self.index - 1] if self.index else 0
            return self.index - self.lag
        if self.unterminated and not self.copy and self.index == len(self.lines) > 1:
            return self.index - 1
        return self.index


class Reader(Preprocessor):
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
        all_config: bool = False,
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
        # include_check's letters (see _INCLUDE_CHECKS); keepalived's -e (all_config): every
        # check from the start, as a bare `include_check` first in the file
        self._include_check = "rmwb" if all_config else ""
        self.include_failed = False  # a checked include failed: keepalived parses nothing
        self._refused = False  # the last _replace refused a substitution (line too long)
        self._line_substitutions = 0
        self._work = 0
        self._generated = 0
        self._generated_chars = 0
        self._add_predefined()

    # -- reading
    def read_main(self, path: str) -> bool:
        if os.path.isdir(path):
            # keepalived's glob marks a directory with a '/' (it then exits 0; we say 4, as
            # for a missing file: a config test of no configuration must not pass)
            message = f"Configuration file '{path.rstrip('/')}/' is a directory - skipping"
            self.diags.add(path, 0, "file_not_found", message, located=False)
            return False
        if not os.path.isfile(path):
            message = f"Config files missing '{path}'."
            self.diags.add(path, 0, "file_not_found", message, located=False)
            return False
        if not os.access(path, os.R_OK):
            message = f"Unable to read configuration file {path}"
            self.diags.add(path, 0, "file_not_found", message, located=False)
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
        lines, numbers = _physical_lines(text)
        source = _Source(shown, lines, None, 0, None, not self.parent_view, numbers=numbers)
        self.diverged = self.diverged or numbers is not None
        self._sources.append(source)
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
            self.diags.add(top.shown, top.line_number, kind, message)
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
        lines, numbers = _physical_lines(text)
        # the parent numbers the pieces of a cut line otherwise (_Source.line_number)
        self.diverged = self.diverged or numbers is not None
        self._sources.append(
            _Source(
                shown,
                lines,
                base,
                nesting,
                identity,
                self._copy_next,
                unterminated=bool(text) and not text.endswith("\n"),
                saved_check=self._include_check,
                numbers=numbers,
            )
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
                self._include_check = source.saved_check
                if source.more:
                    self._open(
                        source.more,
                        source.root,
                        source.nesting,
                        source.copy,
                        source.where,
                        source.include,
                    )
                continue
            physical = source.lines[source.index].rstrip("\r\n")
            source.index += 1
            if not physical:
                if self._defining is not None:
                    self._end_definition()
                continue
            if physical.strip(" \t\r\f\v"):
                self.last = (source.shown, source.line_number)

            def report(kind: str, message: str, at: _Source = source) -> None:
                self.diags.add(at.shown, at.line_number, kind, message)

            # What keepalived's parent reads in the file, and writes to its copy (it prints
            # an unterminated quote with the line's trailing blanks).
            if source.numbers is not None and source.copy:
                source.lag = 0  # the copy's numbering of this line: see _Source.lag
                written, _ = decomment(physical, lambda kind, message: None, untrimmed=True)
                source.lag = int(len(written.encode("utf-8", "surrogateescape")) >= _PIECE)
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
            if source.unterminated and source.index == len(source.lines) > 1:
                self.diverged = True  # the parent numbers this line otherwise (line_number)
            self._origin = source
            return text, [(c, c + 1) for c in columns], literal
        return None

    def _emit(self, buf: str, off: int, cols: list[Span] | None) -> None:
        """Split a preprocessed line at its first unquoted brace, keeping the rest for the
        next read (preprocessed again), and make it a `Line`."""
        source = self._sources[-1] if self._sources else None
        shown, lineno = (source.shown, source.line_number) if source else self.last

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
        if words and words[0][1] == "include_check":
            self._set_include_check([w for _, w in words[1:]])
        if words:
            spans = [] if cols is None else _word_spans(cols, off, words)
            self.lines.append(Line(shown, lineno, [w for _, w in words], part, spans))

    # -- includes
    def _include_problem(self, checked: bool, message: str, *, wildcard: bool = False) -> None:
        """An include that found no file, or one it may not read: said and passed over.
        One its check covers fails the configuration: keepalived reads on (and says what
        other includes fail), then parses nothing and exits 6. A pattern that matched
        nothing goes unsaid unless its check is on (keepalived 2.2.7's check_conf_file)."""
        if checked:
            self.include_failed = True
            self._report("include_failed", message)
        elif not wildcard:
            self._report("log", message)

    def _set_include_check(self, options: list[str]) -> None:
        """``include_check [[+|-]OPTION...]``: the checks every later ``include`` of this
        file and the files it includes makes (none given: all of them). Read here, as the
        lines are read, since the includes that follow depend on it."""
        if not options:
            self._include_check = "rmwb"
            return
        checks = set(self._include_check)
        if not options[0].startswith(("+", "-")):
            checks = set()
        for option in options:
            sign, name = (option[0], option[1:]) if option[:1] in ("+", "-") else ("+", option)
            letters = _INCLUDE_CHECKS.get(name)
            if letters is None:
                self._report("general", f"Unknown include_check type '{name}' - ignoring")
                continue
            if sign == "+":
                checks |= set(letters)
            else:
                checks -= set(letters[-1])
        self._include_check = "".join(sorted(checks))

    def _include(self, text: str, literal: bool) -> None:
        """An ``include`` line: its files are read next, relative to the innermost file.

        One that preprocessing made (not an include line as written) while reading the
        copy is read twice: from disk now, from the copy after that line."""
        top = self._sources[-1]
        if text[7] in " \t":
            itype, pattern = "", text[8:]
        else:
            itype, pattern = _INCLUDE_TYPES[text[7]], text[9:]
        itype += self._include_check
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
                self._include_problem("m" in itype, f"Config files missing '{pattern}'.")
            else:
                message = f"No config files matched '{pattern}'."
                self._include_problem("w" in itype, message, wildcard=True)
            return
        files = []
        for match in matches:
            try:
                st: os.stat_result | None = os.stat(os.path.join(root, match))
            except OSError:  # a dangling symbolic link, or a loop of them: stat fails
                st = None
            if st is not None and stat.S_ISDIR(st.st_mode):
                # keepalived's glob marks a directory with a '/'
                self._include_problem(
                    "r" in itype, f"Configuration file '{match}/' is a directory - skipping"
                )
                continue
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_mode & 0o111:
                self._include_problem(
                    "r" in itype,
                    f"Configuration file '{match}' is not a regular non-executable file - skipping",
                )
                continue
            files.append(match)
        if not files:
            return
        where = (top.shown, top.line_number)
        origin = self._origin
        doubled = not literal and origin is not None and origin.copy
        if doubled:
            self.diverged = True
        copy = literal and origin is not None and origin.copy
        self._open(files, root, top.nesting + 1, copy, where, (pattern, itype))
        if doubled and origin is not None:
            origin.pending.append((files, root, top.nesting + 1, where))

    def _open(
        self,
        matches: list[str],
        root: str,
        nesting: int,
        copy: bool,
        where: tuple[str, int],
        include: tuple[str, str] = ("", ""),
    ) -> None:
        """Open the first of `matches` that can be read; the others follow it. `include` is
        the include's pattern and checks."""
        pattern, itype = include
        for i, match in enumerate(matches):
            real = os.path.join(root, match)
            try:
                identity = _identity(os.stat(real))
            except OSError:
                continue
            if sum(1 for s in self._sources if s.identity == identity and s.index > 0) >= 2:
                # A file that includes itself, or files that include each other: keepalived
                # 2.2.7 opens them again and again until it has no file descriptor left, and
                # says so there, in the file being read then (here: where the cycle comes
                # round a second time). A pattern's glob fails first (its directory cannot
                # be opened), a file name's open.
                if any(c in pattern for c in "*?["):
                    self._include_problem("m" in itype, f"Config files missing '{pattern}'.")
                else:
                    self._include_problem(
                        "r" in itype,
                        f"Configuration file '{match}' open problem (Too many open files)"
                        " - skipping",
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
                opened.include = include
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


def _physical_lines(text: str) -> tuple[list[str], list[int] | None]:
    """The lines of a file as keepalived reads them; a final newline ends the last line,
    it does not start an empty one (which would end a multiline definition). A NUL
    character ends its line: keepalived's C strings stop there (the rest of the line is
    not read, and the line still counts).

    keepalived reads with fgets() into a buffer of MAXBUF (1024) bytes: a line of more than
    1022 bytes comes in pieces of 1023 bytes, the last one with the newline, and each piece
    is a line of its own (decommented, parsed, written to the copy as one line). Its parent
    counts a line when it reads a newline, so a piece without one has the number of the line
    before. Returns the pieces and, when a line was cut, the parent's number for each.
    """
    lines = text.split("\n")
    if len(lines) > 1 and not lines[-1]:
        lines.pop()
    last = len(lines) - 1
    if not any(
        len(line) * 4 >= _PIECE and len(line.encode("utf-8", "surrogateescape")) >= _PIECE
        for line in lines
    ):
        return [line.split("\x00", 1)[0] for line in lines], None
    pieces: list[str] = []
    numbers: list[int] = []
    for i, line in enumerate(lines):
        raw = line.encode("utf-8", "surrogateescape")
        if i < last or text.endswith("\n"):
            raw += b"\n"
        for at in range(0, max(len(raw), 1), _PIECE):
            piece = raw[at : at + _PIECE]
            ends = piece.endswith(b"\n")
            pieces.append(piece.rstrip(b"\n").split(b"\0", 1)[0].decode("utf-8", "surrogateescape"))
            numbers.append(i + 1 if ends else i)
    return pieces, numbers


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

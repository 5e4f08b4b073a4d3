"""keepalived 2.2.7's preprocessing of configuration lines (keepalived.conf(5):
"Conditional configuration", "Parameter substitution", "Sequence blocks", "List blocks";
lib/parser.c): ``@ID`` / ``@^ID`` config-id prefixes, ``$NAME=value`` parameters and their
``$NAME`` / ``${NAME}`` substitution with the predefined ones, and the lines ``~SEQ``,
``~SEQx`` and ``~LST`` repeat. `Preprocessor` is the part of the lexer's `Reader` that does
it (a mixin: the reader owns the state, see `Reader.__init__`); reading files, comments,
braces and includes stay in `lexer`.
"""

from __future__ import annotations

import os
import random
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .words import Span, decomment

if TYPE_CHECKING:
    from .lexer import _Source

__all__ = ["Buffer", "Preprocessor", "c_strtol", "default_config_id"]

# A line being read: its text, where the logical line starts in it, and for each of its
# characters the columns of the physical line it comes from (a parameter's value, those
# of the reference it replaced), None for a line that is not in the file as such (of a
# ~SEQ, a ~LST or a multiline parameter).
Buffer = tuple[str, int, list[Span] | None]

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
    # the name of the reader's method that computes it (a name, not the bound method: a
    # reader holding itself would be freed only by the cycle collector)
    fn: str | None = None
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


class Preprocessor:
    """The preprocessing methods of `lexer.Reader` (see there for what it reads). The
    reader's ``__init__`` sets the state they share with it, declared here."""

    config_id: str
    rng: random.Random
    failed_lists: int
    _sources: list[_Source]
    _defs: dict[str, _Definition]
    _seqs: list[_Sequence | _ValueList]
    _seq_count: int
    _multiline: tuple[str, int] | None
    _multiline_stack: list[tuple[tuple[str, int], int]]
    _multiline_seq_depth: int
    _defining: _Definition | None
    _no_reference: tuple[str, int] | None
    _refused: bool
    _line_substitutions: int
    _work: int
    _generated: int
    _generated_chars: int

    def _report(self, kind: str, message: str) -> None:
        raise NotImplementedError  # the reader's: a diagnostic at the line being read

    # -- the predefined parameters (keepalived's set_std_definitions)
    def _add_predefined(self) -> None:
        for name, value, fn, max_params in (
            ("_PWD", "", "_pwd", 0),
            ("_INSTANCE", "", "_instance", 0),
            ("_RANDOM", "", "_random", 2),
            ("_HASH", "#", None, 0),
            ("_BANG", "!", None, 0),
        ):
            self._defs[name] = _Definition(name, value, fn=fn, max_params=max_params)

    def _instance(self, _params: str | None) -> str:
        return self.config_id

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
                definition.value = getattr(self, definition.fn)(params)
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

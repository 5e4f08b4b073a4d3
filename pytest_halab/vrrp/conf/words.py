"""How keepalived 2.2.7 cuts a configuration line (lib/parser.c): comments (decomment),
blank-separated words with ``"..."`` quoting (split_words), quotes with C's escapes for
scripts' command lines (split_quoted_escaped), braces on lines of their own (split_braces),
and which lines are includes (is_include). Pure functions of a line's text."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "Report",
    "Span",
    "decomment",
    "is_include",
    "split_braces",
    "split_quoted_escaped",
    "split_words",
]

Report = Callable[[str, str], None]  # (kind, message) about the line being read

Span = tuple[int, int]  # [start, end) columns in the physical line


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

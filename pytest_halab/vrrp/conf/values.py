"""Values as keepalived reads them: numbers (strtol/strtoul and its read_* wrappers, with
their messages), true/false flags, IP addresses (inet_pton)."""

from __future__ import annotations

import ipaddress
import socket

from .lexer import Report

__all__ = [
    "WHITE_SPACE",
    "Numbers",
    "inet_pton",
    "parse_ip",
    "strtol_prefix",
    "strtoul",
    "true_false",
]

# keepalived's WHITE_SPACE (and C's isspace in the C locale)
WHITE_SPACE = " \t\f\n\r\v"
ULONG_MAX = 2**64 - 1
UINT_MAX = 2**32 - 1


_MAX_DIGITS = 40  # far beyond 64 bits


def strtol_prefix(s: str) -> tuple[int | None, str]:
    """Mimic strtol(…, 10): returns (value or None if no digits, rest)."""
    i = 0
    while i < len(s) and s[i] in " \t\n\r\v\f":
        i += 1
    j = i
    if j < len(s) and s[j] in "+-":
        j += 1
    k = j
    while k < len(s) and s[k].isascii() and s[k].isdigit():
        k += 1
    if k == j:
        return None, s
    digits = s[j:k].lstrip("0")
    # strtol saturates (ERANGE); Python's int() would refuse over 4,300 digits and is
    # quadratic below that. Any value this large is out of every range we check.
    value = 10**_MAX_DIGITS if len(digits) > _MAX_DIGITS else int(digits or "0")
    return (-value if s[i] == "-" else value), s[k:]


def strtoul(s: str, base: int = 10) -> tuple[int, int, bool]:
    """C's strtoul() on a 64-bit host: (value, where parsing stopped, overflowed).

    Leading blanks and a sign are accepted; a negative number wraps modulo 2**64; base 0
    reads ``0x`` as hexadecimal and a leading ``0`` as octal. Without digits the value
    is 0 and parsing stopped at 0 (the start, blanks included), as C sets endptr."""
    i, n = 0, len(s)
    while i < n and s[i] in WHITE_SPACE:
        i += 1
    negative = False
    if i < n and s[i] in "+-":
        negative = s[i] == "-"
        i += 1
    if base in (0, 16) and s[i : i + 2] in ("0x", "0X") and i + 2 < n and _digit(s[i + 2], 16):
        i += 2
        base = 16
    elif base == 0:
        base = 8 if s[i : i + 1] == "0" else 10
    start = i
    while i < n and _digit(s[i], base):
        i += 1
    if i == start:
        return 0, 0, False
    digits = s[start:i]
    if len(digits) > 80:  # far beyond 64 bits in any base; int() is slow on huge input
        return ULONG_MAX, i, True
    value = int(digits, base)
    if value > ULONG_MAX:
        return ULONG_MAX, i, True
    if negative:
        value = (-value) & ULONG_MAX
    return value, i, False


def _digit(c: str, base: int) -> bool:
    if not c.isascii() or not c.isalnum():
        return False
    return int(c, 36) < base


class Numbers:
    """keepalived's number readers; each reports its own complaint, then returns None."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def unsigned(self, s: str, lo: int, hi: int) -> int | None:
        stripped = s.lstrip(" \t\n\r\v\f")
        value, rest = strtol_prefix(s)
        if stripped.startswith("-"):
            self.report("invalid_number", f"negative number '{s}'")
        elif rest or (value is None and s):
            self.report("invalid_number", f"invalid number '{s}'")
        elif (value or 0) > 0xFFFFFFFF:
            self.report("invalid_number", f"number '{s}' outside unsigned integer range")
        elif not lo <= (value or 0) <= hi:
            self.report("invalid_number", f"number '{s}' outside range [{lo}, {hi}]")
        else:
            return value or 0
        return None

    def uint(self, s: str, lo: int, hi: int, base: int = 10) -> int | None:
        """keepalived's read_unsigned() (read_unsigned_base() with `base`), exactly: C's
        strtoul, so blanks and a ``+`` before the digits pass, and an empty word is 0."""
        offset = len(s) - len(s.lstrip(WHITE_SPACE))
        value, end, overflow = strtoul(s[offset:], base)
        if s[offset : offset + 1] == "-":
            self.report("invalid_number", f"negative number '{s}'")
        elif end < len(s) - offset:
            self.report("invalid_number", f"invalid number '{s}'")
        elif overflow or value > UINT_MAX:
            self.report("invalid_number", f"number '{s}' outside unsigned integer range")
        elif not lo <= value <= hi:
            self.report("invalid_number", f"number '{s}' outside range [{lo}, {hi}]")
        else:
            return value
        return None

    def uint64(self, s: str, lo: int, hi: int) -> int | None:
        """keepalived's read_unsigned64()."""
        offset = len(s) - len(s.lstrip(WHITE_SPACE))
        value, end, overflow = strtoul(s[offset:], 10)
        if s[offset : offset + 1] == "-":
            self.report("invalid_number", f"negative number '{s}'")
        elif end < len(s) - offset:
            self.report("invalid_number", f"invalid number '{s}'")
        elif overflow:
            self.report("invalid_number", f"number '{s}' outside unsigned 64 bit range")
        elif not lo <= value <= hi:
            self.report("invalid_number", f"number '{s}' outside range [{lo}, {hi}]")
        else:
            return value
        return None

    def integer(self, s: str, lo: int, hi: int) -> tuple[int | None, int]:
        """Returns (value if valid, best-effort value) like keepalived's read_int."""
        value, rest = strtol_prefix(s)
        guess = value or 0
        if rest or (value is None and s):
            self.report("invalid_number", f"invalid number '{s}'")
        elif not -(2**31) <= guess < 2**31:
            self.report("invalid_number", f"number '{s}' outside integer range")
        elif not lo <= guess <= hi:
            self.report("invalid_number", f"number '{s}' outside range [{lo}, {hi}]")
        else:
            return guess, guess
        return None, guess

    def decimal(
        self, s: str, lo: int, hi: int, shift: int = 6, *, ignore_error: bool = False
    ) -> int | None:
        """keepalived's read_decimal_unsigned: value * 10**shift, bounds in those units.

        With `ignore_error` (the keywords keepalived reads that way: advert_int,
        preempt_delay, vrrp_garp_interval...), a word that is no number is said to be one,
        and the digits before the first bad character still count when they are in range
        (even under ``-t``): ``preempt_delay 5abc`` is 5 microseconds, ``abc`` is 0."""
        if s.startswith("-"):
            self.report("invalid_number", f"negative number '{s}'")
            return None
        whole, dot, frac = s.partition(".")
        round_up = False
        if dot and len(frac) > shift:
            self.report("invalid_number", f"number '{s}' has too many decimal places")
            round_up = frac[shift] >= "5"
            frac = frac[:shift]
        digits = whole + frac + "0" * (shift - len(frac))
        value, rest = strtol_prefix(digits)
        if rest or value is None:
            self.report("invalid_number", f"invalid number '{s}'")
            if not ignore_error:
                return None
            # strtoull's value of what it read (0 when nothing), kept when in range
            partial, _end, overflow = strtoul(digits, 10)
            partial += int(round_up)
            return partial if not overflow and lo <= partial <= hi else None
        value += int(round_up)
        if value > ULONG_MAX:  # strtoull's ERANGE
            self.report("invalid_number", f"number '{s}' outside unsigned decimal range")
            return None
        if not lo <= value <= hi:
            self.report(
                "invalid_number",
                f"number '{s}' outside range [{_fixed(lo, shift)}, {_fixed(hi, shift)}]",
            )
            return None
        return value


def _fixed(value: int, shift: int) -> str:
    """C's ``%lu.%*.*lu`` of value / 10**shift and its remainder (with no decimals, C
    prints nothing after the point)."""
    scale = 10**shift
    fraction = f"{value % scale:0{shift}d}" if shift else ""
    return f"{value // scale}.{fraction}"


def true_false(s: str) -> bool | None:
    """keepalived's check_true_false(): lower case only ("TRUE" and "On" are invalid)."""
    if s in ("true", "on", "yes"):
        return True
    if s in ("false", "off", "no"):
        return False
    return None


def parse_sockaddr_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as keepalived's inet_stosockaddr() reads it: whatever follows a ``-``
    (a range) or a ``/`` (a mask) is dropped, then the family is IPv6 if the text has a
    colon (``10.0.0.1/24`` is 10.0.0.1)."""
    cut = min((i for i in (text.find("-"), text.find("/")) if i >= 0), default=len(text))
    head = text[:cut]
    try:
        if ":" in text:
            return ipaddress.IPv6Address(head)
        return ipaddress.IPv4Address(head)
    except ValueError:
        return None


def inet_pton(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address as keepalived's parse_ipaddress() reads one: IPv6 when the text has a
    ``:``, else IPv4, by C's inet_pton() (no scope ``%eth0``, no leading zeros)."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    try:
        packed = socket.inet_pton(family, text.encode("utf-8", "surrogateescape").decode("latin-1"))
    except (OSError, ValueError, UnicodeError):
        return None
    return ipaddress.ip_address(packed)


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None

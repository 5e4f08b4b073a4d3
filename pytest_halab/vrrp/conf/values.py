"""Values as keepalived reads them: numbers (strtol and its read_* wrappers, with their
messages), true/false flags, IP addresses."""

from __future__ import annotations

import ipaddress

from .lexer import Report

__all__ = ["Numbers", "parse_ip", "strtol_prefix", "true_false"]


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

    def decimal(self, s: str, lo: int, hi: int, shift: int = 6) -> int | None:
        """keepalived's read_decimal_unsigned: value * 10**shift, bounds in those units."""
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
            return None
        value += int(round_up)
        scale = 10**shift
        if not lo <= value <= hi:
            self.report(
                "invalid_number",
                f"number '{s}' outside range [{lo // scale}.{lo % scale:0{shift}d},"
                f" {hi // scale}.{hi % scale:0{shift}d}]",
            )
            return None
        return value


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


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None

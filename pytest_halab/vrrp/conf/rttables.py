"""Names of routing tables, protocols, scopes, realms, DS fields, interface groups and
route types, looked up as keepalived 2.2.7 looks them up (lib/rttables.c).

A value is a number (C's strtoul in base 0: ``0x10`` and ``010`` too, truncated to 32
bits before its bound is checked, as keepalived does) or a name from the iproute2 file of
its kind under ``/etc/iproute2`` (``rt_tables``, ``rt_protos``...: lines of two words, an
id and a name; ``rt_tables.d`` is not read) completed by keepalived's built-in names for
ids the file does not name. Files are read once, when a name is first looked up.
"""

from __future__ import annotations

import os

from .values import WHITE_SPACE, strtoul

__all__ = ["IPROUTE2_DIR", "RTN_TYPES", "RtTables"]

IPROUTE2_DIR = "/etc/iproute2"

# Route types (linux/rtnetlink.h RTN_*), by the names keepalived knows them by.
RTN_TYPES: dict[str, int] = {
    "local": 2,
    "nat": 10,
    "broadcast": 3,
    "brd": 3,
    "anycast": 4,
    "multicast": 5,
    "prohibit": 8,
    "unreachable": 7,
    "blackhole": 6,
    "xresolve": 11,
    "unicast": 1,
    "throw": 9,
}

_DEFAULT_PROTOS = [
    (0, "none"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (42, "babel"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
]
_DEFAULT_TABLES = [(253, "default"), (254, "main"), (255, "local")]
_DEFAULT_SCOPES = [(0, "global"), (255, "nowhere"), (254, "host"), (253, "link"), (200, "site")]

# kind -> (file, built-in names, largest id)
_KINDS: dict[str, tuple[str, list[tuple[int, str]], int]] = {
    "table": ("rt_tables", _DEFAULT_TABLES, 0xFFFFFFFF),
    "dsfield": ("rt_dsfield", [], 255),
    "group": ("group", [], 0x7FFFFFFF),
    "realms": ("rt_realms", [], 255),
    "proto": ("rt_protos", _DEFAULT_PROTOS, 255),
    "scope": ("rt_scopes", _DEFAULT_SCOPES, 255),
}


class RtTables:
    """The lookups of one configuration's parse (files read at most once each)."""

    def __init__(self, directory: str = IPROUTE2_DIR) -> None:
        self.directory = directory
        self._lists: dict[str, list[tuple[int, str]]] = {}

    def _entries(self, kind: str) -> list[tuple[int, str]]:
        entries = self._lists.get(kind)
        if entries is None:
            file_name, defaults, largest = _KINDS[kind]
            entries = _read(os.path.join(self.directory, file_name), largest)
            known = {ident for ident, _ in entries}
            entries += [(ident, name) for ident, name in defaults if ident not in known]
            self._lists[kind] = entries
        return entries

    def find(self, kind: str, name: str) -> int | None:
        """keepalived's find_rttables_<kind>(): the id, or None when `name` is no number
        within the kind's bound and no known name."""
        largest = _KINDS[kind][2]
        value, end, _ = strtoul(name, 0)
        if end and end == len(name):
            value &= 0xFFFFFFFF
            return value if value <= largest else None
        for ident, known in self._entries(kind):
            if known == name:
                return ident
        return None

    def table(self, name: str) -> int | None:
        return self.find("table", name)

    def dsfield(self, name: str) -> int | None:
        return self.find("dsfield", name)

    def group(self, name: str) -> int | None:
        return self.find("group", name)

    def realm(self, name: str) -> int | None:
        return self.find("realms", name)

    def proto(self, name: str) -> int | None:
        return self.find("proto", name)

    def scope(self, name: str) -> int | None:
        return self.find("scope", name)

    def realms(self, text: str) -> int | None:
        """keepalived's get_realms(): ``TO`` or ``FROM/TO`` (FROM in the high 16 bits)."""
        first, slash, second = text.partition("/")
        value = self.realm(first)
        if value is None:
            return None
        if slash:
            low = self.realm(second)
            if low is None:
                return None
            value = ((value << 16) | low) & 0xFFFFFFFF
        return value

    @staticmethod
    def rtntype(text: str) -> int | None:
        """keepalived's find_rttables_rtntype(): a type name, or a number up to 255 (an
        empty word reads as 0, as C's strtoul makes it)."""
        if text in RTN_TYPES:
            return RTN_TYPES[text]
        value, end, _ = strtoul(text, 0)
        if end != len(text) or value > 255 or text.startswith("-"):
            return None
        return value


def _read(path: str, largest: int) -> list[tuple[int, str]]:
    """The (id, name) lines of an iproute2 file, as keepalived's read_file() keeps them."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    entries: list[tuple[int, str]] = []
    for line in lines:
        words = _words(line)
        if len(words) != 2:
            continue
        number = words[0].lstrip(" \t")
        value, end, _ = strtoul(number, 0)
        if number.startswith("-") or not end or end != len(number) or value > largest:
            continue
        entries.append((value, words[1]))
    return entries


def _words(line: str) -> list[str]:
    """keepalived's alloc_strvec(): blank-separated words, ``"..."`` one word."""
    words: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in WHITE_SPACE:
            i += 1
        if i >= n:
            return words
        if line[i] == '"':
            end = line.find('"', i + 1)
            if end < 0:
                return words
            words.append(line[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and line[j] not in WHITE_SPACE + '"':
                j += 1
            words.append(line[i:j])
            i = j

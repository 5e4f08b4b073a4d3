"""keepalived.conf parser and config checker, following keepalived 2.2.7.

`load_config` reads a configuration the way keepalived does (comments, braces, quoted
strings, ``include`` globs, keyword tables per block) and returns a typed model plus a
list of `Diagnostic`. Every diagnostic carries the file and line it concerns, and the
message text keepalived itself prints for the same mistake. `config_test_exit_status`
turns diagnostics into the exit status of ``keepalived -t``.

The module runs inside balancer containers, so it uses only the standard library. It
never raises on malformed input: whatever the text, the result is a model and diagnostics.

Deliberate differences from keepalived 2.2.7 (see the tests for the observed behaviour):

- keepalived prints some messages without a ``(FILE: Line N)`` prefix (checks made after
  parsing) and omits the file name while only one file is open; here every diagnostic has
  a file and a line (the line the problem was declared on).
- keepalived reads the file several times (parent, VRRP and checker processes) and prints
  some messages more than once; here each problem is reported once.
- A missing main configuration file: keepalived 2.2.7 prints ``Config files missing`` and
  exits 0; here it is fatal (exit 4), as `halab-vrrpd -t` promises.
- ``$definitions``, ``~SEQ``/``~LST`` and ``@config_id`` line prefixes are not expanded.
- ``smtp_server`` host names are resolved only when ``resolve_hosts`` is true; otherwise
  a name is reported invalid, as keepalived does on a host without DNS.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import pwd
import shutil
import socket
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ConfigItem",
    "Diagnostic",
    "GlobalDefs",
    "KeepalivedConfig",
    "RealServer",
    "Severity",
    "SyncGroup",
    "TrackInterface",
    "TrackScript",
    "VirtualIp",
    "VirtualServer",
    "VrrpInstance",
    "VrrpScript",
    "config_test_exit_status",
    "load_config",
]

Severity = Literal["fatal", "error", "warning"]

# keepalived's config_err_t, in its enum order. keepalived keeps the *highest* value
# reported, and `keepalived -t` maps it to its exit status (see config_test_exit_status).
_KINDS: tuple[str, ...] = (
    "ok",
    "file_not_found",
    "bad_if",
    "fatal",
    "multiple_files",
    "unknown_keyword",
    "unexpected_bob",
    "missing_bob",
    "unexpected_eob",
    "missing_eob",
    "unmatched_quote",
    "missing_parameter",
    "invalid_number",
    "general",
    "warning",
    "deprecated",
    "security",
)
_KIND_RANK = {kind: rank for rank, kind in enumerate(_KINDS)}
_FATAL_KINDS = frozenset({"file_not_found", "bad_if", "fatal", "missing_parameter"})

TIMER_HZ = 1_000_000
IFNAMSIZ = 16
VRRP_PRIO_OWNER = 255
VRRP_PRIO_DFL = 100


@dataclass(frozen=True)
class Diagnostic:
    """One message about the configuration, located like keepalived locates it.

    `kind` is keepalived's error category (``config_err_t`` without the ``CONFIG_``
    prefix, lower case, plus ``"log"`` for messages keepalived only logs); it decides the
    exit status. When omitted it is derived from `severity`.
    """

    file: str
    line: int
    message: str
    severity: Severity
    kind: str = ""
    # keepalived 2.2.7 leaves the file name out of messages about the global_defs of the
    # file it was given ("(Line 3) ..."); `file` still says where the line is.
    show_file: bool = True

    def __post_init__(self) -> None:
        if not self.kind:
            default = {"fatal": "fatal", "error": "general", "warning": "log"}[self.severity]
            object.__setattr__(self, "kind", default)

    def __str__(self) -> str:
        if not self.show_file:
            return f"(Line {self.line}) {self.message}"
        return f"({self.file}: Line {self.line}) {self.message}"


def config_test_exit_status(diags: list[Diagnostic]) -> int:
    """Exit status of ``keepalived -t`` for these diagnostics.

    0 valid (log-only warnings), 4 fatal (file not found, bad interface, fatal), 5 other
    configuration errors. Like keepalived 2.2.7, two more: 2 when parsing stopped on a
    keyword missing its parameter, 6 for a script-security violation. keepalived keeps the
    least severe category it saw, so one ordinary error after a fatal one gives 5.
    """
    if any(d.kind == "missing_parameter" for d in diags):
        return 2
    ranks = [_KIND_RANK.get(d.kind, _KIND_RANK["general"]) for d in diags if d.kind != "log"]
    if not ranks:
        return 0
    worst = max(ranks)
    if worst == _KIND_RANK["security"]:
        return 6
    if worst <= _KIND_RANK["fatal"]:
        return 4
    return 5


# --------------------------------------------------------------------------- model


@dataclass
class VirtualIp:
    """An address in ``virtual_ipaddress`` / ``virtual_ipaddress_excluded``."""

    address: str
    prefixlen: int
    dev: str | None = None
    label: str | None = None
    brd: str | None = None
    scope: str | None = None
    options: list[str] = field(default_factory=list)
    line: int = 0
    file: str = ""

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4


@dataclass
class TrackInterface:
    name: str
    weight: int = 0
    reverse: bool = False
    line: int = 0


@dataclass
class TrackScript:
    """A ``track_script`` entry; `weight` None means the script's own weight."""

    name: str
    weight: int | None = None
    reverse: bool = False
    line: int = 0


@dataclass
class VrrpScript:
    """A ``vrrp_script`` block with keepalived's defaults (times in seconds).

    `timeout` 0 means "use the interval", as in keepalived. `disabled` is set when
    keepalived would not run the script (not found, not accessible, insecure).
    """

    name: str
    script: str | None = None
    interval: int = 1
    timeout: int = 0
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    group: str | None = None
    init_fail: bool = False
    disabled: bool = False
    line: int = 0
    file: str = ""


@dataclass
class VrrpInstance:
    """A ``vrrp_instance``, with the values keepalived would run with.

    `state` and `priority` are the effective ones (keepalived derives a missing one from
    the other: MASTER without priority runs at 255). `advert_int` is in seconds, already
    rounded like keepalived (whole seconds for VRRPv2, 10 ms for VRRPv3).
    """

    name: str
    state: Literal["MASTER", "BACKUP"] = "BACKUP"
    interface: str | None = None
    vrid: int | None = None
    priority: int = VRRP_PRIO_DFL
    advert_int: float = 1.0
    version: int = 2
    auth_type: Literal["PASS", "AH"] | None = None
    auth_pass: str | None = None
    nopreempt: bool = False
    preempt_delay: float = 0.0
    vips: list[VirtualIp] = field(default_factory=list)
    excluded_vips: list[VirtualIp] = field(default_factory=list)
    unicast_src_ip: str | None = None
    unicast_peers: list[str] = field(default_factory=list)
    mcast_src_ip: str | None = None
    track_interfaces: list[TrackInterface] = field(default_factory=list)
    track_scripts: list[TrackScript] = field(default_factory=list)
    notify_master: str | None = None
    notify_backup: str | None = None
    notify_fault: str | None = None
    notify_stop: str | None = None
    notify: str | None = None
    garp_master_delay: int = 5
    garp_master_repeat: int = 5
    garp_master_refresh: int = 0
    garp_master_refresh_repeat: int = 1
    dont_track_primary: bool = False
    accept: bool | None = None
    smtp_alert: bool | None = None
    sync_group: str | None = None
    options: dict[str, list[str]] = field(default_factory=dict)
    line: int = 0
    file: str = ""
    # configured values before keepalived's derivations, for diagnostics
    configured_state: str | None = None
    configured_priority: int | None = None
    configured_version: int | None = None


@dataclass
class SyncGroup:
    """A ``vrrp_sync_group``; `members` holds the instances that exist, in order."""

    name: str
    members: list[str] = field(default_factory=list)
    declared_members: list[str] = field(default_factory=list)
    notify_master: str | None = None
    notify_backup: str | None = None
    notify_fault: str | None = None
    notify_stop: str | None = None
    notify: str | None = None
    smtp_alert: bool | None = None
    tracking_weight: bool = False
    track_interfaces: list[str] = field(default_factory=list)
    track_scripts: list[str] = field(default_factory=list)
    line: int = 0
    file: str = ""


@dataclass
class GlobalDefs:
    """``global_defs``; keywords without a field of their own are kept in `options`."""

    router_id: str | None = None
    notification_email: list[str] = field(default_factory=list)
    notification_email_from: str | None = None
    smtp_server: str | None = None
    smtp_port: int = 25
    smtp_connect_timeout: int = 30
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    dynamic_interfaces: bool = False
    vrrp_version: int = 2
    vrrp_garp_master_delay: int = 5
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: int = 0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_strict: bool = False
    options: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class ConfigItem:
    """A keyword line kept as data, with any nested block."""

    keyword: str
    args: list[str]
    line: int
    file: str = ""
    children: list[ConfigItem] = field(default_factory=list)


@dataclass
class RealServer:
    address: str
    port: str | None
    items: list[ConfigItem] = field(default_factory=list)
    line: int = 0
    file: str = ""


@dataclass
class VirtualServer:
    """A ``virtual_server`` block, parsed but not acted upon."""

    address: str
    port: str | None
    items: list[ConfigItem] = field(default_factory=list)
    real_servers: list[RealServer] = field(default_factory=list)
    line: int = 0
    file: str = ""


@dataclass
class KeepalivedConfig:
    global_defs: GlobalDefs = field(default_factory=GlobalDefs)
    scripts: dict[str, VrrpScript] = field(default_factory=dict)
    instances: dict[str, VrrpInstance] = field(default_factory=dict)
    sync_groups: dict[str, SyncGroup] = field(default_factory=dict)
    virtual_servers: list[VirtualServer] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- reading


@dataclass
class _Line:
    file: str
    line: int
    words: list[str]
    text: str


class _MissingParameter(Exception):
    """keepalived exits (status 2) when a keyword lacks its parameter."""


class _Diags:
    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self._seen: set[tuple[str, int, str]] = set()

    def add(self, file: str, line: int, kind: str, message: str, *, show_file: bool = True) -> None:
        key = (file, line, message)
        if key in self._seen:
            return
        self._seen.add(key)
        if kind == "log":
            severity: Severity = "warning"
        elif kind in _FATAL_KINDS:
            severity = "fatal"
        else:
            severity = "error"
        self.items.append(Diagnostic(file, line, message, severity, kind, show_file))


def _decomment(text: str, report: Callable[[str, str], None]) -> str:
    """keepalived's decomment(): strip leading blanks and unquoted ``!``/``#`` comments."""
    s = text.lstrip(" \t")
    out: list[str] = []
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
                else:
                    out.append(s[i : i + 2])
                i += 2
                continue
            break  # trailing backslash: a continuation keepalived only uses for definitions
        elif not quote and c in "!#":
            break
        out.append(c)
        i += 1
    result = "".join(out)
    if quote:
        shown = result.rstrip(" \t")
        report("general", f"Unterminated quote '{shown}'")
    return result.rstrip(" \t")


def _split_words(text: str, report: Callable[[str, str], None]) -> list[str]:
    """keepalived's alloc_strvec(): blank-separated words, ``"..."`` as one word."""
    words: list[str] = []
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
            words.append(text[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and text[j] not in ' \t\r\n\v\f"':
                j += 1
            words.append(text[i:j])
            i = j
    return words


def _split_braces(text: str) -> list[str]:
    """keepalived's read_line() puts each unquoted ``{`` / ``}`` on a line of its own."""
    parts: list[str] = []
    while text:
        if text[0] in "{}":
            parts.append(text[0])
            text = text[1:].lstrip(" \t")
            continue
        pos = -1
        i = 0
        while i < len(text):
            c = text[i]
            if c == '"':
                end = text.find('"', i + 1)
                if end < 0:
                    break
                i = end + 1
                continue
            if c in "{}":
                pos = i
                break
            i += 1
        if pos < 0:
            parts.append(text.rstrip(" \t"))
            break
        parts.append(text[:pos].rstrip(" \t"))
        text = text[pos:]
    return [p for p in parts if p]


_INCLUDE_TYPES = {"": "", "r": "r", "m": "rm", "w": "rmw", "b": "rb", "a": "rmbw"}


class _Reader:
    """Reads the main file and its includes into logical lines, like read_line()."""

    def __init__(self, diags: _Diags) -> None:
        self.diags = diags
        self.lines: list[_Line] = []
        self.files: list[str] = []
        self.main = ""  # the main file, as its lines name it
        self.stack: list[str] = []
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
        if self.depth > 0:
            file, line = self.last
            self.diags.add(
                file,
                line,
                "missing_eob",
                f"There are {self.depth} missing '}}'s or extra '{{'s",
            )
        return True

    def _read_file(self, real: str, shown: str, nesting: int) -> None:
        try:
            with open(real, "rb") as fh:
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
        self.stack.append(os.path.realpath(real))
        text = raw.decode("utf-8", errors="surrogateescape").replace("\x00", "")
        base = os.path.dirname(real)
        for lineno, physical in enumerate(text.split("\n"), start=1):
            self._read_line(physical, shown, lineno, base, nesting)
        self.stack.pop()

    def _read_line(self, physical: str, shown: str, lineno: int, base: str, nesting: int) -> None:
        def report(kind: str, message: str) -> None:
            self.diags.add(shown, lineno, kind, message)

        physical = physical.rstrip("\r\n")
        if not physical.strip(" \t\r\f\v"):
            return
        self.last = (shown, lineno)
        text = _decomment(physical, report)
        if not text:
            return
        if self._is_include(text):
            self._include(text, shown, lineno, base, nesting)
            return
        for part in _split_braces(text):
            if part == "{":
                self.depth += 1
            elif part == "}":
                if self.depth < 1:
                    report("unexpected_eob", "Extra '}' found")
                    self.depth = 0
                else:
                    self.depth -= 1
            words = _split_words(part, report)
            if words:
                self.lines.append(_Line(shown, lineno, words, part))

    @staticmethod
    def _is_include(text: str) -> bool:
        if not text.startswith("include") or len(text) < 8:
            return False
        if text[7] in " \t":
            return True
        return len(text) > 8 and text[7] in "rmwba" and text[8] in " \t"

    def _include(self, text: str, shown: str, lineno: int, base: str, nesting: int) -> None:
        if text[7] in " \t":
            itype, pattern = "", text[8:]
        else:
            itype, pattern = _INCLUDE_TYPES[text[7]], text[9:]
        pattern = pattern.strip(" \t")
        if nesting > 32:
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
            if os.path.realpath(real) in self.stack:
                self.diags.add(
                    shown,
                    lineno,
                    "general",
                    f"Configuration file '{match}' includes itself - skipping",
                )
                continue
            self._read_file(real, match, nesting + 1)


# --------------------------------------------------------------------------- numbers


def _strtol_prefix(s: str) -> tuple[int | None, str]:
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
    return int(s[i:k]), s[k:]


class _Numbers:
    def __init__(self, report: Callable[[str, str], None]) -> None:
        self.report = report

    def unsigned(self, s: str, lo: int, hi: int) -> int | None:
        stripped = s.lstrip(" \t\n\r\v\f")
        value, rest = _strtol_prefix(s)
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
        value, rest = _strtol_prefix(s)
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
        value, rest = _strtol_prefix(digits)
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


def _true_false(s: str) -> bool | None:
    """keepalived's check_true_false(): lower case only ("TRUE" and "On" are invalid)."""
    if s in ("true", "on", "yes"):
        return True
    if s in ("false", "off", "no"):
        return False
    return None


# --------------------------------------------------------------------------- keywords

_Handler = Callable[[_Line], None]


@dataclass
class _Kw:
    handler: _Handler | None = None
    sub: dict[str, _Kw] | None = None
    close: Callable[[], None] | None = None


_GLOBAL_KEYWORDS = [
    "process_names",
    "process_name",
    "vrrp_process_name",
    "checker_process_name",
    "lvs_process_name",
    "bfd_process_name",
    "smtp_helo_name",
    "smtp_alert",
    "startup_script",
    "startup_script_timeout",
    "shutdown_script",
    "shutdown_script_timeout",
    "max_auto_priority",
    "min_auto_priority_delay",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "checker_log_all_failures",
    "no_email_faults",
    "default_interface",
    "disable_local_igmp",
    "lvs_timeouts",
    "lvs_flush",
    "lvs_flush_on_stop",
    "lvs_flush_onstop",
    "lvs_sync_daemon",
    "vrrp_mcast_group4",
    "vrrp_mcast_group6",
    "vrrp_garp_lower_prio_delay",
    "vrrp_garp_lower_prio_repeat",
    "vrrp_down_timer_adverts",
    "vrrp_garp_interval",
    "vrrp_gna_interval",
    "vrrp_min_garp",
    "vrrp_garp_extra_if",
    "vrrp_vmac_garp_intvl",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
    "vrrp_iptables",
    "vrrp_ipsets",
    "nftables",
    "nftables_priority",
    "nftables_ifindex",
    "nftables_ipvs",
    "nftables_ipvs_priority",
    "nftables_ipvs_start_fwmark",
    "nftables_counters",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "vrrp_priority",
    "vrrp_no_swap",
    "vrrp_rt_priority",
    "vrrp_cpu_affinity",
    "vrrp_rlimit_rttime",
    "vrrp_rlimit_rtime",
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "vrrp_notify_priority_changes",
    "fifo_write_vrrp_states_on_reload",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
    "checker_priority",
    "checker_no_swap",
    "checker_rt_priority",
    "checker_cpu_affinity",
    "checker_rlimit_rttime",
    "checker_rlimit_rtime",
    "bfd_priority",
    "bfd_no_swap",
    "bfd_rt_priority",
    "bfd_cpu_affinity",
    "bfd_rlimit_rttime",
    "bfd_rlimit_rtime",
    "snmp_socket",
    "enable_traps",
    "enable_snmp_vrrp",
    "enable_snmp_keepalived",
    "enable_snmp_rfc",
    "enable_snmp_rfcv2",
    "enable_snmp_rfcv3",
    "enable_snmp_checker",
    "enable_dbus",
    "dbus_service_name",
    "vrrp_netlink_cmd_rcv_bufs",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs",
    "process_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs",
    "lvs_netlink_monitor_rcv_bufs_force",
    "rs_init_notifies",
    "no_checker_emails",
    "vrrp_rx_bufs_policy",
    "vrrp_rx_bufs_multiplier",
    "vrrp_startup_delay",
    "log_unknown_vrids",
    "vmac_prefix",
    "vmac_addr_prefix",
    "umask",
    "random_seed",
    "reload_check_config",
    "reload_time_file",
    "reload_repeat",
    "reload_file",
    "include_check",
    "config_save_dir",
    "tmp_config_directory",
    "data_use_instance",
    "linkbeat_use_polling",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "instance",
    "use_pid_dir",
]

_INSTANCE_OTHER = [
    "use_vmac",
    "use_vmac_addr",
    "vmac_xmit_base",
    "use_ipvlan",
    "unicast_fault_no_peer",
    "check_unicast_src",
    "old_unicast_checksum",
    "native_ipv6",
    "vrf",
    "mcast_dst_ip",
    "track_src_ip",
    "unicast_ttl",
    "promote_secondaries",
    "linkbeat_use_polling",
    "skip_check_adv_addr",
    "strict_mode",
    "preempt",
    "debug",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
    "lvs_sync_daemon_interface",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "down_timer_adverts",
    "garp_extra_if",
    "vmac_garp_intvl",
    "lower_prio_no_advert",
    "higher_prio_send_advert",
    "kernel_rx_buf_size",
]
# Flags with an optional true/false value (keepalived's check_true_false, lower case only),
# by the way keepalived words its refusal.
_GLOBAL_BOOLS_QUOTED = (
    "smtp_alert",
    "smtp_alert_vrrp",
    "smtp_alert_checker",
    "vrrp_notify_priority_changes",
    "vrrp_netlink_cmd_rcv_bufs_force",
    "vrrp_netlink_monitor_rcv_bufs_force",
    "process_monitor_rcv_bufs_force",
    "lvs_netlink_cmd_rcv_bufs_force",
    "lvs_netlink_monitor_rcv_bufs_force",
    "rs_init_notifies",
    "no_checker_emails",
)
_GLOBAL_BOOLS = (
    "checker_log_all_failures",
    "vrrp_min_garp",
    "vrrp_lower_prio_no_advert",
    "vrrp_higher_prio_send_advert",
)
_INSTANCE_BOOLS = (
    "skip_check_adv_addr",
    "strict_mode",
    "higher_prio_send_advert",
    "lower_prio_no_advert",
    "notify_priority_changes",
)
_INSTANCE_BLOCKS = ("virtual_routes", "virtual_rules", "track_file", "track_process", "track_bfd")

_TOP_GENERIC_BLOCKS = [
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "track_group",
    "garp_group",
    "linkbeat_interfaces",
    "vrrp_track_process",
    "vrrp_track_file",
    "track_file",
    "interface_up_down_delays",
    "SSL",
    "virtual_server_group",
    "bfd_instance",
]

_CHECK_COMMON = [
    "connect_ip",
    "connect_port",
    "bindto",
    "bind_port",
    "bind_if",
    "connect_timeout",
    "fwmark",
    "retry",
    "delay_before_retry",
    "warmup",
    "delay_loop",
    "alpha",
    "log_all_failures",
]
_CHECKERS: dict[str, tuple[str, ...]] = {
    "TCP_CHECK": (),
    "HTTP_GET": ("nb_get_retry", "virtualhost", "http_protocol", "enable_sni", "fast_recovery"),
    "SSL_GET": ("nb_get_retry", "virtualhost", "http_protocol", "enable_sni", "fast_recovery"),
    "MISC_CHECK": ("misc_path", "misc_timeout", "misc_dynamic", "user"),
    "SMTP_CHECK": ("helo_name", "host"),
    "DNS_CHECK": ("type", "name"),
    "UDP_CHECK": ("payload", "require_reply", "min_reply_length", "max_reply_length"),
    "PING_CHECK": (),
    "FILE_CHECK": ("track_file", "weight"),
    "BFD_CHECK": ("weight",),
}
_URL_KEYWORDS = [
    "path",
    "digest",
    "status_code",
    "virtualhost",
    "regex",
    "regex_no_match",
    "regex_options",
    "regex_min_offset",
    "regex_max_offset",
    "regex_stack",
]
_VS_KEYWORDS = [
    "ip_family",
    "retry",
    "delay_before_retry",
    "warmup",
    "connect_timeout",
    "delay_loop",
    "inhibit_on_failure",
    "lb_algo",
    "lvs_sched",
    "hashed",
    "ops",
    "flag-1",
    "flag-2",
    "flag-3",
    "sh-port",
    "sh-fallback",
    "mh-port",
    "mh-fallback",
    "lb_kind",
    "lvs_method",
    "persistence_engine",
    "persistence_timeout",
    "persistence_granularity",
    "protocol",
    "ha_suspend",
    "smtp_alert",
    "virtualhost",
    "snmp_name",
    "alpha",
    "omega",
    "quorum_up",
    "quorum_down",
    "quorum",
    "hysteresis",
    "weight",
    "sorry_server",
    "sorry_server_inhibit",
    "sorry_server_lvs_method",
]
_RS_KEYWORDS = [
    "weight",
    "lvs_method",
    "uthreshold",
    "lthreshold",
    "inhibit_on_failure",
    "notify_up",
    "notify_down",
    "alpha",
    "retry",
    "delay_before_retry",
    "warmup",
    "connect_timeout",
    "delay_loop",
    "smtp_alert",
    "virtualhost",
    "snmp_name",
]

_VIP_PARAM_OPTIONS = ("dev", "scope", "broadcast", "brd", "label", "peer", "preferred_lft")
_VIP_FLAG_OPTIONS = (
    "home",
    "-nodad",
    "nodad",
    "mngtmpaddr",
    "noprefixroute",
    "autojoin",
    "no_track",
    "use_vmac",
)
_SCOPES = ("global", "site", "link", "host", "nowhere")


def _system_interfaces() -> dict[str, bool]:
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


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class _Parser:
    def __init__(
        self,
        reader: _Reader,
        diags: _Diags,
        interfaces: dict[str, bool],
        check_scripts: bool,
        resolve_hosts: bool,
    ) -> None:
        self.lines = reader.lines
        self.pos = 0
        self.diags = diags
        self.interfaces = interfaces
        self.check_scripts = check_scripts
        self.resolve_hosts = resolve_hosts
        self.cfg = KeepalivedConfig(files=list(reader.files))
        self.cur: _Line = _Line("", 0, [""], "")
        self.main_file = reader.main
        self.in_global_defs = False
        self.missing_if: _Line | None = None
        self.instance: VrrpInstance | None = None
        self.script: VrrpScript | None = None
        self.script_removed = False
        self.group: SyncGroup | None = None
        self.group_has_list = False
        self.auth_set = False
        self.unicast_configured: set[str] = set()
        self.family: dict[str, int] = {}
        self.garp_set: dict[str, set[str]] = {}
        self.skip_requested = False
        self.num = _Numbers(self.report)
        self.top = self._top_table()

    # -- plumbing
    def report(self, kind: str, message: str, line: _Line | None = None) -> None:
        where = line or self.cur
        bare = self.in_global_defs and where.file == self.main_file
        self.diags.add(where.file, where.line, kind, message, show_file=not bare)

    def next_line(self) -> _Line | None:
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        self.pos += 1
        self.cur = line
        return line

    def arg(self, line: _Line, index: int) -> str:
        if index < len(line.words):
            return line.words[index]
        if index > 0 and index - 1 < len(line.words):
            message = (
                f"*** Configuration line starting `{line.words[0]}` is missing a parameter"
                f" after keyword `{line.words[index - 1]}` at word position {index + 1}"
            )
        else:
            message = (
                f"*** Configuration line starting `{line.words[0]}` is missing a parameter"
                f" at word position {index + 1}"
            )
        self.report("missing_parameter", message, line)
        raise _MissingParameter

    def process(self, table: dict[str, _Kw], level: int, need_bob: bool) -> bool:
        """keepalived's process_stream(); returns True when the block was skipped."""
        while (line := self.next_line()) is not None:
            word = line.words[0]
            if need_bob:
                need_bob = False
                if word == "{" and level > 0:
                    continue
                self.report("missing_bob", "Missing '{' at beginning of configuration block")
            elif word == "{":
                self.report("unexpected_bob", "Unexpected '{' - ignoring")
                continue
            if word == "}" and level > 0:
                break
            kw = table.get(word)
            if kw is None:
                self.report("unknown_keyword", f"Unknown keyword '{word}'")
                continue
            if kw.handler is not None:
                self.skip_requested = False
                kw.handler(line)
                if self.skip_requested:
                    self.skip_requested = False
                    self.skip_block()
                    continue
            if kw.sub is not None:
                outer = self.in_global_defs
                self.in_global_defs = outer or (level == 0 and word == "global_defs")
                try:
                    skipped = self.process(kw.sub, level + 1, True)
                finally:
                    self.in_global_defs = outer
                if not skipped and kw.close is not None:
                    kw.close()
        return False

    def request_skip(self) -> None:
        self.skip_requested = True

    def skip_block(self) -> None:
        """keepalived's skip_block(): drop a following ``{ ... }`` block."""
        if self.pos < len(self.lines) and self.lines[self.pos].words[0] == "{":
            depth = 0
            while (line := self.next_line()) is not None:
                for word in line.words:
                    if word == "{":
                        depth += 1
                    elif word == "}":
                        depth -= 1
                if depth <= 0:
                    return

    def value_block(self, line: _Line) -> list[_Line]:
        """keepalived's alloc_value_block(): the lines of a ``{ ... }`` value list."""
        if len(line.words) > 1:
            self.report(
                "general", f"Block {line.words[0]} has extra parameters {line.words[1]} ...", line
            )
        items: list[_Line] = []
        need_bob = True
        while (item := self.next_line()) is not None:
            words = item.words
            if need_bob:
                need_bob = False
                if words[0] == "{":
                    continue
                self.report("log", f"'{{' missing from beginning of block {line.words[0]}", item)
            if words[-1] == "}":
                break
            items.append(item)
        return items

    def generic_block(self, line: _Line) -> ConfigItem:
        """Keep a keyword and any nested block as data, without checking keywords."""
        item = ConfigItem(line.words[0], line.words[1:], line.line, line.file)
        if self.pos < len(self.lines) and self.lines[self.pos].words[0] == "{":
            self.next_line()
            while (sub := self.next_line()) is not None:
                if sub.words[0] == "}":
                    break
                if sub.words[0] == "{":
                    continue
                item.children.append(self.generic_block(sub))
        return item

    # -- interfaces
    def interface_exists(self, name: str) -> bool:
        if name in self.interfaces or self.cfg.global_defs.dynamic_interfaces:
            return True
        if self.missing_if is None:
            self.missing_if = self.cur
        return False

    # -- tables
    def _top_table(self) -> dict[str, _Kw]:
        top: dict[str, _Kw] = {
            "global_defs": _Kw(sub=self._global_table()),
            "vrrp_script": _Kw(self.h_script, self._script_table(), self.end_script),
            "vrrp_instance": _Kw(self.h_instance, self._instance_table(), self.end_instance),
            "vrrp_sync_group": _Kw(self.h_group, self._group_table()),
            "virtual_server": _Kw(self.h_virtual_server),
        }
        for name in _TOP_GENERIC_BLOCKS:
            top[name] = _Kw(self.h_ignore_block)
        for name in (
            "net_namespace",
            "net_namespace_ipvs",
            "namespace_with_ipsets",
            "instance",
            "use_pid_dir",
            "child_wait_time",
            "linkbeat_use_polling",
        ):
            top[name] = _Kw(self.h_ignore)
        return top

    def _global_table(self) -> dict[str, _Kw]:
        table = {name: _Kw(self.h_global_option) for name in _GLOBAL_KEYWORDS}
        for name in _GLOBAL_BOOLS_QUOTED:
            table[name] = _Kw(self.h_global_bool(quoted=True))
        for name in _GLOBAL_BOOLS:
            table[name] = _Kw(self.h_global_bool(quoted=False))
        table.update(
            router_id=_Kw(self.h_router_id),
            notification_email=_Kw(self.h_email),
            notification_email_from=_Kw(self.h_email_from),
            smtp_server=_Kw(self.h_smtp_server),
            smtp_connect_timeout=_Kw(self.h_smtp_timeout),
            script_user=_Kw(self.h_script_user),
            enable_script_security=_Kw(self.h_script_security),
            dynamic_interfaces=_Kw(self.h_dynamic_interfaces),
            vrrp_version=_Kw(self.h_global_version),
            vrrp_garp_master_delay=_Kw(self.h_global_garp("vrrp_garp_master_delay")),
            vrrp_garp_master_repeat=_Kw(self.h_global_garp("vrrp_garp_master_repeat")),
            vrrp_garp_master_refresh=_Kw(self.h_global_garp("vrrp_garp_master_refresh")),
            vrrp_garp_master_refresh_repeat=_Kw(
                self.h_global_garp("vrrp_garp_master_refresh_repeat")
            ),
            vrrp_strict=_Kw(self.h_strict),
        )
        return table

    def _script_table(self) -> dict[str, _Kw]:
        return {
            "script": _Kw(self.h_s_script),
            "interval": _Kw(self.h_s_interval),
            "timeout": _Kw(self.h_s_timeout),
            "weight": _Kw(self.h_s_weight),
            "rise": _Kw(self.h_s_rise_fall("rise")),
            "fall": _Kw(self.h_s_rise_fall("fall")),
            "user": _Kw(self.h_s_user),
            "init_fail": _Kw(self.h_s_init_fail),
        }

    def _instance_table(self) -> dict[str, _Kw]:
        table = {name: _Kw(self.h_i_option) for name in _INSTANCE_OTHER}
        for name in _INSTANCE_BLOCKS:
            table[name] = _Kw(self.h_i_option_block)
        for name in _INSTANCE_BOOLS:
            table[name] = _Kw(self.h_i_bool)
        table["linkbeat_use_polling"] = _Kw(self.h_i_linkbeat)
        table.update(
            state=_Kw(self.h_i_state),
            interface=_Kw(self.h_i_interface),
            virtual_router_id=_Kw(self.h_i_vrid),
            priority=_Kw(self.h_i_priority),
            advert_int=_Kw(self.h_i_advert),
            version=_Kw(self.h_i_version),
            authentication=_Kw(
                self.h_i_auth,
                {"auth_type": _Kw(self.h_i_auth_type), "auth_pass": _Kw(self.h_i_auth_pass)},
            ),
            nopreempt=_Kw(self.h_i_nopreempt),
            preempt=_Kw(self.h_i_preempt),
            preempt_delay=_Kw(self.h_i_preempt_delay),
            virtual_ipaddress=_Kw(self.h_i_vips(excluded=False)),
            virtual_ipaddress_excluded=_Kw(self.h_i_vips(excluded=True)),
            unicast_src_ip=_Kw(self.h_i_srcip(unicast=True)),
            mcast_src_ip=_Kw(self.h_i_srcip(unicast=False)),
            unicast_peer=_Kw(self.h_i_peers),
            track_interface=_Kw(self.h_i_track_if),
            track_script=_Kw(self.h_i_track_script),
            dont_track_primary=_Kw(self.h_i_flag("dont_track_primary")),
            accept=_Kw(self.h_i_accept(True)),
            no_accept=_Kw(self.h_i_accept(False)),
            smtp_alert=_Kw(self.h_i_smtp),
            garp_master_delay=_Kw(self.h_i_garp("garp_master_delay")),
            garp_master_repeat=_Kw(self.h_i_garp("garp_master_repeat")),
            garp_master_refresh=_Kw(self.h_i_garp("garp_master_refresh")),
            garp_master_refresh_repeat=_Kw(self.h_i_garp("garp_master_refresh_repeat")),
        )
        for name in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"):
            table[name] = _Kw(self.h_i_notify(name))
        return table

    def _group_table(self) -> dict[str, _Kw]:
        table = {
            "group": _Kw(self.h_g_group),
            "track_interface": _Kw(self.h_g_track("track_interfaces")),
            "track_script": _Kw(self.h_g_track("track_scripts")),
            "track_file": _Kw(self.h_ignore_value_block),
            "track_process": _Kw(self.h_ignore_value_block),
            "track_bfd": _Kw(self.h_ignore_value_block),
            "smtp_alert": _Kw(self.h_g_smtp),
            "global_tracking": _Kw(self.h_ignore),
            "sync_group_tracking_weight": _Kw(self.h_g_tracking_weight),
            "notify_priority_changes": _Kw(self.h_ignore),
        }
        for name in ("notify_master", "notify_backup", "notify_fault", "notify_stop", "notify"):
            table[name] = _Kw(self.h_g_notify(name))
        return table

    # -- generic handlers
    def h_ignore(self, line: _Line) -> None:
        return

    def h_ignore_block(self, line: _Line) -> None:
        self.generic_block(line)

    def h_ignore_value_block(self, line: _Line) -> None:
        self.value_block(line)

    # -- global_defs
    def h_global_option(self, line: _Line) -> None:
        self.cfg.global_defs.options[line.words[0]] = line.words[1:]

    def h_global_bool(self, quoted: bool) -> _Handler:
        """A global flag with an optional true/false value; kept as ["true"|"false"].
        keepalived words its refusal two ways, with or without the value."""

        def handler(line: _Line) -> None:
            name = line.words[0]
            value: bool | None = True
            if len(line.words) >= 2:
                value = _true_false(line.words[1])
                if value is None:
                    message = (
                        f"Invalid value '{line.words[1]}' for global {name} specified"
                        if quoted
                        else f"Invalid value for {name} specified"
                    )
                    self.report("general", message)
                    return
            self.cfg.global_defs.options[name] = ["true" if value else "false"]

        return handler

    def h_router_id(self, line: _Line) -> None:
        if len(line.words) < 2:
            self.report("general", "routerid name missing - ignoring")
            return
        self.cfg.global_defs.router_id = line.words[1]

    def h_email(self, line: _Line) -> None:
        emails = [w for item in self.value_block(line) for w in item.words]
        if not emails:
            self.report("general", "Warning - empty notification_email block", line)
        self.cfg.global_defs.notification_email.extend(emails)

    def h_email_from(self, line: _Line) -> None:
        if len(line.words) < 2:
            self.report("general", "emailfrom missing - ignoring")
            return
        self.cfg.global_defs.notification_email_from = line.words[1]

    def h_smtp_server(self, line: _Line) -> None:
        host = self.arg(line, 1)
        port_str = line.words[2] if len(line.words) >= 3 else "25"
        port, rest = _strtol_prefix(port_str)
        valid_port = port is not None and not rest and 0 <= port <= 65535
        ok = _parse_ip(host) is not None
        if not ok and self.resolve_hosts and host and not any(c in host for c in "/ "):
            try:
                socket.getaddrinfo(host, None)
                ok = True
            except (OSError, UnicodeError, ValueError):
                ok = False
        if not ok or not valid_port:
            self.report("general", f"Invalid smtp server {host} {port_str}")
            return
        self.cfg.global_defs.smtp_server = host
        self.cfg.global_defs.smtp_port = port or 25

    def h_smtp_timeout(self, line: _Line) -> None:
        value = self.num.unsigned(self.arg(line, 1), 0, 0xFFFFFFFF // TIMER_HZ)
        if value is None:
            self.report(
                "general",
                f"smtp_connect_timeout '{line.words[1]}' must be in [0, {0xFFFFFFFF // TIMER_HZ}]"
                " - ignoring",
            )
            return
        if value == 0:
            self.report("general", "smtp_conect_timeout must be greater than 0, setting to 1")
            value = 1
        self.cfg.global_defs.smtp_connect_timeout = value

    def h_script_user(self, line: _Line) -> None:
        if len(line.words) < 2:
            self.report("general", "No script username specified")
            return
        user = line.words[1]
        group = line.words[2] if len(line.words) > 2 else None
        if not _user_exists(user, group):
            self.report("general", "Error setting global script uid/gid")
            return
        self.cfg.global_defs.script_user = user
        self.cfg.global_defs.script_group = group

    def h_script_security(self, line: _Line) -> None:
        self.cfg.global_defs.enable_script_security = True

    def h_dynamic_interfaces(self, line: _Line) -> None:
        self.cfg.global_defs.dynamic_interfaces = True
        self.cfg.global_defs.options[line.words[0]] = line.words[1:]

    def h_strict(self, line: _Line) -> None:
        self.cfg.global_defs.vrrp_strict = True

    def h_global_version(self, line: _Line) -> None:
        value, _ = self.num.integer(self.arg(line, 1), 2, 3)
        if value is None:
            self.report("general", "VRRP Error: Version must be either 2 or 3")
            return
        self.cfg.global_defs.vrrp_version = value

    def h_global_garp(self, name: str) -> _Handler:
        def handler(line: _Line) -> None:
            text = self.arg(line, 1)
            gd = self.cfg.global_defs
            if name == "vrrp_garp_master_delay":
                value = self.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
                if value is None:
                    self.report("general", f"vrrp_garp_master_delay '{text}' invalid - ignoring")
                    return
                gd.vrrp_garp_master_delay = value
            elif name == "vrrp_garp_master_refresh":
                value = self.num.unsigned(text, 0, 0xFFFFFFFF)
                if value is None:
                    self.report("general", f"Invalid vrrp_garp_master_refresh '{text}' - ignoring")
                gd.vrrp_garp_master_refresh = value or 0
            else:
                value = self.num.unsigned(text, 0, 0xFFFFFFFF)
                if value is None:
                    self.report("general", f"{name} '{text}' invalid - ignoring")
                    return
                if value == 0:
                    self.report("general", f"{name} must be greater than 0, setting to 1")
                    value = 1
                setattr(gd, name, value)

        return handler

    # -- vrrp_script
    def h_script(self, line: _Line) -> None:
        name = self.arg(line, 1)
        self.script = VrrpScript(name=name, line=line.line, file=line.file)
        self.script_removed = False

    def _scr(self) -> VrrpScript:
        assert self.script is not None
        return self.script

    def h_s_script(self, line: _Line) -> None:
        command = " ".join(line.words[1:]).strip()
        self._scr().script = command or None

    def h_s_interval(self, line: _Line) -> None:
        scr = self._scr()
        text = self.arg(line, 1)
        value = self.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
        if value is None:
            self.report(
                "general",
                f"({scr.name}): vrrp script interval '{text}' must be between 1 and"
                f" {0xFFFFFFFF // TIMER_HZ} - ignoring",
            )
            return
        if value == 0:
            self.report(
                "general",
                f"({scr.name}): vrrp script interval must be greater than 0, setting to 1",
            )
            value = 1
        scr.interval = value

    def h_s_timeout(self, line: _Line) -> None:
        scr = self._scr()
        text = self.arg(line, 1)
        value = self.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
        if value is None:
            self.report("general", f"({scr.name}): vrrp script timeout '{text}' invalid - ignoring")
            return
        if value == 0:
            self.report(
                "general", f"({scr.name}): vrrp script timeout must be greater than 0, setting to 1"
            )
            value = 1
        scr.timeout = value

    def h_s_weight(self, line: _Line) -> None:
        scr = self._scr()
        text = self.arg(line, 1)
        value, guess = self.num.integer(text, -253, 253)
        if value is None:
            self.report("general", f"vrrp_script {scr.name} weight {text} must be in [-253, 253]")
        scr.weight = guess
        if len(line.words) >= 3:
            if line.words[2] == "reverse":
                scr.weight_reverse = True
            else:
                self.report(
                    "general", f"vrrp_script {scr.name} unknown weight option {line.words[2]}"
                )

    def h_s_rise_fall(self, name: str) -> _Handler:
        def handler(line: _Line) -> None:
            scr = self._scr()
            text = self.arg(line, 1)
            value = self.num.unsigned(text, 1, 2**31 - 1)
            if value is None:
                self.report(
                    "general",
                    f"({scr.name}): vrrp script {name} value '{text}' invalid, defaulting to 1",
                )
                value = 1
            setattr(scr, name, value)

        return handler

    def h_s_user(self, line: _Line) -> None:
        scr = self._scr()
        user = self.arg(line, 1)
        group = line.words[2] if len(line.words) > 2 else None
        if not _user_exists(user, group):
            self.report("general", f"Unable to set uid/gid for script {scr.script or ''}")
            self.script_removed = True
            return
        scr.user, scr.group = user, group
        self.script_removed = False

    def h_s_init_fail(self, line: _Line) -> None:
        self._scr().init_fail = True

    def end_script(self) -> None:
        scr = self._scr()
        if not scr.script:
            self.report("general", f"No script set for vrrp_script {scr.name} - removing", self.cur)
            return
        if self.script_removed:
            return
        self.cfg.scripts.setdefault(scr.name, scr)

    # -- vrrp_instance
    def h_instance(self, line: _Line) -> None:
        if len(line.words) != 2:
            self.report("general", "vrrp_instance must have a name")
            self.request_skip()
            return
        name = line.words[1]
        if name in self.cfg.instances:
            self.report("general", f"vrrp instance {name} already defined")
            self.request_skip()
            return
        self.instance = VrrpInstance(name=name, line=line.line, file=line.file)
        self.cfg.instances[name] = self.instance
        self.auth_set = False

    def _inst(self) -> VrrpInstance:
        assert self.instance is not None
        return self.instance

    def _set_family(self, inst: VrrpInstance, family: int) -> bool:
        current = self.family.get(inst.name)
        if current is None:
            self.family[inst.name] = family
            return True
        return current == family

    def end_instance(self) -> None:
        inst = self._inst()
        if inst.name not in self.unicast_configured or inst.unicast_peers:
            return
        # keepalived warns about this later, in validation

    def h_i_option(self, line: _Line) -> None:
        self._inst().options[line.words[0]] = line.words[1:]

    def h_i_bool(self, line: _Line) -> None:
        """An instance flag with an optional true/false value; kept as ["true"|"false"]."""
        inst, name = self._inst(), line.words[0]
        value: bool | None = True
        if len(line.words) >= 2:
            value = _true_false(line.words[1])
            if value is None:
                if name == "notify_priority_changes":
                    message = f"({inst.name}) Invalid value '{line.words[1]}' for {name} specified"
                else:
                    message = f"({inst.name}) invalid {name} {line.words[1]} specified"
                self.report("general", message)
                return
        inst.options[name] = ["true" if value else "false"]

    def h_i_linkbeat(self, line: _Line) -> None:
        self.report(
            "general",
            f"({self._inst().name}) 'linkbeat_use_polling' in vrrp instance deprecated"
            " - use linkbeat_interfaces block",
        )

    def h_i_option_block(self, line: _Line) -> None:
        items = self.value_block(line)
        self._inst().options[line.words[0]] = [" ".join(i.words) for i in items]

    def h_i_flag(self, name: str) -> _Handler:
        def handler(line: _Line) -> None:
            setattr(self._inst(), name, True)

        return handler

    def h_i_state(self, line: _Line) -> None:
        inst = self._inst()
        text = self.arg(line, 1)
        if text == "MASTER":
            inst.configured_state = "MASTER"
        elif text == "BACKUP":
            if inst.configured_state == "MASTER":
                self.report(
                    "general", f"({inst.name}) state previously set as MASTER - ignoring BACKUP"
                )
            else:
                inst.configured_state = "BACKUP"
        else:
            self.report("general", f"({inst.name}) unknown state '{text}', defaulting to BACKUP")
            inst.configured_state = "BACKUP"

    def h_i_interface(self, line: _Line) -> None:
        inst = self._inst()
        name = self.arg(line, 1)
        if len(name.encode()) >= IFNAMSIZ:
            self.report("general", f"Interface name '{name}' too long - ignoring")
            return
        if not self.interface_exists(name):
            self.report(
                "general", f"WARNING - interface {name} for vrrp_instance {inst.name} doesn't exist"
            )
            inst.interface = None
            return
        if self.interfaces.get(name, False):
            self.report(
                "general",
                f"({inst.name}) cannot use a loopback interface ({name}) for vrrp - ignoring",
            )
            inst.interface = None
            return
        inst.interface = name

    def h_i_vrid(self, line: _Line) -> None:
        inst = self._inst()
        text = self.arg(line, 1)
        value = self.num.unsigned(text, 1, 255)
        if value is None:
            self.report(
                "general", f"({inst.name}): VRID '{text}' not valid - must be between 1 & 255"
            )
            return
        inst.vrid = value

    def h_i_priority(self, line: _Line) -> None:
        inst = self._inst()
        value = self.num.unsigned(self.arg(line, 1), 1, VRRP_PRIO_OWNER)
        if value is None:
            self.report(
                "general",
                f"({inst.name}) Priority not valid! must be between 1 & {VRRP_PRIO_OWNER}."
                f" Using default {VRRP_PRIO_DFL}",
            )
            value = VRRP_PRIO_DFL
        inst.configured_priority = value

    def h_i_advert(self, line: _Line) -> None:
        inst = self._inst()
        text = self.arg(line, 1)
        value = self.num.decimal(text, TIMER_HZ // 100, 255 * TIMER_HZ)
        if not value:
            self.report(
                "general",
                f"({inst.name}) Advert interval ({text}) not valid! Must be > 0 - ignoring",
            )
            return
        inst.advert_int = value / TIMER_HZ

    def h_i_version(self, line: _Line) -> None:
        inst = self._inst()
        value, _ = self.num.integer(self.arg(line, 1), 2, 3)
        if value is None:
            self.report("general", f"({inst.name}): Version must be either 2 or 3")
            return
        if (inst.configured_version and inst.configured_version != value) or (
            value == 2 and self.family.get(inst.name) == 6
        ):
            self.report(
                "general",
                f"({inst.name}) vrrp_version {value} conflicts with configured or deduced"
                f" version {inst.configured_version or 0}; ignoring.",
            )
            return
        inst.configured_version = value

    def h_i_auth(self, line: _Line) -> None:
        return

    def h_i_auth_type(self, line: _Line) -> None:
        inst = self._inst()
        text = self.arg(line, 1)
        if text in ("AH", "PASS"):
            inst.auth_type = "AH" if text == "AH" else "PASS"
        else:
            self.report("general", f"({inst.name}) unknown authentication type '{text}'")

    def h_i_auth_pass(self, line: _Line) -> None:
        inst = self._inst()
        text = self.arg(line, 1)
        if len(text.encode()) > 8:
            self.report("general", "Truncating auth_pass to 8 characters")
            text = text.encode()[:8].decode(errors="ignore")
        inst.auth_pass = text

    def h_i_nopreempt(self, line: _Line) -> None:
        self._inst().nopreempt = True

    def h_i_preempt(self, line: _Line) -> None:
        self._inst().nopreempt = False

    def h_i_preempt_delay(self, line: _Line) -> None:
        inst = self._inst()
        value = self.num.decimal(self.arg(line, 1), 0, 1_000_000_000 * TIMER_HZ)
        if value is None:
            self.report(
                "general", f"({inst.name}) Preempt_delay not valid! must be between 0-1000000000"
            )
            value = 0
        inst.preempt_delay = value / TIMER_HZ

    def h_i_accept(self, value: bool) -> _Handler:
        def handler(line: _Line) -> None:
            self._inst().accept = value

        return handler

    def h_i_smtp(self, line: _Line) -> None:
        inst = self._inst()
        value: bool | None = True
        if len(line.words) >= 2:
            value = _true_false(line.words[1])
            if value is None:
                self.report(
                    "general", f"Invalid vrrp_instance smtp_alert parameter {line.words[1]}"
                )
                return
        inst.smtp_alert = value

    def h_i_garp(self, name: str) -> _Handler:
        def handler(line: _Line) -> None:
            inst = self._inst()
            text = self.arg(line, 1)
            if name == "garp_master_delay":
                value = self.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
                if value is None:
                    self.report(
                        "general", f"({inst.name}): garp_master_delay '{text}' invalid - ignoring"
                    )
                    return
            elif name == "garp_master_refresh":
                value = self.num.unsigned(text, 0, 0xFFFFFFFF)
                if value is None:
                    self.report(
                        "general", f"({inst.name}): Invalid garp_master_refresh '{text}' - ignoring"
                    )
                    value = 0
            else:
                value = self.num.unsigned(text, 0, 0xFFFFFFFF)
                if value is None:
                    self.report("general", f"({inst.name}): {name} '{text}' invalid - ignoring")
                    return
                if value == 0:
                    self.report(
                        "general", f"({inst.name}): {name} must be greater than 0, setting to 1"
                    )
                    value = 1
            setattr(inst, name, value)
            self.garp_set.setdefault(inst.name, set()).add(name)

        return handler

    def h_i_notify(self, name: str) -> _Handler:
        def handler(line: _Line) -> None:
            inst = self._inst()
            command = " ".join(line.words[1:])
            if getattr(inst, name) is not None:
                self.report(
                    "general",
                    f"({inst.name}) {name} script already specified - ignoring {self.arg(line, 1)}",
                )
                return
            self.arg(line, 1)
            setattr(inst, name, command)

        return handler

    def h_i_srcip(self, unicast: bool) -> _Handler:
        def handler(line: _Line) -> None:
            inst = self._inst()
            if unicast:
                self.unicast_configured.add(inst.name)
            text = self.arg(line, 1)
            addr = _parse_ip(text)
            if addr is None:
                self.report(
                    "general",
                    f"Configuration error: VRRP instance[{inst.name}] malformed"
                    f" src address[{text}]."
                    " Skipping...",
                )
                return
            if not self._set_family(inst, addr.version):
                self.report(
                    "general",
                    f"Configuration error: VRRP instance[{inst.name}] and src address[{text}]"
                    " MUST be of the same family !!! Skipping...",
                )
                return
            if unicast:
                inst.unicast_src_ip = str(addr)
            else:
                inst.mcast_src_ip = str(addr)

        return handler

    def h_i_peers(self, line: _Line) -> None:
        inst = self._inst()
        self.unicast_configured.add(inst.name)
        for item in self.value_block(line):
            self.cur = item
            text = item.words[0]
            addr = _parse_ip(text)
            if addr is None:
                self.report(
                    "general",
                    f"Configuration error: VRRP instance[{inst.name}] malformed unicast peer"
                    f" address[{text}]. Skipping...",
                    item,
                )
                continue
            if not self._set_family(inst, addr.version):
                self.report(
                    "general",
                    f"Configuration error: VRRP instance[{inst.name}] and unicast peer address"
                    f"[{text}] MUST be of the same family !!! Skipping...",
                    item,
                )
                continue
            inst.unicast_peers.append(str(addr))

    def h_i_vips(self, excluded: bool) -> _Handler:
        def handler(line: _Line) -> None:
            inst = self._inst()
            for item in self.value_block(line):
                vip = self._parse_vip(item)
                if vip is None:
                    continue
                if not excluded and not self._set_family(inst, vip.family):
                    self.report(
                        "general",
                        f"({inst.name}): address family must match VRRP instance [{vip.address}]"
                        " - ignoring",
                        item,
                    )
                    continue
                (inst.excluded_vips if excluded else inst.vips).append(vip)

        return handler

    def _parse_vip(self, item: _Line) -> VirtualIp | None:
        self.cur = item
        words = item.words
        text = words[0]
        if text in ("default", "any", "all", "default6"):
            self.report("general", f"VRRP parsed invalid IP {text}. skipping IP...", item)
            return None
        addr_text, slash, plen_text = text.partition("/")
        addr = _parse_ip(addr_text)
        if addr is None:
            self.report("general", f"VRRP parsed invalid IP {text}. skipping IP...", item)
            return None
        maxlen = 32 if addr.version == 4 else 128
        prefixlen = maxlen
        if slash:
            value = self.num.unsigned(plen_text, 0, maxlen)
            if value is None:
                self.report(
                    "general",
                    f"Invalid address prefix len {plen_text} for address {text} - using {maxlen}",
                    item,
                )
            else:
                prefixlen = value
        vip = VirtualIp(str(addr), prefixlen, line=item.line, file=item.file)
        i = 1
        while i < len(words):
            opt = words[i]
            if opt in _VIP_PARAM_OPTIONS:
                if i + 1 >= len(words):
                    self.report("general", f"No {opt} parameter specified for {text}", item)
                    return None
                param = words[i + 1]
                i += 1
                if opt == "dev":
                    if vip.dev is not None:
                        self.report(
                            "general", f"Cannot specify ipaddress device more than once for {text}"
                        )
                        return None
                    if not self.interface_exists(param):
                        self.report(
                            "general",
                            f"WARNING - interface {param} for ip address {text} doesn't exist",
                            item,
                        )
                        return None
                    vip.dev = param
                elif opt == "scope":
                    if param not in _SCOPES and _strtol_prefix(param)[1] != "":
                        self.report(
                            "general", f"Invalid scope '{param}' specified for {text} - ignoring"
                        )
                    else:
                        vip.scope = param
                elif opt in ("brd", "broadcast"):
                    if addr.version == 6:
                        self.report(
                            "general",
                            f"VRRP is trying to assign a broadcast {param} to the IPv6 address"
                            f" {text} !!?? WTF... skipping VIP...",
                        )
                        return None
                    if param not in ("+", "-") and _parse_ip(param) is None:
                        self.report(
                            "general",
                            f"VRRP is trying to assign invalid broadcast {param}. skipping VIP...",
                        )
                        return None
                    vip.brd = param
                elif opt == "label":
                    if len(param.encode()) > IFNAMSIZ - 1:
                        self.report(
                            "general",
                            f"Address label {param} is longer than maximum length"
                            f" {IFNAMSIZ - 1} - removing address",
                        )
                        return None
                    vip.label = param
                else:
                    vip.options.extend([opt, param])
            elif opt in _VIP_FLAG_OPTIONS:
                vip.options.append(opt)
            else:
                self.report(
                    "general",
                    f"Unknown configuration entry '{opt}' for ip address - ignoring",
                    item,
                )
            i += 1
        return vip

    def h_i_track_if(self, line: _Line) -> None:
        inst = self._inst()
        for item in self.value_block(line):
            self.cur = item
            words = item.words
            name = words[0]
            if not self.interface_exists(name):
                self.report("general", f"({inst.name}) tracked interface {name} doesn't exist")
                continue
            if any(t.name == name for t in inst.track_interfaces):
                self.report("general", f"({inst.name}) duplicate track_interface {name} - ignoring")
                continue
            weight, reverse = 0, False
            if len(words) >= 2:
                if words[1] != "weight":
                    self.report(
                        "general",
                        f"({inst.name}) unknown track_interface {name}"
                        f" option {words[1]} - ignoring",
                    )
                    continue
                if len(words) == 2:
                    self.report(
                        "general",
                        f"({inst.name}) weight without value specified for track_interface {name}"
                        " - ignoring",
                    )
                    continue
                value, _ = self.num.integer(words[2], -254, 254)
                if value is None:
                    self.report(
                        "general",
                        f"({inst.name}) weight {words[2]} for {name} must be between"
                        " [-253..253] inclusive. Ignoring...",
                    )
                    value = 0
                elif value in (-254, 254):
                    self.report(
                        "general",
                        f"({inst.name}) weight for {name} cannot be +/-254. Setting to +/-253",
                    )
                    value = 253 if value > 0 else -253
                weight = value
                if len(words) >= 4:
                    if words[3] == "reverse":
                        reverse = True
                    else:
                        self.report(
                            "general",
                            f"({inst.name}) unknown track_interace {name} weight option"
                            f" {words[3]} - ignoring",
                        )
            inst.track_interfaces.append(TrackInterface(name, weight, reverse, item.line))

    def h_i_track_script(self, line: _Line) -> None:
        inst = self._inst()
        for item in self.value_block(line):
            self.cur = item
            words = item.words
            name = words[0]
            scr = self.cfg.scripts.get(name)
            if scr is None:
                self.report("general", f"({inst.name}) track script {name} not found, ignoring...")
                continue
            if any(t.name == name for t in inst.track_scripts):
                self.report("general", f"({inst.name}) duplicate track_script {name} - ignoring")
                continue
            weight: int | None = None
            reverse = scr.weight_reverse
            if len(words) >= 2:
                if words[1] != "weight":
                    self.report(
                        "general",
                        f"({inst.name}) track script {name} option {words[1]} invalid - ignoring",
                    )
                elif len(words) == 2:
                    self.report(
                        "general",
                        f"({inst.name}) track script {name} weight missing - ignoring",
                    )
                else:
                    value, _ = self.num.integer(words[2], -253, 253)
                    if value is None:
                        self.report(
                            "general",
                            f"({inst.name}) track script {name}: weight must be between"
                            " [-253..253] inclusive, ignoring...",
                        )
                    else:
                        weight = value
                    reverse = len(words) >= 4 and words[3] == "reverse"
            inst.track_scripts.append(TrackScript(name, weight, reverse, item.line))

    # -- vrrp_sync_group
    def h_group(self, line: _Line) -> None:
        if len(line.words) != 2:
            self.report("general", "vrrp_sync_group must have a name - skipping")
            self.request_skip()
            return
        name = line.words[1]
        if name in self.cfg.sync_groups:
            self.report("general", f"vrrp sync group {name} already defined")
            self.request_skip()
            return
        self.group = SyncGroup(name=name, line=line.line, file=line.file)
        self.cfg.sync_groups[name] = self.group
        self.group_has_list = False

    def _grp(self) -> SyncGroup:
        assert self.group is not None
        return self.group

    def h_g_group(self, line: _Line) -> None:
        grp = self._grp()
        if self.group_has_list:
            self.report("general", f"Group list already specified for sync group {grp.name}")
            self.request_skip()
            return
        names = [w for item in self.value_block(line) for w in item.words]
        self.group_has_list = bool(names)
        if not names:
            self.report("general", f"Warning - sync group {grp.name} has empty group block", line)
        grp.declared_members = names

    def h_g_track(self, attr: str) -> _Handler:
        def handler(line: _Line) -> None:
            getattr(self._grp(), attr).extend(i.words[0] for i in self.value_block(line))

        return handler

    def h_g_notify(self, name: str) -> _Handler:
        def handler(line: _Line) -> None:
            grp = self._grp()
            if getattr(grp, name) is not None:
                self.report(
                    "general",
                    f"vrrp group {grp.name}: {name} script already specified - ignoring"
                    f" {self.arg(line, 1)}",
                )
                return
            self.arg(line, 1)
            setattr(grp, name, " ".join(line.words[1:]))

        return handler

    def h_g_tracking_weight(self, line: _Line) -> None:
        self._grp().tracking_weight = True

    def h_g_smtp(self, line: _Line) -> None:
        value: bool | None = True
        if len(line.words) >= 2:
            value = _true_false(line.words[1])
            if value is None:
                self.report(
                    "general", f"Invalid vrrp_sync_group smtp_alert parameter {line.words[1]}"
                )
                return
        self._grp().smtp_alert = value

    # -- virtual_server (kept as data)
    def h_virtual_server(self, line: _Line) -> None:
        words = line.words
        vs = VirtualServer(
            address=words[1] if len(words) > 1 else "",
            port=words[2] if len(words) > 2 else None,
            line=line.line,
            file=line.file,
        )
        self.cfg.virtual_servers.append(vs)
        for item in self.checked_block(self._vs_table(), 1):
            if item.keyword == "real_server":
                args = item.args
                vs.real_servers.append(
                    RealServer(
                        address=args[0] if args else "",
                        port=args[1] if len(args) > 1 else None,
                        items=item.children,
                        line=item.line,
                        file=item.file,
                    )
                )
            else:
                vs.items.append(item)

    def _vs_table(self) -> dict[str, dict[str, object] | None]:
        checker: dict[str, dict[str, object] | None] = {}
        for name, extra in _CHECKERS.items():
            sub: dict[str, object] = dict.fromkeys(_CHECK_COMMON + list(extra))
            if name in ("HTTP_GET", "SSL_GET"):
                sub["url"] = dict.fromkeys(_URL_KEYWORDS)
            checker[name] = sub
        real: dict[str, object] = dict.fromkeys(_RS_KEYWORDS)
        real.update(checker)
        table: dict[str, dict[str, object] | None] = dict.fromkeys(_VS_KEYWORDS)
        table["real_server"] = real
        return table

    def checked_block(self, table: Mapping[str, object], level: int) -> list[ConfigItem]:
        """Parse a ``{ ... }`` block against a keyword tree, keeping it as data."""
        items: list[ConfigItem] = []
        need_bob = True
        while (line := self.next_line()) is not None:
            word = line.words[0]
            if need_bob:
                need_bob = False
                if word == "{":
                    continue
                self.report("missing_bob", "Missing '{' at beginning of configuration block")
            elif word == "{":
                self.report("unexpected_bob", "Unexpected '{' - ignoring")
                continue
            if word == "}":
                break
            if word not in table:
                self.report("unknown_keyword", f"Unknown keyword '{word}'")
                continue
            item = ConfigItem(word, line.words[1:], line.line, line.file)
            sub = table[word]
            if isinstance(sub, dict):
                item.children = self.checked_block(sub, level + 1)
            items.append(item)
        return items

    def run(self) -> None:
        self.skim()
        self.pos = 0
        self.process(self.top, 0, False)

    def skim(self) -> None:
        """The top-level view of keepalived's other processes: known blocks skipped whole.

        keepalived's parent and checker processes skip blocks they do not handle by
        counting braces, so they see an extra ``}`` or an unknown keyword at top level
        where the VRRP process sees something else; their reports are part of the output.
        """
        lines = self.lines
        i = 0
        while i < len(lines):
            line = lines[i]
            self.cur = line
            word = line.words[0]
            i += 1
            if word in self.top:
                if i < len(lines) and lines[i].words[0] == "{":
                    depth = 0
                    while i < len(lines):
                        for w in lines[i].words:
                            depth += (w == "{") - (w == "}")
                        i += 1
                        if depth <= 0:
                            break
            elif word == "{":
                self.report("unexpected_bob", "Unexpected '{' - ignoring")
            else:
                self.report("unknown_keyword", f"Unknown keyword '{word}'")


def _user_exists(user: str, group: str | None) -> bool:
    try:
        pwd.getpwnam(user)
    except (KeyError, ValueError):
        if not user.isdigit():
            return False
    if group is None:
        return True
    import grp

    try:
        grp.getgrnam(group)
    except (KeyError, ValueError):
        return group.isdigit()
    return True


# --------------------------------------------------------------------------- validation


def _script_uid(user: str | None) -> int:
    name = user or "keepalived_script"
    try:
        return pwd.getpwnam(name).pw_uid
    except (KeyError, ValueError):
        return 0


_SC_NOTFOUND, _SC_ISSCRIPT, _SC_EXECUTABLE, _SC_INSECURE = 1, 2, 4, 8


def _check_script(command: str, uid: int, report_log: Callable[[str], None]) -> int:
    """A simplified check_script_secure(): SC_* flags for the first word of command."""
    parts = command.split()
    if not parts:
        return _SC_NOTFOUND
    path = parts[0]
    if path.startswith("<"):
        return 0
    if "/" not in path:
        found = shutil.which(path)
        if found is None:
            report_log(f"Cannot find script {path} in path - disabling")
            return _SC_NOTFOUND
        path = found
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        report_log(f"Script {path} cannot be accessed - {exc.strerror}")
        return _SC_NOTFOUND
    flags = _SC_ISSCRIPT
    mode = st.st_mode
    if uid == 0:
        executable = bool(mode & 0o111)
    elif st.st_uid == uid:
        executable = bool(mode & stat.S_IXUSR)
    else:
        executable = bool(mode & stat.S_IXOTH)
    if not stat.S_ISREG(mode) or not executable:
        report_log(
            f"WARNING - script '{path}' is not executable for uid:gid {uid}:{uid} - disabling."
        )
        return flags
    flags |= _SC_EXECUTABLE
    if uid == 0:
        probe = real
        while True:
            try:
                pst = os.stat(probe)
            except OSError:
                break
            sticky_dir = stat.S_ISDIR(pst.st_mode) and pst.st_mode & stat.S_ISVTX
            if pst.st_uid != 0 or (pst.st_mode & 0o022 and not sticky_dir):
                flags |= _SC_INSECURE
                break
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
    return flags


class _Validator:
    """keepalived's post-parse checks (vrrp_complete_init and friends), in its order."""

    def __init__(self, parser: _Parser) -> None:
        self.p = parser
        self.cfg = parser.cfg
        self.diags = parser.diags

    def report(self, file: str, line: int, kind: str, message: str) -> None:
        self.diags.add(file, line, kind, message)

    def run(self) -> None:
        cfg = self.cfg
        for inst in cfg.instances.values():
            self._derive(inst)
        if self.p.missing_if is not None:
            where = self.p.missing_if
            self.report(
                where.file,
                where.line,
                "bad_if",
                "Non-existent interface specified in configuration",
            )
            return
        if not cfg.instances:
            return
        if self.p.check_scripts:
            self._script_security()
        for inst in cfg.instances.values():
            if inst.vrid is None:
                self.report(
                    inst.file,
                    inst.line,
                    "general",
                    f"({inst.name}) the virtual router id must be set",
                )
                return
            if inst.interface is None and not inst.unicast_peers:
                self.report(inst.file, inst.line, "general", f"({inst.name}) Unknown interface!")
                return
        self._sync_groups()
        for inst in cfg.instances.values():
            if not self._complete(inst):
                return
        self._duplicate_vrids()

    def _derive(self, inst: VrrpInstance) -> None:
        family = self.p.family.get(inst.name, 4)
        version = inst.configured_version or (
            3 if family == 6 else self.cfg.global_defs.vrrp_version
        )
        inst.version = version
        if inst.configured_priority is None:
            inst.priority = VRRP_PRIO_OWNER if inst.configured_state == "MASTER" else VRRP_PRIO_DFL
        else:
            inst.priority = inst.configured_priority
        if inst.configured_state is None:
            inst.state = "MASTER" if inst.priority == VRRP_PRIO_OWNER else "BACKUP"
        else:
            inst.state = "MASTER" if inst.configured_state == "MASTER" else "BACKUP"
        set_here = self.p.garp_set.get(inst.name, set())
        gd = self.cfg.global_defs
        for name, default in (
            ("garp_master_delay", gd.vrrp_garp_master_delay),
            ("garp_master_repeat", gd.vrrp_garp_master_repeat),
            ("garp_master_refresh", gd.vrrp_garp_master_refresh),
            ("garp_master_refresh_repeat", gd.vrrp_garp_master_refresh_repeat),
        ):
            if name not in set_here:
                setattr(inst, name, default)

    def _script_security(self) -> None:
        cfg = self.cfg
        gd = cfg.global_defs
        flags = 0
        for scr in cfg.scripts.values():
            uid = _script_uid(scr.user or gd.script_user)

            def log(message: str, scr: VrrpScript = scr) -> None:
                self.report(scr.file, scr.line, "log", message)

            sflags = _check_script(scr.script or "", uid, log)
            flags |= sflags
            if sflags & _SC_NOTFOUND:
                self.report(
                    scr.file,
                    scr.line,
                    "general",
                    f"Disabling track script {scr.name} since not found/accessible",
                )
                scr.disabled = True
            elif sflags & _SC_INSECURE and gd.enable_script_security:
                self.report(
                    scr.file,
                    scr.line,
                    "general",
                    f"Disabling track script {scr.name} due to insecure",
                )
                scr.disabled = True
            elif not sflags & _SC_EXECUTABLE:
                scr.disabled = True
        notify_owners: list[VrrpInstance | SyncGroup] = [
            *cfg.instances.values(),
            *cfg.sync_groups.values(),
        ]
        for owner in notify_owners:
            for name in ("notify_backup", "notify_master", "notify_fault", "notify_stop", "notify"):
                command = getattr(owner, name)
                if command is None:
                    continue

                def nlog(message: str, owner: VrrpInstance | SyncGroup = owner) -> None:
                    self.report(owner.file, owner.line, "log", message)

                flags |= _check_script(command, _script_uid(gd.script_user), nlog)
        if not gd.enable_script_security and flags & _SC_ISSCRIPT:
            first = next(iter(cfg.instances.values()))
            suffix = " There are insecure scripts." if flags & _SC_INSECURE else ""
            self.report(
                first.file,
                first.line,
                "security",
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
                + suffix,
            )
        for inst in cfg.instances.values():
            inst.track_scripts = [t for t in inst.track_scripts if not cfg.scripts[t.name].disabled]

    def _sync_groups(self) -> None:
        cfg = self.cfg
        owner: dict[str, str] = {}
        for name, grp in list(cfg.sync_groups.items()):
            if not grp.declared_members:
                self.report(
                    grp.file,
                    grp.line,
                    "general",
                    f"Sync group {name} has no virtual router(s). removing",
                )
                del cfg.sync_groups[name]
                continue
            for member in grp.declared_members:
                inst = cfg.instances.get(member)
                if inst is None:
                    self.report(
                        grp.file,
                        grp.line,
                        "general",
                        f"Virtual router {member} specified in sync group {name} doesn't exist"
                        " - ignoring",
                    )
                    continue
                if member in owner:
                    self.report(
                        grp.file,
                        grp.line,
                        "general",
                        f"Virtual router {member} cannot exist in more than one sync group;"
                        f" ignoring {name}",
                    )
                    continue
                owner[member] = name
                grp.members.append(member)
                inst.sync_group = name
            if not grp.members:
                self.report(
                    grp.file,
                    grp.line,
                    "general",
                    f"Sync group {name}, no matching virtual router found in group declaration"
                    " - removing",
                )
                del cfg.sync_groups[name]
            elif len(grp.members) == 1:
                self.report(
                    grp.file,
                    grp.line,
                    "general",
                    f"Sync group {name} has only 1 virtual router(s) - this probably isn't what"
                    " you want",
                )

    def _complete(self, inst: VrrpInstance) -> bool:
        gd = self.cfg.global_defs

        def say(message: str, kind: str = "general") -> None:
            self.report(inst.file, inst.line, kind, message)

        family = self.p.family.get(inst.name, 4)
        strict = gd.vrrp_strict or inst.options.get("strict_mode") == ["true"]
        if not inst.vips:
            if inst.version == 3 or strict:
                say(f"({inst.name}) No VIP specified; at least one is required")
                return False
            say(f"({inst.name}) No VIP specified; at least one is sensible", "warning")
        if inst.auth_type is not None:
            if strict:
                say(f"({inst.name}) Strict mode does not support authentication. Ignoring.")
                inst.auth_type = None
            elif inst.version == 3:
                say(f"({inst.name}) VRRP version 3 does not support authentication. Ignoring.")
                inst.auth_type = None
            elif not inst.auth_pass:
                say(f"({inst.name}) Authentication specified but no password given. Ignoring")
                inst.auth_type = None
            elif family == 6 and inst.auth_type == "AH":
                say(f"({inst.name}) Cannot use AH authentication with IPv6. ignoring")
                inst.auth_type = None
            elif (
                inst.auth_type == "AH"
                and inst.state == "MASTER"
                and inst.priority != VRRP_PRIO_OWNER
            ):
                say(
                    f"({inst.name}) Initial state master is incompatible with AH authentication"
                    " - clearing"
                )
                inst.state = "BACKUP"
        if inst.interface is None and inst.unicast_src_ip is None:
            say(f"({inst.name}): Unicast instances must have unicast_src_ip or interface")
            return False
        if inst.name in self.p.unicast_configured and not inst.unicast_peers:
            say(
                f"({inst.name}) A unicast keyword has been specified without any unicast peers."
                " Defaulting to multicast. This usage is deprecated - please update your"
                " configuration.",
                "deprecated",
            )
        if inst.priority == VRRP_PRIO_OWNER and inst.nopreempt:
            say(f"({inst.name}) nopreempt is incompatible with priority 255. resetting nopreempt")
            inst.nopreempt = False
        if inst.state == "MASTER":
            if inst.nopreempt:
                say(
                    f"({inst.name}) Warning - nopreempt will not work with initial state MASTER"
                    " - clearing"
                )
                inst.nopreempt = False
            if inst.preempt_delay:
                say(
                    f"({inst.name}) Warning - preempt delay will not work with initial state"
                    " MASTER - clearing"
                )
                inst.preempt_delay = 0.0
        if inst.preempt_delay and inst.nopreempt:
            say(f"({inst.name}) preempt_delay is incompatible with nopreempt mode - resetting")
            inst.preempt_delay = 0.0
        self._sync_weights(inst, say)
        ticks = round(inst.advert_int * TIMER_HZ)
        if inst.version == 2:
            if ticks >= 256 * TIMER_HZ:
                say(
                    f"({inst.name}) VRRPv2 advertisement interval {ticks / TIMER_HZ:.2f}s is out of"
                    " range. Must be less than 256s. Setting to 255s"
                )
                ticks = 255 * TIMER_HZ
            elif ticks % TIMER_HZ:
                say(
                    f"({inst.name}) VRRPv2 advertisement interval {ticks / TIMER_HZ:f}s must be an"
                    " integer. rounding"
                )
                ticks += TIMER_HZ // 2
                ticks -= ticks % TIMER_HZ
                ticks = ticks or TIMER_HZ
        else:
            centi = TIMER_HZ // 100
            if ticks >= 4096 * centi:
                say(
                    f"({inst.name}) VRRPv3 advertisement interval {ticks / TIMER_HZ:.2f}s is out of"
                    " range. Must be less than 40.96s. Setting to 40.95s"
                )
                ticks = 4095 * centi
            elif ticks % centi:
                say(
                    f"({inst.name}) VRRPv3 advertisement interval {ticks / TIMER_HZ:f}s must be in"
                    " units of 10ms - rounding"
                )
                ticks += centi // 2
                ticks -= ticks % centi
                ticks = ticks or centi
        inst.advert_int = ticks / TIMER_HZ
        if inst.interface is not None:
            kept = []
            for tip in inst.track_interfaces:
                if tip.name == inst.interface:
                    say(f"({inst.name}) Ignoring track_interface {tip.name} since own interface")
                    continue
                kept.append(tip)
            inst.track_interfaces = kept
        return True

    def _sync_weights(self, inst: VrrpInstance, say: Callable[[str], None]) -> None:
        """Sync group members and address owners ignore tracking weights."""
        grp = self.cfg.sync_groups.get(inst.sync_group or "")
        in_sync = grp is not None and not grp.tracking_weight
        if not in_sync and inst.priority != VRRP_PRIO_OWNER:
            return
        why = "SYNC group" if in_sync else "address owner"
        kept_if: list[TrackInterface] = []
        for tip in inst.track_interfaces:
            if tip.weight:
                weight_word = "weight " if in_sync else ""
                say(
                    f"({inst.name}) ignoring {tip.name} tracked interface {weight_word}due to {why}"
                )
                if not in_sync:
                    continue
                tip.weight = 0
            kept_if.append(tip)
        inst.track_interfaces = kept_if
        kept_sc: list[TrackScript] = []
        for tsc in inst.track_scripts:
            scr = self.cfg.scripts.get(tsc.name)
            weight = tsc.weight if tsc.weight is not None else (scr.weight if scr else 0)
            if weight:
                why_sc = "SYNC group" if in_sync else "address_owner"
                say(
                    f"({inst.name}) ignoring tracked script {tsc.name} with weights due to {why_sc}"
                )
                continue
            kept_sc.append(tsc)
        inst.track_scripts = kept_sc

    def _duplicate_vrids(self) -> None:
        insts = list(self.cfg.instances.values())
        for i, a in enumerate(insts):
            for b in insts[i + 1 :]:
                if a.vrid != b.vrid:
                    continue
                fam_a = self.p.family.get(a.name, 4)
                if fam_a != self.p.family.get(b.name, 4):
                    continue
                if a.unicast_peers or b.unicast_peers:
                    if not (a.unicast_peers and b.unicast_peers):
                        continue
                    if a.unicast_src_ip != b.unicast_src_ip:
                        continue
                    if set(a.unicast_peers) & set(b.unicast_peers):
                        self.report(
                            b.file,
                            b.line,
                            "general",
                            f"({b.name}) duplicate VRID conflict with {a.name} VRID {b.vrid}",
                        )
                    continue
                if a.interface is None or a.interface != b.interface:
                    continue
                self.report(
                    b.file,
                    b.line,
                    "general",
                    f"{a.name} and {b.name} both use VRID {a.vrid} with IPv{fam_a} on interface"
                    f" {a.interface}",
                )


# --------------------------------------------------------------------------- entry point


def load_config(
    path: str | os.PathLike[str],
    *,
    interfaces: Iterable[str] | None = None,
    check_scripts: bool = True,
    resolve_hosts: bool = False,
) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    """Parse and check a keepalived.conf; never raises on malformed input.

    `interfaces` names the interfaces that exist (default: this host's, from
    /sys/class/net; ``lo`` counts as loopback). `check_scripts` looks scripts up on this
    host as keepalived does. `resolve_hosts` resolves an ``smtp_server`` host name.
    """
    diags = _Diags()
    name = os.fspath(path)
    reader = _Reader(diags)
    try:
        if not reader.read_main(name):
            return KeepalivedConfig(), diags.items
    except (OSError, ValueError) as exc:
        diags.add(name, 0, "file_not_found", f"Unable to read configuration file {name} ({exc})")
        return KeepalivedConfig(), diags.items
    known = _system_interfaces() if interfaces is None else {n: n == "lo" for n in interfaces}
    parser = _Parser(reader, diags, known, check_scripts, resolve_hosts)
    try:
        parser.run()
    except _MissingParameter:
        return parser.cfg, diags.items
    _Validator(parser).run()
    return parser.cfg, diags.items

"""Diagnostics: one message about the configuration, the sink that collects them, and the
exit status ``keepalived -t`` gives for them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FATAL_KINDS",
    "KINDS",
    "Diagnostic",
    "Diagnostics",
    "Severity",
    "config_test_exit_status",
]

Severity = Literal["fatal", "error", "warning"]

# keepalived's config_err_t, in its enum order. keepalived keeps the *highest* value
# reported, and `keepalived -t` maps it to its exit status (see config_test_exit_status).
KINDS: tuple[str, ...] = (
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
_KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}
FATAL_KINDS = frozenset(
    {"file_not_found", "bad_if", "fatal", "missing_parameter", "include_failed"}
)


@dataclass(frozen=True)
class Diagnostic:
    """One message about the configuration, located like keepalived locates it.

    `kind` is keepalived's error category (``config_err_t`` without the ``CONFIG_``
    prefix, lower case), plus ``"log"`` for messages keepalived prints without counting
    them (an include that matched nothing) and ``"syslog"`` for those it only logs
    (log_message: the daemon logs them at run time, ``-t`` does not print them); it decides
    the exit status. When omitted it is derived from `severity`.
    """

    file: str
    line: int
    message: str
    severity: Severity
    kind: str = ""
    # keepalived 2.2.7 leaves the file name out of messages about the global_defs of the
    # file it was given ("(Line 3) ..."); `file` still says where the line is.
    show_file: bool = True
    # keepalived prints no location at all once the files are read (its include stack is
    # empty): the checks after parsing say only their message. `file` and `line` still say
    # what the message is about, for lint and for people.
    located: bool = True

    def __post_init__(self) -> None:
        if not self.kind:
            default = {"fatal": "fatal", "error": "general", "warning": "log"}[self.severity]
            object.__setattr__(self, "kind", default)

    @property
    def printed_by_test(self) -> bool:
        """Whether ``keepalived -t`` prints it (log_message lines go to syslog only)."""
        return self.kind != "syslog"

    def __str__(self) -> str:
        if not self.located:
            return self.message
        if not self.show_file:
            return f"(Line {self.line}) {self.message}"
        return f"({self.file}: Line {self.line}) {self.message}"


class Diagnostics:
    """The sink every stage reports to, in report order: each (file, line, message) once
    unless said again on purpose (``once=False``)."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self._seen: set[tuple[str, int, str]] = set()

    def add(
        self,
        file: str,
        line: int,
        kind: str,
        message: str,
        *,
        show_file: bool = True,
        located: bool = True,
        once: bool = True,
    ) -> None:
        """Add a diagnostic; with `once`, unless the same was already added (keepalived's
        processes each print what they read). `once` False: keepalived prints it again
        (the same complaint about two words of one line)."""
        key = (file, line, message)
        if once and key in self._seen:
            return
        self._seen.add(key)
        if kind in ("log", "syslog"):
            severity: Severity = "warning"
        elif kind in FATAL_KINDS:
            severity = "fatal"
        else:
            severity = "error"
        self.items.append(Diagnostic(file, line, message, severity, kind, show_file, located))

    def add_again(self, diag: Diagnostic) -> None:
        """Add what another sink collected, as it was said (once)."""
        self.add(
            diag.file,
            diag.line,
            diag.kind,
            diag.message,
            show_file=diag.show_file,
            located=diag.located,
        )

    def discard(self, diag: Diagnostic) -> None:
        """Take back what was said (keepalived would not have said it after all)."""
        if diag in self.items:
            self.items.remove(diag)
            self._seen.discard((diag.file, diag.line, diag.message))


FATAL_STATUSES = (2, 4)
"""``keepalived -t`` exit statuses of a file keepalived would not run at all: parsing
stopped (2), a fatal error (4). With 5 (other errors) it still runs."""


def config_test_exit_status(diags: list[Diagnostic]) -> int:
    """Exit status of ``keepalived -t`` for these diagnostics.

    0 valid (log-only warnings), 4 fatal (file not found, bad interface, fatal), 5 other
    configuration errors. Like keepalived 2.2.7, two more: 2 when parsing stopped on a
    keyword missing its parameter, 6 for a script-security violation and for an include
    whose check failed (``includem``, ``include_check``...; reading stopped there).
    keepalived keeps the least severe category it saw, so one ordinary error after a fatal
    one gives 5.
    """
    if any(d.kind == "missing_parameter" for d in diags):
        return 2
    if any(d.kind == "include_failed" for d in diags):
        return 6
    ranks = [
        _KIND_RANK.get(d.kind, _KIND_RANK["general"])
        for d in diags
        if d.kind not in ("log", "syslog")
    ]
    if not ranks:
        return 0
    worst = max(ranks)
    if worst == _KIND_RANK["security"]:
        return 6
    if worst <= _KIND_RANK["fatal"]:
        return 4
    return 5

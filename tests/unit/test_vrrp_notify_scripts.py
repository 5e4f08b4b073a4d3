"""Notify scripts as keepalived 2.2.7 reads them (lib/notify.c notify_script_init): the
first parameter is the command (its quotes hold the arguments), the second the user it
runs as, the third that user's group; a user or group that does not exist drops the script.

The comparisons with the host's ``keepalived -t`` need root (root-owned scripts) and
keepalived; a script run as another user than root makes keepalived 2.2.7 ``-t`` kill
itself, so those cases are compared with the running keepalived in tests/netns.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_halab.vrrp.conf import (
    Diagnostic,
    KeepalivedConfig,
    NotifyScript,
    config_test_exit_status,
    load_config,
)
from pytest_halab.vrrp.conf.lexer import decomment, split_quoted_escaped
from pytest_halab.vrrp.conf.scripts import SC_EXECUTABLE, SC_NOTFOUND, check_script, cmd_str
from pytest_halab.vrrp.track import NotifyCommand, ProcessRunner, notify_runs

NOBODY = "nobody"
NO_USER = "halab-no-such-user"
NO_GROUP = "halab-no-such-group"
# a word the blogs pass as an argument, which keepalived takes for a user name
MASTER = "master"


def notify_commands(**kw: Any) -> list[list[str]]:
    """The argv lists of notify_runs (without the users the scripts run as)."""
    return [list(c.argv) for c in notify_runs(**kw)]


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def _group_exists(group: str) -> bool:
    try:
        grp.getgrnam(group)
    except KeyError:
        return False
    return True


needs_users = pytest.mark.skipif(
    not _exists(NOBODY) or not _group_exists("daemon") or _exists(MASTER) or _exists(NO_USER),
    reason="needs the users nobody and group daemon, and no user 'master'",
)


@pytest.fixture
def lab() -> Iterator[Path]:
    """A 0755 directory under /tmp that any user can reach, with an executable script."""
    path = Path(tempfile.mkdtemp(prefix="halab-notify-", dir="/tmp"))
    path.chmod(0o755)
    script = path / "n.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _conf(
    lab: Path, instance: str = "", *, global_defs: str = "", top: str = "", group: str = ""
) -> Path:
    script = str(lab / "n.sh")
    text = f"""global_defs {{
{global_defs}
}}
{top}
vrrp_instance V {{
  interface eth0
  virtual_router_id 7
  priority 100
  virtual_ipaddress {{
    10.1.1.1
  }}
{instance}
}}
vrrp_instance W {{
  interface eth0
  virtual_router_id 8
  priority 100
  virtual_ipaddress {{
    10.1.1.2
  }}
}}
{group}
"""
    path = lab / "keepalived.conf"
    path.write_text(text.replace("{S}", script))
    return path


def _load(path: Path) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    return load_config(path, interfaces={"eth0"})


def _messages(diags: list[Diagnostic]) -> list[str]:
    return [d.message for d in diags]


# ------------------------------------------------------------------ splitting a script line


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("notify_master /x.sh master", ["notify_master", "/x.sh", "master"]),
        ('notify "/x.sh a b" nobody', ["notify", "/x.sh a b", "nobody"]),
        ("a 'b c'd\"e f\"", ["a", "b cde f"]),  # quotes open and close inside a word
        ("a\\ b", ["a b"]),
        ('"\\"/x y\\" z"', ['"/x y" z']),  # escapes work inside quotes too
        ("\\x41\\101\\cA\\n\\t\\E\\q", ["AA\x01\n\t\x1bq"]),
        ("\\x4142", ["B"]),  # every hex digit is read, the byte keeps the last two
        ("a\\0b c", ["a", "c"]),  # a byte 0 ends the word, as in C
        ('x ""', ["x", ""]),
    ],
)
def test_split_quoted_escaped(text: str, words: list[str]) -> None:
    reports: list[tuple[str, str]] = []
    assert split_quoted_escaped(text, lambda k, m: reports.append((k, m))) == words
    assert reports == []


def test_split_quoted_escaped_failures() -> None:
    reports: list[tuple[str, str]] = []

    def report(kind: str, message: str) -> None:
        reports.append((kind, message))

    assert split_quoted_escaped("a 'b", report) is None
    assert split_quoted_escaped('a "b', report) is None
    assert split_quoted_escaped("a\\", report) is None
    assert split_quoted_escaped("  ", report) is None
    assert reports == [
        ("unmatched_quote", "String 'a 'b': missing terminating '"),
        ("unmatched_quote", "String 'a \"b': missing terminating \""),
        ("syslog", "Missing escape char at end: 'a\\'"),
    ]


def test_a_trailing_backslash_stays_on_the_line() -> None:
    """keepalived's decomment() keeps a line's last unpaired backslash (after trimming
    the blanks and any comment before it)."""

    def report(kind: str, message: str) -> None:
        raise AssertionError(message)

    assert decomment("notify_master /x.sh\\", report)[0] == "notify_master /x.sh\\"
    assert decomment("priority 100  # note \\", report)[0] == "priority 100\\"
    assert decomment("a \\\\", report)[0] == "a \\\\"  # a pair: nothing added


def test_cmd_str_quotes_each_word() -> None:
    assert cmd_str(["/x.sh", "a b"]) == "'/x.sh' 'a b'"
    assert cmd_str(["</etc/f"]) == "</etc/f"


# ---------------------------------------------------------------------------- the parser


@needs_users
def test_an_unquoted_argument_is_taken_for_a_user(lab: Path) -> None:
    """The blog pattern: keepalived drops the script (no user 'master') and runs nothing."""
    cfg, diags = _load(_conf(lab, "notify_master {S} master"))
    assert cfg.instances["V"].notify_master is None
    assert _messages(diags) == [
        f"Script user '{MASTER}' does not exist",
        f"Invalid user/group for notify script {lab / 'n.sh'} - ignoring",
    ]
    assert all(d.severity == "warning" for d in diags)  # logged only
    assert config_test_exit_status(diags) == 0  # and no SECURITY VIOLATION: no script


@needs_users
def test_quoted_arguments_and_a_user(lab: Path) -> None:
    path = _conf(lab, 'notify_backup "{S} backup" nobody')
    cfg, diags = _load(path)
    script = cfg.instances["V"].notify_backup
    assert script == NotifyScript([str(lab / "n.sh"), "backup"], NOBODY, None, 12, str(path))
    assert _messages(diags) == [
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
    ]


@needs_users
def test_user_and_group(lab: Path) -> None:
    cfg, _ = _load(_conf(lab, 'notify "{S} \'a b\' \\"c d\\"" nobody daemon'))
    script = cfg.instances["V"].notify
    assert script is not None
    assert (script.argv, script.user, script.group) == (
        [str(lab / "n.sh"), "a b", "c d"],
        NOBODY,
        "daemon",
    )


@needs_users
@pytest.mark.parametrize(
    ("line", "logged"),
    [
        (f"notify_fault {{S}} {NO_USER}", f"Script user '{NO_USER}' does not exist"),
        (f"notify_fault {{S}} nobody {NO_GROUP}", f"Script group '{NO_GROUP}' does not exist"),
        ("notify_fault {S} 65534", "Script user '65534' does not exist"),  # names only
    ],
)
def test_an_invalid_user_or_group_drops_the_script(lab: Path, line: str, logged: str) -> None:
    cfg, diags = _load(_conf(lab, line))
    assert cfg.instances["V"].notify_fault is None
    assert _messages(diags) == [
        logged,
        f"Invalid user/group for notify script {lab / 'n.sh'} - ignoring",
    ]
    assert config_test_exit_status(diags) == 0


@needs_users
def test_words_after_the_group_are_ignored(lab: Path) -> None:
    cfg, diags = _load(_conf(lab, 'notify_stop "{S} stop" nobody daemon extra words'))
    script = cfg.instances["V"].notify_stop
    assert script is not None and (script.user, script.group) == (NOBODY, "daemon")
    assert script.argv == [str(lab / "n.sh"), "stop"]
    assert [d for d in diags if "extra" in d.message] == []


@needs_users
def test_a_dropped_script_leaves_room_for_the_next(lab: Path) -> None:
    cfg, diags = _load(_conf(lab, "notify_master {S} master\n  notify_master {S}"))
    script = cfg.instances["V"].notify_master
    assert script is not None and script.argv == [str(lab / "n.sh")] and script.user is None
    assert not any("already specified" in m for m in _messages(diags))


@needs_users
def test_sync_group_scripts(lab: Path) -> None:
    group = """vrrp_sync_group G {
  group {
    V
    W
  }
  notify_master {S} master
  notify "{S} group" nobody daemon
}"""
    cfg, diags = _load(_conf(lab, group=group))
    g = cfg.sync_groups["G"]
    assert g.notify_master is None
    assert g.notify is not None and g.notify.argv[1:] == ["group"] and g.notify.group == "daemon"
    assert f"Invalid user/group for notify script {lab / 'n.sh'} - ignoring" in _messages(diags)


@needs_users
def test_the_other_notify_keywords_are_read_alike(lab: Path) -> None:
    instance = (
        'notify_master_rx_lower_pri "{S} lower" nobody\n'
        "  notify_deleted {S} master\n"
        "  notify_deleted {S}"
    )
    global_defs = (
        "vrrp_notify_fifo_script {S} nobody\n"
        f"notify_fifo_script {{S}} {NO_USER}\n"
        "lvs_notify_fifo_script '{S}\n"
        "startup_script {S} nobody\n"
        f"shutdown_script {{S}} {NO_USER}"
    )
    cfg, diags = _load(_conf(lab, instance, global_defs=global_defs))
    inst, gd = cfg.instances["V"], cfg.global_defs
    assert inst.notify_master_rx_lower_pri is not None
    assert inst.notify_master_rx_lower_pri.argv[1:] == ["lower"]
    assert inst.notify_deleted is None and inst.options["notify_deleted"] == []
    assert gd.vrrp_notify_fifo_script is not None and gd.vrrp_notify_fifo_script.user == NOBODY
    assert gd.notify_fifo_script is None and gd.lvs_notify_fifo_script is None
    assert gd.startup_script is not None and gd.shutdown_script is None
    script = lab / "n.sh"
    errors = [m for m in _messages(diags) if not m.startswith("Script user")]
    assert errors == [
        f"Invalid user/group for notify_fifo script {script} - ignoring",
        f"String 'lvs_notify_fifo_script '{script}': missing terminating '",
        "Unable to parse notify script",
        f"Invalid user/group for shutdown script {script} - ignoring",
        "Invalid shutdown script",
        f"Invalid user/group for notify script {script} - ignoring",
        "(V) notify_deleted already specified - ignoring " + str(script),
        "SECURITY VIOLATION - start/shutdown scripts are being executed but script_security"
        " not enabled.",
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
    ]
    assert config_test_exit_status(diags) == 6


def test_vrrp_script_takes_only_its_first_word(lab: Path) -> None:
    top = (
        "vrrp_script chk {\n  script {S} ignored\n}\nvrrp_script chk2 {\n  script \"{S} 'a b'\"\n}"
    )
    cfg, _ = _load(_conf(lab, top=top))
    assert cfg.scripts["chk"].script == str(lab / "n.sh")
    assert cfg.scripts["chk2"].script == f"{lab / 'n.sh'} 'a b'"


def test_vrrp_script_user_is_a_name(lab: Path) -> None:
    top = "vrrp_script chk {\n  script {S}\n  user 0\n}"
    cfg, diags = _load(_conf(lab, top=top))
    assert "chk" not in cfg.scripts
    assert f"Unable to set uid/gid for script '{lab / 'n.sh'}'" in _messages(diags)


def test_an_invalid_script_user_leaves_no_default_user(lab: Path) -> None:
    """keepalived then drops every script without a user of its own; a later valid
    script_user does not undo it."""
    top = "vrrp_script chk {\n  script {S}\n}"
    cfg, diags = _load(
        _conf(
            lab,
            "track_script {\n    chk\n  }\n  notify_master {S}\n  notify_backup {S} root",
            global_defs=f"script_user {NO_USER}\nscript_user root",
            top=top,
        )
    )
    inst = cfg.instances["V"]
    assert inst.notify_master is None and inst.track_scripts == []
    assert inst.notify_backup is not None
    assert _messages(diags) == [
        f"Script user '{NO_USER}' does not exist",
        "Error setting global script uid/gid",
        "Error setting global script uid/gid",
        f"Failed to set default user for notify script {lab / 'n.sh'} - ignoring",
        "Unable to set default user for vrrp script chk - removing",
        "(V) track script chk not found, ignoring...",
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
    ]


# ----------------------------------------------------------- checked as the user it runs as


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, other users)")


@root_only
@needs_users
def test_a_writable_script_run_as_a_user_is_not_inhibited(lab: Path) -> None:
    (lab / "n.sh").chmod(0o777)
    cfg, diags = _load(
        _conf(
            lab,
            'notify_master "{S} m" nobody\n  notify_backup {S}',
            global_defs="enable_script_security\nscript_user root",
        )
    )
    assert cfg.instances["V"].notify_master is not None  # nobody: nothing to protect
    assert cfg.instances["V"].notify_backup is None  # root: an unsafe script
    assert _messages(diags) == [
        f"Unsafe permissions found for script '{lab / 'n.sh'}' - disabling."
    ]


@root_only
@needs_users
def test_a_script_the_user_cannot_reach_is_dropped(lab: Path) -> None:
    private = lab / "private"
    private.mkdir(mode=0o700)
    shutil.copy(lab / "n.sh", private / "p.sh")
    cfg, diags = _load(_conf(lab, f'notify_master "{private}/p.sh" nobody'))
    assert cfg.instances["V"].notify_master is None
    assert _messages(diags) == [f"Script {private}/p.sh cannot be accessed - Permission denied"]


@root_only
@needs_users
def test_a_bare_name_is_never_found_for_another_user() -> None:
    """keepalived 2.2.7 searches PATH as the script's user but must set its groups
    first, which only root may: a bare name run as nobody is never found."""
    logs: list[str] = []
    nobody = pwd.getpwnam(NOBODY)
    assert check_script(["true"], nobody.pw_uid, logs.append, gid=nobody.pw_gid) == SC_NOTFOUND
    assert logs == [
        "Unable to set supplementary gids (Operation not permitted)",
        "Permissions failure for script true in path - disabling",
    ]
    logs.clear()
    assert check_script(["true"], 0, logs.append, gid=1) & SC_EXECUTABLE  # root, group 1


# ---------------------------------------------------------------- against keepalived -t

S = "{S}"
T_CASES: dict[str, tuple[str, str, str]] = {
    # name: (global_defs, instance lines, top-level text)
    "unquoted_argument": ("", f"notify_master {S} master", ""),
    "quoted_argument_as_root": ("", f'notify_master "{S} master" root', ""),
    "user_and_group": ("", f'notify_master "{S} master" root root', ""),
    "words_after_the_group": ("", f'notify_master "{S} m" root root extra more', ""),
    "invalid_group": ("", f'notify_master "{S} m" root {NO_GROUP}', ""),
    "invalid_user": ("", f'notify_backup "{S} backup" {NO_USER}', ""),
    "numeric_user": ("", f"notify_backup {S} 0", ""),
    "empty_command": ("", 'notify_master ""', ""),
    "single_quotes": ("", f"notify_master '{S} a b'", ""),
    "unmatched_single_quote": ("", f"notify_master '{S} a b", ""),
    "unmatched_inner_quote": ("", f'notify_master "{S} \'a"', ""),
    "escaped_blank": ("", f"notify_master {S}\\ a root", ""),
    "hex_escape": ("", f'notify_master "{S}\\x41" root', ""),
    "escaped_quotes": ("", f'notify "\\"{S}\\" a" root', ""),
    "trailing_backslash": ("", f"notify_master {S}\\", ""),
    "trailing_backslash_on_a_number": ("", "advert_int 1\\", ""),
    "missing_command": ("", "notify_master", ""),
    "missing_command_twice": ("", f"notify_master {S} root\n  notify_master", ""),
    "fifo_script_missing": ("vrrp_notify_fifo_script", "", ""),
    "startup_script_missing": ("startup_script", "", ""),
    "dropped_then_kept": ("", f"notify_master {S} master\n  notify_master {S}", ""),
    "specified_twice": ("", f'notify_master "{S}" root\n  notify_master {S} xx', ""),
    "rx_lower_pri": ("", f"notify_master_rx_lower_pri {S}", ""),
    "rx_lower_pri_argument": ("", f"notify_master_rx_lower_pri {S} master", ""),
    "deleted_script": ("", f"notify_deleted {S}", ""),
    "deleted_flag_then_script": ("", f"notify_deleted\n  notify_deleted {S} root", ""),
    "deleted_invalid_user": ("", f"notify_deleted {S} {NO_USER}", ""),
    "vrrp_fifo_script": (f"vrrp_notify_fifo_script {S}", "", ""),
    "fifo_script_as_root": (f"notify_fifo_script {S} root", "", ""),
    "fifo_script_invalid_user": (f"vrrp_notify_fifo_script {S} {NO_USER}", "", ""),
    "fifo_script_twice": (f"vrrp_notify_fifo_script {S} root\nvrrp_notify_fifo_script {S}", "", ""),
    "lvs_fifo_script_unmatched": (f"lvs_notify_fifo_script '{S}", "", ""),
    "startup_script": (f"startup_script {S}", "", ""),
    "shutdown_script_unparsable": (f'shutdown_script "{S} \'a"', "", ""),
    "script_user_invalid": (f"script_user {NO_USER}", f"notify_master {S}", ""),
    "script_user_invalid_own_user": (f"script_user {NO_USER}", f"notify_master {S} root", ""),
    "security_own_user": ("enable_script_security", f'notify_master "{S}" root', ""),
    "vrrp_script_numeric_user": ("", "", f"vrrp_script chk {{\n  script {S}\n  user 0\n}}"),
    "vrrp_script_extra_word": ("", "", f"vrrp_script chk {{\n  script {S} x\n  user root\n}}"),
    "group_unquoted_argument": (
        "",
        "",
        "",
    ),
}
GROUP = f"vrrp_sync_group G {{\n  group {{\n    V\n    W\n  }}\n  notify_master {S} master\n}}"


def _their_messages(stderr: str) -> set[str]:
    messages = set()
    for line in stderr.splitlines():
        m = re.match(r"^\((?:[^:]*: )?Line \d+\) (.*)$", line)
        messages.add(m.group(1) if m else line)
    return messages


@root_only
@needs_users
@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")
@pytest.mark.skipif(not os.path.exists("/sys/class/net/eth0"), reason="the configs use eth0")
@pytest.mark.skipif(_exists("keepalived_script"), reason="this host has a keepalived_script user")
@pytest.mark.parametrize("name", sorted(T_CASES))
def test_config_test_matches_real_keepalived(lab: Path, name: str) -> None:
    global_defs, instance, top = T_CASES[name]
    group = GROUP if name == "group_unquoted_argument" else ""
    path = _conf(lab, instance, global_defs=global_defs, top=top, group=group)
    run = subprocess.run(
        ["keepalived", "-t", "-f", str(path)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode >= 0, f"keepalived -t was killed: {run.stderr}"
    _, diags = load_config(path)
    assert config_test_exit_status(diags) == run.returncode, run.stderr
    assert {d.message for d in diags if d.severity != "warning"} == _their_messages(run.stderr)


# ------------------------------------------------------------------- running the scripts


def test_notify_runs_carry_each_scripts_user() -> None:
    own = NotifyScript(["/x.sh", "master"], NOBODY, "daemon")
    generic = NotifyScript(["/n.sh"], None)
    runs = notify_runs(
        kind="INSTANCE", name="V", state="MASTER", priority=100, specific=own, generic=generic
    )
    assert runs == [
        NotifyCommand(("/x.sh", "master"), NOBODY, "daemon"),
        NotifyCommand(("/n.sh", "INSTANCE", "V", "MASTER", "100")),
    ]
    assert notify_commands(
        kind="GROUP", name="G", state="FAULT", priority=0, specific=None, generic=own
    ) == [["/x.sh", "master", "GROUP", "G", "FAULT", "0"]]
    assert NotifyCommand.of(NotifyScript([])) is None


@root_only
def test_a_user_that_vanished_never_runs_as_root() -> None:
    class _Scheduler:
        def time(self) -> float:
            return 0.0

        def call_at(self, when: float, callback: object) -> object:
            raise AssertionError("not used")

        def add_reader(self, fd: int, callback: object) -> None:
            raise AssertionError("nothing is started")

        def remove_reader(self, fd: int) -> None:
            pass

    runner = ProcessRunner(_Scheduler())  # type: ignore[arg-type]
    assert runner.start(["/bin/true"], user=NO_USER) is None
    assert runner.start(["/bin/true"], user="root", group=NO_GROUP) is None

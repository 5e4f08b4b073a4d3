# ruff: noqa: E501  (expected keepalived messages are kept verbatim)
"""keepalived 2.2.7's configuration preprocessing, as halab-vrrpd reads it.

Config ids (``@ID`` / ``@^ID`` line prefixes, ``-i``), parameters (``$NAME=value``,
multiline definitions, ``$NAME`` / ``${NAME}``, the predefined ``${_PWD}``,
``${_INSTANCE}``, ``${_RANDOM}``, ``${_HASH}``, ``${_BANG}``), ``~SEQ`` / ``~SEQx`` /
``~LST`` lines, and what keepalived says of their misuse: every expectation below was
observed from the real ``keepalived -t`` v2.2.7 (Debian 12) and is read from its
lib/parser.c (read_line, check_definition, find_definition, replace_param, add_seq,
add_lst, get_random). keepalived 2.2.7 has no ``@if``/``@else``/``@endif`` blocks.

EXPECTED holds, for the sample files in tests/data/keepalived_params, the exit status and
the diagnostics (file, line, message) of ``keepalived -t -i ID -f FILE`` run from that
directory on a host with ``eth0``; ``None`` for a message keepalived prints without a
line. When keepalived is installed, `test_against_real_keepalived` runs it and
halab-vrrpd on the same files and compares them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_halab.vrrp.__main__ import main
from pytest_halab.vrrp.conf import (
    config_test_exit_status,
    lexer,
    load_config,
    preprocess,
    set_instance_priority,
)
from pytest_halab.vrrp.conf.diagnostics import Diagnostic, Diagnostics
from pytest_halab.vrrp.conf.lexer import Reader, c_strtol, default_config_id
from pytest_halab.vrrp.conf.load import INTERNAL_ERROR

REPO = Path(__file__).resolve().parent.parent.parent
DATA = REPO / "tests" / "data" / "keepalived_params"
IFACES = {"lo", "eth0"}

Expected = tuple[str | None, int, str]

EXPECTED: dict[tuple[str, str], tuple[int, list[Expected]]] = {
    ("ids.conf", "main"): (
        5,
        [
            ("ids.conf", 25, "Unknown keyword 'kept_by_everybody'"),
            ("ids.conf", 31, "Unknown keyword 'keyword_of_all_but_backup'"),
        ],
    ),
    ("ids.conf", "backup"): (
        5,
        [
            ("ids.conf", 25, "Unknown keyword 'kept_by_everybody'"),
            ("ids.conf", 30, "Unknown keyword 'backup_only_keyword'"),
        ],
    ),
    ("ids.conf", "other"): (
        5,
        [
            ("ids.conf", 25, "Unknown keyword 'kept_by_everybody'"),
            ("ids.conf", 31, "Unknown keyword 'keyword_of_all_but_backup'"),
        ],
    ),
    ("params.conf", "main"): (
        6,
        [
            (
                None,
                0,
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled.",
            ),
            ("params.conf", 20, "VRRP parsed invalid IP $NET.101/24. skipping IP..."),
            ("params.conf", 26, "Unknown keyword '$UNDEFINED'"),
            ("params.conf", 27, "Unexpected '{' - ignoring"),
            ("params.conf", 27, "Unknown keyword '$'"),
            ("params.conf", 27, "Unknown keyword 'UNDEFINED'"),
            ("params.conf", 28, "Unknown keyword '$eth0'"),
            ("params.conf", 29, "Unknown keyword '7__RANDOM'"),
            ("params.conf", 29, "Unknown keyword '_random'"),
            ("params.conf", 29, "Unknown keyword '}'"),
            ("params.conf", 30, "Extra '}' found"),
            ("params.conf", 30, "Unknown keyword '}'"),
            ("params.conf", 31, "Unknown keyword '$S'"),
            ("params.conf", 32, "Unknown keyword '$1X=2'"),
            ("params.conf", 33, "Unknown keyword '$A-B=3'"),
        ],
    ),
    ("sequences.conf", "main"): (
        5,
        [
            ("sequences.conf", 18, "VRRP parsed invalid IP 10.2..1/24. skipping IP..."),
            ("sequences.conf", 18, "VRRP parsed invalid IP 10.3..1/24. skipping IP..."),
            ("sequences.conf", 19, "Unknown keyword 'vrrp_instance_bad_3'"),
            ("sequences.conf", 19, "Unknown keyword 'vrrp_instance_bad_4'"),
            ("sequences.conf", 20, "Unknown keyword 'zero_0'"),
            ("sequences.conf", 20, "Unknown keyword 'zero_1'"),
            ("sequences.conf", 21, "Unknown keyword 'minus_-1'"),
            ("sequences.conf", 21, "Unknown keyword 'minus_-2'"),
            ("sequences.conf", 23, "Unknown keyword 'from_param_5'"),
            ("sequences.conf", 23, "Unknown keyword 'from_param_6'"),
            ("sequences.conf", 24, "Unknown keyword 'word_x'"),
            ("sequences.conf", 24, "Unknown keyword 'word_y'"),
        ],
    ),
    ("seq_errors.conf", "main"): (
        5,
        [
            ("seq_errors.conf", 2, "Invalid ~SEQ specification '~SEQ(A, 1, 0, 3) step_zero'"),
            ("seq_errors.conf", 2, "Invalid ~SEQ values '~SEQ(A, 1, 0, 3) step_zero'"),
            ("seq_errors.conf", 3, "Invalid ~SEQ specification '~SEQ(B, 3, 1, 1) wrong_direction'"),
            ("seq_errors.conf", 3, "Invalid ~SEQ values '~SEQ(B, 3, 1, 1) wrong_direction'"),
            ("seq_errors.conf", 4, "Invalid ~SEQ specification '~SEQ(C, 1, 2 no_parenthesis'"),
            ("seq_errors.conf", 4, "~SEQ parameter strings too long '~SEQ(C, 1, 2 no_parenthesis'"),
            ("seq_errors.conf", 5, "Invalid ~SEQ definition '~SEQ(D) no_end'"),
            ("seq_errors.conf", 5, "Invalid ~SEQ specification '~SEQ(D) no_end'"),
            ("seq_errors.conf", 6, "Invalid ~SEQ definition '~SEQ() nothing'"),
            ("seq_errors.conf", 6, "Invalid ~SEQ specification '~SEQ() nothing'"),
            ("seq_errors.conf", 7, "Invalid ~SEQ specification '~SEQ no_bracket'"),
            ("seq_errors.conf", 8, "Invalid ~SEQ specification '~SEQUENCE(E, 2) not_seq'"),
            ("seq_errors.conf", 9, "Invalid ~SEQ definition '~SEQ(F, 1, 2, 3, 4) too_many'"),
            ("seq_errors.conf", 9, "Invalid ~SEQ specification '~SEQ(F, 1, 2, 3, 4) too_many'"),
            ("seq_errors.conf", 10, f"Invalid ~SEQ specification '~SEQ(G, {'1' * 68}) too_long'"),
            (
                "seq_errors.conf",
                10,
                f"~SEQ parameter strings too long '~SEQ(G, {'1' * 68}) too_long'",
            ),
            ("seq_errors.conf", 11, "Invalid ~SEQ definition '~SEQ(H, a) not_a_number'"),
            ("seq_errors.conf", 11, "Invalid ~SEQ specification '~SEQ(H, a) not_a_number'"),
            ("seq_errors.conf", 12, "Invalid ~SEQ specification '~SEQx(I, -1, 2) negative_hex'"),
            (
                "seq_errors.conf",
                12,
                "~SEQx is only valid for positive numbers '~SEQx(I, -1, 2) negative_hex'",
            ),
            ("seq_errors.conf", 15, "Invalid ~SEQ definition '~SEQ(J, $ML) multiline'"),
            ("seq_errors.conf", 15, "Invalid ~SEQ specification '~SEQ(J, $ML) multiline'"),
            ("seq_errors.conf", 16, "Invalid ~LST specification '~LST(K, {a,b}) too_many_values'"),
            (
                "seq_errors.conf",
                16,
                "~LST specification has too many values '~LST(K, {a,b}) too_many_values'",
            ),
            (
                "seq_errors.conf",
                17,
                "Invalid ~LST specification '~LST({L}, {a,b}) too_many_values_too'",
            ),
            (
                "seq_errors.conf",
                17,
                "~LST specification has too many values '~LST({L}, {a,b}) too_many_values_too'",
            ),
            ("seq_errors.conf", 18, "Invalid ~LST specification '~LST(M) no_values'"),
            ("seq_errors.conf", 19, "Invalid ~LST specification '~LST(N, 1 unterminated'"),
            ("seq_errors.conf", 20, "Unknown keyword '~FOO'"),
            ("seq_errors.conf", 21, "Unknown keyword 'var_then_junk_0'"),
            ("seq_errors.conf", 21, "Unknown keyword 'var_then_junk_1'"),
            ("seq_errors.conf", 21, "Unknown keyword 'var_then_junk_2'"),
        ],
    ),
    ("includes.conf", "main"): (
        5,
        [
            ("inc/f1.inc", 0, "Config files missing 'inc/f2.inc'."),
            ("inc/f1.inc", 1, "Unknown keyword 'vip_from_f1'"),
            ("inc/f2.inc", 1, "Unknown keyword 'vip_from_f2'"),
            ("inc/vi.inc", 1, "vrrp instance VI_INC already defined"),
            ("inc/vi.inc", 8, "Unknown keyword 'included_from'"),
            ("inc/vip.inc", 0, "Config files missing 'inc/vip.inc'."),
            ("includes.conf", 6, "Unexpected '{' - ignoring"),
            ("includes.conf", 6, "Unknown keyword 'top_level'"),
            ("includes.conf", 7, "Unknown keyword '}'"),
            ("includes.conf", 15, "Config files missing '$DIR/f$J.inc'."),
        ],
    ),
    ("includes.conf", "backup"): (
        5,
        [
            ("inc/f1.inc", 0, "Config files missing 'inc/f2.inc'."),
            ("inc/f1.inc", 1, "Unknown keyword 'vip_from_f1'"),
            ("inc/f2.inc", 1, "Unknown keyword 'vip_from_f2'"),
            ("inc/vip.inc", 0, "Config files missing 'inc/vip.inc'."),
            ("includes.conf", 6, "Unexpected '{' - ignoring"),
            ("includes.conf", 6, "Unknown keyword 'top_level'"),
            ("includes.conf", 7, "Unknown keyword '}'"),
            ("includes.conf", 15, "Config files missing '$DIR/f$J.inc'."),
        ],
    ),
    ("multiline.conf", "main"): (
        5,
        [
            ("multiline.conf", 23, "Unknown keyword 'second_line'"),
            ("multiline.conf", 24, "Unknown keyword 'first_line'"),
            ("multiline.conf", 24, "Unknown keyword 'second_line'"),
            ("multiline.conf", 27, "Unknown keyword 'blank_second'"),
            ("multiline.conf", 28, "Unknown keyword 'blank_first'"),
            ("multiline.conf", 31, "Unknown keyword 'only_line'"),
            ("multiline.conf", 34, "Unknown keyword 'after_include'"),
            ("multiline.conf", 34, "Unknown keyword 'tail_of_def'"),
        ],
    ),
    ("multiline.conf", "backup"): (
        5,
        [
            ("multiline.conf", 23, "Unknown keyword 'second_line'"),
            ("multiline.conf", 24, "Unknown keyword 'first_line'"),
            ("multiline.conf", 24, "Unknown keyword 'second_line'"),
            ("multiline.conf", 27, "Unknown keyword 'blank_second'"),
            ("multiline.conf", 28, "Unknown keyword 'blank_first'"),
            ("multiline.conf", 31, "Unknown keyword 'only_line'"),
            ("multiline.conf", 34, "Unknown keyword 'after_include'"),
            ("multiline.conf", 34, "Unknown keyword 'tail_of_def'"),
        ],
    ),
    ("counter.conf", "main"): (
        5,
        [
            ("counter.conf", 5, "Unknown keyword 'seq_1'"),
            ("counter.conf", 5, "Unknown keyword 'seq_2'"),
            ("counter.conf", 6, "Invalid ~LST specification '~LST(bad)'"),
            ("counter.conf", 6, "Unknown keyword 'seq_1'"),
            ("counter.conf", 6, "Unknown keyword 'seq_2'"),
            ("counter.conf", 7, "Unknown keyword 'after'"),
            ("counter.conf", 8, "Unknown keyword 'nested_1_1_1'"),
            ("counter.conf", 8, "Unknown keyword 'nested_1_1_2'"),
            ("counter.conf", 8, "Unknown keyword 'nested_1_2_1'"),
            ("counter.conf", 8, "Unknown keyword 'nested_1_2_2'"),
            ("counter.conf", 8, "Unknown keyword 'nested_2_1_1'"),
            ("counter.conf", 8, "Unknown keyword 'nested_2_1_2'"),
            ("counter.conf", 8, "Unknown keyword 'nested_2_2_1'"),
            ("counter.conf", 8, "Unknown keyword 'nested_2_2_2'"),
        ],
    ),
    ("escapes.conf", "main"): (
        5,
        [
            (None, 0, "(VI_1) the virtual router id must be set"),
            ("escapes.conf", 5, "(VI_1): VRID '10\\' not valid - must be between 1 & 255"),
            ("escapes.conf", 5, "invalid number '10\\'"),
            ("escapes.conf", 10, "String 'notify \"/bin/echo': missing terminating \""),
            ("escapes.conf", 10, "Unmatched quote: 'notify \"/bin/echo'"),
            ("escapes.conf", 10, "Unterminated quote 'notify \"/bin/echo   '"),
            ("escapes.conf", 10, "Unterminated quote 'notify \"/bin/echo'"),
            ("escapes.conf", 12, "Unknown keyword 'kw_a'"),
            ("escapes.conf", 12, "Unmatched quote: 'kw_a \"unterminated with blanks'"),
            ("escapes.conf", 12, "Unterminated quote 'kw_a \"unterminated with blanks   '"),
            ("escapes.conf", 12, "Unterminated quote 'kw_a \"unterminated with blanks'"),
            ("escapes.conf", 13, "Unknown keyword 'kw_b'"),
            (
                "escapes.conf",
                13,
                "Unmatched quote: 'kw_b \"unterminated, a backslash and a blank \\'",
            ),
            (
                "escapes.conf",
                13,
                "Unmatched quote: 'kw_b \"unterminated, a backslash and a blank\\'",
            ),
            (
                "escapes.conf",
                13,
                "Unterminated quote 'kw_b \"unterminated, a backslash and a blank '",
            ),
            (
                "escapes.conf",
                13,
                "Unterminated quote 'kw_b \"unterminated, a backslash and a blank \\ '",
            ),
        ],
    ),
}

# Compared with keepalived when it is installed; growing.conf's expectations are computed
# in test_a_substitution_past_1023_characters_is_refused.
LIVE_RUNS = [*sorted(EXPECTED), ("growing.conf", "main")]


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _load_sample(name: str, config_id: str) -> list[Diagnostic]:
    """A sample loaded as keepalived was run: from its directory, by a relative name."""
    with _cwd(DATA):
        _cfg, diags = load_config(name, interfaces=IFACES, config_id=config_id)
    return diags


# Messages keepalived sends to syslog only (log_message), where -t prints nothing; we
# give them as warnings. Other warnings (report_config_error(CONFIG_OK, ...), such as
# "Config files missing" for a plain include) keepalived -t prints.
LOG_ONLY = re.compile(
    r"would exceed maximum line length$|^Too many parameters or extra text for"
    r"|^Unable to parse notify script$"
)


def _printed_by_keepalived(diag: Diagnostic) -> bool:
    return diag.severity != "warning" or not LOG_ONLY.search(diag.message)


def _as_expected(diags: list[Diagnostic]) -> set[Expected]:
    """Our diagnostics that keepalived -t prints, in the form of EXPECTED: a message
    printed without a location (a check after parsing) by its text alone."""
    return {
        (d.file, d.line, d.message) if d.located else (None, 0, d.message)
        for d in diags
        if _printed_by_keepalived(d)
    }


def test_every_sample_has_expectations() -> None:
    names = {name for name, _ in LIVE_RUNS}
    assert names == {p.name for p in DATA.glob("*.conf")}


@pytest.mark.parametrize(("name", "config_id"), sorted(EXPECTED))
def test_matches_keepalived(name: str, config_id: str) -> None:
    status, expected = EXPECTED[name, config_id]
    diags = _load_sample(name, config_id)
    assert _as_expected(diags) == set(expected)
    assert config_test_exit_status(diags) == status


def _keepalived_view(stderr: str, main_file: str) -> set[Expected]:
    """keepalived -t's lines: ``(FILE: Line N) message``, ``(Line N) message`` (the main
    file, while only it is open, in the parent process) or a bare message. Each process
    that reads the configuration prints its own; the set is what they said."""
    seen: set[Expected] = set()
    for line in stderr.splitlines():
        m = re.match(r"^\((?:(.*?): )?Line (\d+)\) (.*)$", line)
        if m:
            seen.add((m.group(1) or main_file, int(m.group(2)), m.group(3)))
        else:
            seen.add((None, 0, line))
    return seen


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")
@pytest.mark.skipif(not os.path.exists("/sys/class/net/eth0"), reason="samples use eth0")
@pytest.mark.parametrize(("name", "config_id"), LIVE_RUNS)
def test_against_real_keepalived(name: str, config_id: str) -> None:
    """Both ``-t`` commands on the same file from the same directory: the same messages at
    the same files and lines, the same exit status.

    keepalived prints each message once per process that reads the configuration (the
    parent names the main file ``(Line N)``, the others ``(FILE: Line N)``), some without a
    line (the checks after parsing), and sends some only to syslog; halab-vrrpd prints each
    message once, located as keepalived locates it, and prints the log-only ones too (as
    warnings). The comparison is of what was said, where: keepalived's set of (file, line,
    message) against ours without the messages keepalived only logs."""
    argv = ["-t", "-i", config_id, "-f", name]
    theirs = subprocess.run(
        ["keepalived", *argv], cwd=DATA, capture_output=True, text=True, timeout=60
    )
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ours = subprocess.run(
        [sys.executable, "-m", "pytest_halab.vrrp", *argv],
        cwd=DATA,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "Traceback" not in ours.stderr
    assert ours.returncode == theirs.returncode
    said = _keepalived_view(theirs.stderr, name)
    logged = {
        (d.file, d.line, d.message) if d.located else (None, 0, d.message)
        for d in _load_sample(name, config_id)
        if not _printed_by_keepalived(d)
    }
    printed = _keepalived_view(ours.stderr, name) - logged
    assert printed == said


# ------------------------------------------------------------------ the lines read


def _read(
    tmp_path: Path,
    text: str,
    *,
    config_id: str = "main",
    parent_view: bool = False,
    files: dict[str, str] | None = None,
) -> tuple[list[tuple[int, list[str]]], list[str], Reader]:
    """The logical lines (line number, words) and diagnostics of `text` as keepalived.conf
    in `tmp_path`, with other `files` there."""
    for rel, content in (files or {}).items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    diags = Diagnostics()
    reader = Reader(diags, config_id=config_id, parent_view=parent_view)
    with _cwd(tmp_path):
        reader.read_main("keepalived.conf")
    lines = [(line.line, line.words) for line in reader.lines]
    return lines, [str(d) for d in diags.items], reader


def _words(tmp_path: Path, text: str, **kwargs: object) -> list[str]:
    lines, _diags, _reader = _read(tmp_path, text, **kwargs)  # type: ignore[arg-type]
    return [" ".join(words) for _line, words in lines]


# -- config ids (read_line's '@' step)


def test_config_id_lines(tmp_path: Path) -> None:
    text = (
        "@main a\n@^main b\n@backup c\n@^backup d\n@main\n@ e\n@^ f\n"
        "@if g\n@else h\n@endif i\n@main@backup j\n@main   \t k l\n@MAIN m\n"
    )
    assert _words(tmp_path, text, config_id="main") == ["a", "d", "f", "k l"]
    assert _words(tmp_path, text, config_id="backup") == ["b", "c", "f"]
    assert _words(tmp_path, text, config_id="if") == ["b", "d", "f", "g"]
    assert _words(tmp_path, text, config_id="") == ["b", "d", "e"]


def test_the_default_config_id_is_the_node_name_up_to_its_first_dot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_config_id() == os.uname().nodename.split(".")[0]

    class Uname:
        nodename = "lb1.example.com"

    monkeypatch.setattr(lexer.os, "uname", lambda: Uname())
    assert default_config_id() == "lb1"
    conf = tmp_path / "k.conf"
    conf.write_text("@lb1 one\n@lb1.example.com two\n${_INSTANCE}\n")
    _cfg, diags = load_config(conf, interfaces=IFACES)
    assert [d.message for d in diags] == ["Unknown keyword 'one'", "Unknown keyword 'lb1'"]


def test_config_ids_choose_the_model() -> None:
    with _cwd(DATA):
        main_cfg, _ = load_config("ids.conf", interfaces=IFACES, config_id="main")
        backup_cfg, _ = load_config("ids.conf", interfaces=IFACES, config_id="backup")
        other_cfg, _ = load_config("ids.conf", interfaces=IFACES, config_id="other")
    assert main_cfg.global_defs.router_id == "main_router"
    assert backup_cfg.global_defs.router_id == "backup_router"
    assert other_cfg.global_defs.router_id is None
    assert main_cfg.global_defs.vrrp_garp_master_delay == 5  # the default
    assert backup_cfg.global_defs.vrrp_garp_master_delay == 7
    main_vi, backup_vi = main_cfg.instances["VI_1"], backup_cfg.instances["VI_1"]
    assert (main_vi.priority, main_vi.state) == (150, "MASTER")
    assert (backup_vi.priority, backup_vi.state) == (100, "BACKUP")
    assert [str(p) for p in main_vi.unicast_peers] == ["10.0.0.2"]
    assert [str(p) for p in backup_vi.unicast_peers] == ["10.0.0.1"]


def test_the_command_line_passes_the_config_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text("@main only_main\n@^main all_but_main\n")
    assert main(["-t", "-i", "main", "-f", str(conf)]) == 5
    assert capsys.readouterr().err == f"({conf}: Line 1) Unknown keyword 'only_main'\n"
    assert main(["-t", "--config-id", "backup", "-f", str(conf)]) == 5
    assert capsys.readouterr().err == f"({conf}: Line 2) Unknown keyword 'all_but_main'\n"


# -- parameters (check_definition, find_definition, replace_param)


def test_parameters_and_where_they_are_replaced(tmp_path: Path) -> None:
    text = (
        "$A=hello\n"
        "x $A ${A}x $Ax $A, $A) $A. $A\n"  # $A only before a blank, ',', ')' or the end
        'x "$A" "${A}"\n'
        "x $UNDEF $$A \\$A\n"  # an undefined one stays, '$' is not escaped
        "x ${UNDEF}\n"  # its braces are braces
        "$B=${A}-$C\n"  # replaced when used, not when defined
        "$C=c1\n"
        "x $B\n"
        "$C=c2\n"
        "x $B\n"
        "$S = no\n"  # a blank before '=': not a definition
        "$E=\n"
        "x [$E] [${E}]\n"
        "$T=\t tab and blanks  \n"
        "x ${T}!\n"
        "$_u1=ok\n"
        "x $_u1 ${A}${A}\n"
    )
    assert _words(tmp_path, text) == [
        "x hello hellox $Ax hello, hello) $A. hello",
        "x $A hello",
        "x $UNDEF $hello \\hello",
        "x $",
        "{",
        "UNDEF",
        "}",
        "x hello-c1",
        "x hello-c2",
        "$S = no",
        "x [$E] []",
        "x tab and blanks",
        "x ok hellohello",
    ]


def test_substitution_makes_config_ids_definitions_and_comments(tmp_path: Path) -> None:
    text = (
        "$IF_MAIN=@main\n"
        "$IF_MAIN kept\n"
        "$IF_BACKUP=@backup\n"
        "$IF_BACKUP dropped\n"
        "$DEF=$NEW=made\n"
        "$DEF\n"
        "x $NEW\n"
        "@main $P=5\n"
        "@backup $P=6\n"
        "x $P\n"
        "x ${_HASH} a comment once replaced\n"
        'x "${_HASH}${_BANG}" ${_BANG}bang\n'
    )
    assert _words(tmp_path, text) == ["kept", "x made", "x 5", "x", "x #!"]


def test_a_value_starting_with_a_tilde_ends_the_substitution(tmp_path: Path) -> None:
    text = "$SEQ=~SEQ(I, 1, 2) line_$I\n$SEQ\n$T= ~tilde $SEQ\nx $T\n"
    assert _words(tmp_path, text) == ["line_1", "line_2", "x ~tilde ~SEQ(I, 1, 2) line_2"]


def test_predefined_parameters(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    lines = _words(
        tmp_path,
        "x ${_PWD} ${_INSTANCE}\ninclude link/sub.inc\n$_PWD=mine\nx ${_PWD}\n",
        config_id="lb1",
        files={"real/sub.inc": "in_sub ${_PWD}\n"},
    )
    top = os.path.realpath(tmp_path)
    assert lines == [f"x {top} lb1", f"in_sub {top}/real", "x mine"]


def test_random(tmp_path: Path) -> None:
    lines = _words(tmp_path, "x ${_RANDOM}\nx ${_RANDOM 5 9}\n" * 20)
    values = [int(line.split()[1]) for line in lines]
    assert all(0 <= v <= 32767 for v in values[::2])
    assert all(5 <= v <= 9 for v in values[1::2])


def test_random_with_parameters_moves_only_part_of_the_line(tmp_path: Path) -> None:
    """keepalived 2.2.7's replace_param() shifts only the character after the '}' when
    ``${_RANDOM MIN MAX}`` is replaced by something shorter; the value has as many digits
    as MAX has, at most; ``${_RANDOM }`` with a blank before the '}' is no reference."""
    text = (
        "x ${_RANDOM 7 7} tail\n"
        "x ${_RANDOM 7 7}\n"  # at the end of the line: nothing after it to move
        "x ${_RANDOM 12 12}.\n"
        "x ${_RANDOM 7 7 }\n"
        "$_RANDOM=fourteen_chars\n"  # redefined, it keeps its parameters
        "x ${_RANDOM 1 2} same_length\n"
        "x ${A 1}\n"  # only ${_RANDOM} has parameters
    )
    lines, diags, _ = _read(tmp_path, text)
    assert [" ".join(w) for _, w in lines] == [
        "x 7 _RANDOM 7 7", "}", "tail",
        "x 7",
        "x 12.RANDOM 12 12", "}", ".",
        "x $", "{", "_RANDOM 7 7", "}",
        "x fourteen_chars same_length",
        "x $", "{", "A 1", "}",
    ]  # fmt: skip
    assert "(keepalived.conf: Line 1) Extra '}' found" in diags
    # ${_RANDOM } is $_RANDOM and a blank: those ten characters are replaced, '}' stays
    lines, _diags, _ = _read(tmp_path, "x ${_RANDOM }\n")
    assert lines[1:] == [(1, ["}"])]
    assert re.fullmatch(r"[0-9]{1,5}", lines[0][1][1])


def test_random_extra_parameters_are_logged(tmp_path: Path) -> None:
    _lines, diags, _ = _read(tmp_path, "x ${_RANDOM 1 2 3}\n")
    assert diags == [
        "(keepalived.conf: Line 1) Too many parameters or extra text for ${_RANDOM 1 2 3}"
    ]


def test_random_over_every_unsigned_long_is_fatal(tmp_path: Path) -> None:
    """keepalived 2.2.7 divides by max - min + 1, zero here: it dies of SIGFPE."""
    conf = tmp_path / "k.conf"
    conf.write_text("x ${_RANDOM 0 18446744073709551615}\nafter\n")
    _cfg, diags = load_config(conf, interfaces=IFACES)
    assert [d.kind for d in diags] == ["fatal"]
    assert "divides by zero" in diags[0].message
    assert config_test_exit_status(diags) == 4


def test_a_substitution_past_1023_characters_is_refused(tmp_path: Path) -> None:
    """keepalived reads a line into 1024 bytes: the substitution that would fill them is
    refused (logged only), the line stays as it was then and is not decommented again."""
    with _cwd(DATA):
        _cfg, diags = load_config("growing.conf", interfaces=IFACES, config_id="main")
    grown_x = "grow_" + "x" * 1016  # 'grow_$X' gains an 'x' at each substitution
    grown_y = "grow_${Y}" + "y" * 1014  # and this two 'y's
    assert sorted((d.line, d.message, d.severity) for d in diags) == sorted(
        [
            (
                3,
                f"Parameter substitution on line '{grown_x}$X' would exceed maximum line length",
                "warning",
            ),
            (3, f"Unknown keyword '{grown_x}$X'", "error"),
            (
                5,
                f"Parameter substitution on line '{grown_y}' would exceed maximum line length",
                "warning",
            ),
            (5, "Unknown keyword 'grow_$'", "error"),
            (5, "Unexpected '{' - ignoring", "error"),
            (5, "Unknown keyword 'Y'", "error"),
            (5, "Unknown keyword '}'", "error"),
            (5, f"Unknown keyword '{'y' * 1014}'", "error"),
        ]
    )
    assert len(grown_x + "$X") == 1023 and len(grown_y) == 1023


# -- multiline definitions


def test_multiline_definitions(tmp_path: Path) -> None:
    text = (
        "$ML=a1 $V \\\n"
        "   a2 ${V}   \\\n"
        "a3\n"
        "$V=v\n"
        "$ML\n"
        "x $ML\n"  # only at the end of a line
        "$ML y\n"
        "$OUTER=o1 \\\n"
        "$ML \\\n"
        "o2\n"
        "$OUTER\n"
        "$ONE=\\\n"  # nothing but the '\': the next line is the whole value
        "single\n"
        "x $ONE\n"
    )
    assert _words(tmp_path, text) == [
        "a1 v",
        "a2 v",
        "a3",
        "x a1 v",
        "a2 v",
        "a3",
        "$ML y",
        "o1",
        "a1 v",
        "a2 v",
        "a3",
        "o2",
        "x single",
    ]


def test_a_multiline_definition_ends_at_an_empty_line_or_a_comment(tmp_path: Path) -> None:
    """An empty line ends it. A comment line ends it too for keepalived's VRRP process,
    which reads the copy of the files its parent wrote (a comment is an empty line there),
    not for the parent, which reads the files: both views are kept."""
    text = "$A=a1 \\\n\na2\n$A\n$B=b1 \\\n! note\nb2\n$B\n"
    lines, _, reader = _read(tmp_path, text)
    assert [(n, " ".join(w)) for n, w in lines] == [(3, "a2"), (4, "a1"), (7, "b2"), (8, "b1")]
    assert reader.diverged
    parent, _, _ = _read(tmp_path, text, parent_view=True)
    assert [(n, " ".join(w)) for n, w in parent] == [(3, "a2"), (4, "a1"), (8, "b1"), (8, "b2")]
    conf = tmp_path / "keepalived.conf"
    _cfg, diags = load_config(conf, interfaces=IFACES)
    assert {(d.line, d.message) for d in diags} == {
        (3, "Unknown keyword 'a2'"),
        (4, "Unknown keyword 'a1'"),
        (7, "Unknown keyword 'b2'"),
        (8, "Unknown keyword 'b1'"),
        (8, "Unknown keyword 'b2'"),
    }


def test_a_definition_open_at_the_end_of_a_file_goes_on_in_the_next(tmp_path: Path) -> None:
    lines = _words(
        tmp_path,
        "include open.inc\nnext_line\n$TAIL\n",
        files={"open.inc": "$TAIL=tail \\\n"},
    )
    assert lines == ["tail", "next_line"]


# -- sequences and lists (add_seq, add_lst)


def test_sequences(tmp_path: Path) -> None:
    text = (
        "~SEQ(I, 3) a$I\n"
        "~SEQ(I, 0) b$I\n"
        "~SEQ(I, -2) c$I\n"
        "~SEQ(I, 5, 3) d$I\n"
        "~SEQ(I, 1, 2, 6) e$I\n"
        "~SEQ(I, 2, 2) f$I\n"
        "~SEQx(H, 0x90, 0x10, 0xc0) g$H\n"
        "~SEQ(I, 010, 0x0A) h$I\n"
        "$N=2\n"
        "~SEQ(I, $N) i$I\n"
        "~SEQ(X, 1, 2) ~SEQ(Y, 1, 2) j${X}${Y}\n"
        "~SEQ(O 1, 2) k$O\n"  # keepalived skips the character after the name
        "~SEQ(P,1,1)\n"
    )
    assert _words(tmp_path, text) == [
        "a1", "a2", "a3", "b1", "b0", "c-1", "c-2", "d5", "d4", "d3", "e1", "e3", "e5",
        "f2", "g90", "ga0", "gb0", "gc0", "h8", "h9", "h10", "i1", "i2",
        "j11", "j12", "j21", "j22", "k0", "k1", "k2",
    ]  # fmt: skip


def test_lists(tmp_path: Path) -> None:
    text = (
        "~LST(V, a, b, c) a$V\n"
        "~LST({A, B}, {1, 2}, {3}, 4) b${A}-${B}.\n"
        "~LST(IP, 1, 2) ~LST(IP1, 5, 6) 192.169.${IP}.${IP1}\n"
        "~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}\n"
    )
    assert _words(tmp_path, text) == [
        "aa", "ab", "ac", "b1-2.", "b3-.", "b4-.",
        "192.169.1.5", "192.169.1.6", "192.169.2.5", "192.169.2.6",
        "192.168.10.1", "192.170.10.1", "192.168.20.4", "192.170.20.4",
    ]  # fmt: skip


def test_sequences_inside_multiline_definitions_and_back(tmp_path: Path) -> None:
    """The man page's nesting: a ~SEQ of a multiline parameter, a ~SEQ inside one."""
    text = "$VI=vi_${N} \\\n~SEQ(H, 1, 2) vip_${N}_${H}\n~SEQ(N, 1, 2) $VI\n"
    assert _words(tmp_path, text) == ["vi_1", "vip_1_1", "vip_1_2", "vi_2", "vip_2_1", "vip_2_2"]


def test_generated_lines_are_located_at_the_line_that_made_them(tmp_path: Path) -> None:
    lines, _diags, _ = _read(tmp_path, "\n\n~SEQ(I, 2) s$I\n$M=m1\\\nm2\n\n$M\n")
    assert lines == [(3, ["s1"]), (3, ["s2"]), (7, ["m1"]), (7, ["m2"])]


@pytest.mark.parametrize(
    ("line", "messages"),
    [
        ("~SEQ(A, 1, 0, 3) x", ["Invalid ~SEQ values", "Invalid ~SEQ specification"]),
        ("~SEQ(A) x", ["Invalid ~SEQ definition", "Invalid ~SEQ specification"]),
        ("~SEQ(A, 1, 2 x", ["~SEQ parameter strings too long", "Invalid ~SEQ specification"]),
        ("~SEQ x", ["Invalid ~SEQ specification"]),
        (
            "~SEQx(A, -3) x",
            ["~SEQx is only valid for positive numbers", "Invalid ~SEQ specification"],
        ),
        (
            "~LST(A, {1, 2}) x",
            ["~LST specification has too many values", "Invalid ~LST specification"],
        ),
        ("~LST(A) x", ["Invalid ~LST specification"]),
    ],
)
def test_sequence_errors(tmp_path: Path, line: str, messages: list[str]) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(f"{line}\n")
    _cfg, diags = load_config(conf, interfaces=IFACES)
    assert [d.message for d in diags] == [f"{m} '{line}'" for m in messages]
    assert [d.kind for d in diags] == ["general"] * len(messages)
    assert config_test_exit_status(diags) == 5


def test_c_strtol() -> None:
    assert c_strtol(" 42)") == (42, 3)
    assert c_strtol("0x1f,") == (31, 4)
    assert c_strtol("010") == (8, 3)
    assert c_strtol("08") == (0, 1)
    assert c_strtol("0x") == (0, 1)
    assert c_strtol("-7") == (-7, 2)
    assert c_strtol("a", 0) == (0, 0)
    assert c_strtol("9" * 30) == ((1 << 63) - 1, 30)
    assert c_strtol("-" + "9" * 30) == (-(1 << 63), 31)


def test_an_invalid_list_lowers_keepalived_s_sequence_count(tmp_path: Path) -> None:
    """An invalid ~LST lowers keepalived's count of ~SEQ/~LST lines being repeated, an
    unsigned count that each process takes from the previous one: a ~SEQ repeats only
    while the count is above zero (above its value when a multiline parameter began)."""
    text = "~SEQ(I, 1, 2) seq_$I\n~LST(bad)\nafter\n"
    lines, _diags, reader = _read(tmp_path, text)  # as the parent process reads it
    assert [(n, " ".join(w)) for n, w in lines] == [(1, "seq_1"), (1, "seq_2"), (3, "after")]
    assert reader.failed_lists == 1
    # the checker process starts at -1: the ~SEQ brings it to 0, it waits for the next -1
    diags = Diagnostics()
    checker = Reader(diags, config_id="main", seq_count=-1)
    with _cwd(tmp_path):
        checker.read_main("keepalived.conf")
    assert [(line.line, line.words) for line in checker.lines] == [
        (2, ["seq_1"]),
        (2, ["seq_2"]),
        (3, ["after"]),
    ]
    _cfg, found = load_config(tmp_path / "keepalived.conf", interfaces=IFACES)
    assert {(d.line, d.message) for d in found} == {
        (1, "Unknown keyword 'seq_1'"),
        (1, "Unknown keyword 'seq_2'"),
        (2, "Unknown keyword 'seq_1'"),
        (2, "Unknown keyword 'seq_2'"),
        (2, "Invalid ~LST specification '~LST(bad)'"),
        (3, "Unknown keyword 'after'"),
    }


def test_a_generated_line_is_preprocessed_afresh(tmp_path: Path) -> None:
    """Each line of a ~SEQ is the same text, read with the parameters of the moment (here
    defined by the rest of the line before)."""
    text = "~SEQ(I, 1, 2) x${A} $A=defined\n"
    assert _words(tmp_path, text) == ["x$", "{", "A", "}", "xdefined $A=defined"]


# -- what keepalived's VRRP process reads: the copy of the files its parent wrote


def test_an_unterminated_quote_is_printed_as_each_process_reads_the_line(tmp_path: Path) -> None:
    text = 'a "one   \nb "two \\ \ninclude "three   \n'
    _lines, diags, _reader = _read(tmp_path, text)
    assert [d for d in diags if "Unterminated" in d] == [
        "(keepalived.conf: Line 1) Unterminated quote 'a \"one   '",  # the parent, the file
        "(keepalived.conf: Line 1) Unterminated quote 'a \"one'",  # the VRRP process, its copy
        "(keepalived.conf: Line 2) Unterminated quote 'b \"two \\ '",
        "(keepalived.conf: Line 2) Unterminated quote 'b \"two '",  # '\\' ends the copy's line
        "(keepalived.conf: Line 3) Unterminated quote 'include \"three   '",  # none in the copy
    ]


def test_a_backslash_before_a_blank_ends_the_line_in_the_copy(tmp_path: Path) -> None:
    """``10 \\ `` is an escaped blank in the file; the parent trims the blank away, so
    the VRRP process reads ``10\\``, a line continued (keepalived continues no line but
    a definition's)."""
    lines, _diags, reader = _read(tmp_path, "virtual_router_id 10 \\ \n")
    assert lines == [(1, ["virtual_router_id", "10\\"])]
    assert reader.diverged
    parent, _diags, _reader = _read(tmp_path, "virtual_router_id 10 \\ \n", parent_view=True)
    assert parent == [(1, ["virtual_router_id", "10", "\\"])]


def test_an_escaped_comment_character_is_kept(tmp_path: Path) -> None:
    """Not as keepalived 2.2.7's VRRP process reads it: ``a\\#b`` is ``a#b`` in its
    parent's copy of the file, where the '#' then starts a comment. Here (as in the
    parent) it stays ``a#b``."""
    assert _words(tmp_path, "x a\\#b\n") == ["x a#b"]


# -- braces, includes


def test_the_rest_of_a_line_after_a_brace_is_preprocessed_again(tmp_path: Path) -> None:
    text = "q1 { @main q2 } @other q3\nq4 { $A=1 }\nq5 $A\n"
    # A is "1 }": the rest of line 2 after its '{'
    assert _words(tmp_path, text) == ["q1", "{", "q2", "}", "q4", "{", "q5 1", "}"]


def test_an_include_made_by_preprocessing_is_read_twice(tmp_path: Path) -> None:
    """keepalived's VRRP process reads the copy its parent wrote, where the included file
    follows the line that included it: a line that is an include only once preprocessed
    includes the file again, from disk. An include line as written is an empty line in
    the copy, its file read once."""
    files = {"inc.conf": "inc_line\n"}
    text = "@main include inc.conf\n$I=include inc.conf\n$I\ninclude ${_HASH}\ninclude inc.conf\n"
    lines, _diags, reader = _read(tmp_path, text, files=files)
    assert [" ".join(w) for _, w in lines] == ["inc_line"] * 5
    assert reader.diverged
    # the parent reads "include #" as a keyword line (its copy has an empty line there)
    parent, _, _ = _read(tmp_path, text, files=files, parent_view=True)
    assert [" ".join(w) for _, w in parent] == ["inc_line", "inc_line", "include", "inc_line"]


def test_includes_from_a_sequence_follow_keepalived_s_stack(tmp_path: Path) -> None:
    """Each include is opened as soon as its line is read (and keepalived changes to its
    directory); the files are read once the sequence is done, the last opened first."""
    files = {"d/f1.inc": "in_f1\n", "d/f2.inc": "in_f2\n", "d/d/f2.inc": "in_d_d_f2\n"}
    text = "~SEQ(I, 1, 2) include d/f${I}.inc\nafter\n"
    lines, diags, _ = _read(tmp_path, text, files=files, parent_view=True)
    assert [(n, " ".join(w)) for n, w in lines] == [(1, "in_d_d_f2"), (1, "in_f1"), (2, "after")]
    assert diags == []


# -- editing a configuration with parameters


def test_spans_of_replaced_parameters(tmp_path: Path) -> None:
    """A word made by a parameter spans the reference it came from in the file; words of
    one parameter share it, none of them has a span of its own."""
    text = "$P=150\n$PR=priority 100\n  priority $P ${P}0 @x # c\n$PR\n~SEQ(I, 1) s$I\n"
    _, _, reader = _read(tmp_path, text)
    assert [(line.words, line.spans) for line in reader.lines] == [
        (["priority", "150", "1500", "@x"], [(2, 10), (11, 13), (14, 19), (20, 22)]),
        (["priority", "100"], []),
        (["s1"], []),
    ]


def test_set_instance_priority_through_a_parameter() -> None:
    """The priority's reference is replaced by the new value (``@^ID``: an id that is not
    this host's)."""
    for line in ("priority $P # note", "priority ${P}", "@^not-this-host priority $P"):
        text = f"$P=150\nvrrp_instance A {{\n  {line}\n}}\n"
        new = line.replace("${P}", "7").replace("$P", "7")
        assert set_instance_priority(text, "A", 7) == text.replace(line, new)


# -- bounds on hostile input


@dataclass
class Work:
    """What the preprocessor did, counted (a bound on work, where a bound on seconds would
    fail on a loaded machine: these inputs take 1-6 s alone, ten times that under CI's -n 6):
    characters handed to its line step, substitutions made, lines ~SEQ/~LST/multiline
    parameters generated."""

    chars: int = 0
    substitutions: int = 0
    generated: int = 0


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    tally = Work()
    step = preprocess.Preprocessor._preprocess
    count = preprocess.Preprocessor._count_substitution
    make = preprocess.Preprocessor._generated_line

    def counted_step(self: preprocess.Preprocessor, buf: str, off: int, cols: Any) -> Any:
        tally.chars += len(buf) - off
        return step(self, buf, off, cols)

    def counted_substitution(self: preprocess.Preprocessor, line: str) -> None:
        tally.substitutions += 1
        count(self, line)

    def counted_line(self: preprocess.Preprocessor, text: str) -> str:
        tally.generated += 1
        return make(self, text)

    monkeypatch.setattr(preprocess.Preprocessor, "_preprocess", counted_step)
    monkeypatch.setattr(preprocess.Preprocessor, "_count_substitution", counted_substitution)
    monkeypatch.setattr(preprocess.Preprocessor, "_generated_line", counted_line)
    return tally


def _load(tmp_path: Path, text: str) -> list[Diagnostic]:
    conf = tmp_path / "k.conf"
    conf.write_text(text)
    _cfg, diags = load_config(conf, interfaces=IFACES, check_scripts=False)
    return diags


@pytest.mark.parametrize(
    "text",
    [
        "$A=$A\nx $A\n",  # keepalived 2.2.7 loops for ever
        "$A=${B}\n$B=$A\nx $A\n",  # idem
        "$A=a$B\n$B=$A\nx ${A}\n",  # grows: refused at 1024 characters, like keepalived
    ],
)
def test_parameters_that_refer_to_each_other_are_bounded(
    tmp_path: Path, text: str, work: Work
) -> None:
    diags = _load(tmp_path, text)
    assert work.substitutions <= preprocess.MAX_SUBSTITUTIONS_PER_LINE + 1
    assert not [d for d in diags if INTERNAL_ERROR in d.message]
    assert config_test_exit_status(diags) in (4, 5)


def test_a_loop_through_the_rest_of_a_line_is_bounded(tmp_path: Path, work: Work) -> None:
    """``x { $R=1 } r_$R`` defines R as ``1 } r_$R``: every line made of $R leaves a rest
    that makes it again, and keepalived 2.2.7 prints Extra '}' for ever."""
    diags = _load(tmp_path, "x { $R=1 } r_$R\nr2_$R\n")
    # each line is short of MAX_SUBSTITUTIONS_PER_LINE: the work bound stops it (each
    # substitution counts at least 64 characters of it)
    assert work.substitutions <= preprocess.MAX_SUBSTITUTION_WORK // 64 + 1
    assert any(d.kind == "fatal" and "substitutions moved more than" in d.message for d in diags)
    assert config_test_exit_status(diags) == 5


@pytest.mark.parametrize(
    "text",
    [
        "~SEQ(I, 9223372036854775807) x\n",
        "~SEQ(I, 9223372036854775806, 1, 9223372036854775807) x$I\n",  # wraps in C
        " ".join(["~SEQ(1,1,3)"] * 40) + " x\n",
        "$M=a\\\n$M\\\n\n$M\n",  # a multiline parameter made of itself
    ],
)
def test_huge_sequences_are_bounded(
    tmp_path: Path, text: str, work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the bound itself, 100 000 lines, is the same code; a smaller one keeps the test short
    assert preprocess.MAX_GENERATED_LINES == 100_000
    monkeypatch.setattr(preprocess, "MAX_GENERATED_LINES", 2_000)
    diags = _load(tmp_path, text)
    assert work.generated == 2_001
    fatal = [d for d in diags if d.kind == "fatal"]
    assert len(fatal) == 1 and "made more than 2000 lines" in fatal[0].message
    assert config_test_exit_status(diags) in (4, 5)


def test_a_long_line_of_braces_and_parameters_is_linear(tmp_path: Path, work: Work) -> None:
    """keepalived reads a long line in pieces of 1023 bytes, each a line of its own
    (``keepalived -t`` on 650 000 characters of this: 5 s, 400 000 messages). Work on the
    whole line at each step (as before it was cut) is quadratic: ten times the line, a
    hundred times the work. Counted here, ten times the line must stay near ten times."""

    def chars(n: int) -> int:
        work.chars = 0
        text = "$A=a\n" + "{ $X " * n + "\n" + "{ @main " * n + "\n"
        assert config_test_exit_status(_load(tmp_path, text)) == 5
        return work.chars

    small, large = chars(2_000), chars(20_000)
    assert small > 0 and large / small < 15, (small, large)


PREPROCESSING_TOKENS = [
    "$A=", "$B=", "$A", "${A}", "$B", "${B}x", "\\", "\n", " ", "{", "}", '"', "#", "!",
    "@main", "@^main", "@", "~SEQ(I, 1, 3)", "~SEQx(I,0x9,0xb)", "~SEQ(", ")", "~LST({a, b}, {1,2},3)",
    "~LST(a,", "$a", "${_RANDOM 1 3}", "${_RANDOM}", "${_PWD}", "${_HASH}", "$_RANDOM=",
    "include", "include a.conf", "include *.conf", "vrrp_instance V", "priority", "100",
    "virtual_ipaddress", "10.0.0.$I/24", ",", "9" * 30,
]  # fmt: skip

_preprocessing_text = st.lists(st.sampled_from(PREPROCESSING_TOKENS), max_size=80).map("".join)


@settings(
    max_examples=int(os.environ.get("HALAB_FUZZ_EXAMPLES", "100")),
    deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
@given(main_text=_preprocessing_text, side=_preprocessing_text)
def test_preprocessing_never_raises(tmp_path: Path, main_text: str, side: str) -> None:
    (tmp_path / "a.conf").write_text(side)
    conf = tmp_path / "keepalived.conf"
    conf.write_text(main_text)
    started = time.perf_counter()
    _cfg, diags = load_config(conf, interfaces=IFACES, check_scripts=False, config_id="main")
    assert time.perf_counter() - started < 20
    assert not [str(d) for d in diags if INTERNAL_ERROR in d.message]
    assert config_test_exit_status(diags) in {0, 2, 4, 5, 6}

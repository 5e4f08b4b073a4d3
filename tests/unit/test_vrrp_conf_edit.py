"""Tests for pytest_halab.vrrp.conf.edit: a priority changed in a keepalived.conf's text,
found by the real lexer and parser, nothing else touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import load_config, set_instance_priority
from pytest_halab.vrrp.conf.diagnostics import Diagnostics
from pytest_halab.vrrp.conf.lexer import Reader

TWO = """\
! two instances; the second one's priority is the one to change
global_defs {
    router_id lb1   # priority 7 { in a comment
}

vrrp_script chk {
    script "/bin/true"
    weight 10
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        10.0.0.1/24
    }
}

vrrp_instance VI_2 {
    state BACKUP   ! priority 1 }
    interface eth0
    virtual_router_id 52
    # priority 99 {
    priority 100
    track_script {
        chk weight 20
    }
    virtual_ipaddress {
        10.0.0.2/24
    }
}
"""


def _only_change(before: str, after: str, old: str, new: str, count: int = 1) -> None:
    """`after` is `before` with `count` occurrences of `old` (as whole values) now `new`."""
    diff = [(a, b) for a, b in zip(before.split("\n"), after.split("\n"), strict=True) if a != b]
    assert len(diff) == count
    for a, b in diff:
        assert b == a.replace(old, new, 1)


def _priority(tmp_path: Path, text: str, name: str) -> int:
    path = tmp_path / "k.conf"
    path.write_text(text, newline="")
    cfg, _ = load_config(path, interfaces={"lo", "eth0"}, check_scripts=False)
    return cfg.instances[name].priority


def test_second_instance_only(tmp_path: Path) -> None:
    out = set_instance_priority(TWO, "VI_2", 42)
    assert out is not None
    _only_change(TWO, out, "priority 100", "priority 42")
    assert _priority(tmp_path, out, "VI_2") == 42
    assert _priority(tmp_path, out, "VI_1") == 150


def test_first_instance_comments_untouched() -> None:
    out = set_instance_priority(TWO, "VI_1", 200)
    assert out is not None
    _only_change(TWO, out, "priority 150", "priority 200")
    assert "# priority 7 {" in out and "! priority 1 }" in out and "# priority 99 {" in out


def test_nested_block_weights_and_names_are_not_the_priority(tmp_path: Path) -> None:
    text = (
        "vrrp_script priority {\n script /bin/true\n}\n"
        "vrrp_instance V {\n"
        " track_script {\n  priority weight 5\n }\n"  # a script named priority
        " authentication {\n  priority 5\n }\n"  # unknown there: not the instance's
        " virtual_ipaddress {\n  10.0.0.1 label priority\n }\n"
        " priority 90\n"
        " interface eth0\n virtual_router_id 1\n"
        "}\n"
    )
    out = set_instance_priority(text, "V", 33)
    assert out is not None
    _only_change(text, out, "priority 90", "priority 33")
    assert _priority(tmp_path, out, "V") == 33


def test_braces_and_keyword_on_one_line() -> None:
    text = "vrrp_instance A { priority 10 }\nvrrp_instance B{priority 20}\n"
    assert set_instance_priority(text, "A", 11) == (
        "vrrp_instance A { priority 11 }\nvrrp_instance B{priority 20}\n"
    )
    assert set_instance_priority(text, "B", 21) == (
        "vrrp_instance A { priority 10 }\nvrrp_instance B{priority 21}\n"
    )


def test_quoted_strings() -> None:
    text = (
        'vrrp_instance "VI 1" {\n'
        '    notify_master "/bin/echo priority 5 { # }"\n'
        '    priority "100"   # quoted value keeps its quotes\n'
        "}\n"
    )
    out = set_instance_priority(text, "VI 1", 7)
    assert out == text.replace('priority "100"', 'priority "7"')
    assert set_instance_priority(text, "VI", 7) is None


def test_missing_instance_or_priority() -> None:
    assert set_instance_priority(TWO, "VI_3", 1) is None
    assert set_instance_priority(TWO, "VI", 1) is None  # no prefix match
    assert set_instance_priority("", "VI_1", 1) is None
    no_priority = "vrrp_instance VI_1 {\n    state BACKUP\n    # priority 100\n}\n"
    assert set_instance_priority(no_priority, "VI_1", 1) is None
    # a priority keyword without its value: keepalived stops there
    assert set_instance_priority("vrrp_instance VI_1 {\n priority\n}\n", "VI_1", 1) is None
    # commented out as a whole
    assert set_instance_priority("#vrrp_instance VI_1 {\n#priority 1\n#}\n", "VI_1", 2) is None


def test_crlf_and_blanks_kept(tmp_path: Path) -> None:
    text = TWO.replace("\n", "\r\n").replace("    priority 100", "\tpriority\t100\t")
    out = set_instance_priority(text, "VI_2", 250)
    assert out is not None
    assert out == text.replace("\tpriority\t100\t", "\tpriority\t250\t")
    assert out.count("\r\n") == text.count("\r\n")
    assert _priority(tmp_path, out, "VI_2") == 250


def test_duplicate_instance_is_skipped_like_keepalived() -> None:
    text = "vrrp_instance A {\n priority 10\n}\nvrrp_instance A {\n priority 20\n}\n"
    out = set_instance_priority(text, "A", 30)
    assert out == "vrrp_instance A {\n priority 30\n}\nvrrp_instance A {\n priority 20\n}\n"


def test_every_priority_of_the_instance_is_set(tmp_path: Path) -> None:
    text = "vrrp_instance A {\n priority 10\n interface eth0\n priority 20\n}\n"
    out = set_instance_priority(text, "A", 5)
    assert out == "vrrp_instance A {\n priority 5\n interface eth0\n priority 5\n}\n"


def test_include_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "inst.conf").write_text("vrrp_instance A {\n priority 10\n}\n")
    text = "include inst.conf\n"
    assert set_instance_priority(text, "A", 5) is None


def test_escaped_comment_and_nul_characters() -> None:
    # a NUL ends its line for keepalived: "pri" is no priority, "10" is read, "99" is not
    text = "vrrp_instance A\\#1 {\n pri\x00ority 20\n priority 10\x00 99 # note\n}\n"
    assert set_instance_priority(text, "A#1", 77) == text.replace("10\x00", "77\x00")


def test_missing_opening_brace_follows_keepalived() -> None:
    # keepalived reports the missing '{' and reads the next lines as the instance's
    text = "vrrp_instance A\n priority 10\n}\n"
    assert set_instance_priority(text, "A", 12) == "vrrp_instance A\n priority 12\n}\n"


@pytest.mark.parametrize(
    ("line", "words", "spans"),
    [
        ("  priority 100", ["priority", "100"], [(2, 10), (11, 14)]),
        ('\tnotify "/bin/x a" # c', ["notify", "/bin/x a"], [(1, 7), (9, 17)]),
        ("a\\#b c", ["a#b", "c"], [(0, 4), (5, 6)]),
        ('x ""', ["x", ""], [(0, 1), (3, 3)]),
    ],
)
def test_lexer_spans_point_into_the_physical_line(
    line: str, words: list[str], spans: list[tuple[int, int]]
) -> None:
    reader = Reader(Diagnostics())
    reader.read_text(line, "t")
    [got] = reader.lines
    assert got.words == words
    assert got.spans == spans


def test_lexer_spans_with_braces() -> None:
    reader = Reader(Diagnostics())
    reader.read_text("block {  key  val }", "t")
    assert [(ln.words, ln.spans) for ln in reader.lines] == [
        (["block"], [(0, 5)]),
        (["{"], [(6, 7)]),
        (["key", "val"], [(9, 12), (14, 17)]),
        (["}"], [(18, 19)]),
    ]

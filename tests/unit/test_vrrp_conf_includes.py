"""Checked includes (includem/includer/includew/includea and global_defs' include_check),
as keepalived 2.2.7 -t treats them (each case was run against it): when a check fails,
every include is still read and its failure said, then nothing is parsed (no keyword's
error, before or after it) and the exit status is 6; an unchecked failure is only said."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import config_test_exit_status, load_config

INSTANCE = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 5
    priority 300
    virtual_ipaddress {
        10.1.1.1
    }
}
"""


def _check(tmp_path: Path, head: str) -> tuple[int, list[str]]:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(head + INSTANCE)
    _cfg, diags = load_config(conf, interfaces=["eth0"])
    return config_test_exit_status(diags), [d.message for d in diags]


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("includem nothere.conf\n", 6),
        ("includew nothere.conf\n", 6),
        ("includea nothere.conf\n", 6),
        ("includer nothere.conf\n", 5),  # readable: nothing to read is not its concern
        ("include nothere.conf\n", 5),
        ("global_defs {\n    include_check\n}\ninclude inc/*.zzz\n", 6),
        # 2.2.7 knows "read", and calls "readable" (its man page's name) unknown
        ("global_defs {\n    include_check readable\n}\ninclude inc/*.zzz\n", 5),
        ("global_defs {\n    include_check -wildcard_match\n}\ninclude inc/*.zzz\n", 5),
    ],
)
def test_a_failed_include_check_parses_nothing(tmp_path: Path, head: str, status: int) -> None:
    (tmp_path / "inc").mkdir()
    code, messages = _check(tmp_path, head)
    assert code == status, messages
    later = any("priority" in m.lower() for m in messages)  # the instance's priority 300
    assert later is (status != 6), messages


def test_includer_refuses_an_executable_file(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    script = tmp_path / "inc" / "x.conf"
    script.write_text("")
    script.chmod(0o755)
    code, messages = _check(tmp_path, "includer inc/x.conf\n")
    assert code == 6
    assert messages == [
        "Configuration file 'inc/x.conf' is not a regular non-executable file - skipping"
    ]


def test_include_check_set_in_an_included_file_ends_with_it(tmp_path: Path) -> None:
    """keepalived saves the setting when it opens a file and restores it when it closes it."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "strict.conf").write_text("global_defs {\n    include_check\n}\n")
    code, messages = _check(tmp_path, "include inc/strict.conf\ninclude nothere.conf\n")
    assert code == 5, messages


def test_a_directory_given_as_the_configuration_is_named_so(tmp_path: Path) -> None:
    _cfg, diags = load_config(tmp_path)
    assert [d.message for d in diags] == [
        f"Configuration file '{tmp_path}/' is a directory - skipping"
    ]
    assert config_test_exit_status(diags) == 4


def test_every_failed_include_is_said_before_nothing_is_parsed(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    head = (
        "global_defs {\n    include_check\n}\ninclude inc/*.zzz\n"
        "vrrp_instance VI_0 {\n    priority 400\n}\ninclude nothere.conf\n"
    )
    code, messages = _check(tmp_path, head)
    assert code == 6
    assert messages == [
        "No config files matched 'inc/*.zzz'.",
        "Config files missing 'nothere.conf'.",
    ]


def test_unknown_include_check_types_are_named(tmp_path: Path) -> None:
    code, messages = _check(tmp_path, "global_defs {\n    include_check readable\n}\n")
    assert code == 5
    assert messages[0] == "Unknown include_check type 'readable' - ignoring"


def _said(main: Path) -> tuple[int, list[tuple[str, int, str]]]:
    _cfg, diags = load_config(main, interfaces=["eth0"])
    return config_test_exit_status(diags), [(Path(d.file).name, d.line, d.message) for d in diags]


def test_files_that_include_each_other_run_out_of_file_descriptors(tmp_path: Path) -> None:
    """keepalived 2.2.7 opens a.conf and b.conf in turn until it has no descriptor left,
    and says so in the file being read then; it exits 0 (said by keepalived -t)."""
    (tmp_path / "a.conf").write_text("include b.conf\nglobal_defs {\n router_id A\n}\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    assert _said(tmp_path / "a.conf") == (
        0,
        [
            (
                "b.conf",
                1,
                "Configuration file 'a.conf' open problem (Too many open files) - skipping",
            )
        ],
    )


def test_a_file_that_includes_itself_by_a_pattern_fails_its_glob(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.conf").write_text("global_defs {\n router_id X\n}\ninclude *.conf\n")
    (tmp_path / "main.conf").write_text("include sub/a.conf\n")
    assert _said(tmp_path / "main.conf") == (0, [("a.conf", 4, "Config files missing '*.conf'.")])


def test_a_dangling_or_looping_symbolic_link_is_no_regular_file(tmp_path: Path) -> None:
    (tmp_path / "dang.inc").symlink_to("/nonexistent/x")
    (tmp_path / "loop1.inc").symlink_to("loop2.inc")
    (tmp_path / "loop2.inc").symlink_to("loop1.inc")
    (tmp_path / "m.conf").write_text("include dang.inc\ninclude loop*.inc\n")
    said = "is not a regular non-executable file - skipping"
    assert _said(tmp_path / "m.conf") == (
        0,
        [
            ("m.conf", 1, f"Configuration file 'dang.inc' {said}"),
            ("m.conf", 2, f"Configuration file 'loop1.inc' {said}"),
            ("m.conf", 2, f"Configuration file 'loop2.inc' {said}"),
        ],
    )

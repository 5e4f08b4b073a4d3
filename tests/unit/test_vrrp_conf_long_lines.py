"""Lines longer than keepalived's line buffer (MAXBUF, 1024 bytes): keepalived reads them
with fgets() in pieces of 1023 bytes, and each piece is a line of its own. Each expected
message, line and exit status is what keepalived 2.2.7 -t printed for the same file on
this machine (its VRRP process's numbering: one line per piece)."""

from __future__ import annotations

from pathlib import Path

from pytest_halab.vrrp.conf import config_test_exit_status, load_config

INSTANCE = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    EXTRA
    virtual_ipaddress {
        192.168.1.100
    }
}
"""


def _said(tmp_path: Path, text: str) -> tuple[int, list[tuple[int, str]]]:
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    _cfg, diags = load_config(conf, interfaces=["eth0"], check_scripts=False)
    return config_test_exit_status(diags), [(d.line, d.message) for d in diags]


def test_the_byte_past_1023_starts_a_line_of_its_own(tmp_path: Path) -> None:
    # a router_id line of 1024 characters: the last one is read as a keyword
    line = "    router_id " + "R" * 1010
    text = "global_defs {\n" + line + "\n}\n" + INSTANCE.replace("EXTRA", "")
    status, said = _said(tmp_path, text)
    assert (status, said) == (5, [(2, "Unknown keyword 'R'")])


def test_a_line_of_1022_characters_is_read_whole(tmp_path: Path) -> None:
    line = "    router_id " + "R" * 1008  # with its newline, 1023 bytes: one read
    text = "global_defs {\n" + line + "\n}\n" + INSTANCE.replace("EXTRA", "")
    assert _said(tmp_path, text) == (0, [])


def test_the_lines_after_a_cut_line_are_numbered_one_per_piece(tmp_path: Path) -> None:
    # 1034 characters: two pieces, so the unknown keyword on line 8 is said on line 9
    line = "    router_id " + "R" * 1020
    text = "global_defs {\n" + line + "\n}\n" + INSTANCE.replace("EXTRA", "bogus")
    status, said = _said(tmp_path, text)
    assert status == 5
    assert (2, "Unknown keyword '" + "R" * 11 + "'") in said
    assert (9, "Unknown keyword 'bogus'") in said


def test_a_long_comment_ends_with_its_first_piece(tmp_path: Path) -> None:
    # '#' and 2001 c's: the comment is the first 1023 bytes; the rest is a keyword
    text = "#" + "c" * 2001 + "\n" + INSTANCE.replace("EXTRA", "")
    status, said = _said(tmp_path, text)
    assert status == 5
    # keepalived's parent counts the line when it reads its newline (line 1); its other
    # processes read its copy, where the comment is an empty line 1 and the rest line 2
    unknown = "Unknown keyword '" + "c" * 979 + "'"
    assert sorted(said) == [(1, unknown), (2, unknown)]


def test_a_piece_of_exactly_1023_bytes_has_the_number_of_the_line_before(
    tmp_path: Path,
) -> None:
    # '# ' and 5000 c's: pieces 2-4 are 1023 bytes long in keepalived's copy too, and a
    # second fgets() reads each one's newline: they are lines 1, 2 and 3, the last piece
    # 5. keepalived's parent says the pieces before the newline with no line (0).
    text = "# " + "c" * 5000 + "\n" + INSTANCE.replace("EXTRA", "")
    status, said = _said(tmp_path, text)
    assert status == 5
    whole = "Unknown keyword '" + "c" * 1023 + "'"
    last = "Unknown keyword '" + "c" * (5002 - 4 * 1023) + "'"
    assert sorted(said) == sorted(
        [(0, whole), (1, last), (1, whole), (2, whole), (3, whole), (5, last)]
    )


def test_a_cut_multibyte_character_is_cut_where_keepalived_cuts_it(tmp_path: Path) -> None:
    # 1022 bytes of 'é' (2 bytes each) and one more: the last 'é' straddles the cut
    line = "    router_id " + "é" * 505  # 14 + 1010 = 1024 bytes
    text = "global_defs {\n" + line + "\n}\n" + INSTANCE.replace("EXTRA", "")
    status, said = _said(tmp_path, text)
    assert status == 5
    assert [n for n, _ in said] == [2]

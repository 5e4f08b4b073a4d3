"""Hostile keepalived.conf input (issue 9): huge numbers, non-UTF-8 bytes, deep nesting,
megabyte lines, includes that include each other. Each gives diagnostics and an exit
status as ``keepalived -t`` would, never a traceback, never a hang."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_halab.vrrp.__main__ import main
from pytest_halab.vrrp.conf import config_test_exit_status, lexer, load_config
from pytest_halab.vrrp.conf.lexer import split_braces
from pytest_halab.vrrp.conf.load import INTERNAL_ERROR
from pytest_halab.vrrp.conf.values import Numbers, strtol_prefix

INSTANCE = (
    b"vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n"
    b" virtual_ipaddress {\n  10.0.0.1/24\n }\n}\n"
)


def _load(path: Path) -> tuple[list[str], int]:
    _cfg, diags = load_config(path, interfaces=["eth0", "lo"], check_scripts=False)
    assert not [d for d in diags if INTERNAL_ERROR in d.message]
    return [str(d) for d in diags], config_test_exit_status(diags)


@pytest.mark.parametrize("digits", [4301, 5000, 100_000])
def test_a_huge_number_is_out_of_range_as_strtol_saturates(tmp_path: Path, digits: int) -> None:
    conf = tmp_path / "k.conf"
    conf.write_bytes(b"global_defs {\n vrrp_garp_master_delay " + b"9" * digits + b"\n}\n")
    messages, status = _load(conf)
    assert status == 5
    assert any("outside unsigned integer range" in m for m in messages)


@pytest.mark.parametrize("keyword", ["priority", "virtual_router_id", "advert_int"])
def test_a_huge_number_in_an_instance(tmp_path: Path, keyword: str) -> None:
    conf = tmp_path / "k.conf"
    text = INSTANCE.replace(f" {keyword} ".encode(), b" x ")
    conf.write_bytes(text.replace(b" }\n}\n", f" }}\n {keyword} {'7' * 9000}\n}}\n".encode()))
    _messages, status = _load(conf)
    assert status in (4, 5)


def test_strtol_prefix_saturates() -> None:
    value, rest = strtol_prefix("-" + "1" * 10_000 + "x")
    assert value is not None and value < -(2**64) and rest == "x"
    assert strtol_prefix("0" * 10_000 + "42") == (42, "")
    reports: list[str] = []
    numbers = Numbers(lambda kind, message: reports.append(message))
    assert numbers.integer("9" * 5000, 0, 10) == (None, 10**40)
    assert numbers.decimal("1." + "5" * 5000, 0, 10**9) == 1_555_556  # rounded, reported
    assert numbers.decimal("9" * 5000 + ".5", 0, 10**9) is None
    assert len(reports) == 3


def test_non_utf8_bytes_are_reported_byte_for_byte(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """keepalived prints the file's own bytes; so does -t."""
    conf = tmp_path / "k.conf"
    conf.write_bytes(
        b"vrrp_instance V {\n interface eth\xff0\n state MASTER\n virtual_router_id 1\n"
        b" priority 100\n authentication {\n  auth_type PASS\n  auth_pass p\xfe\xffwordlong\n }\n"
        b" virtual_ipaddress {\n  10.0.0.1/24 label eth0:\xff\n }\n}\n"
    )
    status = main(["-t", "-f", str(conf)])
    err = capsysbinary.readouterr().err
    assert b"WARNING - interface eth\xff0 for vrrp_instance V doesn't exist" in err
    assert status == 5
    cfg, _diags = load_config(conf, interfaces=["eth\udcff0"], check_scripts=False)
    inst = cfg.instances["V"]
    assert inst.auth_pass is not None
    assert inst.auth_pass.encode("utf-8", "surrogateescape") == b"p\xfe\xffwordl"


@pytest.mark.parametrize("opener", [b"static_routes", b"global_defs", b"vrrp_instance V", b"x"])
def test_deep_nesting_does_not_recurse(tmp_path: Path, opener: bytes) -> None:
    conf = tmp_path / "k.conf"
    depth = 5000
    conf.write_bytes(opener + b" {\n" + b"a {\n" * depth + b"}\n" * (depth + 1))
    _messages, status = _load(conf)
    assert status in (0, 5)


def test_deep_generic_blocks_are_read_past_beyond_the_kept_depth(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_bytes(b"static_routes {\n" + b"a {\n" * 100 + b"}\n" * 101 + INSTANCE)
    cfg, _diags = load_config(conf, interfaces=["eth0"], check_scripts=False)
    assert "V" in cfg.instances, "the block after the deep one is parsed"


def test_split_braces_is_linear() -> None:
    """A 1 MB line of braces (quadratic before: ~30 s)."""
    line = "{}" * 500_000
    started = time.perf_counter()
    parts = split_braces(line)
    assert time.perf_counter() - started < 20.0  # sanity bound; ~1 s on a busy machine
    assert len(parts) == 1_000_000
    assert parts[:3] == [(0, "{"), (1, "}"), (2, "{")]


def test_split_braces_as_before() -> None:
    assert split_braces('a { b "x{y}" } c') == [
        (0, "a"), (2, "{"), (4, 'b "x{y}"'), (13, "}"), (15, "c"),
    ]  # fmt: skip
    assert split_braces('a "{ b } c') == [(0, 'a "{ b } c')]
    assert split_braces("{ {") == [(0, "{"), (2, "{")]


def test_a_megabyte_line_of_braces_is_checked(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_bytes(b"{}" * 100_000 + b"\n")
    messages, status = _load(conf)
    assert status == 5
    assert any("Unknown keyword '}'" in m for m in messages)


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    original = lexer.Reader._read_file

    def counted(self: lexer.Reader, real: str, shown: str, nesting: int) -> None:
        reads.append(shown)
        original(self, real, shown, nesting)

    monkeypatch.setattr(lexer.Reader, "_read_file", counted)
    return reads


def test_files_that_include_each_other_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """7 files globbing each other: every order of them was read (13,700 reads);
    keepalived 2.2.7 itself never finishes. Re-reads are bounded."""
    for i in range(7):
        (tmp_path / f"f{i}.conf").write_text(
            f"include *.conf\nglobal_defs {{\n router_id r{i}\n}}\n"
        )
    main_file = tmp_path / "keepalived.txt"
    main_file.write_text("include *.conf\n")
    reads = _count_reads(monkeypatch)
    messages, status = _load(main_file)
    assert len(reads) <= 1 + 7 + lexer.MAX_INCLUDE_REREADS + 7
    assert any("already read too often" in m for m in messages)
    assert any("Config files missing '*.conf'." in m for m in messages)
    assert status == 4  # the bound's fatal diagnostic


def test_a_snippet_included_twice_is_read_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "vip.inc").write_text("  10.0.0.1/24\n")
    main_file = tmp_path / "k.conf"
    main_file.write_text(
        "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n priority 100\n"
        " virtual_ipaddress {\n include vip.inc\n }\n}\n"
        "vrrp_instance B {\n interface eth0\n virtual_router_id 2\n priority 100\n"
        " virtual_ipaddress {\n include vip.inc\n }\n}\n"
    )
    reads = _count_reads(monkeypatch)
    cfg, _diags = load_config(main_file, interfaces=["eth0"], check_scripts=False)
    assert reads.count("vip.inc") == 2
    assert set(cfg.instances) == {"A", "B"}


def test_a_hard_link_to_itself_is_a_self_include(tmp_path: Path) -> None:
    first = tmp_path / "a.conf"
    first.write_text("include b.conf\n")
    (tmp_path / "b.conf").hardlink_to(first)
    messages, status = _load(first)
    assert any(
        "Configuration file 'b.conf' open problem (Too many open files) - skipping" in m
        or "Configuration file 'a.conf' open problem (Too many open files) - skipping" in m
        for m in messages
    ), messages
    assert status == 0


def test_config_test_never_prints_a_traceback(tmp_path: Path) -> None:
    conf = tmp_path / "k.conf"
    conf.write_bytes(
        b"static_routes {\n" + b"a {\n" * 3000 + b"}\n" * 3001
        + b"global_defs {\n vrrp_garp_master_delay " + b"9" * 5000 + b"\n}\n"
        + b"vrrp_instance V {\n interface e\xfft\n auth_pass \xff\xfe\n}\n"
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pytest_halab.vrrp", "-t", "-f", str(conf)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert b"Traceback" not in done.stderr
    assert done.returncode in (4, 5)


def test_non_utf8_bytes_reach_the_wire_and_kernel_as_they_were() -> None:
    """The config is read with surrogateescape: a non-UTF-8 auth_pass, label or interface
    name goes out as the file's own bytes (never a UnicodeEncodeError in the daemon)."""
    from pytest_halab.vrrp.packet import password_auth_data

    raw = b"pa\xffss"
    text = raw.decode("utf-8", "surrogateescape")
    assert password_auth_data(text) == raw + b"\0" * 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # keepalived 2.2.7 -t, seen: a NUL ends the line (C strings), the rest is not read
        ("priority 1\x00000", None),  # priority 1, not 1000
        ("priority 1000\x00", "number '1000' outside range [1, 255]"),
        ("bogus_kw\x00 priority 7", "Unknown keyword 'bogus_kw'"),
    ],
)
def test_a_nul_character_ends_its_line(tmp_path: Path, line: str, message: str | None) -> None:
    path = tmp_path / "k.conf"
    path.write_bytes(
        (
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n"
            f" {line}\n virtual_ipaddress {{\n  10.0.0.1\x00garbage\n }}\n}}\n"
        ).encode()
    )
    cfg, diags = load_config(path, interfaces=["eth0"], check_scripts=False)
    said = [(d.line, d.message) for d in diags]
    if message is None:
        assert said == []
    else:
        assert said[0] == (4, message), said
    assert [str(v.address) for v in cfg.instances["VI_1"].vips] == ["10.0.0.1"]
    if message is None:
        assert cfg.instances["VI_1"].priority == 1

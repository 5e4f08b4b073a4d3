"""Hostile topology files are refused with a TopologyError naming file, line and field,
never a raw exception; and a fuzzed loader raises nothing but TopologyError."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_topology import GOOD, KA, write  # tests/unit is on sys.path (rootdir conftest)

from pytest_halab import topology
from pytest_halab.errors import TopologyError

FILES_LINE = "/etc/keepalived/keepalived.conf: ka.conf"


def refused(path: Path) -> str:
    with pytest.raises(TopologyError) as info:
        topology.load(path)
    return str(info.value)


def with_file(dest: str, src: str) -> str:
    # An explicit key ("? "): YAML allows implicit keys of at most 1024 characters.
    return GOOD.replace(FILES_LINE, f'{FILES_LINE}\n      ? "{dest}"\n      : "{src}"')


def test_topology_file_not_utf8(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    p.write_bytes(GOOD.encode() + b"description: caf\xe9\n")
    assert refused(p) == f"{p}:12: topology file is not UTF-8 text (byte 0xe9)"


def test_template_not_utf8(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD)
    (tmp_path / "ka.conf").write_bytes(b"! line 1\n\xff\n")
    msg = refused(p)
    assert msg.startswith(f"{p}:8: nodes.lb1.files./etc/keepalived/keepalived.conf: ")
    assert f"{tmp_path / 'ka.conf'}:2: config template is not UTF-8 text" in msg


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "description: " + "[" * 2000 + "]" * 2000,
            ":12: description.0.0.0...: invalid YAML: nested deeper than 20 levels",
        ),
        ("vars: " + "{a: " * 2000 + "b" + "}" * 2000, ":12: vars.a.a.a...: invalid YAML: nested"),
    ],
)
def test_deep_nesting(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in refused(write(tmp_path, GOOD + extra + "\n"))


def test_huge_integer(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace("    host: 10\n", "    host: " + "9" * 5000 + "\n"))
    assert refused(p).startswith(f"{p}:6: nodes.lb1.host: invalid YAML: unreadable value")


def test_impossible_date(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "description: 2001-02-30\n")
    assert refused(p).startswith(f"{p}:12: description: invalid YAML: unreadable value")


def test_character_yaml_refuses(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "description: \x07\n")
    assert refused(p).startswith(f"{p}:12: invalid YAML: character U+0007 is not allowed")


@pytest.mark.parametrize(
    ("dest", "src", "expected"),
    [
        ("/etc/../root/x", "ka.conf", "destination '/etc/../root/x' must not contain '..'"),
        ("/etc/\\0x", "ka.conf", "destination '/etc/\\x00x' contains a NUL character"),
        ("/etc/x", "ka\\0.conf", "template 'ka\\x00.conf' contains a NUL character"),
        ("/etc/x", "a" * 300, "is too long (at most 1024 characters, 255 per component)"),
        ("/" + "d/" * 600 + "x", "ka.conf", "is too long"),
        ("/etc/", "ka.conf", "destination '/etc/' must name a file"),
    ],
)
def test_bad_paths_in_files(tmp_path: Path, dest: str, src: str, expected: str) -> None:
    p = write(tmp_path, with_file(dest, src))
    msg = refused(p)
    assert msg.startswith(f"{p}:7: nodes.lb1.files: "), msg
    assert expected in msg, msg


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("fifo", "fifo: config template must be a regular file"),
        ("/proc/self/status", "config template must be a regular file, not under /proc"),
        ("/dev/zero", "config template must be a regular file, not under /dev"),
        ("/sys/kernel", "not under /sys"),
        (".", "config template must be a regular file"),
        ("big.conf", "config template is larger than 1048576 bytes"),
    ],
)
def test_template_must_be_a_small_regular_file(tmp_path: Path, src: str, expected: str) -> None:
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "big.conf").write_bytes(b"#" * (topology.MAX_FILE_BYTES + 1))
    p = write(tmp_path, with_file("/etc/x", src))
    msg = refused(p)  # returns at once: a FIFO is never opened for a blocking read
    assert msg.startswith(f"{p}:9: nodes.lb1.files./etc/x: "), msg  # the line of the key
    assert expected in msg, msg


def test_topology_path_that_no_file_system_takes() -> None:
    for name in ("x\0.yaml", "a" * 5000 + ".yaml", "/" + "a" * 300 + "/t.yaml", "n\0ame"):
        with pytest.raises(TopologyError):
            topology.load(name)


def test_topology_file_that_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "t.yaml")
    with pytest.raises(TopologyError, match="no such topology file"):
        topology.load(tmp_path / "t.yaml")


# ---------------------------------------------------------------- fuzzing

MUTATIONS = [
    "",
    "\0",
    "\xff",
    "\ud800",
    "[",
    "{",
    "]",
    "}",
    ":",
    "- ",
    "&a ",
    "*a",
    "!!binary ",
    "!!python/object:os.system ",
    "? ",
    "|\n",
    '"',
    "'",
    "\t",
    "\n",
    "../",
    "/proc/self/status",
    "9" * 5000,
    "0x" + "f" * 300,
    "1e400",
    "-1",
    "2001-02-30",
    "[" * 60,
    "{a: " * 60,
    "~",
    "%YAML 1.1\n---\n",
    "---\n",
    "...\n",
    "host",
    "files",
    "role: balancer",
    "/etc/x: ka.conf",
    "\x85",
    "\ufeff",
]


def mutate(data: st.DataObject, text: str) -> bytes:
    out = text
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(out)))
        cut = data.draw(st.integers(0, 8))
        piece = data.draw(st.sampled_from(MUTATIONS) | st.text(max_size=12))
        out = out[:pos] + piece + out[pos + cut :]
    raw = out.encode("utf-8", "surrogatepass")
    if data.draw(st.booleans()):
        pos = data.draw(st.integers(0, len(raw)))
        raw = raw[:pos] + data.draw(st.binary(max_size=6)) + raw[pos:]
    return raw


def check_only_topology_errors(tmp_path: Path, raw: bytes, ka: bytes | None = None) -> None:
    p = tmp_path / "fz.yaml"
    p.write_bytes(raw)
    (tmp_path / "ka.conf").write_bytes(KA.encode() if ka is None else ka)
    try:
        topology.load(p)
    except TopologyError as exc:
        assert str(exc)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_mutated_topology_raises_only_topology_error(
    tmp_path: Path, data: st.DataObject
) -> None:
    check_only_topology_errors(tmp_path, mutate(data, textwrap.dedent(GOOD)))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300), ka=st.binary(max_size=200))
def test_fuzz_random_bytes_raise_only_topology_error(tmp_path: Path, raw: bytes, ka: bytes) -> None:
    check_only_topology_errors(tmp_path, raw)
    check_only_topology_errors(tmp_path, textwrap.dedent(GOOD).encode(), ka)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dest=st.text(max_size=40), src=st.text(max_size=40), depth=st.integers(0, 40))
def test_fuzz_odd_paths_and_depths(tmp_path: Path, dest: str, src: str, depth: int) -> None:
    text = textwrap.dedent(GOOD).replace(
        FILES_LINE, f"{FILES_LINE}\n      {dest!r}: {src!r}".replace("\\", "\\\\")
    )
    text += "description: " + "[" * depth + "]" * depth + "\n"
    check_only_topology_errors(tmp_path, text.encode("utf-8", "surrogatepass"))


def test_keepalived_conf_the_checker_cannot_read(tmp_path: Path) -> None:
    # found by the long mutation campaign: a 5,000-digit advert_int
    p = write(tmp_path, GOOD, ka=KA.replace("advert_int 1", "advert_int " + "9" * 5000))
    msg = refused(p)
    assert "nodes.lb1.files./etc/keepalived/keepalived.conf" in msg
    # the checker reads it as keepalived does (strtol saturates) and reports its message
    assert "not valid! Must be > 0 - ignoring" in msg


def test_pytest_run_with_a_hostile_topology_is_a_usage_error(
    tmp_path: Path, pytester: pytest.Pytester
) -> None:
    # no INTERNALERROR, nothing started: the error names the file and line
    p = write(tmp_path, GOOD)
    p.write_bytes(GOOD.encode() + b"description: \xff\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess(f"--hal-topology={p}", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{p}:12: topology file is not UTF-8 text (byte 0xff)*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_duplicate_key_is_refused_not_silently_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace("    host: 10\n", "    host: 10\n    host: 11\n"))
    assert refused(p) == (
        f"{p}:7: nodes.lb1.host: invalid YAML: duplicate key 'host' (first at line 6)"
    )

"""`Node.read_files`: one exec of tar in the node, its archive read back into contents."""

from __future__ import annotations

import io
import ipaddress
import tarfile
from typing import Any

import pytest

from pytest_halab.errors import NodeCommandError
from pytest_halab.nodes import Node


class FakeContainer:
    def __init__(self, out: bytes, code: int = 0, lost: int = 0) -> None:
        self.out, self.code, self.lost = out, code, lost
        self.argv: list[str] = []
        self.calls = 0

    def exec_run(self, argv: list[str], **_kw: Any) -> tuple[int, bytes]:
        self.argv = argv
        self.calls += 1
        if self.calls <= self.lost:  # the engine lost the exec's output
            return 0, b""
        return self.code, self.out


def archive(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def node(container: FakeContainer) -> Node:
    return Node("lb1", "balancer", ipaddress.IPv4Address("10.0.0.2"), container)  # type: ignore[arg-type]


def test_contents_by_absolute_path_whatever_tar_named_them() -> None:
    # GNU tar -P keeps the leading slash; a tar that strips it names the same file
    c = FakeContainer(archive({"/var/log/a.jsonl": b'{"x": 1}\n', "run/b": b"\x00\xff"}))
    got = node(c).read_files(["/var/log/a.jsonl", "/run/b"])
    assert got == {"/var/log/a.jsonl": b'{"x": 1}\n', "/run/b": b"\x00\xff"}
    assert c.argv[-2:] == ["/var/log/a.jsonl", "/run/b"]  # paths as arguments, never in the script


def test_tar_exiting_non_zero_still_gives_what_it_read() -> None:
    # "file changed as we read it" exits 1 with the archive whole
    got = node(FakeContainer(archive({"/a": b"12"}), code=1)).read_files(["/a", "/gone"])
    assert got == {"/a": b"12"}


def test_nothing_asked_runs_nothing() -> None:
    c = FakeContainer(b"")
    assert node(c).read_files([]) == {} and c.argv == []


def test_output_that_is_no_archive_is_an_error_naming_the_node() -> None:
    with pytest.raises(NodeCommandError, match="lb1"):
        node(FakeContainer(b"sh: tar: not found\n" * 40, code=127)).read_files(["/a"])


def test_an_exec_whose_output_was_lost_is_asked_once_more() -> None:
    c = FakeContainer(archive({"/a": b"x"}), lost=1)
    assert node(c).read_files(["/a"]) == {"/a": b"x"} and c.calls == 2
    with pytest.raises(NodeCommandError, match="empty"):
        node(FakeContainer(archive({"/a": b"x"}), lost=2)).read_files(["/a"])

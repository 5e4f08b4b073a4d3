"""`Node.read_file`: `cat` through the node's command channel (run here by a local `sh`),
the engine's archive API only for a node whose channel cannot take it."""

from __future__ import annotations

import io
import ipaddress
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_halab.errors import NodeCommandError
from pytest_halab.nodes import Node


class LocalShell:
    """The channel's contract: (exit code, stdout and stderr merged), or None."""

    def __init__(self, available: bool = True) -> None:
        self.available = available
        self.argvs: list[list[str]] = []

    def run(self, argv: Sequence[str]) -> tuple[int, bytes] | None:
        self.argvs.append(list(argv))
        if not self.available:
            return None
        p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return p.returncode, p.stdout

    def builtin(self, _name: str, _arg: object) -> None:
        return None  # a halab-shell without builtins: the commands here (test_nodeshell: them)


class ArchiveContainer:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.asked: list[str] = []

    def get_archive(self, path: str) -> tuple[list[bytes], dict[str, object]]:
        self.asked.append(path)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
            info.size = len(self.files[path])
            tar.addfile(info, io.BytesIO(self.files[path]))
        return [buf.getvalue()], {}


def node(shell: LocalShell, container: object = None) -> Node:
    n = Node("lb1", "balancer", ipaddress.IPv4Address("10.0.0.2"), container)  # type: ignore[arg-type]
    n.shell = shell  # type: ignore[assignment]
    return n


def test_a_file_its_bytes_whole_and_a_link_followed(tmp_path: Path) -> None:
    data = bytes(range(256)) * 300 + b"\n-n\n"  # binary, bigger than a pipe's buffer
    f = tmp_path / "f.bin"
    f.write_bytes(data)
    (tmp_path / "link").symlink_to(f)
    n = node(LocalShell())
    assert n.read_file(str(f)) == data
    assert n.read_file(str(tmp_path / "link")) == data
    (tmp_path / "empty").write_bytes(b"")
    assert n.read_file(str(tmp_path / "empty")) == b""
    dash = tmp_path / "-n"
    dash.write_bytes(b"x")
    assert n.read_file(str(dash)) == b"x"


def test_missing_or_not_a_file_is_file_not_found_naming_node_and_path(tmp_path: Path) -> None:
    n = node(LocalShell())
    with pytest.raises(FileNotFoundError, match=r"^lb1:.*/gone$"):
        n.read_file(str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match="is not a regular file"):
        n.read_file(str(tmp_path))


def test_a_file_cat_cannot_read_is_a_command_error() -> None:
    shell = LocalShell()
    shell.run = lambda argv: (1, b"cat: /f: Permission denied\n")  # type: ignore[method-assign]
    with pytest.raises(NodeCommandError, match="Permission denied"):
        node(shell).read_file("/f")


def test_a_node_whose_channel_cannot_take_it_is_read_through_the_archive_api() -> None:
    c = ArchiveContainer({"/var/log/halab/vrrp.log": b"Stopped\n"})
    assert node(LocalShell(available=False), c).read_file("/var/log/halab/vrrp.log") == b"Stopped\n"
    assert c.asked == ["/var/log/halab/vrrp.log"]


class RootedShell(LocalShell):
    """Runs the channel's commands with `/` as a scratch directory (the archive's names
    are relative)."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def run(self, argv: Sequence[str]) -> tuple[int, bytes] | None:
        return super().run([a.replace("-C /", f"-C {self.root}") for a in argv])


class PutContainer:
    def __init__(self) -> None:
        self.archives: list[bytes] = []

    def put_archive(self, path: str, data: bytes) -> bool:
        self.archives.append(data)
        return True


def test_put_files_writes_each_file_with_its_mode_making_directories(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "old.conf").write_text("old, longer than the new one\n")
    c = PutContainer()
    n = node(RootedShell(tmp_path), c)
    n.put_files(
        {"/etc/old.conf": b"new\n", "/etc/halab/x/run.sh": b"#!/bin/sh\n"},
        modes={"/etc/halab/x/run.sh": 0o755},
    )
    assert (tmp_path / "etc" / "old.conf").read_bytes() == b"new\n"
    assert (tmp_path / "etc" / "old.conf").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "etc/halab/x/run.sh").stat().st_mode & 0o777 == 0o755
    assert c.archives == []  # all through the channel


def test_put_files_too_big_for_an_argument_or_without_a_channel_uses_the_archive_api(
    tmp_path: Path,
) -> None:
    c = PutContainer()
    n = node(RootedShell(tmp_path), c)
    n.put_files({"/big": b"x" * 200_000})
    assert not (tmp_path / "big").exists() and len(c.archives) == 1
    n2 = node(LocalShell(available=False), c)
    n2.put_files({"/small": b"x"})
    assert len(c.archives) == 2


def test_put_files_that_tar_refuses_is_a_command_error(tmp_path: Path) -> None:
    (tmp_path / "etc").write_text("a file where a directory should be")
    with pytest.raises(NodeCommandError, match=r"tar -x /etc/a\.conf"):
        node(RootedShell(tmp_path), PutContainer()).put_files({"/etc/a.conf": b"x"})

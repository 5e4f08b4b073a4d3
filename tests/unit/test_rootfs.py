"""pytest_halab.rootfs: which tool makes Debian's root file system, and that a failed or
half-made one never reaches the tar file the image build imports (stand-in tools on PATH)."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from pytest_halab import rootfs

REPO = Path(__file__).resolve().parents[2]


def _tool(bin_dir: Path, name: str, body: str) -> None:
    p = bin_dir / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only the stand-ins a test writes, and the tools they use."""
    d = tmp_path / "bin"
    d.mkdir()
    for real in ("tar", "mkdir", "cat", "sh"):
        (d / real).symlink_to(
            subprocess.check_output(["sh", "-c", f"command -v {real}"], text=True).strip()
        )
    monkeypatch.setenv("PATH", str(d))
    return d


# mmdebstrap's call: OPTIONS... SUITE TARGET MIRROR; it writes the tar at TARGET
MMDEBSTRAP = 'for a; do :; done; eval "out=\\${$(($# - 1))}"; echo "$*" >"$out.args"\n'


def test_mmdebstrap_is_preferred_and_writes_the_tar(bin_dir: Path, tmp_path: Path) -> None:
    _tool(bin_dir, "debootstrap", "exit 99\n")
    _tool(
        bin_dir,
        "mmdebstrap",
        MMDEBSTRAP + 'mkdir -p "$out.d/etc" && tar -C "$out.d" -cf "$out" .\n',
    )
    out = tmp_path / "build" / "rootfs.tar"
    assert rootfs.tool() == "mmdebstrap"
    assert rootfs.write_tar(out) == "mmdebstrap"
    with tarfile.open(out) as tf:
        assert "./etc" in tf.getnames()
    args = (out.parent / "rootfs.tar.part.args").read_text().split()
    assert args[:3] == ["--variant=minbase", "--format=tar", "--quiet"]
    assert args[3] == rootfs.SUITE and args[-1] == rootfs.host_mirror()


def test_debootstrap_makes_it_where_mmdebstrap_is_missing(bin_dir: Path, tmp_path: Path) -> None:
    # debootstrap's call: OPTIONS... SUITE TARGET MIRROR; it fills the directory TARGET
    _tool(bin_dir, "debootstrap", 'eval "d=\\${$(($# - 1))}"; mkdir -p "$d/usr/bin"\n')
    out = tmp_path / "rootfs.tar"
    assert rootfs.write_tar(out) == "debootstrap"
    with tarfile.open(out) as tf:
        assert "./usr/bin" in tf.getnames()


def test_a_failed_tool_leaves_no_tar_and_says_why(bin_dir: Path, tmp_path: Path) -> None:
    _tool(bin_dir, "mmdebstrap", MMDEBSTRAP + 'echo partial >"$out"; echo "E: 404" >&2; exit 25\n')
    out = tmp_path / "rootfs.tar"
    with pytest.raises(rootfs.RootfsError, match=r"mmdebstrap failed \(exit 25\)[\s\S]*E: 404"):
        rootfs.write_tar(out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["rootfs.tar.part.args"]


def test_no_tool_is_an_error_that_says_what_to_install(bin_dir: Path, tmp_path: Path) -> None:
    assert rootfs.tool() is None
    with pytest.raises(rootfs.RootfsError, match="apt-get install -y mmdebstrap"):
        rootfs.write_tar(tmp_path / "rootfs.tar")


def test_unless_imported_asks_the_engine_first(bin_dir: Path, tmp_path: Path) -> None:
    _tool(bin_dir, "mmdebstrap", MMDEBSTRAP + 'tar -cf "$out" -T /dev/null\n')
    # the engine has halab/rootfs: nothing is made
    _tool(bin_dir, "docker", f'[ "$3" = "{rootfs.REF}" ]\n')
    out = tmp_path / "rootfs.tar"
    assert rootfs.main(["--unless-imported", str(out)]) == 0
    assert not out.exists()
    # it has neither root image: made
    _tool(bin_dir, "docker", "exit 1\n")
    assert rootfs.main(["--unless-imported", str(out)]) == 0
    assert out.is_file()


def test_host_mirror_from_deb822_or_one_line_sources(tmp_path: Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n"
    )
    assert rootfs.host_mirror(tmp_path) == "http://mirror.example/debian"
    (d / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "deb [arch=amd64] http://other.example/debian bookworm main\n"
    )
    assert rootfs.host_mirror(tmp_path) == "http://other.example/debian"
    (tmp_path / "sources.list").unlink()
    assert rootfs.host_mirror(tmp_path) == "http://deb.debian.org/debian"


def test_it_runs_with_the_system_python_alone() -> None:
    """The quick start runs it before the venv exists: no third-party module on the way."""
    code = (
        "import sys; import pytest_halab.rootfs; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'docker', 'requests', 'yaml', 'rich', 'pydantic', 'pytest'}); print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"

"""Debian's root file system, the root of the lab's images on an engine that has no
``debian:bookworm-slim``: made from the host's Debian mirror as a tar file, which
``images.root_image`` imports as ``halab/rootfs:bookworm``.

mmdebstrap makes it where it is installed (22 s and 13 CPU-s here, a tar of 170 MB),
debootstrap otherwise (33 s and 27 CPU-s, 204 MB): mmdebstrap downloads through apt, runs dpkg
without fsync and leaves no package caches behind.

Standard library only: the quick start runs ``python3 -m pytest_halab.rootfs FILE`` with the
system's Python while the Docker engine and the project's venv are still being installed, so
that its half minute overlaps theirs; ``halab images build --rootfs-tar FILE`` then imports
the file.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

SUITE = "bookworm"
REPO = "halab/rootfs"
REF = f"{REPO}:{SUITE}"
CANDIDATE = f"debian:{SUITE}-slim"  # used instead when present: nothing to make
TOOLS = ("mmdebstrap", "debootstrap")  # preferred first


class RootfsError(Exception):
    """The root file system could not be made; the message says why."""


def host_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line sources)."""
    texts = []
    for f in [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]:
        if f.is_file():
            texts.append(f.read_text(errors="replace"))
    for text in texts:
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in m.group(1):
                return m.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, re.M):
            if "security" not in m.group(1):
                return m.group(1)
    return "http://deb.debian.org/debian"


def tool() -> str | None:
    """The tool that will make it here, or None: neither is installed."""
    return next((t for t in TOOLS if shutil.which(t) is not None), None)


def write_tar(out: Path, progress: Callable[[str], None] = lambda _m: None) -> str:
    """Make the root file system as the tar file ``out`` (written whole or not at all);
    returns the tool that made it. RootfsError: no tool, or the tool failed."""
    made_by = tool()
    if made_by is None:
        raise RootfsError(
            "neither mmdebstrap nor debootstrap is installed to make Debian's root file "
            "system: install one with `apt-get install -y mmdebstrap`"
        )
    mirror = host_mirror()
    progress(f"{made_by} --variant=minbase {SUITE} from {mirror}")
    out = out.resolve()  # the tools run in a directory of their own
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)  # what an interrupted run left
    with tempfile.TemporaryDirectory(prefix="halab-rootfs-") as tmp:
        if made_by == "mmdebstrap":
            options = ["--variant=minbase", "--format=tar", "--quiet"]
            steps = [["mmdebstrap", *options, SUITE, str(part), mirror]]
        else:
            root = Path(tmp) / "root"
            steps = [
                ["debootstrap", "--variant=minbase", SUITE, str(root), mirror],
                ["tar", "-C", str(root), "-c", "-f", str(part), "."],
            ]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=tmp)
            if proc.returncode != 0:
                part.unlink(missing_ok=True)
                raise RootfsError(
                    f"{argv[0]} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}"
                    f"\n{proc.stderr[-2000:]}"
                )
    os.replace(part, out)
    return made_by


def _imported() -> bool:
    """The engine of the environment (docker CLI) has a root image already."""
    if shutil.which("docker") is None:
        return False
    for ref in (CANDIDATE, REF):
        argv = ["docker", "image", "inspect", ref]
        try:
            if subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0:
                return True
        except subprocess.TimeoutExpired:  # an engine that does not answer: make it
            return False
    return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python3 -m pytest_halab.rootfs",
        description=f"Make Debian's root file system for the lab's images ({REF}) as a tar "
        "file, for `halab images build --rootfs-tar FILE`.",
    )
    p.add_argument("file", type=Path, help="the tar file to write")
    p.add_argument(
        "--unless-imported",
        action="store_true",
        help=f"do nothing when the Docker engine already has {REF} or {CANDIDATE}",
    )
    args = p.parse_args(argv)
    if args.unless_imported and _imported():
        print(f"rootfs: the engine has {REF} already")
        return 0
    try:
        made_by = write_tar(args.file, lambda m: print(f"rootfs: {m}", flush=True))
    except RootfsError as exc:
        print(f"rootfs: {exc}", file=sys.stderr)
        return 1
    print(f"rootfs: {args.file} made by {made_by}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

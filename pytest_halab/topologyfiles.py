"""Where topology files are found: by name in HALAB_TOPOLOGY_PATH, ./lab/topologies and the
project's own lab/topologies, or by path. Only paths: the file's reading and checks are
topology.py's."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TopologyError
from .yamldoc import short

__all__ = ["TOPOLOGY_DIRS_ENV", "available", "exists", "is_file", "resolve", "search_dirs"]

REPO_ROOT = Path(__file__).resolve().parent.parent
TOPOLOGY_DIRS_ENV = "HALAB_TOPOLOGY_PATH"
MAX_NAME = 4096  # a topology name or path, in characters


def search_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get(TOPOLOGY_DIRS_ENV, "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "lab" / "topologies", REPO_ROOT / "lab" / "topologies"]
    return dirs


def available() -> list[str]:
    names: set[str] = set()
    for d in search_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def resolve(name_or_path: str) -> Path:
    """A topology by name (searched in HALAB_TOPOLOGY_PATH, ./lab/topologies, the project's)
    or by path to a .yaml file."""
    if "\0" in name_or_path or len(name_or_path) > MAX_NAME:
        raise TopologyError(f"{short(name_or_path)}: not a topology name or path")
    p = Path(name_or_path)
    if p.suffix in {".yaml", ".yml"} or os.sep in name_or_path:
        if not is_file(p):
            why = " (there is something there, but not a regular file)" if exists(p) else ""
            raise TopologyError(f"{name_or_path}: no such topology file{why}")
        return p.resolve()
    for d in search_dirs():
        cand = d / f"{name_or_path}.yaml"
        if is_file(cand):
            return cand.resolve()
    raise TopologyError(
        f"unknown topology {name_or_path!r}; available: {', '.join(available()) or 'none'}"
    )


def exists(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):
        return False


def is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except (OSError, ValueError):  # a name too long, a NUL...
        return False

"""The ``lab`` marker: which lab a test uses, said where collection can read it.

``@pytest.mark.lab`` alone says that a test needs Docker. With arguments it names the
topologies the test's ``lab_factory`` calls ask for (shipped names, or paths to .yaml files,
relative to the test's own file or absolute), and ``vrrp=ENGINE`` the engine when the test
names it in its code rather than as a parameter::

    pytestmark = pytest.mark.lab("nginx_master_backup")

    @pytest.mark.lab("topologies/flaps_tracked.yaml")
    def test_every_flap_moves_the_vip(...): ...

The closest marker with arguments counts (a test's own before its class's and its module's).
Under pytest-xdist the tests of one lab then go to one worker, whichever modules they are in
(``distribute.lab_key``): without a marker, collection cannot see the topology a test passes
to ``lab_factory``, and groups such tests by module, so each module builds its own lab.

A marker is checked while its test runs: a lab asked for from a topology the marker does not
name is a ``LabMarkWarning`` (the test itself goes on), and a marker naming no topology fails
the test's setup with the reason.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import engines
from .errors import LabMarkWarning, TopologyError

MARKER = "lab"


@dataclass(frozen=True)
class LabMark:
    """What a test's marker says: its topologies (as written) and the engine, if given."""

    topologies: tuple[str, ...]
    vrrp: str | None = None


def of(item: pytest.Item) -> LabMark | None:
    """The closest ``lab`` marker with arguments; None: the test names no lab."""
    for mark in item.iter_markers(MARKER):
        if mark.args:
            vrrp = mark.kwargs.get("vrrp")
            return LabMark(tuple(str(a) for a in mark.args), None if vrrp is None else str(vrrp))
    return None


def resolve(item: pytest.Item, written: str) -> Path:
    """A marker's topology as ``topology.resolve`` finds it, a relative path tried beside
    the test's file first. TopologyError: no such topology."""
    from . import topology  # only for a marked test

    p = Path(written)
    if not p.is_absolute() and (p.suffix in {".yaml", ".yml"} or os.sep in written):
        beside = Path(item.path).parent / p
        if beside.is_file():
            return beside.resolve()
    return topology.resolve(written)


@functools.cache
def default_engine(path: Path) -> str:
    """The topology's own engine (its ``vrrp_engine``), read without validating the rest of
    the file: grouping needs no more, and a bad file is the lab start's error to report."""
    from . import yamldoc

    try:
        _root, data = yamldoc.parse_yaml(path, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, TopologyError):
        return engines.DEFAULT
    value = data.get("vrrp_engine") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value in engines.names() else engines.DEFAULT


class LabMarkCheck:
    """Registered by the plugin: checks each marked test's lab requests against its marker."""

    def __init__(self) -> None:
        self._nodeid = ""
        self._mark: LabMark | None = None
        self._paths: frozenset[Path] = frozenset()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Before the test's fixtures (which may start its lab) are set up."""
        self._nodeid, self._mark, self._paths = item.nodeid, of(item), frozenset()
        if self._mark is None:
            return
        paths = set()
        for written in self._mark.topologies:
            try:
                paths.add(resolve(item, written))
            except TopologyError as exc:
                self._mark = None
                pytest.fail(f"@pytest.mark.lab({written!r}): {exc}", pytrace=False)
        self._paths = frozenset(paths)

    @pytest.hookimpl
    def pytest_runtest_logfinish(self) -> None:
        self._mark = None

    def requested(self, path: Path) -> None:
        """A lab of the topology at ``path`` was asked for (``HalabRun.get_lab``)."""
        if self._mark is None or path.resolve() in self._paths:
            return
        named = ", ".join(repr(t) for t in self._mark.topologies)
        warnings.warn(
            LabMarkWarning(
                f"{self._nodeid} asks for a lab of {path}, which its @pytest.mark.lab({named}) "
                "does not name: under pytest-xdist it is grouped with the other lab's tests"
            ),
            stacklevel=3,
        )

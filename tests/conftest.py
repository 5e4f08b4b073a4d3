"""Which tests need Docker: exactly those marked `lab`.

A test needs a Docker engine when it starts a lab: every test in tests/lab (marked by
tests/lab/conftest.py), every test that asks for one of the plugin's lab fixtures (marked
here), and a pytester test whose inner session starts a lab (marked by hand: the inner
session's fixtures cannot be seen from here). So ``pytest -m "not lab"`` runs without one.

To keep it so, a test without the marker runs with DOCKER_HOST pointing at a socket nobody
listens on: a test that needs Docker but lacks the marker fails everywhere, not only on a
machine without an engine.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

LAB_FIXTURES = frozenset({"lab", "lab_factory", "hal", "hal_scenario", "faults"})
NO_DOCKER = "unix:///nonexistent/halab-tests-without-the-lab-marker.sock"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LAB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


@pytest.fixture(autouse=True)
def _docker_only_for_lab_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("lab") is None:
        monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)

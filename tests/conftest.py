"""Which tests need Docker: exactly those marked `lab`.

A test needs a Docker engine when it starts a lab: every test in tests/lab (marked by
tests/lab/conftest.py) and every pytester test whose inner session starts one (marked by
hand). So ``pytest -m "not lab"`` runs without an engine.

To keep it so, a test without the marker runs with DOCKER_HOST pointing at a socket nobody
listens on: a test that needs Docker but lacks the marker fails everywhere, not only on a
machine without an engine, and its report says why. A test with the marker gets DOCKER_HOST
set to the engine its pytest-xdist worker is bound to (when --hal-docker-host names some).

The inner pytest sessions that pytester tests start go without hypothesis's pytest plugin:
no inner test uses it, and loading it imports all of hypothesis, 1.2 s of a 1.8 s start of
pytest here (`python -X importtime`); a user's session without hypothesis starts so too.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

pytest_plugins = ["pytester"]

NO_DOCKER = "unix:///nonexistent/halab-tests-without-the-lab-marker.sock"


@pytest.fixture(autouse=True)
def _docker_only_for_lab_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # it clears PYTEST_ADDOPTS when made
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    if request.node.get_closest_marker("lab") is None:
        monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
        return
    # A lab test that runs `halab` or an inner pytest session reaches the engine this
    # worker is bound to (--hal-docker-host), as the lab fixtures do.
    host = request.getfixturevalue("halab_docker")
    if host.url is not None:
        monkeypatch.setenv("DOCKER_HOST", host.url)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and item.get_closest_marker("lab") is None and "Docker" in report.longreprtext:
        report.sections.append(
            (
                "no Docker without the lab marker",
                f"DOCKER_HOST={NO_DOCKER}: a test that starts a lab needs @pytest.mark.lab "
                "(tests/conftest.py)",
            )
        )
    return report

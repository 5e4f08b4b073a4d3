"""ssh:// engines: the ssh command each connection runs."""

from __future__ import annotations

import pytest

from pytest_halab.sshtransport import ssh_argv

DIAL = "docker system dial-stdio"


@pytest.mark.parametrize(
    ("url", "argv"),
    [
        ("ssh://box", ["ssh", "--", "box", DIAL]),  # user and port from ~/.ssh/config
        ("ssh://ops@box", ["ssh", "-l", "ops", "--", "box", DIAL]),
        ("ssh://ops@box:2222", ["ssh", "-l", "ops", "-p", "2222", "--", "box", DIAL]),
        ("ssh://halab-ssh-engine:2222/", ["ssh", "-p", "2222", "--", "halab-ssh-engine", DIAL]),
    ],
)
def test_the_url_becomes_the_ssh_command(url: str, argv: list[str]) -> None:
    assert ssh_argv(url) == argv

"""DockerHost.run on a remote engine, without one: an exec whose output stream comes garbled
(docker's SDK raises ValueError: "N is not a valid stream") is a HalabError naming the
engine, or, for a command that only reads (``again``), is run once more."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import HalabError


class Helper:
    """The resident helper container: its execs garble the first ``garbled`` outputs."""

    def __init__(self, garbled: int) -> None:
        self.garbled = garbled
        self.runs: list[list[str]] = []

    def exec_run(self, argv: list[str], demux: bool = False) -> tuple[int, tuple[bytes, bytes]]:
        self.runs.append(argv)
        if len(self.runs) <= self.garbled:
            raise ValueError("49 is not a valid stream")
        return 0, (b"-P INPUT ACCEPT\n", b"")


def remote(helper: Helper, monkeypatch: pytest.MonkeyPatch) -> DockerHost:
    host = DockerHost("tcp://engine.example:2375")
    monkeypatch.setattr(host, "_resident", lambda: helper)
    return host


def test_a_reading_command_is_run_again(monkeypatch: pytest.MonkeyPatch) -> None:
    helper = Helper(garbled=1)
    res = remote(helper, monkeypatch).run(["iptables", "-S"], again=True)
    assert res.stdout == "-P INPUT ACCEPT\n" and len(helper.runs) == 2


def test_any_other_command_is_an_error_naming_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    helper = Helper(garbled=1)
    with pytest.raises(HalabError, match=r"engine.example.*kill came garbled"):
        remote(helper, monkeypatch).run(["kill", "-KILL", "1234"])
    assert len(helper.runs) == 1  # never twice


def test_garbled_twice_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    helper: Any = Helper(garbled=2)
    with pytest.raises(HalabError, match="garbled"):
        remote(helper, monkeypatch).run(["iptables", "-S"], again=True)
    assert len(helper.runs) == 2

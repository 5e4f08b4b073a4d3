"""Removing a lab's network when the engine still lists an endpoint of a removed container."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker.errors
import pytest

from pytest_halab import sweep


class _Net:
    name = "halab-x"

    def __init__(self, busy_times: int, error: str = "has active endpoints") -> None:
        self.busy_times = busy_times
        self.error = error
        self.attrs: dict[str, Any] = {"Containers": {}}
        self.disconnected: list[str] = []
        self.removed = False

    def remove(self) -> None:
        if self.busy_times:
            self.busy_times -= 1
            raise docker.errors.APIError(f"error while removing network: {self.error}")
        self.removed = True

    def reload(self) -> None:
        self.attrs = {"Containers": {"deadbeef": {"Name": "halab-x-lb1"}}}

    def disconnect(self, container: str, force: bool = False) -> None:
        assert force
        self.disconnected.append(container)


def test_a_stale_endpoint_is_disconnected_and_the_network_removed() -> None:
    net = _Net(busy_times=2)
    sweep._remove_network(net)  # type: ignore[arg-type]
    assert net.removed and net.disconnected == ["deadbeef", "deadbeef"]


def test_other_engine_errors_are_not_swallowed() -> None:
    net = _Net(busy_times=1, error="permission denied")
    with pytest.raises(docker.errors.APIError, match="permission denied"):
        sweep._remove_network(net)  # type: ignore[arg-type]


def test_test_file_basenames_are_unique() -> None:
    """pytest's default import mode imports test files by basename: two alike break the
    collection of the second (tests/lab/test_mail.py beside tests/unit/test_mail.py did)."""
    tests = Path(__file__).resolve().parents[1]
    seen: dict[str, Path] = {}
    for f in sorted(tests.rglob("test_*.py")):
        if "topologies" in f.parts:
            continue
        assert f.name not in seen, f"{f} and {seen[f.name]} share a basename"
        seen[f.name] = f


# ------------------------------------------------------------------ a lab being built


class _Listing:
    """An engine on which another process makes lab ``hlnew`` while a sweep lists: its
    network and host rule appear right after the host rules are listed... or before."""

    def __init__(self) -> None:
        self.networks_made = False
        self.containers = self
        self.networks = self

    def list(self, **kw: Any) -> list[Any]:
        if "all" in kw:  # containers: none made yet
            return []
        labels = {"io.halab.lab": "hlnew", "io.halab.owner": "elsewhere:1:1"}
        return [type("N", (), {"attrs": {"Labels": labels}})()] if self.networks_made else []


def test_a_lab_built_during_the_listing_is_never_a_bare_host_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _Listing()

    def rules(_host: object) -> list[tuple[str, str]]:
        # the other process makes network then rule; whenever rules are listed after its
        # rule exists, its network exists too
        engine.networks_made = True
        return [("hlnew", "-A DOCKER-USER ... io.halab.lab=hlnew")]

    monkeypatch.setattr(sweep.hostrules, "labelled", rules)
    host = type("H", (), {"client": lambda self: engine})()
    found = sweep.lab_ids(host)  # type: ignore[arg-type]
    assert found["hlnew"].get("io.halab.owner") == "elsewhere:1:1"


# ------------------------------------------------------------------ halab clean


def test_clean_reports_a_lab_the_engine_keeps_and_removes_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A network the engine will not let go (Docker 20.10, "has active endpoints" with no
    container left) must not stop `halab clean` from removing every other lab."""
    labs = {"hlstuck": {}, "hlgone": {}, "hlbusy": {"io.halab.owner": "me"}}
    removed: list[str] = []

    def remove(_host: object, lab_id: str) -> None:
        if lab_id == "hlstuck":
            raise docker.errors.APIError("error while removing network: has active endpoints")
        removed.append(lab_id)

    monkeypatch.setattr(sweep, "lab_ids", lambda _host: labs)
    monkeypatch.setattr(sweep, "remove_lab", remove)
    monkeypatch.setattr(sweep, "owner_alive", lambda owner: owner == "me")
    monkeypatch.setattr(sweep, "_helpers", lambda _host, live_too: [])
    done = sweep.clean(object())  # type: ignore[arg-type]
    assert done.removed == ["hlgone"] == removed
    assert done.spared == ["hlbusy"]
    assert list(done.failed) == ["hlstuck"] and "active endpoints" in done.failed["hlstuck"]


def test_a_network_the_engine_keeps_still_lets_its_host_rules_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = _Net(busy_times=1, error="permission denied")
    ruled: list[set[str]] = []
    client = type(
        "C",
        (),
        {
            "containers": type("L", (), {"list": lambda self, **kw: []})(),
            "networks": type("L", (), {"list": lambda self, **kw: [net]})(),
        },
    )()
    host = type("H", (), {"client": lambda self: client})()
    monkeypatch.setattr(sweep.hostrules, "remove_labelled", lambda _h, ids: ruled.append(ids))
    with pytest.raises(docker.errors.APIError):
        sweep.remove_lab(host, "hlx")  # type: ignore[arg-type]
    assert ruled == [{"hlx"}]


def test_halab_clean_names_what_it_could_not_remove_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_halab import cli

    done = sweep.Cleaned(removed=["hlgone"], failed={"hlstuck": "has active endpoints"})
    monkeypatch.setattr(sweep, "clean", lambda _host, in_use_too: done)
    monkeypatch.setattr(cli, "docker_host", lambda: object())
    assert cli.main(["clean"]) == 1
    out, err = capsys.readouterr()
    assert "removed 1 lab(s): hlgone" in out
    assert "lab hlstuck could not be removed: has active endpoints" in err
    assert "restarting that dockerd" in err


def test_a_network_kept_with_no_container_is_said_to_be_stuck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """moby/moby#42119: "has active endpoints" while no container is on the network, for
    as long as that dockerd runs. Said as such (not an engine error): the lab's stop warns."""

    class Stuck(_Net):
        def reload(self) -> None:
            self.attrs = {"Containers": {}}

    monkeypatch.setattr(sweep, "NETWORK_REMOVE_S", 0.3)
    net = Stuck(busy_times=10**6)
    with pytest.raises(sweep.NetworkStuck, match=r"keeps network halab-x .*moby/moby#42119"):
        sweep._remove_network(net)  # type: ignore[arg-type]
    # one that a container is still on: the engine's error as it is
    busy = _Net(busy_times=10**6)
    busy.disconnect = lambda container, force=False: None  # type: ignore[method-assign]
    with pytest.raises(docker.errors.APIError) as caught:
        sweep._remove_network(busy)  # type: ignore[arg-type]
    assert not isinstance(caught.value, sweep.NetworkStuck)

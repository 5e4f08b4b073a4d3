"""containerlist: one list call, its answer read as it is (no inspect per container)."""

from __future__ import annotations

from typing import Any

from docker.models.containers import Container

from pytest_halab.containerlist import labels_of, listed, macs_of

# one entry of the engine's GET /containers/json, as Docker 20.10 answers it (trimmed)
LISTED = {
    "Id": "ce4995288c3d",
    "Names": ["/halab-hl1-lb1"],
    "Labels": {"io.halab.lab": "hl1", "io.halab.node": "lb1"},
    "State": "paused",
    "NetworkSettings": {
        "Networks": {"halab-hl1": {"IPAddress": "10.213.1.10", "MacAddress": "02:42:0A:D5:01:0A"}}
    },
}


class _Api:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def containers(self, **kw: Any) -> list[dict[str, Any]]:
        self.calls.append(("list", kw))
        return [dict(LISTED)]

    def inspect_container(self, cid: str) -> dict[str, Any]:  # pragma: no cover - must not run
        self.calls.append(("inspect", {"id": cid}))
        raise AssertionError("listed() inspected a container")


def test_listed_asks_the_list_once_and_inspects_nothing() -> None:
    import docker

    client = docker.DockerClient.__new__(docker.DockerClient)
    client.api = _Api()  # type: ignore[assignment]
    got = listed(client, {"label": "io.halab.lab=hl1"})
    assert [c.id for c in got] == ["ce4995288c3d"]
    assert got[0].status == "paused"
    assert labels_of(got[0]) == {"io.halab.lab": "hl1", "io.halab.node": "lb1"}
    assert macs_of(got[0]) == ["02:42:0a:d5:01:0a"]
    (call,) = client.api.calls  # type: ignore[attr-defined]
    assert call[0] == "list" and call[1]["all"] is True
    assert call[1]["filters"] == {"label": "io.halab.lab=hl1"}


def test_an_inspected_container_is_read_the_same_way() -> None:
    inspected = Container(
        attrs={
            "Id": "ce4995288c3d",
            "Config": {"Labels": {"io.halab.lab": "hl1"}},
            "State": {"Status": "running"},
            "NetworkSettings": {"Networks": {"a": {"MacAddress": ""}, "b": {"MacAddress": "AA"}}},
        }
    )
    assert labels_of(inspected) == {"io.halab.lab": "hl1"}
    assert macs_of(inspected) == ["aa"]
    assert labels_of(Container(attrs={"Id": "x", "Labels": None})) == {}
    assert macs_of(Container(attrs={"Id": "x"})) == []

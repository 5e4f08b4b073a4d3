"""The engine's list of containers in one call, as the list answers it.

The docker SDK's ``containers.list`` asks the engine for the list and then inspects every
container in it, one ``docker inspect`` each. Each lab start sweeps its engine for stale
labs by listing every labelled container there: under pytest-xdist, with eight workers'
labs on two engines, that was 2307 of the 5788 inspects of a suite run (counted by
wrapping ``requests.Session.request``); the wake of a lab after each test and the first
measure of each test inspected every node too (1252 and 463; the wake now reads
``containerstates``). What the sweep and the measure read, a container's id, labels, state
and MAC addresses, is in the list's own answer.

``listed`` returns the SDK's container models made from that answer alone (its
``sparse`` mode): ``id``, ``status`` and ``remove()`` work as usual, the labels are read
with ``labels_of`` (the model's ``labels`` needs an inspect's data), and ``reload()``
gives the full model when one is needed.
"""

from __future__ import annotations

from typing import Any

import docker
from docker.models.containers import Container


def listed(client: docker.DockerClient, filters: dict[str, Any]) -> list[Container]:
    """Every container (running or not) the filters match, from one list call."""
    return list(client.containers.list(all=True, sparse=True, filters=filters))


def labels_of(container: Container) -> dict[str, str]:
    """A listed container's labels (the list's ``Labels``; an inspected one's
    ``Config.Labels``)."""
    attrs = container.attrs
    found = attrs.get("Labels")
    if found is None:
        found = (attrs.get("Config") or {}).get("Labels")
    return dict(found or {})


def macs_of(container: Container) -> list[str]:
    """A listed (or inspected) container's MAC addresses, one per network it is on, in
    lower case."""
    nets = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    return [str(n["MacAddress"]).lower() for n in nets.values() if n.get("MacAddress")]

"""Finding and removing labs: by id, stale ones (their owner died), or every one.

Labs are found by their labels, on containers, networks and host rules alike, so a lab
half-made by a crashed process is found as well as a whole one.
"""

from __future__ import annotations

import threading
from contextlib import suppress

import docker
import docker.errors
from docker.models.containers import Container

from . import hostrules
from .labels import L_KEEP, L_LAB, L_OWNER, owner_alive
from .nodes import parallel

_sweep_lock = threading.Lock()


def lab_ids(client: docker.DockerClient) -> dict[str, dict[str, str]]:
    """Every lab with a labelled container or network: id -> labels of one of its resources."""
    found: dict[str, dict[str, str]] = {}
    for c in client.containers.list(all=True, filters={"label": L_LAB}):
        found.setdefault(c.labels[L_LAB], dict(c.labels))
    for n in client.networks.list(filters={"label": L_LAB}):
        found.setdefault(n.attrs["Labels"][L_LAB], dict(n.attrs["Labels"]))
    for lab_id, _line in hostrules.labelled():
        found.setdefault(lab_id, {})
    return found


def remove_lab(client: docker.DockerClient, lab_id: str) -> None:
    """Remove everything labelled with this lab id: containers, network, host rules."""
    flt = {"label": f"{L_LAB}={lab_id}"}
    containers = client.containers.list(all=True, filters=flt)

    def rm(c: Container) -> None:
        with suppress(docker.errors.NotFound):
            c.remove(force=True, v=True)

    parallel(rm, containers)
    for net in client.networks.list(filters=flt):
        with suppress(docker.errors.NotFound):
            net.remove()
    hostrules.remove_labelled({lab_id})


def sweep_stale(client: docker.DockerClient) -> list[str]:
    """Remove labs whose owner process is gone (unless kept), and labs whose containers all
    stopped (an engine restart brings a lab back "exited") unless a live process is still
    building them (containers "created", not started yet: another `halab up` at work)."""
    removed = []
    with _sweep_lock:
        for lab_id, labels in lab_ids(client).items():
            alive = owner_alive(labels.get(L_OWNER, ""))
            containers = client.containers.list(all=True, filters={"label": f"{L_LAB}={lab_id}"})
            states = {c.status for c in containers}
            all_down = bool(containers) and "running" not in states
            being_built = alive and "created" in states
            orphan = not labels  # only a host rule is left
            dead = labels.get(L_KEEP) != "1" and not alive
            if orphan or dead or (all_down and not being_built):
                remove_lab(client, lab_id)
                removed.append(lab_id)
    return removed


def clean(client: docker.DockerClient) -> list[str]:
    """Remove every resource the project labelled, from any run."""
    ids = list(lab_ids(client))
    for lab_id in ids:
        remove_lab(client, lab_id)
    hostrules.remove_labelled()
    return ids

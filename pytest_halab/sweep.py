"""Finding and removing labs: by id, stale ones (their owner died), or every one.

Labs are found by their labels, on containers, networks and host rules alike, so a lab
half-made by a crashed process is found as well as a whole one. Everything here works on
one Docker engine (a ``DockerHost``); its host rules are those that name that engine.
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field

import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from . import hostrules
from .containerlist import labels_of, listed
from .dockerhost import DockerHost
from .labels import L_HELPER, L_KEEP, L_LAB, L_OWNER, owner_alive

_sweep_lock = threading.Lock()
NETWORK_REMOVE_S = 10.0


def in_use(labels: dict[str, str]) -> bool:
    """Whether a lab (its labels; none: only a host rule is left) belongs to a live process:
    a running test session, bench or `halab up` building it."""
    return bool(labels) and owner_alive(labels.get(L_OWNER, ""))


def lab_ids(host: DockerHost) -> dict[str, dict[str, str]]:
    """Every lab with a labelled container, network or host rule: id -> labels of one of
    its resources ({} for a lab of which only a host rule is left).

    Listed in the reverse of the order a lab is made in (network, host rule, containers),
    so that a lab another process makes meanwhile is never seen as a bare host rule: its
    rule listed means its network existed before the networks are listed. (Listed the
    other way, a sweep under pytest-xdist took a lab being built for an orphan rule and
    removed its containers as they started.)"""
    client = host.client()
    found: dict[str, dict[str, str]] = {lab_id: {} for lab_id, _line in hostrules.labelled(host)}
    labelled = [
        *(n.attrs["Labels"] for n in client.networks.list(filters={"label": L_LAB})),
        *(labels_of(c) for c in listed(client, {"label": L_LAB})),
    ]
    for labels in labelled:
        if not found.get(labels[L_LAB]):
            found[labels[L_LAB]] = dict(labels)
    return found


def remove_lab(host: DockerHost, lab_id: str) -> None:
    """Remove everything labelled with this lab id: containers, network, host rules."""
    client = host.client()
    flt = {"label": f"{L_LAB}={lab_id}"}
    containers = listed(client, flt)

    def rm(c: Container) -> None:
        try:
            c.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # Another process removes it at this moment (two sweeps of one stale lab, e.g.
            # pytest-xdist workers starting labs together): the engine finishes the job.
            if exc.status_code != 409 or "already in progress" not in str(exc):
                raise

    # One at a time: Docker 20.10 deadlocks when containers of one network leave it at
    # once. A container's exit takes the network's lock, then the controller's (service
    # records), while the engine's watch loop, handling another endpoint's removal, holds
    # the controller's and asks for the network's (libnetwork store.go, processEndpointDelete
    # calling n.ID() under c.Lock(); fixed upstream later). Seen here once: every call to
    # the second engine that touched a network hung (its goroutine dump shows the two).
    # In turn costs nothing measurable: `halab down` of nginx_master_backup (5 containers)
    # took 0.25-0.36 s either way (3 runs each).
    for c in containers:
        rm(c)
    try:
        for net in client.networks.list(filters=flt):
            _remove_network(net)
    finally:  # a network the engine keeps still lets its host rules go
        hostrules.remove_labelled(host, {lab_id})


class NetworkStuck(docker.errors.APIError):  # type: ignore[misc]
    """The engine keeps a lab's network that no container is on: it says "has active
    endpoints" for an endpoint count its store got wrong (Docker 20.10, moby/moby#42119).
    Only restarting that dockerd frees it; everything else of the lab is gone."""


def _remove_network(net: Network) -> None:
    """Remove a lab's network once its containers are gone. The engine may still list an
    endpoint of a container it has just removed ("has active endpoints": seen in CI on the
    second engine, evicting a lab under xdist): such endpoints are disconnected by force
    and the removal tried again, for at most ``NETWORK_REMOVE_S``."""

    deadline = time.monotonic() + NETWORK_REMOVE_S
    while True:
        try:
            net.remove()
            return
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if "active endpoints" not in str(exc):
                raise
            if time.monotonic() > deadline:
                with suppress(docker.errors.NotFound):
                    net.reload()
                if net.attrs.get("Containers"):
                    raise
                raise NetworkStuck(
                    f"the engine keeps network {net.name} of a removed lab: it says "
                    f'"has active endpoints" with no container on it (Docker 20.10, '
                    "moby/moby#42119). Restart that dockerd, then `halab clean` removes it."
                ) from exc
        with suppress(docker.errors.NotFound):
            net.reload()
            for endpoint in list((net.attrs.get("Containers") or {}).keys()):
                with suppress(docker.errors.APIError):
                    net.disconnect(endpoint, force=True)
        time.sleep(0.2)


def _helpers(host: DockerHost, *, live_too: bool) -> list[Container]:
    found = listed(host.client(), {"label": L_HELPER})
    return [c for c in found if live_too or not owner_alive(labels_of(c).get(L_OWNER, ""))]


def sweep_stale(host: DockerHost) -> list[str]:
    """Remove labs whose owner process is gone (unless kept), and kept labs whose owner is
    gone and whose containers all stopped (an engine restart brings a lab back "exited").
    A lab whose owner runs is never touched, whatever state its containers are in: that
    process is building it, stopping it, or has a test crash its nodes (under pytest-xdist
    several workers share an engine, and each sweeps it when it starts a lab).
    Helper containers whose owner is gone go too."""
    removed = []
    with _sweep_lock:
        client = host.client()
        for lab_id, labels in lab_ids(host).items():
            orphan = not labels  # only a host rule is left
            if in_use(labels):
                continue
            kept = labels.get(L_KEEP) == "1"
            if kept and not orphan:  # a kept lab goes once all its containers stopped
                containers = listed(client, {"label": f"{L_LAB}={lab_id}"})
                if not containers or any(c.status == "running" for c in containers):
                    continue
            try:
                remove_lab(host, lab_id)
            except docker.errors.APIError:
                # Best effort: what could not go now (its network still in use by a
                # container another sweep is removing) goes at the next sweep.
                continue
            removed.append(lab_id)
        for c in _helpers(host, live_too=False):
            # another worker's sweep may be removing the same one ("already in progress")
            with suppress(docker.errors.APIError):
                c.remove(force=True)
    return removed


@dataclass
class Cleaned:
    """What ``clean`` did: labs removed, labs spared (in use), and labs the engine would
    not let go, each with the engine's reason (the others were removed all the same)."""

    removed: list[str] = field(default_factory=list)
    spared: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def clean(host: DockerHost, *, in_use_too: bool = False) -> Cleaned:
    """Remove the project's labs on this engine: every lab no live process uses (kept ones
    included), or with ``in_use_too`` every lab at all. A lab another running session or
    bench owns is spared unless asked. A lab the engine refuses to remove (a network it
    says still has active endpoints when no container is left: seen with Docker 20.10,
    where only restarting that dockerd freed it) is reported, and the others still go."""
    done = Cleaned()
    for lab_id, labels in lab_ids(host).items():
        if not in_use_too and in_use(labels):
            done.spared.append(lab_id)
            continue
        try:
            remove_lab(host, lab_id)
        except docker.errors.APIError as exc:
            done.failed[lab_id] = str(getattr(exc, "explanation", None) or exc)
            continue
        done.removed.append(lab_id)
    for c in _helpers(host, live_too=in_use_too):
        with suppress(docker.errors.APIError):
            c.remove(force=True)
    if in_use_too:
        hostrules.remove_labelled(host)
    return done

"""A lab on an engine reached over ``ssh://``, as a user reaches a remote engine: the docker
SDK runs the ssh command (``docker system dial-stdio`` at the other end), and everything the
lab does on the engine's host goes through a helper container there.

``scripts/ensure-docker --ssh`` (run by the quick start) puts the second engine behind an
sshd on 127.0.0.1:2222, reached as ``ssh://halab-ssh-engine:2222`` through a block of
``~/.ssh/config``; ``HALAB_TEST_SSH_ENGINE`` names another.
"""

from __future__ import annotations

import os

from pytest_halab import hostrules, topology
from pytest_halab.dockerhost import DockerHost
from pytest_halab.lab import Lab
from pytest_halab.labels import L_HELPER, L_LAB, L_OWNER, owner
from pytest_halab.scenario import Scenario

SSH_ENGINE = os.environ.get("HALAB_TEST_SSH_ENGINE", "ssh://halab-ssh-engine:2222")


def left_behind(host: DockerHost, lab_id: str) -> dict[str, int]:
    client = host.client()
    flt = {"label": f"{L_LAB}={lab_id}"}
    return {
        "containers": len(client.containers.list(all=True, ignore_removed=True, filters=flt)),
        "networks": len(client.networks.list(filters=flt)),
        "rules": sum(1 for i, _ in hostrules.labelled(host) if i == lab_id),  # via the helper
    }


def our_helpers(host: DockerHost) -> set[str]:
    # a helper of another process may be removed between the listing and its inspect
    found = host.client().containers.list(
        all=True, ignore_removed=True, filters={"label": L_HELPER}
    )
    return {c.id for c in found if c.labels.get(L_OWNER) == owner()}


def test_a_lab_on_an_engine_reached_over_ssh_fails_over_and_leaves_nothing() -> None:
    host = DockerHost(SSH_ENGINE, source="HALAB_TEST_SSH_ENGINE or the test's default")
    # this process may have a helper there already (its worker's engine is the same one)
    before = our_helpers(host)
    try:
        assert not host.local and host.engine_id  # answers, else: run scripts/ensure-docker --ssh
        with Lab(topology.load("nginx_master_backup"), docker_host=host) as lab:
            assert lab.vip_holders() == {"VI_1": ["lb1"]}
            with Scenario(lab) as hal:
                fault = hal.faults.crash_node("lb1")
                # the SIGKILL to the container's init came from a helper on the engine's host
                assert f"by a helper container on {host.name}" in fault.detail, fault.detail
                m = hal.failover("VI_1", fault, to="lb2")
                assert m.new_holder == "lb2" and not m.split_brain
                # lb1's address went with the kill: its removal is stamped with the helper's
                # moment of the kill, not when the answer came back over ssh (a CI run heard
                # it after lb2 had taken the VIP: a split brain that never was)
                gone = hal.timeline().first(
                    lambda e: e.node == "lb1" and e.data.get("reason") == "container killed"
                )
                assert gone is not None and gone.ts == fault.injected_at, (gone, fault)
        assert left_behind(host, lab.lab_id) == {"containers": 0, "networks": 0, "rules": 0}
    finally:
        host.close()
    assert our_helpers(host) - before == set()

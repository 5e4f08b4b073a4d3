"""Nothing leaks: teardown, a failed start, and `halab clean` after a SIGKILLed run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

from pytest_halab import hostrules, topology
from pytest_halab.cli import main as halab_main
from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import LabStartError
from pytest_halab.lab import Lab
from pytest_halab.labels import L_LAB, L_OWNER, owner, owner_alive
from pytest_halab.sweep import sweep_stale
from pytest_halab.timeline import EventKind

TOPOLOGIES = Path(__file__).resolve().parents[2] / "lab" / "topologies"


def resources(host: DockerHost, lab_id: str) -> dict[str, int]:
    flt = {"label": f"{L_LAB}={lab_id}"}
    client = host.client()
    return {
        "containers": len(client.containers.list(all=True, ignore_removed=True, filters=flt)),
        "networks": len(client.networks.list(filters=flt)),
        "rules": sum(1 for i, _ in hostrules.labelled(host) if i == lab_id),
    }


def rules_of_a_lab(host: DockerHost) -> int:
    """One rule in DOCKER-USER, one in the isolation chain where the host has it."""
    return 1 + hostrules.has_isolation_chain(host)


NONE = {"containers": 0, "networks": 0, "rules": 0}


def test_teardown_removes_everything(halab_docker: DockerHost) -> None:
    with Lab(topology.load("nginx_master_backup"), docker_host=halab_docker) as lab:
        assert resources(halab_docker, lab.lab_id) == {
            "containers": 5,
            "networks": 1,
            "rules": rules_of_a_lab(halab_docker),
        }
    assert resources(halab_docker, lab.lab_id) == NONE


def test_failed_start_removes_what_it_made_and_names_the_node(
    tmp_path: Path, halab_docker: DockerHost
) -> None:
    """lb1 gets an nginx config that nginx refuses: the start fails on lb1, with its logs."""
    src = (TOPOLOGIES / "nginx_master_backup.yaml").read_text()
    broken = tmp_path / "broken_nginx.conf"
    broken.write_text("server { listen 80; no_such_directive on; }\n")
    for f in ("lb1.keepalived.conf", "lb2.keepalived.conf"):
        (tmp_path / f).write_text((TOPOLOGIES / "nginx_master_backup" / f).read_text())
    (tmp_path / "nginx.conf").write_text((TOPOLOGIES / "common" / "nginx.conf").read_text())
    text = (
        src.replace("nginx_master_backup/", "")
        .replace("common/nginx.conf", "nginx.conf")
        .replace("name: nginx_master_backup", "name: broken")
    )
    # only lb1 gets the broken file
    first = text.index("/etc/nginx/conf.d/halab.conf: nginx.conf")
    text = (
        text[:first]
        + "/etc/nginx/conf.d/halab.conf: broken_nginx.conf"
        + text[first + len("/etc/nginx/conf.d/halab.conf: nginx.conf") :]
    )
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    lab = Lab(topology.load(path), docker_host=halab_docker, ready_timeout=6)
    with pytest.raises(LabStartError) as info:
        lab.start()
    err = info.value
    assert err.node == "lb1"
    assert f"{lab.layout.nodes['lb1'].ip}/halab-health" in str(err)  # type: ignore[union-attr]
    notes = "\n".join(getattr(err, "__notes__", []))
    assert "logs of lb1" in notes
    assert 'unknown directive "no_such_directive"' in notes  # nginx's words, from lb1's logs
    assert resources(halab_docker, lab.lab_id) == NONE


OWNER = textwrap.dedent("""
    import sys, time
    from pytest_halab import topology
    from pytest_halab.dockerhost import DockerHost
    from pytest_halab.lab import Lab
    host = DockerHost(sys.argv[1] or None)
    lab = Lab(topology.load("nginx_master_backup"), docker_host=host).start()
    print(lab.lab_id, flush=True)
    time.sleep(600)
""")


def start_and_sigkill(host: DockerHost) -> str:
    """A process that owns a lab is killed with SIGKILL: no teardown runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", OWNER, host.url or ""], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lab_id = proc.stdout.readline().strip()
        assert lab_id.startswith("hl"), lab_id
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert resources(host, lab_id) == {
        "containers": 5,
        "networks": 1,
        "rules": rules_of_a_lab(host),
    }
    return lab_id


def test_stale_lab_of_a_killed_run_is_swept(halab_docker: DockerHost) -> None:
    lab_id = start_and_sigkill(halab_docker)
    assert lab_id in sweep_stale(halab_docker)
    assert resources(halab_docker, lab_id) == NONE


@pytest.mark.lab("nginx_master_backup")
def test_halab_clean_after_sigkill_spares_only_labs_in_use(
    halab_docker: DockerHost,
    lab_factory: Callable[..., Lab],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`halab clean` removes the lab of a killed run, but not a lab a live session uses
    (this one's, and under pytest-xdist the other workers')."""
    in_use = lab_factory("nginx_master_backup")
    lab_id = start_and_sigkill(halab_docker)
    assert halab_main(["clean"]) == 0  # on DOCKER_HOST: the worker's engine (conftest.py)
    out = capsys.readouterr().out
    assert lab_id in out.split("spared")[0]
    assert in_use.lab_id in out.split("spared")[1]
    assert resources(halab_docker, lab_id) == NONE
    assert resources(halab_docker, in_use.lab_id) == {
        "containers": 5,
        "networks": 1,
        "rules": rules_of_a_lab(halab_docker),
    }
    client = halab_docker.client()
    owners = {
        c.labels.get(L_OWNER)
        for c in client.containers.list(all=True, ignore_removed=True, filters={"label": L_LAB})
    }
    assert all(owner_alive(o or "") for o in owners)
    # `halab down --all` spares them too: the labs of a running suite are not its to take
    killed = start_and_sigkill(halab_docker)
    assert halab_main(["down", "--all"]) == 0
    out = capsys.readouterr().out
    assert f"lab {killed} removed" in out
    assert in_use.lab_id in out.split("spared")[1]
    assert resources(halab_docker, killed) == NONE
    assert resources(halab_docker, in_use.lab_id)["containers"] == 5


def test_bad_topology_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # this process's labs only: under pytest-xdist other workers' labs come and go meanwhile
    client = docker.from_env()
    mine = {"label": [L_LAB, f"{L_OWNER}={owner()}"]}
    before = {c.id for c in client.containers.list(all=True, ignore_removed=True, filters=mine)}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nnodes:\n  lb1: {role: balancer, host: 999}\nvips: {}\n")
    t0 = time.monotonic()
    assert halab_main(["up", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:3: nodes.lb1.host" in err
    assert time.monotonic() - t0 < 10
    after = {c.id for c in client.containers.list(all=True, ignore_removed=True, filters=mine)}
    assert after == before


def test_sweep_spares_a_lab_another_live_process_is_building(halab_docker: DockerHost) -> None:
    """Between create and start a lab's containers are all "created": a second process's
    sweep must not take them for a dead lab; once their owner is gone, they are stale."""
    from pytest_halab import images
    from pytest_halab.labels import L_KEEP, L_OWNER, L_RUN, RUN_ID, owner

    client = halab_docker.client()
    tag = images.ensure_on(halab_docker)["web"]
    lab_id = "hlsweep" + os.urandom(2).hex()
    labels = {L_LAB: lab_id, L_RUN: RUN_ID, L_OWNER: owner(), L_KEEP: "1"}
    made = client.containers.create(tag, name=f"halab-{lab_id}-web1", labels=labels)
    try:
        assert made.status == "created"
        assert lab_id not in sweep_stale(halab_docker)
        assert resources(halab_docker, lab_id)["containers"] == 1
        dead_owner = {**labels, L_OWNER: f"{socket.gethostname()}:999999999:0"}
        made.remove(force=True)
        made = client.containers.create(tag, name=f"halab-{lab_id}-web1", labels=dead_owner)
        swept = sweep_stale(halab_docker)
        # gone: removed by this sweep (in `swept`) or, under pytest-xdist, by another
        # worker's, which each lab start runs too (a run at -n 8 here once saw that)
        assert resources(halab_docker, lab_id) == NONE, swept
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            made.remove(force=True)


@pytest.mark.lab("nginx_master_backup")
def test_an_idle_lab_of_the_pool_is_paused_then_woken_as_it_was(
    pytestconfig: pytest.Config, lab_factory: Callable[..., Lab]
) -> None:
    """What an xdist worker does with a lab between its tests (session.pause_idle_labs):
    every container frozen, then the same lab woken for the next test that asks for it,
    its VIPs on their masters, serving through them, and its engines settled: frozen for
    longer than Master_Down_Interval, the backup thaws with its timer run out and takes
    the VIP for a moment, which must be over once the lab is handed out."""
    lab = lab_factory("nginx_master_backup")
    run = pytestconfig.pluginmanager.get_plugin("halab-run")
    assert run.labs.pause_unwanted(lambda req: False) >= 1
    client = lab.host.client()
    ids = {n.container.id for n in lab.nodes.values()}

    def states() -> set[str]:
        return {c.status for c in client.containers.list(all=True) if c.id in ids}

    assert states() == {"paused"}
    assert not lab.alive()
    time.sleep(3 * 1 + 1)  # advert_int 1: past the backup's Master_Down_Interval
    assert lab_factory("nginx_master_backup") is lab  # woken, not started again
    woken = time.time()
    assert states() == {"running"} and lab.alive()
    holders = lab.vip_holders()
    assert {v: sorted(h) for v, h in holders.items()} == {
        v: [m] for v, m in lab.expected_masters().items()
    }
    for ip in lab.vip_addresses().values():
        lab.client_node().exec(f"curl -sf -m 2 -o /dev/null http://{ip}/", check=True)
    time.sleep(2)  # two adverts: a backup that thawed with its timers out would move now
    moved = []
    for b in lab.balancers():
        engine = lab.engine_of(b.name)
        for line in b.read_file(engine.events_path).splitlines():
            ev = engine.parse_event(line, b.name)
            if ev is not None and ev.kind == EventKind.VRRP_STATE and ev.ts >= woken:
                moved.append((b.name, ev.data.get("state"), round(ev.ts - woken, 3)))
    assert moved == []

"""A user's first own lab (issue 9): priorities that contradict `master:`, a check script
without its executable bit. The lab says at once which node holds what, each instance's
state and priority as its engine reports it, why the VIP is elsewhere, and what the engine
disabled. Both engines. (A restore that cannot succeed failing at once with that reason,
and the test's report written all the same: tests/plugin/test_plugin.py.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab import topology
from pytest_halab.cli import main as halab_main
from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import LabMismatchError
from pytest_halab.lab import Lab
from pytest_halab.labels import L_LAB
from pytest_halab.lint import lint

FIRST_LAB = Path(__file__).resolve().parent / "topologies" / "first_lab.yaml"
ENGINES = ["keepalived", "halab"]
WHY = "lb2 has the higher priority (100 > 90) and VRRP elects the highest"
DISABLED = "is not executable for uid:gid 0:0 - disabling"


@pytest.mark.lab("topologies/first_lab.yaml")
@pytest.mark.parametrize("engine", ENGINES)
def test_a_lab_that_settles_against_its_master_fails_its_start_with_the_reason(
    engine: str, lab_factory: Callable[..., Lab], halab_docker: DockerHost
) -> None:
    # what `halab lint` predicted: lb2 takes the VIP, the script never runs
    rules = sorted(f.rule for f in lint([str(FIRST_LAB)])[1])
    assert rules == ["master-outranked", "script-missing", "script-missing"]
    with pytest.raises(LabMismatchError) as info:
        lab_factory(str(FIRST_LAB), vrrp=engine)
    text = str(info.value)
    assert "VI_1 is held by lb2, not by lb1 as the topology's master: says" in text
    assert WHY in text
    assert "lb1 VI_1 BACKUP priority 90" in text and "lb2 VI_1 MASTER priority 100" in text
    assert DISABLED in text  # the engine's warnings are part of the reason
    # The same lab is not built again for the next test: the same error, at once.
    with pytest.raises(LabMismatchError) as again:
        lab_factory(str(FIRST_LAB), vrrp=engine)
    assert again.value is info.value
    # And nothing of it is left behind (of this lab: another test may build first_lab at
    # the same time on another worker).
    lab_id = re.search(r"\blab (\S+): VRRP settled", text)
    assert lab_id is not None, text
    client = halab_docker.client()
    assert not client.containers.list(
        all=True, filters={"label": f"{L_LAB}={lab_id.group(1)}"}, ignore_removed=True
    )
    assert not client.networks.list(filters={"label": f"{L_LAB}={lab_id.group(1)}"})


@pytest.mark.parametrize("engine", ENGINES)
def test_halab_up_keeps_such_a_lab_and_status_says_why(
    engine: str, capsys: pytest.CaptureFixture[str], halab_docker: DockerHost
) -> None:
    lab = Lab(
        topology.load(FIRST_LAB), engine=engine, keep=True, docker_host=halab_docker, strict=False
    )
    lab.start()
    try:
        assert lab.mismatch.keys() == {"VI_1"} and WHY in lab.mismatch["VI_1"]
        st = lab.status()
        (vip,) = st["vips"]
        assert vip["holders"] == ["lb2"] and WHY in vip["why"]
        rows = {(i["node"], i["instance"]): i for i in st["instances"]}
        assert rows[("lb1", "VI_1")]["state"] == "BACKUP"
        assert rows[("lb1", "VI_1")]["priority"] == rows[("lb1", "VI_1")]["base_priority"] == 90
        assert rows[("lb2", "VI_1")]["state"] == "MASTER"
        assert rows[("lb2", "VI_1")]["priority"] == 100
        assert rows[("lb1", "VI_1")]["master_priority"] == 100  # lb1 hears lb2's adverts
        assert rows[("lb1", "VI_1")]["track_scripts"] == []  # disabled: not run
        for node in ("lb1", "lb2"):
            assert any(DISABLED in w for w in st["warnings"][node]), st["warnings"]

        capsys.readouterr()
        assert halab_main(["status", "--json", "--lab", lab.lab_id]) == 0
        assert json.loads(capsys.readouterr().out)["vips"][0]["why"] == vip["why"]
        assert halab_main(["status", "--lab", lab.lab_id]) == 0
        out = capsys.readouterr().out
        assert "moved" in out and "why: VI_1 is held by lb2" in out and DISABLED in out

    finally:
        lab.stop()


@pytest.mark.lab("nginx_master_backup", vrrp="halab")
def test_halab_exec_and_logs_look_into_a_node(
    lab_factory: Callable[..., Lab], capfd: pytest.CaptureFixture[str], halab_docker: DockerHost
) -> None:
    lab = lab_factory("nginx_master_backup", vrrp="halab")
    argv = ["--lab", lab.lab_id, "lb1"]
    # exec replaces the process with `docker exec`: run it as a user would
    env = dict(os.environ, DOCKER_HOST=halab_docker.effective_url)
    res = subprocess.run(
        [sys.executable, "-m", "pytest_halab.cli", "exec", *argv, "sh", "-c", "hostname; exit 3"],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert res.returncode == 3, res.stderr
    assert res.stdout.strip() == lab.node("lb1").container.attrs["Config"]["Hostname"]
    capfd.readouterr()
    assert halab_main(["logs", *argv, "vrrp", "-n", "400"]) == 0
    assert "Starting halab-vrrpd" in capfd.readouterr().out
    assert halab_main(["logs", *argv, "nope"]) == 2
    assert "no logs of 'nope' on lb1; services with logs: nginx, vrrp" in capfd.readouterr().err
    assert halab_main(["logs", "--lab", lab.lab_id, "lb9"]) == 2
    assert "no node 'lb9'" in capfd.readouterr().err

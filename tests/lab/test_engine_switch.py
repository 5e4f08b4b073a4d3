"""A running lab switched to other VRRP engines (``Lab.use_engines``, what an xdist worker's
pool does instead of starting a lab per engine) runs them as a lab started with them would:
the old engine gone, the new one's processes, log and state events alone, the expected
master holding the VIP, failover measured as usual, and a process that reattaches sees the
engines the nodes run."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pytest_halab import engines, instances, topology
from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import LabStartError
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario

# the lab is this test's own (not the session's pool: its engines change under the test)
pytestmark = pytest.mark.lab

ScenarioFactory = Callable[[Lab], Scenario]


def processes(lab: Lab, node: str) -> dict[str, int]:
    """How many processes of each engine, and keepalived's FIFO readers, run in the node."""
    out = lab.node(node).exec("ps -eo args=", check=True).output.splitlines()
    return {
        "keepalived": sum(1 for a in out if a.split()[0].endswith("keepalived")),
        "halab-vrrpd": sum(1 for a in out if "halab-vrrpd" in a.split()[0]),
        "fifo-reader": sum(1 for a in out if "halab-observe --fifo" in a),
    }


@pytest.fixture
def own_lab(halab_docker: DockerHost) -> Iterator[Lab]:
    """A lab of this test's own (the session's pool would hand its labs to other tests),
    removed after the scenario's teardown (requested before ``hal_scenario``)."""
    with Lab(
        topology.load("nginx_master_backup"), engine="keepalived", docker_host=halab_docker
    ) as lab:
        yield lab


def test_a_switched_lab_runs_its_new_engines_as_a_new_lab_would(
    own_lab: Lab, hal_scenario: ScenarioFactory
) -> None:
    lab = own_lab
    for lb in ("lb1", "lb2"):
        assert processes(lab, lb)["keepalived"] >= 1 and processes(lab, lb)["fifo-reader"] == 1
    assert lab.use_engines("keepalived") is False  # already: nothing done

    assert lab.use_engines("halab") is True
    assert lab.engine_label == "halab" and lab.vip_holders()["VI_1"] == ["lb1"]
    for lb in ("lb1", "lb2"):
        node = lab.node(lb)
        now = processes(lab, lb)
        assert now["halab-vrrpd"] >= 1 and now["keepalived"] == now["fifo-reader"] == 0
        assert node.read_file(engines.ENGINE_FILE) == b"halab\n"
        log = node.read_file(instances.ENGINE_LOG).decode()
        old = node.read_file(instances.ENGINE_LOG + ".1").decode()
        # 30-vrrp's word on keepalived's config: in the old engine's log only
        said = "halab 30-vrrp: keepalived runs"
        assert said not in log and said in old, lb
        assert [i.state for i in instances.read(node, engines.get("halab").pidfile)] == [
            "MASTER" if lb == "lb1" else "BACKUP"
        ]

    hal = hal_scenario(lab)
    fault = hal.faults.kill_process("lb1", "vrrp", "SIGTERM")
    m = hal.failover("VI_1", fault, to="lb2")
    # detected from halab-vrrpd's own state events (the FIFO's would be keepalived's)
    assert m.detection_source == "vrrp_state" and m.vip_move_s is not None
    tl = hal.timeline()
    states = [e for e in tl.events if e.kind == "vrrp_state" and e.node == "lb2"]
    assert states and all(e.get("engine") != "keepalived" for e in states)
    hal.recovery("VI_1", fault, to="lb1", timeout=20)

    # per balancer, and back: a process that reattaches reads them from the nodes
    assert lab.use_engines("halab", {"lb2": "keepalived"}) is True
    assert lab.engine_label == "halab;lb2=keepalived"
    lb1, lb2 = processes(lab, "lb1"), processes(lab, "lb2")
    assert lb1["halab-vrrpd"] >= 1 and lb1["keepalived"] == 0
    assert lb2["keepalived"] >= 1 and lb2["fifo-reader"] == 1 and lb2["halab-vrrpd"] == 0
    assert lab.vip_holders()["VI_1"] == ["lb1"]
    seen = Lab.attach(lab.host, lab.lab_id)
    assert seen.engine_label == "halab;lb2=keepalived"
    assert seen.engine_of("lb2").name == "keepalived"

    with pytest.raises(LabStartError, match="not a balancer"):
        lab.use_engines("halab", {"web1": "keepalived"})
    assert lab.engine_label == "halab;lb2=keepalived"  # a refused switch changes nothing

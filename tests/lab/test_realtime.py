"""A balancer with a real-time budget (rt_runtime_us): keepalived's vrrp_rt_priority gives
each engine's VRRP process SCHED_RR, as on a host; without the budget it could not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_halab.lab import Lab

pytestmark = pytest.mark.lab("nginx_v3_10ms_dt1")

ENGINES = ["keepalived", "halab"]
TOPOLOGY = "nginx_v3_10ms_dt1"  # vrrp_rt_priority 50, rt_runtime_us 100000 on balancers


def policies(lab: Lab, node: str) -> list[str]:
    """`chrt -p` of each process of the node's VRRP engine: the engine and its children
    of the same name (keepalived's VRRP child). A track script it runs is a child too, and
    may be gone by the time it is asked: those are left out by name."""
    n = lab.node(node)
    engine = lab.engine_of(node)
    pids = n.exec(engine.tree_pids_cmd()).output.split()
    assert pids, f"no engine process on {node}"
    script = (
        f"for p in {' '.join(pids)}; do "
        f'[ "$(cat /proc/$p/comm 2>/dev/null)" = {engine.process} ] || continue; '
        "chrt -p $p || exit 1; done"
    )
    res = n.exec(script)
    assert res.ok, res.output
    return res.output.splitlines()


@pytest.mark.parametrize("engine", ENGINES)
def test_vrrp_rt_priority_gives_the_engine_sched_rr(
    engine: str, lab_factory: Callable[..., Lab]
) -> None:
    lab = lab_factory(TOPOLOGY, vrrp=engine)
    for node in ("lb1", "lb2"):
        lines = policies(lab, node)
        # keepalived: its VRRP child (the parent stays SCHED_OTHER); halab-vrrpd: itself
        rr = [i for i, line in enumerate(lines) if "SCHED_RR" in line]
        assert rr, lines
        for i in rr:
            assert lines[i + 1].endswith("priority: 50"), lines
    assert lab.vip_holders() == {"VI_1": ["lb1"]}

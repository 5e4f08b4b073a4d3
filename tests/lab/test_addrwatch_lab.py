"""vip_holders' live view (addrwatch) is the kernel's: an address added or removed in a node
is seen as `ip addr` sees it, and a node that crashed and came back is watched again."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_halab import waits
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario

pytestmark = pytest.mark.lab("nginx_master_backup")

EXTRA = "10.255.255.7"


@pytest.fixture
def lab(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("nginx_master_backup")


@pytest.fixture
def hal(lab: Lab, hal_scenario: Callable[[Lab], Scenario]) -> Scenario:
    return hal_scenario(lab)


def _kernel(lab: Lab, name: str) -> set[object]:
    return {a.ip for a in lab.nodes[name].addresses()}


def _live(lab: Lab, name: str) -> set[object] | None:
    node = lab.nodes[name]
    node.state()  # the container's attributes, as vip_holders reads them first
    return lab._addr_watch.addresses(node)  # type: ignore[return-value]


def test_the_live_set_follows_the_kernel(lab: Lab) -> None:
    lb2 = lab.nodes["lb2"]
    assert _live(lab, "lb2") == _kernel(lab, "lb2")
    lb2.exec(["ip", "addr", "add", f"{EXTRA}/32", "dev", "lo"], check=True)
    try:
        got = waits.until(
            "the live set to show the added address",
            lambda: _live(lab, "lb2") if _live(lab, "lb2") == _kernel(lab, "lb2") else None,
            5.0,
        )
        assert EXTRA in {str(a) for a in got}
    finally:
        lb2.exec(["ip", "addr", "del", f"{EXTRA}/32", "dev", "lo"])
    waits.until(
        "the live set to drop the removed address",
        lambda: EXTRA not in {str(a) for a in _live(lab, "lb2") or {EXTRA}} or None,
        5.0,
    )
    assert _live(lab, "lb2") == _kernel(lab, "lb2")


def test_a_crashed_node_is_watched_again_when_it_returns(lab: Lab, hal: Scenario) -> None:
    before = lab._addr_watch._watches.get("lb1")
    assert lab.vip_holders()["VI_1"] == ["lb1"]
    fault = hal.faults.crash_node("lb1")
    hal.failover("VI_1", fault, to="lb2")
    hal.recovery("VI_1", fault, to="lb1")
    assert lab.vip_holders()["VI_1"] == ["lb1"]
    after = lab._addr_watch._watches.get("lb1")
    assert after is not None and after is not before and not after.ended.is_set()
    assert _live(lab, "lb1") == _kernel(lab, "lb1")

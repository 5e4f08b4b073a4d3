"""The LVS checker's other decisions, driven for real (tests/lab/topologies/lvs_quorum): a
weight a real server publishes (MISC_CHECK misc_dynamic), quorum lost and regained with its
scripts, the sorry server taking the whole pool meanwhile. Each is a timeline event
(``checker``: ``rs_weight``, ``quorum``, ``sorry_server``, ``pool``), and each shows in what
the client gets through the VIP. The checker is halab-vrrpd --check beside either VRRP
engine (this kernel has no IP_VS): both labs run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_lvs import assert_weights, bodies  # tests/lab is on the path (rootdir import mode)

from pytest_halab.lab import Lab
from pytest_halab.picture import draw_timeline
from pytest_halab.scenario import Scenario
from pytest_halab.session import picture_args
from pytest_halab.timeline import Event
from pytest_halab.waits import until

pytestmark = pytest.mark.lab("topologies/lvs_quorum.yaml")

ScenarioFactory = Callable[[Lab], Scenario]
LVS_QUORUM = str(Path(__file__).resolve().parent / "topologies" / "lvs_quorum.yaml")
WEIGHT_FILE = "/var/www/html/weight"


@pytest.fixture(scope="module", params=["keepalived", "halab"])
def quorum_lab(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(LVS_QUORUM, vrrp=request.param)


def checker_events(hal: Scenario, event: str, since: float, node: str = "lvs1") -> list[Event]:
    return [
        e
        for e in hal.timeline().between(since, None).of_kind("checker")
        if e.node == node and e.get("event") == event
    ]


def wait_event(
    hal: Scenario, event: str, since: float, match: Callable[[Event], bool], node: str = "lvs1"
) -> Event:
    """The first ``event`` of ``node``'s checker since ``since`` that ``match``es."""
    return until(
        f"{node}'s checker: {event}",
        lambda: next((e for e in checker_events(hal, event, since, node) if match(e)), None),
        timeout=20.0,
    )


def ip_of(rs: Any) -> str:
    """The address in the checker's name of a real server, ``[10.0.0.30]:tcp:80``."""
    return str(rs).partition("]")[0].removeprefix("[")


def pool_of(e: Event) -> dict[str, Any]:
    """A ``pool`` event's destinations: address -> weight."""
    return {ip_of(d["rs"]): d["weight"] for d in e.get("destinations", [])}


def test_a_weight_the_real_server_publishes_changes_its_share(
    quorum_lab: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(quorum_lab)
    web1, web2 = (str(quorum_lab.nodes[n].ip) for n in ("web1", "web2"))
    vip = str(quorum_lab.vip_addresses()["VI_1"])
    web = quorum_lab.node("web2")
    since = hal.timeline().end
    try:
        web.exec(["sh", "-c", f"echo 4 > {WEIGHT_FILE}"], check=True)
        # misc_dynamic: exit 6 is up with weight 4; both directors' checkers see it
        for node in ("lvs1", "lvs2"):
            e = wait_event(hal, "rs_weight", since, lambda e: e.get("weight") == 4, node)
            assert ip_of(e.get("rs")) == web2, e
        pool = wait_event(hal, "pool", since, lambda e: pool_of(e).get(web2) == 4)
        assert pool_of(pool) == {web1: 2, web2: 4}
        served = hal.timeline().end
        got = bodies(quorum_lab.client_node(), vip, 60)
        assert_weights(hal, served, got, web1=2, web2=4)
    finally:
        web.exec(["rm", "-f", WEIGHT_FILE], check=True)
    # nothing published: exit 0, its configured weight again
    back = wait_event(hal, "rs_weight", since, lambda e: e.get("weight") == 1)
    assert ip_of(back.get("rs")) == web2, back
    wait_event(hal, "pool", back.ts, lambda e: pool_of(e) == {web1: 2, web2: 1})


def test_lost_quorum_hands_the_pool_to_the_sorry_server_until_it_is_regained(
    quorum_lab: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(quorum_lab)
    web1, web3 = (str(quorum_lab.nodes[n].ip) for n in ("web1", "web3"))
    vip = str(quorum_lab.vip_addresses()["VI_1"])
    lvs1 = quorum_lab.node("lvs1")
    since = hal.timeline().end
    fault = hal.faults.stop_web("web1")
    out = hal.pool_change("VI_1", fault, "web1")
    assert out.happened, out.summary()
    lost = wait_event(hal, "quorum", since, lambda e: e.get("up") is False)
    # web2's weight 1 is all that is left of the 3 the virtual server needs
    assert (lost.get("alive_weight"), lost.get("quorum")) == (1, 3), lost
    sorry = wait_event(hal, "sorry_server", since, lambda e: e.get("in_use") is True)
    assert ip_of(sorry.get("rs")) == web3, sorry
    # keepalived takes the remaining live servers out: the sorry server serves alone
    pool = wait_event(hal, "pool", since, lambda e: web3 in pool_of(e))
    assert set(pool_of(pool)) == {web3}, pool_of(pool)
    assert bodies(quorum_lab.client_node(), vip, 10) == Counter({"sorry": 10})
    # quorum_down ran, with its argument, as a wrapped notify script (a timeline event)
    ran = until(
        "quorum.sh down on lvs1",
        lambda: next(
            (
                e
                for e in hal.timeline().between(since, None).of_kind("script")
                if e.node == "lvs1" and e.get("args") == ["down"]
            ),
            None,
        ),
        timeout=10.0,
    )
    assert ran.get("exit_status") == 0, ran
    assert "quorum down" in lvs1.read_file("/var/log/quorum.log").decode()

    hal.revert(fault)
    since = fault.reverted_at or since
    back = hal.pool_change("VI_1", fault, "web1", removed=False)
    assert back.happened, back.summary()
    up = wait_event(hal, "quorum", since, lambda e: e.get("up") is True)
    assert up.get("alive_weight") == 3, up
    wait_event(hal, "sorry_server", since, lambda e: e.get("in_use") is False)
    wait_event(
        hal, "pool", since, lambda e: set(pool_of(e)) == {web1, str(quorum_lab.nodes["web2"].ip)}
    )
    got = bodies(quorum_lab.client_node(), vip, 30)
    assert set(got) == {"1111", "2222"}, got
    assert "quorum up" in lvs1.read_file("/var/log/quorum.log").decode()
    # the picture marks each decision on the director's row
    tl = hal.timeline()
    fig = draw_timeline(tl, title="quorum", **picture_args(quorum_lab, hal, tl))
    legend = {t.get_text() for lg in fig.legends for t in lg.get_texts()}
    assert {
        "real server down (checker)",
        "quorum lost (checker)",
        "sorry server in / out (checker)",
        "quorum gained (checker)",
    } <= legend, legend

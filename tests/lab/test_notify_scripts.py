"""Notify scripts run with keepalived's arguments under both engines, every run recorded
(the lab wraps the topology's notify scripts: node, script, arguments, exit status,
duration become `script` events on the timeline). Seed 003: notify_master starts haproxy,
notify_stop stops it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab import waits
from pytest_halab.errors import LabTimeoutError
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario
from pytest_halab.scriptpaths import NOTIFY_REAL_DIR
from pytest_halab.services import Haproxy
from pytest_halab.timeline import Event

pytestmark = pytest.mark.lab("topologies/haproxy_notify.yaml")

ScenarioFactory = Callable[[Lab], Scenario]
TOPO = Path(__file__).resolve().parent / "topologies" / "haproxy_notify.yaml"
SCRIPTS = "/etc/keepalived/scripts/"


@pytest.fixture(scope="module", params=["keepalived", "halab"])
def notified(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(str(TOPO), vrrp=request.param)


def runs(hal: Scenario, node: str, script: str) -> list[Event]:
    return [
        e
        for e in hal.timeline().of_kind("script")
        if e.node == node and e.get("script") == SCRIPTS + script
    ]


def wait_run(
    hal: Scenario, node: str, script: str, args: list[str] | None = None, after: float = 0.0
) -> Event:
    """The first run of `script` on `node` (with `args`) recorded after `after` (epoch s):
    a run of the lab's own start may still land in the scenario's window."""

    def found() -> Event | None:
        return next(
            (
                e
                for e in runs(hal, node, script)
                if e.ts > after and (args is None or e.get("args") == args)
            ),
            None,
        )

    try:
        return waits.until(f"{script} run on {node} with {args}", found, 20, interval=0.2)
    except LabTimeoutError as exc:
        # said on failure (one CI run saw no stop_haproxy.sh run in 20 s, once): every run
        # recorded on the node, and the end of its engine's log
        recorded = [
            (e.get("script"), e.get("args"))
            for e in hal.timeline().of_kind("script")
            if e.node == node
        ]
        exc.add_note(f"runs recorded on {node}: {recorded}")
        log = hal.lab.node(node).exec("tail -n 40 /var/log/halab/vrrp.log").output
        exc.add_note(f"{node}'s engine log, its end:\n{log}")
        raise


def test_the_users_notify_scripts_sit_unchanged_behind_the_recorder(notified: Lab) -> None:
    lb1 = notified.node("lb1")
    for name in ("start_haproxy.sh", "notify.sh"):
        shipped = (TOPO.parent / "haproxy_notify" / name).read_bytes()
        assert lb1.read_file(NOTIFY_REAL_DIR + SCRIPTS + name) == shipped
        assert lb1.read_file(SCRIPTS + name) != shipped


def test_notify_stop_stops_haproxy_and_notify_master_starts_it_on_the_new_master(
    notified: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(notified)
    lb1, lb2 = notified.node("lb1"), notified.node("lb2")
    assert Haproxy.pids(lb1)
    lb1.exec("truncate -s 0 /var/log/notify-args.log")
    assert lb1.exec("systemctl stop keepalived").ok
    hal.wait_holders({"VI_1": ["lb2"]})
    stop = wait_run(hal, "lb1", "stop_haproxy.sh", [])
    assert stop.get("exit_status") == 0 and stop.get("duration_ms", 0) > 0
    assert not Haproxy.pids(lb1)  # seed 003's notify_stop did its job
    master = wait_run(hal, "lb2", "start_haproxy.sh", [])
    assert master.get("exit_status") == 0
    # the generic notify gets keepalived's four arguments
    wait_run(hal, "lb2", "notify.sh", ["INSTANCE", "VI_1", "MASTER", "90"])
    # and it ran as the user wrote it: $0 is its own path
    log = lb2.read_file("/var/log/notify-args.log").decode()
    assert f"{SCRIPTS}notify.sh INSTANCE VI_1 MASTER 90" in log

    assert lb1.exec("systemctl start keepalived").ok
    hal.wait_holders({"VI_1": ["lb1"]})  # 100 preempts 90
    back = wait_run(hal, "lb1", "start_haproxy.sh", [], after=stop.ts)
    assert back.get("exit_status") == 0
    waits.until("haproxy running on lb1 again", lambda: Haproxy.pids(lb1) or None, 10)
    wait_run(hal, "lb1", "notify.sh", ["INSTANCE", "VI_1", "MASTER", "100"], after=stop.ts)
    wait_run(hal, "lb2", "notify.sh", ["INSTANCE", "VI_1", "BACKUP", "90"], after=stop.ts)


SYNC = TOPO.parent / "sync_notify.yaml"


@pytest.mark.lab("topologies/sync_notify.yaml")
@pytest.mark.parametrize("engine", ["keepalived", "halab"])
def test_a_sync_groups_notify_scripts_run_when_the_group_changes_state(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    lab = lab_factory(str(SYNC), vrrp=engine)
    hal = hal_scenario(lab)
    lb1 = lab.node("lb1")
    assert lb1.exec("systemctl stop keepalived").ok
    hal.wait_holders({"VI_1": ["lb2"], "VI_2": ["lb2"]})
    # notify_master with the user's own argument; the generic notify with keepalived's four
    # (a group has no priority: 0)
    wait_run(hal, "lb2", "group.sh", ["master-arg"])
    wait_run(hal, "lb2", "group.sh", ["GROUP", "G1", "MASTER", "0"])
    assert lb1.exec("systemctl start keepalived").ok
    hal.wait_holders({"VI_1": ["lb1"], "VI_2": ["lb1"]})  # 100 preempts 90, both together
    wait_run(hal, "lb2", "group.sh", ["backup-arg"])
    wait_run(hal, "lb2", "group.sh", ["GROUP", "G1", "BACKUP", "0"])
    wait_run(hal, "lb1", "group.sh", ["GROUP", "G1", "MASTER", "0"])
    # once per change of the group, not once per member
    lb2_runs = [e.get("args") for e in runs(hal, "lb2", "group.sh")]
    assert lb2_runs.count(["master-arg"]) == 1 and lb2_runs.count(["backup-arg"]) == 1, lb2_runs

"""Users' check scripts run as they wrote them, with both VRRP engines.

- seed 000's check_list (nginx_check_list): every 10 s, `systemctl start nginx` if nginx
  died, then `systemctl stop keepalived` if it still does not run 3 s later.
- seed 004's nginx_check (tests/lab/topologies/nginx_compiled): every 2 s,
  /usr/local/nginx/sbin/nginx if nginx died, then `killall keepalived`.

nginx killed: the script starts it again and the VIP stays. nginx unable to start (its
config broken, `break_config`): check_list stops the engine and the VIP moves. seed 004's
script never gets there: it sleeps 3 s, and a vrrp_script's timeout defaults to its
interval (2 s), so keepalived kills it first ("VRRP_Script(chk_nginx) timed_out"); the
failed check only takes away its weight +2 (102 -> 100, still above the backup's 92) and
the VIP stays where nginx is dead. halab-vrrpd does the same.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab import waits
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario
from pytest_halab.services import Nginx

ScenarioFactory = Callable[[Lab], Scenario]
ENGINES = ["keepalived", "halab"]
COMPILED = str(Path(__file__).resolve().parent / "topologies" / "nginx_compiled.yaml")
# topology, the script's interval (s), whether it stops the engine when nginx cannot start
SCRIPTS = {"check_list": ("nginx_check_list", 10, True), "nginx_check": (COMPILED, 2, False)}


@pytest.fixture(
    scope="module",
    params=[(s, e) for s in SCRIPTS for e in ENGINES],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def scripted(
    request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]
) -> tuple[Lab, int, bool]:
    script, engine = request.param
    topo, interval, stops = SCRIPTS[script]
    return lab_factory(topo, vrrp=engine), interval, stops


def test_the_script_starts_a_killed_nginx_again_and_the_vip_stays(
    scripted: tuple[Lab, int, bool], hal_scenario: ScenarioFactory
) -> None:
    lab, interval, _ = scripted
    hal = hal_scenario(lab)
    lb1 = lab.node("lb1")
    before = set(Nginx.pids(lb1))
    fault = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
    # the script's next run (within its interval) starts nginx again
    again = waits.until(
        "nginx started again by the user's script",
        lambda: (lambda p: p if p and not set(p) & before else None)(Nginx.pids(lb1)),
        interval + 10,
        interval=0.2,
    )
    assert again
    m = hal.failover("VI_1", fault)
    assert not m.moved, m.summary()
    assert lab.engine_of("lb1").alive(lb1)


def test_nginx_unable_to_start_stops_the_engine_or_the_script_times_out(
    scripted: tuple[Lab, int, bool], hal_scenario: ScenarioFactory
) -> None:
    lab, interval, stops = scripted
    hal = hal_scenario(lab)
    lb1 = lab.node("lb1")
    engine = lab.engine_of("lb1")
    broken = hal.faults.break_config("lb1", "nginx")
    killed = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
    if stops:
        # next run: nginx does not start, 3 s later the script stops the engine
        m = hal.failover("VI_1", killed, to="lb2", timeout=interval + 20, move_within=interval + 15)
        assert m.moved, m.summary()
        # The VIP moves at the engine's priority-0 advert; the engine exits after (keepalived
        # removes its VIPs, then takes about 1 s more): `systemctl stop` gives it 20 s
        # before SIGKILL, so that is how long it may take.
        waits.until(
            "lb1's engine gone after the script stopped it",
            lambda: not engine.pids(lb1),
            25,
            interval=0.1,
        )
    else:
        m = hal.failover("VI_1", killed, move_within=3 * interval + 4)
        assert not m.moved, m.summary()
        assert m.failed_requests > 0, m.summary()
        assert engine.alive(lb1)
        log = lb1.read_file("/var/log/halab/vrrp.log").decode(errors="replace")
        assert "VRRP_Script(chk_nginx) timed_out" in log
        inst = lab.instances()["lb1"]
        assert isinstance(inst, list) and inst[0].effective_priority == 100
    assert not Nginx.pids(lb1)
    hal.revert(broken)
    hal.revert(killed)  # nginx started again
    if stops:
        assert lb1.exec("systemctl start keepalived").ok
    hal.wait_holders({"VI_1": ["lb1"]})

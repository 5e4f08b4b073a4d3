"""haproxy balancers (seeds 001 and 003) for real, with both VRRP engines.

- haproxy_master_backup: haproxy on both balancers, seed 003's checkhaproxy (interval 3,
  weight -20): haproxy killed on the master takes it from 100 to 80, below the backup's 90,
  and the VIP moves; haproxy's own checks (inter 2s, fall 3, rise 2) take a stopped
  backend out and back, seen through its runtime API, within the bound its timers give.
- haproxy_nopreempt: seed 003's A/B trap. A's haproxy dies: B takes the VIP. B's haproxy
  dies too: A does not take the VIP back, and the client gets nothing.
- haproxy_as_written (tests/lab/topologies): the page's check script as printed always
  fails, so both balancers run 20 below their priorities and haproxy's death moves nothing.
- Users' commands in a balancer: systemctl, service, /etc/init.d, pidof and killall reach
  the lab's services and the VRRP engine (`keepalived` whichever engine runs).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab import topology, waits
from pytest_halab.assertions import assert_pool_change_within_bound
from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import TopologyError
from pytest_halab.haproxybound import server_checks
from pytest_halab.lab import Lab
from pytest_halab.labels import L_LAB
from pytest_halab.nodes import Node
from pytest_halab.poolmeasures import traffic_split
from pytest_halab.scenario import Scenario
from pytest_halab.services import Haproxy

pytestmark = pytest.mark.lab("haproxy_master_backup")

ScenarioFactory = Callable[[Lab], Scenario]
ENGINES = ["keepalived", "halab"]
AS_WRITTEN = str(Path(__file__).resolve().parent / "topologies" / "haproxy_as_written.yaml")


def bodies(client: Node, vip: str, count: int) -> Counter[str]:
    """What `count` fresh connections to the VIP get, one after the other."""
    res = client.exec(f"halab-probe {vip} --count {count} --interval 0 --timeout 1")
    assert res.ok, res.output
    recs = [json.loads(line) for line in res.output.splitlines() if line.startswith("{")]
    return Counter(r["body"] if r["ok"] else f"error {r['status'] or r['error']}" for r in recs)


def priorities(lab: Lab) -> dict[str, int]:
    """Each balancer's effective priority of its one instance, as its engine reports it."""
    out = {}
    for node, insts in lab.instances().items():
        if isinstance(insts, list) and insts:
            out[node] = insts[0].effective_priority
    return out


def wait_priorities(lab: Lab, want: dict[str, int], timeout: float = 20.0) -> None:
    waits.until(
        f"effective priorities {want}",
        lambda: (lambda got: got if all(got.get(k) == v for k, v in want.items()) else None)(
            priorities(lab)
        ),
        timeout,
        interval=0.25,
    )


@pytest.fixture(scope="module", params=ENGINES)
def pair(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("haproxy_master_backup", vrrp=request.param)


def test_haproxy_serves_the_vip_from_both_backends(pair: Lab) -> None:
    vip = str(pair.vip_addresses()["VI_1"])
    assert bodies(pair.client_node(), vip, 10) == {"1111": 5, "2222": 5}
    assert priorities(pair) == {"lb1": 100, "lb2": 90}
    # the watcher read each haproxy's backend through the runtime API
    for n in pair.balancers():
        pools = [
            json.loads(line)
            for line in n.read_file(Haproxy.events_path or "").splitlines()
            if b'"event":"pool"' in line
        ]
        assert pools, n.name
        assert {d["rs"] for d in pools[-1]["destinations"]} == {
            f"[{pair.node(w).ip}]:tcp:80" for w in ("web1", "web2")
        }


def test_haproxy_killed_on_the_master_moves_the_vip(
    pair: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(pair)
    fault = hal.faults.kill_process("lb1", "haproxy", "SIGKILL")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.moved, m.summary()
    assert priorities(pair)["lb1"] == 80
    # lb2's haproxy serves from both backends. The scenario's own probe is the client:
    # a second client beside it would share haproxy's roundrobin, and could be handed web2
    # every time while the probe took web1 (seen once in CI). From the move on, every answer
    # is lb2's (lb1's haproxy died with the fault), and roundrobin alternates them.
    assert m.vip_move_s is not None and m.window_end is not None, m.summary()
    moved_at = m.fault_ts + m.vip_move_s
    split = traffic_split(
        hal.timeline_through("VI_1", m.window_end, moved_at), "VI_1", moved_at, m.window_end
    )
    checks = [  # lb2's haproxy checks, as its watcher saw them: why a backend was left out
        (round(e.ts - m.fault_ts, 3), e.data)
        for e in hal.timeline().of_kind("checker")
        if e.node == "lb2"
    ]
    assert set(split) == {"1111", "2222"}, (split, checks)
    hal.revert(fault)
    back = hal.recovery("VI_1", fault, to="lb1")  # lb1 100 again preempts lb2's 90
    assert back.moved, back.summary()


def test_haproxy_takes_a_stopped_backend_out_and_back_within_its_checks(
    pair: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(pair)
    web1 = str(pair.node("web1").ip)
    files = pair.topology.render_files(  # type: ignore[union-attr]
        "lb1",
        pair.topology.addressing(pair.layout.subnet, pair.layout.subnet6),  # type: ignore[union-attr]
    )
    (checks,) = server_checks(files["/etc/haproxy/haproxy.cfg"].data, web1)
    assert (checks.inter, checks.fall, checks.rise) == (2.0, 3, 2)
    fault = hal.faults.stop_web("web1")
    out = hal.pool_change("VI_1", fault, "web1")
    assert out.happened and out.director == "lb1", out.summary()
    assert out.bound_s == checks.bound(removed=True)
    assert out.applied_s is not None
    # fall failed checks, fastinter apart: haproxy cannot have decided sooner (the watcher
    # stamps a change at most one 20 ms poll late, never early)
    assert out.applied_s >= (checks.fall - 1) * checks.fastinter, out.summary()
    assert_pool_change_within_bound(out)
    vip = str(pair.vip_addresses()["VI_1"])
    assert bodies(pair.client_node(), vip, 6) == {"2222": 6}
    hal.revert(fault)
    back = hal.pool_change("VI_1", fault, "web1", removed=False)
    assert back.happened, back.summary()
    assert back.applied_s is not None and back.applied_s >= (checks.rise - 1) * checks.fastinter
    assert_pool_change_within_bound(back)
    states = [e for e in hal.timeline().of_kind("checker") if e.get("event") == "rs_state"]
    assert [(e.node, e.get("up")) for e in states if e.node == "lb1"] == [
        ("lb1", False),
        ("lb1", True),
    ]
    assert all(e.get("checker") == "haproxy" for e in states)


def test_users_commands_reach_the_services_and_the_engine(
    pair: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(pair)
    lb1 = pair.node("lb1")
    engine = pair.engine_of("lb1")
    assert lb1.exec("systemctl is-active haproxy").output.strip() == "active"
    assert lb1.exec("systemctl is-active keepalived.service").output.strip() == "active"
    status = lb1.exec("service keepalived status")
    assert status.ok and f"({engine.process})" in status.output, status.output
    # as systemd's, the status ends with the unit's last log lines (-n: how many)
    logged = lb1.exec("systemctl status -n 500 keepalived").output
    assert "(VI_1) Entering MASTER STATE" in logged, logged
    assert len(lb1.exec("systemctl status --lines=0 keepalived").output.splitlines()) == 2
    # no nginx in a haproxy topology: systemctl says so as systemd does for a dead unit
    assert lb1.exec("systemctl status nginx").exit_code == 3
    assert lb1.exec("systemctl start nosuch").exit_code == 5

    def agreed() -> list[int] | None:
        """pidof, pgrep and ps, each one look at the processes: a track script's process
        carries the engine's name from the VRRP child's fork until it execs the script, and
        may be in one listing and gone by the next."""
        got = sorted(int(p) for p in lb1.exec("pidof keepalived").output.split())
        listed = lb1.exec("ps -C keepalived,haproxy -o pid=,comm=", check=True).output
        ps = sorted(int(line.split()[0]) for line in listed.splitlines() if engine.process in line)
        return got if got and got == sorted(engine.pids(lb1)) == ps else None

    waits.until("pidof, pgrep and ps to list the same engine processes", agreed, 10)
    # the engine's pid file where keepalived keeps it
    assert lb1.exec("cat /var/run/keepalived.pid").output.strip() == str(engine.pid(lb1))
    # the listings users grep: the units this node's topology configured (no nginx here)
    units = lb1.exec("systemctl list-units --type=service --no-pager", check=True).output
    rows = {line.split()[0]: line.split()[1:4] for line in units.splitlines()[1:5] if line}
    assert rows == {
        "dbus.service": ["loaded", "active", "running"],
        "rsyslog.service": ["loaded", "active", "running"],
        "haproxy.service": ["loaded", "active", "running"],
        "keepalived.service": ["loaded", "active", "running"],
    }, units
    assert "4 loaded units listed." in units  # firewalld is there, inactive: --all shows it
    inactive = lb1.exec("systemctl list-units --all --no-legend firewalld").output.split()
    assert inactive[:4] == ["firewalld.service", "loaded", "inactive", "dead"], inactive
    off = lb1.exec("systemctl list-unit-files --no-legend --state=disabled").output.split()
    assert off == ["firewalld.service", "disabled", "disabled"], off
    grep = lb1.exec("systemctl | grep keepalived").output.split()
    assert grep[:4] == ["keepalived.service", "loaded", "active", "running"], grep
    assert lb1.exec("systemctl list-units --no-legend 'nginx*'").output.strip() == ""
    files = lb1.exec("systemctl list-unit-files --no-legend 'keepalived*'").output.split()
    assert files == ["keepalived.service", "enabled", "enabled"], files
    # systemctl show -p (--value) and cat, as scripts ask systemd for a unit's main pid
    main = lb1.exec("systemctl show -p MainPID --value keepalived", check=True).output.strip()
    assert main == str(engine.pid(lb1)), main
    shown = lb1.exec("systemctl show keepalived.service --property=ActiveState,SubState").output
    assert shown.split() == ["ActiveState=active", "SubState=running"], shown
    unit = lb1.exec("systemctl cat haproxy", check=True).output
    assert unit.startswith("# /lib/systemd/system/haproxy.service\n[Unit]"), unit
    # the lab's own state polls are not in the user's logs (a host has none)
    assert "Printing VRRP as json" not in lb1.exec("cat /var/log/messages").output

    # systemctl stop keepalived: SIGTERM, a priority-0 advert, lb2 takes over at once
    res = lb1.exec("systemctl stop keepalived")
    assert res.ok, res.output
    assert not engine.pids(lb1)
    assert lb1.exec("systemctl is-active keepalived").exit_code == 3
    hal.wait_holders({"VI_1": ["lb2"]})
    assert lb1.exec("/etc/init.d/keepalived start").ok
    hal.wait_holders({"VI_1": ["lb1"]})

    # killall keepalived, as seed 004's nginx_check does
    res = lb1.exec("killall keepalived")
    assert res.ok, res.output
    waits.until("the engine gone after killall", lambda: not engine.pids(lb1) or None, 10)
    hal.wait_holders({"VI_1": ["lb2"]})
    assert lb1.exec("systemctl restart keepalived").ok
    hal.wait_holders({"VI_1": ["lb1"]})

    # haproxy stopped and started the way users do; a stopped unit leaves list-units, and
    # comes back with --all
    assert lb1.exec("systemctl stop haproxy").ok
    assert not Haproxy.pids(lb1)
    assert "haproxy" not in lb1.exec("systemctl list-units").output
    stopped = lb1.exec("systemctl list-units --all --no-legend haproxy").output.split()
    assert stopped[:4] == ["haproxy.service", "loaded", "inactive", "dead"], stopped
    assert lb1.exec("service haproxy start").ok
    assert Haproxy.pids(lb1)


@pytest.fixture(scope="module", params=ENGINES)
def nopreempt(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("haproxy_nopreempt", vrrp=request.param)


@pytest.mark.lab("haproxy_nopreempt")
def test_seed_003_nopreempt_trap(nopreempt: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(nopreempt)
    wait_priorities(nopreempt, {"lb1": 80, "lb2": 70})
    a = hal.faults.kill_process("lb1", "haproxy", "SIGKILL")
    m = hal.failover("VI_1", a, to="lb2")  # A: 80 - 20 = 60 < B's 70
    assert m.moved, m.summary()
    hal.revert(a)
    wait_priorities(nopreempt, {"lb1": 80, "lb2": 70})
    b = hal.faults.kill_process("lb2", "haproxy", "SIGKILL")
    wait_priorities(nopreempt, {"lb1": 80, "lb2": 50})
    stuck = hal.failover("VI_1", b)  # A at 80 hears B at 50, and nopreempt keeps it BACKUP
    assert not stuck.moved, stuck.summary()
    assert stuck.holders_after == {"lb2"}, stuck.summary()
    assert stuck.failed_requests > 0, stuck.summary()  # nothing serves the VIP on lb2
    vip = str(nopreempt.vip_addresses()["VI_1"])
    assert "1111" not in bodies(nopreempt.client_node(), vip, 3)


@pytest.mark.lab("topologies/haproxy_as_written.yaml")
@pytest.mark.parametrize("engine", ENGINES)
def test_seed_003_check_script_as_printed_never_moves_the_vip(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    lab = lab_factory(AS_WRITTEN, vrrp=engine)
    hal = hal_scenario(lab)
    # the script fails from its first run on both balancers, haproxy or not
    wait_priorities(lab, {"lb1": 60, "lb2": 50})
    assert lab.node("lb1").exec("/etc/check.sh").exit_code == 1
    fault = hal.faults.kill_process("lb1", "haproxy", "SIGKILL")
    m = hal.failover("VI_1", fault)
    assert not m.moved, m.summary()
    assert m.failed_requests > 0, m.summary()
    assert priorities(lab) == {"lb1": 60, "lb2": 50}


def test_a_haproxy_cfg_haproxy_rejects_is_refused_before_any_container(
    tmp_path: Path, halab_docker: DockerHost
) -> None:
    topos = Path(__file__).resolve().parents[2] / "lab" / "topologies"
    shutil.copytree(topos / "haproxy_master_backup", tmp_path / "haproxy_master_backup")
    (tmp_path / "common").mkdir()
    cfg = (topos / "common" / "haproxy.cfg").read_text().splitlines()
    at = next(i for i, line in enumerate(cfg) if "balance roundrobin" in line)
    cfg.insert(at + 1, "    serverr web3 {{ web1.ip }}:80")
    (tmp_path / "common" / "haproxy.cfg").write_text("\n".join(cfg) + "\n")
    yaml = tmp_path / "haproxy_master_backup.yaml"
    yaml.write_text((topos / "haproxy_master_backup.yaml").read_text())
    lab = Lab(topology.load(yaml), docker_host=halab_docker)
    with pytest.raises(TopologyError) as info:
        lab.start()
    msg = str(info.value)
    assert msg.startswith(f"{yaml}:17: nodes.lb1.files./etc/haproxy/haproxy.cfg: `haproxy`"), msg
    assert (
        f"{(tmp_path / 'common' / 'haproxy.cfg').resolve()}:{at + 2}: unknown keyword 'serverr'"
        in msg
    )
    flt = {"label": f"{L_LAB}={lab.lab_id}"}
    client = halab_docker.client()
    assert not client.containers.list(all=True, ignore_removed=True, filters=flt)
    assert not client.networks.list(filters=flt)

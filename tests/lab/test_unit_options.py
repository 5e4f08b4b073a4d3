"""The options users give keepalived.service reach the VRRP engine, whichever runs: seed
002's KEEPALIVED_OPTIONS="-D -d -S 0" in /etc/sysconfig/keepalived (RHEL's unit) with its
rsyslog rule for local0, and Debian's DAEMON_ARGS in /etc/default/keepalived
(tests/lab/topologies/unit_options.yaml). The lab keeps the options it sets itself (its
config and pid files, the foreground, which halves run) and says so in the node's log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab import waits
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario

pytestmark = pytest.mark.lab("topologies/unit_options.yaml")

ScenarioFactory = Callable[[Lab], Scenario]
TOPO = str(Path(__file__).resolve().parent / "topologies" / "unit_options.yaml")
VRRP_LOG = "/var/log/halab/vrrp.log"


@pytest.fixture(scope="module", params=["keepalived", "halab"])
def opts(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory(TOPO, vrrp=request.param)


def engine_args(lab: Lab, node: str) -> list[str]:
    """The engine's main process's command line."""
    n = lab.node(node)
    pid = lab.engine_of(node).pid(n)
    assert pid is not None, f"no engine on {node}"
    raw = n.exec(["cat", f"/proc/{pid}/cmdline"], check=True).output
    return raw.rstrip("\0").split("\0")


def test_seed_002s_options_log_to_local0_and_dump_the_config(
    opts: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(opts)
    hal.wait_holders({"VI_1": ["lb1"]})
    args = engine_args(opts, "lb1")
    assert args[args.index("-S") - 2 : args.index("-S") + 2] == ["-D", "-d", "-S", "0"], args
    lb1 = opts.node("lb1")

    def logged() -> str | None:
        text = lb1.exec(["cat", "/var/log/keepalived.log"]).output
        return text if "(VI_1) Entering MASTER STATE" in text else None

    # local0 goes to the file of seed 002's rsyslog rule: the state lines, and -d's dump
    text = waits.until("lb1's engine lines in /var/log/keepalived.log", logged, 10)
    assert "------< VRRP Topology >------" in text and " VRRP Instance = VI_1" in text
    assert "the unit's options: -D -d -S 0" in lb1.read_file(VRRP_LOG).decode()
    # lb2 logs under local1: nothing of it in a local0 file
    assert not opts.node("lb2").exec("test -s /var/log/keepalived.log").ok


def test_debian_daemon_args_and_the_options_the_lab_keeps(
    opts: Lab, hal_scenario: ScenarioFactory
) -> None:
    """lb2's DAEMON_ARGS: -S local1 and --dont-release-vrrp reach its engine; the pid file
    it names does not (the lab's is /run/keepalived.pid). With --dont-release-vrrp a stop
    leaves the master's VIP in place and sends no priority 0 (keepalived skips its
    instances' shutdown): the VIP stays on lb2 after its engine is gone."""
    hal = hal_scenario(opts)
    hal.wait_holders({"VI_1": ["lb1"]})
    args = engine_args(opts, "lb2")
    assert "--dont-release-vrrp" in args and args[args.index("-S") + 1] == "local1", args
    assert "/tmp/elsewhere.pid" not in args
    lb1, lb2 = opts.node("lb1"), opts.node("lb2")
    note = "-p from the unit's options ignored: the lab sets it"
    assert note in lb2.read_file(VRRP_LOG).decode()

    lb1.exec("systemctl stop keepalived", check=True)
    hal.wait_holders({"VI_1": ["lb2"]})
    vip = str(opts.vip_addresses()["VI_1"])
    stopped_at = time.time()
    lb2.exec("systemctl stop keepalived", check=True)
    assert lb2.exec("systemctl is-active keepalived").output.strip() == "inactive"
    assert f"inet {vip}/" in lb2.exec("ip -4 -o addr show dev eth0", check=True).output
    # lb1 back: it takes the VIP, and lb2's kernel keeps its copy (no engine to remove it)
    lb1.exec("systemctl start keepalived", check=True)
    hal.wait_holders({"VI_1": ["lb1", "lb2"]})
    back = time.time()

    def lb1_heard_since_back() -> bool | None:
        adverts = hal.timeline().of_kind("advert").between(back, None)
        return any(e.get("src") == str(lb1.ip) for e in adverts) or None

    # the timeline has caught up with the wire past lb2's stop: no priority 0 from lb2
    waits.until("an advert of lb1 in the timeline", lb1_heard_since_back, 10)
    zero = [
        e
        for e in hal.timeline().of_kind("advert").between(stopped_at, back)
        if e.get("src") == str(lb2.ip) and int(e.get("priority", -1)) == 0
    ]
    assert zero == [], zero

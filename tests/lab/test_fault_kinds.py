"""Every kind of fault, for real, on the master/backup topology: it takes effect, the lab
reacts as VRRP says, and the revert puts things back."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_halab import waits
from pytest_halab.assertions import (
    assert_holder,
    assert_no_failed_requests,
    assert_single_holder,
    assert_split_brain,
)
from pytest_halab.faults import FaultError
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario
from pytest_halab.timeline import Event, Timeline

pytestmark = pytest.mark.lab("nginx_master_backup")

ScenarioFactory = Callable[[Lab], Scenario]


@pytest.fixture
def mb(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("nginx_master_backup")


def vip_ip(lab: Lab) -> str:
    return str(lab.vip_addresses()["VI_1"])


def test_pause_master(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.pause_node("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2" and m.recovered
    # unpaused, lb1 still has the VIP and advertises 150: lb2 steps back
    hal.revert(fault)
    hal.wait_holders({"VI_1": ["lb1"]})


def test_restart_backup_leaves_the_vip_alone(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.restart_node("lb2")
    m = hal.failover("VI_1", fault, to=None, settle=1.0, timeout=0.1)
    assert m.new_holder is None and m.failed_requests == 0
    assert mb.node("lb2").state() == "running"


def test_node_states_follow_the_engines_events_without_asking_it(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    """Node.state() is what vip_holders() asks of each balancer at every poll: after the
    first inspect, the engine's events keep it (containerstates), through a pause, an
    unpause, a crash (SIGKILL to the container's init, not through the engine's API) and
    a start, with no inspect."""
    hal = hal_scenario(mb)
    lb2 = mb.node("lb2")
    assert lb2.state() == "running"  # the first read may ask the engine
    asked: list[int] = []
    reload = lb2.container.reload

    def counting_reload(*args: Any, **kwargs: Any) -> None:
        asked.append(1)
        reload(*args, **kwargs)

    lb2.container.reload = counting_reload  # type: ignore[method-assign]
    try:
        assert lb2.state() == "running" and not asked
        pause = hal.faults.pause_node("lb2")  # verified: the fault polls state() itself
        assert lb2.state() == "paused"
        hal.revert(pause)
        waits.until("lb2 running again", lambda: lb2.state() == "running", 5)
        assert not asked, f"{len(asked)} inspect(s) of lb2"
        crash = hal.faults.crash_node("lb2")  # asks the engine for the init's pid itself
        before = len(asked)
        assert [lb2.state() for _ in range(5)] == ["exited"] * 5
        hal.revert(crash)
        assert lb2.state() == "running"
        assert len(asked) == before, f"{len(asked) - before} inspect(s) of lb2"
    finally:
        del lb2.container.reload
    assert docker_status(lb2) == "running"


def docker_status(node: Any) -> str:
    node.container.reload()
    return str(node.container.status)


def test_disconnect_master(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """Twice: the second time the interface is the one the first revert renamed back to
    eth0, which the engine's own disconnect would have left plugged in."""
    hal = hal_scenario(mb)
    for _ in range(2):
        fault = hal.faults.disconnect("lb1")
        m = hal.failover("VI_1", fault, to="lb2")
        assert m.new_holder == "lb2" and m.recovered
        r = hal.recovery("VI_1", fault, to="lb1", timeout=20)
        assert r.new_holder == "lb1"


def test_partition_balancers_is_split_brain(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    faults = hal.faults.partition(["lb1"], ["lb2"])
    hal.wait_holders({"VI_1": ["lb1", "lb2"]})
    assert_split_brain(hal.timeline(), "VI_1", faults[0].injected_at, None, initial=["lb1"])
    for f in faults:
        hal.revert(f)
    hal.wait_holders({"VI_1": ["lb1"]})


def conf_value(lab: Lab, node: str, key: str) -> str:
    """A keyword's value in the node's keepalived.conf (the file both engines read); the
    master/backup topology has a single vrrp_instance."""
    text = lab.node(node).read_file("/etc/keepalived/keepalived.conf").decode()
    found = re.findall(rf"^\s*{key}\s+(\S+)", text, re.M)
    assert len(found) == 1, f"{node}: {key} set {len(found)} times in keepalived.conf"
    return str(found[0])


def master_down_interval(advert_int: float, priority: int) -> float:
    """RFC 3768/5798: 3 x Advertisement_Interval + Skew_Time."""
    return 3 * advert_int + (256 - priority) / 256 * advert_int


def timeline_when(hal: Scenario, done: Callable[[Timeline], bool], what: str) -> Timeline:
    """The timeline, once ``done`` holds for it (the agents write a little after the fact)."""

    def ready() -> Timeline | None:
        tl = hal.timeline()
        return tl if done(tl) else None

    return waits.until(f"{what} in the timeline", ready, 5.0, 0.1, error=_assertion)


def _assertion(message: str, _node: str | None) -> BaseException:
    return AssertionError(message)


def test_total_packet_loss_on_backup_is_split_brain(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """lb2 drops every packet it receives: it stops hearing lb1's adverts, and when
    Master_Down_Interval has run out since the last one it heard it takes the VIP, which
    lb1 keeps: two holders. The split brain lasts until the revert; then lb1's next advert
    (priority 150 over lb2's 100) sends lb2 back to backup."""
    hal = hal_scenario(mb)
    lb1 = str(mb.node("lb1").ip)
    advert = float(conf_value(mb, "lb2", "advert_int"))
    mdi = master_down_interval(advert, int(conf_value(mb, "lb2", "priority")))
    # The takeover is timed from the last advert of lb1 that lb2 heard: the capture must
    # hold one before the fault (the observation may have begun less than an advert ago).
    timeline_when(
        hal,
        lambda tl: any(e.get("src") == lb1 for e in tl.of_kind("advert")),
        "an advert of lb1 before the fault",
    )
    fault = hal.faults.packet_loss("lb2", 100, direction="in")
    hal.wait_holders({"VI_1": ["lb1", "lb2"]})
    time.sleep(2 * advert)  # lb1 goes on advertising, unheard: the split brain stays
    hal.revert(fault)
    undone = time.time()  # the drop rule is gone (the undo has returned)
    reverted = fault.reverted_at
    assert reverted is not None
    hal.wait_holders({"VI_1": ["lb1"]})
    tl = timeline_when(
        hal,
        lambda tl: (
            any(e.node == "lb2" for e in tl.of_kind("vip_removed").between(reverted, None))
            and any(e.get("src") == lb1 for e in tl.of_kind("advert").between(undone, None))
        ),
        "lb2's vip_removed after the revert and an advert of lb1 after the undo",
    )
    sb = assert_split_brain(
        tl, "VI_1", fault.injected_at, None, initial=["lb1"], holders=["lb1", "lb2"]
    )
    story = f"split brain {sb.as_dict()}, fault {fault}\n" + tl.format_around(
        fault.injected_at, before=2.0, after=reverted - fault.injected_at + 2.0
    )

    def lb1_advert(*, before: float | None = None, after: float | None = None) -> float:
        """The last advert of lb1 on the wire before ``before``, or the first after ``after``."""

        def of_lb1(e: Event) -> bool:
            return e.kind == "advert" and e.get("src") == lb1 and e.get("priority") != 0

        ev = tl.last(of_lb1, before=before) if before is not None else tl.first(of_lb1, after=after)
        assert ev is not None, f"no advert of lb1 on the wire {before=} {after=}\n{story}"
        return ev.ts

    # It began when lb2's Master_Down_Interval ran out, counted from the last advert of lb1
    # it heard: the last one sent before the drop rule was in place, which happened between
    # the fault's inject and effective events. Not earlier (the timer cannot run out early),
    # and not much later (up to one advert interval of scheduling delay: the 2-core machine
    # is shared, and a VRRP daemon stalled for a second has been seen at load 10).
    heard_at_least = lb1_advert(before=fault.injected_at)
    heard_at_most = lb1_advert(before=fault.effective_at)
    earliest, latest = heard_at_least + mdi - 0.05, heard_at_most + mdi + advert
    assert earliest <= sb.start <= latest, (
        f"the split brain began {sb.start - fault.injected_at:+.3f} s from the fault's inject;"
        f" expected Master_Down_Interval ({mdi:.3f} s) after the last advert of lb1 that lb2"
        f" heard: {earliest - fault.injected_at:+.3f} s to {latest - fault.injected_at:+.3f} s"
        f"\n{story}"
    )
    # lb1 was not silenced: it advertised after the rule was in place and before lb2 took
    # over, and again during the split brain. lb2 took over because it heard nothing.
    for t0, t1, when in (
        (fault.effective_at, sb.start, "before lb2 took over"),
        (sb.start, reverted, "during the split brain"),
    ):
        n = sum(e.get("src") == lb1 for e in tl.of_kind("advert").between(t0, t1))
        assert n > 0, f"lb1 sent no advert {when}\n{story}"
    # It lasted until the revert, and ended when lb2 heard lb1 again: not before lb1's first
    # advert after the revert event, and on the first one after the rule was gone at the
    # latest (lb2, master at 100, steps down on hearing 150).
    assert sb.end is not None and sb.end > reverted, f"ended before the revert\n{story}"
    assert lb1_advert(after=reverted) - 0.01 <= sb.end <= lb1_advert(after=undone) + 0.5, (
        f"the split brain ended {sb.end - reverted:.3f} s after the revert, not on lb1's first"
        f" advert lb2 could hear\n{story}"
    )
    assert_single_holder(tl, "VI_1", sb.end, tl.end or sb.end, initial=["lb1"])
    assert_holder(tl, "VI_1", "lb1", tl.end or sb.end, initial=["lb1"])


def binomial_acceptance(n: int, p: float, alpha: float) -> tuple[int, int]:
    """``(lo, hi)`` such that X ~ Binomial(n, p) falls below ``lo`` with probability at
    most alpha/2 and above ``hi`` with probability at most alpha/2 (the widest tails that
    fit, from the exact distribution)."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    lo, tail = 0, 0.0
    while tail + pmf[lo] <= alpha / 2:
        tail += pmf[lo]
        lo += 1
    hi, tail = n, 0.0
    while tail + pmf[hi] <= alpha / 2:
        tail += pmf[hi]
        hi -= 1
    return lo, hi


def ping_loss(lab: Lab, target: str, count: int) -> int:
    """``count`` pings from the client to ``target``'s address, 10 ms apart: how many got
    no reply."""
    addr = str(lab.node(target).ip)
    res = lab.client_node().exec(
        ["ping", "-n", "-q", "-c", str(count), "-i", "0.01", "-W", "1", addr]
    )
    m = re.search(r"(\d+) packets transmitted, (\d+) received", res.output)
    assert m is not None, f"ping {addr}: {res.output}"
    sent, received = int(m[1]), int(m[2])
    assert sent == count, f"ping {addr} sent {sent} of {count}: {res.output}"
    return sent - received


PINGS = 400


def test_partial_packet_loss_drops_30_percent_until_reverted(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    """30% inbound loss on lb2: of 400 pings from the client, each dropped at lb2 with
    probability 0.3 independently (echo requests only: the rule is inbound), the number
    lost is Binomial(400, 0.3), mean 120. The accepted range holds it with probability
    over 1 - 1e-6 and excludes 0 and 400: a rule that drops nothing or everything fails
    for sure (and one at 10% or 50% all but surely). After the revert at most one ping of
    200 is lost: a rule left in place at 30% would lose about 60 (at most one with
    probability under 1e-28; even a 5% rule, under 5e-4), while a loaded CI host was seen
    to lose a single ping of 200 with no rule at all."""
    hal = hal_scenario(mb)
    lo, hi = binomial_acceptance(PINGS, 0.30, 1e-6)
    assert lo > 0 and hi < PINGS  # what the range must exclude
    fault = hal.faults.packet_loss("lb2", 30, direction="in")
    lost = ping_loss(mb, "lb2", PINGS)
    assert lo <= lost <= hi, (
        f"{lost} of {PINGS} pings lost under 30% loss; expected {lo}..{hi} (Binomial(n, 0.3)"
        " falls outside with probability < 1e-6)"
    )
    hal.revert(fault)
    lost_after = ping_loss(mb, "lb2", 200)
    assert lost_after <= 1, f"{lost_after} of 200 pings lost after the revert"


def test_raise_backup_priority_live(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.set_priority("lb2", "VI_1", 200)
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2"
    adverts = [
        e
        for e in hal.timeline().of_kind("advert")
        if e.data.get("src") == str(mb.node("lb2").ip) and e.ts > fault.injected_at
    ]
    assert adverts and adverts[-1].data["priority"] == 200
    r = hal.recovery("VI_1", fault, to="lb1")
    assert r.new_holder == "lb1"


@pytest.mark.lab("nginx_v3_fast")
@pytest.mark.parametrize("engine", ["keepalived", "halab"])
def test_raise_master_priority_live_keeps_the_vip(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    """A reload (SIGHUP) that only changes the master's priority keeps the master: the VIP
    never leaves it, no request fails, and its adverts carry the new priority."""
    lab = lab_factory("nginx_v3_fast", vrrp=engine)
    hal = hal_scenario(lab)
    lb1 = str(lab.node("lb1").ip)
    hal.wait_holders({"VI_1": ["lb1"]})
    fault = hal.faults.set_priority("lb1", "VI_1", 160)

    def wait_for_lb1_advert(priority: int) -> None:
        deadline = time.monotonic() + 5
        while not any(
            e.data.get("src") == lb1 and e.data.get("priority") == priority
            for e in hal.timeline().of_kind("advert")
            if e.ts > fault.injected_at
        ):
            assert time.monotonic() < deadline, f"lb1 never advertised priority {priority}"
            time.sleep(0.1)

    wait_for_lb1_advert(160)
    hal.revert(fault)
    wait_for_lb1_advert(150)
    tl = hal.timeline()
    end = tl.events[-1].ts
    removed = [e for e in tl.of_kind("vip_removed").events if e.ts > fault.injected_at]
    assert not removed, "the reload removed the VIP\n" + tl.format_around(removed[0].ts)
    assert_single_holder(tl, "VI_1", fault.injected_at, end, initial=["lb1"])
    assert_holder(tl, "VI_1", "lb1", end, initial=["lb1"])
    assert_no_failed_requests(tl, "VI_1", fault.injected_at, end)


def test_set_priority_on_unknown_instance_is_refused(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(mb)
    with pytest.raises(FaultError, match="lb2: no vrrp_instance VI_9"):
        hal.faults.set_priority("lb2", "VI_9", 200)


def test_rogue_master_with_the_password_takes_the_vip_away(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    """A forged advert (priority 254, right password) makes both balancers back off: the VIP
    is held by nobody while the rogue keeps advertising."""
    hal = hal_scenario(mb)
    fault = hal.faults.forge_advert(50, 254, [vip_ip(mb)], password="1111", count=30, interval=0.5)
    hal.wait_holders({"VI_1": []})
    m = hal.failover("VI_1", fault, to=None, settle=0.5, timeout=0.1)
    assert m.failed_requests > 0
    hal.revert(fault)
    hal.wait_holders({"VI_1": ["lb1"]})


def test_rogue_advert_with_a_wrong_password_is_ignored(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.forge_advert(50, 254, [vip_ip(mb)], password="wrong", count=1)
    m = hal.failover("VI_1", fault, to=None, settle=2.0, timeout=0.1)
    assert m.new_holder is None
    # one request outliving the probe's timeout on a busy host is not the fault's doing
    assert_no_failed_requests(hal.timeline(), "VI_1", m.fault_ts, m.window_end, tolerate_timeouts=1)
    assert mb.vip_holders() == {"VI_1": ["lb1"]}


def test_flood_of_bad_password_adverts(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """keepalived 2.2.7 restarts its master's advert timer on every packet it receives,
    even one it then drops for a wrong password: adverts forged every 0.5 s silence the
    master, and the backup takes over after Master_Down_Interval (a short split brain
    follows). halab-vrrpd restarts the timer only when it has sent an advert."""
    hal = hal_scenario(mb)
    fault = hal.faults.forge_advert(50, 254, [vip_ip(mb)], password="wrong", count=12, interval=0.5)
    time.sleep(6.5)  # an observation window: the flood lasts 6 s
    tl = hal.timeline()
    lb1 = str(mb.node("lb1").ip)
    lb1_adverts = [
        e.ts for e in tl.of_kind("advert") if e.data.get("src") == lb1 and e.ts > fault.effective_at
    ]
    lb2_took = [e for e in tl.of_kind("vip_added") if e.node == "lb2" and e.ts > fault.injected_at]
    if mb.engine == "keepalived":
        assert lb2_took, tl.format_around(fault.injected_at, after=6)
        # from the first forged advert until the backup's takeover the master said nothing
        client = str(mb.client_node().ip)
        first_forged = min(e.ts for e in tl.of_kind("advert") if e.data.get("src") == client)
        lb2 = str(mb.node("lb2").ip)
        takeover = min(
            e.ts for e in tl.of_kind("advert") if e.data.get("src") == lb2 and e.ts > first_forged
        )
        spoken = [t for t in lb1_adverts if first_forged < t < takeover]
        assert spoken == [], tl.format_around(fault.injected_at, after=6)
        assert takeover - first_forged > 2.0  # about Master_Down_Interval of silence
    else:
        assert not lb2_took, tl.format_around(fault.injected_at, after=6)


def test_forged_resignation_of_the_master(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """A priority-0 advert spoofed from lb1: lb2 takes over after Skew_Time, then lb1's real
    adverts (150) send it back: a short, real split brain."""
    hal = hal_scenario(mb)
    lb1 = str(mb.node("lb1").ip)
    # sent right after a real advert of lb1, so lb1's next one (1 s later) comes after
    # lb2's Skew_Time (0.61 s) has run out
    fault = hal.faults.forge_advert(
        50, 0, [vip_ip(mb)], src=lb1, password="1111", count=1, sync_after=lb1
    )
    lb2 = str(mb.node("lb2").ip)

    def lb2_advertised() -> bool:
        return any(
            e.data.get("src") == lb2 and e.ts > fault.injected_at
            for e in hal.timeline().of_kind("advert")
        )

    deadline = time.monotonic() + 10
    while not lb2_advertised():
        assert time.monotonic() < deadline, hal.timeline().format_around(fault.injected_at, after=4)
        time.sleep(0.1)
    hal.wait_holders({"VI_1": ["lb1"]})


def test_an_observer_that_fails_to_start_leaves_no_agent_behind(
    mb: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One agent cannot start: the observation fails, naming it, and the agents that did
    start are stopped (none is left running in any node)."""
    from pytest_halab.errors import ObserverError
    from pytest_halab.observe import Observation

    obs = Observation(mb)
    command = obs._agent_cmd

    def broken_probe(agent: Any, append: bool = False) -> str:
        if "-probe-" in agent.name:
            agent.argv = ["halab-probe", "--no-such-option"]
        return command(agent, append)

    obs._agent_cmd = broken_probe  # type: ignore[method-assign]
    # no live capture to be had: the observation runs its own, which starts
    monkeypatch.setattr(mb, "watch_wire", lambda _node: False)
    with pytest.raises(ObserverError, match="observers and probes to start") as info:
        obs.start()
    assert any("-probe-" in note for note in info.value.__notes__)
    assert sorted(a.name.split("-")[2] for a in obs.agents) == ["probe", "wire"]
    for agent in obs.agents:
        node = mb.node(agent.node)
        waits.command(
            node,
            f'! {{ p=$(cat {agent.pidfile}) && kill -0 "$p"; }}',
            f"{agent.name} to exit in {agent.node}",
            5,
        )


def test_a_scenario_takes_its_address_and_wire_events_from_the_lab_s_live_agents(
    mb: Lab, hal_scenario: ScenarioFactory
) -> None:
    """No observer starts for a test: each balancer runs one `halab-observe --addr`, the
    lab's live address set (addrwatch), whose lines are the test's VIP events, the client
    one capture (wirewatch), and after a restart of the master the new run's set records
    the VIP coming back, and the capture its adverts."""
    hal = hal_scenario(mb)
    for name in ("lb1", "lb2"):
        agents = mb.node(name).exec("pgrep -af halab-observe").output.splitlines()
        addr = [a for a in agents if "--addr" in a]
        assert len(addr) == 1 and "--present" in addr[0], agents
    # and the client's capture is the lab's (--until-eof: it runs as long as the client)
    agents = mb.client_node().exec("pgrep -af halab-observe").output.splitlines()
    wire = [a for a in agents if "--capture" in a]
    assert len(wire) == 1 and "--until-eof" in wire[0], agents
    fault = hal.faults.crash_node("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.new_holder == "lb2"
    hal.revert(fault)
    hal.wait_holders({"VI_1": ["lb1"]})
    seen = [
        (e.node, e.kind)
        for e in hal.timeline().between(fault.injected_at, None)
        if e.kind in ("vip_added", "vip_removed") and e.data.get("addr") == vip_ip(mb)
    ]
    # lb1 lost it with its container (its agent, killed with it, may or may not have
    # said so first), lb2 took it, and gave it back as lb1's new run added it (those two
    # in either order)
    if seen[:1] == [("lb1", "vip_removed")]:
        seen = seen[1:]
    assert seen[:1] == [("lb2", "vip_added")], seen
    assert sorted(seen[1:]) == [("lb1", "vip_added"), ("lb2", "vip_removed")], seen
    lb1 = str(mb.node("lb1").ip)
    back = next(e.ts for e in hal.timeline() if e.node == "lb1" and e.kind == "vip_added")
    adverts = hal.timeline().between(back - 1.0, None).of_kind("advert")  # it sends first
    assert any(e.data.get("src") == lb1 for e in adverts), hal.timeline().format_around(back)

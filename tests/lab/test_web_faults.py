"""Faults on the real servers (web nodes), for real, on the master/backup topology.

Each fault is checked from the client straight against web1 (what a health checker of
web1 would see) and through the VIP (what users see: nginx on lb1 round-robins to web1 and
web2), then reverted and checked again. One lab for the whole module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest

from pytest_halab import waits
from pytest_halab.errors import FaultError, LabTimeoutError
from pytest_halab.faults import Fault
from pytest_halab.lab import Lab
from pytest_halab.scenario import Scenario
from pytest_halab.webfaults import WebAnswer, ask

pytestmark = pytest.mark.lab("nginx_master_backup")

ScenarioFactory = Callable[[Lab], Scenario]
# nginx (common/nginx.conf) gives up on a backend after proxy_read_timeout 2s, then tries the
# next one: an answer through the VIP may take that long while web1 hangs.
VIA_VIP_BOUND_S = 4.0
# Each nginx worker round-robins on its own (no shared zone): 6 requests over 2 workers give
# one of them at least 3, so at least one reaches each backend it still considers up.
VIA_VIP_REQUESTS = 6


@pytest.fixture(scope="module")
def mb(lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("nginx_master_backup")


def via_vip(lab: Lab) -> list[WebAnswer]:
    return [ask(lab, "VI_1", bound=VIA_VIP_BOUND_S) for _ in range(VIA_VIP_REQUESTS)]


def served_by_web2_only(lab: Lab) -> None:
    answers = via_vip(lab)
    assert all(a.serves("2222") for a in answers), [str(a) for a in answers]


def phases(hal: Scenario, fault: Fault) -> list[str]:
    return [
        str(e.get("phase"))
        for e in hal.timeline().of_kind("fault")
        if e.get("name") == fault.name and e.get("target") == fault.target
    ]


def revert_and_check(hal: Scenario, fault: Fault, lab: Lab) -> None:
    hal.revert(fault)
    assert ask(lab, "web1").serves("1111")
    assert phases(hal, fault) == ["inject", "effective", "revert"]
    hal.revert(fault)  # once only
    assert phases(hal, fault) == ["inject", "effective", "revert"]


def test_stop_web(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    assert ask(mb, "web1").serves("1111") and ask(mb, "web2").serves("2222")
    fault = hal.faults.stop_web("web1")
    assert fault.detail == "apache2ctl stop"
    assert ask(mb, "web1").kind == "refused"
    assert not mb.node("web1").exec(["ss", "-ltnH", "sport = :80"]).output.strip()
    served_by_web2_only(mb)
    revert_and_check(hal, fault, mb)


def test_kill_web(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.kill_web("web1")
    assert fault.detail.startswith("SIGKILL to apache2 (pids ")
    assert ask(mb, "web1").kind == "refused"
    assert not mb.node("web1").exec(["pgrep", "-x", "apache2"]).ok
    served_by_web2_only(mb)
    revert_and_check(hal, fault, mb)


def test_web_error_is_passed_on_by_nginx(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.web_error("web1", status=503)
    assert fault.detail == "HTTP 503 to every request"
    got = ask(mb, "web1")
    assert got.kind == "http" and got.status == 503
    # nginx's proxy_next_upstream is "error timeout" by default: a backend's 503 is a
    # valid answer, handed to the client as is; web2's requests still succeed. nginx may
    # still count web1 as failed from an earlier test (max_fails=1 fail_timeout=2s): it
    # gets its turn again within fail_timeout, so ask for a bounded while.
    answers: list[WebAnswer] = []

    def both() -> bool | None:
        answers.extend(via_vip(mb))
        seen = {(a.status, a.serves("2222")) for a in answers}
        return True if {(503, False), (200, True)} <= seen else None

    with contextlib.suppress(LabTimeoutError):
        waits.until("web1's 503 and web2's 200 through the VIP", both, 8.0, 0.5)
    assert {(a.status, a.serves("2222")) for a in answers} == {(503, False), (200, True)}, [
        str(a) for a in answers
    ]
    revert_and_check(hal, fault, mb)


def test_web_error_on_a_status_apache_does_not_know(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """Apache answers 500 for a status it has no reason phrase for: the fault says so, and
    is undone since it did not take the effect asked for."""
    hal = hal_scenario(mb)
    with pytest.raises(FaultError, match="answers 500, not 418") as info:
        hal.faults.web_error("web1", status=418)
    assert any("the fault was undone" in n for n in info.value.__notes__)
    assert hal.faults.applied == []
    assert ask(mb, "web1").serves("1111")


def test_hang_web(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.hang_web("web1")
    assert ask(mb, "web1").kind == "silent"  # connected: the kernel still accepts
    # nginx waits proxy_read_timeout (2 s) on web1, then serves from web2
    served_by_web2_only(mb)
    revert_and_check(hal, fault, mb)


def test_firewall_web(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    fault = hal.faults.firewall_web("web1")
    assert fault.detail == "drop tcp/80 in"
    assert ask(mb, "web1").kind == "timeout"
    assert "--comment halab-fault-" in mb.node("web1").exec(["iptables", "-S", "INPUT"]).output
    # nginx's proxy_connect_timeout (1 s), then web2
    served_by_web2_only(mb)
    revert_and_check(hal, fault, mb)
    assert "halab-fault" not in mb.node("web1").exec(["iptables", "-S", "INPUT"]).output


def test_crash_and_pause_a_web_node(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    """crash_node and pause_node need nothing of their own for a web node: a crashed one
    does not answer at all, a paused one accepts (its kernel still completes handshakes)
    and says nothing. Both come back serving."""
    hal = hal_scenario(mb)
    crash = hal.faults.crash_node("web1")
    assert ask(mb, "web1").kind in ("timeout", "unreachable")
    served_by_web2_only(mb)
    revert_and_check(hal, crash, mb)
    pause = hal.faults.pause_node("web1")
    assert ask(mb, "web1").kind == "silent"
    served_by_web2_only(mb)
    revert_and_check(hal, pause, mb)


def test_web_faults_left_in_place_are_undone_at_scenario_end(mb: Lab) -> None:
    """Web faults on web1 and web2, none reverted by the test: the scenario's end undoes
    them all."""
    with Scenario(mb) as hal:
        hal.faults.web_error("web2", status=500)
        hal.faults.firewall_web("web2", port=8080)
        hal.faults.hang_web("web1")
        assert ask(mb, "web2").status == 500 and ask(mb, "web1").kind == "silent"
    assert ask(mb, "web1").serves("1111") and ask(mb, "web2").serves("2222")
    assert "halab-fault" not in mb.node("web2").exec(["iptables", "-S"]).output
    revert = [e.get("name") for e in hal.timeline().of_kind("fault") if e.get("phase") == "revert"]
    assert revert == ["hang_web", "firewall_web", "web_error"]  # newest first


def test_lab_restore_undoes_web_faults_nobody_recorded(mb: Lab) -> None:
    """Web faults made behind the faults' back (a test's own commands) are undone too."""
    web1, web2 = mb.node("web1"), mb.node("web2")
    web1.exec("apache2ctl stop", check=True)
    waits.until("apache2 gone from web1", lambda: not web1.exec("pgrep -x apache2").ok, 10)
    web2.exec("printf 'Redirect 500 /\\n' > /etc/apache2/conf-enabled/zz-halab-fault.conf")
    web2.exec(
        "apache2ctl graceful && iptables -w -I INPUT -p tcp --dport 80 -m comment "
        "--comment halab-fault-test -j DROP",
        check=True,
    )
    assert ask(mb, "web1").kind == "refused" and ask(mb, "web2").kind == "timeout"
    mb.restore()
    assert ask(mb, "web1").serves("1111") and ask(mb, "web2").serves("2222")


def test_web_faults_refuse_a_balancer(mb: Lab, hal_scenario: ScenarioFactory) -> None:
    hal = hal_scenario(mb)
    with pytest.raises(FaultError, match=r"stop_web acts on a web node .* lb1 is a balancer"):
        hal.faults.stop_web("lb1")
    assert mb.node("lb1").exec(["pgrep", "-x", "nginx"]).ok


def test_users_commands_on_a_real_server_and_the_client(mb: Lab) -> None:
    """What users type on the nodes around the balancers: systemctl on a real server
    (apache2, or httpd as Red Hat hosts name it) stops and starts its web server, which the
    client sees; ab loads the VIP and arping asks who answers for it (lb1, the master)."""
    web1, client = mb.node("web1"), mb.client_node()
    vip = str(mb.vip_addresses()["VI_1"])
    assert web1.exec("systemctl is-active apache2").output.strip() == "active"
    assert web1.exec("systemctl stop httpd.service").ok
    assert web1.exec("systemctl is-active httpd").exit_code == 3
    assert not ask(mb, "web1").serves("1111")
    served_by_web2_only(mb)
    started = web1.exec("systemctl start apache2")
    assert started.ok, started.output
    waits.until("web1 serving again", lambda: ask(mb, "web1").serves("1111") or None, 10)
    # the Red Hat names LVS guides use: service httpd, /etc/init.d/httpd, httpd -t
    stopped = web1.exec("service httpd stop")
    assert stopped.ok and web1.exec("systemctl is-active apache2").exit_code == 3, stopped.output
    started = web1.exec("/etc/init.d/httpd start")
    assert started.ok and web1.exec("systemctl is-active httpd").ok, started.output
    syntax = web1.exec("httpd -t")
    assert syntax.ok and "Syntax OK" in syntax.output, syntax.output
    waits.until("web1 serving again", lambda: ask(mb, "web1").serves("1111") or None, 10)
    # net-tools, as the real-server scripts of LVS guides use them
    assert str(web1.ip) in web1.exec("ifconfig eth0", check=True).output
    assert web1.exec("route -n", check=True).output.startswith("Kernel IP routing table")
    assert web1.exec("systemctl status nginx").exit_code == 4  # no such unit here
    load = client.exec(f"ab -n 40 -c 4 http://{vip}/")
    assert load.ok and "Complete requests:      40" in load.output, load.output
    assert "Failed requests:        0" in load.output, load.output
    who = client.exec(f"arping -c 1 -w 2 -I eth0 {vip}")
    lb1_mac = mb.node("lb1").exec("cat /sys/class/net/eth0/address").output.strip()
    assert who.ok and lb1_mac.lower() in who.output.lower(), (who.output, lb1_mac)

"""How long a failover measure watches for a move before it says "did not move": the bound
read from keepalived.conf texts (no lab)."""

from __future__ import annotations

import ipaddress

import pytest

from pytest_halab import topology
from pytest_halab.movebound import MARGIN_S, MoveBound, move_bound

VIP = "10.9.9.3"


def conf(
    *,
    advert: str = "1",
    track: str = "",
    scripts: str = "",
    vip: str = VIP,
    extra: str = "",
) -> str:
    return f"""
{scripts}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 50
    priority 100
    advert_int {advert}
    {extra}
    virtual_ipaddress {{
        {vip}
    }}
    {track}
}}
"""


CHECK = """
vrrp_script check_nginx {
    script "/etc/keepalived/check_nginx.sh"
    interval 2
    fall 3
    timeout 1
    weight -100
}
"""


def test_without_a_tracked_script_the_bound_is_master_down_plus_the_margin() -> None:
    b = move_bound([conf()], VIP)
    assert b == MoveBound(advert_int=1.0)
    assert b.seconds == 4 * 1.0 + MARGIN_S
    assert b.explain() == "5 s (Master_Down_Interval <= 4 x 1 s, margin 1 s)"


def test_the_slowest_tracked_script_adds_interval_times_fall_plus_its_timeout() -> None:
    slow = conf(scripts=CHECK, track="track_script {\n check_nginx\n}")
    b = move_bound([conf(advert="0.5"), slow], VIP)
    # the largest advert interval of the instances carrying the VIP (1 s and 0.5 s here)
    assert b.advert_int == 1.0
    assert (b.track_script, b.track_s) == ("check_nginx", 2 * 3 + 1)
    assert b.seconds == 4 + 7 + MARGIN_S
    assert "track script check_nginx 7 s" in b.explain()


def test_a_script_without_timeout_runs_for_up_to_its_interval() -> None:
    quick = CHECK.replace("    timeout 1\n", "").replace("fall 3", "fall 1")
    b = move_bound([conf(scripts=quick, track="track_script {\n check_nginx\n}")], VIP)
    assert b.track_s == 2 * 1 + 2


def test_what_does_not_carry_the_vip_or_does_not_exist_adds_nothing() -> None:
    tracked = "track_script {\n check_nginx\n}"
    other_vip = conf(scripts=CHECK, track=tracked, vip="10.9.9.4", advert="3")
    undefined = conf(track="track_script {\n no_such_script\n}")
    b = move_bound([other_vip, undefined], VIP)
    assert b == MoveBound(advert_int=1.0)


def test_preempt_delay_counts() -> None:
    b = move_bound([conf(extra="preempt_delay 2")], VIP)
    assert b.preempt_delay_s == 2.0 and b.seconds == 4 + 2 + MARGIN_S


def test_with_no_configuration_the_advert_interval_given_or_keepalived_default() -> None:
    assert move_bound([], VIP, 0.1).seconds == pytest.approx(0.4 + MARGIN_S)
    assert move_bound([], VIP).advert_int == 1.0
    assert move_bound(["this is { not keepalived"], VIP, 0.5).advert_int == 0.5


@pytest.mark.parametrize(
    ("name", "seconds"),
    [("nginx_master_backup", 7.0), ("nginx_v3_fast", 3.4), ("nginx_dual_master", 7.0)],
)
def test_the_shipped_topologies(name: str, seconds: float) -> None:
    """Their nginx check runs every second (fall 1): a dead nginx is noticed within 2 s."""
    topo = topology.load(name)
    addr = topo.addressing(ipaddress.IPv4Network("10.9.9.0/24"))
    confs = [topo.render_files(n, addr)[topology.KEEPALIVED_CONF].data for n in topo.balancers]
    assert move_bound(confs, str(addr.vips["VI_1"])).seconds == seconds

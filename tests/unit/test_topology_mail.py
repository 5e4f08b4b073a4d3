"""A topology's mail node: {{ mail.ip }} renders to it; a mail node no balancer mails to,
{{ mail.ip }} with no mail node, and two mail nodes are refused at load with file, line and
field, before any container starts."""

from __future__ import annotations

import ipaddress
import textwrap
from pathlib import Path

import pytest

from pytest_halab import topology
from pytest_halab.errors import TopologyError

TOPO = """\
name: mailer
nodes:
  client: {role: client, host: 100}
  lb1:
    role: balancer
    host: 10
    files:
      /etc/keepalived/keepalived.conf: ka.conf
  web1: {role: web, host: 20}
  smtp1: {role: mail, host: 25}
vips:
  VI_1: {host: 3, master: lb1}
"""

KA = """\
global_defs {
    notification_email {
        ops@example.com
    }
    SMTP_LINE
}

vrrp_instance VI_1 {
    state MASTER
    interface {{ interface }}
    virtual_router_id 50
    priority 150
    advert_int 1
    smtp_alert
    virtual_ipaddress {
        {{ vip.VI_1 }}
    }
}
"""


def write(tmp_path: Path, smtp_line: str, topo: str = TOPO) -> Path:
    (tmp_path / "ka.conf").write_text(KA.replace("SMTP_LINE", smtp_line))
    p = tmp_path / "mailer.yaml"
    p.write_text(textwrap.dedent(topo))
    return p


def test_mail_ip_is_the_mail_node_whatever_its_name(tmp_path: Path) -> None:
    t = topology.load(write(tmp_path, "smtp_server {{ mail.ip }}"))
    assert t.nodes_with_role(topology.Role.MAIL) == ["smtp1"]
    addr = t.addressing(ipaddress.IPv4Network("10.213.7.0/24"))
    assert addr.mail == "smtp1"
    ka = t.render_files("lb1", addr)["/etc/keepalived/keepalived.conf"].data.decode()
    assert "smtp_server 10.213.7.25\n" in ka


def test_the_mail_node_by_its_own_name_counts_too(tmp_path: Path) -> None:
    assert topology.load(write(tmp_path, "smtp_server {{ smtp1.ip }} 25")).name == "mailer"


@pytest.mark.parametrize(
    ("smtp_line", "says"),
    [
        ("smtp_server 127.0.0.1", "lb1's ka.conf has smtp_server 127.0.0.1"),
        ("smtp_connect_timeout 30", "lb1's ka.conf has no smtp_server"),
        ("smtp_server {{ web1.ip }}", "lb1's ka.conf has smtp_server 192.0.2.20"),
    ],
)
def test_a_mail_node_no_balancer_mails_to_is_refused_at_its_line(
    tmp_path: Path, smtp_line: str, says: str
) -> None:
    p = write(tmp_path, smtp_line)
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}:10: nodes.smtp1.role: mail node smtp1 is the smtp_server of no "), (
        msg
    )
    assert says in msg
    assert "smtp_server {{ mail.ip }}" in msg


MAIL_NODE = "  smtp1: {role: mail, host: 25}\n"


@pytest.mark.parametrize(
    ("nodes", "where", "says"),
    [
        # {{ mail.ip }} with no mail node: at the template's line
        ("", "ka.conf:5: ", "{{ mail.ip }} names the lab's mail node, and this topology has none"),
        # a second mail node: at its role
        (
            MAIL_NODE + "  smtp2: {role: mail, host: 26}\n",
            "mailer.yaml:11: nodes.smtp2.role: ",
            "at most one mail node",
        ),
    ],
)
def test_mail_nodes_other_than_one_are_refused_where_they_are_written(
    tmp_path: Path, nodes: str, where: str, says: str
) -> None:
    p = write(tmp_path, "smtp_server {{ mail.ip }}", TOPO.replace(MAIL_NODE, nodes))
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    msg = str(info.value)
    assert f"{tmp_path / where}" in msg and says in msg, msg


def test_a_host_name_as_smtp_server_is_refused_as_keepalived_t_does(tmp_path: Path) -> None:
    # seed 004 writes `smtp_server mail.zerounix.com`: the lab resolves no outside name
    p = write(tmp_path, "smtp_server mail.example.com")
    with pytest.raises(TopologyError) as info:
        topology.load(p)
    assert "Invalid smtp server mail.example.com" in str(info.value)


def test_the_shipped_mail_topology_loads() -> None:
    t = topology.load("nginx_mail")
    assert t.nodes_with_role(topology.Role.MAIL) == ["mail"]
    assert t.balancers == ["lb1", "lb2"]

"""Topology files that loaded (or crashed) where they must be refused at their line and
field: values Docker or UTF-8 cannot carry, one spelling per destination, whole-topology
rules said at the field they concern."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_topology import GOOD, KA, write  # tests/unit is on sys.path (rootdir conftest)

from pytest_halab import topology
from pytest_halab.errors import TopologyError


def refused(path: Path) -> str:
    with pytest.raises(TopologyError) as info:
        topology.load(path)
    return str(info.value)


def test_a_lone_surrogate_is_refused_at_its_line_not_a_traceback(tmp_path: Path) -> None:
    # "\ud800" is valid YAML escaping but no character: rendering it into a template
    # raised UnicodeEncodeError out of topology.load (and `halab up` printed a traceback)
    ka = KA.replace("priority 150", "priority 150\n    ! {{ var.X }}")
    p = write(tmp_path, GOOD + 'vars: {X: "\\ud800"}\n', ka=ka)
    msg = refused(p)
    assert msg.startswith(f"{p}:12: vars.X: invalid YAML: unreadable value: a lone surrogate")


@pytest.mark.parametrize(
    "dest",
    [
        "/etc/keepalived/./keepalived.conf",
        "/etc//keepalived/keepalived.conf",
        "//etc/keepalived/keepalived.conf",
    ],
)
def test_a_destination_spelled_otherwise_is_refused(tmp_path: Path, dest: str) -> None:
    # each is /etc/keepalived/keepalived.conf in the node, but escaped the check of that
    # path: a file keepalived -t refuses (VRID 300) loaded, and would have run in the lab
    bad = KA.replace("virtual_router_id 50", "virtual_router_id 300")
    p = write(tmp_path, GOOD.replace("/etc/keepalived/keepalived.conf:", f"{dest}:"), ka=bad)
    assert refused(p) == (
        f"{p}:7: nodes.lb1.files: destination {dest!r} must be written "
        "'/etc/keepalived/keepalived.conf'"
    )


@pytest.mark.parametrize(
    ("web1", "expected"),
    [
        ('body: "a\\0b"', "nodes.web1.body: contains a NUL character"),
        ('body: "1", env: {A: "a\\0b"}', "nodes.web1.env: value of 'A' contains a NUL"),
        ('body: "1", env: {"": "x"}', "nodes.web1.env: variable name '' must be non-empty"),
        ('body: "1", env: {"A=B": "x"}', "nodes.web1.env: variable name 'A=B' must be non-empty"),
    ],
)
def test_environment_docker_refuses_is_refused_at_load(
    tmp_path: Path, web1: str, expected: str
) -> None:
    # Docker refused these only once containers were being made (a traceback from
    # `halab up`), or ran A=B as A="B=x"
    p = write(tmp_path, GOOD.replace('body: "1111"', web1))
    assert refused(p).startswith(f"{p}:9: {expected}")


def test_a_second_client_is_refused_at_its_line(tmp_path: Path) -> None:
    two = GOOD.replace("  web1:", "  client2: {role: client, host: 101}\n  web1:")
    p = write(tmp_path, two)
    assert refused(p) == (
        f"{p}:9: nodes.client2.role: a topology needs exactly one client node; "
        "client is one already"
    )


def test_a_host_outside_the_subnet_is_refused_at_its_line(tmp_path: Path) -> None:
    p = write(tmp_path, "prefixlen: 28\n" + GOOD)
    assert refused(p) == (
        f"{p}:4: nodes.client.host: host 100 does not fit the lab's /28 subnet "
        "(hosts 2 to 14): see prefixlen"
    )


def test_a_directory_is_not_a_topology_file(tmp_path: Path) -> None:
    d = tmp_path / "dir.yaml"
    d.mkdir()
    with pytest.raises(TopologyError, match=r"no such topology file .*not a regular file"):
        topology.resolve(str(d))


def test_a_file_where_the_lab_keeps_its_own_is_refused(tmp_path: Path) -> None:
    # /etc/halab/vrrp-engine names the balancer's engine: the lab wrote over the user's
    text = GOOD.replace(
        "      /etc/keepalived/keepalived.conf: ka.conf\n",
        "      /etc/keepalived/keepalived.conf: ka.conf\n      /etc/halab/vrrp-engine: ka.conf\n",
    )
    assert text != GOOD
    p = write(tmp_path, text)
    assert refused(p) == (
        f"{p}:7: nodes.lb1.files: destination '/etc/halab/vrrp-engine' is in /etc/halab/, "
        "which the lab itself writes in every node: choose another path"
    )

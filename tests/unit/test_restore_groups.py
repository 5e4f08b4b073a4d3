"""The VRRP groups a balancer listens on, read from ``ip maddr show``, and what a restore
says of the ones lost since the lab was ready; what a pause of an idle lab says of the nodes
the engine would not freeze."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import docker.errors

from pytest_halab.labrestore import _groups_left, pause, vrrp_groups

MADDR = """\
1:\tlo
\tinet  224.0.0.1
\tinet6 ff02::1
\tinet6 ff01::1
87:\teth0
\tlink  33:33:00:00:00:01
\tlink  01:00:5e:00:00:12
\tinet  224.0.0.18
\tinet  224.0.0.1
\tinet6 ff02::12 users 2
\tinet6 ff02::1:ff00:3
\tinet6 ff02::1
91:\teth1@if92
\tinet  224.0.0.18
"""


def test_only_the_vrrp_groups_each_on_its_interface() -> None:
    assert vrrp_groups(MADDR) == {
        ("eth0", "224.0.0.18"),
        ("eth0", "ff02::12"),
        ("eth1", "224.0.0.18"),
    }
    assert vrrp_groups("") == frozenset()
    assert vrrp_groups("87:\teth0\n\tinet  224.0.0.1\n") == frozenset()


def test_a_restore_names_the_groups_a_balancer_left() -> None:
    had = vrrp_groups(MADDR)
    lab: Any = SimpleNamespace(vrrp_groups={"lb1": had, "lb2": frozenset({("eth0", "224.0.0.18")})})
    assert _groups_left(lab, {"lb1": had, "lb2": frozenset({("eth0", "224.0.0.18")})}) == ""
    lost = _groups_left(lab, {"lb1": frozenset({("eth0", "ff02::12")}), "lb2": frozenset()})
    assert lost == (
        "lb1 no longer listens on 224.0.0.18 on eth0, 224.0.0.18 on eth1; "
        "lb2 no longer listens on 224.0.0.18 on eth0"
    )
    # joining more than at start (a config reloaded with a new instance) is no loss
    assert _groups_left(lab, {"lb1": had | {("eth2", "224.0.0.18")}, "lb2": had}) == ""
    # a lab reattached by the CLI has no record of its start: nothing to compare
    assert _groups_left(SimpleNamespace(vrrp_groups={}), {"lb1": frozenset()}) == ""  # type: ignore[arg-type]


class _Container:
    """A container whose pause fails as the engine words it, ``fails`` times."""

    def __init__(self, *fails: str) -> None:
        self.fails = list(fails)
        self.calls = 0

    def pause(self) -> None:
        self.calls += 1
        if self.fails:
            raise docker.errors.APIError("500 Server Error", explanation=self.fails.pop(0))


def test_a_pause_the_freezer_could_not_complete_is_tried_once_more() -> None:
    """runc's cgroup v1 freezer gives up when processes keep joining the cgroup ("unable to
    freeze", seen in CI): one more try; any other refusal, or a second failure, is said."""
    freeze_failed = "OCI runtime pause failed: unable to freeze: unknown"
    nodes = {
        "lb1": _Container(freeze_failed),
        "lb2": _Container(freeze_failed, freeze_failed),
        "web1": _Container("Container abc is not running"),
        "web2": _Container(),
    }
    lab: Any = SimpleNamespace(
        nodes={name: SimpleNamespace(name=name, container=c) for name, c in nodes.items()}
    )
    assert sorted(pause(lab)) == [
        f"lb2: {freeze_failed}",
        "web1: Container abc is not running",
    ]
    assert {name: c.calls for name, c in nodes.items()} == {
        "lb1": 2,
        "lb2": 2,
        "web1": 1,
        "web2": 1,
    }

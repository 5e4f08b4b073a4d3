"""The VRRP groups a balancer listens on, read from ``ip maddr show``, and what a restore
says of the ones lost since the lab was ready."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pytest_halab.labrestore import _groups_left, vrrp_groups

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

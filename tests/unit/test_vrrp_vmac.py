"""use_vmac in halab-vrrpd (pytest_halab.vrrp.vmac), without a kernel: what the option asks
for, the interface name and MAC keepalived 2.2.7 would use, the netlink requests made, and
where the VIPs go. The real thing against keepalived is tests/netns/test_vrrp_vmac.py."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pytest_halab.vrrp import vmac as vmac_module
from pytest_halab.vrrp.conf import VrrpInstance
from pytest_halab.vrrp.conf.model import VirtualIp
from pytest_halab.vrrp.instance import resolve_vips
from pytest_halab.vrrp.net import (
    IPV4_DEVCONF_ARP_IGNORE,
    IPV4_DEVCONF_ARPFILTER,
    MACVLAN_MODE_PRIVATE,
    AddressInfo,
    LinkDetails,
)
from pytest_halab.vrrp.vmac import (
    BASE_IPV4_CONF,
    VMAC_IPV4_CONF,
    VmacRequest,
    Vmacs,
    default_mac,
    vmac_request,
)


def inst(words: list[str] | None, **kw: Any) -> VrrpInstance:
    cfg = VrrpInstance(name="VI_1", interface="eth0", vrid=52, **kw)
    if words is not None:
        cfg.options["use_vmac"] = words
    return cfg


def test_default_mac_is_rfc5798s() -> None:
    assert default_mac(52, 4) == bytes.fromhex("00005e000134")
    assert default_mac(52, 6) == bytes.fromhex("00005e000234")


def test_no_use_vmac_no_request() -> None:
    assert vmac_request(inst(None)) is None


def test_plain_use_vmac() -> None:
    assert vmac_request(inst([])) == VmacRequest(None, default_mac(52, 4), False)
    assert vmac_request(inst([], family=6)) == VmacRequest(None, default_mac(52, 6), False)


def test_name_mac_and_xmit_base() -> None:
    cfg = inst(["vx52", "02:11:22:33:44:55"])
    cfg.options["vmac_xmit_base"] = []
    assert vmac_request(cfg) == VmacRequest("vx52", bytes.fromhex("021122334455"), True)
    # five octets: the VRID is the sixth
    five = vmac_request(inst(["02:11:22:33:44"]))
    assert five is not None and five.mac == bytes.fromhex("021122334434")


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ("02:zz:22:33:44:55", "VMAC invalid MAC address 02:zz:22:33:44:55 - ignored"),
        ("03:11:22:33:44:55", "VMAC MAC address is multicast 03:11:22:33:44:55 - ignoring"),
        (
            "00:00:5e:00:01:07",
            "VMAC MAC address not allowed to be RFC5798 address (00:00:5e:00:01:07) - ignoring",
        ),
        ("a/b", "VMAC interface name 'a/b' too long or invalid characters - ignoring"),
        ("x" * 16, f"VMAC interface name '{'x' * 16}' too long or invalid characters - ignoring"),
    ],
)
def test_bad_words_are_logged_and_ignored(
    word: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="halab-vrrpd"):
        request = vmac_request(inst([word]))
    assert request == VmacRequest(None, default_mac(52, 4), False)
    assert message in caplog.messages


def test_unicast_forces_xmit_base(caplog: pytest.LogCaptureFixture) -> None:
    cfg = inst([], unicast_peers=["10.0.0.2"])
    with caplog.at_level(logging.ERROR, logger="halab-vrrpd"):
        request = vmac_request(cfg)
    assert request is not None and request.xmit_base
    assert "(VI_1) unicast with use_vmac requires vmac_xmit_base - setting" in caplog.messages


def test_vips_on_the_instance_interface_go_on_the_vmac() -> None:
    cfg = inst([])
    cfg.vips = [VirtualIp("10.0.0.100", 24), VirtualIp("10.1.0.100", 24, dev="eth1")]
    index = {"eth0": 2, "eth1": 3, "vrrp.52": 9}.get
    vips = resolve_vips(cfg, "eth0", index, vmac="vrrp.52")
    assert [(v.address, v.dev, v.index) for v in vips] == [
        ("10.0.0.100", "vrrp.52", 9),
        ("10.1.0.100", "eth1", 3),
    ]
    assert [v.dev for v in resolve_vips(cfg, "eth0", index)] == ["eth0", "eth1"]


class FakeNetlink:
    """Records the requests; `links` is what exists (name -> LinkDetails)."""

    def __init__(self, links: dict[str, LinkDetails] | None = None) -> None:
        self.links = dict(links or {})
        self.calls: list[tuple[Any, ...]] = []
        self.base_ll: list[AddressInfo] = []

    def link_details(self, name: str) -> LinkDetails | None:
        return self.links.get(name)

    def add_macvlan(self, name: str, base: int, mac: bytes, *, index: int | None = None) -> None:
        self.calls.append(("add_macvlan", name, base, mac, index))
        self.links[name] = LinkDetails(40, name, "macvlan", MACVLAN_MODE_PRIVATE, mac, base, False)

    def delete_link(self, index: int) -> bool:
        self.calls.append(("delete_link", index))
        return True

    def set_ipv4_conf(self, index: int, values: dict[int, int]) -> None:
        self.calls.append(("set_ipv4_conf", index, dict(values)))

    def set_addr_gen_mode_none(self, index: int) -> None:
        self.calls.append(("addrgenmode_none", index))

    def set_link_up(self, index: int) -> None:
        self.calls.append(("up", index))

    def addresses(self, index: int | None = None, family: int = 4) -> list[AddressInfo]:
        return [a for a in self.base_ll if a.index == index]

    def add_address(self, index: int, address: str, prefixlen: int, **kw: Any) -> bool:
        self.calls.append(("add_address", index, address, prefixlen))
        return True


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """sysctls and ifindexes as the module sees them."""
    state: dict[str, Any] = {"sysctl": {}, "written": []}
    monkeypatch.setattr(vmac_module.socket, "if_nametoindex", lambda name: 40)
    monkeypatch.setattr(vmac_module, "_read_sysctl", lambda path: state["sysctl"].get(path, 0))
    monkeypatch.setattr(
        vmac_module, "_write_sysctl", lambda path, value: state["written"].append((path, value))
    )
    return state


def make(nl: FakeNetlink, family: int = 4, name: str | None = None, xmit: bool = False) -> Any:
    vmacs = Vmacs(nl)  # type: ignore[arg-type]
    request = VmacRequest(name, default_mac(52, family), xmit)
    return vmacs, vmacs.create("VI_1", request, base="eth0", base_index=2, vrid=52, family=family)


def test_ipv4_vmac_made_as_keepalived_makes_it(kernel: dict[str, Any]) -> None:
    nl = FakeNetlink()
    vmacs, vm = make(nl)
    assert (vm.name, vm.index, vm.mac, vm.created) == ("vrrp.52", 40, default_mac(52, 4), True)
    assert nl.calls == [
        ("add_macvlan", "vrrp.52", 2, default_mac(52, 4), None),
        ("set_ipv4_conf", 40, VMAC_IPV4_CONF),
        ("set_ipv4_conf", 2, BASE_IPV4_CONF),
        ("addrgenmode_none", 40),
        ("up", 40),
    ]
    assert kernel["written"] == [("net/ipv6/conf/vrrp.52/disable_ipv6", 1)]
    nl.calls.clear()
    vmacs.delete("VI_1", vm)
    # arp_ignore/arp_filter put back as they were (0), then the VMAC deleted
    assert nl.calls == [
        ("set_ipv4_conf", 2, {IPV4_DEVCONF_ARP_IGNORE: 0, IPV4_DEVCONF_ARPFILTER: 0}),
        ("delete_link", 40),
    ]


def test_base_settings_restored_after_the_last_vmac(kernel: dict[str, Any]) -> None:
    nl = FakeNetlink()
    vmacs, first = make(nl)
    second = vmacs.create(
        "VI_2", VmacRequest(None, default_mac(53, 4), False), base="eth0", base_index=2,
        vrid=53, family=4,
    )  # fmt: skip
    assert sum(1 for c in nl.calls if c[:2] == ("set_ipv4_conf", 2)) == 1
    nl.calls.clear()
    vmacs.delete("VI_1", first)
    assert not any(c[:2] == ("set_ipv4_conf", 2) for c in nl.calls)
    vmacs.delete("VI_2", second)
    assert any(c[:2] == ("set_ipv4_conf", 2) for c in nl.calls)


def test_base_already_set_is_left_alone(kernel: dict[str, Any]) -> None:
    kernel["sysctl"] = {"net/ipv4/conf/eth0/arp_ignore": 1, "net/ipv4/conf/eth0/arp_filter": 1}
    nl = FakeNetlink()
    vmacs, vm = make(nl)
    assert not any(c[:2] == ("set_ipv4_conf", 2) for c in nl.calls)
    nl.calls.clear()
    vmacs.delete("VI_1", vm)
    assert nl.calls == [("delete_link", 40)]


def test_matching_vmac_left_by_a_previous_run_is_used(kernel: dict[str, Any]) -> None:
    old = LinkDetails(40, "vrrp.52", "macvlan", MACVLAN_MODE_PRIVATE, default_mac(52, 4), 2, True)
    nl = FakeNetlink({"vrrp.52": old})
    _vmacs, vm = make(nl)
    assert vm.name == "vrrp.52" and not vm.created
    assert not any(c[0] in ("add_macvlan", "set_ipv4_conf") for c in nl.calls)
    assert ("up", 40) in nl.calls


def test_name_taken_by_another_interface(kernel: dict[str, Any]) -> None:
    taken = LinkDetails(7, "vrrp.52", "veth", 0, b"\x02" * 6, 0, True)
    nl = FakeNetlink({"vrrp.52": taken})
    _vmacs, vm = make(nl)
    assert vm.name == "vrrp1.52"
    nl6 = FakeNetlink({"vrrp.52": taken})
    _vmacs, vm6 = make(nl6, family=6)
    assert vm6.name == "vrrp6.52"  # keepalived tries vrrp6 second for IPv6


def test_configured_name_not_a_macvlan(kernel: dict[str, Any], caplog: Any) -> None:
    taken = LinkDetails(7, "vx52", "dummy", 0, b"\x02" * 6, 0, True)
    nl = FakeNetlink({"vx52": taken})
    with caplog.at_level(logging.ERROR, logger="halab-vrrpd"):
        _vmacs, vm = make(nl, name="vx52")
    assert vm.name == "vrrp.52"
    assert any("already exists as a non VMAC interface" in m for m in caplog.messages)


def test_configured_macvlan_with_wrong_mac_is_updated(kernel: dict[str, Any]) -> None:
    wrong = LinkDetails(40, "vx52", "macvlan", 4, b"\x02" * 6, 2, True)
    nl = FakeNetlink({"vx52": wrong})
    _vmacs, vm = make(nl, name="vx52")
    assert vm.name == "vx52"
    assert nl.calls[0] == ("add_macvlan", "vx52", 2, default_mac(52, 4), 40)


def test_configured_macvlan_on_another_interface_is_replaced(kernel: dict[str, Any]) -> None:
    elsewhere = LinkDetails(33, "vx52", "macvlan", 1, default_mac(52, 4), 5, True)
    nl = FakeNetlink({"vx52": elsewhere})
    _vmacs, _vm = make(nl, name="vx52")
    assert nl.calls[:2] == [
        ("delete_link", 33),
        ("add_macvlan", "vx52", 2, default_mac(52, 4), None),
    ]


def test_ipv6_vmac_gets_the_base_link_local(kernel: dict[str, Any]) -> None:
    nl = FakeNetlink()
    nl.base_ll = [AddressInfo(2, "fe80::1", 64, "", False, family=6)]
    _vmacs, vm = make(nl, family=6)
    assert vm.mac == default_mac(52, 6)
    assert not any(c[0] == "set_ipv4_conf" for c in nl.calls)  # IPv4 settings: IPv4 only
    assert kernel["written"] == [("net/ipv6/conf/vrrp.52/disable_ipv6", 0)]
    assert nl.calls[-1] == ("add_address", 40, "fe80::1", 64)
    nl_x = FakeNetlink()
    nl_x.base_ll = nl.base_ll
    _vmacs, _vm = make(nl_x, family=6, xmit=True)
    assert not any(c[0] == "add_address" for c in nl_x.calls)  # xmit_base: none


def test_refused_creation_is_logged(kernel: dict[str, Any], caplog: Any) -> None:
    nl = FakeNetlink()

    def refuse(*_a: Any, **_k: Any) -> None:
        raise OSError(95, "Operation not supported")

    nl.add_macvlan = refuse  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="halab-vrrpd"):
        _vmacs, vm = make(nl)
    assert vm is None
    assert any("Unable to create VMAC interface vrrp.52" in m for m in caplog.messages)

"""A running vrrp_instance: its virtual addresses, state machine, socket and counters.

Built from its config by :func:`new_instance` (no I/O: the caller looks up the interface,
its address and the socket); :func:`machine_identity` tells whether a reload may keep it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_halab.vrrp.conf import VrrpInstance
from pytest_halab.vrrp.conf.model import INSTANCE_NOTIFY_KEYWORDS
from pytest_halab.vrrp.counters import AdvertStats
from pytest_halab.vrrp.loop import Timer
from pytest_halab.vrrp.net import VrrpSocket
from pytest_halab.vrrp.packet import (
    AuthType,
    ReceiveExpectation,
    mcast_group,
    password_auth_data,
)
from pytest_halab.vrrp.state import (
    PRIORITY_OWNER,
    InstanceParams,
    State,
    VrrpInstanceMachine,
)
from pytest_halab.vrrp.vmac import Vmac

__all__ = [
    "NO_ADDRESS",
    "NO_INTERFACE",
    "Instance",
    "Vip",
    "machine_identity",
    "new_instance",
    "resolve_vips",
    "source_kind",
    "unspecified",
]

log = logging.getLogger("halab-vrrpd")

# An instance's own fault reasons (besides tracking): its interface is missing, or has
# no address to send adverts from (IPv4; for an IPv6 instance a link-local one).
NO_INTERFACE = "no interface"
NO_ADDRESS = "no address"


def unspecified(family: int) -> str:
    """The source address of an instance that has none yet."""
    return "::" if family == 6 else "0.0.0.0"


def source_kind(family: int) -> str:
    """What address an instance of this family sends from, for messages."""
    return "link-local IPv6" if family == 6 else "IPv4"


@dataclass
class Vip:
    """One virtual address of an instance, resolved to its interface."""

    address: str
    prefixlen: int
    dev: str
    index: int
    label: str | None
    broadcast: str | None  # the address (keepalived computes ``brd +``/``-``)
    scope: str | int | None  # the scope's number, or as written
    preferred_lft: int | None = None  # IPv6: keepalived's ``preferred_lft`` (0: deprecated)

    @property
    def family(self) -> int:
        return 6 if ":" in self.address else 4

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.address, self.prefixlen, self.dev)


@dataclass
class Instance:
    """A running vrrp_instance: its config, state machine, socket and tracking."""

    cfg: VrrpInstance
    machine: VrrpInstanceMachine
    sock: VrrpSocket | None  # None while the interface is missing
    src: str
    expectation: ReceiveExpectation
    vips: list[Vip]
    advert_addresses: tuple[str, ...]
    auth_type: int
    auth_data: bytes
    destinations: tuple[str, ...]
    group: str | None = None
    installed: set[tuple[str, int, str]] = field(default_factory=set)
    # the virtual routes and rules it put in place (keys of routing.item_key)
    routes_set: set[str] = field(default_factory=set)
    rules_set: set[str] = field(default_factory=set)
    timer: Timer | None = None
    own_fault: bool = False
    fault_reasons: tuple[str, ...] = ()
    wants_master: bool = False  # sync group: master-down ran out, no master heard since
    # encoded adverts by what goes in them: the takeover's first advert leaves without
    # building one (key: priority, interval field, addresses, source, destination)
    advert_cache: dict[tuple[int, int, tuple[str, ...], str, str], bytes] = field(
        default_factory=dict
    )
    stats: AdvertStats = field(default_factory=AdvertStats)  # keepalived's counters
    last_transition: float = 0.0  # wall clock (time.time()) of the last state change
    # VRRPv3/IPv4 unicast checksums over the multicast group (keepalived's
    # unicast_chksum_compat): "none" (RFC; turns "auto" on hearing an old one from a peer),
    # "never" (``old_unicast_checksum never``), "config" (``old_unicast_checksum``), "auto"
    checksum_compat: str = "none"
    vmac: Vmac | None = None  # use_vmac: the virtual MAC interface it runs on

    @property
    def socket_interface(self) -> str:
        """Where its adverts go and come: its VMAC (unless ``vmac_xmit_base``), else its
        interface."""
        if self.vmac is not None and not self.vmac.xmit_base:
            return self.vmac.name
        return self.cfg.interface or ""

    @property
    def vmac_name(self) -> str | None:
        return None if self.vmac is None else self.vmac.name

    @property
    def old_checksum(self) -> bool:
        """Its unicast VRRPv3/IPv4 adverts carry, and those it hears must carry, the old
        checksum (v2 has no pseudo-header; IPv6's checksum is the kernel's)."""
        v3_ipv4 = self.cfg.version == 3 and self.family == 4
        return v3_ipv4 and self.checksum_compat in ("config", "auto")

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def family(self) -> int:
        """4 or 6: the family of its addresses, adverts and socket."""
        return self.cfg.family

    def set_fault_reason(self, reason: str, present: bool) -> bool:
        """Add or drop one of the instance's own fault reasons; True if that changed."""
        if (reason in self.fault_reasons) == present:
            return False
        if present:
            self.fault_reasons += (reason,)
        else:
            self.fault_reasons = tuple(r for r in self.fault_reasons if r != reason)
        return True

    def set_vips(self, vips: list[Vip]) -> None:
        """New virtual addresses: advertised, and expected in the peers' adverts."""
        self.vips = vips
        self.advert_addresses = tuple(v.address for v in vips)
        self.expectation = replace(self.expectation, addresses=self.advert_addresses)


def new_instance(
    cfg: VrrpInstance,
    *,
    vips: list[Vip],
    src: str | None,
    sock: VrrpSocket | None,
    global_options: Mapping[str, list[str]],
) -> Instance:
    """The instance ``cfg`` describes, from its resolved ``vips``, its source address
    (None: none yet, the unspecified address until one appears) and its socket (None: no
    interface). Logs what the config asks for that cannot be done."""
    if cfg.vrid is None:
        raise ValueError(f"({cfg.name}) no virtual_router_id")
    unicast = bool(cfg.unicast_peers)
    params = InstanceParams(
        name=cfg.name,
        vrid=cfg.vrid,
        primary_address=src or unspecified(cfg.family),
        version=cfg.version,
        priority=cfg.priority,
        advert_interval=cfg.advert_int,
        initial_state=State.MASTER if cfg.state == "MASTER" else State.BACKUP,
        nopreempt=cfg.nopreempt,
        preempt_delay=cfg.preempt_delay,
        down_timer_adverts=_int_option(cfg, "down_timer_adverts", 3),
        garp_master_delay=cfg.garp_master_delay,
        garp_master_repeat=cfg.garp_master_repeat,
        garp_master_refresh=cfg.garp_master_refresh,
        garp_master_refresh_repeat=cfg.garp_master_refresh_repeat,
        lower_prio_no_advert=_flag(cfg, global_options, "lower_prio_no_advert"),
        higher_prio_send_advert=_flag(cfg, global_options, "higher_prio_send_advert"),
    )
    machine = VrrpInstanceMachine(params)
    for warning in machine.config_warnings:
        log.warning("(%s) %s", cfg.name, warning)
    addresses = tuple(v.address for v in vips)
    auth_type, auth_data = AuthType.NONE, b""
    if cfg.version == 2 and cfg.auth_type == "PASS":
        auth_type, auth_data = AuthType.PASS, password_auth_data(cfg.auth_pass or "")
    elif cfg.version == 2 and cfg.auth_type == "AH":
        log.warning("(%s) AH authentication is not supported, sending none", cfg.name)
    expectation = ReceiveExpectation(
        version=cfg.version,
        vrid=cfg.vrid,
        advert_int=machine.advert_int_field,
        addresses=addresses,
        auth_type=auth_type,
        auth_data=auth_data,
        unicast_peers=tuple(cfg.unicast_peers),
        check_unicast_src="check_unicast_src" in cfg.options,
    )
    return Instance(
        cfg=cfg,
        machine=machine,
        sock=sock,
        src=src or unspecified(cfg.family),
        expectation=expectation,
        vips=vips,
        advert_addresses=addresses,
        auth_type=auth_type,
        auth_data=auth_data,
        destinations=tuple(cfg.unicast_peers) if unicast else (mcast_group(cfg.family),),
        group=cfg.sync_group,
        checksum_compat=_checksum_compat(cfg.options.get("old_unicast_checksum")),
    )


def _checksum_compat(words: list[str] | None) -> str:
    """keepalived's unicast_chksum_compat from ``old_unicast_checksum [never]`` (another
    word is a config error, and leaves the default)."""
    if words is None:
        return "none"
    if not words:
        return "config"
    return "never" if words[0] == "never" else "none"


def resolve_vips(
    cfg: VrrpInstance,
    interface: str,
    index_of: Callable[[str], int | None],
    *,
    quiet: bool = False,
    vmac: str | None = None,
) -> list[Vip]:
    """The instance's virtual addresses on their interfaces (``interface`` unless a VIP
    names its ``dev``; with a ``vmac``, those on ``interface`` go on it, as keepalived
    puts them); those whose interface ``index_of`` does not know are left out, with an
    error unless ``quiet``. Addresses of the other family than the instance's are not
    advertised (keepalived's parser already refused them)."""
    vips = []
    for vip in cfg.vips:
        if vip.family != cfg.family:
            continue
        dev = vip.dev or interface
        if vmac is not None and dev == interface:
            dev = vmac
        index = index_of(dev)
        if index is None:
            if not quiet:
                log.error("(%s) interface %s of VIP %s not found", cfg.name, dev, vip.address)
            continue
        scope = vip.scope_id if vip.scope_id is not None else vip.scope
        vips.append(
            Vip(
                vip.address,
                vip.prefixlen,
                dev,
                index,
                vip.label,
                vip.broadcast,
                scope,
                vip.preferred_lft,
            )
        )
    return vips


def _flag(cfg: VrrpInstance, global_options: Mapping[str, list[str]], name: str) -> bool:
    """An instance flag, defaulting to the global ``vrrp_NAME`` as keepalived does."""
    value = cfg.options.get(name) or global_options.get(f"vrrp_{name}")
    return value == ["true"]


def _int_option(cfg: VrrpInstance, name: str, default: int) -> int:
    values = cfg.options.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        return default


def _identity(cfg: VrrpInstance) -> dict[str, Any]:
    """The config of an instance minus where it was written: equal means unchanged (a line
    added above a keyword moves it, and changes nothing)."""
    where = ("line", "file", "auth_line", "auth_file", "lines")
    data = {k: v for k, v in vars(cfg).items() if k not in where}
    data["vips"] = [(v.address, v.prefixlen, v.dev, v.label, v.brd, v.scope) for v in cfg.vips]
    data["track_interfaces"] = [(t.name, t.weight, t.reverse) for t in cfg.track_interfaces]
    data["track_scripts"] = [(t.name, t.weight, t.reverse) for t in cfg.track_scripts]
    data["track_bfds"] = [(t.name, t.weight, t.reverse) for t in cfg.track_bfds]
    data.pop("excluded_vips", None)
    return data


def machine_identity(cfg: VrrpInstance) -> dict[str, Any]:
    """What the state machine and socket depend on: if equal, a reload keeps the state."""
    data = _identity(cfg)
    for name in (
        "vips",
        "track_interfaces",
        "track_scripts",
        "track_bfds",  # no BFD runs: without effect
        *INSTANCE_NOTIFY_KEYWORDS,
        "smtp_alert",
        "sync_group",
        "virtual_routes",
        "virtual_rules",
    ):
        data.pop(name, None)
    # A new priority is applied in place (SIGHUP must not drop the VIPs of a master whose
    # priority changed); only becoming or ceasing to be the address owner restarts.
    data["priority"] = cfg.priority == PRIORITY_OWNER
    data.pop("configured_priority", None)
    return data

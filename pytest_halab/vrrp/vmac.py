"""``use_vmac``: an instance's virtual MAC interface, as keepalived 2.2.7 makes it.

keepalived (vrrp_vmac.c, vrrp.c, vrrp_if_config.c, vrrp_parser.c) puts a private-mode
macvlan on the instance's interface when the instance is set up, whatever its state:

- named ``vrrp.VRID`` (the global ``vmac_prefix`` replaces ``vrrp``), or the name given
  (``use_vmac NAME``); a name held by an interface that is not a macvlan is not used
  (the next free ``vrrpN.VRID`` is);
- hardware address 00:00:5e:00:01:VRID (IPv6 instances: 00:00:5e:00:02:VRID), or the
  address given (``use_vmac 02:11:22:33:44:55``; five octets: the VRID is the sixth);
- IPv4: ``arp_ignore`` 1, ``accept_local`` 1, ``rp_filter`` 0 and ``promote_secondaries``
  1 on it, ``arp_ignore`` 1 and ``arp_filter`` 1 on the interface under it; IPv6 off on it
  (``disable_ipv6``). IPv6: IPv6 on, and the underlying interface's link-local address put
  on it (unless ``vmac_xmit_base``), adverts going from it;
- no address generated from its MAC (``addrgenmode none``), and up at once;
- the instance's VIPs (those on the instance's interface) go on it, its adverts leave
  from it (from the interface under it with ``vmac_xmit_base``), and its gratuitous ARPs
  leave from it with its MAC;
- removed when the daemon stops; made again when it is deleted under a running instance
  or goes with its base interface (``links.InterfaceFollower``).

What keepalived also does and this module does not: nftables rules moving the IGMP/MLD
reports of the group joins from the VMAC to the interface under it (halab-vrrpd has no
nftables access: the reports leave from the VMAC with its MAC).
"""

from __future__ import annotations

import logging
import socket
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_halab.vrrp.conf import VrrpInstance
from pytest_halab.vrrp.garp import interface_mac
from pytest_halab.vrrp.net import (
    IPV4_DEVCONF_ACCEPT_LOCAL,
    IPV4_DEVCONF_ARP_IGNORE,
    IPV4_DEVCONF_ARPFILTER,
    IPV4_DEVCONF_PROMOTE_SECONDARIES,
    IPV4_DEVCONF_RP_FILTER,
    MACVLAN_MODE_PRIVATE,
    Netlink,
)

__all__ = [
    "Vmac",
    "VmacRequest",
    "Vmacs",
    "default_mac",
    "mac_text",
    "vmac_request",
]

log = logging.getLogger("halab-vrrpd")

IFNAMSIZ = 16
_RFC_PREFIX = b"\x00\x00\x5e\x00"

# keepalived's vmac_sysctl and parent_sysctl (vrrp_if_config.c)
VMAC_IPV4_CONF = {
    IPV4_DEVCONF_ARP_IGNORE: 1,
    IPV4_DEVCONF_ACCEPT_LOCAL: 1,
    IPV4_DEVCONF_RP_FILTER: 0,
    IPV4_DEVCONF_PROMOTE_SECONDARIES: 1,
}
BASE_IPV4_CONF = {IPV4_DEVCONF_ARP_IGNORE: 1, IPV4_DEVCONF_ARPFILTER: 1}


def default_mac(vrid: int, family: int) -> bytes:
    """RFC 5798 7.3: 00-00-5E-00-01-{VRID} (IPv4), 00-00-5E-00-02-{VRID} (IPv6)."""
    return _RFC_PREFIX + bytes([2 if family == 6 else 1, vrid & 0xFF])


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


@dataclass(frozen=True)
class VmacRequest:
    """What an instance's ``use_vmac`` (and ``vmac_xmit_base``) ask for: the interface name
    (None: the default), its MAC, and whether adverts leave from the interface under it."""

    name: str | None
    mac: bytes
    xmit_base: bool


def _valid_name(name: str) -> bool:
    """The kernel's dev_name_valid()."""
    if not name or len(name.encode()) >= IFNAMSIZ or name in (".", ".."):
        return False
    return not any(c in "/:" or c.isspace() for c in name)


def _parse_mac(text: str, vrid: int) -> bytes | None:
    """``xx:xx:xx:xx:xx:xx``, or five octets (the VRID the sixth); None if malformed."""
    parts = text.split(":")
    if len(parts) == 6 and parts[5] == "":
        parts = parts[:5]
    if len(parts) not in (5, 6):
        return None
    if any(not p or len(p) > 2 or any(c not in string.hexdigits for c in p) for p in parts):
        return None
    octets = bytes(int(p, 16) for p in parts)
    return octets if len(octets) == 6 else octets + bytes([vrid & 0xFF])


def vmac_request(cfg: VrrpInstance) -> VmacRequest | None:
    """The instance's VMAC, None without ``use_vmac``. Logs what keepalived's parser says
    of a bad name or MAC (and of unicast without ``vmac_xmit_base``), and does what it does."""
    words = cfg.options.get("use_vmac")
    if words is None or cfg.vrid is None:
        return None
    name: str | None = None
    mac: bytes | None = None
    for word in words[:2]:
        if ":" in word:
            if mac is not None:
                log.error("VMAC interface address already specified")
                continue
            parsed = _parse_mac(word, cfg.vrid)
            if parsed is None:
                log.error("VMAC invalid MAC address %s - ignored", word)
            elif parsed[0] & 0x01:
                log.error("VMAC MAC address is multicast %s - ignoring", word)
            elif parsed[:4] == _RFC_PREFIX and parsed[4] in (1, 2):
                log.error(
                    "VMAC MAC address not allowed to be RFC5798 address (%s) - ignoring", word
                )
            else:
                mac = parsed
        elif name is not None:
            log.error("VMAC interface name already specified")
        elif not _valid_name(word):
            log.error("VMAC interface name '%s' too long or invalid characters - ignoring", word)
        else:
            name = word
    xmit_base = "vmac_xmit_base" in cfg.options
    if cfg.unicast_peers and not xmit_base:
        log.error("(%s) unicast with use_vmac requires vmac_xmit_base - setting", cfg.name)
        xmit_base = True
    return VmacRequest(name, mac or default_mac(cfg.vrid, cfg.family), xmit_base)


@dataclass
class Vmac:
    """A VMAC interface an instance runs on."""

    name: str
    index: int
    base: str
    base_index: int
    mac: bytes
    family: int
    xmit_base: bool
    created: bool = True  # made (or remade) by us, not found as it should be
    base_conf: bool = False  # counted in the base interface's settings


@dataclass
class _BaseSettings:
    """arp_ignore/arp_filter of an interface as they were before the first VMAC on it."""

    saved: dict[int, int]
    users: int = 0


@dataclass
class Vmacs:
    """Creates and deletes VMAC interfaces; keeps the underlying interfaces' ARP settings
    until their last VMAC goes (keepalived's reset_arp_config count)."""

    netlink: Netlink
    detail: bool = False
    prefix: str = "vrrp"
    _bases: dict[int, _BaseSettings] = field(default_factory=dict)

    def configure(self, global_options: Mapping[str, list[str]]) -> None:
        values = global_options.get("vmac_prefix")
        self.prefix = values[0] if values else "vrrp"

    def create(
        self, inst: str, request: VmacRequest, *, base: str, base_index: int, vrid: int, family: int
    ) -> Vmac | None:
        """The instance's VMAC on ``base``, made if need be, set up and up; None (logged)
        if the kernel refused it."""
        name = request.name or f"{self.prefix}.{vrid}"
        created = True
        try:
            name, existing = self._choose_name(inst, request, base_index, vrid, family)
            if existing is None:
                self.netlink.add_macvlan(name, base_index, request.mac)
            elif existing == "update":
                index = socket.if_nametoindex(name)
                self.netlink.add_macvlan(name, base_index, request.mac, index=index)
            else:
                created = False
            index = socket.if_nametoindex(name)
        except OSError as exc:
            log.error("(%s): Unable to create VMAC interface %s: %s", inst, name, exc)
            return None
        if created and self.detail:
            verb = "updating" if existing == "update" else "creating"
            log.info("(%s): Success %s VMAC interface %s", inst, verb, name)
        vmac = Vmac(name, index, base, base_index, request.mac, family, request.xmit_base, created)
        try:
            self._set_up(inst, vmac)
        except OSError as exc:  # the kernel refused a setting: no half-made VMAC is left
            log.error("(%s): Unable to set up VMAC interface %s: %s", inst, name, exc)
            self.delete(inst, vmac)
            return None
        return vmac

    def _choose_name(
        self, inst: str, request: VmacRequest, base_index: int, vrid: int, family: int
    ) -> tuple[str, str | None]:
        """The interface name, and what is there: None (nothing), "ours" (a private
        macvlan on the base with the MAC: used as it is), "update" (a macvlan to fix)."""
        if request.name is not None:
            found = self.netlink.link_details(request.name)
            if found is None:
                return request.name, None
            if found.kind == "macvlan":
                if found.link == base_index:
                    if found.mac == request.mac and found.macvlan_mode == MACVLAN_MODE_PRIVATE:
                        log.info("(%s) Found matching interface %s", inst, request.name)
                        return request.name, "ours"
                    log.info(
                        "(%s) Update old VMAC interface %s due to wrong MAC/mode ",
                        inst,
                        request.name,
                    )
                    return request.name, "update"
                log.info(
                    "(%s) Removing old VMAC interface %s due to conflicting interface",
                    inst,
                    request.name,
                )
                self.netlink.delete_link(found.index)
                return request.name, None
            log.error(
                "(%s) VMAC interface name %s already exists as a non VMAC interface."
                " ignoring configured name",
                inst,
                request.name,
            )
        return self._free_name(inst, request, base_index, vrid, family)

    def _free_name(
        self, inst: str, request: VmacRequest, base_index: int, vrid: int, family: int
    ) -> tuple[str, str | None]:
        """keepalived's create_vmac_name: PREFIX.VRID, then PREFIX1.VRID, PREFIX2.VRID...
        (IPv6: PREFIX6.VRID second). A VMAC left there as it should be is used."""
        num = 0
        while True:
            tag = "" if num == 0 else str(num)
            suffix = f"{tag}.{vrid}"
            name = self.prefix[: IFNAMSIZ - 1 - len(suffix)] + suffix
            found = self.netlink.link_details(name)
            if found is None:
                return name, None
            if (
                found.kind == "macvlan"
                and found.link == base_index
                and found.mac == request.mac
                and found.macvlan_mode == MACVLAN_MODE_PRIVATE
            ):
                log.info("(%s) Found matching interface %s", inst, name)
                return name, "ours"
            if family == 6:
                num = 6 if num == 0 else 1 if num == 6 else num + (2 if num == 5 else 1)
            else:
                num += 1

    def _set_up(self, inst: str, vmac: Vmac) -> None:
        """keepalived's order: IPv4 settings (VMAC, then base), IPv6 on/off, addrgenmode
        none, up, then (IPv6) the link-local address."""
        if vmac.family == 4 and vmac.created:
            try:
                self.netlink.set_ipv4_conf(vmac.index, VMAC_IPV4_CONF)
                self._hold_base(vmac)
            except OSError as exc:
                log.error("Unable to set parameters for %s: %s", vmac.name, exc)
        _write_sysctl(f"net/ipv6/conf/{vmac.name}/disable_ipv6", 0 if vmac.family == 6 else 1)
        try:
            self.netlink.set_addr_gen_mode_none(vmac.index)
        except OSError as exc:
            log.error("(%s) Error setting ADDR_GEN_MODE to NONE on %s: %s", inst, vmac.name, exc)
        try:
            self.netlink.set_link_up(vmac.index)
        except OSError as exc:
            log.error("(%s) cannot bring %s up: %s", inst, vmac.name, exc)
        if vmac.family == 6 and not vmac.xmit_base:
            self._add_link_local(inst, vmac)

    def _add_link_local(self, inst: str, vmac: Vmac) -> None:
        """The base interface's link-local address (else one from its MAC) on the VMAC:
        adverts go from a non-VIP address with the virtual MAC."""
        local = [
            a.address
            for a in self.netlink.addresses(vmac.base_index, 6)
            if a.link_local and a.index == vmac.base_index
        ]
        if local:
            address = local[0]
        else:
            try:
                mac = interface_mac(vmac.base)
            except (OSError, ValueError):
                mac = b""
            if len(mac) != 6:
                log.info("(%s) adding link-local address to %s failed", inst, vmac.name)
                return
            eui = bytes([mac[0] ^ 2, mac[1], mac[2], 0xFF, 0xFE, mac[3], mac[4], mac[5]])
            address = socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + b"\0" * 6 + eui)
        present = {a.address for a in self.netlink.addresses(vmac.index, 6)}
        if address in present:
            return
        try:
            self.netlink.add_address(vmac.index, address, 64)
        except OSError as exc:
            log.info("(%s) adding link-local address to %s failed: %s", inst, vmac.name, exc)

    def _hold_base(self, vmac: Vmac) -> None:
        settings = self._bases.get(vmac.base_index)
        if settings is None:
            saved = {
                IPV4_DEVCONF_ARP_IGNORE: _read_sysctl(f"net/ipv4/conf/{vmac.base}/arp_ignore"),
                IPV4_DEVCONF_ARPFILTER: _read_sysctl(f"net/ipv4/conf/{vmac.base}/arp_filter"),
            }
            if saved != BASE_IPV4_CONF:
                try:
                    self.netlink.set_ipv4_conf(vmac.base_index, BASE_IPV4_CONF)
                except OSError as exc:
                    log.info(
                        "Set base flags on %s failed for VMAC %s: %s", vmac.base, vmac.name, exc
                    )
                    raise
            settings = self._bases[vmac.base_index] = _BaseSettings(
                {k: v for k, v in saved.items() if v >= 0 and v != BASE_IPV4_CONF[k]}
            )
        settings.users += 1
        vmac.base_conf = True

    def delete(self, inst: str, vmac: Vmac) -> None:
        """Remove the VMAC (its addresses go with it), and once the base interface has no
        VMAC left, put its arp_ignore/arp_filter back as they were."""
        if vmac.base_conf:
            vmac.base_conf = False
            settings = self._bases.get(vmac.base_index)
            if settings is not None:
                settings.users -= 1
                if settings.users <= 0:
                    del self._bases[vmac.base_index]
                    if settings.saved:
                        try:
                            self.netlink.set_ipv4_conf(vmac.base_index, settings.saved)
                        except OSError as exc:
                            log.info("reset interface flags on %s failed: %s", vmac.base, exc)
        try:
            gone = self.netlink.delete_link(vmac.index)
        except OSError as exc:
            log.info("(%s) Error removing VMAC interface %s: %s", inst, vmac.name, exc)
            return
        if gone and self.detail:
            log.info("(%s) Success removing VMAC interface %s", inst, vmac.name)


def _read_sysctl(path: str) -> int:
    try:
        with open(f"/proc/sys/{path}", encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return -1


def _write_sysctl(path: str, value: int) -> None:
    """keepalived writes disable_ipv6 by /proc/sys (netlink cannot set it); where that is
    read-only (a container), say so."""
    try:
        with open(f"/proc/sys/{path}", "w", encoding="ascii") as fh:
            fh.write(str(value))
    except OSError as exc:
        log.warning("cannot set %s to %d: %s", path.replace("/", "."), value, exc)

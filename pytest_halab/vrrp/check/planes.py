"""Which forwarding plane this kernel gets: IPVS where it has IP_VS, nftables otherwise."""

from __future__ import annotations

from pathlib import Path

from pytest_halab.vrrp.check.ipvsplane import IpvsPlane
from pytest_halab.vrrp.check.nftplane import NftPlane
from pytest_halab.vrrp.check.pool import ForwardingPlane

__all__ = ["reason", "select_plane"]

_PROC = Path("/proc/net/ip_vs")


def select_plane(interface: str | None = None, proc: Path = _PROC) -> ForwardingPlane:
    """IPVS where `proc` (/proc/net/ip_vs) exists, else nftables (`interface`: the device
    DR packets arrive on, when it is not the one holding the VIP)."""
    if IpvsPlane.available(proc):
        return IpvsPlane()
    return NftPlane(interface=interface)


def reason(proc: Path = _PROC) -> str:
    """One line saying which plane `select_plane` picks and why (for the log)."""
    if IpvsPlane.available(proc):
        return f"ipvs: this kernel has IP_VS ({proc} exists)"
    return f"nftables: this kernel has no IP_VS ({proc} missing)"

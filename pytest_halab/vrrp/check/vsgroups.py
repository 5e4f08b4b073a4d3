"""virtual_server_group blocks as keepalived 2.2.7's checker serves them: each entry an
address and port (a range or a prefix served address by address) or a fwmark."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..conf.model import ConfigItem

__all__ = ["GroupEntry", "read_groups"]

# a range in a virtual_server_group is served address by address: a bound on how many
GROUP_RANGE_LIMIT = 4096


@dataclass(frozen=True)
class GroupEntry:
    """One entry of a virtual_server_group: an address and port, or a fwmark."""

    ip: str | None = None
    port: int = 0
    fwmark: int | None = None
    family: int = 0


def read_groups(blocks: Sequence[ConfigItem]) -> dict[str, list[GroupEntry]]:
    """The entries of each named virtual_server_group block (a group with none is left
    out: keepalived's "virtual server group %s does not exist")."""
    groups: dict[str, list[GroupEntry]] = {}
    for block in blocks:
        if not block.args:
            continue
        entries = [e for line in block.children for e in _group_entries(line)]
        if entries:
            groups[block.args[0]] = entries
    return groups


def _group_entries(line: ConfigItem) -> Iterator[GroupEntry]:
    """One line of a group: ``fwmark N [inet|inet6]``, ``ADDRESS[-LAST|/LEN] [PORT]``
    (keepalived's alloc_vsg_entry); a range is served address by address."""
    if line.keyword == "fwmark":
        if line.args and line.args[0].isdigit():
            family = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}.get(
                line.args[1] if len(line.args) > 1 else "", 0
            )
            yield GroupEntry(fwmark=int(line.args[0]), family=family)
        return
    port = int(line.args[0]) if line.args and line.args[0].isdigit() else 0
    if port > 65535:
        return
    text = line.keyword
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=True)
            count = min(net.num_addresses, GROUP_RANGE_LIMIT)
            addresses = [net.network_address + i for i in range(count)]
        elif "-" in text:
            start_text, _, end_text = text.partition("-")
            start = ipaddress.ip_address(start_text)
            if ("." in end_text) or (":" in end_text):
                end = ipaddress.ip_address(end_text)
            elif start.version == 4:
                end = ipaddress.IPv4Address(int(start) & ~0xFF | int(end_text))
            else:
                end = ipaddress.IPv6Address(int(start) & ~0xFFFF | int(end_text, 16))
            if end.version != start.version or int(end) < int(start):
                return
            count = min(int(end) - int(start) + 1, GROUP_RANGE_LIMIT)
            addresses = [start + i for i in range(count)]
        else:
            addresses = [ipaddress.ip_address(text)]
    except ValueError:
        return
    for addr in addresses:
        family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
        yield GroupEntry(ip=str(addr), port=port, family=family)

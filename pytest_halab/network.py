"""The lab's subnet: a free one, colliding with no host route and no Docker network.

An ``ipv6`` topology's lab also gets an IPv6 /64, derived from its IPv4 subnet
(``topology.ipv6_subnet``): a candidate whose /64 a host route or a Docker network already
covers is skipped as well."""

from __future__ import annotations

import fcntl
import ipaddress
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker

from .topology import ipv6_subnet

# Candidate subnets: /24s inside 10.213.0.0/16, tried from a random offset so that labs
# started at the same time rarely race for the same one (Docker refuses overlaps anyway).
POOL = ipaddress.IPv4Network("10.213.0.0/16")


def _host_routes() -> list[ipaddress.IPv4Network]:
    nets = []
    try:
        with open("/proc/net/route") as fh:
            next(fh)
            for line in fh:
                f = line.split()
                dest = ipaddress.IPv4Address(int(f[1], 16).to_bytes(4, "little"))
                mask = ipaddress.IPv4Address(int(f[7], 16).to_bytes(4, "little"))
                if int(dest) == 0:
                    continue  # default route collides with nothing
                nets.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    except (OSError, StopIteration, ValueError):
        pass
    return nets


def _host_routes6() -> list[ipaddress.IPv6Network]:
    """The host's IPv6 routes but the default and link-local ones (/proc/net/ipv6_route)."""
    nets = []
    try:
        with open("/proc/net/ipv6_route") as fh:
            for line in fh:
                f = line.split()
                net = ipaddress.IPv6Network((int(f[0], 16), int(f[1], 16)), strict=False)
                if net.prefixlen == 0 or net.is_link_local or net.is_multicast:
                    continue
                nets.append(net)
    except (OSError, IndexError, ValueError):
        pass
    return nets


def _used_subnets(
    client: docker.DockerClient,
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    used: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [*_host_routes(), *_host_routes6()]
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            sub = cfg.get("Subnet")
            if sub:
                used.append(ipaddress.ip_network(sub, strict=False))
    return used


def candidate_subnets(
    client: docker.DockerClient, prefixlen: int, ipv6: bool = False
) -> Iterator[ipaddress.IPv4Network]:
    """Free subnets of the given size, colliding with no host route and no Docker network
    (with ``ipv6``: nor their IPv6 /64)."""
    subnets = list(POOL.subnets(new_prefix=prefixlen))
    start = random.randrange(len(subnets))
    used = _used_subnets(client)
    used4 = [u for u in used if isinstance(u, ipaddress.IPv4Network)]
    used6 = [u for u in used if isinstance(u, ipaddress.IPv6Network)]
    for sub in subnets[start:] + subnets[:start]:
        if any(sub.overlaps(u) for u in used4):
            continue
        if ipv6 and any(ipv6_subnet(sub).overlaps(u) for u in used6):
            continue
        yield sub


@contextmanager
def subnet_lock() -> Iterator[None]:
    """Held while a subnet is chosen and its network made: labs started at once by several
    processes of this machine (pytest-xdist workers), on one engine or on several engines
    sharing this host's routes, never pick the same subnet."""
    path = Path(tempfile.gettempdir()) / "halab-subnets.lock"
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

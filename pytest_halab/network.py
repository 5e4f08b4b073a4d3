"""The lab's subnet: a free one, colliding with no host route and no Docker network."""

from __future__ import annotations

import fcntl
import ipaddress
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker

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


def _used_subnets(client: docker.DockerClient) -> list[ipaddress.IPv4Network]:
    used = _host_routes()
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            sub = cfg.get("Subnet")
            if sub and ":" not in sub:
                used.append(ipaddress.IPv4Network(sub, strict=False))
    return used


def candidate_subnets(
    client: docker.DockerClient, prefixlen: int
) -> Iterator[ipaddress.IPv4Network]:
    """Free subnets of the given size, colliding with no host route and no Docker network."""
    subnets = list(POOL.subnets(new_prefix=prefixlen))
    start = random.randrange(len(subnets))
    used = _used_subnets(client)
    for sub in subnets[start:] + subnets[:start]:
        if not any(sub.overlaps(u) for u in used):
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

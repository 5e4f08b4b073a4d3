"""Whether the Docker engines of a run answer and can hold the labs it will start.

Checked once, before any lab starts, by the process that runs the tests (or, under
pytest-xdist, hands them out): an engine that does not answer, or a worker count whose labs
would not fit in an engine's memory, is a usage error naming the URL and where it came from.
"""

from __future__ import annotations

import pytest

from .dockerhost import DockerHost
from .errors import DockerUnavailableError
from .session import MAX_LABS, WORKER_MAX_LABS

# Memory of one lab (five containers: client, two balancers with nginx and a VRRP engine, two
# httpd backends), from `docker stats` during a parallel run of this project's suite: 40 to
# 100 MiB (balancers 14 MiB each with keepalived, 23-26 MiB with halab-vrrpd and the
# observers; the client 1 MiB idle, 20-23 MiB while it probes). Doubled for headroom.
LAB_MEMORY_MIB = 200
MEMORY_SHARE = 0.8  # of the engine's memory the labs may take


def workers_on(index: int, engines: int, workers: int) -> int:
    """How many of ``workers`` (gw0, gw1, ...) are bound to engine ``index`` round robin."""
    return len(range(index, max(workers, 1), engines))


def check_engines(hosts: list[DockerHost], workers: int, source: str) -> None:
    """Raise pytest.UsageError unless every engine answers and holds its workers' labs."""
    for i, host in enumerate(hosts):
        try:
            host.ping()
        except DockerUnavailableError as exc:
            raise pytest.UsageError(f"halab: Docker engine from {source}: {exc}") from None
        total = int(host.client().info().get("MemTotal") or 0)
        bound = workers_on(i, len(hosts), workers)
        per_worker = WORKER_MAX_LABS if workers > 1 else MAX_LABS
        need = bound * per_worker * LAB_MEMORY_MIB * 2**20
        if total and need > MEMORY_SHARE * total:
            raise pytest.UsageError(
                f"halab: Docker engine {host.url} (from {source}) has "
                f"{total / 2**30:.1f} GiB of memory; the {bound} pytest-xdist worker(s) bound "
                f"to it keep up to {per_worker} labs each, about {LAB_MEMORY_MIB} MiB per lab "
                f"({need / 2**30:.1f} GiB in all, more than {MEMORY_SHARE:.0%}): "
                "use fewer workers (-n) or more engines (--hal-docker-host)"
            )

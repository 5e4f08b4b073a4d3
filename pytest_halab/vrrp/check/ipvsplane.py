"""The IPVS forwarding plane: LVS itself, for kernels that have IP_VS (/proc/net/ip_vs).

Driven through Debian's ipvsadm (in the balancer image): ``ipvsadm -Sn`` reads the kernel's
table, ``ipvsadm-restore`` (``ipvsadm -R``) takes a list of edits on stdin. The daemon
imports only the standard library and itself, so no netlink binding of IPVS is used.

IPVS has no multi-command transaction: ``ipvsadm -R`` applies its lines one by one, and a
packet may be scheduled between two of them. So apply() sends only the difference between
the kernel's table and the desired state, ordered so that no packet ever meets an empty or
half-built pool: a new service is added with all its servers before anything else; in a
service that stays, new servers are added first, weights and forwarding methods changed in
place (``-e``, never a delete and re-add), servers that left removed last; services that
left are deleted at the very end. A service whose scheduler or persistence changes is
edited in place (``-E``): its servers and connections stay.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_halab.vrrp.check.nftplane import Runner, run_command
from pytest_halab.vrrp.check.pool import PlaneError, Service

__all__ = ["IpvsPlane", "IpvsTable", "diff", "parse_saved", "render"]

_PROTO_FLAG = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}
_FLAG_PROTO = {v: k for k, v in _PROTO_FLAG.items()}
_FORWARD_FLAG = {"NAT": "-m", "DR": "-g", "TUN": "-i"}


@dataclass(frozen=True)
class IpvsService:
    """One virtual service as ipvsadm spells it: `key` its identity (``-t 10.0.0.1:80``,
    ``-f 1 -6``), `options` the rest of its ``-A`` line (``-s wrr -p 300``), `dests` each
    real server (``10.0.0.2:80``) -> its ``-a`` options (``-m -w 3``)."""

    key: str
    options: str
    dests: dict[str, str]


IpvsTable = dict[str, IpvsService]


def _addr_port(ip: str, port: int) -> str:
    address = ipaddress.ip_address(ip)
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


def service_key(service: Service) -> str:
    if service.fwmark is not None:
        return f"-f {service.fwmark}" + (" -6" if service.family == socket.AF_INET6 else "")
    return f"{_PROTO_FLAG[service.protocol]} {_addr_port(service.ip or '', service.port)}"


def _options(service: Service) -> str:
    words = ["-s", service.sched]
    if service.persistence_timeout > 0:
        words += ["-p", str(service.persistence_timeout)]
        mask = service.persistence_netmask
        if mask:
            if service.family == socket.AF_INET6:
                full = str(ipaddress.ip_network(f"::/{mask}").prefixlen)
                if full != "128":
                    words += ["-M", full]
            elif mask != "255.255.255.255":
                words += ["-M", mask]
    return " ".join(words)


def render(services: Sequence[Service]) -> IpvsTable:
    """The IPVS table that serves `services`."""
    table: IpvsTable = {}
    for service in services:
        dests: dict[str, str] = {}
        for dest in service.destinations:
            port = dest.port or (service.port if service.fwmark is None else 0)
            forward = _FORWARD_FLAG[dest.forwarding.upper()]
            dests[_addr_port(dest.ip, port)] = f"{forward} -w {dest.weight}"
        key = service_key(service)
        table[key] = IpvsService(key, _options(service), dests)
    return table


def parse_saved(text: str) -> IpvsTable:
    """The table ``ipvsadm -Sn`` printed (flags ipvsadm adds that the plane does not set,
    such as scheduler flags, are kept in the options and so count as a difference)."""
    table: IpvsTable = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) < 3 or words[0] not in ("-A", "-a"):
            continue
        if words[1] == "-f":
            v6 = "-6" in words
            key = f"-f {words[2]}" + (" -6" if v6 else "")
            rest = [w for w in words[3:] if w != "-6"]
        else:
            key = f"{words[1]} {words[2]}"
            rest = words[3:]
        if words[0] == "-A":
            table[key] = IpvsService(key, " ".join(rest), {})
        elif key in table and len(rest) >= 2 and rest[0] == "-r":
            table[key].dests[rest[1]] = " ".join(rest[2:])
    return table


def diff(current: IpvsTable, desired: IpvsTable) -> list[str]:
    """The ``ipvsadm -R`` lines from `current` to `desired`, in a safe order (see the
    module's docstring)."""
    lines: list[str] = []
    for key, svc in desired.items():
        if key not in current:
            lines.append(f"-A {key} {svc.options}")
            lines += [f"-a {key} -r {d} {opts}" for d, opts in svc.dests.items()]
    removals: list[str] = []
    for key, svc in desired.items():
        old = current.get(key)
        if old is None:
            continue
        if old.options != svc.options:
            lines.append(f"-E {key} {svc.options}")
        lines += [f"-a {key} -r {d} {o}" for d, o in svc.dests.items() if d not in old.dests]
        lines += [
            f"-e {key} -r {d} {o}"
            for d, o in svc.dests.items()
            if d in old.dests and old.dests[d] != o
        ]
        removals += [f"-d {key} -r {d}" for d in old.dests if d not in svc.dests]
    lines += removals
    lines += [f"-D {key}" for key in current if key not in desired]
    return lines


class IpvsPlane:
    """Serves virtual services with the kernel's IPVS. `runner` runs a command (argv,
    stdin) and is replaced in tests."""

    name = "ipvs"

    def __init__(self, runner: Runner = run_command) -> None:
        self._run = runner

    @classmethod
    def available(cls, proc: Path = Path("/proc/net/ip_vs")) -> bool:
        """Whether this kernel has IPVS."""
        return proc.exists()

    def refusal(self, service: Service) -> str | None:
        if service.protocol not in _PROTO_FLAG:
            return f"{service.name}: unknown protocol {service.protocol!r}"
        for dest in service.destinations:
            if dest.forwarding.upper() not in _FORWARD_FLAG:
                return f"{service.name}: unknown forwarding method {dest.forwarding!r}"
        if service.fwmark is None and service.ip is None:
            return f"{service.name}: neither an address nor a fwmark"
        return None

    def approximations(self, service: Service) -> list[str]:
        return []  # IPVS runs every LVS scheduler itself

    def current(self) -> IpvsTable:
        done = self._run(["ipvsadm", "-Sn"], None)
        if done.returncode != 0:
            raise PlaneError(f"ipvsadm -Sn failed: {done.stderr.strip()}")
        return parse_saved(done.stdout)

    def apply(self, services: Sequence[Service]) -> None:
        for service in services:
            why = self.refusal(service)
            if why is not None:
                raise PlaneError(why)
        lines = diff(self.current(), render(services))
        if not lines:
            return
        done = self._run(["ipvsadm-restore"], "\n".join(lines) + "\n")
        if done.returncode != 0:
            raise PlaneError(f"ipvsadm-restore refused the edits: {done.stderr.strip()}")

    def clear(self) -> None:
        """Delete every service this plane serves (the kernel's whole IPVS table: the
        checker owns it, as keepalived does)."""
        lines = diff(self.current(), {})
        if lines:
            done = self._run(["ipvsadm-restore"], "\n".join(lines) + "\n")
            if done.returncode != 0:
                raise PlaneError(f"ipvsadm-restore refused the edits: {done.stderr.strip()}")

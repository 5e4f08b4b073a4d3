"""The nftables forwarding plane: LVS's NAT and DR done with nftables, for kernels without
IP_VS.

NAT: an ``inet`` table whose prerouting (and output) nat chain sends each new connection to
the VIP's port (or fwmark) to one real server with ``dnat``, when the VIP is this host's
(``fib daddr type local``: IPVS schedules in LOCAL_IN); conntrack un-NATs the replies,
which the real servers route back through the director. DR: a ``netdev`` table with an
ingress chain on the interface the VIP arrives on that forwards the frame unchanged but for
its destination MAC (``fwd ip to RS device IF``, the kernel resolving the neighbour), keeping
the connection table LVS keeps for DR itself (a dynamic map; ingress has no conntrack).
`nftrules` renders the objects; this module reads the kernel's state, works out what
changed, and applies it.

The kernel is driven through the ``nft`` command (``nft -f -``, the whole transaction on
stdin: the kernel applies a batch atomically; ``nft -j list`` to read state), not through
python3-nftables: the daemon imports only the standard library and itself (import-linter
checks it), and libnftables' Python binding is a Debian package outside that rule.

Each apply is one transaction holding only the objects that changed: a changed pool's
address map is flushed and refilled, its chain replaced, in the same batch, so no packet
sees half a pool; the dynamic maps (persistence, DR connections) are never flushed, so
their entries survive; applying the same state again sends nothing at all (numgen counters
and every entry stay as they are).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_halab.vrrp.check import nftrules
from pytest_halab.vrrp.check.nftrules import NftObject
from pytest_halab.vrrp.check.pool import PlaneError, Service

__all__ = ["TABLE", "NftPlane", "Runner", "map_elements", "run_command"]

Runner = Callable[[Sequence[str], str | None], "subprocess.CompletedProcess[str]"]
_PROTOCOLS = ("tcp", "udp", "sctp")


def run_command(argv: Sequence[str], stdin: str | None) -> subprocess.CompletedProcess[str]:
    """Run `argv` with `stdin`, capturing its output (the plane's default runner)."""
    return subprocess.run(
        list(argv), input=stdin, capture_output=True, text=True, timeout=30, check=False
    )


def _kind(service: Service) -> str | None:
    kinds = {d.forwarding.upper() for d in service.destinations}
    if not kinds:
        return "NAT"
    return kinds.pop() if len(kinds) == 1 else None


TABLE = "halab_lvs"  # the plane's tables (inet and netdev), read by ipvsadm's view too


class NftPlane:
    """Serves virtual services with nftables in table `table` (``inet`` and ``netdev``).

    `interface` names the device DR services' packets arrive on; by default, for each VIP,
    the interface holding it, else the one whose subnet holds it, else the one routing to
    it. `runner` runs a command (argv, stdin) and is replaced in tests."""

    name = "nftables"

    def __init__(
        self,
        table: str = TABLE,
        interface: str | None = None,
        runner: Runner = run_command,
        ipip_present: Callable[[], bool] | None = None,
    ) -> None:
        self.table = table
        self.interface = interface
        self._run = runner
        self._ipip_present = ipip_present or (lambda: Path("/sys/module/ipip").exists())
        self._applied: dict[tuple[str, str], NftObject] = {}

    # -- what it can serve ---------------------------------------------------------------

    def refusal(self, service: Service) -> str | None:
        if service.protocol not in _PROTOCOLS:
            return f"{service.name}: unknown protocol {service.protocol!r}"
        if any(d.forwarding.upper() == "TUN" for d in service.destinations):
            if not self._ipip_present():
                return f"{service.name}: LVS-TUN needs ipip, which this kernel lacks"
            return f"{service.name}: LVS-TUN: nftables cannot encapsulate (ipip); only IPVS can"
        kind = _kind(service)
        if kind is None:
            return f"{service.name}: real servers with different lb_kind in one service"
        if kind not in ("NAT", "DR"):
            return f"{service.name}: unknown forwarding method {kind!r}"
        for dest in service.destinations:
            if ipaddress.ip_address(dest.ip).version != (6 if _is_v6(service) else 4):
                return f"{service.name}: real server {dest.ip} is not of the service's family"
        if service.fwmark is not None:
            if kind == "DR":
                return (
                    f"{service.name}: a fwmark service cannot be DR here: netdev ingress runs "
                    "before any rule can set the mark"
                )
            if len({d.port == 0 for d in service.destinations}) > 1:
                return f"{service.name}: real servers with and without a port in one fwmark service"
        elif service.ip is None:
            return f"{service.name}: neither an address nor a fwmark"
        if kind == "DR" and service.ip is not None and self._device(service.ip) is None:
            return f"{service.name}: no interface holds or routes to {service.ip} (DR)"
        return None

    def approximations(self, service: Service) -> list[str]:
        said = nftrules.approximations(service)
        if _kind(service) == "DR":
            said.append(
                "DR serves only packets arriving from the network (netdev ingress): "
                "the director's own connections to the VIP are not balanced"
            )
        return said

    # -- the kernel ----------------------------------------------------------------------

    def apply(self, services: Sequence[Service]) -> None:
        for service in services:
            why = self.refusal(service)
            if why is not None:
                raise PlaneError(why)
        current = self._read()
        desired = self.desired(services, current)
        batch = self.transaction(desired, current)
        if batch:
            self._nft(batch)
        self._applied = {(o.family, o.name): o for o in desired}

    def clear(self) -> None:
        present = self._read()
        lines = [f"delete table {family} {self.table}" for family in present]
        if lines:
            self._nft("\n".join(lines) + "\n")
        self._applied = {}

    def rendered(self, services: Sequence[Service]) -> str:
        """The whole state for `services` as one nft file (what a fresh kernel gets)."""
        return self.transaction(self.desired(services, {}), {})

    # -- building the transaction --------------------------------------------------------

    def desired(
        self, services: Sequence[Service], current: dict[str, dict[str, dict[str, object]]]
    ) -> list[NftObject]:
        """Every object for `services`, the base chains (which jump to the rest) last."""
        objects: list[NftObject] = []
        prerouting: list[str] = []
        keep: list[str] = []
        ingress: dict[str, list[str]] = {}
        for service in services:
            kind = _kind(service) or "NAT"
            match = nftrules.dispatch_match(service)
            h = nftrules.service_hash(service)
            if kind == "NAT":
                # IPVS schedules in LOCAL_IN: only a packet for an address this host holds
                # (the VIP on its MASTER). A director that does not hold the VIP routes a
                # packet that reaches it (a client's stale ARP entry) and serves nothing
                prerouting.append(f"fib daddr type local {match} jump n_{h}")
                rule = nftrules.keep_rule(service)
                if rule is not None:
                    keep.append(rule)
                objects += nftrules.render_service(service, "NAT", None)
            else:
                device = self._device(service.ip or "") or ""
                ingress.setdefault(device, []).append(f"meta pkttype host {match} jump d_{h}")
                fresh = nftrules.render_service(service, "DR", device)
                retired = _retired(fresh, current.get("netdev", {}))
                objects += nftrules.render_service(service, "DR", device, retired)
        base: list[NftObject] = []
        if prerouting:
            for hook in ("prerouting", "output"):
                spec = f"type nat hook {hook} priority -100; policy accept;"
                base.append(
                    NftObject("chain", "inet", f"nat_{hook}", spec, rules=tuple(prerouting))
                )
        if keep:
            spec = "type filter hook prerouting priority mangle + 10; policy accept;"
            base.append(NftObject("chain", "inet", "persist_refresh", spec, rules=tuple(keep)))
        for device, rules in sorted(ingress.items()):
            spec = f'type filter hook ingress device "{device}" priority 0; policy accept;'
            base.append(
                NftObject("chain", "netdev", _ingress_name(device), spec, rules=tuple(rules))
            )
        return objects + base  # what a rule names exists before the rule

    def transaction(
        self, desired: list[NftObject], current: dict[str, dict[str, dict[str, object]]]
    ) -> str:
        """The nft batch taking the kernel from `current` (names of each family's objects,
        as `_read` gives them) to `desired`; empty when nothing changes."""
        t = self.table
        adds: list[str] = []
        for obj in desired:
            exists = obj.name in current.get(obj.family, {})
            unchanged = exists and self._applied.get((obj.family, obj.name)) == obj
            if unchanged or (exists and not obj.static):
                continue
            where = f"{obj.family} {t} {obj.name}"
            if obj.kind == "chain":
                adds.append(f"add chain {where}" + (f" {{ {obj.spec} }}" if obj.spec else ""))
                adds.append(f"flush chain {where}")
                adds += [f"add rule {where} {rule}" for rule in obj.rules]
            else:
                adds.append(f"add {obj.kind} {where} {{ {obj.spec} }}")
                if obj.static:
                    adds.append(f"flush {obj.kind} {where}")
                    if obj.elements:
                        adds.append(f"add element {where} {{ {', '.join(obj.elements)} }}")
        adds += self._purges(desired, current)
        wanted = {(o.family, o.name) for o in desired}
        deletes: list[str] = []
        for family in ("netdev", "inet"):
            names = current.get(family, {})
            # chains first (their rules reference the maps), then maps and sets
            for order in ("chain", "map", "set"):
                for name, info in sorted(names.items()):
                    if info.get("kind") == order and (family, name) not in wanted:
                        if order == "chain":
                            deletes.append(f"flush chain {family} {t} {name}")
                        deletes.append(f"delete {order} {family} {t} {name}")
        if not adds and not deletes:
            return ""
        families = sorted({o.family for o in desired} | set(current))
        head = [f"add table {family} {t}" for family in families]
        # every flush of a chain that is going away first: the jumps into it go with it
        flushes = [line for line in deletes if line.startswith("flush")]
        rest = [line for line in deletes if not line.startswith("flush")]
        return "\n".join(head + flushes + adds + rest) + "\n"

    def _purges(
        self, desired: list[NftObject], current: dict[str, dict[str, dict[str, object]]]
    ) -> list[str]:
        """Persistence entries that lead to a server no longer in its pool, deleted: a
        client rescheduled elsewhere must not return to that server if it comes back
        (``update`` from the packet path refreshes an entry but never changes its value).
        Each is added (as it is) first so that one expiring before the commit cannot fail
        the batch (nft 1.0.6 has no ``destroy element``)."""
        live = {(o.family, o.name): o for o in desired if o.kind == "set"}
        lines: list[str] = []
        for obj in desired:
            info = current.get(obj.family, {}).get(obj.name)
            if not obj.name.startswith("p_") or info is None:
                continue
            live_set = live.get((obj.family, "l_" + obj.name.split("_")[1]))
            ids = {int(e, 16) for e in live_set.elements} if live_set else set()
            stale = [(k, v) for k, v in map_elements(info) if isinstance(v, int) and v not in ids]
            where = f"{obj.family} {self.table} {obj.name}"
            for key, value in stale:
                # the same value: adding an existing element with other data is EEXIST
                lines.append(f"add element {where} {{ {key} : {value:#x} }}")
                lines.append(f"delete element {where} {{ {key} }}")
        return lines

    # -- reading the kernel --------------------------------------------------------------

    def _read(self) -> dict[str, dict[str, dict[str, object]]]:
        """Each of the plane's tables present: its objects' names, kinds and (for maps)
        elements, from ``nft -j list table``."""
        found: dict[str, dict[str, dict[str, object]]] = {}
        for family in ("inet", "netdev"):
            done = self._run(["nft", "-j", "list", "table", family, self.table], None)
            if done.returncode != 0:
                continue  # no such table
            objects: dict[str, dict[str, object]] = {}
            for item in json.loads(done.stdout or "{}").get("nftables", []):
                for kind in ("chain", "map", "set"):
                    if kind in item:
                        body = item[kind]
                        objects[body["name"]] = {"kind": kind, "elem": body.get("elem", [])}
            found[family] = objects
        return found

    def _nft(self, batch: str) -> None:
        done = self._run(["nft", "-f", "-"], batch)
        if done.returncode != 0:
            raise PlaneError(f"nft refused the transaction: {done.stderr.strip()}")

    def _device(self, vip: str) -> str | None:
        if self.interface:
            return self.interface
        return find_device(vip, self._run)


def _is_v6(service: Service) -> bool:
    return service.family == socket.AF_INET6


def _ingress_name(device: str) -> str:
    clean = "".join(c if c.isalnum() else "_" for c in device)
    return f"in_{clean}_{zlib.crc32(device.encode()) & 0xFFFF:04x}"


def map_elements(info: dict[str, object]) -> list[tuple[object, object]]:
    """A map's (key, value) pairs from nft's JSON (keys of timed entries are wrapped)."""
    return [(key, value) for key, value, _ in timed_elements(info)]


def timed_elements(info: dict[str, object]) -> list[tuple[object, object, int]]:
    """A map's (key, value, seconds left) entries from nft's JSON: a timed entry's key is
    wrapped with its ``expires``; an untimed one has 0."""
    out: list[tuple[object, object, int]] = []
    elems = info.get("elem", [])
    for pair in elems if isinstance(elems, list) else []:
        if not (isinstance(pair, list) and len(pair) == 2):
            continue
        key, value = pair
        expires = 0
        if isinstance(key, dict) and isinstance(key.get("elem"), dict):
            expires = int(key["elem"].get("expires", 0) or 0)
            key = key["elem"].get("val")
        out.append((key, value, expires))
    return out


def _retired(fresh: list[NftObject], netdev: dict[str, dict[str, object]]) -> list[tuple[int, str]]:
    """(id, address) of servers in the kernel's address map that connection entries still
    lead to, or that were in the pool until now (the caller keeps those a service no
    longer has, so their connections finish)."""
    conn = next((o.name for o in fresh if o.name.startswith("c_")), None)
    addr = next((o.name for o in fresh if o.name.startswith("a_")), None)
    if conn is None or addr is None or conn not in netdev or addr not in netdev:
        return []
    used = {v for _, v in map_elements(netdev[conn]) if isinstance(v, int)}
    # A server present until now keeps its entry for one more apply whether or not a
    # connection entry names it yet: a connection scheduled to it between this read and
    # the commit must still reach it.
    live = next((o.name for o in fresh if o.name.startswith("l_")), "")
    elems = netdev.get(live, {}).get("elem", [])
    used |= {e for e in (elems if isinstance(elems, list) else []) if isinstance(e, int)}
    return [(k, str(v)) for k, v in map_elements(netdev[addr]) if isinstance(k, int) and k in used]


def find_device(vip: str, run: Runner = run_command) -> str | None:
    """The interface DR packets for `vip` arrive on: the one holding it, else the one
    whose subnet holds it, else the one the kernel routes it through (never lo)."""
    address = ipaddress.ip_address(vip)
    done = run(["ip", "-j", "addr", "show"], None)
    links = json.loads(done.stdout or "[]") if done.returncode == 0 else []
    holder = subnet = None
    for link in links:
        name = link.get("ifname", "")
        if name == "lo":
            continue
        for info in link.get("addr_info", []):
            local = info.get("local")
            if not local:
                continue
            net = ipaddress.ip_interface(f"{local}/{info.get('prefixlen', 32)}")
            if net.ip == address and holder is None:
                holder = name
            elif address in net.network and net.network.prefixlen < net.max_prefixlen:
                subnet = subnet or name
    if holder or subnet:
        return holder or subnet
    done = run(["ip", "-j", "route", "get", vip], None)
    if done.returncode == 0:
        routes = json.loads(done.stdout or "[]")
        dev = routes[0].get("dev") if routes else None
        if dev and dev != "lo":
            return str(dev)
    return None

"""A route line of ``static_routes`` or ``virtual_routes``, read as keepalived 2.2.7 reads
one (vrrp_iproute.c: alloc_route, parse_nexthops, parse_encap*; vrrp_ip_rule_route_parser.c:
get_u*, get_time_rtt, get_addr64, parse_mpls_address), with its messages.

The syntax is ``ip route``'s: ``[src ADDR] [to] [TYPE] PREFIX [via|gw GW] [or GW]
[dev IF] [table T] [metric N] [protocol P] [scope S] [tos T] [onlink] [mtu [lock] N]
... [nexthop via GW [dev IF] [weight W] ...]...``, with keepalived's own ``no_track``
and (static routes only) ``track_group``. keepalived's quirks are kept, as its ``-t``
judges by them: ``inet``/``inet6`` also skip the word after them, ``to`` is read as a
route type before it is skipped, an error in an ``encap`` or a ``nexthop`` drops only
that part, and a route to be tracked without ``dev`` is an error ("cannot track").
"""

from __future__ import annotations

import ipaddress

from .addresses import inet_family, parse_address, parse_route_dest
from .context import ParseContext
from .lexer import Line
from .model import Encap, Nexthop, Route
from .values import WHITE_SPACE, strtoul

__all__ = ["RTPROT_KEEPALIVED", "alloc_route"]

RTPROT_KEEPALIVED = 18
RTT_MIN_MS = 200
RTT_MAX_MS = 120_000
UINT64_MAX = 2**64 - 1
# ICMPV6_ROUTER_PREF_*
_PREFS = {"low": 3, "medium": 0, "high": 1}
# metrics with an optional ``lock``: keyword -> the wording of its error
_LOCKABLE_U32 = {
    "mtu": "Invalid MTU %s specified for route",
    "advmss": "Invalid advmss %s specified for route",
    "reordering": "Invalid reordering value %s specified for route",
    "cwnd": "Invalid cwnd value %s specified for route",
    "ssthresh": "Invalid ssthresh value %s specified for route",
}
# metrics without one
_PLAIN_U32 = {
    "window": "Invalid window value %s specified for route",
    "initcwnd": "Invalid initcwnd value %s specified for route",
    "initrwnd": "Invalid initrwnd value %s specified for route",
}
# rtt-like metrics: keyword -> (units per millisecond, the error's wording)
_TIMES = {
    "rtt": (8, "Invalid rtt %s for route"),
    "rttvar": (4, "Invalid rttvar %s for route"),
    "rto_min": (1, "Invalid rto_min value %s specified for route"),
}


class _Failed(Exception):
    """keepalived's ``goto err``: the line is dropped (already reported)."""


def _family(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
    return addr.version


class _RouteReader:
    """One route line; `i` moves over its words as keepalived's index does."""

    def __init__(self, ctx: ParseContext, item: Line, static: bool) -> None:
        self.ctx = ctx
        self.item = item
        self.words = item.words
        self.static = static
        self.route = Route(words=list(item.words), line=item.line, file=item.file)
        self.family = 0  # 0: not known yet
        self.dst_family: int | None = None  # None: no destination yet
        self.dest = ""

    # -- helpers
    def slot(self, index: int) -> str:
        """keepalived's strvec_slot(): a missing word stops the parse."""
        return self.ctx.arg(self.item, index)

    def say(self, message: str) -> None:
        self.ctx.say("general", message)

    def fail(self, message: str) -> _Failed:
        self.say(message)
        return _Failed()

    def uint(self, text: str, hi: int, message: str) -> int:
        """keepalived's get_u8/u16/u32: read_unsigned, then its own complaint."""
        value = self.ctx.num_each.uint(text, 0, hi)
        if value is None:
            raise self.fail(message % text)
        return value

    def uint64(self, text: str, message: str) -> int:
        value = self.ctx.num_each.uint64(text, 0, UINT64_MAX)
        if value is None:
            raise self.fail(message % text)
        return value

    def set_family(
        self, family: int, message: str = "Cannot mix IPv4 and IPv6 addresses for route"
    ) -> None:
        if not self.family:
            self.family = family
        elif family and self.family != family:
            raise self.fail(message)

    def interface(self, name: str, message: str) -> str:
        if not self.ctx.interface_exists(name):
            raise self.fail(message)
        return name

    # -- the line
    def read(self) -> Route | None:
        try:
            return self._read()
        except _Failed:
            return None

    def _read(self) -> Route:
        route, words = self.route, self.words
        n = len(words)
        i = 0
        do_nexthop = False
        while i < n:
            word = words[i]
            if word in ("inet6", "inet"):
                self.family, error = inet_family(word, self.family, "route")
                if error is not None:
                    raise self.fail(error)
                i += 1  # keepalived skips this word here, and the next one below
            elif word == "src":
                i += 1
                parsed = parse_address(self.ctx, self.slot(i), subnet=False)
                if parsed is None:
                    raise self.fail(f"invalid route src address {self.slot(i)}")
                route.pref_src = str(parsed[0])
                self.set_family(_family(parsed[0]))
            elif word == "as":
                i += 1
                if self.slot(i) == "to":
                    i += 1
                self.say('"as to" for MPLS only - ignoring')
            elif word in ("via", "gw"):
                if word == "gw":
                    self.say('"gw" for routes is deprecated. Please use "via"')
                i += 1
                text = self.slot(i)
                family = self.family
                if text in ("inet", "inet6"):
                    family = 4 if text == "inet" else 6
                    i += 1
                    text = self.slot(i)
                self.set_family(family)
                parsed = parse_address(self.ctx, text, subnet=False)
                if parsed is None:
                    raise self.fail(f"invalid route via address {self.slot(i)}")
                route.via = str(parsed[0])
                self.set_family(_family(parsed[0]))
            elif word == "from":
                i += 1
                source = parse_route_dest(self.ctx, self.slot(i))
                if source is None:
                    raise self.fail(f"invalid route from address {self.slot(i)}")
                if source[2] != 6:
                    raise self.fail(f"route from address only supported with IPv6 ({self.slot(i)})")
                route.src = str(source[0]) if source[0] is not None else "::"
                route.src_len = source[1]
                self.set_family(6)
            elif word in ("tos", "dsfield"):
                i += 1
                value = self.ctx.rt.dsfield(self.slot(i))
                if value is None:
                    raise self.fail(f"TOS value {self.slot(i)} is invalid")
                route.tos = value
            elif word == "table":
                i += 1
                value = self.ctx.rt.table(self.slot(i))
                if value is None:
                    raise self.fail(f"Routing table {self.slot(i)} not found for route")
                route.table = value
            elif word == "protocol":
                i += 1
                value = self.ctx.rt.proto(self.slot(i))
                if value is None:
                    raise self.fail(f"Protocol {self.slot(i)} not found or invalid for route")
                route.protocol = value
            elif word == "scope":
                i += 1
                value = self.ctx.rt.scope(self.slot(i))
                if value is None:
                    raise self.fail(f"Scope {self.slot(i)} not found or invalid for route")
                route.scope = value
            elif word in ("metric", "priority", "preference"):
                i += 1
                route.metric = self.uint(
                    self.slot(i), 0xFFFFFFFF, "Invalid metric %s specified for route"
                )
            elif word in ("dev", "oif"):
                i += 1
                name = self.slot(i)
                route.dev = self.interface(
                    name, f"WARNING - interface {name} for VROUTE nexthop doesn't exist"
                )
            elif word == "onlink":
                route.onlink = True
            elif word == "encap":
                i, route.encap = self.encap(i)
            elif word == "expires":
                i += 1
                if self.family == 4:
                    raise self.fail("expires is only valid for IPv6")
                self.family = 6
                route.expires = self.uint(
                    self.slot(i), 0xFFFFFFFF, "Invalid expires time %s specified for route"
                )
            elif word in _LOCKABLE_U32 or word in _TIMES:
                i += 1
                if self.slot(i) == "lock":
                    route.locks.add(word)
                    i += 1
                if word in _TIMES:
                    mult, message = _TIMES[word]
                    value = self.time_rtt(self.slot(i), mult)
                    if value is None:
                        raise self.fail(message % self.slot(i))
                    route.metrics[word] = value
                else:
                    route.metrics[word] = self.uint(self.slot(i), 0xFFFFFFFF, _LOCKABLE_U32[word])
            elif word in _PLAIN_U32:
                i += 1
                route.metrics[word] = self.uint(self.slot(i), 0xFFFFFFFF, _PLAIN_U32[word])
            elif word == "hoplimit":
                i += 1
                route.metrics[word] = self.uint(
                    self.slot(i), 255, "Invalid hoplimit %s specified for route"
                )
            elif word == "realms":
                i += 1
                value = self.ctx.rt.realms(self.slot(i))
                if value is None:
                    raise self.fail(f"Invalid realms {self.slot(i)} for route")
                if self.family == 6:
                    raise self.fail("realms are only valid for IPv4")
                self.family = 4
                route.realms = value
            elif word == "features":
                i += 1
                if self.slot(i) == "ecn":
                    route.features |= 1
                else:
                    self.say(f"feature {self.slot(i)} not supported")
            elif word == "quickack":
                i += 1
                route.metrics[word] = self.uint(
                    self.slot(i), 1, "Invalid quickack value %s specified for route"
                )
            elif word == "congctl":
                i += 1
                if self.slot(i) == "lock":
                    route.locks.add(word)
                    i += 1
                route.congctl = self.slot(i)
            elif word == "pref":
                i += 1
                if self.family == 4:
                    raise self.fail("pref is only valid for IPv6")
                self.family = 6
                text = self.slot(i)
                if text in _PREFS:
                    route.pref = _PREFS[text]
                else:
                    route.pref = self.uint(text, 255, "Invalid pref value %s specified for route")
            elif word == "ttl-propagate":
                i += 1
                text = self.slot(i)
                route.ttl_propagate = 0
                if text == "enabled":
                    route.ttl_propagate = 1
                elif text != "disabled":
                    self.say(f"ttl-propagate value {text} not recognised")
            elif word == "fastopen_no_cookie":
                i += 1
                route.metrics[word] = self.uint(
                    self.slot(i), 1, "Invalid fastopen_no_cookie value %s specified for route"
                )
            elif word in ("add", "prepend", "append"):
                route.mode = "add" if word == "add" else "append" if word == "append" else "prepend"
            elif word == "or":
                self.say('"or" for routes is deprecated. Please use "nexthop"')
                if route.nexthops:
                    self.say('"or" route already specified - ignoring subsequent')
                    i += 2
                    continue
                route.nexthops.append(Nexthop(via=route.via))
                route.via = None
                i += 1
                parsed = parse_address(self.ctx, self.slot(i), subnet=False)
                if parsed is None:
                    raise self.fail(f'Invalid "or" address {self.slot(i)}')
                route.nexthops.append(Nexthop(via=str(parsed[0])))
            elif word == "nexthop":
                if route.nexthops:
                    self.say('Cannot specify nexthops with "or" route')
                else:
                    do_nexthop = True
                break
            elif word == "no_track":
                route.no_track = True
            elif self.static and word == "track_group":
                i += 1
                name = self.slot(i)
                if route.track_group is not None:
                    self.say(f"track_group {name} is a duplicate")
                    break
                if name in self.ctx.cfg.track_groups:
                    route.track_group = name
                else:
                    self.say(f"track_group {name} not found")
            elif word == "vrf":
                i += 1
                name = self.slot(i)
                if not self.ctx.interface_known(name):
                    raise self.fail(f"VRF {name} not found for route")
                if not _is_vrf(name):
                    raise self.fail(f"Route specified VRF {name} is not a VRF")
                route.vrf = name
            else:
                if word == "to":
                    i += 1
                kind = self.ctx.rt.rtntype(word)
                if kind is not None:
                    route.type = kind
                    i += 1
                self.dest = self.slot(i)
                parsed_dest = parse_route_dest(self.ctx, self.dest)
                if parsed_dest is None:
                    raise self.fail(f"unknown route keyword {self.dest}")
                addr, plen, family = parsed_dest
                route.dst, route.dst_len = (str(addr) if addr is not None else ""), plen
                self.dst_family = family
                if not self.family:
                    self.family = family
                elif self.family != family:
                    raise self.fail(f"Cannot mix IPv4 and IPv6 addresses for route ({self.dest})")
            i += 1
        if do_nexthop:
            self.nexthops(i)
        elif i < n:
            raise self.fail(f"Route has trailing nonsense - {words[i]}")
        if self.dst_family is None:
            raise self.fail("Route must have a destination")
        self.finish()
        return route

    def finish(self) -> None:
        route = self.route
        if not route.no_track:
            if route.protocol is not None and route.protocol != RTPROT_KEEPALIVED:
                self.say(
                    "Route cannot be tracked if protocol is not"
                    f" RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), resetting protocol"
                )
            route.protocol = RTPROT_KEEPALIVED
            if route.dev is None:
                self.say(
                    f"Warning - cannot track route {self.dest} with no interface specified,"
                    " not tracking"
                )
                route.no_track = True
        if route.track_group is not None and route.dev is None:
            self.say("Static route cannot have track group if no oif specified")
            route.track_group = None
        route.family = self.family or 4
        if not route.dst:
            route.dst = "::" if route.family == 6 else "0.0.0.0"

    # -- next hops
    def nexthops(self, i: int) -> None:
        """keepalived's parse_nexthops(): an error drops the hop being read (and the rest
        of the line), not the route."""
        route, words = self.route, self.words
        n = len(words)
        family = 0  # kept from one hop to the next, as keepalived keeps it
        try:
            while i < n and words[i] == "nexthop":
                i += 1
                hop = Nexthop()
                while i < n:
                    word = words[i]
                    if word == "via":
                        i += 1
                        text = self.slot(i)
                        if text in ("inet", "inet6"):
                            family = 4 if text == "inet" else 6
                            i += 1
                            text = self.slot(i)
                        if family:
                            self.set_family(family, "IPv4/6 mismatch for nexthop")
                        parsed = parse_address(self.ctx, text, subnet=False)
                        if parsed is None:
                            raise self.fail(f"invalid nexthop address {text}")
                        if self.family and _family(parsed[0]) != self.family:
                            raise self.fail("Address family mismatch for next hop")
                        self.family = self.family or _family(parsed[0])
                        hop.via = str(parsed[0])
                    elif word == "dev":
                        i += 1
                        name = self.slot(i)
                        hop.dev = self.interface(
                            name, f"WARNING - interface {name} for VROUTE nexthop doesn't exist"
                        )
                    elif word == "weight":
                        i += 1
                        value = self.uint(
                            self.slot(i), 256, "Invalid weight %s specified for route"
                        )
                        if not value:
                            raise self.fail("Invalid weight 0 specified for route")
                        hop.weight = value
                    elif word == "onlink":
                        hop.onlink = True
                    elif word == "encap":
                        i, hop.encap = self.encap(i)
                    elif word == "realms":
                        i += 1
                        realms = self.ctx.rt.realms(self.slot(i))
                        if realms is None:
                            raise self.fail(f"Invalid realms {self.slot(i)} for route")
                        self.set_family(4, "realms are only supported for IPv4")
                        hop.realms = realms
                    elif word == "as":
                        i += 1
                        if self.slot(i) == "to":
                            i += 1
                        raise self.fail("'as [to]' (nat) not supported")
                    else:
                        break
                    i += 1
                route.nexthops.append(hop)
            if i < n:
                self.say(f"Route has trailing nonsense after nexthops - {words[i]}")
        except _Failed:
            return

    # -- encapsulation
    def encap(self, i: int) -> tuple[int, Encap | None]:
        """keepalived's parse_encap(): returns where the caller's index goes on, and the
        encapsulation (kept, partly filled, after an error in its parameters)."""
        words = self.words
        n = len(words)
        i += 1
        if n <= i:
            self.say("Missing encap type")
            return i, None
        kind = words[i]
        i += 1
        if kind in ("ip", "ip6"):
            encap = Encap(kind="ip" if kind == "ip" else "ip6")
            i = self._encap_ip(i, encap)
        elif kind == "mpls":
            encap = Encap(kind="mpls")
            i = self._encap_one(i, encap)
        elif kind == "ila":
            encap = Encap(kind="ila")
            i = self._encap_one(i, encap)
        else:
            self.say(f"Unknown encap type - {kind}")
            return i, None
        return i - 1, encap

    def _encap_ip(self, i: int, encap: Encap) -> int:
        words = self.words
        v6 = encap.kind == "ip6"
        name = "ip6" if v6 else "ip"
        try:
            while i + 1 < len(words):
                key, value = words[i], words[i + 1]
                if key == "id":
                    wording = (
                        "id %s value invalid for IPv6 encapsulation"
                        if v6
                        else ("encap id %s value is invalid")
                    )
                    encap.id = self.uint64(value, wording)
                elif key in ("dst", "src"):
                    parsed = parse_address(self.ctx, value, subnet=False)
                    if parsed is None:
                        raise self.fail(f"Invalid encap {name} {key} {value}")
                    if v6 and parsed[0].version != 6:
                        raise self.fail(f"IPv4 address {value} not valid for ip6 encapsulation")
                    if not v6 and parsed[0].version != 4:
                        raise self.fail(f"IPv6 address {value} not valid for ip encapsulation")
                    setattr(encap, key, str(parsed[0]))
                elif key == ("tc" if v6 else "tos"):
                    tos = self.ctx.rt.dsfield(value)
                    if tos is None:
                        raise self.fail(
                            f"tc value {key} is invalid for ip6 encapsulation"
                            if v6
                            else f"dsfield {value} not valid for ip encapsulation"
                        )
                    encap.tos = tos
                elif key == ("hoplimit" if v6 else "ttl"):
                    wording = (
                        "Invalid hoplimit %s specified for ip6 encapsulation"
                        if v6
                        else "ttl %s is not valid for ip encapsulation"
                    )
                    encap.ttl = self.uint(value, 255, wording)
                elif key == "flags":
                    encap.flags = self.uint(
                        value, 0xFFFF, f"flags %s is not valid for {name} encapsulation"
                    )
                else:
                    break
                i += 2
            if encap.dst is None and encap.id is None:
                raise self.fail(f"address or id missing for {name} encapsulation")
        except _Failed:
            encap.dst = encap.src = None
        return i

    def _encap_one(self, i: int, encap: Encap) -> int:
        """mpls LABEL[/LABEL] or ila LOCATOR: one word."""
        mpls = encap.kind == "mpls"
        if i >= len(self.words):
            self.say(
                "missing address for MPLS encapsulation"
                if mpls
                else "missing locator for ILA encapsulation"
            )
            return i
        text = self.words[i]
        i += 1
        if mpls:
            labels = _mpls_labels(text)
            if labels is None:
                self.say(f"invalid mpls address {text} for encapsulation")
            else:
                encap.labels = labels
        else:
            locator = _addr64(text)
            if locator is None:
                self.say(f"invalid locator {text} for ila encapsulation")
            else:
                encap.locator = locator
        return i

    # -- times
    def time_rtt(self, text: str, mult: int) -> int | None:
        """keepalived's get_time_rtt(): a time in the metric's units (`mult` per ms): a
        bare number is in those units, ``Ns``/``Nms`` (``sec``, ``secs``) are converted;
        the result is brought within 200 ms..120 s."""
        text = text.lstrip(WHITE_SPACE)
        raw = True
        shift = 0
        number = text
        at = min((p for p in (text.find("s"), text.find("S")) if p >= 0), default=-1)
        if at >= 0:
            if text[at:].lower() not in ("s", "sec", "secs"):
                return None
            raw = False
            shift = 3
            if at > 0 and text[at - 1].lower() == "m":
                shift = 0
                at -= 1
            if at == 0:
                return None
            number = text[:at]
        if "e" in number or "E" in number:
            self.ctx.say("syslog", f"rtt value exponential form {text} no longer supported")
            return None
        value = self.ctx.num_each.decimal(number, 0, RTT_MAX_MS * mult, shift)
        if value is None:
            return None
        if not raw:
            value *= mult
        if value > RTT_MAX_MS * mult:
            self.ctx.say(
                "syslog", f"rtt value {text} exceeds maximum {RTT_MAX_MS // 1000}s, resetting"
            )
            value = RTT_MAX_MS * mult
        elif value < RTT_MIN_MS * mult:
            self.ctx.say("syslog", f"rtt value {text} below minimum {RTT_MIN_MS}ms, resetting")
            value = RTT_MIN_MS * mult
        return value


def _mpls_labels(text: str) -> list[int] | None:
    """keepalived's parse_mpls_address(): one or two 20-bit labels, ``/``-separated."""
    text = text.lstrip(WHITE_SPACE)
    labels: list[int] = []
    for _ in range(2):
        if text.startswith("-") or text[:1] in tuple(WHITE_SPACE):
            return None
        value, end, _ = strtoul(text, 0)
        if not end or value > 0xFFFFFFFF or value & ~0xFFFFF:
            return None
        labels.append(value)
        if end == len(text):
            return labels
        if text[end] != "/":
            return None
        text = text[end + 1 :]
    return None


def _addr64(text: str) -> int | None:
    """keepalived's get_addr64(): four ``:``-separated hex groups of up to 16 bits."""
    text = text.lstrip(WHITE_SPACE)
    groups: list[int] = []
    for index in range(4):
        if not text or text[0] not in "0123456789abcdefABCDEF":
            return None
        value, end, _ = strtoul(text, 16)
        if value > 0xFFFF or not end:
            return None
        groups.append(value)
        if end == len(text):
            if index != 3:
                return None
            break
        if index == 3 or text[end] != ":":
            return None
        text = text[end + 1 :]
    result = 0
    for group in groups:
        result = (result << 16) | group
    return result


def _is_vrf(name: str) -> bool:
    try:
        with open(f"/sys/class/net/{name}/uevent", encoding="utf-8", errors="replace") as fh:
            return "DEVTYPE=vrf" in fh.read().split("\n")
    except OSError:
        return False


def alloc_route(ctx: ParseContext, item: Line, *, static: bool) -> Route | None:
    """One route line; None (reported) when keepalived drops it.

    `static`: a ``static_routes`` line (``track_group`` allowed)."""
    ctx.cur = item
    return _RouteReader(ctx, item, static).read()

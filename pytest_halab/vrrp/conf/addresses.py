"""An address line of ``virtual_ipaddress``, ``virtual_ipaddress_excluded`` or
``static_ipaddress``, read as keepalived 2.2.7 reads one (vrrp_ipaddress.c:
parse_ipaddress, parse_route, alloc_ipaddress), with its messages."""

from __future__ import annotations

import ipaddress

from .context import ParseContext
from .lexer import Line
from .model import IFNAMSIZ, VirtualIp
from .values import inet_pton

__all__ = [
    "DEFAULT_INTERFACE",
    "Prefix",
    "alloc_ipaddress",
    "inet_family",
    "parse_address",
    "parse_route_dest",
]

# keepalived's DFLT_INT: the interface of a static address without ``dev`` unless
# global_defs sets ``default_interface``
DEFAULT_INTERFACE = "eth0"

# (address, prefix length); the address None for default/any/all (family still open)
Prefix = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, int, int]

_FLAGS = ("home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track")


def _raw_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def inet_family(word: str, current: int, what: str) -> tuple[int, str | None]:
    """A route's or rule's ``inet`` / ``inet6`` word: the family it sets, and keepalived's
    complaint when the line already has the other one (``what``: "route" or "rule")."""
    family = 6 if word == "inet6" else 4
    if current and current != family:
        other = "IPv4" if family == 6 else "IPv6"
        return current, f"{word} specified for {other} {what}"
    return family, None


def parse_address(
    ctx: ParseContext, text: str, *, subnet: bool
) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
    """keepalived's parse_ipaddress(): the address and its prefix length (the full
    length unless `subnet` allows ``/LEN``); None, reported, when it is no address.

    The family is IPv6 when the text has a ``:``; a bad prefix length is reported and
    replaced by the full length before the address itself is read."""
    maxlen = 128 if ":" in text else 32
    prefixlen = maxlen
    addr_text = text
    if subnet and "/" in text:
        addr_text, _, plen_text = text.partition("/")
        value = ctx.num_each.uint(plen_text, 0, maxlen)
        if value is None:
            ctx.say(
                "general",
                f"Invalid address prefix len {plen_text} for address {text} - using {maxlen}",
            )
        else:
            prefixlen = value
    addr = inet_pton(addr_text)
    if addr is None:
        ctx.say("general", f"VRRP parsed invalid IP {text}. skipping IP...")
        return None
    return addr, prefixlen


def parse_route_dest(ctx: ParseContext, text: str) -> Prefix | None:
    """keepalived's parse_route(): (address, prefix length, family); ``default``, ``any``
    and ``all`` are (None, 0, 0) (the family follows the route's), the deprecated
    ``default6`` is (None, 0, 6)."""
    if text in ("default", "any", "all"):
        return None, 0, 0
    if text == "default6":
        ctx.say("syslog", "'default6' is deprecated - please replace with 'inet6 default'")
        return None, 0, 6
    parsed = parse_address(ctx, text, subnet=True)
    if parsed is None:
        return None
    addr, prefixlen = parsed
    return addr, prefixlen, addr.version


def alloc_ipaddress(ctx: ParseContext, item: Line, *, static: bool) -> VirtualIp | None:
    """One address line of an address block; None (reported) when keepalived drops it.

    `static`: a ``static_ipaddress`` line (``track_group`` allowed, ``use_vmac`` not, the
    default interface when no ``dev`` is given)."""
    ctx.cur = item
    words = item.words
    text = words[0]
    parsed = parse_address(ctx, text, subnet=True)
    if parsed is None:
        return None
    addr, prefixlen = parsed
    vip = VirtualIp(str(addr), prefixlen, line=item.line, file=item.file)
    brd_sign = ""  # "+" or "-": computed once the prefix length is final
    have_broadcast = False
    missing: str | None = None
    i = 1
    while i < len(words):
        opt = words[i]
        has_param = i + 1 < len(words)
        if opt in ("dev", "scope", "broadcast", "brd", "label", "peer", "preferred_lft") or (
            static and opt == "track_group"
        ):
            if not has_param:
                missing = opt
                break
            i += 1
            param = words[i]
            if opt == "dev":
                if vip.dev is not None:
                    ctx.say("general", f"Cannot specify ipaddress device more than once for {text}")
                    return None
                if not ctx.interface_exists(param):
                    ctx.say(
                        "general",
                        f"WARNING - interface {param} for ip address {text} doesn't exist",
                    )
                    return None
                vip.dev = param
            elif opt == "scope":
                scope = ctx.rt.scope(param)
                if scope is None:
                    ctx.say("general", f"Invalid scope '{param}' specified for {text} - ignoring")
                else:
                    vip.scope, vip.scope_id = param, scope
            elif opt in ("broadcast", "brd"):
                if addr.version == 6:
                    ctx.say(
                        "general",
                        f"VRRP is trying to assign a broadcast {opt} to the IPv6 address"
                        f" {text} !!?? WTF... skipping VIP...",
                    )
                    return None
                have_broadcast = True
                if param in ("+", "-"):
                    brd_sign = param
                elif inet_pton(param) is None or ":" in param:
                    ctx.say(
                        "general",
                        f"VRRP is trying to assign invalid broadcast {param}. skipping VIP...",
                    )
                    return None
                else:
                    vip.broadcast = str(inet_pton(param))
                vip.brd = param
            elif opt == "label":
                if _raw_len(param) >= IFNAMSIZ:
                    ctx.say(
                        "general",
                        f"Address label {param} is longer than maximum length"
                        f" {IFNAMSIZ - 1} - removing address",
                    )
                    return None
                vip.label = param
            elif opt == "peer":
                if vip.peer is not None:
                    ctx.say("general", f"Peer {param} - another peer has already been specified")
                    continue  # keepalived reads the second peer again, as an option
                _peer(ctx, vip, param)
            elif opt == "preferred_lft":
                if param == "forever":
                    vip.preferred_lft = 0xFFFFFFFF
                else:
                    value = ctx.num_each.uint(param, 0, 0xFFFFFFFF)
                    if value is None:
                        ctx.say("general", f"preferred_lft {param} is invalid")
                    else:
                        vip.preferred_lft = value
            else:  # track_group
                if vip.track_group is not None:
                    ctx.say("general", f"track_group {param} is a duplicate")
                    break
                if param in ctx.cfg.track_groups:
                    vip.track_group = param
                else:
                    ctx.say("general", f"track_group {param} not found")
        elif opt in _FLAGS or (not static and opt == "use_vmac"):
            vip.options.append(opt)
        else:
            ctx.say("general", f"Unknown configuration entry '{opt}' for ip address - ignoring")
        i += 1
    if missing is not None:
        ctx.say("general", f"No {missing} parameter specified for {text}")
        return None
    if have_broadcast and vip.peer is not None:
        ctx.say(
            "general", "Cannot specify broadcast and peer addresses - ignoring broadcast address"
        )
        vip.broadcast = None
    elif brd_sign and vip.prefixlen <= 30:
        base = ipaddress.IPv4Address(vip.peer or vip.address)
        host_bits = 0xFFFFFFFF >> vip.prefixlen
        value = int(base) | host_bits if brd_sign == "+" else int(base) & ~host_bits
        vip.broadcast = str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    elif brd_sign:
        ctx.say("general", f"Address prefix length {vip.prefixlen} too long for broadcast")
    if static and vip.dev is None:
        name = _default_interface(ctx)
        if not ctx.interface_exists(name):
            ctx.say(
                "fatal",
                f"Static address {text} requires either an interface or default interface"
                " must exist",
            )
            return None
        vip.dev = name
    if addr.version == 6:
        if vip.scope_id:
            ctx.say("general", f"Cannot specify scope for IPv6 addresses ({text}) - ignoring scope")
            vip.scope = vip.scope_id = None
        if vip.label is not None:
            ctx.say("general", f"Cannot specify label for IPv6 addresses ({text}) - ignoring label")
            vip.label = None
        if vip.preferred_lft is None:
            vip.preferred_lft = 0 if vip.prefixlen == 128 else 0xFFFFFFFF
    return vip


def _peer(ctx: ParseContext, vip: VirtualIp, param: str) -> None:
    parsed = parse_address(ctx, param, subnet=False)
    if parsed is None:
        ctx.say("general", f"Invalid peer address {param}")
        return
    peer, peer_len = parsed
    if peer.version != vip.family:
        ctx.say("general", f"Peer address {param} does not match address family")
        return
    if vip.prefixlen != (128 if vip.family == 6 else 32):
        ctx.say(
            "general",
            "Cannot specify address prefix when specifying peer address - ignoring",
        )
    vip.peer = str(peer)
    vip.prefixlen = peer_len


def _default_interface(ctx: ParseContext) -> str:
    """global_defs ``default_interface``, else keepalived's eth0."""
    values = ctx.cfg.global_defs.options.get("default_interface")
    return values[0] if values else DEFAULT_INTERFACE

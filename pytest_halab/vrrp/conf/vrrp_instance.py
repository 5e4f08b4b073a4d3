"""The ``vrrp_instance NAME { ... }`` block, with its nested blocks (authentication,
addresses, unicast peers, tracked interfaces, scripts and BFDs, virtual routes and rules)."""

from __future__ import annotations

from .addresses import alloc_ipaddress
from .bfd import track_bfd
from .context import Handler, Kw, ParseContext
from .keywords import INSTANCE_BLOCKS, INSTANCE_BOOLS, INSTANCE_OTHER, NOTIFY_SCRIPTS
from .lexer import Line
from .model import (
    IFNAMSIZ,
    TIMER_HZ,
    VRRP_PRIO_DFL,
    VRRP_PRIO_OWNER,
    TrackInterface,
    TrackScript,
    VrrpInstance,
)
from .notify import notify_script
from .routes import alloc_route
from .rules import alloc_rule
from .values import parse_sockaddr_ip, true_false

__all__ = ["KEYWORD"]

TIMER_MAX_SEC = 1000  # keepalived 2.2.7's bound on preempt_delay, in seconds


def _instance(ctx: ParseContext, line: Line) -> None:
    if len(line.words) != 2:
        ctx.report("general", "vrrp_instance must have a name")
        ctx.request_skip(block_without_brace=ctx.instance is not None)
        return
    name = line.words[1]
    if name in ctx.cfg.instances:
        ctx.report("general", f"vrrp instance {name} already defined")
        ctx.request_skip(block_without_brace=ctx.instance is not None)
        return
    ctx.instance = VrrpInstance(name=name, line=line.line, file=line.file)
    ctx.cfg.instances[name] = ctx.instance


def _inst(ctx: ParseContext) -> VrrpInstance:
    assert ctx.instance is not None
    return ctx.instance


def _set_family(ctx: ParseContext, inst: VrrpInstance, family: int) -> bool:
    current = ctx.notes.families.get(inst.name)
    if current is None:
        ctx.notes.families[inst.name] = family
        return True
    return current == family


def _option(ctx: ParseContext, line: Line) -> None:
    _inst(ctx).options[line.words[0]] = line.words[1:]


def _unsigned_option(lo: int, hi: int, refusal: str) -> Handler:
    """An instance option that is one number (keepalived's read_unsigned, lo to hi); a bad
    one is said (`refusal`, formatted with the instance's name and the word) and not kept,
    so the default holds, as keepalived keeps its own."""

    def handler(ctx: ParseContext, line: Line) -> None:
        inst, text = _inst(ctx), ctx.arg(line, 1)
        if ctx.num.uint(text, lo, hi) is None:
            ctx.report("general", refusal.format(name=inst.name, value=text))
            return
        _option(ctx, line)

    return handler


# keepalived 2.2.7's checks of the instance options that are one number
_UNSIGNED_OPTIONS = {
    "down_timer_adverts": (1, 100, "({name}): Invalid down_timer_adverts [1:100] '{value}'"),
    "unicast_ttl": (0, 255, "({name}): TTL '{value}' not valid - must be between 0 & 255"),
    "debug": (0, 4, "({name}) Debug value '{value}' not valid; must be between 0-4"),
    "garp_lower_prio_delay": (
        0,
        0xFFFFFFFF // 1_000_000,
        "({name}): garp_lower_prio_delay '{value}' invalid - ignoring",
    ),
    "garp_lower_prio_repeat": (0, 2**31 - 1, "({name}): Invalid garp_lower_prio_repeat '{value}'"),
}


def _garp_extra_if(ctx: ParseContext, line: Line) -> None:
    """``garp_extra_if [all] SECONDS`` (0 to 86400; ``vmac_garp_intvl`` is its deprecated
    name, said so)."""
    inst, name = _inst(ctx), line.words[0]
    if name == "vmac_garp_intvl":
        ctx.report(
            "deprecated", 'Keyword "vmac_garp_intvl" is deprecated - please use "garp_extra_if"'
        )
    delay: int | None = None
    every = False
    for text in line.words[1:]:
        if text == "all":
            every = True
            continue
        delay = ctx.num.uint(text, 0, 86400)
        if delay is None:
            ctx.report("general", f"({inst.name}): {name} '{text}' invalid - ignoring")
            return
    if delay is None:
        ctx.report("general", f"({inst.name}): {name} specified without time - ignoring")
        return
    inst.options["garp_extra_if"] = [*(["all"] if every else []), str(delay)]


def _kernel_rx_buf_size(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    if len(line.words) == 2 and ctx.num.uint(line.words[1], 0, 0xFFFFFFFF) is not None:
        _option(ctx, line)
        return
    ctx.report("general", f"({inst.name}) invalid kernel_rx_buf_size specified")


def _mcast_dst_ip(ctx: ParseContext, line: Line) -> None:
    """``mcast_dst_ip ADDRESS``: of the instance's family (it sets it when unset), IPv4
    multicast or IPv6 link-local multicast."""
    inst = _inst(ctx)
    text = ctx.arg(line, 1)
    addr = parse_sockaddr_ip(text)
    if addr is None:
        ctx.report("general", f"({inst.name}) malformed mcast dest address {text}. Skipping...")
        return
    if not _set_family(ctx, inst, addr.version):
        ctx.report(
            "general",
            f"({inst.name}) mcast dest address {text} MUST match VRRP instance family. Skipping...",
        )
        return
    if addr.version == 4 and not addr.is_multicast:
        ctx.report("general", f"({inst.name}) mcast_dst_ip {text} not multicast. Skipping...")
        return
    if addr.version == 6 and not (addr.is_multicast and addr.packed[1] & 0x0F == 2):
        ctx.report(
            "general", f"({inst.name}) mcast_dst_ip {text} not link-local multicast. Skipping..."
        )
        return
    _option(ctx, line)


def _native_ipv6(ctx: ParseContext, line: Line) -> None:
    """``native_ipv6``: the instance is IPv6 (so VRRP version 3), unless an IPv4 address
    has made it IPv4 already."""
    inst = _inst(ctx)
    if ctx.notes.families.get(inst.name) == 4:
        ctx.report("general", f"({inst.name}) Cannot specify native_ipv6 with IPv4 addresses")
        return
    ctx.notes.families[inst.name] = 6
    inst.configured_version = 3
    _option(ctx, line)


def _vrf(ctx: ParseContext, line: Line) -> None:
    """``vrf NAME``: the VRF the instance's sockets bind to, when it has no interface."""
    inst = _inst(ctx)
    name = ctx.arg(line, 1)
    if len(_raw(name)) >= IFNAMSIZ:
        ctx.report("general", f"({inst.name}) VRF interface name '{name}' too long - ignoring")
        return
    if inst.interface is not None:
        ctx.report(
            "general", f"({inst.name}) Cannot specify VRF interface and interface - ignoring"
        )
        return
    if "vrf" in inst.options:
        ctx.report(
            "general",
            f"({inst.name}) VRF interface already specified as '{inst.options['vrf'][0]}'"
            " - ignoring",
        )
        return
    if not ctx.interface_exists(name):
        ctx.report("general", f"({inst.name}) WARNING - VRF interface {name} doesn't exist")
        return
    if ctx.interfaces.get(name, False):
        ctx.report(
            "general", f"({inst.name}) cannot use a loopback interface ({name}) for VRF - ignoring"
        )
        return
    inst.options["vrf"] = [name]


def _bool(ctx: ParseContext, line: Line) -> None:
    """An instance flag with an optional true/false value; kept as ["true"|"false"]."""
    inst, name = _inst(ctx), line.words[0]
    value: bool | None = True
    if len(line.words) >= 2:
        value = true_false(line.words[1])
        if value is None:
            if name == "notify_priority_changes":
                message = f"({inst.name}) Invalid value '{line.words[1]}' for {name} specified"
            else:
                message = f"({inst.name}) invalid {name} {line.words[1]} specified"
            ctx.report("general", message)
            return
    inst.options[name] = ["true" if value else "false"]


def _linkbeat(ctx: ParseContext, line: Line) -> None:
    ctx.report(
        "general",
        f"({_inst(ctx).name}) 'linkbeat_use_polling' in vrrp instance deprecated"
        " - use linkbeat_interfaces block",
    )


def _unicast_option(ctx: ParseContext, line: Line) -> None:
    """A unicast keyword kept as an option; like keepalived it marks the instance as meant
    for unicast (without peers it then says so, and falls back to multicast)."""
    ctx.notes.unicast_configured.add(_inst(ctx).name)
    if line.words[0] == "old_unicast_checksum" and line.words[1:2] not in ([], ["never"]):
        name = _inst(ctx).name
        ctx.report(
            "general", f"({name}) Unknown old_unicast_chksum mode {line.words[1]} - ignoring"
        )
        return
    _option(ctx, line)


def _option_block(ctx: ParseContext, line: Line) -> None:
    items = ctx.value_block(line)
    _inst(ctx).options[line.words[0]] = [" ".join(i.words) for i in items]


def _flag(name: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        setattr(_inst(ctx), name, True)

    return handler


def _state(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    text = ctx.arg(line, 1)
    if text == "MASTER":
        inst.configured_state = "MASTER"
    elif text == "BACKUP":
        if inst.configured_state == "MASTER":
            ctx.report("general", f"({inst.name}) state previously set as MASTER - ignoring BACKUP")
        else:
            inst.configured_state = "BACKUP"
    else:
        ctx.report("general", f"({inst.name}) unknown state '{text}', defaulting to BACKUP")
        inst.configured_state = "BACKUP"


def _raw(text: str) -> bytes:
    """The bytes keepalived sees: the file's own, any non-UTF-8 byte included."""
    return text.encode("utf-8", "surrogateescape")


def _interface(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    name = ctx.arg(line, 1)
    if len(_raw(name)) >= IFNAMSIZ:
        ctx.report("general", f"Interface name '{name}' too long - ignoring")
        return
    if not ctx.interface_exists(name):
        ctx.report(
            "general", f"WARNING - interface {name} for vrrp_instance {inst.name} doesn't exist"
        )
        inst.interface = None
        return
    if ctx.interfaces.get(name, False):
        ctx.report(
            "general",
            f"({inst.name}) cannot use a loopback interface ({name}) for vrrp - ignoring",
        )
        inst.interface = None
        return
    inst.interface = name


def _vrid(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    text = ctx.arg(line, 1)
    value = ctx.num.unsigned(text, 1, 255)
    if value is None:
        ctx.report("general", f"({inst.name}): VRID '{text}' not valid - must be between 1 & 255")
        return
    inst.vrid = value


def _priority(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    text = ctx.arg(line, 1)
    ctx.priority_lines.setdefault(inst.name, []).append(line)
    value = ctx.num.unsigned(text, 1, VRRP_PRIO_OWNER)
    if value is None:
        ctx.report(
            "general",
            f"({inst.name}) Priority not valid! must be between 1 & {VRRP_PRIO_OWNER}."
            f" Using default {VRRP_PRIO_DFL}",
        )
        value = VRRP_PRIO_DFL
    inst.configured_priority = value


def _advert(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    text = ctx.arg(line, 1)
    value = ctx.num.decimal(text, TIMER_HZ // 100, 255 * TIMER_HZ, ignore_error=True)
    if not value:
        ctx.report(
            "general",
            f"({inst.name}) Advert interval ({text}) not valid! Must be > 0 - ignoring",
        )
        return
    inst.advert_int = value / TIMER_HZ


def _version(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    value, _ = ctx.num.integer(ctx.arg(line, 1), 2, 3)
    if value is None:
        ctx.report("general", f"({inst.name}): Version must be either 2 or 3")
        return
    if (inst.configured_version and inst.configured_version != value) or (
        value == 2 and ctx.notes.families.get(inst.name) == 6
    ):
        ctx.report(
            "general",
            f"({inst.name}) vrrp_version {value} conflicts with configured or deduced"
            f" version {inst.configured_version or 0}; ignoring.",
        )
        return
    inst.configured_version = value


def _auth(ctx: ParseContext, line: Line) -> None:
    # Where the block is, for the checks made after parsing (keepalived prints those
    # without a line). The instance's line would point away from the block, which may be
    # a single line: in `authentication { auth_type PASS auth_pass 1234 }` auth_pass is
    # never read (keepalived takes auth_type's value and drops the rest of its line), and
    # "no password given" must point there.
    inst = _inst(ctx)
    inst.auth_file, inst.auth_line = line.file, line.line


def _auth_type(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    text = ctx.arg(line, 1)
    if text in ("AH", "PASS"):
        inst.auth_type = "AH" if text == "AH" else "PASS"
    else:
        ctx.report("general", f"({inst.name}) unknown authentication type '{text}'")


def _auth_pass(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    text = ctx.arg(line, 1)
    if len(_raw(text)) > 8:
        ctx.report("general", "Truncating auth_pass to 8 characters")
        text = _raw(text)[:8].decode("utf-8", "surrogateescape")
    inst.auth_pass = text


def _nopreempt(ctx: ParseContext, line: Line) -> None:
    _inst(ctx).nopreempt = True


def _preempt(ctx: ParseContext, line: Line) -> None:
    _inst(ctx).nopreempt = False


def _preempt_delay(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    value = ctx.num.decimal(ctx.arg(line, 1), 0, TIMER_MAX_SEC * TIMER_HZ, ignore_error=True)
    if value is None:
        ctx.report(
            "general", f"({inst.name}) Preempt_delay not valid! must be between 0-{TIMER_MAX_SEC}"
        )
        value = 0
    inst.preempt_delay = value / TIMER_HZ


def _accept(value: bool) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        _inst(ctx).accept = value

    return handler


def _smtp(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    value: bool | None = True
    if len(line.words) >= 2:
        value = true_false(line.words[1])
        if value is None:
            ctx.report("general", f"Invalid vrrp_instance smtp_alert parameter {line.words[1]}")
            return
    inst.smtp_alert = value


def _garp(name: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        inst = _inst(ctx)
        text = ctx.arg(line, 1)
        if name == "garp_master_delay":
            value = ctx.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
            if value is None:
                ctx.report(
                    "general", f"({inst.name}): garp_master_delay '{text}' invalid - ignoring"
                )
                return
        elif name == "garp_master_refresh":
            value = ctx.num.unsigned(text, 0, 0xFFFFFFFF)
            if value is None:
                ctx.report(
                    "general", f"({inst.name}): Invalid garp_master_refresh '{text}' - ignoring"
                )
                value = 0
        else:
            value = ctx.num.unsigned(text, 0, 0xFFFFFFFF)
            if value is None:
                ctx.report("general", f"({inst.name}): {name} '{text}' invalid - ignoring")
                return
            if value == 0:
                ctx.report("general", f"({inst.name}): {name} must be greater than 0, setting to 1")
                value = 1
        setattr(inst, name, value)
        ctx.notes.garp_set.setdefault(inst.name, set()).add(name)

    return handler


def _notify(name: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        inst = _inst(ctx)
        if getattr(inst, name) is not None:
            ctx.report(
                "general",
                f"({inst.name}) {name} script already specified - ignoring {ctx.arg(line, 1)}",
            )
            return
        setattr(inst, name, notify_script(ctx, line, "notify"))

    return handler


def _notify_deleted(ctx: ParseContext, line: Line) -> None:
    """A flag (send DELETED, not FAULT, for an instance a reload removes), with an optional
    script of its own."""
    inst = _inst(ctx)
    if "notify_deleted" in inst.options:
        shown = line.words[1] if len(line.words) > 1 else ""
        ctx.report("general", f"({inst.name}) notify_deleted already specified - ignoring {shown}")
        return
    if len(line.words) > 1:
        inst.notify_deleted = notify_script(ctx, line, "notify")
    inst.options["notify_deleted"] = []


def _srcip(unicast: bool) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        inst = _inst(ctx)
        if unicast:
            ctx.notes.unicast_configured.add(inst.name)
        text = ctx.arg(line, 1)
        addr = parse_sockaddr_ip(text)
        if addr is None:
            ctx.report(
                "general",
                f"Configuration error: VRRP instance[{inst.name}] malformed"
                f" src address[{text}]."
                " Skipping...",
            )
            return
        if not _set_family(ctx, inst, addr.version):
            ctx.report(
                "general",
                f"Configuration error: VRRP instance[{inst.name}] and src address[{text}]"
                " MUST be of the same family !!! Skipping...",
            )
            return
        if unicast:
            inst.unicast_src_ip = str(addr)
        else:
            inst.mcast_src_ip = str(addr)

    return handler


def _peers(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    ctx.notes.unicast_configured.add(inst.name)
    for item in ctx.value_block(line):
        ctx.cur = item
        text = item.words[0]
        addr = parse_sockaddr_ip(text)
        if addr is None:
            ctx.report(
                "general",
                f"Configuration error: VRRP instance[{inst.name}] malformed unicast peer"
                f" address[{text}]. Skipping...",
                item,
            )
            continue
        if not _set_family(ctx, inst, addr.version):
            ctx.report(
                "general",
                f"Configuration error: VRRP instance[{inst.name}] and unicast peer address"
                f"[{text}] MUST be of the same family !!! Skipping...",
                item,
            )
            continue
        _peer_ttls(ctx, inst, item)
        inst.unicast_peers.append(str(addr))


def _peer_ttls(ctx: ParseContext, inst: VrrpInstance, item: Line) -> None:
    """A peer's ``min_ttl N`` and ``max_ttl N`` (0 to 255), checked as keepalived reads
    them: option and value in pairs; a bad number is said and the next pair read; a
    missing value or an unknown option ends the line. The peer is kept either way. A TTL
    given turns on ``check_unicast_src``, as in keepalived (adverts from others dropped)."""
    ttl = {"min_ttl": 0, "max_ttl": 255}
    words = item.words
    for i in range(1, len(words), 2):
        if i + 1 >= len(words):
            ctx.report("general", f"({inst.name}) {words[i]} is missing a value", item)
            break
        value = ctx.num_each.uint(words[i + 1], 0, 255)
        if value is None:
            continue
        if words[i] not in ttl:
            ctx.report("general", f"({inst.name}) unknown unicast_peer option {words[i]}", item)
            break
        ttl[words[i]] = value
        inst.options.setdefault("check_unicast_src", [])
    if ttl["min_ttl"] > ttl["max_ttl"]:
        ctx.report(
            "general",
            f"({inst.name}) min_ttl {ttl['min_ttl']} > max_ttl {ttl['max_ttl']}"
            " - all packets will be discarded",
            item,
        )


def _vips(excluded: bool) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        inst = _inst(ctx)
        for item in ctx.value_block(line):
            vip = alloc_ipaddress(ctx, item, static=False)
            if vip is None:
                continue
            if not excluded and not _set_family(ctx, inst, vip.family):
                ctx.report(
                    "general",
                    f"({inst.name}): address family must match VRRP instance [{item.words[0]}]"
                    " - ignoring",
                    item,
                )
                continue
            (inst.excluded_vips if excluded else inst.vips).append(vip)

    return handler


def _vroutes(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    for item in ctx.value_block(line):
        route = alloc_route(ctx, item, static=False)
        if route is not None:
            inst.virtual_routes.append(route)


def _vrules(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    for item in ctx.value_block(line):
        rule = alloc_rule(ctx, item, static=False)
        if rule is not None:
            inst.virtual_rules.append(rule)


def _track_if(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    for item in ctx.value_block(line):
        ctx.cur = item
        words = item.words
        name = words[0]
        if not ctx.interface_exists(name):
            ctx.report("general", f"({inst.name}) tracked interface {name} doesn't exist")
            continue
        if any(t.name == name for t in inst.track_interfaces):
            ctx.report("general", f"({inst.name}) duplicate track_interface {name} - ignoring")
            continue
        weight, reverse = 0, False
        if len(words) >= 2:
            if words[1] != "weight":
                ctx.report(
                    "general",
                    f"({inst.name}) unknown track_interface {name} option {words[1]} - ignoring",
                )
                continue
            if len(words) == 2:
                ctx.report(
                    "general",
                    f"({inst.name}) weight without value specified for track_interface {name}"
                    " - ignoring",
                )
                continue
            value, _ = ctx.num.integer(words[2], -254, 254)
            if value is None:
                ctx.report(
                    "general",
                    f"({inst.name}) weight {words[2]} for {name} must be between"
                    " [-253..253] inclusive. Ignoring...",
                )
                value = 0
            elif value in (-254, 254):
                ctx.report(
                    "general",
                    f"({inst.name}) weight for {name} cannot be +/-254. Setting to +/-253",
                )
                value = 253 if value > 0 else -253
            weight = value
            if len(words) >= 4:
                if words[3] == "reverse":
                    reverse = True
                else:
                    ctx.report(
                        "general",
                        f"({inst.name}) unknown track_interace {name} weight option"
                        f" {words[3]} - ignoring",
                    )
        inst.track_interfaces.append(TrackInterface(name, weight, reverse, item.line))


def _track_script(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    for item in ctx.value_block(line):
        ctx.cur = item
        words = item.words
        name = words[0]
        scr = ctx.cfg.scripts.get(name)
        if scr is None:
            ctx.report("general", f"({inst.name}) track script {name} not found, ignoring...")
            continue
        if any(t.name == name for t in inst.track_scripts):
            ctx.report("general", f"({inst.name}) duplicate track_script {name} - ignoring")
            continue
        weight: int | None = None
        reverse = scr.weight_reverse
        before = len(ctx.diags.items)
        if len(words) >= 2:
            if words[1] != "weight":
                ctx.report(
                    "general",
                    f"({inst.name}) track script {name} option {words[1]} invalid - ignoring",
                )
            elif len(words) == 2:
                ctx.report(
                    "general",
                    f"({inst.name}) track script {name} weight missing - ignoring",
                )
            else:
                value, _ = ctx.num.integer(words[2], -254, 254)
                if value is None:
                    ctx.report(
                        "general",
                        f"({inst.name}) track script {name}: weight must be between"
                        " [-253..253] inclusive, ignoring...",
                    )
                elif abs(value) == 254:  # keepalived takes it, as 253
                    ctx.report(
                        "general",
                        f"({inst.name}) weight for {name} cannot be +/-254. Setting to +/-253",
                    )
                    weight = 253 if value > 0 else -253
                else:
                    weight = value
                reverse = len(words) >= 4 and words[3] == "reverse"
        entry = TrackScript(name, weight, reverse, item.line)
        entry.said = ctx.diags.items[before:]
        inst.track_scripts.append(entry)


def _track_bfd(ctx: ParseContext, line: Line) -> None:
    inst = _inst(ctx)
    track_bfd(ctx, line, inst.name, inst.track_bfds)


def _lvs_sync_interface(ctx: ParseContext, line: Line) -> None:
    """The deprecated per-instance ``lvs_sync_daemon_interface IF``: taken as the global
    lvs_sync_daemon unless one is set already (keepalived warns either way)."""
    inst, gd = _inst(ctx), ctx.cfg.global_defs
    ctx.report(
        "general",
        f"({inst.name}) Specifying lvs_sync_daemon_interface against a vrrp is deprecated.",
    )
    # keepalived pads with printf's "%*s" and a width of len(name) - 2: a negative width
    # pads to its absolute value
    pad = " " * (6 + abs(len(inst.name) - 2))
    ctx.report("general", f"{pad}Please use global lvs_sync_daemon")
    if gd.lvs_sync_interface is not None:
        ctx.report(
            "general",
            f"({inst.name}) lvs_sync_daemon_interface has already been specified as"
            f" {gd.lvs_sync_interface} - ignoring",
        )
        return
    if len(line.words) > 1:
        gd.lvs_sync_interface = line.words[1]
        gd.lvs_sync_instance = inst.name


def _table() -> dict[str, Kw]:
    table = {name: Kw(_option) for name in INSTANCE_OTHER}
    for name in INSTANCE_BLOCKS:
        table[name] = Kw(_option_block)
    for name in INSTANCE_BOOLS:
        table[name] = Kw(_bool)
    for name, (lo, hi, refusal) in _UNSIGNED_OPTIONS.items():
        table[name] = Kw(_unsigned_option(lo, hi, refusal))
    table["linkbeat_use_polling"] = Kw(_linkbeat)
    table["garp_extra_if"] = table["vmac_garp_intvl"] = Kw(_garp_extra_if)
    table["kernel_rx_buf_size"] = Kw(_kernel_rx_buf_size)
    table["mcast_dst_ip"] = Kw(_mcast_dst_ip)
    table["native_ipv6"] = Kw(_native_ipv6)
    table["vrf"] = Kw(_vrf)
    # (unicast_fault_no_peer too, but it asks for a FAULT without peers: no complaint)
    for name in ("check_unicast_src", "old_unicast_checksum"):
        table[name] = Kw(_unicast_option)
    table.update(
        state=Kw(_state),
        interface=Kw(_interface),
        virtual_router_id=Kw(_vrid),
        priority=Kw(_priority),
        advert_int=Kw(_advert),
        version=Kw(_version),
        authentication=Kw(
            _auth,
            {"auth_type": Kw(_auth_type), "auth_pass": Kw(_auth_pass)},
        ),
        nopreempt=Kw(_nopreempt),
        preempt=Kw(_preempt),
        preempt_delay=Kw(_preempt_delay),
        virtual_ipaddress=Kw(_vips(excluded=False)),
        virtual_ipaddress_excluded=Kw(_vips(excluded=True)),
        virtual_routes=Kw(_vroutes),
        virtual_rules=Kw(_vrules),
        unicast_src_ip=Kw(_srcip(unicast=True)),
        mcast_src_ip=Kw(_srcip(unicast=False)),
        unicast_peer=Kw(_peers),
        track_interface=Kw(_track_if),
        track_script=Kw(_track_script),
        track_bfd=Kw(_track_bfd),
        dont_track_primary=Kw(_flag("dont_track_primary")),
        accept=Kw(_accept(True)),
        no_accept=Kw(_accept(False)),
        smtp_alert=Kw(_smtp),
        lvs_sync_daemon_interface=Kw(_lvs_sync_interface),
        garp_master_delay=Kw(_garp("garp_master_delay")),
        garp_master_repeat=Kw(_garp("garp_master_repeat")),
        garp_master_refresh=Kw(_garp("garp_master_refresh")),
        garp_master_refresh_repeat=Kw(_garp("garp_master_refresh_repeat")),
    )
    for name in (*NOTIFY_SCRIPTS, "notify_master_rx_lower_pri"):
        table[name] = Kw(_notify(name))
    table["notify_deleted"] = Kw(_notify_deleted)
    auth = table["authentication"].sub
    assert auth is not None
    table["authentication"] = Kw(_auth, {k: _located_kw(v) for k, v in auth.items()})
    return {name: _located_kw(kw) for name, kw in table.items()}


def _located_kw(kw: Kw) -> Kw:
    return kw if kw.handler is None else Kw(_located(kw.handler), kw.sub, kw.close)


def _located(handler: Handler) -> Handler:
    """The handler, and the keyword's place noted in the instance (the last one wins, as
    the value does), for messages that name the line of ``priority`` or ``nopreempt``."""

    def located(ctx: ParseContext, line: Line) -> None:
        if ctx.instance is not None:
            ctx.instance.lines[line.words[0]] = (line.file, line.line)
        handler(ctx, line)

    return located


TABLE: dict[str, Kw] = _table()

# the top-level keyword: starts an instance (or has its block skipped), parses its block
KEYWORD = Kw(_instance, TABLE)

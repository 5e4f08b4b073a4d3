"""The ``global_defs`` block."""

from __future__ import annotations

import ipaddress
import os
import socket

from .context import Handler, Kw, ParseContext
from .keywords import GLOBAL_BOOLS, GLOBAL_BOOLS_QUOTED, GLOBAL_KEYWORDS, GLOBAL_SCRIPTS
from .lexer import Line
from .model import TIMER_HZ
from .notify import notify_script
from .scripts import lookup_user
from .values import parse_ip, true_false

__all__ = ["TABLE"]

# sched_get_priority_min/max(SCHED_RR) on Linux
RT_PRIORITY_RANGE = (
    (os.sched_get_priority_min(os.SCHED_RR), os.sched_get_priority_max(os.SCHED_RR))
    if hasattr(os, "sched_get_priority_min")
    else (1, 99)
)


def _option(ctx: ParseContext, line: Line) -> None:
    ctx.cfg.global_defs.options[line.words[0]] = line.words[1:]


def _flag(quoted: bool) -> Handler:
    """A global flag with an optional true/false value; kept as ["true"|"false"].
    keepalived words its refusal two ways, with or without the value."""

    def handler(ctx: ParseContext, line: Line) -> None:
        name = line.words[0]
        value: bool | None = True
        if len(line.words) >= 2:
            value = true_false(line.words[1])
            if value is None:
                message = (
                    f"Invalid value '{line.words[1]}' for global {name} specified"
                    if quoted
                    else f"Invalid value for {name} specified"
                )
                ctx.report("general", message)
                return
        ctx.cfg.global_defs.options[name] = ["true" if value else "false"]

    return handler


def _mcast_group(family: int) -> Handler:
    """``vrrp_mcast_group4``/``6 ADDRESS``: an address of that family, and multicast (the
    daemon sends to the RFCs' groups whatever is set)."""

    def handler(ctx: ParseContext, line: Line) -> None:
        name = line.words[0]
        if len(line.words) < 2:
            return
        text = line.words[1]
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            ctx.report("general", f"Can't parse {name} [{text}]. Skipping")
            return
        if address.version != family:
            ctx.report("general", f"{name} [{text}] is not IPv{family}. Skipping")
        elif not address.is_multicast:
            ctx.report("general", f"{name} [{text}] is not multicast. Skipping")
        else:
            _option(ctx, line)

    return handler


def _router_id(ctx: ParseContext, line: Line) -> None:
    if len(line.words) < 2:
        ctx.report("general", "routerid name missing - ignoring")
        return
    ctx.cfg.global_defs.router_id = line.words[1]
    ctx.cfg.global_defs.lines["router_id"] = (line.file, line.line)


def _email(ctx: ParseContext, line: Line) -> None:
    emails = [w for item in ctx.value_block(line) for w in item.words]
    if not emails:
        # at the block's "}" (keepalived reads the block first)
        ctx.report("general", "Warning - empty notification_email block")
    ctx.cfg.global_defs.notification_email.extend(emails)


def _email_from(ctx: ParseContext, line: Line) -> None:
    if len(line.words) < 2:
        ctx.report("general", "emailfrom missing - ignoring")
        return
    ctx.cfg.global_defs.notification_email_from = line.words[1]


def _smtp_server(ctx: ParseContext, line: Line) -> None:
    host = ctx.arg(line, 1)
    port_str = line.words[2] if len(line.words) >= 3 else "25"
    # keepalived reads the port (1 to 65535, read_unsigned's complaints) once per way it
    # tries the host: as an address (unless the host has a '-' or '/'), then, when that
    # fails, as a name; a bad port fails both, so it is said twice for most hosts.
    as_address = not any(c in host for c in "-/")
    port = ctx.num.uint(port_str, 1, 65535)
    valid_port = port is not None
    if as_address and not valid_port:
        ctx.num_each.uint(port_str, 1, 65535)
    ok = parse_ip(host) is not None
    if not ok and ctx.resolve_hosts and host and not any(c in host for c in "/ "):
        try:
            socket.getaddrinfo(host, None)
            ok = True
        except (OSError, UnicodeError, ValueError):
            ok = False
    if not ok or not valid_port:
        ctx.report("general", f"Invalid smtp server {host} {port_str}")
        return
    ctx.cfg.global_defs.smtp_server = host
    ctx.cfg.global_defs.smtp_port = port or 25
    ctx.cfg.global_defs.lines["smtp_server"] = (line.file, line.line)


def _smtp_timeout(ctx: ParseContext, line: Line) -> None:
    value = ctx.num.unsigned(ctx.arg(line, 1), 0, 0xFFFFFFFF // TIMER_HZ)
    if value is None:
        ctx.report(
            "general",
            f"smtp_connect_timeout '{line.words[1]}' must be in [0, {0xFFFFFFFF // TIMER_HZ}]"
            " - ignoring",
        )
        return
    if value == 0:
        ctx.report("general", "smtp_conect_timeout must be greater than 0, setting to 1")
        value = 1
    ctx.cfg.global_defs.smtp_connect_timeout = value


def _script_user(ctx: ParseContext, line: Line) -> None:
    if len(line.words) < 2:
        ctx.report("general", "No script username specified")
        return
    user = line.words[1]
    group = line.words[2] if len(line.words) > 2 else None
    if lookup_user(user, group, lambda message: ctx.report("syslog", message)) is None:
        ctx.notes.script_user_failed = True
    if ctx.notes.script_user_failed:
        # keepalived never forgets a failure: a later valid script_user fails too
        ctx.report("general", "Error setting global script uid/gid")
        return
    ctx.cfg.global_defs.script_user = user
    ctx.cfg.global_defs.script_group = group


def _start_stop_script(name: str, kind: str) -> Handler:
    """``startup_script`` / ``shutdown_script`` (keepalived's parent runs them)."""

    def handler(ctx: ParseContext, line: Line) -> None:
        gd = ctx.cfg.global_defs
        if getattr(gd, name) is not None:
            ctx.report("general", f"{kind} script already specified")
            return
        if len(line.words) < 2:
            ctx.report("general", f"{kind} script missing")
            return
        script = notify_script(ctx, line, kind)
        if script is None:
            ctx.report("general", f"Invalid {kind} script")
            return
        setattr(gd, name, script)

    return handler


def _fifo_script(name: str, kind: str) -> Handler:
    """``notify_fifo_script``, ``vrrp_notify_fifo_script``, ``lvs_notify_fifo_script``."""
    prefix = name.removesuffix("notify_fifo_script")

    def handler(ctx: ParseContext, line: Line) -> None:
        gd = ctx.cfg.global_defs
        if len(line.words) < 2:
            ctx.report("general", f"No {prefix}notify_fifo_script specified")
            return
        if getattr(gd, name) is not None:
            ctx.report(
                "general",
                f"{prefix}notify_fifo_script already specified - ignoring {line.words[1]}",
            )
            return
        setattr(gd, name, notify_script(ctx, line, kind))

    return handler


def _script_security(ctx: ParseContext, line: Line) -> None:
    ctx.cfg.global_defs.enable_script_security = True


def _dynamic_interfaces(ctx: ParseContext, line: Line) -> None:
    ctx.cfg.global_defs.dynamic_interfaces = True
    ctx.cfg.global_defs.options[line.words[0]] = line.words[1:]


def _strict(ctx: ParseContext, line: Line) -> None:
    ctx.cfg.global_defs.vrrp_strict = True


def _version(ctx: ParseContext, line: Line) -> None:
    value, _ = ctx.num.integer(ctx.arg(line, 1), 2, 3)
    if value is None:
        ctx.report("general", "VRRP Error: Version must be either 2 or 3")
        return
    ctx.cfg.global_defs.vrrp_version = value


def _garp(name: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        gd = ctx.cfg.global_defs
        if name == "vrrp_garp_master_delay":
            value = ctx.num.unsigned(text, 0, 0xFFFFFFFF // TIMER_HZ)
            if value is None:
                ctx.report("general", f"vrrp_garp_master_delay '{text}' invalid - ignoring")
                return
            gd.vrrp_garp_master_delay = value
        elif name == "vrrp_garp_master_refresh":
            value = ctx.num.unsigned(text, 0, 0xFFFFFFFF)
            if value is None:
                ctx.report("general", f"Invalid vrrp_garp_master_refresh '{text}' - ignoring")
            gd.vrrp_garp_master_refresh = value or 0
        else:
            value = ctx.num.unsigned(text, 0, 0xFFFFFFFF)
            if value is None:
                ctx.report("general", f"{name} '{text}' invalid - ignoring")
                return
            if value == 0:
                ctx.report("general", f"{name} must be greater than 0, setting to 1")
                value = 1
            setattr(gd, name, value)

    return handler


# --- how the VRRP process runs (keepalived's global_parser.c get_priority & co.)


def _process_priority(ctx: ParseContext, line: Line) -> None:
    if len(line.words) < 2:
        ctx.report("general", "No vrrp process priority specified")
        return
    value, _ = ctx.num.integer(line.words[1], -20, 19)
    if value is None:
        ctx.report("general", "Invalid vrrp process priority specified")
        value = 0
    ctx.cfg.global_defs.vrrp_priority = value


def _rt_priority(ctx: ParseContext, line: Line) -> None:
    if len(line.words) < 2:
        ctx.report("general", "No vrrp process real-time priority specified")
        return
    value, _ = ctx.num.integer(line.words[1], -(2**31), 2**31 - 1)
    if value is None:
        ctx.report("general", f"vrrp process real-time priority '{line.words[1]}' invalid")
        return
    lo, hi = RT_PRIORITY_RANGE
    if value < lo:
        ctx.report(
            "general",
            f"vrrp process real-time priority {value} less than minimum {lo} - setting to minimum",
        )
        value = lo
    elif value > hi:
        ctx.report(
            "general",
            f"vrrp process real-time priority {value} greater than maximum {hi} - "
            "setting to maximum",
        )
        value = hi
    ctx.cfg.global_defs.vrrp_rt_priority = value


def _rlimit_rttime(ctx: ParseContext, line: Line) -> None:
    # vrrp_rlimit_rtime, deprecated, is the same (keepalived only logs so, not under -t)
    text = ctx.arg(line, 1)
    value = ctx.num.unsigned(text, 1, 0xFFFFFFFF)
    if value is None:
        ctx.report("general", f"Invalid vrrp real-time limit - {text}")
        value = 0  # keepalived keeps 0: no limit is set
    ctx.cfg.global_defs.vrrp_rlimit_rttime = max(value, 2) if value else 0


def _no_swap(ctx: ParseContext, line: Line) -> None:
    ctx.cfg.global_defs.vrrp_no_swap = True


def _cpu_affinity(ctx: ParseContext, line: Line) -> None:
    if len(line.words) < 2:
        ctx.report("general", "No vrrp cpu_id set specified")
        return
    cpus = []
    for text in line.words[1:]:
        value, guess = ctx.num.integer(text, 0, (os.cpu_count() or 1) - 1)
        if value is None:
            ctx.report("general", f"Invalid cpu_id:{guess} specified for vrrp process")
            ctx.cfg.global_defs.vrrp_cpu_affinity = ()
            return
        cpus.append(value)
    ctx.cfg.global_defs.vrrp_cpu_affinity = tuple(sorted(set(cpus)))


def _garp_interval(ctx: ParseContext, line: Line) -> None:
    """vrrp_garp_interval / vrrp_gna_interval: seconds, at least a microsecond."""
    name, text = line.words[0], ctx.arg(line, 1)
    if ctx.num.decimal(text, 1, 0xFFFFFFFF, ignore_error=True) is None:
        ctx.report("general", f"{name} '{text}' is invalid")
        return
    _option(ctx, line)


def _iptables(ctx: ParseContext, line: Line) -> None:
    """Debian's keepalived is built with nftables and no iptables: it takes vrrp_iptables
    as ``nftables`` and says so (and, without libipset, knows no vrrp_ipsets)."""
    ctx.report(
        "general",
        "iptables not supported, using nftables instead. Please replace 'vrrp_iptables"
        " and 'vrrp_ipsets' with 'nftables' config option",
    )
    ctx.cfg.global_defs.options.setdefault("nftables", ["keepalived"])


# IP_VS_IFNAME_MAXLEN: an interface name of the sync daemon is shorter
_LVS_IFNAME_MAX = 16
_LVS_SYNC_OPTIONS = ("id", "maxlen", "port", "ttl", "group")


def _lvs_sync_daemon(ctx: ParseContext, line: Line) -> None:
    """``lvs_sync_daemon IF [INSTANCE] [id N] ...``: its interface (and instance) is kept;
    a second one, or one after an instance's lvs_sync_daemon_interface, is refused."""
    gd = ctx.cfg.global_defs
    if gd.lvs_sync_interface is not None:
        ctx.report(
            "general",
            f"lvs_sync_daemon has already been specified as {gd.lvs_sync_interface}"
            f" {gd.lvs_sync_instance or ''} - ignoring",
        )
        return
    words = line.words
    if len(words) < 2:
        ctx.report("general", "lvs_sync_daemon requires interface")
        return
    if len(words[1]) >= _LVS_IFNAME_MAX:
        ctx.report("general", f"lvs_sync_daemon interface name '{words[1]}' too long - ignoring")
        return
    gd.lvs_sync_interface = words[1]
    if len(words) > 2 and words[2] not in _LVS_SYNC_OPTIONS:
        gd.lvs_sync_instance = words[2]
    _option(ctx, line)


def _table() -> dict[str, Kw]:
    table = {name: Kw(_option) for name in GLOBAL_KEYWORDS}
    for name in GLOBAL_BOOLS_QUOTED:
        table[name] = Kw(_flag(quoted=True))
    for name in GLOBAL_BOOLS:
        table[name] = Kw(_flag(quoted=False))
    table.update(
        router_id=Kw(_router_id),
        vrrp_mcast_group4=Kw(_mcast_group(4)),
        vrrp_mcast_group6=Kw(_mcast_group(6)),
        notification_email=Kw(_email),
        notification_email_from=Kw(_email_from),
        smtp_server=Kw(_smtp_server),
        smtp_connect_timeout=Kw(_smtp_timeout),
        script_user=Kw(_script_user),
        enable_script_security=Kw(_script_security),
        dynamic_interfaces=Kw(_dynamic_interfaces),
        vrrp_version=Kw(_version),
        vrrp_strict=Kw(_strict),
        vrrp_garp_interval=Kw(_garp_interval),
        vrrp_gna_interval=Kw(_garp_interval),
        vrrp_priority=Kw(_process_priority),
        vrrp_rt_priority=Kw(_rt_priority),
        vrrp_rlimit_rttime=Kw(_rlimit_rttime),
        vrrp_rlimit_rtime=Kw(_rlimit_rttime),
        vrrp_no_swap=Kw(_no_swap),
        vrrp_cpu_affinity=Kw(_cpu_affinity),
        vrrp_iptables=Kw(_iptables),
        lvs_sync_daemon=Kw(_lvs_sync_daemon),
    )
    for name, kind in GLOBAL_SCRIPTS.items():
        if name.endswith("notify_fifo_script"):
            table[name] = Kw(_fifo_script(name, kind))
        else:
            table[name] = Kw(_start_stop_script(name, kind))
    for name in (
        "vrrp_garp_master_delay",
        "vrrp_garp_master_repeat",
        "vrrp_garp_master_refresh",
        "vrrp_garp_master_refresh_repeat",
    ):
        table[name] = Kw(_garp(name))
    return table


TABLE: dict[str, Kw] = _table()

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
from .values import parse_ip, strtoul, true_false

__all__ = ["ROOT", "TABLE"]

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


# --- how keepalived's processes run (global_parser.c get_priority & co.): the VRRP
# process's settings have fields (the daemon applies them), the checker's and the BFD
# process's are kept as options


def _c_int(value: int) -> int:
    """C's ``(int)`` of what strtol returned (saturated to a long, then cut to 32 bits)."""
    value = max(-(2**63), min(value, 2**63 - 1)) & 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def _process_priority(process: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        if len(line.words) < 2:
            ctx.report("general", f"No {process} process priority specified")
            value = 0  # keepalived's get_priority() answers 0 when it refuses
        else:
            read, _ = ctx.num.integer(line.words[1], -20, 19)
            if read is None:
                ctx.report("general", f"Invalid {process} process priority specified")
            value = read or 0
        if process == "vrrp":
            ctx.cfg.global_defs.vrrp_priority = value
        else:
            ctx.cfg.global_defs.options[line.words[0]] = [str(value)]

    return handler


def _rt_priority(process: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        if len(line.words) < 2:
            ctx.report("general", f"No {process} process real-time priority specified")
            return
        value, _ = ctx.num.integer(line.words[1], -(2**31), 2**31 - 1)
        if value is None:
            ctx.report("general", f"{process} process real-time priority '{line.words[1]}' invalid")
            return
        lo, hi = RT_PRIORITY_RANGE
        if value < lo:
            ctx.report(
                "general",
                f"{process} process real-time priority {value} less than minimum {lo}"
                " - setting to minimum",
            )
            value = lo
        elif value > hi:
            ctx.report(
                "general",
                f"{process} process real-time priority {value} greater than maximum {hi}"
                " - setting to maximum",
            )
            value = hi
        if process == "vrrp":
            ctx.cfg.global_defs.vrrp_rt_priority = value
        else:
            ctx.cfg.global_defs.options[line.words[0]] = [str(value)]

    return handler


def _rlimit_rttime(process: str) -> Handler:
    # *_rlimit_rtime, deprecated, is the same (keepalived only logs so, not under -t)
    def handler(ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        value = ctx.num.uint(text, 1, 0xFFFFFFFF)
        if value is None:
            ctx.report("general", f"Invalid {process} real-time limit - {text}")
            value = 0  # keepalived keeps 0: no limit is set
        limit = max(value, 2) if value else 0
        if process == "vrrp":
            ctx.cfg.global_defs.vrrp_rlimit_rttime = limit
        else:
            ctx.cfg.global_defs.options[line.words[0]] = [str(limit)]

    return handler


def _no_swap(ctx: ParseContext, line: Line) -> None:
    ctx.cfg.global_defs.vrrp_no_swap = True


def _online_cpus() -> int:
    try:
        return os.sysconf("SC_NPROCESSORS_ONLN")
    except (ValueError, OSError):
        return os.cpu_count() or 1


def _cpu_affinity(process: str) -> Handler:
    def handler(ctx: ParseContext, line: Line) -> None:
        gd = ctx.cfg.global_defs
        if len(line.words) < 2:
            ctx.report("general", f"No {process} cpu_id set specified")
            return
        cpus: list[int] = []
        for text in line.words[1:]:
            value, guess = ctx.num.integer(text, 0, _online_cpus() - 1)
            if value is None:
                ctx.report(
                    "general", f"Invalid cpu_id:{_c_int(guess)} specified for {process} process"
                )
                cpus = []  # the set is emptied at the first error
                break
            cpus.append(value)
        kept = tuple(sorted(set(cpus)))
        if process == "vrrp":
            gd.vrrp_cpu_affinity = kept
        else:
            gd.options[line.words[0]] = [str(cpu) for cpu in kept]

    return handler


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


# --- numbers and words of the other global keywords, each checked as its handler in
# keepalived 2.2.7's global_parser.c checks it; a refused value is not kept (the default
# holds) unless keepalived keeps something


def _unsigned(lo: int, hi: int, refusal: str) -> Handler:
    """A keyword with one number (read_unsigned, lo to hi); `refusal` is said, with the
    word, when the number is refused."""

    def handler(ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        if ctx.num.uint(text, lo, hi) is None:
            ctx.report("general", refusal.format(text))
            return
        _option(ctx, line)

    return handler


def _script_timeout(kind: str) -> Handler:
    """``startup_script_timeout`` / ``shutdown_script_timeout``: 1 to 1000 seconds."""

    def handler(ctx: ParseContext, line: Line) -> None:
        if len(line.words) < 2:
            ctx.report("general", f"{kind}_script_timeout requires value")
            return
        if ctx.num.uint(line.words[1], 1, 1000) is None:
            ctx.report(
                "general",
                f"{kind}_script_timeout '{line.words[1]}' must be in [1, 1000] - ignoring",
            )
            return
        _option(ctx, line)

    return handler


def _max_auto_priority(ctx: ParseContext, line: Line) -> None:
    highest = RT_PRIORITY_RANGE[1]
    if len(line.words) < 2:  # the highest real-time priority
        _option(ctx, line)
        return
    value, _ = ctx.num.integer(line.words[1], -1, highest)
    if value is None:
        ctx.report(
            "general",
            f"max_auto_priority '{line.words[1]}' must be in [0, {highest}]"
            " (or -1 to disable) - ignoring",
        )
        return
    _option(ctx, line)


def _min_auto_priority_delay(ctx: ParseContext, line: Line) -> None:
    if len(line.words) < 2:
        ctx.report("general", "min_auto_priority_delay requires delay time")
        return
    value, _ = ctx.num.integer(line.words[1], 1, 10_000_000)
    if value is None:
        ctx.report(
            "general",
            f"min_auto_priority_delay '{line.words[1]}' must be in [1, 10000000] - ignoring",
        )
        return
    _option(ctx, line)


# LVS_MAX_TIMEOUT: 86400 * 31 seconds
_LVS_MAX_TIMEOUT = 86400 * 31


def _lvs_timeouts(ctx: ParseContext, line: Line) -> None:
    """``lvs_timeouts [tcp N] [tcpfin N] [udp N]``: each value 0 to 31 days in seconds."""
    words = line.words
    if len(words) < 3:
        ctx.report("general", "lvs_timeouts requires at least one option")
        return
    kept: list[str] = []
    i = 1
    while i < len(words):
        option = words[i]
        if option not in ("tcp", "tcpfin", "udp"):
            ctx.report("general", f"Unknown option {option} specified for lvs_timeouts")
            i += 1
            continue
        if i == len(words) - 1:
            ctx.report("general", f"No value specified for lvs_timeout {option} - ignoring")
            break
        if ctx.num_each.uint(words[i + 1], 0, _LVS_MAX_TIMEOUT) is None:
            ctx.report(
                "general", f"Invalid lvs_timeout {option} ({words[i + 1]}) - ignoring", once=False
            )
        else:
            kept += [option, words[i + 1]]
        i += 2
    if kept:
        ctx.cfg.global_defs.options[words[0]] = kept


def _lvs_flush_on_stop(ctx: ParseContext, line: Line) -> None:
    """``lvs_flush_on_stop [VS]`` (and the deprecated ``lvs_flush_onstop``)."""
    if len(line.words) > 1 and line.words[1] != "VS":
        ctx.report("general", f"Unknown lvs_flush_on_stop type {line.words[1]}")
        return
    ctx.cfg.global_defs.options["lvs_flush_on_stop"] = line.words[1:2] or ["full"]


def _garp_extra_if(ctx: ParseContext, line: Line) -> None:
    """``vrrp_garp_extra_if [all] SECONDS`` (1 to 86400; ``vrrp_vmac_garp_intvl`` is its
    deprecated name, said so)."""
    name = line.words[0]
    if name == "vrrp_vmac_garp_intvl":
        ctx.report(
            "deprecated",
            'Keyword "vrrp_vmac_garp_intvl" is deprecated - please use "vrrp_garp_extra_if"',
        )
    delay = 0
    every = False
    for text in line.words[1:]:
        if text == "all":
            every = True
            continue
        value = ctx.num.uint(text, 1, 86400)
        if value is None:
            ctx.report("general", f"{name} '{text}' invalid - ignoring")
            return
        delay = value
    if not delay:
        ctx.report("general", f"{name} specified without time - ignoring")
        return
    ctx.cfg.global_defs.options["vrrp_garp_extra_if"] = [*(["all"] if every else []), str(delay)]


def _nftables_priority(refusal: str) -> Handler:
    """``nftables_priority`` / ``nftables_ipvs_priority``: any 32-bit integer."""

    def handler(ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        value, _ = ctx.num.integer(text, -(2**31), 2**31 - 1)
        if value is None:
            ctx.report("invalid_number", refusal.format(text))
            return
        _option(ctx, line)

    return handler


def _nftables_start_fwmark(ctx: ParseContext, line: Line) -> None:
    text = ctx.arg(line, 1)
    if ctx.num.uint(text, 1, 0xFFFFFFFF) is None:
        ctx.report("invalid_number", f"invalid ipvs nftables start_fwmark priority '{text}'")
        return
    _option(ctx, line)


def _rcv_bufs(ctx: ParseContext, line: Line) -> None:
    """``vrrp_netlink_cmd_rcv_bufs N`` and the other netlink receive buffers: 0 (the
    default kept) to 4294967295."""
    name = line.words[0]
    if len(line.words) < 2:
        ctx.report("general", f"{name} size missing")
        return
    value = ctx.num.uint(line.words[1], 0, 0xFFFFFFFF)
    if value is None:
        ctx.report("general", f"{name} size ({line.words[1]}) invalid")
        return
    if value:
        _option(ctx, line)


def _rx_bufs_policy(ctx: ParseContext, line: Line) -> None:
    """``vrrp_rx_bufs_policy MTU|ADVERT|SIZE...``: keepalived reads the number from the
    first word whatever word is not a policy (and names that word when it fails)."""
    words = line.words
    if len(words) < 2:
        ctx.report("general", "vrrp_rx_bufs_policy missing")
        return
    policies = set(ctx.cfg.global_defs.options.get("vrrp_rx_bufs_policy", []))
    for text in words[1:]:
        if text.upper() in ("MTU", "ADVERT"):
            policies.add(text.upper())
        elif ctx.num_each.uint(words[1], 0, 0xFFFFFFFF) is None:
            ctx.report("general", f"Invalid vrrp_rx_bufs_policy {text}", once=False)
        else:
            policies = {p for p in policies if p in ("MTU", "ADVERT")} | {words[1]}
    sized = any(p not in ("MTU", "ADVERT") for p in policies)
    if sized and policies & {"MTU", "ADVERT"}:
        ctx.report("general", "Cannot set vrrp_rx_bufs_policy size and policy, ignoring policy")
        policies -= {"MTU", "ADVERT"}
    elif {"MTU", "ADVERT"} <= policies:
        ctx.report("general", "Cannot set both vrrp_rx_bufs_policy MTU and ADVERT, ignoring ADVERT")
        policies.discard("ADVERT")
    if policies:
        ctx.cfg.global_defs.options["vrrp_rx_bufs_policy"] = sorted(policies)


def _rx_bufs_multiplier(ctx: ParseContext, line: Line) -> None:
    if len(line.words) != 2:
        ctx.report("general", "Invalid vrrp_rx_bufs_multiplier")
        return
    if ctx.num.uint(line.words[1], 1, 0xFFFFFFFF) is None:
        ctx.report("general", f"Invalid vrrp_rx_bufs_multiplier {line.words[1]}")
        return
    _option(ctx, line)


def _startup_delay(ctx: ParseContext, line: Line) -> None:
    """``vrrp_startup_delay SECONDS``: a millisecond at least, read to the microsecond."""
    text = ctx.arg(line, 1)
    if ctx.num.decimal(text, TIMER_HZ // 1000, 0xFFFFFFFF, ignore_error=True) is None:
        ctx.report("general", f"vrrp_startup_delay '{text}' is invalid")
        return
    _option(ctx, line)


# the permission bits umask takes by name (S_IRUSR...)
_UMASK_BITS = {
    "IRUSR": 0o400,
    "IWUSR": 0o200,
    "IXUSR": 0o100,
    "IRGRP": 0o040,
    "IWGRP": 0o020,
    "IXGRP": 0o010,
    "IROTH": 0o004,
    "IWOTH": 0o002,
    "IXOTH": 0o001,
}


def _umask(ctx: ParseContext, line: Line) -> None:
    """``umask 022`` (C's strtol, base 0: octal with a leading 0) or ``umask IWGRP|IWOTH``
    (names joined by ``|``, in one word or several)."""
    words = line.words
    mask = ctx.arg(line, 1)
    if mask[:1].isascii() and mask[:1].isdigit():
        if len(words) != 2:
            ctx.report("general", "Extra parameter(s) to umask option")
            return
        value, end, overflow = strtoul(mask, 0)
        # strtol: the sign never applies here (the word starts with a digit)
        if end < len(mask) or overflow or value > 2**63 - 1 or value & ~0o777:
            ctx.report("general", f"invalid umask value {mask}")
            return
        ctx.cfg.global_defs.options["umask"] = [oct(value)]
        return
    bits = 0
    need_or = False
    for word in words[1:]:
        at = 0
        while at < len(word):
            if need_or:
                if word[at] == "|":
                    need_or = False
                    at += 1
                    continue
                ctx.report("general", f"Invalid umask syntax {word}")
                return
            bit = _UMASK_BITS.get(word[at : at + 5])
            if bit is None:
                ctx.report("general", f"Unknown umask bit {word[at:]}")
                return
            bits |= bit
            at += 5
            need_or = True
    if not need_or:
        ctx.report("general", "umask missing bit value")
        return
    ctx.cfg.global_defs.options["umask"] = [oct(bits)]


def _data_use_instance(ctx: ParseContext, line: Line) -> None:
    """A flag whose refusal keepalived words with a typo of its own (``date_``)."""
    value: bool | None = True
    if len(line.words) >= 2:
        value = true_false(line.words[1])
        if value is None:
            ctx.report(
                "general",
                f"Invalid value '{line.words[1]}' for global date_use_instance specified",
            )
            return
    ctx.cfg.global_defs.options[line.words[0]] = ["true" if value else "false"]


# --- top-level keywords of keepalived's global_parser.c (unknown inside global_defs)


def _named_once(name: str) -> Handler:
    """``net_namespace NAME`` / ``instance NAME``: a name, given once. keepalived reads
    them with global_defs (its messages name no file for the main one)."""

    def handler(ctx: ParseContext, line: Line) -> None:
        options = ctx.cfg.global_defs.options
        outer, ctx.in_global_defs = ctx.in_global_defs, True
        try:
            if len(line.words) < 2:
                ctx.report("general", f"{name} name missing - ignoring")
            elif name not in options:
                options[name] = line.words[1:2]
            else:
                # given a namespace, keepalived -t checks global_defs alone and exits 0
                # whatever it said: its second one is said, not counted
                kind = "log" if name == "net_namespace" else "general"
                ctx.report(kind, f"Duplicate {name} definition {line.words[1]} - ignoring")
        finally:
            ctx.in_global_defs = outer

    return handler


ROOT: dict[str, Kw] = {
    "net_namespace": Kw(_named_once("net_namespace")),
    "instance": Kw(_named_once("instance")),
}


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
        vrrp_no_swap=Kw(_no_swap),
        startup_script_timeout=Kw(_script_timeout("startup")),
        shutdown_script_timeout=Kw(_script_timeout("shutdown")),
        max_auto_priority=Kw(_max_auto_priority),
        min_auto_priority_delay=Kw(_min_auto_priority_delay),
        lvs_timeouts=Kw(_lvs_timeouts),
        lvs_flush_on_stop=Kw(_lvs_flush_on_stop),
        lvs_flush_onstop=Kw(_lvs_flush_on_stop),
        vrrp_garp_lower_prio_delay=Kw(
            _unsigned(
                0, 0xFFFFFFFF // TIMER_HZ, "vrrp_garp_lower_prio_delay '{}' invalid - ignoring"
            )
        ),
        vrrp_garp_lower_prio_repeat=Kw(
            _unsigned(0, 2**31 - 1, "Invalid vrrp_garp_lower_prio_repeat '{}'")
        ),
        vrrp_down_timer_adverts=Kw(
            _unsigned(1, 100, "Invalid vrrp_down_timer_adverts [1:100] '{}'")
        ),
        vrrp_garp_extra_if=Kw(_garp_extra_if),
        vrrp_vmac_garp_intvl=Kw(_garp_extra_if),
        nftables_priority=Kw(_nftables_priority("invalid nftables chain priority '{}'")),
        nftables_ipvs_priority=Kw(_nftables_priority("invalid ipvs nftables chain priority '{}'")),
        nftables_ipvs_start_fwmark=Kw(_nftables_start_fwmark),
        vrrp_rx_bufs_policy=Kw(_rx_bufs_policy),
        vrrp_rx_bufs_multiplier=Kw(_rx_bufs_multiplier),
        vrrp_startup_delay=Kw(_startup_delay),
        umask=Kw(_umask),
        random_seed=Kw(_unsigned(0, 0xFFFFFFFF, "random_seed {} invalid")),
        data_use_instance=Kw(_data_use_instance),
        vrrp_iptables=Kw(_iptables),
        lvs_sync_daemon=Kw(_lvs_sync_daemon),
    )
    for name in (
        "vrrp_netlink_cmd_rcv_bufs",
        "vrrp_netlink_monitor_rcv_bufs",
        "process_monitor_rcv_bufs",
        "lvs_netlink_cmd_rcv_bufs",
        "lvs_netlink_monitor_rcv_bufs",
    ):
        table[name] = Kw(_rcv_bufs)
    for process in ("vrrp", "checker", "bfd"):
        table[f"{process}_priority"] = Kw(_process_priority(process))
        table[f"{process}_rt_priority"] = Kw(_rt_priority(process))
        table[f"{process}_rlimit_rttime"] = Kw(_rlimit_rttime(process))
        table[f"{process}_rlimit_rtime"] = Kw(_rlimit_rttime(process))
        table[f"{process}_cpu_affinity"] = Kw(_cpu_affinity(process))
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

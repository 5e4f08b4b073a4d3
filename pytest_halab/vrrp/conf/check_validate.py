"""keepalived 2.2.7's checks of its virtual servers after parsing (check_data.c
validate_check_config and check_check_script_security), made by its checker process.

keepalived prints these messages without a line; here each carries the line of the
virtual server (or of the script) it concerns, as the daemon's other line-less messages
do. keepalived changes what it reports on (a default scheduler, forwarding method, port),
and so does this pass, so that later messages name what keepalived names."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from .diagnostics import Diagnostics
from .model import ConfigItem, KeepalivedConfig, RealServer, VirtualServer
from .scripts import SC_INSECURE, SC_ISSCRIPT, check_script, script_ids

__all__ = ["validate_virtual_servers"]

IPVS_DEF_SCHED = "wlc"
IPVS_SVC_PERSISTENT_TIMEOUT = 6 * 60


def format_vs(vs: VirtualServer) -> str:
    """keepalived's FMT_VS: ``[GROUP]:0``, ``FWM N`` or ``[ADDRESS]:PROTOCOL:PORT``."""
    if vs.group is not None:
        return f"[{vs.group}]:0"
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark}"
    return f"[{vs.ip}]:{vs.protocol or 'none'}:{vs.port_num}"


def format_rs(rs: RealServer, vs: VirtualServer) -> str:
    return f"[{rs.ip}]:{vs.protocol or 'none'}:{rs.port_num}"


def validate_virtual_servers(
    cfg: KeepalivedConfig, diags: Diagnostics, *, check_scripts: bool
) -> None:
    """Report what keepalived's checker reports of `cfg`'s virtual servers, completing
    them with its defaults; with `check_scripts`, check their scripts on this host."""
    kept: list[VirtualServer] = []
    groups = {g.args[0]: g for g in cfg.virtual_server_groups if g.args}
    for vs in cfg.virtual_servers:
        group = None
        if vs.group is not None:
            group = groups.get(vs.group)
            if group is None:  # keepalived's link_vsg_to_vs, before the checks: logged only
                diags.add(
                    vs.file,
                    vs.line,
                    "syslog",
                    f"Virtual server group {vs.group} specified but not configured"
                    f" - ignoring virtual server {format_vs(vs)}",
                    located=False,
                )
                continue
        if _validate(vs, diags, group):
            kept.append(vs)
    cfg.virtual_servers = kept
    if check_scripts and kept:
        _script_security(cfg, diags)


def _validate(vs: VirtualServer, diags: Diagnostics, group: ConfigItem | None = None) -> bool:
    def say(message: str) -> None:
        diags.add(vs.file, vs.line, "general", message, located=False)

    if not vs.real_servers:
        say(f"Virtual server {format_vs(vs)} has no real servers - ignoring")
        return False
    uses_fwmark = vs.fwmark is not None
    if vs.ha_suspend and uses_fwmark:
        say(
            f"Virtual server {format_vs(vs)}: cannot use ha_suspend with fwmarks"
            " - clearing ha_suspend"
        )
        vs.ha_suspend = False
    if vs.group is None and not uses_fwmark:
        if vs.protocol is None:
            say(f"Virtual server {format_vs(vs)}: no protocol set - defaulting to UDP")
            vs.protocol = "udp"
        if vs.one_packet and vs.protocol != "udp":
            say(f"Virtual server {format_vs(vs)}: one packet scheduling requires UDP - resetting")
            vs.one_packet = False
        if not vs.persistence_timeout and not vs.port_num:
            say(
                f"Virtual server {format_vs(vs)}: zero port only valid for persistent services"
                " - setting"
            )
            vs.persistence_timeout = IPVS_SVC_PERSISTENT_TIMEOUT
    if vs.protocol is not None and uses_fwmark:
        say(
            f"Warning: Virtual server {format_vs(vs)}: protocol specified for fwmark"
            " - protocol will be ignored"
        )
        vs.protocol = None
    if vs.sched is None:
        say(f"Virtual server {format_vs(vs)}: no scheduler set, setting default '{IPVS_DEF_SCHED}'")
        vs.sched = IPVS_DEF_SCHED
    weight_sum = 0
    for rs in vs.real_servers:
        if rs.forwarding is None:
            if vs.forwarding is None:
                say(
                    f"Virtual server {format_vs(vs)}: no forwarding method set, setting default NAT"
                )
                vs.forwarding = "NAT"
            rs.forwarding = vs.forwarding
        if rs.weight is None:
            rs.weight = vs.weight
        weight_sum += rs.weight
    sorry = vs.sorry_server
    if sorry is not None and sorry.forwarding is None:
        if vs.forwarding is None:
            say(f"Virtual server {format_vs(vs)}: no forwarding method set, setting default NAT")
            vs.forwarding = "NAT"
        sorry.forwarding = vs.forwarding
    if vs.quorum > weight_sum:
        say(
            f"Warning - quorum {vs.quorum} for {format_vs(vs)} exceeds total weight of real"
            f" servers {weight_sum}, reducing quorum to {weight_sum}"
        )
        vs.quorum = weight_sum
    if vs.hysteresis >= vs.quorum:
        new = (vs.quorum - 1) % 2**32  # keepalived's unsigned arithmetic
        say(
            f"Virtual server {format_vs(vs)}: hysteresis {vs.hysteresis} >= quorum"
            f" {vs.quorum}; setting hysteresis to {new}"
        )
        vs.hysteresis = new
    if group is None:
        _ports(vs, say)
    else:
        # said for each entry of the group, the same words each time
        _group_ports(
            vs,
            group,
            lambda m: diags.add(vs.file, vs.line, "general", m, located=False, once=False),
        )
    return True


def _group_entry(item: ConfigItem) -> tuple[str, int] | None:
    """An address entry of a virtual_server_group as keepalived's format_vsge shows it
    (``A,PORT`` or ``A-B,PORT``), and its port; None for a fwmark or an unreadable one."""
    if item.keyword == "fwmark":
        return None
    port = int(item.args[0]) if item.args and item.args[0].isdigit() else 0
    text = item.keyword
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            start, end = net.network_address, net.broadcast_address
        elif "-" in text:
            first, _, last = text.partition("-")
            start = ipaddress.ip_address(first)
            if "." in last or ":" in last:
                end = ipaddress.ip_address(last)
            elif start.version == 4:
                end = ipaddress.IPv4Address(int(start) & ~0xFF | int(last))
            else:
                end = ipaddress.IPv6Address(int(start) & ~0xFFFF | int(last, 16))
        else:
            start = end = ipaddress.ip_address(text)
    except ValueError:
        return None
    shown = f"{start},{port}" if start == end else f"{start}-{end},{port}"
    return shown, port


def _group_ports(vs: VirtualServer, group: ConfigItem, say: Callable[[str], None]) -> None:
    """keepalived's checks of a group's ports (validate_check_config): unless NAT, a real
    or sorry server's port is ignored when the group has a fwmark, and must be that of
    each of its address entries; said, nothing changed."""
    entries = [e for e in (_group_entry(item) for item in group.children) if e is not None]
    servers = [rs for rs in vs.real_servers if rs.forwarding != "NAT"]
    sorry = vs.sorry_server
    sorry_port = sorry.port_num if sorry is not None and sorry.forwarding != "NAT" else 0
    if any(item.keyword == "fwmark" for item in group.children):
        for rs in servers:
            if rs.port_num:
                say(
                    f"WARNING - fwmark virtual server {format_vs(vs)}, real server"
                    f" {format_rs(rs, vs)} has port specified - port will be ignored"
                )
        if sorry_port:
            say(
                f"WARNING - fwmark virtual server {format_vs(vs)}, sorry server has port"
                " specified - port will be ignored"
            )
    for shown, port in entries:
        for rs in servers:
            if rs.port_num and rs.port_num != port:
                say(
                    f"virtual server {format_vs(vs)}:[{shown}] and real server"
                    f" {format_rs(rs, vs)} ports don't match"
                )
        if sorry_port and sorry_port != port:
            say(
                f"WARNING - virtual server {format_vs(vs)}, sorry server has port specified"
                " - port will be ignored"
            )


def _ports(vs: VirtualServer, say: Callable[[str], None]) -> None:
    """Unless NAT, a real server listens on its virtual server's port (none with a
    fwmark): keepalived corrects the port and says so."""
    for rs in vs.real_servers:
        if rs.forwarding == "NAT":
            if vs.fwmark is None and not rs.port_num:
                rs.port_num = vs.port_num
            continue
        if vs.fwmark is not None:
            if rs.port_num:
                say(
                    f"WARNING - fwmark virtual server {format_vs(vs)}, real server"
                    f" {format_rs(rs, vs)} has port specified - clearing"
                )
                rs.port_num = 0
        elif not rs.port_num:
            rs.port_num = vs.port_num
        elif rs.port_num != vs.port_num:
            say(
                f"WARNING - virtual server {format_vs(vs)} and real server"
                f" {format_rs(rs, vs)} ports don't match - resetting"
            )
            rs.port_num = vs.port_num
    sorry = vs.sorry_server
    if sorry is None or sorry.forwarding == "NAT":
        return
    if vs.fwmark is not None:
        if sorry.port_num:
            say(
                f"WARNING - virtual server {format_vs(vs)}, sorry server has port specified"
                " - clearing"
            )
            sorry.port_num = 0
    elif not sorry.port_num:
        sorry.port_num = vs.port_num
    elif sorry.port_num != vs.port_num:
        say(
            f"WARNING - virtual server {format_vs(vs)} and sorry server ports don't match"
            " - resetting"
        )
        sorry.port_num = vs.port_num


def _script_security(cfg: KeepalivedConfig, diags: Diagnostics) -> None:
    """keepalived's check_check_script_security(): the MISC_CHECK scripts, then the
    quorum and real servers' notify scripts, each as the user it runs as; scripts being
    run without enable_script_security are a SECURITY VIOLATION (exit status 6)."""
    gd = cfg.global_defs
    security = gd.enable_script_security
    flags = 0
    first: tuple[str, int] | None = None
    scripts: list[tuple[list[str], str | None, str | None, str, int]] = []
    for vs in cfg.virtual_servers:
        for rs in vs.real_servers:
            scripts += [(m.argv, m.user, m.group, m.file, m.line) for m in rs.misc_scripts]
    for vs in cfg.virtual_servers:
        scripts += [(n.argv, n.user, n.group, n.file, n.line) for n in vs.notify_scripts]
        for rs in vs.real_servers:
            scripts += [(n.argv, n.user, n.group, n.file, n.line) for n in rs.notify_scripts]
    for name in ("notify_fifo_script", "lvs_notify_fifo_script"):
        script = getattr(gd, name)
        if script is not None:
            scripts.append((script.argv, script.user, script.group, script.file, script.line))
    for argv, user, group, file, line in scripts:
        if user is not None:
            ids = script_ids(user, group)
        else:
            ids = script_ids(gd.script_user, gd.script_group)
        if ids is None:
            continue

        def log(message: str, file: str = file, line: int = line) -> None:
            diags.add(file, line, "syslog", message, located=False)

        flags |= check_script(argv, ids[0], log, gid=ids[1], security=security)
        first = first or (file, line)
    if first is not None and not security and flags & SC_ISSCRIPT:
        suffix = " There are insecure scripts." if flags & SC_INSECURE else ""
        diags.add(
            first[0],
            first[1],
            "security",
            "SECURITY VIOLATION - check scripts are being executed but script_security not"
            " enabled." + suffix,
            located=False,
        )

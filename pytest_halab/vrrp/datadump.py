"""keepalived's data dump, answered by halab-vrrpd: ``/tmp/keepalived.data`` on SIGUSR1.

``kill -USR1 $(cat /run/keepalived.pid)`` (or ``keepalived --signum=DATA``), then reading
``/tmp/keepalived.data``, is how keepalived's users look at a running VRRP process: each
instance's state, the master a backup follows and its priority, the effective priority
after tracking, the VIPs and whether they are set. halab-vrrpd writes the same file in the
layout keepalived 2.2.7 writes (``dump_vrrp`` and its neighbours in vrrp_data.c): the
section headings, the indentation and the ``Name = value`` wording, so that a user's
``grep 'State = ' /tmp/keepalived.data`` or a script that reads it gets the same answer.

It writes the lines for what halab-vrrpd models, with the values it runs with; lines about
what it does not model (VMAC, SNMP, DBus, the netlink buffer sizes, file descriptors) are
left out rather than invented.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from pytest_halab.vrrp.state import State

if TYPE_CHECKING:
    from pytest_halab.vrrp.conf import KeepalivedConfig
    from pytest_halab.vrrp.conf.model import VrrpScript
    from pytest_halab.vrrp.instance import Instance
    from pytest_halab.vrrp.track import ScriptTracker

DATA_PATH = "/tmp/keepalived.data"  # keepalived's KA_TMP_DIR "/keepalived.data"
_AUTH = {1: "SIMPLE_PASSWORD", 2: "IPSEC_AH"}


class Dumped(Protocol):
    """What the dump reads of the daemon."""

    @property
    def config(self) -> KeepalivedConfig: ...

    @property
    def instances(self) -> Mapping[str, Instance]: ...

    @property
    def scripts(self) -> Mapping[str, ScriptTracker]: ...


def _stamp(wall: float) -> str:
    """``1796399117.847208 (Fri Dec  4 15:45:17.847208 2026)``, as keepalived prints a
    time (ctime's 24 characters with the microseconds after the seconds)."""
    seconds = int(wall)
    micros = round((wall - seconds) * 1e6)
    if micros == 1_000_000:
        seconds, micros = seconds + 1, 0
    text = time.ctime(seconds)  # "Fri Dec  4 15:45:17 2026"
    return f"{seconds}.{micros:06d} ({text[:19]}.{micros:06d}{text[19:]})"


def _flag(value: bool, yes: str = "true", no: str = "false") -> str:
    return yes if value else no


def global_lines(cfg: KeepalivedConfig) -> list[str]:
    g = cfg.global_defs
    out = ["------< Global definitions >------"]
    out.append(f" Router ID = {g.router_id or '(unset)'}")
    if g.smtp_server:
        out.append(f" Smtp server = {g.smtp_server}")
        out.append(f" Smtp server port = {g.smtp_port}")
        out.append(f" Smtp server connection timeout = {g.smtp_connect_timeout}")
    if g.notification_email_from:
        out.append(f" Email notification from = {g.notification_email_from}")
    for address in g.notification_email:
        out.append(f" Email notification = {address}")
    out.append(f" Dynamic interfaces = {_flag(g.dynamic_interfaces)}")
    out.append(f" Gratuitous ARP delay = {g.vrrp_garp_master_delay}")
    out.append(f" Gratuitous ARP repeat = {g.vrrp_garp_master_repeat}")
    out.append(f" Gratuitous ARP refresh timer = {g.vrrp_garp_master_refresh}")
    out.append(f" Gratuitous ARP refresh repeat = {g.vrrp_garp_master_refresh_repeat}")
    out.append(f" VRRP default protocol version = {g.vrrp_version}")
    out.append(f" VRRP strict mode = {_flag(g.vrrp_strict)}")
    out.append(f" VRRP process priority = {g.vrrp_priority}")
    out.append(f" VRRP don't swap = {_flag(g.vrrp_no_swap)}")
    out.append(f" VRRP realtime priority = {g.vrrp_rt_priority}")
    out.append(f" VRRP realtime limit = {g.vrrp_rlimit_rttime}")
    out.append(f" Script security {_flag(g.enable_script_security, 'enabled', 'disabled')}")
    return out


def instance_lines(
    inst: Instance, now_wall: float, now_loop: float, scripts: Mapping[str, VrrpScript]
) -> list[str]:
    """One ``vrrp_instance`` as keepalived's ``dump_vrrp`` lays it out (``scripts``: the
    config's vrrp_scripts, whose weight a ``track_script`` line without one takes)."""
    m, cfg, p = inst.machine, inst.cfg, inst.machine.params
    out = [f" VRRP Instance = {inst.name}", f"   VRRP Version = {p.version}"]
    if inst.group:
        out.append(f"   Sync group = {inst.group}")
    if inst.family == 6:
        out.append("   Using Native IPv6")
    out.append(f"   State = {m.state.value}")
    if m.state is State.BACKUP:
        master = m.master
        out.append(f"   Master router = {master[0] if master else '0.0.0.0'}")
        out.append(f"   Master priority = {master[1] if master else 0}")
        if p.version == 3:
            out.append(f"   Master advert int = {m.master_advert_interval:.2f} sec")
    out.append("   Flags: none")
    out.append(f"   Wantstate = {m.state.value}")
    faults = len(inst.fault_reasons)
    out.append(f"   Number of interface and track script faults = {faults}")
    out.append(f"   Last transition = {_stamp(inst.last_transition or now_wall)}")
    deadline = m.next_deadline
    if deadline is None:
        out.append("   Read timeout = DISABLED")
    else:
        out.append(f"   Read timeout = {_stamp(now_wall + max(0.0, deadline - now_loop))}")
    out.append(f"   Master down timer = {round(m.master_down_interval * 1e6)} usecs")
    out.append(f"   Interface = {cfg.interface or 'not configured'}")
    if cfg.dont_track_primary:
        out.append("   VRRP interface tracking disabled")
    configured = cfg.unicast_src_ip or cfg.mcast_src_ip
    out.append(f"   Using src_ip = {inst.src}{' (from configuration)' if configured else ''}")
    if not cfg.unicast_peers:
        out.append(f"   Multicast address {inst.destinations[0] if inst.destinations else ''}")
    out.append(f"   Gratuitous ARP delay = {int(p.garp_master_delay)}")
    out.append(f"   Gratuitous ARP repeat = {p.garp_master_repeat}")
    out.append(f"   Gratuitous ARP refresh = {int(p.garp_master_refresh)}")
    out.append(f"   Gratuitous ARP refresh repeat = {p.garp_master_refresh_repeat}")
    out.append(f"   Gratuitous ARP lower priority delay = {int(m.lower_prio_delay)}")
    out.append(f"   Gratuitous ARP lower priority repeat = {m.lower_prio_repeat}")
    out.append(f"   Down timer adverts = {p.down_timer_adverts}")
    out.append(
        "   Send advert after receive lower priority advert = " + _flag(not p.lower_prio_no_advert)
    )
    out.append(
        "   Send advert after receive higher priority advert = " + _flag(p.higher_prio_send_advert)
    )
    out.append(f"   Virtual Router ID = {p.vrid}")
    out.append(f"   Priority = {p.priority}")
    out.append(f"   Effective priority = {m.effective_priority}")
    out.append(f"   Total priority = {m.effective_priority}")
    if p.version == 2:
        out.append(f"   Advert interval = {round(m.advert_interval)} sec")
    else:
        out.append(f"   Advert interval = {round(m.advert_interval * 1000)} milli-sec")
        if m.state is State.BACKUP:
            interval = round(m.master_advert_interval * 1000)
            out.append(f"   Master advert interval = {interval} milli-sec")
    accept = cfg.accept if cfg.accept is not None else True
    out.append(f"   Accept = {_flag(accept, 'enabled', 'disabled')}")
    out.append(f"   Preempt = {_flag(not m.nopreempt, 'enabled', 'disabled')}")
    if m.preempt_delay:
        out.append(f"   Preempt delay = {m.preempt_delay:g} secs")
    promote = "promote_secondaries" in cfg.options
    out.append(f"   Promote_secondaries = {_flag(promote, 'enabled', 'disabled')}")
    if inst.auth_type:
        out.append(f"   Authentication type = {_AUTH.get(inst.auth_type, inst.auth_type)}")
        if inst.auth_type == 1:
            out.append(f"   Password = {inst.auth_data.rstrip(bytes(1)).decode(errors='replace')}")
    elif p.version == 2:
        out.append("   Authentication type = none")
    if inst.vips:
        out.append(f"   Virtual IP ({len(inst.vips)}):")
        for vip in inst.vips:
            scope = vip.scope if vip.scope is not None else "global"
            is_set = " set" if vip.key in inst.installed else ""
            out.append(f"     {vip.address} dev {vip.dev} scope {scope}{is_set}")
    if cfg.unicast_peers:
        out.append("   Unicast Peer :")
        out.extend(f"     {peer}" for peer in cfg.unicast_peers)
    if cfg.track_interfaces:
        out.append("   Tracked interfaces :")
        for t in cfg.track_interfaces:
            out.append(f"     {t.name} weight {t.weight}")
    if cfg.track_scripts:
        out.append("   Tracked scripts :")
        for s in cfg.track_scripts:
            own = scripts.get(s.name)
            weight = s.weight if s.weight is not None else own.weight if own is not None else 0
            out.append(f"     {s.name} weight {weight}")
    smtp = bool(cfg.smtp_alert)
    out.append(f"   Using smtp notification = {_flag(smtp, 'yes', 'no')}")
    return out


def script_lines(trackers: Iterable[ScriptTracker], cfg: KeepalivedConfig) -> list[str]:
    out: list[str] = []
    for tracker in trackers:
        conf = cfg.scripts.get(tracker.name)
        out.append(f" VRRP Script = {tracker.name}")
        command = " ".join(f"'{w}'" for w in tracker.argv)
        out.append(f"   Command = {command}")
        out.append(f"   Interval = {tracker.interval:g} sec")
        out.append(f"   Timeout = {conf.timeout if conf is not None else 0} sec")
        out.append(f"   Weight = {conf.weight if conf is not None else 0}")
        out.append(f"   Rise = {tracker.rise}")
        out.append(f"   Fall = {tracker.fall}")
        out.append(f"   Status = {_flag(tracker.ok, 'GOOD', 'BAD')}")
    return out


def render(daemon: Dumped, *, now_wall: float | None = None, now_loop: float | None = None) -> str:
    """The whole dump. ``now_loop`` is the daemon loop's clock (deadlines are on it)."""
    wall = time.time() if now_wall is None else now_wall
    loop_now = time.monotonic() if now_loop is None else now_loop
    lines = global_lines(daemon.config)
    lines.append("------< VRRP Topology >------")
    for inst in daemon.instances.values():
        lines.extend(instance_lines(inst, wall, loop_now, daemon.config.scripts))
    if daemon.scripts:
        lines.append("------< VRRP Scripts >------")
        lines.extend(script_lines(daemon.scripts.values(), daemon.config))
    return "\n".join(lines) + "\n"

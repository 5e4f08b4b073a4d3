"""keepalived's checks after parsing (vrrp_complete_init and friends), in its order:
derived values (priority from state and back, version, garp defaults), interfaces,
script security, sync groups, each instance's consistency, duplicate VRIDs."""

from __future__ import annotations

from collections.abc import Callable

from .diagnostics import Diagnostics
from .keywords import GLOBAL_SCRIPTS
from .model import (
    TIMER_HZ,
    VRRP_PRIO_DFL,
    VRRP_PRIO_OWNER,
    KeepalivedConfig,
    NotifyScript,
    ParseNotes,
    Route,
    Rule,
    TrackBfd,
    TrackInterface,
    TrackScript,
    VirtualIp,
    VrrpInstance,
    VrrpScript,
)
from .scripts import (
    DEFAULT_SCRIPT_USER,
    SC_EXECUTABLE,
    SC_INHIBIT,
    SC_INSECURE,
    SC_ISSCRIPT,
    SC_NOTFOUND,
    SC_SYSTEM,
    check_script,
    script_ids,
    user_exists,
)
from .values import inet_pton, strtoul

__all__ = ["INSTANCE_NOTIFY_SCRIPTS", "NOTIFY_SCRIPTS", "validate"]

# The notify scripts of a sync group, in the order keepalived checks them.
NOTIFY_SCRIPTS = ("notify_backup", "notify_master", "notify_fault", "notify_stop", "notify")
# An instance's, in that order too.
INSTANCE_NOTIFY_SCRIPTS = (
    "notify_backup",
    "notify_master",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify",
    "notify_master_rx_lower_pri",
)
# global_defs scripts the vrrp process checks with the notify scripts.
GLOBAL_NOTIFY_SCRIPTS = ("notify_fifo_script", "vrrp_notify_fifo_script")


MAX_ADVERT_ADDRESSES = 255  # an advert's address count is one octet
# what keepalived counts before an advert's addresses (vrrp.c, vrrp_complete_instance)
DEFAULT_MTU = 1500
ETHER_HEADER = 14
VRRP_HEADER = 8
AUTH_DATA = 8  # VRRPv2's authentication data
AH_HEADER = 24  # keepalived's ipsec_ah_t


def _ipvlan_address(word: str) -> bool:
    """Whether a word of ``use_ipvlan`` is its address (keepalived's check_valid_ipaddress
    with a prefix allowed: an address, then optionally ``/`` and a prefix length)."""
    if ":" not in word and "." not in word:
        return False
    address, slash, prefix = word.partition("/")
    if slash:
        value, end, overflow = strtoul(prefix)
        if not prefix or end < len(prefix) or overflow or value > (128 if ":" in word else 32):
            return False
    return inet_pton(address) is not None


def validate(
    cfg: KeepalivedConfig, notes: ParseNotes, diags: Diagnostics, *, check_scripts: bool
) -> None:
    """Complete `cfg` with the values keepalived derives and report what it rejects.

    `check_scripts` looks the scripts up on this host, as keepalived does."""
    _Validator(cfg, notes, diags, check_scripts).run()


class _Validator:
    """keepalived's post-parse checks (vrrp_complete_init and friends), in its order."""

    def __init__(
        self, cfg: KeepalivedConfig, notes: ParseNotes, diags: Diagnostics, check_scripts: bool
    ) -> None:
        self.cfg = cfg
        self.notes = notes
        self.diags = diags
        self.check_scripts = check_scripts

    def report(self, file: str, line: int, kind: str, message: str) -> None:
        # after parsing: keepalived prints the message without a location
        self.diags.add(file, line, kind, message, located=False)

    def _addresses_per_advert(self, inst: VrrpInstance, family: int) -> int:
        """keepalived's bound on an instance's VIPs: what fits in one advert on its
        interface (Ethernet, IP and VRRP headers, v2's authentication data, AH's header),
        at most 255. The interface's MTU is read from this host, else 1500."""
        mtu = self.notes.mtus.get(inst.interface or "", DEFAULT_MTU)
        if family == 4:
            header = ETHER_HEADER + 20 + VRRP_HEADER
            if inst.version == 2:
                header += AUTH_DATA + (AH_HEADER if inst.auth_type == "AH" else 0)
            most = (mtu - header) // 4
        else:
            most = (mtu - (ETHER_HEADER + 40 + VRRP_HEADER)) // 16
        return max(0, min(most, MAX_ADVERT_ADDRESSES))

    def run(self) -> None:
        """The checks; where keepalived's VRRP process would stop at start-up
        (vrrp_complete_init failing), ``cfg.runs`` becomes False."""
        if not self._complete_init():
            self.cfg.runs = False

    def _complete_init(self) -> bool:
        cfg = self.cfg
        for inst in cfg.instances.values():
            self._derive(inst)
        if self.check_scripts:
            self._default_user()
            self._start_stop_security()
        if self.notes.missing_interface is not None:
            file, line = self.notes.missing_interface
            self.report(
                file,
                line,
                "bad_if",
                "Non-existent interface specified in configuration",
            )
            return False
        if not cfg.instances:
            # keepalived's VRRP process still builds its sync groups (each member is
            # missing); its script checks find nothing to run
            self._sync_groups()
            return True
        if self.check_scripts:
            self._script_security()
        for inst in cfg.instances.values():
            if inst.vrid is None:
                self.report(
                    inst.file,
                    inst.line,
                    "general",
                    f"({inst.name}) the virtual router id must be set",
                )
                return False
            if inst.interface is None and not inst.unicast_peers:
                self.report(inst.file, inst.line, "general", f"({inst.name}) Unknown interface!")
                return False
        self._sync_groups()
        for inst in cfg.instances.values():
            if not self._complete(inst):
                return False
        self._duplicate_vrids()
        self._track_groups()
        self._sync_group_tracking()
        return True

    def _derive(self, inst: VrrpInstance) -> None:
        family = inst.family = self.notes.families.get(inst.name, 4)
        version = inst.configured_version or (
            3 if family == 6 else self.cfg.global_defs.vrrp_version
        )
        inst.version = version
        if inst.configured_priority is None:
            inst.priority = VRRP_PRIO_OWNER if inst.configured_state == "MASTER" else VRRP_PRIO_DFL
        else:
            inst.priority = inst.configured_priority
        if inst.configured_state is None:
            inst.state = "MASTER" if inst.priority == VRRP_PRIO_OWNER else "BACKUP"
        else:
            inst.state = "MASTER" if inst.configured_state == "MASTER" else "BACKUP"
        set_here = self.notes.garp_set.get(inst.name, set())
        gd = self.cfg.global_defs
        for name, default in (
            ("garp_master_delay", gd.vrrp_garp_master_delay),
            ("garp_master_repeat", gd.vrrp_garp_master_repeat),
            ("garp_master_refresh", gd.vrrp_garp_master_refresh),
            ("garp_master_refresh_repeat", gd.vrrp_garp_master_refresh_repeat),
        ):
            if name not in set_here:
                setattr(inst, name, default)

    def _ids(self, script: NotifyScript | VrrpScript) -> tuple[int, int] | None:
        """The uid:gid a script runs as: its own user (and group), else the default script
        user (script_user, else keepalived_script, else ours)."""
        if script.user is not None:
            return script_ids(script.user, script.group)
        gd = self.cfg.global_defs
        return script_ids(gd.script_user, gd.script_group)

    def _notify_scripts(self) -> list[tuple[object, str, NotifyScript, str]]:
        """Every notify-type script of the vrrp process, in keepalived's order: (owner,
        attribute, script, the type keepalived names it by)."""
        cfg = self.cfg
        found: list[tuple[object, str, NotifyScript, str]] = []
        owners: list[tuple[object, tuple[str, ...]]] = [
            *((inst, INSTANCE_NOTIFY_SCRIPTS) for inst in cfg.instances.values()),
            *((grp, NOTIFY_SCRIPTS) for grp in cfg.sync_groups.values()),
            (cfg.global_defs, GLOBAL_NOTIFY_SCRIPTS),
        ]
        for owner, names in owners:
            for name in names:
                script = getattr(owner, name)
                if script is not None:
                    kind = GLOBAL_SCRIPTS.get(name, "notify")
                    found.append((owner, name, script, kind))
        return found

    def _default_user(self) -> None:
        """keepalived's get_default_script_user() failing: a script without a user of its
        own is then dropped, as keepalived drops it while parsing.

        It fails when ``script_user`` names a user or group that does not exist, or under
        ``enable_script_security`` without script_user when the user keepalived_script
        does not exist (keepalived refuses to fall back to root; it says so at the first
        script that needs the default user)."""
        cfg, gd = self.cfg, self.cfg.global_defs
        if self.notes.script_user_failed:
            say_first = False
        elif (
            gd.enable_script_security
            and gd.script_user is None
            and not user_exists(DEFAULT_SCRIPT_USER, None)
        ):
            say_first = True
        else:
            return
        orphans = [scr for scr in cfg.scripts.values() if scr.user is None]
        notifies = [
            (owner, name, script, kind)
            for owner, name, script, kind in self._notify_scripts()
            if script.user is None
        ]
        for name in ("startup_script", "shutdown_script", "lvs_notify_fifo_script"):
            script = getattr(gd, name)
            if script is not None and script.user is None:
                notifies.append((gd, name, script, GLOBAL_SCRIPTS[name]))
        # a vrrp_script's user is settled at its block's "}", where keepalived reports
        firsts = [(s.file, s.end_line or s.line) for s in orphans] + [
            (s.file, s.line) for *_, s, _ in notifies
        ]
        if not firsts:
            return
        if say_first:
            file, line = min(firsts, key=lambda fl: fl[1])
            self.report(
                file,
                line,
                "general",
                f"Unable to set default user {DEFAULT_SCRIPT_USER} for script",
            )
        for owner, name, script, kind in notifies:
            self.report(
                script.file,
                script.line,
                "syslog",
                f"Failed to set default user for {kind} script {script.path} - ignoring",
            )
            if name in ("startup_script", "shutdown_script"):
                self.report(script.file, script.line, "general", f"Invalid {kind} script")
            setattr(owner, name, None)
        for scr in orphans:
            self.report(
                scr.file,
                scr.end_line or scr.line,
                "general",
                f"Unable to set default user for vrrp script {scr.name} - removing",
            )
            scr.disabled = True
        removed = {scr.name for scr in orphans}
        for inst in cfg.instances.values():
            for tsc in inst.track_scripts:
                if tsc.name in removed:
                    # keepalived removed the script at its block's end: the entry found
                    # no script, and its weight was never read
                    for d in tsc.said:
                        self.diags.discard(d)
                    self.report(
                        inst.file,
                        tsc.line or inst.line,
                        "general",
                        f"({inst.name}) track script {tsc.name} not found, ignoring...",
                    )
            inst.track_scripts = [t for t in inst.track_scripts if t.name not in removed]

    def _start_stop_security(self) -> None:
        """keepalived's parent checks ``startup_script`` and ``shutdown_script`` (whether
        or not there are instances), with a SECURITY VIOLATION of their own."""
        gd = self.cfg.global_defs
        flags = 0
        first: NotifyScript | None = None
        for name in ("startup_script", "shutdown_script"):
            script = getattr(gd, name)
            if script is None:
                continue
            first = first or script
            sflags = self._check_notify(gd, name, script, allow_system=True)
            flags |= sflags
        if first is not None and not gd.enable_script_security and flags & SC_ISSCRIPT:
            suffix = " There are insecure scripts." if flags & SC_INSECURE else ""
            self.report(
                first.file,
                first.line,
                "security",
                "SECURITY VIOLATION - start/shutdown scripts are being executed but"
                " script_security not enabled." + suffix,
            )

    def _check_notify(
        self, owner: object, name: str, script: NotifyScript, *, allow_system: bool = False
    ) -> int:
        """keepalived's check_notify_script_secure(): check `script` as the user it runs
        as; one that is inhibited, not found or not executable is removed from `owner`
        (keepalived frees it: the daemon never runs it). Returns the SC_* flags."""
        ids = self._ids(script)
        if ids is None:  # its user or group was removed since it was parsed
            setattr(owner, name, None)
            return 0

        def log(message: str) -> None:
            self.report(script.file, script.line, "syslog", message)

        security = self.cfg.global_defs.enable_script_security
        flags = check_script(script.argv, ids[0], log, gid=ids[1], security=security)
        runnable = SC_EXECUTABLE | (SC_SYSTEM if allow_system else 0)
        if flags & (SC_INHIBIT | SC_NOTFOUND) or not flags & runnable:
            setattr(owner, name, None)
        return flags

    def _script_security(self) -> None:
        """keepalived's check_vrrp_script_security(): track scripts, then each instance's
        and each sync group's notify scripts and the notify FIFO scripts, then the
        SECURITY VIOLATION summary.

        Each script is checked as the user it runs as. A track script that is insecure
        (under enable_script_security), not found, or not executable is disabled and
        dropped from the instances tracking it. A notify script in that state is removed
        from its instance or group, as keepalived frees it: the daemon never runs it."""
        cfg = self.cfg
        security = cfg.global_defs.enable_script_security
        flags = 0
        for scr in cfg.scripts.values():
            ids = self._ids(scr)
            if scr.disabled or ids is None:
                scr.disabled = True  # reported when parsed, or by _default_user
                continue

            def log(message: str, scr: VrrpScript = scr) -> None:
                self.report(scr.file, scr.line, "syslog", message)

            sflags = check_script(scr.script or "", ids[0], log, gid=ids[1], security=security)
            flags |= sflags
            if sflags & SC_INHIBIT:
                self.report(
                    scr.file,
                    scr.line,
                    "general",
                    f"Disabling track script {scr.name} due to insecure",
                )
                scr.disabled = True
            elif sflags & SC_NOTFOUND:
                self.report(
                    scr.file,
                    scr.line,
                    "general",
                    f"Disabling track script {scr.name} since not found/accessible",
                )
                scr.disabled = True
            elif not sflags & (SC_EXECUTABLE | SC_SYSTEM):
                scr.disabled = True
        for owner, name, script, _kind in self._notify_scripts():
            flags |= self._check_notify(owner, name, script)
        if not security and flags & SC_ISSCRIPT:
            first = next(iter(cfg.instances.values()))
            suffix = " There are insecure scripts." if flags & SC_INSECURE else ""
            self.report(
                first.file,
                first.line,
                "security",
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
                + suffix,
            )
        for inst in cfg.instances.values():
            inst.track_scripts = [t for t in inst.track_scripts if not cfg.scripts[t.name].disabled]

    def _sync_groups(self) -> None:
        cfg = self.cfg
        owner: dict[str, str] = {}
        for name, grp in list(cfg.sync_groups.items()):
            if not grp.declared_members:
                self.report(
                    grp.file,
                    grp.line,
                    "general",
                    f"Sync group {name} has no virtual router(s). removing",
                )
                del cfg.sync_groups[name]
                continue
            for member in grp.declared_members:
                inst = cfg.instances.get(member)
                if inst is None:
                    self.report(
                        grp.file,
                        grp.line,
                        "general",
                        f"Virtual router {member} specified in sync group {name} doesn't exist"
                        " - ignoring",
                    )
                    continue
                if member in owner:
                    self.report(
                        grp.file,
                        grp.line,
                        "general",
                        f"Virtual router {member} cannot exist in more than one sync group;"
                        f" ignoring {name}",
                    )
                    continue
                owner[member] = name
                grp.members.append(member)
                inst.sync_group = name
            if not grp.members:
                self.report(
                    grp.file,
                    grp.line,
                    "general",
                    f"Sync group {name}, no matching virtual router found in group declaration"
                    " - removing",
                )
                del cfg.sync_groups[name]
            elif len(grp.members) == 1:
                self.report(
                    grp.file,
                    grp.line,
                    "general",
                    f"Sync group {name} has only 1 virtual router(s) - this probably isn't what"
                    " you want",
                )

    def _complete(self, inst: VrrpInstance) -> bool:
        gd = self.cfg.global_defs

        def say(message: str, kind: str = "general") -> None:
            self.report(inst.file, inst.line, kind, message)

        def say_auth(message: str) -> None:  # about the authentication block: at its line
            self.report(
                inst.auth_file or inst.file, inst.auth_line or inst.line, "general", message
            )

        family = self.notes.families.get(inst.name, 4)
        strict = gd.vrrp_strict or inst.options.get("strict_mode") == ["true"]
        if not inst.vips:
            if inst.version == 3 or strict:
                say(f"({inst.name}) No VIP specified; at least one is required")
                return False
            say(f"({inst.name}) No VIP specified; at least one is sensible", "warning")
        most = self._addresses_per_advert(inst, family)
        if len(inst.vips) > most:
            say(
                f"({inst.name}) Number of VIPs ({len(inst.vips)}) exceeds maximum/space"
                f" available in packet (max {most} addresses)"
                " - excess moved to eVIPs"
            )
            inst.excluded_vips[:0] = inst.vips[most:]
            del inst.vips[most:]
        if "promote_secondaries" in inst.options and (
            "use_vmac" in inst.options or "use_ipvlan" in inst.options
        ):
            # keepalived sets it on the macvlan/ipvlan it makes, and clears the flag
            say(f"({inst.name}) promote_secondaries is automatically set for vmacs - ignoring")
            del inst.options["promote_secondaries"]
        if (
            strict
            and inst.configured_state is not None
            and (inst.state == "MASTER") != (inst.priority == VRRP_PRIO_OWNER)
        ):
            say(f"({inst.name}) State MASTER must match being address owner")
            inst.state = "MASTER" if inst.priority == VRRP_PRIO_OWNER else "BACKUP"
        if inst.auth_type is not None:
            if strict:
                say_auth(f"({inst.name}) Strict mode does not support authentication. Ignoring.")
                inst.auth_type = None
            elif inst.version == 3:
                say_auth(f"({inst.name}) VRRP version 3 does not support authentication. Ignoring.")
                inst.auth_type = None
            elif not inst.auth_pass:
                say_auth(f"({inst.name}) Authentication specified but no password given. Ignoring")
                inst.auth_type = None
            elif family == 6 and inst.auth_type == "AH":
                say_auth(f"({inst.name}) Cannot use AH authentication with IPv6. ignoring")
                inst.auth_type = None
            elif (
                inst.auth_type == "AH"
                and inst.state == "MASTER"
                and inst.priority != VRRP_PRIO_OWNER
            ):
                say_auth(
                    f"({inst.name}) Initial state master is incompatible with AH authentication"
                    " - clearing"
                )
                inst.state = "BACKUP"
        if inst.interface is None and inst.unicast_src_ip is None:
            say(f"({inst.name}): Unicast instances must have unicast_src_ip or interface")
            return False
        if inst.name in self.notes.unicast_configured and not inst.unicast_peers:
            say(
                f"({inst.name}) A unicast keyword has been specified without any unicast peers."
                " Defaulting to multicast. This usage is deprecated - please update your"
                " configuration.",
                "deprecated",
            )
        if "vrf" in inst.options and (inst.interface is not None or not inst.unicast_peers):
            # a VRF serves an instance with unicast peers and no interface
            need = "out interface" if inst.interface is not None else " unicast"
            say(f"({inst.name}) vrf can only be specified with{need} - clearing")
            del inst.options["vrf"]
        if inst.priority == VRRP_PRIO_OWNER and inst.nopreempt:
            say(f"({inst.name}) nopreempt is incompatible with priority 255. resetting nopreempt")
            inst.nopreempt = False
        if inst.state == "MASTER":
            if inst.nopreempt:
                say(
                    f"({inst.name}) Warning - nopreempt will not work with initial state MASTER"
                    " - clearing"
                )
                inst.nopreempt = False
            if inst.preempt_delay:
                say(
                    f"({inst.name}) Warning - preempt delay will not work with initial state"
                    " MASTER - clearing"
                )
                inst.preempt_delay = 0.0
        if inst.preempt_delay and inst.nopreempt:
            say(f"({inst.name}) preempt_delay is incompatible with nopreempt mode - resetting")
            inst.preempt_delay = 0.0
        self._sync_weights(inst, say)
        ticks = round(inst.advert_int * TIMER_HZ)
        if inst.version == 2:
            if ticks >= 256 * TIMER_HZ:
                say(
                    f"({inst.name}) VRRPv2 advertisement interval {ticks / TIMER_HZ:.2f}s is out of"
                    " range. Must be less than 256s. Setting to 255s"
                )
                ticks = 255 * TIMER_HZ
            elif ticks % TIMER_HZ:
                say(
                    f"({inst.name}) VRRPv2 advertisement interval {ticks / TIMER_HZ:f}s must be an"
                    " integer. rounding"
                )
                ticks += TIMER_HZ // 2
                ticks -= ticks % TIMER_HZ
                ticks = ticks or TIMER_HZ
        else:
            centi = TIMER_HZ // 100
            if ticks >= 4096 * centi:
                say(
                    f"({inst.name}) VRRPv3 advertisement interval {ticks / TIMER_HZ:.2f}s is out of"
                    " range. Must be less than 40.96s. Setting to 40.95s"
                )
                ticks = 4095 * centi
            elif ticks % centi:
                say(
                    f"({inst.name}) VRRPv3 advertisement interval {ticks / TIMER_HZ:f}s must be in"
                    " units of 10ms - rounding"
                )
                ticks += centi // 2
                ticks -= ticks % centi
                ticks = ticks or centi
        inst.advert_int = ticks / TIMER_HZ
        if (
            "use_ipvlan" in inst.options
            and family == 4
            and not any(_ipvlan_address(w) for w in inst.options["use_ipvlan"])
        ):
            say(
                f"({inst.name}) IPv4 ipvlan requires a source ip address to be configured."
                " setting instance to fault state"
            )
        if inst.interface is not None:
            kept = []
            for tip in inst.track_interfaces:
                if tip.name == inst.interface:
                    say(f"({inst.name}) Ignoring track_interface {tip.name} since own interface")
                    continue
                kept.append(tip)
            inst.track_interfaces = kept
        if "vmac_xmit_base" in inst.options and "use_vmac" not in inst.options:
            say(f"({inst.name}) vmac_xmit_base is only valid with a vmac")
            del inst.options["vmac_xmit_base"]
        return True

    def _sync_weights(self, inst: VrrpInstance, say: Callable[[str], None]) -> None:
        """Sync group members and address owners ignore tracking weights."""
        grp = self.cfg.sync_groups.get(inst.sync_group or "")
        in_sync = grp is not None and not grp.tracking_weight
        if not in_sync and inst.priority != VRRP_PRIO_OWNER:
            return
        why = "SYNC group" if in_sync else "address owner"
        kept_if: list[TrackInterface] = []
        for tip in inst.track_interfaces:
            if tip.weight:
                weight_word = "weight " if in_sync else ""
                say(
                    f"({inst.name}) ignoring {tip.name} tracked interface {weight_word}due to {why}"
                )
                if not in_sync:
                    continue
                tip.weight = 0
            kept_if.append(tip)
        inst.track_interfaces = kept_if
        kept_sc: list[TrackScript] = []
        for tsc in inst.track_scripts:
            scr = self.cfg.scripts.get(tsc.name)
            weight = tsc.weight if tsc.weight is not None else (scr.weight if scr else 0)
            if weight:
                why_sc = "SYNC group" if in_sync else "address_owner"
                say(
                    f"({inst.name}) ignoring tracked script {tsc.name} with weights due to {why_sc}"
                )
                continue
            kept_sc.append(tsc)
        inst.track_scripts = kept_sc
        kept_bfd: list[TrackBfd] = []
        for tbfd in inst.track_bfds:
            if tbfd.weight:
                why_bfd = "SYNC group" if in_sync else "address_owner"
                say(
                    f"({inst.name}) ignoring tracked bfd {tbfd.name} with weight {tbfd.weight}"
                    f" due to {why_bfd}"
                )
                continue
            kept_bfd.append(tbfd)
        inst.track_bfds = kept_bfd

    def _track_groups(self) -> None:
        """keepalived's static_track_group_init(): each track_group keeps the instances
        that exist; one left without any is removed, and the static addresses, routes and
        rules naming it are not tracked (nor those that also say no_track). keepalived
        only logs all this."""
        cfg = self.cfg
        for name, group in list(cfg.track_groups.items()):
            if group.group is None:
                self.report(
                    group.file,
                    group.line,
                    "syslog",
                    f"Static track group {name} has no virtual router(s)",
                )
            else:
                for member in group.group:
                    if member in cfg.instances:
                        group.members.append(member)
                    else:
                        self.report(
                            group.file,
                            group.line,
                            "syslog",
                            f"vrrp instance {member} specified in track group {name} doesn't"
                            " exist - ignoring",
                        )
                if not group.members:
                    self.report(
                        group.file,
                        group.line,
                        "syslog",
                        f"Static track group {name} has no VRRP instance(s)",
                    )
            if not group.members:
                self.report(
                    group.file,
                    group.line,
                    "syslog",
                    f"Static track group {name} init fails - removing",
                )
                del cfg.track_groups[name]
        items: list[tuple[str, VirtualIp | Route | Rule]] = [
            *(("address", a) for a in cfg.static_addresses),
            *(("route", r) for r in cfg.static_routes),
            *(("rule", r) for r in cfg.static_rules),
        ]
        for what, item in items:
            if item.track_group is None:
                continue
            if item.track_group not in cfg.track_groups:
                item.track_group = None
            elif item.no_track:
                self.report(
                    item.file,
                    item.line,
                    "syslog",
                    f"Static {what} has both track_group and no_track set - not tracking",
                )
                item.track_group = None

    def _sync_group_tracking(self) -> None:
        """keepalived's sync_group_tracking_init(), for the tracked BFDs of sync groups:
        with an address owner among the members, a BFD's weight is cleared. (keepalived
        clears a tracked script's weight there too: not checked here.)"""
        cfg = self.cfg
        for grp in cfg.sync_groups.values():
            if not any(
                cfg.instances[m].priority == VRRP_PRIO_OWNER
                for m in grp.members
                if m in cfg.instances
            ):
                continue
            for tbfd in grp.track_bfds:
                if tbfd.weight:
                    self.report(
                        grp.file,
                        grp.line,
                        "general",
                        f"({grp.name}) Cannot have weighted track bfd '{tbfd.name}' with member"
                        f" having priority {VRRP_PRIO_OWNER} - setting weight 0",
                    )
                    tbfd.weight = 0

    def _duplicate_vrids(self) -> None:
        insts = list(self.cfg.instances.values())
        # each instance against the later ones of its VRID, in the order of the pairs
        # (a table by VRID: 25 000 instances made 312 million pairs to look at)
        by_vrid: dict[int | None, list[int]] = {}
        for i, inst in enumerate(insts):
            by_vrid.setdefault(inst.vrid, []).append(i)
        for i, a in enumerate(insts):
            for j in by_vrid[a.vrid]:
                if j <= i:
                    continue
                b = insts[j]
                fam_a = self.notes.families.get(a.name, 4)
                if fam_a != self.notes.families.get(b.name, 4):
                    continue
                if a.unicast_peers or b.unicast_peers:
                    if not (a.unicast_peers and b.unicast_peers):
                        continue
                    if a.unicast_src_ip != b.unicast_src_ip:
                        continue
                    if set(a.unicast_peers) & set(b.unicast_peers):
                        self.report(
                            b.file,
                            b.line,
                            "general",
                            f"({b.name}) duplicate VRID conflict with {a.name} VRID {b.vrid}",
                        )
                    continue
                if a.interface is None or a.interface != b.interface:
                    continue
                self.report(
                    b.file,
                    b.line,
                    "general",
                    f"{a.name} and {b.name} both use VRID {a.vrid} with IPv{fam_a} on interface"
                    f" {a.interface}",
                )

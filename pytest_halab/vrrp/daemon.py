"""halab-vrrpd's coordinator: a keepalived-compatible VRRP daemon (VRRPv2/v3, IPv4).

Reads an unchanged keepalived.conf. One selector loop (:mod:`.loop`) drives everything:
the raw VRRP sockets, a netlink monitor (link and IPv4 address changes), script children
(pidfds) and a heap of monotonic deadlines. The loop sleeps exactly until the nearest
deadline: there is no polling tick.

:class:`Daemon` wires the state machines (:mod:`.state`) to their collaborators, each a
concept of its own: interfaces coming and going (:mod:`.links`), virtual addresses and
gratuitous ARP (:mod:`.vips`), sync groups (:mod:`.syncgroup`), trackers and notify
commands (:mod:`.track`), the event log (:mod:`.eventlog`). The command line is in
:mod:`.__main__`.

Static addresses, routes and rules, and the instances' virtual routes and rules, are put
in the kernel and kept there as keepalived does (:mod:`.routing`).

Signals: SIGTERM/SIGINT: every master sends a priority-0 advert and removes its addresses
(and virtual routes and rules), the static ones are removed, then exit 0. SIGHUP: reload
the configuration (unchanged instances keep their state and addresses; changed ones
restart). keepalived's dump signals write keepalived's files (:mod:`.status`): SIGUSR1
/tmp/keepalived.data, SIGUSR2 /tmp/keepalived.stats, SIGRTMIN+29 the same and zeroes the
counters, SIGRTMIN+2 (36) every instance's state to /tmp/keepalived.json.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Sequence

from pytest_halab.vrrp import datadump
from pytest_halab.vrrp.conf import KeepalivedConfig, VrrpInstance, load_config
from pytest_halab.vrrp.counters import STATS_PATH
from pytest_halab.vrrp.datadump import DATA_PATH
from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.garp import GarpSender
from pytest_halab.vrrp.instance import (
    NO_ADDRESS,
    NO_INTERFACE,
    Instance,
    new_instance,
    resolve_vips,
    source_kind,
)
from pytest_halab.vrrp.links import (
    InterfaceFollower,
    LinkTable,
    NetlinkEvent,
    VrrpSockets,
)
from pytest_halab.vrrp.loglimit import LogLimiter
from pytest_halab.vrrp.loop import EventLoop
from pytest_halab.vrrp.net import (
    AddressInfo,
    LinkInfo,
    Netlink,
    RoutingChange,
    VrrpSocket,
)
from pytest_halab.vrrp.packet import (
    VrrpAdvert,
    encode,
)
from pytest_halab.vrrp.receive import Receiving
from pytest_halab.vrrp.reload import Reloading
from pytest_halab.vrrp.routing import Routing
from pytest_halab.vrrp.sched import SIGXCPU_MESSAGE, ProcessPriorities
from pytest_halab.vrrp.smtpalert import MailPolicy, SmtpAlerter, alert_setting
from pytest_halab.vrrp.state import (
    Action,
    AddVips,
    LogNotice,
    LowerPriorityAdvertSeen,
    NewMasterSeen,
    PriorityChange,
    RemoveVips,
    SendAdvert,
    SendGratuitousArp,
    State,
    StateChange,
)
from pytest_halab.vrrp.status import (
    JSON_PATH,
    JSON_SIGNAL,
    REQUEST_SIGNALS,
    STATS_CLEAR_SIGNAL,
    dump,
    instance_record,
    write_atomic,
)
from pytest_halab.vrrp.syncgroup import SyncGroups
from pytest_halab.vrrp.track import (
    NotifyCommand,
    ProcessRunner,
    ScriptTracker,
    TrackedItem,
    notify_runs,
    tracking_result,
)
from pytest_halab.vrrp.vips import VirtualAddresses
from pytest_halab.vrrp.vmac import Vmac, Vmacs, vmac_request

__all__ = ["Daemon"]

log = logging.getLogger("halab-vrrpd")


class Daemon(Reloading, Receiving):
    """Wires config, state machines, sockets, tracking and the event loop.

    ``netlink`` and ``garp`` default to the kernel's (tests give fakes); the daemon
    closes them in :meth:`close`.
    """

    def __init__(
        self,
        config_path: str,
        *,
        event_log: EventLog | None = None,
        log_detail: bool = False,
        loop: EventLoop | None = None,
        netlink: Netlink | None = None,
        garp: GarpSender | None = None,
        config_id: str | None = None,
        dont_release: bool = False,
        all_config: bool = False,
        address_monitoring: bool = False,
    ) -> None:
        self.config_path = config_path
        self.config_id = config_id  # -i: None is keepalived's default (the host name)
        # -V: a stop leaves the instances as they are (keepalived skips their shutdown)
        self.dont_release = dont_release
        self.all_config = all_config  # -e: a missing configuration file is an error
        # -a: every address the kernel adds or removes, logged as keepalived logs it
        self.address_monitoring = address_monitoring
        self.loop = loop or EventLoop()
        self.events = event_log or EventLog(None)
        self.detail = log_detail
        self.netlink = netlink or Netlink()
        self.runner = ProcessRunner(self.loop)
        self.garp = garp or GarpSender()
        self.config = KeepalivedConfig()
        self.instances: dict[str, Instance] = {}
        self.scripts: dict[str, ScriptTracker] = {}
        self.email = SmtpAlerter(server=None)
        self.mail_policy = MailPolicy()
        self.malformed = 0
        self._malformed_limit = LogLimiter(self.loop, self._malformed_suppressed)
        self.stopping = False
        # the checker child (both halves in one run, as keepalived without -P/-C): a reload
        # reaches it too, as keepalived's parent passes SIGHUP on to its children
        self.checker_pid: int | None = None
        self.exit_code = 0
        self.priorities = ProcessPriorities()
        self.links = LinkTable(self.netlink, self.events)
        self.sockets = VrrpSockets(
            self.loop, on_readable=self._on_readable, on_closed=self._socket_closed
        )
        self.vips = VirtualAddresses(
            netlink=self.netlink,
            garp=self.garp,
            loop=self.loop,
            events=self.events,
            is_current=self._is_current,
            detail=log_detail,
        )
        self.routing = Routing(
            netlink=self.netlink,
            events=self.events,
            index_of=self.links.index_of,
            detail=log_detail,
        )
        self.vmacs = Vmacs(self.netlink, detail=log_detail)
        self.interfaces = InterfaceFollower(
            links=self.links,
            sockets=self.sockets,
            netlink=self.netlink,
            vips=self.vips,
            clock=self.loop.time,
            vmacs=self.vmacs,
        )
        self.groups = SyncGroups(
            clock=self.loop.time,
            events=self.events,
            instances=lambda: self.instances,
            apply=self._apply,
            run=self._run,
            detail=log_detail,
            alert=self._group_alert,
        )
        self._monitor = Netlink.monitor()
        self.loop.add_reader(self._monitor.fileno(), self._on_netlink)
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)

    # --- lifecycle --------------------------------------------------------------------

    def load(self) -> int:
        """Read the configuration; log its diagnostics. Returns 0 when it runs, else
        keepalived's exit status for it: 1 (fatal) when nothing can be read, 2 (config)
        when keepalived's VRRP process would stop on it (`KeepalivedConfig.runs`); the
        parent process says so (parent.py)."""
        cfg = self._read_config()
        if cfg is None:
            return 1
        if not cfg.runs:
            return 2
        self._configure(cfg)
        return 0

    def _read_config(self) -> KeepalivedConfig | None:
        """Parse the configuration file and log its diagnostics; None if it cannot run."""
        cfg, diags = load_config(
            self.config_path,
            config_id=self.config_id,
            resolve_hosts=True,
            all_config=self.all_config,
        )
        for diag in diags:
            level = logging.WARNING if diag.severity == "warning" else logging.ERROR
            log.log(level, "%s", _printable(str(diag)))
        if any(d.kind == "file_not_found" for d in diags):
            return None
        return cfg

    def _configure(self, cfg: KeepalivedConfig) -> None:
        """Make `cfg` the running configuration's global part (addresses, groups, mail)."""
        self.config = cfg
        self.vips.configure(cfg)
        self.vmacs.configure(cfg.global_defs.options)
        self.groups.configure(cfg)
        gd = cfg.global_defs
        helo = gd.options.get("smtp_helo_name") or []
        self.email = SmtpAlerter(
            server=gd.smtp_server,
            port=gd.smtp_port,
            recipients=gd.notification_email,
            sender=gd.notification_email_from,
            router_id=gd.router_id,
            helo_name=helo[0] if helo else None,
            timeout=gd.smtp_connect_timeout,
            detail=self.detail,
        )
        # a reload keeps what was last mailed (keepalived keeps each instance's last state)
        self.mail_policy.global_alert = alert_setting(gd.options, "smtp_alert")
        self.mail_policy.global_alert_vrrp = alert_setting(gd.options, "smtp_alert_vrrp")
        self.mail_policy.no_email_faults = "no_email_faults" in gd.options
        self.runner = ProcessRunner(self.loop, user=gd.script_user, group=gd.script_group)

    def start(self) -> None:
        """Open sockets, start trackers and every instance (BACKUP/FAULT/owner MASTER)."""
        self._install_signals()
        self.links.refresh()
        if self.address_monitoring:
            self._log_addresses_at_start()
        self._watch_routing(self.config)
        self.routing.start(self.config)
        self._start_scripts()
        for cfg in self.config.instances.values():
            inst = self._build(cfg)
            if inst is not None:
                self.instances[cfg.name] = inst
        for inst in self.instances.values():
            self.vips.remove_stale(inst)
            self.routing.remove_stale(inst)
        self._update_tracking(initial=True)
        now = self.loop.time()
        for inst in list(self.instances.values()):
            self._apply(inst, inst.machine.start(now))
        self.priorities.apply(self.config.global_defs)

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status."""
        # Everything built at start-up lives until exit: keep it out of the collector's
        # scans, so that a collection never delays a timer by walking the parsed config.
        gc.freeze()
        while not self.stopping:
            self.loop.run_once()
        return self.exit_code

    def shutdown(self) -> None:
        """Every master sends priority 0 and drops its addresses, notify_stop scripts are
        started (and left to run); everything else closes. With -V (`dont_release`) the
        instances are left as they are: VIPs and routes stay, no priority 0 is sent and no
        notify_stop runs, as keepalived skips shutdown_vrrp_instances."""
        now = self.loop.time()
        for inst in list(self.instances.values()):
            if not self.dont_release:
                self._apply(inst, inst.machine.shutdown(now))
            if inst.timer is not None:
                inst.timer.cancel()
        for tracker in self.scripts.values():
            tracker.stop()
        # Notify scripts keep running, notify_stop's included: keepalived does not wait for
        # them, nor kill them (seed 003 stops haproxy from notify_stop).
        self.sockets.close_all()
        if not self.dont_release:  # -V leaves the VMACs too, as keepalived
            for inst in self.instances.values():
                self.remove_vmac(inst)
        self.routing.stop()
        self.events.emit("daemon_stop", None, malformed=self.malformed)
        self.stopping = True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._monitor.close()
        self.netlink.close()
        self.garp.close()
        self._wakeup_r.close()
        self._wakeup_w.close()
        self.loop.close()

    def _watch_routing(self, cfg: KeepalivedConfig) -> None:
        """Have the monitor report the changes of the families of the tracked routes and
        rules (keepalived's set_extra_netlink_monitoring)."""
        routes, rules = Routing.watched_families(cfg)
        if routes or rules:
            try:
                Netlink.watch_routing(self._monitor, routes=routes, rules=rules)
            except OSError as exc:
                log.error("cannot watch route and rule changes: %s", exc)

    def _is_current(self, inst: Instance) -> bool:
        """The instance still runs (a reload did not replace or remove it)."""
        return self.instances.get(inst.name) is inst

    def _group_alert(self, group: str, state: str) -> None:
        """A sync group's state-change mail, as its instances' (keepalived's rules)."""
        cfg = self.config.sync_groups.get(group)
        own = cfg.smtp_alert if cfg is not None else None
        if self.email.enabled and self.mail_policy.should_mail("GROUP", group, own, state):
            self.email.group_alert(group, state)

    def _run(self, command: NotifyCommand) -> None:
        """Start a notify script as the user it runs as."""
        self.runner.start(command.argv, user=command.user, group=command.group)

    # --- signals ----------------------------------------------------------------------

    def _install_signals(self) -> None:
        self.loop.add_reader(self._wakeup_r.fileno(), self._on_signal)
        signal.set_wakeup_fd(self._wakeup_w.fileno(), warn_on_full_buffer=False)
        # SIGXCPU: a real-time limit reached (vrrp_rlimit_rttime), logged as keepalived does
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, *REQUEST_SIGNALS):
            signal.signal(sig, _noop_handler)
        # main() blocked these before writing the pid file; one sent since is delivered now.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, REQUEST_SIGNALS)

    def _on_signal(self) -> None:
        try:
            data = self._wakeup_r.recv(64)
        except BlockingIOError:
            return
        for signum in data:
            if signum in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                log.info("Stopping")
                self.shutdown()
            elif signum == signal.SIGHUP and not self.stopping:
                log.info("Reloading")
                if self.checker_pid is not None:
                    with contextlib.suppress(OSError):
                        os.kill(self.checker_pid, signal.SIGHUP)
                self.reload_in_background()
            elif signum == signal.SIGUSR1:
                self.dump_data()
            elif signum == signal.SIGUSR2:
                self.dump_stats()
            elif signum == STATS_CLEAR_SIGNAL:
                self.dump_stats(clear=True)
            elif signum == signal.SIGXCPU:
                log.info("%s", SIGXCPU_MESSAGE)
            elif signum == JSON_SIGNAL:
                self.dump_json()

    def dump_json(self, path: str = JSON_PATH) -> None:
        """keepalived's JSON signal: every instance's state, priorities and counters in
        ``path``, in keepalived's format (:mod:`.status`)."""
        log.info("Printing VRRP as json for process(%d) on signal", os.getpid())
        scripts = {name: tracker.argv for name, tracker in self.scripts.items()}
        records = [
            instance_record(inst, inst.last_transition, scripts) for inst in self.instances.values()
        ]
        try:
            dump(records, path)
        except OSError as exc:
            log.error("cannot write %s: %s", path, exc)

    def dump_stats(self, path: str = STATS_PATH, *, clear: bool = False) -> None:
        """keepalived's stats signal (SIGUSR2): every instance's counters in ``path``, in
        keepalived's words (:mod:`.counters`); with ``clear`` (STATS_CLEAR), zeroed after."""
        log.info("Printing VRRP stats for process(%d) on signal", os.getpid())
        text = "".join(inst.stats.text(inst.name) for inst in self.instances.values())
        try:
            write_atomic(path, text)
        except OSError as exc:
            log.error("cannot write %s: %s", path, exc)
        if clear:
            for inst in self.instances.values():
                inst.stats.clear()

    def dump_data(self, path: str = DATA_PATH) -> None:
        """keepalived's data signal (SIGUSR1): the configuration and run-time state in
        ``path``, in keepalived's layout (:mod:`.datadump`)."""
        log.info("Printing VRRP data for process(%d) on signal", os.getpid())
        try:
            write_atomic(path, datadump.render(self, now_loop=self.loop.time()))
        except OSError as exc:
            log.error("cannot write %s: %s", path, exc)

    def dump_to_log(self) -> None:
        """-d: the configuration data logged at start, a line each, in the layout of the
        data signal's file (keepalived's dump_data_vrrp to its log)."""
        for line in datadump.render(self, now_loop=self.loop.time()).splitlines():
            log.info("%s", line)

    # --- building instances -----------------------------------------------------------

    def _build(self, cfg: VrrpInstance) -> Instance | None:
        interface = cfg.interface
        if interface is None or cfg.vrid is None:
            log.error("(%s) no interface or virtual_router_id: instance not started", cfg.name)
            return None
        index = self.links.index_of(interface)
        if index is None and not self.config.global_defs.dynamic_interfaces:
            log.error("(%s) Unknown interface %s: instance not started", cfg.name, interface)
            return None
        unicast = bool(cfg.unicast_peers)
        vmac = self._make_vmac(cfg, index)
        vips = resolve_vips(
            cfg, interface, self.links.index_of, vmac=None if vmac is None else vmac.name
        )
        exclude = frozenset(v.address for v in vips)
        src = cfg.unicast_src_ip if unicast else cfg.mcast_src_ip
        if src is None and index is not None:
            src = self.netlink.primary_address(index, exclude, family=cfg.family)
        no_address = src is None
        sock: VrrpSocket | None = None
        if index is not None:
            # adverts go and come on the VMAC, unless vmac_xmit_base
            sock_if, sock_index = interface, index
            if vmac is not None and not vmac.xmit_base:
                sock_if, sock_index = vmac.name, vmac.index
            try:
                sock = self.sockets.open(sock_if, not unicast, sock_index, cfg.family)
            except OSError as exc:
                log.error("(%s) cannot open VRRP socket on %s: %s", cfg.name, sock_if, exc)
                if vmac is not None:
                    self.vmacs.delete(cfg.name, vmac)
                return None
        inst = new_instance(
            cfg, vips=vips, src=src, sock=sock, global_options=self.config.global_defs.options
        )
        inst.vmac = vmac
        if index is None:
            log.warning(
                "(%s) interface %s does not exist: FAULT until it appears", cfg.name, interface
            )
            inst.fault_reasons = (NO_INTERFACE,)
        elif no_address:
            log.error(
                "(%s) no %s address on %s: FAULT until one is added",
                cfg.name,
                source_kind(cfg.family),
                interface,
            )
            inst.fault_reasons = (NO_ADDRESS,)
        return inst

    def _make_vmac(self, cfg: VrrpInstance, index: int | None) -> Vmac | None:
        """The instance's VMAC (``use_vmac``), made now as keepalived makes it when it sets
        the instance up, whatever its state; None without one."""
        request = vmac_request(cfg)
        if request is None or cfg.interface is None or cfg.vrid is None:
            return None
        if index is None:
            log.error(
                "(%s) interface %s does not exist: no VMAC (use_vmac) made for it",
                cfg.name,
                cfg.interface,
            )
            return None
        return self.vmacs.create(
            cfg.name,
            request,
            base=cfg.interface,
            base_index=index,
            vrid=cfg.vrid,
            family=cfg.family,
        )

    def remove_vmac(self, inst: Instance) -> None:
        """Delete the instance's VMAC, if it has one (its VIPs go with it)."""
        if inst.vmac is not None:
            sock_if = inst.socket_interface
            vmac, inst.vmac = inst.vmac, None
            if sock_if == vmac.name:
                self.sockets.close(sock_if)
            self.vmacs.delete(inst.name, vmac)

    def _socket_closed(self, sock: VrrpSocket) -> None:
        for inst in self.instances.values():
            if inst.sock is sock:
                inst.sock = None

    def _start_scripts(self) -> None:
        gd = self.config.global_defs
        tracked = {t.name for i in self.config.instances.values() for t in i.track_scripts}
        tracked |= {n for g in self.config.sync_groups.values() for n in g.track_scripts}
        for name, scr in self.config.scripts.items():
            if name not in tracked or scr.disabled or not scr.script or name in self.scripts:
                continue
            tracker = ScriptTracker(
                name,
                scr.script,
                scheduler=self.loop,
                runner=self.runner,
                interval=scr.interval,
                timeout=scr.timeout,
                rise=scr.rise,
                fall=scr.fall,
                init_fail=scr.init_fail,
                user=scr.user or gd.script_user,
                group=scr.group if scr.user else gd.script_group,
                on_change=self._on_script_change,
            )
            self.scripts[name] = tracker
            tracker.start()

    # --- tracking -----------------------------------------------------------------------

    def _tracked(self, inst: Instance) -> list[TrackedItem]:
        items: list[TrackedItem] = []
        for ts in inst.cfg.track_scripts:
            scr = self.config.scripts.get(ts.name)
            tracker = self.scripts.get(ts.name)
            if scr is None:
                continue
            weight = scr.weight if ts.weight is None else ts.weight
            reverse = ts.reverse or (ts.weight is None and scr.weight_reverse)
            ok = tracker.ok if tracker is not None else not scr.init_fail
            items.append(TrackedItem("script", ts.name, weight, reverse, ok))
        for ti in inst.cfg.track_interfaces:
            items.append(
                TrackedItem("interface", ti.name, ti.weight, ti.reverse, self.links.is_up(ti.name))
            )
        if not inst.cfg.dont_track_primary and inst.cfg.interface:
            up = self.links.is_up(inst.cfg.interface)
            items.append(TrackedItem("interface", inst.cfg.interface, 0, False, up))
        for name in self.routing.tracked_interfaces(inst):
            items.append(TrackedItem("interface", name, 0, False, self.links.is_up(name)))
        group = self.config.sync_groups.get(inst.group or "")
        if group is not None:
            for name in group.track_scripts:
                tracker = self.scripts.get(name)
                items.append(TrackedItem("script", name, 0, False, tracker is None or tracker.ok))
            for name in group.track_interfaces:
                items.append(TrackedItem("interface", name, 0, False, self.links.is_up(name)))
        return items

    def _update_tracking(self, *, initial: bool = False) -> None:
        """Recompute every instance's fault and priority, sync groups included."""
        now = self.loop.time()
        priorities: dict[str, int] = {}
        faults: dict[str, bool] = {}
        for inst in self.instances.values():
            fault, prio = tracking_result(inst.cfg.priority, self._tracked(inst))
            inst.own_fault = fault or bool(inst.fault_reasons)
            faults[inst.name], priorities[inst.name] = inst.own_fault, prio
        for inst in list(self.instances.values()):
            fault = self.groups.shared_fault(inst, faults)
            actions: list[Action] = []
            actions += inst.machine.set_effective_priority(now, priorities[inst.name])
            actions += inst.machine.set_fault(now, fault)
            if not initial or actions:
                self._apply(inst, actions)

    def _on_script_change(self, name: str, ok: bool, detail: str) -> None:
        log.info("VRRP_Script(%s) %s", name, detail)
        users: list[str | None] = [
            i.name
            for i in self.instances.values()
            if any(t.name == name for t in i.cfg.track_scripts)
        ]
        for user in users or [None]:
            self.events.emit(
                "tracker_change", user, tracker=name, kind="script", ok=ok, detail=detail
            )
        self._update_tracking()

    def _on_netlink(self) -> None:
        try:
            events = Netlink.read_events(self._monitor)
        except OSError as exc:
            log.error("netlink monitor: %s", exc)
            return
        self.handle_netlink_events(events)

    def handle_netlink_events(self, events: Sequence[NetlinkEvent | RoutingChange]) -> None:
        """Apply link, address, route and rule changes: tracking, interfaces coming and
        going, static and virtual routes and rules deleted."""
        link_events = [e for e in events if not isinstance(e, RoutingChange)]
        changes = self.links.apply(link_events)
        if self.address_monitoring:
            for ev in link_events:
                if not isinstance(ev, LinkInfo):
                    self._log_address(ev[1], ev[0] == "add")
        faults_changed = self.interfaces.follow(list(self.instances.values()), changes)
        for event in events:
            if isinstance(event, RoutingChange):
                self._routing_changed(event)
            elif not isinstance(event, LinkInfo) and event[0] == "del":
                self.routing.address_deleted(event[1])
                self._vip_deleted(event[1])
        for name, up in changes.changed:
            if up:
                self.routing.interface_up(name)
            else:
                self.routing.interface_down(name)
        for name, up in changes.changed:
            log.info("Netlink reports %s %s", name, "up" if up else "down")
            users = [
                i.name
                for i in self.instances.values()
                if i.cfg.interface == name or any(t.name == name for t in i.cfg.track_interfaces)
            ]
            for user in users:
                self.events.emit("tracker_change", user, tracker=name, kind="interface", ok=up)
            if up:
                self.sockets.rejoin(name)
        if changes.changed or faults_changed:
            self._update_tracking()

    def _log_addresses_at_start(self) -> None:
        """-a at start: each address the kernel has, as keepalived's first dump of them."""
        try:
            present = self.netlink.addresses(family=0)
        except OSError as exc:
            log.error("cannot read addresses: %s", exc)
            return
        for info in present:
            self._log_address(info, True)

    def _log_address(self, info: AddressInfo, added: bool) -> None:
        where = "added to" if added else "removed from"
        name = self.links.name_of(info.index)
        log.info("Netlink reflector reports IP %s %s %s", info.address, where, name)

    def _vip_deleted(self, info: AddressInfo) -> None:
        """keepalived's answer to one of a master's VIPs deleted behind its back (``ip addr
        del``): it logs it, leaves MASTER (a priority-0 advert, its other addresses
        removed) and takes over again after Skew_Time unless another master is heard, so
        the address comes back within a second (set_vrrp_backup in vrrp_netlink.c). The
        kernel is asked first: the notice of a deletion of our own (leaving MASTER, a
        reload) may arrive after the address was put back."""
        for inst in list(self.instances.values()):
            if inst.machine.state is not State.MASTER:
                continue
            vip = next(
                (
                    v
                    for v in inst.vips
                    if v.index == info.index and v.address == info.address
                    and v.key in inst.installed
                ),
                None,
            )  # fmt: skip
            if vip is None:
                continue
            present = self.netlink.addresses(vip.index, vip.family)
            if any(a.address == vip.address for a in present):
                continue
            if self.detail:
                log.info("Netlink reflector reports IP %s removed from %s", vip.address, vip.dev)
            self.vips.gone(inst, vip, "deleted")
            self._apply(inst, inst.machine.step_down(self.loop.time(), "VIP deleted"))

    def _routing_changed(self, change: RoutingChange) -> None:
        """A route or rule changed: a static one of ours deleted is put back; a master
        whose tracked virtual route or rule was deleted leaves MASTER."""
        for inst in self.routing.on_change(change, list(self.instances.values())):
            if inst.machine.state is not State.MASTER:
                continue
            log.info("(%s) virtual %s deleted: leaving MASTER state", inst.name, change.kind)
            self._apply(inst, inst.machine.step_down(self.loop.time(), f"{change.kind} deleted"))

    def _send_advert(self, inst: Instance, priority: int) -> None:
        if inst.sock is None:
            if self.detail:
                log.info("(%s) cannot send advert: %s is missing", inst.name, inst.cfg.interface)
            return
        sock = inst.sock
        interval = inst.machine.advert_int_field
        for dst in inst.destinations:
            key = (priority, interval, inst.advert_addresses, inst.src, dst)
            payload = inst.advert_cache.get(key)
            if payload is None:
                if len(inst.advert_cache) >= 64:  # priorities come and go: keep it small
                    inst.advert_cache.clear()
                payload = inst.advert_cache[key] = encode(
                    VrrpAdvert(
                        version=inst.cfg.version,
                        vrid=inst.machine.params.vrid,
                        priority=priority,
                        advert_int=interval,
                        addresses=inst.advert_addresses,
                        auth_type=inst.auth_type,
                        auth_data=inst.auth_data,
                        family=inst.family,
                    ),
                    inst.src,
                    dst,
                    old_checksum=inst.old_checksum,
                )
            try:
                sock.send(payload, inst.src, dst)
                inst.stats.sent(priority)
            except OSError as exc:
                if self.detail:
                    log.info("(%s) cannot send advert to %s: %s", inst.name, dst, exc)

    # --- actions ------------------------------------------------------------------------

    def _on_timer(self, inst: Instance) -> None:
        inst.timer = None
        if not self._is_current(inst):
            return
        now = self.loop.time()
        if self.groups.holds_back(inst, now):
            return
        actions = inst.machine.on_timer(now)
        if any(isinstance(a, StateChange) and a.new is State.MASTER for a in actions):
            # logged once the takeover's advert is on its way (keepalived logs it first;
            # here a log line costs tens of microseconds on the takeover path)
            sent = next((i for i, a in enumerate(actions) if isinstance(a, SendAdvert)), -1)
            actions = [
                *actions[: sent + 1],
                LogNotice("Receive advertisement timeout"),
                *actions[sent + 1 :],
            ]
        self._apply(inst, actions)

    def _schedule(self, inst: Instance) -> None:
        deadline = inst.machine.next_deadline
        if inst.timer is not None:
            if deadline is not None and inst.timer.when == deadline and not inst.timer.cancelled:
                return
            inst.timer.cancel()
            inst.timer = None
        if deadline is not None and not self.stopping:
            inst.timer = self.loop.call_at(deadline, lambda: self._on_timer(inst), precise=True)

    def _apply(self, inst: Instance, actions: Sequence[Action]) -> None:
        # Leaving MASTER, a priority-0 advert lets the backup take over after Skew_Time
        # (60 ms at advert_int 0.1 s): the addresses go right after it, and the log lines
        # about both are written once they are gone, so that no log write on a loaded host
        # keeps the VIP here while the backup adds it.
        held: list[str] = []
        for action in actions:
            if isinstance(action, SendAdvert):
                self._send_advert(inst, action.priority)
                if action.priority == 0:
                    held.append(f"({inst.name}) sent 0 priority")
            elif isinstance(action, AddVips):
                self.vips.add(inst)
                self.routing.add_virtual(inst)
            elif isinstance(action, RemoveVips):
                self.routing.remove_virtual(inst)  # keepalived's order: rules, routes, VIPs
                self.vips.remove(inst, held=held)
                for line in held:
                    log.info("%s", line)
                held.clear()
            elif isinstance(action, SendGratuitousArp):
                self.vips.announce(inst, action.repeat)
            elif isinstance(action, StateChange):
                self._state_change(inst, action)
            elif isinstance(action, NewMasterSeen):
                if self.detail:
                    log.info(
                        "(%s) New master %s, priority %d",
                        inst.name,
                        action.address,
                        action.priority,
                    )
                self.events.emit(
                    "new_master_seen", inst.name, address=action.address, priority=action.priority
                )
            elif isinstance(action, PriorityChange):
                log.info(
                    "(%s) Changing effective priority from %d to %d",
                    inst.name,
                    action.old,
                    action.new,
                )
                self.events.emit("priority_change", inst.name, old=action.old, new=action.new)
            elif isinstance(action, LowerPriorityAdvertSeen):
                if self.detail:
                    log.info(
                        "(%s) Received advert from %s with lower priority %d, ours %d,"
                        " forcing new election",
                        inst.name,
                        action.address,
                        action.priority,
                        inst.machine.effective_priority,
                    )
                # keepalived's send_event_notify(): the script, with no argument
                script = inst.cfg.notify_master_rx_lower_pri
                command = NotifyCommand.of(script) if script is not None else None
                if command is not None:
                    self._run(command)
            elif isinstance(action, LogNotice) and (self.detail or not action.detail):
                log.info("(%s) %s", inst.name, action.message)
        for line in held:
            log.info("%s", line)
        self._schedule(inst)
        self.groups.follow(inst, actions)

    def _state_change(self, inst: Instance, change: StateChange) -> None:
        new = change.new.value
        inst.wants_master = False
        inst.last_transition = time.time()
        if change.new is State.MASTER:
            inst.stats.become_master += 1
        elif change.old is State.MASTER:
            inst.stats.release_master += 1
        if change.new is State.BACKUP and change.old is State.INIT:
            log.info("(%s) Entering BACKUP STATE (init)", inst.name)
        elif change.new is State.STOP:
            log.info("(%s) Stopped", inst.name)
        else:
            log.info("(%s) Entering %s STATE", inst.name, new)
        if self.detail:
            log.info("(%s) %s -> %s: %s", inst.name, change.old, new, change.reason)
        priority = inst.machine.effective_priority
        self.events.emit(
            "state_change",
            inst.name,
            old=change.old.value,
            new=new,
            reason=change.reason,
            priority=priority,
        )
        cfg = inst.cfg
        specific = {
            "MASTER": cfg.notify_master,
            "BACKUP": cfg.notify_backup,
            "FAULT": cfg.notify_fault,
            "STOP": cfg.notify_stop,
        }.get(new)
        for command in notify_runs(
            kind="INSTANCE",
            name=inst.name,
            state=new,
            priority=priority,
            specific=specific,
            generic=cfg.notify,
        ):
            self._run(command)
        if self.email.enabled and self.mail_policy.should_mail(
            "INSTANCE", inst.name, cfg.smtp_alert, new
        ):
            self.email.instance_alert(inst.name, new)
        if inst.group:
            self.groups.report(inst.group)


def _printable(text: str) -> str:
    """A message with any non-UTF-8 byte of the file shown as ``\\xNN``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _noop_handler(signum: int, frame: object) -> None:
    del signum, frame  # the wakeup fd carries the signal to the loop

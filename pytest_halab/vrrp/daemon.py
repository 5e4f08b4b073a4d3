"""halab-vrrpd: a keepalived-compatible VRRP daemon (VRRPv2/v3, IPv4).

Reads an unchanged keepalived.conf and takes keepalived's command-line flags. One
selector loop drives everything: the raw VRRP sockets, a netlink monitor (link and IPv4
address changes), script children (pidfds) and a heap of monotonic deadlines. The loop
sleeps exactly until the nearest deadline: there is no polling tick.

Interfaces may come and go, as keepalived 2.2 allows: an instance whose interface is
deleted goes to FAULT (a master drops its addresses) and its socket is closed; when an
interface of that name appears again (a new ifindex, e.g. created as ``eth1`` and renamed),
the socket is reopened on it, the primary address re-read, and once it is up with an IPv4
address the instance leaves FAULT for BACKUP. An interface with no IPv4 address keeps its
instances in FAULT until one is added.

Sync group members move together, as keepalived's vrrp_sync.c: into FAULT when one is; to
MASTER only once every member's master-down timer has run out (one that still hears a
master keeps the whole group BACKUP), then all at once; to BACKUP when one loses an
election. state.py has no way to force a state, so the daemon feeds members adverts it
makes up (never sent): priority 0 (then the Skew_Time timer is run) or priority 255.

Signals: SIGTERM/SIGINT: every master sends a priority-0 advert and removes its addresses,
then exit 0. SIGHUP: reload the configuration (unchanged instances keep their state and
addresses; changed ones restart). SIGUSR1: log packet counters.

``--event-log FILE`` writes one JSON object a line per event, each with ``ts`` (wall
clock, integer microseconds since the epoch), ``event``, ``instance`` and fields.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import heapq
import itertools
import json
import logging
import logging.handlers
import os
import select
import selectors
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from pytest_halab.vrrp.config import (
    KeepalivedConfig,
    VrrpInstance,
    config_test_exit_status,
    load_config,
)
from pytest_halab.vrrp.net import AddressInfo, GarpSender, LinkInfo, Netlink, VrrpSocket
from pytest_halab.vrrp.packet import (
    VRRP_MCAST_GROUP,
    VRRP_PROTO,
    AuthType,
    MalformedPacket,
    ReceiveExpectation,
    VrrpAdvert,
    check_advert,
    decode,
    encode,
    parse_ipv4,
    password_auth_data,
)
from pytest_halab.vrrp.state import (
    PRIORITY_OWNER,
    Action,
    AddVips,
    InstanceParams,
    LogNotice,
    LowerPriorityAdvertSeen,
    NewMasterSeen,
    PriorityChange,
    RemoveVips,
    SendAdvert,
    SendGratuitousArp,
    State,
    StateChange,
    VrrpInstanceMachine,
)
from pytest_halab.vrrp.track import (
    EmailAlerter,
    ProcessRunner,
    ScriptTracker,
    TrackedItem,
    notify_commands,
    tracking_result,
)

__all__ = ["Daemon", "EventLog", "EventLoop", "main", "parse_args"]

VERSION = "halab-vrrpd 0.1.0 (keepalived 2.2.7 compatible)"
log = logging.getLogger("halab-vrrpd")

# An instance's own fault reasons (besides tracking): its interface is missing, or has
# no IPv4 address to send adverts from.
_NO_INTERFACE = "no interface"
_NO_ADDRESS = "no address"
# Source of the adverts the daemon makes up to move a sync group member (never sent).
_SYNC_SRC = "0.0.0.0"


# --- event loop ----------------------------------------------------------------------


_FINE_WAIT = 0.002  # the last 2 ms before a deadline are waited with select(2)
_KERNEL_SLACK = 0.0011  # epoll_wait's timer slack is 0.1 % of the timeout
# The last 0.3 ms before a protocol deadline (advert, master down) are polled: a wake-up
# from select(2) lands 0.15 ms late at the median and 0.4 ms at p90 on a busy 2-core host,
# a poll 0.03 / 0.04 ms. It costs 0.3 ms of CPU per deadline: 0.03 % of a core at advert 1 s.
_SPIN = 0.0003


class _Timer:
    __slots__ = ("callback", "cancelled", "precise", "when")

    def __init__(self, when: float, callback: Callable[[], None], precise: bool = False) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.precise = precise

    def cancel(self) -> None:
        self.cancelled = True


class EventLoop:
    """Readers on a selector plus timers on a heap of monotonic deadlines."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self.wakeups = 0

    def time(self) -> float:
        return time.monotonic()

    def call_at(
        self, when: float, callback: Callable[[], None], *, precise: bool = False
    ) -> _Timer:
        """Run ``callback`` at ``when``; ``precise`` timers are polled for their last
        0.3 ms instead of slept for (the VRRP protocol's own deadlines)."""
        timer = _Timer(when, callback, precise)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self._selector.register(fd, selectors.EVENT_READ, callback)

    def remove_reader(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def next_deadline(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def run_once(self, max_wait: float | None = None) -> None:
        """Wait for the first reader or deadline (or ``max_wait``), run what is due.

        Linux lets epoll_wait oversleep by 0.1 % of its timeout (``select_estimate_accuracy``:
        3.6 ms on a 3.6 s master-down timer) and counts in whole milliseconds, where
        keepalived's timerfd is exact. So a long wait stops a little early and the rest is
        waited with select(2) on the epoll descriptor, which takes microseconds and whose
        slack on a short timeout is the 50 us timer slack.
        """
        deadline = self.next_deadline()
        if max_wait is not None:
            limit = self.time() + max_wait
            deadline = limit if deadline is None else min(deadline, limit)
        events = self._wait(deadline)
        self.wakeups += 1
        for key, _mask in events:
            self._call(key.data)
        now = self.time()
        while self._timers and self._timers[0][0] <= now:
            _when, _seq, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                self._call(timer.callback)

    @staticmethod
    def _call(callback: Callable[[], None]) -> None:
        # One failing handler must not take the daemon (and its VIPs) down with it.
        try:
            callback()
        except Exception:
            log.exception("internal error in the event loop (continuing)")

    def _wait(self, deadline: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        if deadline is None:
            return self._selector.select(None)
        remaining = deadline - self.time()
        if remaining > _FINE_WAIT:
            coarse = remaining * (1 - _KERNEL_SLACK) - _FINE_WAIT
            events = self._selector.select(coarse)
            if events:
                return events
            remaining = deadline - self.time()
        fd = self._selector.fileno() if hasattr(self._selector, "fileno") else -1
        spin = _SPIN if fd >= 0 and self._timers and self._timers[0][2].precise else 0.0
        if remaining > spin:
            if fd >= 0:
                ready, _, _ = select.select([fd], [], [], remaining - spin)
                if ready:
                    return self._selector.select(0)
            else:
                time.sleep(remaining)
        while spin and self.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0)
            if ready:
                break
        return self._selector.select(0)

    def close(self) -> None:
        self._selector.close()


# --- event log -----------------------------------------------------------------------


class EventLog:
    """JSON lines, one event each, flushed at once (observers tail the file)."""

    def __init__(self, path: str | None) -> None:
        self._fh: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self.counts: Counter[str] = Counter()

    def emit(self, event: str, instance: str | None, **fields: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "ts": time.time_ns() // 1000,
            "event": event,
            "instance": instance,
            **fields,
        }
        self.counts[event] += 1
        if self._fh is not None:
            self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._fh.flush()
        return record

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# --- instances -----------------------------------------------------------------------


@dataclass
class Vip:
    """One virtual address of an instance, resolved to its interface."""

    address: str
    prefixlen: int
    dev: str
    index: int
    label: str | None
    broadcast: str | None
    scope: str | None

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.address, self.prefixlen, self.dev)


@dataclass
class Instance:
    """A running vrrp_instance: its config, state machine, socket and tracking."""

    cfg: VrrpInstance
    machine: VrrpInstanceMachine
    sock: VrrpSocket | None  # None while the interface is missing
    src: str
    expectation: ReceiveExpectation
    vips: list[Vip]
    advert_addresses: tuple[str, ...]
    auth_type: int
    auth_data: bytes
    destinations: tuple[str, ...]
    group: str | None = None
    installed: set[tuple[str, int, str]] = field(default_factory=set)
    timer: Any = None
    own_fault: bool = False
    fault_reasons: tuple[str, ...] = ()
    wants_master: bool = False  # sync group: master-down ran out, no master heard since
    drops: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    received: int = 0

    @property
    def name(self) -> str:
        return self.cfg.name


def _identity(cfg: VrrpInstance) -> dict[str, Any]:
    """The config of an instance minus where it was written: equal means unchanged."""
    data = {k: v for k, v in vars(cfg).items() if k not in ("line", "file")}
    data["vips"] = [(v.address, v.prefixlen, v.dev, v.label, v.brd, v.scope) for v in cfg.vips]
    data["track_interfaces"] = [(t.name, t.weight, t.reverse) for t in cfg.track_interfaces]
    data["track_scripts"] = [(t.name, t.weight, t.reverse) for t in cfg.track_scripts]
    data.pop("excluded_vips", None)
    return data


def _machine_identity(cfg: VrrpInstance) -> dict[str, Any]:
    """What the state machine and socket depend on: if equal, a reload keeps the state."""
    data = _identity(cfg)
    for name in (
        "vips",
        "track_interfaces",
        "track_scripts",
        "notify_master",
        "notify_backup",
        "notify_fault",
        "notify_stop",
        "notify",
        "smtp_alert",
        "sync_group",
    ):
        data.pop(name, None)
    # A new priority is applied in place (SIGHUP must not drop the VIPs of a master whose
    # priority changed); only becoming or ceasing to be the address owner restarts.
    data["priority"] = cfg.priority == PRIORITY_OWNER
    data.pop("configured_priority", None)
    return data


class Daemon:
    """Wires config, state machines, sockets, tracking and the event loop."""

    def __init__(
        self,
        config_path: str,
        *,
        event_log: EventLog | None = None,
        log_detail: bool = False,
        loop: EventLoop | None = None,
    ) -> None:
        self.config_path = config_path
        self.loop = loop or EventLoop()
        self.events = event_log or EventLog(None)
        self.detail = log_detail
        self.netlink = Netlink()
        self.runner = ProcessRunner(self.loop)
        self.garp = GarpSender()
        self.config = KeepalivedConfig()
        self.instances: dict[str, Instance] = {}
        self.sockets: dict[str, VrrpSocket] = {}
        self.scripts: dict[str, ScriptTracker] = {}
        self.links: dict[str, bool] = {}  # interface name -> up and running
        self.ifindex: dict[str, int] = {}  # interface name -> ifindex
        self._ifnames: dict[int, str] = {}  # ifindex -> interface name
        self.group_states: dict[str, str] = {}
        self.email = EmailAlerter(server=None)
        self.malformed = 0
        self.stopping = False
        self.exit_code = 0
        self._syncing = False
        self._garp_next: dict[str, float] = {}  # interface -> earliest next paced GARP
        self._monitor = Netlink.monitor()
        self.loop.add_reader(self._monitor.fileno(), self._on_netlink)
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)

    # --- lifecycle --------------------------------------------------------------------

    def load(self) -> bool:
        """Read the configuration; log its diagnostics. False if nothing can run."""
        cfg, diags = load_config(self.config_path)
        for diag in diags:
            level = logging.WARNING if diag.severity == "warning" else logging.ERROR
            log.log(level, "%s", diag)
        if any(d.kind == "file_not_found" for d in diags):
            return False
        self.config = cfg
        gd = cfg.global_defs
        self.email = EmailAlerter(
            server=gd.smtp_server,
            port=gd.smtp_port,
            recipients=gd.notification_email,
            sender=gd.notification_email_from,
            router_id=gd.router_id,
            timeout=gd.smtp_connect_timeout,
        )
        self.runner = ProcessRunner(self.loop, user=gd.script_user)
        return True

    def start(self) -> None:
        """Open sockets, start trackers and every instance (BACKUP/FAULT/owner MASTER)."""
        self._install_signals()
        self._refresh_links()
        self._start_scripts()
        for cfg in self.config.instances.values():
            inst = self._build(cfg)
            if inst is not None:
                self.instances[cfg.name] = inst
        for inst in self.instances.values():
            self._remove_stale_vips(inst)
        self._update_tracking(initial=True)
        now = self.loop.time()
        for inst in list(self.instances.values()):
            self._apply(inst, inst.machine.start(now))

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status."""
        # Everything built at start-up lives until exit: keep it out of the collector's
        # scans, so that a collection never delays a timer by walking the parsed config.
        gc.freeze()
        while not self.stopping:
            self.loop.run_once()
        return self.exit_code

    def shutdown(self) -> None:
        """Every master sends priority 0 and drops its addresses; everything closes."""
        now = self.loop.time()
        for inst in list(self.instances.values()):
            self._apply(inst, inst.machine.shutdown(now))
            if inst.timer is not None:
                inst.timer.cancel()
        for tracker in self.scripts.values():
            tracker.stop()
        self.runner.kill_all()
        for sock in self.sockets.values():
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()
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

    # --- signals ----------------------------------------------------------------------

    def _install_signals(self) -> None:
        self.loop.add_reader(self._wakeup_r.fileno(), self._on_signal)
        signal.set_wakeup_fd(self._wakeup_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(sig, _noop_handler)

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
                self.reload()
            elif signum == signal.SIGUSR1:
                self._log_stats()

    def _log_stats(self) -> None:
        log.info("malformed packets dropped: %d", self.malformed)
        for inst in self.instances.values():
            log.info(
                "(%s) state %s priority %d sent %d received %d dropped %s",
                inst.name,
                inst.machine.state,
                inst.machine.effective_priority,
                inst.sent,
                inst.received,
                dict(inst.drops),
            )

    # --- building instances -----------------------------------------------------------

    def _socket_for(self, interface: str, multicast: bool, index: int) -> VrrpSocket:
        sock = self.sockets.get(interface)
        if sock is not None and sock.index != index:
            self._close_socket(interface)  # bound to an interface that has gone
            sock = None
        if sock is None:
            sock = VrrpSocket(interface, multicast=multicast, index=index)
            self.sockets[interface] = sock
            self.loop.add_reader(sock.fileno(), functools.partial(self._on_readable, sock))
        elif multicast:
            sock.join()
        return sock

    def _close_socket(self, interface: str) -> None:
        """Close the VRRP socket of ``interface``; its instances are left without one."""
        sock = self.sockets.pop(interface, None)
        if sock is None:
            return
        self.loop.remove_reader(sock.fileno())
        sock.close()
        for inst in self.instances.values():
            if inst.sock is sock:
                inst.sock = None

    def _index_of(self, name: str) -> int | None:
        index = self.ifindex.get(name)
        if index is None:
            try:
                index = socket.if_nametoindex(name)
            except OSError:
                return None
        return index

    def _resolve_vips(self, cfg: VrrpInstance, interface: str, *, quiet: bool = False) -> list[Vip]:
        vips = []
        for vip in cfg.vips:
            if ":" in vip.address:
                if not quiet:
                    log.warning(
                        "(%s) IPv6 address %s is not supported, ignored", cfg.name, vip.address
                    )
                continue
            dev = vip.dev or interface
            index = self._index_of(dev)
            if index is None:
                if not quiet:
                    log.error("(%s) interface %s of VIP %s not found", cfg.name, dev, vip.address)
                continue
            vips.append(Vip(vip.address, vip.prefixlen, dev, index, vip.label, vip.brd, vip.scope))
        return vips

    def _flag(self, cfg: VrrpInstance, name: str) -> bool:
        """An instance flag, defaulting to the global ``vrrp_NAME`` as keepalived does."""
        value = cfg.options.get(name) or self.config.global_defs.options.get(f"vrrp_{name}")
        return value == ["true"]

    def _build(self, cfg: VrrpInstance) -> Instance | None:
        interface = cfg.interface
        if interface is None or cfg.vrid is None:
            log.error("(%s) no interface or virtual_router_id: instance not started", cfg.name)
            return None
        index = self._index_of(interface)
        if index is None and not self.config.global_defs.dynamic_interfaces:
            log.error("(%s) Unknown interface %s: instance not started", cfg.name, interface)
            return None
        unicast = bool(cfg.unicast_peers)
        vips = self._resolve_vips(cfg, interface)
        exclude = frozenset(v.address for v in vips)
        src = cfg.unicast_src_ip if unicast else cfg.mcast_src_ip
        if src is None and index is not None:
            src = self.netlink.primary_address(index, exclude)
        no_address = src is None
        sock: VrrpSocket | None = None
        if index is not None:
            try:
                sock = self._socket_for(interface, not unicast, index)
            except OSError as exc:
                log.error("(%s) cannot open VRRP socket on %s: %s", cfg.name, interface, exc)
                return None
        params = InstanceParams(
            name=cfg.name,
            vrid=cfg.vrid,
            primary_address=src or "0.0.0.0",
            version=cfg.version,
            priority=cfg.priority,
            advert_interval=cfg.advert_int,
            initial_state=State.MASTER if cfg.state == "MASTER" else State.BACKUP,
            nopreempt=cfg.nopreempt,
            preempt_delay=cfg.preempt_delay,
            down_timer_adverts=_int_option(cfg, "down_timer_adverts", 3),
            garp_master_delay=cfg.garp_master_delay,
            garp_master_repeat=cfg.garp_master_repeat,
            garp_master_refresh=cfg.garp_master_refresh,
            garp_master_refresh_repeat=cfg.garp_master_refresh_repeat,
            lower_prio_no_advert=self._flag(cfg, "lower_prio_no_advert"),
            higher_prio_send_advert=self._flag(cfg, "higher_prio_send_advert"),
        )
        machine = VrrpInstanceMachine(params)
        for warning in machine.config_warnings:
            log.warning("(%s) %s", cfg.name, warning)
        addresses = tuple(v.address for v in vips)
        auth_type, auth_data = AuthType.NONE, b""
        if cfg.version == 2 and cfg.auth_type == "PASS":
            auth_type, auth_data = AuthType.PASS, password_auth_data(cfg.auth_pass or "")
        elif cfg.version == 2 and cfg.auth_type == "AH":
            log.warning("(%s) AH authentication is not supported, sending none", cfg.name)
        expectation = ReceiveExpectation(
            version=cfg.version,
            vrid=cfg.vrid,
            advert_int=machine.advert_int_field,
            addresses=addresses,
            auth_type=auth_type,
            auth_data=auth_data,
            unicast_peers=tuple(cfg.unicast_peers),
            check_unicast_src="check_unicast_src" in cfg.options,
        )
        inst = Instance(
            cfg=cfg,
            machine=machine,
            sock=sock,
            src=src or "0.0.0.0",
            expectation=expectation,
            vips=vips,
            advert_addresses=addresses,
            auth_type=auth_type,
            auth_data=auth_data,
            destinations=tuple(cfg.unicast_peers) if unicast else (VRRP_MCAST_GROUP,),
            group=cfg.sync_group,
        )
        if index is None:
            log.warning(
                "(%s) interface %s does not exist: FAULT until it appears", cfg.name, interface
            )
            inst.fault_reasons = (_NO_INTERFACE,)
        elif no_address:
            log.error("(%s) no IPv4 address on %s: FAULT until one is added", cfg.name, interface)
            inst.fault_reasons = (_NO_ADDRESS,)
        return inst

    def _remove_stale_vips(self, inst: Instance) -> None:
        """A previous run killed with SIGKILL may have left our addresses behind."""
        if inst.cfg.priority >= 255:
            return
        present = {(a.address, a.prefixlen, a.index) for a in self.netlink.addresses()}
        for vip in inst.vips:
            if (vip.address, vip.prefixlen, vip.index) in present:
                log.info("(%s) removing stale VIP %s/%d", inst.name, vip.address, vip.prefixlen)
                self.netlink.delete_address(vip.index, vip.address, vip.prefixlen)

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
                on_change=self._on_script_change,
            )
            self.scripts[name] = tracker
            tracker.start()

    # --- tracking -----------------------------------------------------------------------

    def _refresh_links(self) -> None:
        try:
            links = self.netlink.links()
        except OSError as exc:
            log.error("cannot read links: %s", exc)
            return
        self.links = {link.name: link.up for link in links}
        self.ifindex = {link.name: link.index for link in links}
        self._ifnames = {link.index: link.name for link in links}

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
                TrackedItem(
                    "interface", ti.name, ti.weight, ti.reverse, self.links.get(ti.name, False)
                )
            )
        if not inst.cfg.dont_track_primary and inst.cfg.interface:
            up = self.links.get(inst.cfg.interface, False)
            items.append(TrackedItem("interface", inst.cfg.interface, 0, False, up))
        group = self.config.sync_groups.get(inst.group or "")
        if group is not None:
            for name in group.track_scripts:
                tracker = self.scripts.get(name)
                items.append(TrackedItem("script", name, 0, False, tracker is None or tracker.ok))
            for name in group.track_interfaces:
                items.append(TrackedItem("interface", name, 0, False, self.links.get(name, False)))
        return items

    def _update_tracking(self, *, initial: bool = False) -> None:
        """Recompute every instance's fault and priority, sync groups included."""
        now = self.loop.time()
        results: dict[str, tuple[bool, int]] = {}
        for inst in self.instances.values():
            fault, prio = tracking_result(inst.cfg.priority, self._tracked(inst))
            inst.own_fault = fault or bool(inst.fault_reasons)
            results[inst.name] = (inst.own_fault, prio)
        for inst in list(self.instances.values()):
            fault, prio = results[inst.name]
            group = self.config.sync_groups.get(inst.group or "")
            if group is not None:
                fault = any(results[m][0] for m in group.members if m in results)
            actions: list[Action] = []
            actions += inst.machine.set_effective_priority(now, prio)
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

    def handle_netlink_events(self, events: Sequence[LinkInfo | tuple[str, AddressInfo]]) -> None:
        """Apply link and address changes: tracking, and interfaces coming and going."""
        changed: list[tuple[str, bool]] = []  # (name, up) for tracking
        touched: set[str] = set()  # names that appeared, vanished or changed ifindex
        addressed: set[int] = set()  # ifindexes whose IPv4 addresses changed
        for ev in events:
            if not isinstance(ev, LinkInfo):
                addressed.add(ev[1].index)
            elif ev.index == 0:  # events were lost: re-read everything
                old, old_index = dict(self.links), dict(self.ifindex)
                self._refresh_links()
                changed += [(n, u) for n, u in self.links.items() if old.get(n, False) != u]
                changed += [(n, False) for n, u in old.items() if u and n not in self.links]
                names = old_index.keys() | self.ifindex.keys()
                touched |= {n for n in names if old_index.get(n) != self.ifindex.get(n)}
                addressed |= set(self.ifindex.values())
            else:
                changed += self._link_event(ev, touched)
        for name in touched:
            self.garp.forget(name)  # its packet socket is bound to the old ifindex
        faults_changed = False
        for inst in list(self.instances.values()):
            interface = inst.cfg.interface or ""
            if interface in touched or any(v.dev in touched for v in inst.cfg.vips if v.dev):
                faults_changed |= self._attach(inst)
            elif self.ifindex.get(interface) in addressed:
                faults_changed |= self._check_address(inst)
        for name, up in changed:
            log.info("Netlink reports %s %s", name, "up" if up else "down")
            users = [
                i.name
                for i in self.instances.values()
                if i.cfg.interface == name or any(t.name == name for t in i.cfg.track_interfaces)
            ]
            for user in users:
                self.events.emit("tracker_change", user, tracker=name, kind="interface", ok=up)
            if up and name in self.sockets:
                with contextlib.suppress(OSError):
                    self.sockets[name].join()
        if changed or faults_changed:
            self._update_tracking()

    def _link_event(self, ev: LinkInfo, touched: set[str]) -> list[tuple[str, bool]]:
        """Record one link event; return the (name, up) changes it makes."""
        changes: list[tuple[str, bool]] = []
        old_name = self._ifnames.get(ev.index, ev.name if ev.deleted else None)
        if old_name is not None and (ev.deleted or old_name != ev.name):
            # The name this ifindex had is gone: the interface was deleted or renamed.
            if ev.deleted:
                log.info("Interface %s deleted", old_name)
                self.events.emit("interface_deleted", None, interface=old_name, index=ev.index)
            else:
                log.info("Interface name has changed from %s to %s", old_name, ev.name)
            self._ifnames.pop(ev.index, None)
            if self.ifindex.get(old_name) == ev.index:
                del self.ifindex[old_name]
                touched.add(old_name)
                if self.links.pop(old_name, False):
                    changes.append((old_name, False))
        if ev.deleted:
            return changes
        if self.ifindex.get(ev.name) != ev.index:
            log.info("Interface %s added", ev.name)
            self.events.emit("interface_added", None, interface=ev.name, index=ev.index)
            previous = self.ifindex.get(ev.name)
            if previous is not None:
                self._ifnames.pop(previous, None)
            self.ifindex[ev.name] = ev.index
            self._ifnames[ev.index] = ev.name
            touched.add(ev.name)
        was = self.links.get(ev.name)
        self.links[ev.name] = ev.up
        if was != ev.up and (was is not None or ev.up):  # a new, down link: no news
            changes.append((ev.name, ev.up))
        return changes

    def _set_fault_reason(self, inst: Instance, reason: str, present: bool) -> bool:
        """Add or drop one of the instance's own fault reasons; True if that changed."""
        if (reason in inst.fault_reasons) == present:
            return False
        if present:
            inst.fault_reasons += (reason,)
        else:
            inst.fault_reasons = tuple(r for r in inst.fault_reasons if r != reason)
        return True

    def _attach(self, inst: Instance) -> bool:
        """Follow the instance's interfaces after one appeared, vanished or was replaced:
        VIP ifindexes, the VRRP socket, the source address. True if its faults changed."""
        interface = inst.cfg.interface or ""
        self._refresh_vips(inst)
        index = self.ifindex.get(interface)
        if index is None:
            if inst.sock is not None:
                self._close_socket(interface)
            inst.sock = None
            return self._set_fault_reason(inst, _NO_INTERFACE, True)
        if inst.sock is None or inst.sock.index != index:
            try:
                inst.sock = self._socket_for(interface, not inst.cfg.unicast_peers, index)
            except OSError as exc:
                log.error("(%s) cannot open VRRP socket on %s: %s", inst.name, interface, exc)
                inst.sock = None
                return self._set_fault_reason(inst, _NO_INTERFACE, True)
            log.info("(%s) VRRP socket open on %s (ifindex %d)", inst.name, interface, index)
        changed = self._set_fault_reason(inst, _NO_INTERFACE, False)
        return self._check_address(inst) or changed

    def _refresh_vips(self, inst: Instance) -> None:
        """Re-resolve VIP ifindexes. Addresses on a deleted interface went with it."""
        interface = inst.cfg.interface or ""
        resolved = {v.key: v for v in self._resolve_vips(inst.cfg, interface, quiet=True)}
        vips: list[Vip] = []
        for vip in inst.vips:
            new = resolved.pop(vip.key, None)
            if new is None and vip.key in inst.installed:
                inst.installed.discard(vip.key)
                self.events.emit(
                    "vip_removed",
                    inst.name,
                    address=vip.address,
                    prefixlen=vip.prefixlen,
                    dev=vip.dev,
                    reason="interface deleted",
                )
            vips.append(new or vip)
        if resolved:  # VIPs whose interface did not exist when the instance was built
            vips += resolved.values()
            inst.advert_addresses = tuple(v.address for v in vips)
            inst.expectation = replace(inst.expectation, addresses=inst.advert_addresses)
        inst.vips = vips
        if inst.machine.state is State.MASTER and any(
            v.key not in inst.installed and v.dev in self.ifindex for v in vips
        ):
            self._add_vips(inst)

    def _check_address(self, inst: Instance) -> bool:
        """Re-read the primary address (unless configured); True if the fault changed."""
        cfg = inst.cfg
        if (cfg.unicast_src_ip if cfg.unicast_peers else cfg.mcast_src_ip) is not None:
            return False
        index = self.ifindex.get(cfg.interface or "")
        if index is None:
            return False
        exclude = frozenset(v.address for v in inst.vips)
        try:
            src = self.netlink.primary_address(index, exclude)
        except OSError as exc:
            log.error("(%s) cannot read addresses: %s", inst.name, exc)
            return False
        if src is None:
            if _NO_ADDRESS not in inst.fault_reasons:
                log.info("(%s) no IPv4 address on %s", inst.name, cfg.interface)
            return self._set_fault_reason(inst, _NO_ADDRESS, True)
        if src != inst.src:
            self._change_source(inst, src)
        return self._set_fault_reason(inst, _NO_ADDRESS, False)

    def _change_source(self, inst: Instance, src: str) -> None:
        """Adverts go from the new primary address. Out of service (FAULT), the state
        machine is rebuilt so ties are broken with it too; in service it keeps the old
        one for tie-breaking until the instance next goes through FAULT."""
        log.info("(%s) source address changed from %s to %s", inst.name, inst.src, src)
        inst.src = src
        old = inst.machine
        if old.state not in (State.FAULT, State.INIT):
            return
        machine = VrrpInstanceMachine(replace(old.params, primary_address=src))
        if old.state is State.FAULT:
            now = self.loop.time()
            machine.set_fault(now, True)
            machine.start(now)  # INIT -> FAULT, already reported by the old machine
            machine.set_effective_priority(now, old.effective_priority)
        inst.machine = machine

    # --- packets ------------------------------------------------------------------------

    def _on_readable(self, sock: VrrpSocket) -> None:
        while True:
            got = sock.receive_stamped()
            if got is None:
                return
            data, arrived = got
            self._on_packet(sock, data, arrived=arrived)

    def _drop_malformed(self, sock: VrrpSocket, reason: str, src: str | None) -> None:
        self.malformed += 1
        if self.detail:
            log.info("Malformed VRRP packet on %s from %s dropped: %s", sock.interface, src, reason)
        self.events.emit("malformed_packet", None, reason=reason, src=src, interface=sock.interface)

    def _arrival(self, arrived: float | None) -> float:
        """The loop-clock time of a packet's arrival from its kernel wall-clock stamp.

        Timers armed by an advert (master down) then count from its arrival, as keepalived's
        do, and not from the moment this process read it. A stamp from the future or more
        than a second old (the wall clock was stepped) is ignored.
        """
        now = self.loop.time()
        if arrived is None:
            return now
        age = time.time() - arrived
        return now - age if 0.0 <= age < 1.0 else now

    def _on_packet(self, sock: VrrpSocket, data: bytes, *, arrived: float | None = None) -> None:
        now = self._arrival(arrived)
        try:
            pkt = parse_ipv4(data)
        except MalformedPacket as exc:
            self._drop_malformed(sock, exc.reason, None)
            return
        if pkt.proto != VRRP_PROTO:
            return
        try:
            advert = decode(pkt.payload, pkt.src, pkt.dst)
        except MalformedPacket as exc:
            self._drop_malformed(sock, exc.reason, pkt.src)
            return
        for inst in list(self.instances.values()):
            if inst.sock is not sock or inst.cfg.vrid != advert.vrid:
                continue
            if pkt.src == inst.src:
                continue  # our own advert (looped back)
            master = inst.machine.master
            skip = inst.cfg.options.get("skip_check_adv_addr") == ["true"] and master is not None
            drop = check_advert(
                advert,
                pkt.ttl,
                inst.expectation,
                src=pkt.src,
                dst=pkt.dst,
                check_addresses=not (skip and master is not None and master[0] == pkt.src),
            )
            if drop is not None:
                inst.drops[drop.code] += 1
                if drop.error:
                    if self.detail:
                        log.info(
                            "(%s) advert from %s dropped: %s", inst.name, pkt.src, drop.message
                        )
                    self.events.emit(
                        "advert_dropped",
                        inst.name,
                        reason=drop.code,
                        message=drop.message,
                        src=pkt.src,
                    )
                continue
            inst.received += 1
            machine = inst.machine
            if advert.priority >= machine.effective_priority or machine.nopreempt:
                inst.wants_master = False  # a master is there (or one is leaving)
            self._apply(inst, machine.on_advert(now, pkt.src, advert))

    def _send_advert(self, inst: Instance, priority: int) -> None:
        if inst.sock is None:
            if self.detail:
                log.info("(%s) cannot send advert: %s is missing", inst.name, inst.cfg.interface)
            return
        advert = VrrpAdvert(
            version=inst.cfg.version,
            vrid=inst.machine.params.vrid,
            priority=priority,
            advert_int=inst.machine.advert_int_field,
            addresses=inst.advert_addresses,
            auth_type=inst.auth_type,
            auth_data=inst.auth_data,
        )
        sock = inst.sock
        for dst in inst.destinations:
            try:
                sock.send(encode(advert, inst.src, dst), inst.src, dst)
                inst.sent += 1
            except OSError as exc:
                if self.detail:
                    log.info("(%s) cannot send advert to %s: %s", inst.name, dst, exc)
        if priority == 0:
            log.info("(%s) sent 0 priority", inst.name)

    # --- actions ------------------------------------------------------------------------

    def _on_timer(self, inst: Instance) -> None:
        inst.timer = None
        if self.instances.get(inst.name) is not inst:
            return
        now = self.loop.time()
        machine = inst.machine
        deadline = machine.next_deadline
        if (
            inst.group
            and machine.state is State.BACKUP
            and deadline is not None
            and deadline <= now
        ):
            # Master down. In a sync group, go MASTER only when every member wants to
            # (keepalived's vrrp_sync_can_goto_master: prefer BACKUP to thrashing).
            inst.wants_master = True
            waiting = [
                m.name
                for m in self._group_members(inst)
                if m.machine.state is not State.MASTER and not m.wants_master
            ]
            if waiting:
                if self.detail:
                    log.info(
                        "(%s) master down, but sync group %s waits for %s",
                        inst.name,
                        inst.group,
                        " ".join(waiting),
                    )
                self._apply(inst, self._sync_advert(inst, now, PRIORITY_OWNER))
                return
        actions = inst.machine.on_timer(now)
        if any(isinstance(a, StateChange) and a.new is State.MASTER for a in actions):
            log.info("(%s) Receive advertisement timeout", inst.name)
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
        for action in actions:
            if isinstance(action, SendAdvert):
                self._send_advert(inst, action.priority)
            elif isinstance(action, AddVips):
                self._add_vips(inst)
            elif isinstance(action, RemoveVips):
                self._remove_vips(inst)
            elif isinstance(action, SendGratuitousArp):
                self._garp(inst, action.repeat)
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
            elif isinstance(action, LogNotice):
                log.info("(%s) %s", inst.name, action.message)
        self._schedule(inst)
        if inst.group and not self._syncing:
            for action in actions:
                if not isinstance(action, StateChange):
                    continue
                if (action.old, action.new) == (State.BACKUP, State.MASTER):
                    self._sync_group_to(inst, State.MASTER)
                elif (action.old, action.new) == (State.MASTER, State.BACKUP):
                    self._sync_group_to(inst, State.BACKUP)

    # --- sync groups: members move together -------------------------------------------

    def _group_members(self, inst: Instance) -> list[Instance]:
        """The other running members of the instance's sync group."""
        group = self.config.sync_groups.get(inst.group or "")
        if group is None:
            return []
        members = (self.instances.get(name) for name in group.members if name != inst.name)
        return [m for m in members if m is not None]

    def _sync_advert(self, inst: Instance, now: float, priority: int) -> list[Action]:
        """Feed the machine an advert the daemon makes up (never sent): priority 255
        makes a master step down, or re-arms a backup's Master_Down_Timer; priority 0
        shortens a backup's timer to Skew_Time. state.py has no way to force a state,
        and these are the RFC's own transitions. The made-up master is not reported."""
        machine = inst.machine
        unit = 1.0 if machine.params.version == 2 else 0.01
        advert = VrrpAdvert(
            version=machine.params.version,
            vrid=machine.params.vrid,
            priority=priority,
            advert_int=round(machine.master_advert_interval / unit),
            addresses=inst.advert_addresses,
        )
        actions = machine.on_advert(now, _SYNC_SRC, advert)
        return [a for a in actions if not isinstance(a, NewMasterSeen)]

    def _sync_group_to(self, cause: Instance, state: State) -> None:
        """keepalived's vrrp_sync_master/vrrp_sync_backup: one member became MASTER (all
        wanted to) or lost an election, and the others follow it at once."""
        members = [m for m in self._group_members(cause) if m.machine.state is not state]
        if state is State.MASTER:
            members = [m for m in members if m.machine.state is State.BACKUP]
        else:
            # An address owner cannot be outranked: it stays (keepalived warns about it).
            members = [
                m
                for m in members
                if m.machine.state is State.MASTER and m.machine.effective_priority < 255
            ]
        if not members:
            return
        log.info("VRRP_Group(%s) Syncing instances to %s state", cause.group, state.value)
        now = self.loop.time()
        self._syncing = True
        try:
            for member in members:
                reason = f"sync group {cause.group} ({cause.name} {state.value})"
                if state is State.MASTER:
                    # Priority 0: Master_Down_Timer = Skew_Time, then run that timer now.
                    # The advert timer starts Skew_Time late, less than one interval.
                    actions = self._sync_advert(member, now, 0)
                    deadline = member.machine.next_deadline
                    if deadline is not None:
                        actions += member.machine.on_timer(deadline)
                else:
                    actions = self._sync_advert(member, now, PRIORITY_OWNER)
                member.wants_master = False
                self._apply(
                    member,
                    [
                        replace(a, reason=reason) if isinstance(a, StateChange) else a
                        for a in actions
                    ],
                )
        finally:
            self._syncing = False

    def _add_vips(self, inst: Instance) -> None:
        log.info("(%s) setting VIPs.", inst.name)
        for vip in inst.vips:
            if vip.key in inst.installed:
                continue
            try:
                added = self.netlink.add_address(
                    vip.index,
                    vip.address,
                    vip.prefixlen,
                    label=vip.label,
                    broadcast=vip.broadcast,
                    scope=vip.scope,
                )
            except OSError as exc:
                log.error("(%s) cannot add %s/%d: %s", inst.name, vip.address, vip.prefixlen, exc)
                continue
            inst.installed.add(vip.key)
            self.events.emit(
                "vip_added",
                inst.name,
                address=vip.address,
                prefixlen=vip.prefixlen,
                dev=vip.dev,
                already_present=not added,
            )

    def _remove_vips(self, inst: Instance, keep: set[tuple[str, int, str]] | None = None) -> None:
        if inst.installed:
            log.info("(%s) removing VIPs.", inst.name)
        for vip in inst.vips:
            if vip.key not in inst.installed or (keep is not None and vip.key in keep):
                continue
            try:
                self.netlink.delete_address(vip.index, vip.address, vip.prefixlen)
            except OSError as exc:
                log.error("(%s) cannot remove %s: %s", inst.name, vip.address, exc)
            inst.installed.discard(vip.key)
            self.events.emit(
                "vip_removed", inst.name, address=vip.address, prefixlen=vip.prefixlen, dev=vip.dev
            )

    def _garp(self, inst: Instance, repeat: int) -> None:
        by_dev: dict[str, list[str]] = {}
        for vip in inst.vips:
            by_dev.setdefault(vip.dev, []).append(vip.address)
        interval = self._garp_interval()
        for dev, addresses in by_dev.items():
            if self.detail:
                log.info(
                    "(%s) Sending/queueing gratuitous ARPs on %s for %s",
                    inst.name,
                    dev,
                    " ".join(addresses),
                )
            if not interval:
                self._send_garp(inst, dev, addresses, repeat)
                continue
            # vrrp_garp_interval: every ARP on an interface at least this far apart.
            now = self.loop.time()
            for address in addresses * repeat:
                when = max(now, self._garp_next.get(dev, now))
                self._garp_next[dev] = when + interval
                if when <= now:
                    self._send_garp(inst, dev, [address], 1)
                else:
                    self.loop.call_at(when, functools.partial(self._paced_garp, inst, dev, address))

    def _paced_garp(self, inst: Instance, dev: str, address: str) -> None:
        if self.instances.get(inst.name) is inst and inst.machine.state is State.MASTER:
            self._send_garp(inst, dev, [address], 1)

    def _send_garp(self, inst: Instance, dev: str, addresses: list[str], repeat: int) -> None:
        try:
            self.garp.send(dev, addresses, repeat)
        except OSError as exc:
            if self.detail:
                log.info("(%s) cannot send gratuitous ARP on %s: %s", inst.name, dev, exc)

    def _garp_interval(self) -> float:
        """Global ``vrrp_garp_interval`` in seconds (keepalived's default 0: no pacing)."""
        values = self.config.global_defs.options.get("vrrp_garp_interval")
        try:
            return max(0.0, float(values[0])) if values else 0.0
        except ValueError:
            return 0.0

    def _state_change(self, inst: Instance, change: StateChange) -> None:
        new = change.new.value
        inst.wants_master = False
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
        for argv in notify_commands(
            kind="INSTANCE",
            name=inst.name,
            state=new,
            priority=priority,
            specific=specific,
            generic=cfg.notify,
        ):
            self.runner.start(argv)
        if cfg.smtp_alert is not False and self.email.enabled:
            self.email.instance_alert(inst.name, new)
        if inst.group:
            self._group_state(inst.group)

    def _group_state(self, name: str) -> None:
        group = self.config.sync_groups.get(name)
        if group is None:
            return
        states = {self.instances[m].machine.state for m in group.members if m in self.instances}
        if len(states) != 1:
            return
        state = states.pop().value
        if self.group_states.get(name) == state:
            return
        self.group_states[name] = state
        log.info("(%s) Sync group entering %s STATE", name, state)
        self.events.emit("group_state_change", None, group=name, new=state)
        specific = {
            "MASTER": group.notify_master,
            "BACKUP": group.notify_backup,
            "FAULT": group.notify_fault,
            "STOP": group.notify_stop,
        }.get(state)
        for argv in notify_commands(
            kind="GROUP",
            name=name,
            state=state,
            priority=0,
            specific=specific,
            generic=group.notify,
        ):
            self.runner.start(argv)

    # --- reload ---------------------------------------------------------------------------

    def reload(self) -> None:
        """SIGHUP: apply a new configuration, keeping what did not change."""
        old_config, old_instances = self.config, self.instances
        if not self.load():
            log.error("Reload failed: keeping the running configuration")
            self.config = old_config
            return
        self.events.emit("config_reload", None, path=self.config_path)
        now = self.loop.time()
        new_cfgs = self.config.instances
        # Scripts: restart all (their definitions may have changed).
        for tracker in self.scripts.values():
            tracker.stop()
        self.scripts.clear()
        kept: dict[str, Instance] = {}
        for name, inst in old_instances.items():
            cfg = new_cfgs.get(name)
            if cfg is not None and _machine_identity(cfg) == _machine_identity(inst.cfg):
                new_vips = self._resolve_vips(cfg, cfg.interface or "")
                keep = {v.key for v in new_vips}
                if inst.machine.state is State.MASTER:
                    self._remove_vips(inst, keep=keep)
                inst.installed &= keep
                if cfg.priority != inst.cfg.priority:
                    log.info(
                        "(%s) configured priority %d -> %d",
                        inst.name,
                        inst.cfg.priority,
                        cfg.priority,
                    )
                    inst.machine.set_base_priority(cfg.priority)
                inst.cfg = cfg
                inst.vips = new_vips
                inst.group = cfg.sync_group
                inst.advert_addresses = tuple(v.address for v in new_vips)
                inst.expectation = replace(inst.expectation, addresses=inst.advert_addresses)
                if inst.machine.state is State.MASTER:
                    missing = [v for v in new_vips if v.key not in inst.installed]
                    if missing:
                        self._add_vips(inst)
                kept[name] = inst
                continue
            # Removed or changed: stop it (priority 0 if master, addresses removed).
            self._apply(inst, inst.machine.shutdown(now))
            if inst.timer is not None:
                inst.timer.cancel()
        self.instances = kept
        self._start_scripts()
        started: list[Instance] = []
        for name, cfg in new_cfgs.items():
            if name in kept:
                continue
            built = self._build(cfg)
            if built is not None:
                self.instances[name] = built
                started.append(built)
        used = {i.cfg.interface for i in self.instances.values()}
        for ifname in [n for n in self.sockets if n not in used]:
            sock = self.sockets.pop(ifname)
            self.loop.remove_reader(sock.fileno())
            sock.close()
        self._update_tracking(initial=True)
        for inst in started:
            self._apply(inst, inst.machine.start(now))


def _noop_handler(signum: int, frame: object) -> None:
    del signum, frame  # the wakeup fd carries the signal to the loop


def _int_option(cfg: VrrpInstance, name: str, default: int) -> int:
    values = cfg.options.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        return default


# --- command line --------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """keepalived's flags (the ones that make sense here) plus ``--event-log``."""
    parser = argparse.ArgumentParser(
        prog="halab-vrrpd", description="keepalived-compatible VRRP daemon"
    )
    parser.add_argument("-f", "--use-file", default="/etc/keepalived/keepalived.conf")
    parser.add_argument("-t", "--config-test", action="store_true")
    parser.add_argument("-n", "--dont-fork", action="store_true")
    parser.add_argument("-l", "--log-console", action="store_true")
    parser.add_argument("-D", "--log-detail", action="store_true")
    parser.add_argument("-p", "--pid", default=None)
    parser.add_argument("-P", "--vrrp", action="store_true", help="accepted, no effect")
    parser.add_argument("-r", "--vrrp_pid", default=None, help="accepted, no effect")
    parser.add_argument("-i", "--config-id", default=None, help="accepted, no effect")
    parser.add_argument("-G", "--no-syslog", action="store_true")
    parser.add_argument("--event-log", default=None)
    parser.add_argument("--version", action="store_true")
    return parser.parse_args(argv)


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(record.created))
        micros = int(record.created % 1 * 1_000_000)
        return f"{stamp}.{micros:06d} {time.strftime('%Y')}: {record.getMessage()}"


def _setup_logging(args: argparse.Namespace) -> None:
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    if args.log_console:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ConsoleFormatter())
        log.addHandler(handler)
    if not args.no_syslog and os.path.exists("/dev/log"):
        try:
            syslog = logging.handlers.SysLogHandler(
                "/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON
            )
        except OSError:
            pass
        else:
            syslog.setFormatter(logging.Formatter(f"Keepalived_vrrp[{os.getpid()}]: %(message)s"))
            log.addHandler(syslog)
    if not log.handlers:
        log.addHandler(logging.NullHandler())


def _daemonize() -> int:
    """Classic double fork: detach from the terminal and the caller's session.

    The first process exits only once the daemon reports (through a pipe, with a bounded
    wait) that its pid file is written: a caller may read the pid file as soon as the
    command returns. Returns the pipe's write end for :func:`_daemon_ready`.
    """
    read_fd, write_fd = os.pipe()
    if os.fork():
        os.close(write_fd)
        ready, _, _ = select.select([read_fd], [], [], 10.0)
        os._exit(0 if ready and os.read(read_fd, 1) == b"1" else 1)
    os.close(read_fd)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.chdir("/")
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)
    return write_fd


def _daemon_ready(fd: int | None, ok: bool) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.write(fd, b"1" if ok else b"0")
            os.close(fd)


def config_test(path: str) -> int:
    """``-t``: print every diagnostic as keepalived does and exit with its status."""
    _cfg, diags = load_config(path)
    for diag in diags:
        print(str(diag), file=sys.stderr)
    return config_test_exit_status(diags)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``halab-vrrpd`` / ``python3 -m pytest_halab.vrrp.daemon``."""
    args = parse_args(argv)
    if args.version:
        print(VERSION)
        return 0
    if args.config_test:
        return config_test(args.use_file)
    # Paths are the caller's: resolve them before a daemon changes directory to /.
    conf = os.path.abspath(args.use_file)
    pid_file = os.path.abspath(args.pid) if args.pid else None
    event_log = os.path.abspath(args.event_log) if args.event_log else None
    if not os.path.exists(conf):
        print(f"Configuration file {conf} not found", file=sys.stderr)
        return 1
    ready_fd = None if args.dont_fork else _daemonize()
    _setup_logging(args)
    try:
        events = EventLog(event_log)
        if pid_file:
            with open(pid_file, "w", encoding="ascii") as fh:
                fh.write(f"{os.getpid()}\n")
    except OSError as exc:
        log.error("cannot start: %s", exc)
        _daemon_ready(ready_fd, False)
        return 1
    log.info("Starting %s", VERSION)
    daemon = Daemon(conf, event_log=events, log_detail=args.log_detail)
    try:
        if not daemon.load():
            _daemon_ready(ready_fd, False)
            return 1
        events.emit("daemon_start", None, pid=os.getpid(), config=conf)
        daemon.start()
        _daemon_ready(ready_fd, True)
        return daemon.run()
    finally:
        daemon.close()
        events.close()
        if pid_file:
            with contextlib.suppress(OSError):
                os.unlink(pid_file)


if __name__ == "__main__":
    sys.exit(main())

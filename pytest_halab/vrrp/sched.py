"""How the VRRP process runs on its host, as keepalived 2.2.7 sets it
(lib/process.c set_process_priorities / reset_process_priorities) from global_defs:

- ``vrrp_rt_priority N``: real-time round-robin scheduling at priority N
  (``SCHED_RR | SCHED_RESET_ON_FORK``: scripts the daemon starts run as normal processes),
  with ``RLIMIT_RTTIME`` of ``vrrp_rlimit_rttime`` microseconds (default 10000; the soft
  limit half of it): a real-time process that computes that long without sleeping gets
  SIGXCPU (logged), then SIGKILL, instead of starving the host;
- otherwise ``vrrp_priority N``: the nice value (-20..19);
- ``vrrp_no_swap``: the process locked in memory (mlockall), so a page-out never delays an
  advert;
- ``vrrp_cpu_affinity CPU...``: the CPUs it may run on.

Each failure is logged with keepalived's words and changes nothing else (a container
without CAP_SYS_NICE or CAP_IPC_LOCK gets "cannot raise priority" / "Unable to lock
process in memory"). A reload runs with normal scheduling (keepalived's reload_vrrp_thread
resets first): parsing a configuration is the one long computation the daemon does.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import resource

from pytest_halab.vrrp.conf.model import GlobalDefs

__all__ = ["SIGXCPU_MESSAGE", "ProcessPriorities"]

log = logging.getLogger("halab-vrrpd")

SIGXCPU_MESSAGE = (
    "VRRP process has used too much CPU time, vrrp_rlimit_rttime may need to be increased"
)
_MCL_CURRENT, _MCL_FUTURE, _MCL_ONFAULT = 1, 2, 4


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


class ProcessPriorities:
    """What was set, so that `reset` undoes exactly that."""

    def __init__(self) -> None:
        self.rt_priority = 0
        self.rlimit_set = False
        self.orig_rlimit: tuple[int, int] | None = None
        self.nice: int | None = None
        self.orig_nice: int | None = None
        self.locked = False

    def apply(self, gd: GlobalDefs) -> None:
        """Set what ``gd`` asks for. The caller handles SIGXCPU (logs SIGXCPU_MESSAGE)."""
        if gd.vrrp_rt_priority:
            self._realtime(gd.vrrp_rt_priority, gd.vrrp_rlimit_rttime)
        elif gd.vrrp_priority:
            self._nice(gd.vrrp_priority)
        if gd.vrrp_no_swap and not self.locked:
            self._lock()
        if gd.vrrp_cpu_affinity:
            try:
                os.sched_setaffinity(0, gd.vrrp_cpu_affinity)
            except OSError as exc:
                log.warning("unable to set cpu affinity to vrrp process (%s)", exc.strerror)

    def _realtime(self, priority: int, rlimit: int) -> None:
        policy = os.SCHED_RR | getattr(os, "SCHED_RESET_ON_FORK", 0)
        try:
            os.sched_setscheduler(0, policy, os.sched_param(priority))
        except OSError:
            log.warning("child process: cannot raise priority")
            return
        self.rt_priority = priority
        if not rlimit:
            return
        if self.orig_rlimit is None:
            self.orig_rlimit = resource.getrlimit(resource.RLIMIT_RTTIME)
        try:
            resource.setrlimit(resource.RLIMIT_RTTIME, (rlimit // 2, rlimit))
        except (OSError, ValueError):
            log.warning("child process cannot set realtime rlimit")
        else:
            self.rlimit_set = True

    def _nice(self, value: int) -> None:
        if self.orig_nice is None:
            self.orig_nice = os.getpriority(os.PRIO_PROCESS, 0)
        try:
            os.setpriority(os.PRIO_PROCESS, 0, value)
        except OSError as exc:
            log.info("Unable to set process priority to %d - %s", value, exc.strerror)
            return
        self.nice = value

    def _lock(self) -> None:
        libc = _libc()
        flags = _MCL_CURRENT | _MCL_FUTURE | _MCL_ONFAULT
        if libc is None or libc.mlockall(flags) != 0:
            err = ctypes.get_errno() if libc is not None else 0
            log.info("Unable to lock process in memory - %s", os.strerror(err))
            return
        self.locked = True

    def reset(self) -> None:
        """Back to normal scheduling, nice value and memory (before a reload, at stop)."""
        if self.rt_priority:
            try:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            except OSError:
                log.warning("child process: cannot reset realtime scheduling")
            else:
                self.rt_priority = 0
                if self.rlimit_set and self.orig_rlimit is not None:
                    try:
                        resource.setrlimit(resource.RLIMIT_RTTIME, self.orig_rlimit)
                    except (OSError, ValueError):
                        log.warning("child process cannot reset realtime rlimit")
                    else:
                        self.rlimit_set = False
        if self.nice is not None and self.orig_nice is not None:
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, 0, self.orig_nice)
            self.nice = None
        if self.locked:
            libc = _libc()
            if libc is not None:
                libc.munlockall()
            self.locked = False

"""halab-vrrpd's command line: ``halab-vrrpd`` / ``python3 -m pytest_halab.vrrp``.

keepalived's flags (those that make sense here) plus ``--event-log FILE``: JSON lines, one
object an event, each with ``ts`` (wall clock, integer microseconds since the epoch),
``event``, ``instance`` and fields. ``-t`` checks the configuration and exits as
keepalived 2.2 does (0 valid, 4 fatal or file not found, 5 other errors).

The daemon is found by its name, as keepalived is: its process (and every process it
forks) is called ``halab-vrrpd``, which ``ps``, ``pgrep -x``, ``pkill`` and ``killall``
see (:func:`name_process`); the launcher in the balancer image gives it that command
name too (``exec -a``), which ``pidof`` and ``ps -o args`` see.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import select
import signal
import sys
import time
from collections.abc import Sequence

from pytest_halab.vrrp.eventlog import EventLog
from pytest_halab.vrrp.parent import Parent, prctl

# The daemon's own modules (config, daemon) are imported in main() once it has named the
# process: they take 0.1-0.5 s on a busy node, and a process not yet named halab-vrrpd is
# one that pgrep -x and pkill miss.

__all__ = ["PROCESS_NAME", "VERSION", "config_test", "main", "name_process", "parse_args"]

VERSION = "halab-vrrpd 0.1.0 (keepalived 2.2.7 compatible)"
PROCESS_NAME = "halab-vrrpd"
log = logging.getLogger("halab-vrrpd")

_PR_SET_NAME = 15  # <linux/prctl.h>


def name_process(name: str = PROCESS_NAME) -> bool:
    """Set this process's name (its ``comm``: 15 bytes at most) with prctl(PR_SET_NAME).

    ``ps``, ``top``, ``pgrep -x``, ``pkill`` and ``killall`` go by it; processes forked
    afterwards inherit it (a command started with exec gets its own). The command line
    (argv[0]) is the caller's to set: the launcher runs ``exec -a halab-vrrpd python3``.
    False if the name could not be set (no C library to call).
    """
    return prctl(_PR_SET_NAME, name.encode()[:15])


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
    parser.add_argument("-P", "--vrrp", action="store_true", help="run the VRRP half only")
    parser.add_argument(
        "-C",
        "--check",
        action="store_true",
        help="run the checker half only (virtual servers: health checks, kernel pools)",
    )
    parser.add_argument(
        "-r",
        "--vrrp_pid",
        default=None,
        help="the VRRP process's pid file (the -p file is the parent's)",
    )
    parser.add_argument(
        "-i",
        "--config-id",
        default=None,
        metavar="ID",
        help="read the lines starting '@ID ' and not those starting '@^ID '"
        " (default: the node name up to its first dot)",
    )
    parser.add_argument("-G", "--no-syslog", action="store_true")
    parser.add_argument(
        "-S",
        "--log-facility",
        type=int,
        choices=range(8),
        default=None,
        metavar="{0-7}",
        help="syslog facility LOG_LOCAL0-7 (default: LOG_DAEMON), as keepalived -S",
    )
    parser.add_argument("--event-log", default=None)
    parser.add_argument("--version", action="store_true")
    parser.add_argument(
        "--signum",
        metavar="SIGFUNC",
        default=None,
        help="print the signal number of STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON"
        " (as keepalived --signum)",
    )
    return parser.parse_args(argv)


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(record.created))
        micros = int(record.created % 1 * 1_000_000)
        return f"{stamp}.{micros:06d} {time.strftime('%Y')}: {record.getMessage()}"


def _setup_logging(args: argparse.Namespace, ident: str = "Keepalived_vrrp") -> None:
    """The console (``-l``) and syslog, under keepalived's ident and facility (``-S N``:
    local N, else daemon), so a balancer's /var/log/messages reads as keepalived's."""
    log.handlers.clear()
    log.setLevel(logging.INFO)
    log.propagate = False
    if args.log_console:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ConsoleFormatter())
        log.addHandler(handler)
    if not args.no_syslog and os.path.exists("/dev/log"):
        try:
            handler_cls = logging.handlers.SysLogHandler
            facility = (
                handler_cls.LOG_DAEMON
                if args.log_facility is None
                else handler_cls.LOG_LOCAL0 + args.log_facility
            )
            syslog = handler_cls("/dev/log", facility=facility)
        except OSError:
            pass
        else:
            syslog.setFormatter(logging.Formatter(f"{ident}[{os.getpid()}]: %(message)s"))
            log.addHandler(syslog)
    if not log.handlers:
        log.addHandler(logging.NullHandler())


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(path) if path else None


def _open_process_files(event_log: str | None, pid_file: str | None) -> EventLog:
    """This process's event log, opened, and its pid file, written (OSError if either
    cannot be)."""
    events = EventLog(event_log)
    if pid_file:
        try:
            with open(pid_file, "w", encoding="ascii") as fh:
                fh.write(f"{os.getpid()}\n")
        except OSError:
            events.close()
            raise
    return events


def _close_process_files(events: EventLog, pid_file: str | None) -> None:
    events.close()
    if pid_file:
        with contextlib.suppress(OSError):
            os.unlink(pid_file)


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


def config_test(path: str, config_id: str | None = None) -> int:
    """``-t``: print every diagnostic as keepalived does and exit with its status."""
    from pytest_halab.vrrp.conf import config_test_exit_status, load_config

    # as keepalived: smtp_server names resolved
    _cfg, diags = load_config(path, config_id=config_id, resolve_hosts=True)
    sys.stderr.flush()
    out = getattr(sys.stderr, "buffer", None)
    for diag in (d for d in diags if d.printed_by_test):
        # The file's own bytes, as keepalived prints them, even when not UTF-8.
        text = f"{diag}\n"
        if out is not None:
            out.write(text.encode("utf-8", "surrogateescape"))
        else:
            sys.stderr.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    if out is not None:
        out.flush()
    return config_test_exit_status(diags)


def _print_signum(name: str) -> int:
    """keepalived's ``--signum``: the number of the signal that asks for ``name``."""
    from pytest_halab.vrrp.status import SIGNAL_FUNCTIONS as known

    sig = known.get(name.upper())
    if sig is None:
        print(
            f"halab-vrrpd: --signum: unknown or unsupported signal function {name!r} "
            f"(known: {', '.join(known)})",
            file=sys.stderr,
        )
        return 1
    print(int(sig))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``halab-vrrpd`` / ``python3 -m pytest_halab.vrrp``.

    Run as a program (``argv`` None: the process's own arguments), it first names the
    process ``halab-vrrpd``, before it forks; a caller passing ``argv`` keeps its name.
    """
    if argv is None:
        name_process()
    args = parse_args(argv)
    if args.version:
        print(VERSION)
        return 0
    if args.signum is not None:
        return _print_signum(args.signum)
    if args.config_test:  # the parser alone: -t starts without the daemon's modules
        return config_test(args.use_file, args.config_id)
    if args.check and args.vrrp:
        print("halab-vrrpd: --check and --vrrp exclude each other", file=sys.stderr)
        return 2
    if args.check:
        return _run_checker(args)
    from pytest_halab.vrrp.status import REQUEST_SIGNALS

    # Paths are the caller's: resolve them before a daemon changes directory to /.
    conf = os.path.abspath(args.use_file)
    pid_file = _absolute(args.pid)
    args.event_log, args.vrrp_pid = _absolute(args.event_log), _absolute(args.vrrp_pid)
    if not os.path.exists(conf):
        print(f"Configuration file {conf} not found", file=sys.stderr)
        return 1
    # From the pid file on, a caller may signal us (the lab asks for the JSON dump as soon
    # as it sees the pid): the parent takes the requests with sigwaitinfo and hands them on;
    # the VRRP process keeps them pending until its daemon handles them (Daemon.start).
    # SIGTERM/SIGINT stay as they are until the parent waits: a stop during start-up stops.
    signal.pthread_sigmask(signal.SIG_BLOCK, REQUEST_SIGNALS)
    ready_fd = None if args.dont_fork else _daemonize()
    _setup_logging(args, ident="Keepalived")
    try:
        events = _open_process_files(args.event_log, pid_file)
    except OSError as exc:
        log.error("cannot start: %s", exc)
        _daemon_ready(ready_fd, False)
        return 1
    log.info("Starting %s", VERSION)

    def vrrp_process(ready: int | None) -> int:
        events.close()  # the parent's; the VRRP process writes through its own
        _setup_logging(args)
        return _run_vrrp(args, conf, ready)

    try:
        return Parent(vrrp_process, REQUEST_SIGNALS, events).run(ready_fd)
    finally:
        log.info("Stopped %s", VERSION)
        _close_process_files(events, pid_file)


def _run_vrrp(args: argparse.Namespace, conf: str, ready_fd: int | None) -> int:
    """The VRRP process (the parent's child): load the configuration, start the daemon (and
    the checker child when the file has virtual servers), run until stopped."""
    from pytest_halab.vrrp.daemon import Daemon

    try:
        events = _open_process_files(args.event_log, args.vrrp_pid)
    except OSError as exc:
        log.error("cannot start: %s", exc)
        _daemon_ready(ready_fd, False)
        return 1
    daemon = Daemon(conf, event_log=events, log_detail=args.log_detail, config_id=args.config_id)
    checker = None
    try:
        status = daemon.load()
        if status:
            _daemon_ready(ready_fd, False)
            return status
        events.emit("daemon_start", None, pid=os.getpid(), config=conf)
        if not args.vrrp and daemon.config.virtual_servers:
            # both halves, as keepalived without -P/-C: the checker is a child process
            from pytest_halab.vrrp.check.process import spawn

            checker = spawn(_checker_argv(args, conf))
            daemon.checker_pid = checker.pid
        daemon.start()
        _daemon_ready(ready_fd, True)
        return daemon.run()
    finally:
        daemon.close()
        if checker is not None:
            checker.terminate()
            with contextlib.suppress(Exception):
                checker.wait(5)
        _close_process_files(events, args.vrrp_pid)


def _checker_argv(args: argparse.Namespace, conf: str) -> list[str]:
    """The flags a checker child shares with its parent (no pid file, no event log of its
    own: keepalived's children write neither)."""
    argv = ["--dont-fork", "-f", conf]
    argv += ["--log-console"] if args.log_console else []
    argv += ["--log-detail"] if args.log_detail else []
    argv += ["--no-syslog"] if args.no_syslog else []
    argv += ["--log-facility", str(args.log_facility)] if args.log_facility is not None else []
    argv += ["--config-id", args.config_id] if args.config_id else []
    return argv


def _run_checker(args: argparse.Namespace) -> int:
    """``--check``: the checker half alone, in this process (named halab-checker)."""
    from pytest_halab.vrrp.check import process

    if args.dont_fork is False:
        print("halab-vrrpd: --check runs in the foreground only (add -n)", file=sys.stderr)
        return 2
    name_process(process.PROCESS_NAME)
    # a reload (SIGHUP) before the checker handles it must not end it: kept pending until
    # then (run_checker)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    conf = os.path.abspath(args.use_file)
    if not os.path.exists(conf):
        print(f"Configuration file {conf} not found", file=sys.stderr)
        return 1
    _setup_logging(args, ident="Keepalived_healthcheckers")
    pid_file = _absolute(args.pid)
    try:
        events = _open_process_files(_absolute(args.event_log), pid_file)
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    log.info("Starting %s (checker)", VERSION)
    try:
        return process.run(conf, events, args.config_id)
    finally:
        _close_process_files(events, pid_file)


if __name__ == "__main__":
    sys.exit(main())

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
        type=_facility,
        default=None,
        metavar="{0-7|local0-7|user|daemon}",
        help="syslog facility LOG_LOCAL0-7, user or daemon (the default), as keepalived -S",
    )
    parser.add_argument(
        "-V",
        "--dont-release-vrrp",
        action="store_true",
        help="on stop, leave the VIPs and routes in place, send no priority 0 and run no"
        " notify_stop (keepalived skips its instances' shutdown)",
    )
    parser.add_argument(
        "-R",
        "--dont-respawn",
        action="store_true",
        help="when the VRRP process dies, stop instead of starting it again",
    )
    parser.add_argument(
        "-d", "--dump-conf", action="store_true", help="log the configuration data at start"
    )
    parser.add_argument(
        "-u", "--umask", type=_umask, default=None, help="umask for the files made (numeric)"
    )
    parser.add_argument(
        "-a",
        "--address-monitoring",
        action="store_true",
        help="log every address the kernel adds or removes (Netlink reflector reports IP ...)",
    )
    parser.add_argument(
        "-e",
        "--all-config",
        action="store_true",
        help="a missing configuration file is an error (every include checked, as by a"
        " bare include_check)",
    )
    # keepalived's other flags: taken, so that a command line or a KEEPALIVED_OPTIONS /
    # DAEMON_ARGS written for keepalived starts this daemon too; what they ask does not
    # apply here (one VRRP process, no BFD or SNMP process, no core files), said in the log
    for flags in (
        ("-B", "--no_bfd"),
        ("--all",),
        ("-X", "--release-vips"),
        ("-I", "--dont-release-ipvs"),
        ("-x", "--snmp"),
        ("-m", "--core-dump"),
    ):
        parser.add_argument(*flags, action="store_true", help=argparse.SUPPRESS)
    for flags in (
        ("-c", "--checkers_pid"),
        ("-b", "--bfd_pid"),
        ("-A", "--snmp-agent-socket"),
        ("-M", "--core-dump-pattern"),
    ):
        parser.add_argument(*flags, default=None, help=argparse.SUPPRESS)
    parser.add_argument("-s", "--namespace", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--event-log", default=None)
    parser.add_argument("-v", "--version", action="store_true")
    parser.add_argument(
        "--signum",
        metavar="SIGFUNC",
        default=None,
        help="print the signal number of STOP, RELOAD, DATA, STATS, STATS_CLEAR or JSON"
        " (as keepalived --signum)",
    )
    return parser.parse_args(argv)


# keepalived's -S words (2.2.7): a number 0-7 is local N, as are local0-7
_FACILITY_WORDS = {"user": -1, "daemon": None}


def _facility(text: str) -> int | None:
    """-S's value as keepalived reads it: 0-7 or local0-7 (LOG_LOCALn, given as n), user
    (-1) or daemon (None, the default)."""
    word = text.lower()
    if word in _FACILITY_WORDS:
        return _FACILITY_WORDS[word]
    digits = word.removeprefix("local")
    if len(digits) == 1 and digits in "01234567":
        return int(digits)
    raise argparse.ArgumentTypeError(f"invalid log facility '{text}'")


def _umask(text: str) -> int:
    """-u's value: a number, octal with a leading 0 (strtol base 0, as keepalived)."""
    try:
        value = int(text, 8) if text.startswith("0") and text.isdigit() else int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid umask '{text}'") from None
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"invalid umask '{text}'")
    return value


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
            if args.log_facility is None:
                facility = handler_cls.LOG_DAEMON
            elif args.log_facility < 0:
                facility = handler_cls.LOG_USER
            else:
                facility = handler_cls.LOG_LOCAL0 + args.log_facility
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


def config_test(path: str, config_id: str | None = None, *, all_config: bool = False) -> int:
    """``-t``: print every diagnostic as keepalived does and exit with its status."""
    from pytest_halab.vrrp.conf import config_test_exit_status, load_config

    # as keepalived: smtp_server names resolved
    _cfg, diags = load_config(path, config_id=config_id, resolve_hosts=True, all_config=all_config)
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
    if args.umask is not None:
        os.umask(args.umask)
    if args.config_test:  # the parser alone: -t starts without the daemon's modules
        return config_test(args.use_file, args.config_id, all_config=args.all_config)
    if args.namespace is not None:
        print(
            f"halab-vrrpd: --namespace {args.namespace}: not supported (run it in the"
            " namespace instead: ip netns exec NAME halab-vrrpd ...)",
            file=sys.stderr,
        )
        return 1
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
    args.checkers_pid = _absolute(args.checkers_pid)
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
    _note_inapplicable(args)

    def vrrp_process(ready: int | None) -> int:
        events.close()  # the parent's; the VRRP process writes through its own
        _setup_logging(args)
        return _run_vrrp(args, conf, ready)

    try:
        parent = Parent(vrrp_process, REQUEST_SIGNALS, events, respawn=not args.dont_respawn)
        return parent.run(ready_fd)
    finally:
        log.info("Stopped %s", VERSION)
        _close_process_files(events, pid_file)


# keepalived's flags for what halab-vrrpd does not have: taken, and said so in the log
_INAPPLICABLE = {
    "no_bfd": ("--no_bfd", "no BFD process runs here (bfd_instance is read, not run)"),
    "all": ("--all", "one VRRP process runs, and the checker when there are virtual servers"),
    "release_vips": ("--release-vips", "a reload that ends MASTER removes the VIPs anyway"),
    "dont_release_ipvs": ("--dont-release-ipvs", "the checker's pools go on stop"),
    "snmp": ("--snmp", "no SNMP subsystem"),
    "snmp_agent_socket": ("--snmp-agent-socket", "no SNMP subsystem"),
    "core_dump": ("--core-dump", "no core files"),
    "core_dump_pattern": ("--core-dump-pattern", "no core files"),
    "bfd_pid": ("--bfd_pid", "no BFD process runs here"),
}


def _note_inapplicable(args: argparse.Namespace) -> None:
    for name, (flag, why) in _INAPPLICABLE.items():
        if getattr(args, name):
            log.info("%s has no effect in halab-vrrpd: %s", flag, why)


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
    daemon = Daemon(
        conf,
        event_log=events,
        log_detail=args.log_detail,
        config_id=args.config_id,
        dont_release=args.dont_release_vrrp,
        all_config=args.all_config,
        address_monitoring=args.address_monitoring,
    )
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
            _write_pid(args.checkers_pid, checker.pid)
        daemon.start()
        if args.dump_conf:
            daemon.dump_to_log()
        _daemon_ready(ready_fd, True)
        return daemon.run()
    finally:
        daemon.close()
        if checker is not None:
            checker.terminate()
            with contextlib.suppress(Exception):
                checker.wait(5)
            if args.checkers_pid:
                with contextlib.suppress(OSError):
                    os.unlink(args.checkers_pid)
        _close_process_files(events, args.vrrp_pid)


def _write_pid(path: str | None, pid: int) -> None:
    """A pid file the caller named (-c: the checker child's), written if it can be."""
    if path:
        try:
            with open(path, "w", encoding="ascii") as fh:
                fh.write(f"{pid}\n")
        except OSError as exc:
            log.error("cannot write %s: %s", path, exc)


def _checker_argv(args: argparse.Namespace, conf: str) -> list[str]:
    """The flags a checker child shares with its parent (no pid file, no event log of its
    own: keepalived's children write neither)."""
    argv = ["--dont-fork", "-f", conf]
    argv += ["--log-console"] if args.log_console else []
    argv += ["--log-detail"] if args.log_detail else []
    argv += ["--no-syslog"] if args.no_syslog else []
    if args.log_facility is not None:
        argv += ["--log-facility", "user" if args.log_facility < 0 else str(args.log_facility)]
    argv += ["--config-id", args.config_id] if args.config_id else []
    argv += ["--all-config"] if args.all_config else []
    argv += ["--dump-conf"] if args.dump_conf else []
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
        return process.run(conf, events, args.config_id, all_config=args.all_config)
    finally:
        _close_process_files(events, pid_file)


if __name__ == "__main__":
    sys.exit(main())

"""What every connecting checker shares, as keepalived 2.2.7 keeps it: its connection
options (check_api.c's conn_opts_t and the connect_ip, connect_port, bindto, bind_port,
bind_if, connect_timeout and fwmark handlers), its timing (retry, delay_before_retry,
delay_loop, warmup, with the defaults validate_check_config() fills in from the real
server and the virtual server), and opening its socket (layer4.c socket_bind_connect()).

Values are read from the kept configuration items with keepalived's readers; an invalid
value is ignored (the parser has already reported it), a later valid one wins."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from ..conf.model import ConfigItem, RealServer, VirtualServer
from ..conf.values import UINT_MAX, Numbers, true_false
from .probe import Target

__all__ = [
    "CheckerRefused",
    "ConnOpts",
    "Connect",
    "ResolvedTiming",
    "ServerTiming",
    "Timing",
    "bind_connect",
    "open_socket",
    "read_timer",
    "read_uint",
    "sockaddr_pair",
    "wait_connected",
]

TIMER_HZ = 1_000_000
TIMER_MAXIMUM = 2**64 - 2  # keepalived's read_timer() with no maximum
KEEPALIVED_DEFAULT_DELAY = 60 * TIMER_HZ
VS_DEFAULT_CONNECT_TIMEOUT = 5 * TIMER_HZ
IFNAMSIZ = 16
SO_MARK = getattr(socket, "SO_MARK", 36)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)

# errno values socket_bind_connect() takes for a failure to reach the server (connect_fail)
# rather than a failure to run the check (connect_error)
_CONNECT_FAIL = frozenset(
    (
        errno.ENETUNREACH,
        errno.EHOSTUNREACH,
        errno.ECONNREFUSED,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
    )
)


class CheckerRefused(ValueError):
    """keepalived drops this checker at the end of its block (its message says why, as
    keepalived reports it: a link-local address without bind_if)."""


def _quiet(kind: str, message: str) -> None:
    """The parser has reported every bad value already; here it is only skipped."""


_NUM = Numbers(_quiet)


def read_uint(item: ConfigItem, lo: int, hi: int) -> int | None:
    """keepalived's read_unsigned_strvec() of the item's first argument, or None."""
    if not item.args:
        return None
    return _NUM.uint(item.args[0], lo, hi)


def read_timer(item: ConfigItem, lo: int, hi: int = TIMER_MAXIMUM) -> int | None:
    """keepalived's read_timer() of the item's first argument, in microseconds, or None."""
    if not item.args:
        return None
    return _NUM.decimal(item.args[0], lo, hi)


def _sockaddr(text: str) -> tuple[int, str] | None:
    """keepalived's inet_stosockaddr() without a port: (family, address) or None. IPv6
    when the text has a colon; a range (``-``) or mask (``/``) is cut off."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    cut = min((i for i in (text.find("-"), text.find("/")) if i >= 0), default=len(text))
    try:
        packed = socket.inet_pton(family, text[:cut])
    except (OSError, ValueError):
        return None
    return family, socket.inet_ntop(family, packed)


def sockaddr_pair(ip: str, port: int) -> str:
    """keepalived's inet_sockaddrtopair(): ``[ADDRESS]:PORT``."""
    return f"[{ip}]:{port}"


@dataclass
class ConnOpts:
    """keepalived's conn_opts_t while its block is read. A family of 0 (AF_UNSPEC) is an
    address not set, or refused (an invalid connect_ip leaves the destination unset);
    `timeout` None is keepalived's UINT_MAX, "not set, take the real server's"."""

    family: int = 0
    ip: str = ""
    port: int = 0
    bind_family: int = 0
    bind_ip: str = ""
    bind_port: int = 0
    bind_if: str = ""
    timeout: int | None = None  # microseconds
    fwmark: int = 0

    @classmethod
    def of_real_server(cls, rs: RealServer) -> ConnOpts:
        """queue_checker()'s default: the real server's address and port."""
        return cls(family=rs.family, ip=rs.ip or "", port=rs.port_num)

    def apply(self, item: ConfigItem) -> bool:
        """Read one connection keyword into these options as keepalived's handler does;
        False if `item` is not one."""
        word = item.keyword
        if word == "connect_ip":
            addr = _sockaddr(item.args[0]) if item.args else None
            if addr is None:
                self.family = 0
            elif self.bind_family and self.bind_family != addr[0]:
                self.family = 0  # "does not match address family of bindto - skipping"
            else:
                self.family, self.ip = addr
        elif word == "connect_port":
            port = read_uint(item, 1, 65535)
            if port is not None:
                self.port = port
        elif word == "bindto":
            addr = _sockaddr(item.args[0]) if item.args else None
            if addr is None:
                self.bind_family = 0
            elif self.family and self.family != addr[0]:
                self.bind_family = 0  # "does not match address family of connect_ip"
            else:
                self.bind_family, self.bind_ip = addr
        elif word == "bind_port":
            port = read_uint(item, 1, 65535)
            if port is not None:
                self.bind_port = port
        elif word == "bind_if":
            if item.args and len(item.args[0].encode()) <= IFNAMSIZ - 1:
                self.bind_if = item.args[0]
        elif word == "connect_timeout":
            timer = read_timer(item, 1, UINT_MAX)
            if timer is not None:
                self.timeout = timer
        elif word == "fwmark":
            mark = read_uint(item, 0, UINT_MAX)
            if mark is not None:
                self.fwmark = mark
        else:
            return False
        return True

    def refusal(self) -> str | None:
        """keepalived's check_conn_opts(): why the checker is dropped, or None."""
        if (
            self.family == socket.AF_INET6
            and self.ip
            and socket.inet_pton(socket.AF_INET6, self.ip)[:2] == b"\xfe\x80"
            and not self.bind_if
        ):
            return f"Checker link local address {self.ip} requires a bind_if"
        return None

    def target(self, timeout: int) -> Target:
        """The Target these options connect to, with `timeout` (microseconds) when none
        was set here. A bind_port without a usable bindto binds nothing (keepalived only
        binds a set bindto address)."""
        micro = self.timeout if self.timeout is not None else timeout
        bound = bool(self.bind_family)
        return Target(
            ip=self.ip if self.family else "",
            port=self.port,
            family=self.family,
            timeout=micro / TIMER_HZ,
            bind_ip=self.bind_ip if bound else None,
            bind_port=self.bind_port if bound else 0,
            bind_interface=self.bind_if or None,
            fwmark=self.fwmark,
        )

    def copy(self) -> ConnOpts:
        return replace(self)


_TIMING_WORDS = frozenset(
    ("retry", "delay_before_retry", "warmup", "delay_loop", "alpha", "log_all_failures")
)


@dataclass
class Timing:
    """A checker's own retry, delay_before_retry, delay_loop and warmup as written in its
    block (None: not written), completed by `resolve` as validate_check_config() does."""

    retry: int | None = None
    delay_before_retry: int | None = None  # microseconds
    delay_loop: int | None = None
    warmup: int | None = None
    log_all_failures: bool = False

    def apply(self, item: ConfigItem) -> bool:
        """Read one of install_checker_common_keywords()'s generic keywords; False if
        `item` is not one."""
        word = item.keyword
        if word not in _TIMING_WORDS:
            return False
        if word == "retry":
            value = read_uint(item, 0, UINT_MAX)
            if value is not None:
                self.retry = value
        elif word == "delay_before_retry":
            value = read_timer(item, 0)
            if value is not None:
                self.delay_before_retry = value
        elif word == "warmup":
            value = read_timer(item, 0)
            if value is not None:
                self.warmup = value
        elif word == "delay_loop":
            value = read_timer(item, 1)
            if value is not None:
                self.delay_loop = value
        elif word == "log_all_failures":
            flag = _flag(item)
            if flag is not None:
                self.log_all_failures = flag
        return True

    def resolve(
        self,
        rs: RealServer,
        vs: VirtualServer,
        default_retry: int,
        default_delay_before_retry: int,
    ) -> ResolvedTiming:
        """validate_check_config(): a value not written in the checker is the real
        server's, which is the virtual server's, else the checker type's default
        (retry; delay_before_retry, whose default 0 means delay_loop)."""
        server = ServerTiming.of(rs, vs)
        delay_loop = _first(self.delay_loop, server.delay_loop, KEEPALIVED_DEFAULT_DELAY)
        retry = _first(self.retry, server.retry, default_retry)
        before = _first(
            self.delay_before_retry,
            server.delay_before_retry,
            default_delay_before_retry or delay_loop,
        )
        warmup = _first(self.warmup, server.warmup, delay_loop)
        return ResolvedTiming(retry, before, delay_loop, warmup, self.log_all_failures)


@dataclass(frozen=True)
class ResolvedTiming:
    """A checker's timing as it runs (microseconds)."""

    retry: int
    delay_before_retry: int
    delay_loop: int
    warmup: int
    log_all_failures: bool


@dataclass
class ServerTiming:
    """What a real server (or, before it, its virtual server) sets for its checkers:
    retry, connect_timeout, delay_loop, warmup, delay_before_retry (None: not set)."""

    retry: int | None = None
    connect_timeout: int | None = None
    delay_loop: int | None = None
    warmup: int | None = None
    delay_before_retry: int | None = None

    def apply(self, item: ConfigItem) -> None:
        word = item.keyword
        if word == "retry":
            value = read_uint(item, 1, UINT_MAX)
            if value is not None:
                self.retry = value
        elif word == "connect_timeout":
            value = read_timer(item, 1, UINT_MAX)
            if value is not None:
                self.connect_timeout = value
        elif word == "delay_loop":
            value = read_timer(item, 1)
            if value is not None:
                self.delay_loop = value
        elif word == "warmup":
            value = read_timer(item, 0)
            if value is not None:
                self.warmup = value
        elif word == "delay_before_retry":
            value = read_timer(item, 0)
            if value is not None:
                self.delay_before_retry = value

    @classmethod
    def read(cls, items: Iterable[ConfigItem]) -> ServerTiming:
        timing = cls()
        for item in items:
            timing.apply(item)
        return timing

    @classmethod
    def of(
        cls,
        rs: RealServer,
        vs: VirtualServer,
        rs_items: Sequence[ConfigItem] | None = None,
        vs_items: Sequence[ConfigItem] | None = None,
    ) -> ServerTiming:
        """The real server's values, each one it does not set taken from the virtual
        server (validate_check_config()); the virtual server's connect_timeout defaults
        to 5 s. `rs_items`/`vs_items` limit what is read (the lines read so far)."""
        mine = cls.read(rs.items if rs_items is None else rs_items)
        theirs = cls.read(vs.items if vs_items is None else vs_items)
        return cls(
            retry=_first_opt(mine.retry, theirs.retry),
            connect_timeout=_first(
                mine.connect_timeout, theirs.connect_timeout, VS_DEFAULT_CONNECT_TIMEOUT
            ),
            delay_loop=_first_opt(mine.delay_loop, theirs.delay_loop),
            warmup=_first_opt(mine.warmup, theirs.warmup),
            delay_before_retry=_first_opt(mine.delay_before_retry, theirs.delay_before_retry),
        )


def _flag(item: ConfigItem) -> bool | None:
    return true_false(item.args[0]) if item.args else True


def _first_opt(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)


def _first(*values: int | None) -> int:
    value = _first_opt(*values)
    assert value is not None
    return value


class Connect(Enum):
    """layer4.c's enum connect_result."""

    ERROR = "error"  # a failure to run the check (bind, device, mark): keepalived reschedules
    IN_PROGRESS = "in progress"
    TIMEOUT = "timeout"
    FAIL = "fail"  # the server cannot be reached
    SUCCESS = "success"


def open_socket(target: Target, kind: int) -> socket.socket:
    """A non-blocking, close-on-exec socket of the target's family (OSError as socket()
    fails: an unset family fails here, as in keepalived)."""
    proto = socket.IPPROTO_UDP if kind == socket.SOCK_DGRAM else socket.IPPROTO_TCP
    sock = socket.socket(target.family, kind, proto)
    sock.setblocking(False)
    return sock


def _address(family: int, ip: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    if family == socket.AF_INET6:
        return (ip, port, 0, 0)
    return (ip, port)


def bind_connect(sock: socket.socket, target: Target) -> tuple[Connect, str]:
    """socket_bind_connect(): mark, device, source address, then a non-blocking connect.
    Returns the outcome and, for ERROR, what failed (keepalived logs it apart)."""
    try:
        if target.fwmark:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, target.fwmark)
    except OSError as exc:
        return Connect.ERROR, f"Error setting fwmark {target.fwmark} to socket: {exc.strerror}"
    if target.bind_interface:
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, SO_BINDTODEVICE, target.bind_interface.encode() + b"\0"
            )
        except OSError as exc:
            return (
                Connect.ERROR,
                f"Checker can't bind to device {target.bind_interface}: {exc.strerror}",
            )
    if target.bind_ip is not None:
        try:
            sock.bind(_address(target.family, target.bind_ip, target.bind_port))
        except OSError as exc:
            return Connect.ERROR, f"Checker bind failed: {exc.strerror}"
    code = sock.connect_ex(_address(target.family, target.ip, target.port))
    if code == 0:
        return Connect.SUCCESS, ""
    if code == errno.EINPROGRESS:
        return Connect.IN_PROGRESS, ""
    if code in _CONNECT_FAIL:
        return Connect.FAIL, ""
    return Connect.ERROR, f"socket connect error {code}"


async def wait_connected(sock: socket.socket, timeout: float) -> Connect:
    """socket_state() after a connect in progress: writable within `timeout`, then its
    SO_ERROR: 0 connected, ETIMEDOUT a timeout, any other error a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        ready: asyncio.Future[None] = loop.create_future()

        def writable(fut: asyncio.Future[None] = ready) -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_writer(sock.fileno(), writable)
        try:
            await asyncio.wait_for(ready, max(0.0, deadline - loop.time()))
        except TimeoutError:
            return Connect.TIMEOUT
        finally:
            loop.remove_writer(sock.fileno())
        try:
            status = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError:
            return Connect.ERROR
        if status == 0:
            return Connect.SUCCESS
        if status == errno.EINPROGRESS:
            continue
        if status == errno.ETIMEDOUT:
            return Connect.TIMEOUT
        return Connect.FAIL

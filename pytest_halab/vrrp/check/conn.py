"""Where a checker connects and how it opens its socket, as keepalived 2.2.7 does it:
its connection options (check_api.c's conn_opts_t, the connect_ip, connect_port, bindto,
bind_port, bind_if, connect_timeout and fwmark handlers, and check_conn_opts(), which
drops a checker), and its socket (layer4.c socket_bind_connect() and socket_state()).
Every connecting probe (TCP_CHECK, HTTP_GET/SSL_GET, DNS_CHECK, SMTP_CHECK) builds its
`Target` here and connects with `connect`.

Values are read from the kept configuration items with keepalived's readers
(`read_uint`, `read_timer`, which the model's timers use too); an invalid value is
ignored (the parser has already reported it), a later valid one wins. A checker's
connect_timeout is resolved by the model (`model.CheckerSpec`), with its other timers."""

from __future__ import annotations

import asyncio
import errno
import socket
from dataclasses import dataclass
from enum import Enum

from ..conf.model import TIMER_HZ, ConfigItem, RealServer
from ..conf.values import UINT_MAX, Numbers
from .probe import Target

__all__ = [
    "TIMER_HZ",
    "CheckerRefused",
    "ConnOpts",
    "Connect",
    "Connection",
    "bind_connect",
    "connect",
    "open_socket",
    "read_timer",
    "read_uint",
    "sockaddr_pair",
    "wait_connected",
]

TIMER_MAXIMUM = 2**64 - 2  # keepalived's read_timer() with no maximum
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

    def given(self) -> bool:
        """Whether any connection option was set (SMTP_CHECK's end handler asks it of
        options that start unset)."""
        return bool(
            self.family
            or self.port
            or self.bind_family
            or self.bind_port
            or self.bind_if
            or self.fwmark
            or self.timeout is not None
        )

    def refusal(self) -> str | None:
        """keepalived's check_conn_opts(): why the checker is dropped, or None (an IPv6
        link-local destination, fe80::/10, needs a bind_if)."""
        if self.family == socket.AF_INET6 and self.ip and not self.bind_if:
            packed = socket.inet_pton(socket.AF_INET6, self.ip)
            if packed[0] == 0xFE and packed[1] & 0xC0 == 0x80:
                return f"Checker link local address {self.ip} requires a bind_if"
        return None

    def target(self) -> Target:
        """The Target these options connect to, once the model has resolved their
        timeout. Raises CheckerRefused when keepalived drops the checker. A bind_port
        without a usable bindto binds nothing (keepalived only binds a set bindto)."""
        refusal = self.refusal()
        if refusal is not None:
            raise CheckerRefused(refusal)
        assert self.timeout is not None, "the model resolves every checker's connect_timeout"
        bound = bool(self.bind_family)
        return Target(
            ip=self.ip if self.family else "",
            port=self.port,
            family=self.family,
            timeout=self.timeout / TIMER_HZ,
            bind_ip=self.bind_ip if bound else None,
            bind_port=self.bind_port if bound else 0,
            bind_interface=self.bind_if or None,
            fwmark=self.fwmark,
        )


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


@dataclass
class Connection:
    """How `connect` went: `status` SUCCESS with the connected `sock` (the caller's to
    close), or why not, and at which `step`: ``socket`` (socket() failed), ``connect``
    (socket_bind_connect()'s own result: FAIL, the server unreachable at once, or ERROR,
    `why` saying what failed) or ``state`` (the wait for a connect in progress: TIMEOUT,
    FAIL or ERROR). Each checker words these its own way."""

    status: Connect
    step: str
    sock: socket.socket | None = None
    why: str = ""


async def connect(target: Target, kind: int = socket.SOCK_STREAM) -> Connection:
    """Open a socket to `target` and connect it within the target's timeout, as a
    checker's connect thread and its socket_state() do."""
    try:
        sock = open_socket(target, kind)
    except OSError as exc:
        return Connection(Connect.ERROR, "socket", why=exc.strerror or "")
    try:
        status, why = bind_connect(sock, target)
        step = "connect"
        if status is Connect.IN_PROGRESS:
            status, step = await wait_connected(sock, target.timeout), "state"
    except BaseException:
        sock.close()
        raise
    if status is not Connect.SUCCESS:
        sock.close()
        return Connection(status, step, why=why)
    return Connection(status, step, sock)

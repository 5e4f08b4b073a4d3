"""SMTP_CHECK as keepalived 2.2.7 runs it (keepalived/check/check_smtp.c): connect over
TCP, read the greeting (its status must be 220), send ``HELO name``, read the reply (250),
send ``QUIT``, read one more line (any). Each wait (the connect, every read, every write)
has its own connect_timeout: a server that trickles its lines is not timed out as a whole.

A status is the line's first three characters read as C's strtoul reads them, followed by
the end of the line or a space: ``220-`` (a continued greeting) and a bare ``220`` before
CR LF are bad greetings to keepalived. A line is what a read holds up to its first newline;
the rest of that read is dropped.

Defaults are keepalived's: helo_name ``smtpchecker.keepalived.org``, the real server's
address and port (not 25), retry 1, delay_before_retry 1 s.

The deprecated ``host`` sub-blocks are read as 2.2.7 reads them: each is one more checker
(`SmtpProbe.all_from_config`) with the same HELO name and timing, connecting to the real
server unless its own connect_ip/connect_port say otherwise. When the SMTP_CHECK block sets
no connection option of its own, its first host takes the checker's place. A host's
connect_timeout is 0 unless it sets one (keepalived allocates the host's options zeroed and
only fills in a timeout still at its "unset" value). The generic keywords (retry,
delay_before_retry...) in a host block are the whole checker's."""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass

from ..conf.check_validate import format_rs
from ..conf.model import ConfigItem, RealServer, VirtualServer
from ..conf.values import strtoul
from .conn import (
    TIMER_HZ,
    CheckerRefused,
    Connect,
    ConnOpts,
    ServerTiming,
    Timing,
    bind_connect,
    open_socket,
    sockaddr_pair,
    wait_connected,
)
from .probe import Attempt, Target

__all__ = ["SMTP_DEFAULT_HELO", "SmtpProbe", "smtp_status"]

log = logging.getLogger("halab-vrrpd")

SMTP_DEFAULT_HELO = "smtpchecker.keepalived.org"
SMTP_BUFF_MAX = 512
SMTP_DEFAULT_RETRY = 1
SMTP_DEFAULT_DELAY_BEFORE_RETRY = 1 * TIMER_HZ
HOST_DEPRECATED = "The SMTP_CHECK host block is deprecated. Please define additional checkers."


def smtp_status(line: bytes) -> int:
    """smtp_get_status(): the status of a reply line, or -1 if it has none."""
    text = line.decode("latin-1")
    value, end, _ = strtoul(text, 10)
    if end != 3 or (end < len(text) and text[end] != " "):
        return -1
    return value


class _Failed(Exception):
    """One step of the dialogue failed: the message is keepalived's (without its
    ``SMTP_CHECK`` prefix)."""


@dataclass
class SmtpProbe:
    """One SMTP_CHECK (or one of its host entries) of one real server.

    `retry`, `delay_before_retry`, `delay_loop` and `warmup` (seconds) are what the
    runner reads, with keepalived's defaults. `rs_pair` is the real server as
    keepalived names it in "Network unreachable" (``[ADDRESS]:PORT``), `server` as in
    its success line (``[ADDRESS]:PROTOCOL:PORT``)."""

    target: Target
    helo_name: str = SMTP_DEFAULT_HELO
    retry: int = SMTP_DEFAULT_RETRY
    delay_before_retry: float = 1.0
    delay_loop: float = 60.0
    warmup: float = 60.0
    log_all_failures: bool = False
    server: str = ""
    rs_pair: str = ""
    kind: str = "SMTP_CHECK"

    @classmethod
    def from_config(cls, item: ConfigItem, rs: RealServer, vs: VirtualServer) -> SmtpProbe:
        """The checker the SMTP_CHECK block `item` declares (the first of
        `all_from_config`). Raises CheckerRefused when keepalived drops it."""
        return cls.all_from_config(item, rs, vs)[0]

    @classmethod
    def all_from_config(
        cls, item: ConfigItem, rs: RealServer, vs: VirtualServer
    ) -> list[SmtpProbe]:
        """Every checker keepalived queues for the SMTP_CHECK block `item`: the block's
        own, then one per remaining host sub-block. Raises CheckerRefused when keepalived
        drops the block's own checker (the hosts go with it)."""
        main = ConnOpts()  # "unset" throughout, to tell whether anything was given
        timing = Timing()
        helo: str | None = None
        hosts: list[ConnOpts] = []
        for child in item.children:
            if child.keyword == "host":
                host = ConnOpts.of_real_server(rs)
                host.timeout = 0
                for sub in child.children:
                    if not host.apply(sub):
                        timing.apply(sub)
                if host.refusal() is None:
                    hosts.append(host)
            elif main.apply(child) or timing.apply(child):
                continue
            elif child.keyword == "helo_name" and child.args:
                helo = child.args[0]
        if hosts:
            log.info(HOST_DEPRECATED)
        # the timeout an option set leaves unset takes: the real server's or virtual
        # server's connect_timeout read so far (before this SMTP_CHECK line)
        earlier = ServerTiming.of(rs, vs, _before(rs.items, item), _vs_items_before(vs, rs))
        assert earlier.connect_timeout is not None
        conn_to = earlier.connect_timeout
        given = (
            main.family
            or main.port
            or main.bind_family
            or main.bind_port
            or main.bind_if
            or main.fwmark
            or main.timeout is not None
        )
        checkers: list[ConnOpts] = []
        if given or not hosts:
            if not main.family:
                main.family, main.ip = rs.family, rs.ip or ""
            if not main.port:
                main.port = rs.port_num
            refusal = main.refusal()
            if refusal is not None:
                raise CheckerRefused(refusal)
            checkers.append(main)
        checkers.extend(hosts)
        run = timing.resolve(rs, vs, SMTP_DEFAULT_RETRY, SMTP_DEFAULT_DELAY_BEFORE_RETRY)
        return [
            cls(
                target=conn.target(conn_to),
                helo_name=SMTP_DEFAULT_HELO if helo is None else helo,
                retry=run.retry,
                delay_before_retry=run.delay_before_retry / TIMER_HZ,
                delay_loop=run.delay_loop / TIMER_HZ,
                warmup=run.warmup / TIMER_HZ,
                log_all_failures=run.log_all_failures,
                server=format_rs(rs, vs),
                rs_pair=sockaddr_pair(rs.ip or "", rs.port_num),
            )
            for conn in checkers
        ]

    @property
    def success_line(self) -> str:
        """What keepalived logs when the check passes after failing (or first passes)."""
        return f"Remote SMTP server {self.server} succeed on service."

    def _fail(self, message: str) -> Attempt:
        return Attempt(False, f"SMTP_CHECK {message}")

    async def attempt(self) -> Attempt:
        """One dialogue (smtp_connect_thread to smtp_final)."""
        target = self.target
        pair = sockaddr_pair(target.ip, target.port)
        try:
            sock = open_socket(target, socket.SOCK_STREAM)
        except OSError:
            return self._fail("connection failed to create socket. Rescheduling.")
        status, why = bind_connect(sock, target)
        if status is Connect.FAIL:
            sock.close()
            return self._fail(
                f"Network unreachable for server {target.ip} - real server {self.rs_pair}"
            )
        if status is Connect.ERROR:
            sock.close()
            log.info("SMTP_CHECK %s", why)
            return self._fail("socket bind failed. Rescheduling.")
        if status is Connect.IN_PROGRESS:
            state = await wait_connected(sock, target.timeout)
            if state is not Connect.SUCCESS:
                sock.close()
                return self._fail(f"{_CONNECT_WORDS[state]} {pair}")
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError:
            sock.close()
            return self._fail(f"Error connecting to server {pair}")
        try:
            await self._dialogue(reader, writer, pair)
        except _Failed as failed:
            return self._fail(str(failed))
        finally:
            writer.close()
        return Attempt(True)

    async def _dialogue(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: str
    ) -> None:
        if smtp_status(await self._line(reader, pair)) != 220:
            raise _Failed(f"Bad greeting banner from server {pair}")
        helo = f"HELO {self.helo_name}\r\n".encode("utf-8", "surrogateescape")
        await self._put(writer, helo[: SMTP_BUFF_MAX - 1], pair)
        if smtp_status(await self._line(reader, pair)) != 250:
            raise _Failed(f"Bad HELO response from server {pair}")
        await self._put(writer, b"QUIT\r\n", pair)
        await self._line(reader, pair)

    async def _line(self, reader: asyncio.StreamReader, pair: str) -> bytes:
        """smtp_get_line(): read until the buffer (as a C string) holds a newline; each
        read has the whole timeout; a full buffer starts over, as keepalived's does."""
        buff = b""
        while True:
            if len(buff) >= SMTP_BUFF_MAX - 1:
                log.info(
                    "SMTP_CHECK Buffer overflow reading from server %s. "
                    "Increase SMTP_BUFF_MAX in check_smtp.h",
                    pair,
                )
                buff = b""
            try:
                chunk = await asyncio.wait_for(
                    reader.read(SMTP_BUFF_MAX - len(buff) - 1), self.target.timeout
                )
            except TimeoutError:
                raise _Failed(f"Read timeout from server {pair}") from None
            except OSError:
                raise _Failed(f"Read failure from server {pair}") from None
            if not chunk:
                raise _Failed(f"Read failure from server {pair}")
            buff += chunk
            text = buff.split(b"\0", 1)[0]
            newline = text.find(b"\n")
            if newline >= 0:
                return text[:newline]

    async def _put(self, writer: asyncio.StreamWriter, data: bytes, pair: str) -> None:
        """smtp_put_line(): one write, with the whole timeout."""
        try:
            writer.write(data)
            await asyncio.wait_for(writer.drain(), self.target.timeout)
        except TimeoutError:
            raise _Failed(f"Write timeout to server {pair}") from None
        except OSError:
            raise _Failed(f"Write failure to server {pair}") from None


_CONNECT_WORDS = {
    Connect.ERROR: "Error connecting to server",
    Connect.TIMEOUT: "Connection timeout to server",
    Connect.FAIL: "Could not connect to server",
}


def _before(items: list[ConfigItem], item: ConfigItem) -> list[ConfigItem]:
    """The items of a block read before `item`."""
    for index, other in enumerate(items):
        if other is item:
            return items[:index]
    return items


def _vs_items_before(vs: VirtualServer, rs: RealServer) -> list[ConfigItem]:
    """The virtual server's own lines read before real server `rs` (those of another
    file than the real server's count as read before it)."""
    return [i for i in vs.items if i.file != rs.file or i.line < rs.line]

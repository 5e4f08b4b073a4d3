"""SMTP_CHECK as keepalived 2.2.7 runs it (keepalived/check/check_smtp.c): connect over
TCP, read the greeting (its status must be 220), send ``HELO name``, read the reply (250),
send ``QUIT``, read one more line (any). Each wait (the connect, every read, every write)
has its own connect_timeout: a server that trickles its lines is not timed out as a whole.

A status is the line's first three characters read as C's strtoul reads them, followed by
the end of the line or a space: ``220-`` (a continued greeting) and a bare ``220`` before
CR LF are bad greetings to keepalived. A line is what a read holds up to its first newline;
the rest of that read is dropped.

Defaults are keepalived's: helo_name ``smtpchecker.keepalived.org``, the real server's
address and port (not 25).

The deprecated ``host`` sub-blocks are read by the model as 2.2.7 reads them
(`model.CheckerSpec`): each is one more checker with the same HELO name and timers, and
its own connection options; every one of them is an `SmtpProbe` of its own."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ..conf.values import strtoul
from .conn import Connect, connect, sockaddr_pair
from .model import CheckerSpec, format_rs
from .probe import Attempt, Target

__all__ = ["SMTP_DEFAULT_HELO", "SmtpProbe", "smtp_status"]

log = logging.getLogger("halab-vrrpd")

SMTP_DEFAULT_HELO = "smtpchecker.keepalived.org"
SMTP_BUFF_MAX = 512


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
    """One SMTP_CHECK (or one of its host entries) of one real server. `rs_pair` is the
    real server as keepalived names it in "Network unreachable" (``[ADDRESS]:PORT``),
    `server` as in its success line (``[ADDRESS]:PROTOCOL:PORT``)."""

    target: Target
    helo_name: str = SMTP_DEFAULT_HELO
    server: str = ""
    rs_pair: str = ""
    kind: str = "SMTP_CHECK"

    @classmethod
    def from_spec(cls, spec: CheckerSpec) -> SmtpProbe:
        """The checker `spec` (the SMTP_CHECK block's own, or one of its hosts'). Raises
        CheckerRefused when keepalived drops it."""
        assert spec.conn is not None
        helo: str | None = None
        for child in spec.item.children:
            if child.keyword == "helo_name" and child.args:
                helo = child.args[0]
        rs = spec.rs
        return cls(
            target=spec.conn.target(),
            helo_name=SMTP_DEFAULT_HELO if helo is None else helo,
            server=format_rs(rs, spec.vs),
            rs_pair=sockaddr_pair(rs.ip or "", rs.port_num),
        )

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
        done = await connect(target)
        if done.sock is None:
            if done.step == "socket":
                return self._fail("connection failed to create socket. Rescheduling.")
            if done.step == "state":
                return self._fail(f"{_CONNECT_WORDS[done.status]} {pair}")
            if done.status is Connect.FAIL:
                return self._fail(
                    f"Network unreachable for server {target.ip} - real server {self.rs_pair}"
                )
            log.info("SMTP_CHECK %s", done.why)
            return self._fail("socket bind failed. Rescheduling.")
        sock = done.sock
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

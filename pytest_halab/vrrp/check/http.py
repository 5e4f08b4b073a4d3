"""HTTP_GET and SSL_GET (keepalived's check_http.c): one GET per attempt, of one url at a
time (the runner walks the urls as keepalived does), judged by status code (default
200-299; ranges allowed) and, when given, the MD5 digest of the body. SSL_GET makes a TLS
connection without checking the server's certificate, as keepalived does by default.

Each failure carries keepalived's words for it (the text its timeout_epilog logs):
``Timeout connecting server [10.0.0.1]:tcp:80.``, ``HTTP status code error to server ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from ..conf.model import ConfigItem
from .conn import Connect, connect
from .model import CheckerSpec, format_rs, item_value
from .probe import Attempt, Target

__all__ = ["HttpProbe", "Url", "parse_status_codes"]

HTTP_STATUS_MIN, HTTP_STATUS_MAX = 100, 599
DEFAULT_STATUS = frozenset(range(200, 300))
READ_LIMIT = 16 * 1024 * 1024  # a body beyond this is not read further


def parse_status_codes(args: Sequence[str]) -> frozenset[int]:
    """``status_code 200 301-399``: codes and ranges in [100, 599]; bad words skipped."""
    codes: set[int] = set()
    for word in args:
        lo_text, dash, hi_text = word.partition("-")
        if not lo_text.isdigit() or (dash and not hi_text.isdigit()):
            continue
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
        if HTTP_STATUS_MIN <= lo <= hi <= HTTP_STATUS_MAX:
            codes.update(range(lo, hi + 1))
    return frozenset(codes)


@dataclass(frozen=True)
class Url:
    path: str
    digest: bytes | None
    status_codes: frozenset[int]
    virtualhost: str | None


def _url(item: ConfigItem) -> Url | None:
    sub = item.children
    path = item_value(sub, "path")
    if not path:
        return None  # keepalived: "HTTP/SSL_GET checker url has no path - ignoring"
    digest = None
    digest_args = next((c.args for c in sub if c.keyword == "digest"), None)  # the first wins
    if digest_args and len(digest_args[0]) == 32:
        with contextlib.suppress(ValueError):
            digest = bytes.fromhex(digest_args[0])
    codes: set[int] = set()
    for c in sub:
        if c.keyword == "status_code":
            codes |= parse_status_codes(c.args)
    vhost = item_value(sub, "virtualhost")
    return Url(path[0], digest, frozenset(codes) or DEFAULT_STATUS, vhost[0] if vhost else None)


class HttpProbe:
    """One HTTP_GET or SSL_GET of one real server: its urls, checked one per attempt."""

    def __init__(
        self,
        kind: str,
        target: Target,
        name: str,
        urls: Sequence[Url],
        virtualhost: str | None = None,
        protocol: str = "1.0",
        sni: bool = False,
    ) -> None:
        self.kind = kind
        self.target = target
        self.name = name
        self.urls = list(urls)
        self.virtualhost = virtualhost
        self.protocol = protocol
        self.sni = sni

    @classmethod
    def from_spec(cls, spec: CheckerSpec) -> HttpProbe:
        item, rs, vs = spec.item, spec.rs, spec.vs
        assert spec.conn is not None
        sub = item.children
        urls = [u for c in sub if c.keyword == "url" if (u := _url(c)) is not None]
        vhost = (
            item_value(sub, "virtualhost")
            or item_value(rs.items, "virtualhost")
            or item_value(vs.items, "virtualhost")
        )
        proto = (item_value(sub, "http_protocol") or ["1.0"])[0]
        if proto not in ("1.0", "1.1", "1.0C", "1.0c"):
            proto = "1.0"
        return cls(
            item.keyword,
            spec.conn.target(),
            format_rs(rs, vs),
            urls,
            vhost[0] if vhost else None,
            proto.upper(),
            item_value(sub, "enable_sni") is not None,
        )

    # -- the lines the runner logs
    def up_line(self, rs_name: str) -> str:
        return f"Remote Web server {rs_name} succeed on service."

    def down_line(self, rs_name: str, retries: int | None) -> str:
        if retries:
            return f"HTTP_CHECK on service {rs_name} failed after {retries} retries."
        return f"HTTP_CHECK on service {rs_name} failed."

    def request(self, url: Url) -> bytes:
        """keepalived's GET: HTTP/1.0 (or 1.1), its User-Agent, ``Connection: close``
        for 1.1 and 1.0C, and Host: the virtualhost, else ADDRESS:PORT."""
        vhost = url.virtualhost or self.virtualhost
        if vhost:
            host = vhost
        elif self.target.family == socket.AF_INET6:
            host = f"[{self.target.ip}]:{self.target.port}"
        else:
            host = f"{self.target.ip}:{self.target.port}"
        minor = 1 if self.protocol == "1.1" else 0
        close = "Connection: close\r\n" if self.protocol in ("1.1", "1.0C") else ""
        return (
            f"GET {url.path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n"
            f"{close}Host: {host}\r\n\r\n"
        ).encode("latin-1", "replace")

    async def attempt(self) -> Attempt:
        """Every url in turn; the first failure ends the attempt."""
        result = Attempt(True, "")
        for index in range(len(self.urls)):
            result = await self.attempt_url(index)
            if not result.ok:
                return result
        return result

    def _failed(self, words: str) -> Attempt:
        return Attempt(False, f"{words} server {self.name}.")

    async def attempt_url(self, index: int) -> Attempt:
        """One GET of url `index`. A success's detail is keepalived's "success to" line."""
        url = self.urls[index]
        timeout = self.target.timeout
        done = await connect(self.target)
        if done.sock is None:
            if done.status is Connect.TIMEOUT:
                return self._failed("Timeout connecting")
            if done.step == "state":
                return self._failed("Connection failed")
            return self._failed("HTTP_CHECK - network unreachable")
        sock = done.sock
        context = None
        if self.kind == "SSL_GET":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    sock=sock,
                    ssl=context,
                    server_hostname=(url.virtualhost or self.virtualhost or "")
                    if context and self.sni
                    else ("" if context else None),
                ),
                timeout,
            )
        except TimeoutError:
            sock.close()
            return self._failed("Timeout connecting")
        except (OSError, ssl.SSLError):
            sock.close()
            return self._failed("SSL handshake/communication error connecting to")
        try:
            return await self._exchange(url, reader, writer, timeout)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _exchange(
        self,
        url: Url,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        timeout: float,
    ) -> Attempt:
        try:
            writer.write(self.request(url))
            await asyncio.wait_for(writer.drain(), timeout)
        except TimeoutError:
            return self._failed("Timeout WEB write")
        except (OSError, ssl.SSLError):
            return self._failed("Cannot send get request to")
        data = bytearray()
        while len(data) < READ_LIMIT:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                return self._failed("Timeout HTTP read" if data else "Timeout WEB read")
            except (OSError, ssl.SSLError):
                if not data:
                    return self._failed("Read error with")
                break
            if not chunk:
                break
            data += chunk
        if not data:
            return self._failed("Read, no data received from ")
        head, _sep, body = bytes(data).partition(b"\r\n\r\n")
        status = _status(head)
        if status is None or status not in url.status_codes:
            return self._failed("HTTP status code error to")
        what = "HTTP status code"
        if url.digest is not None:
            if hashlib.md5(body, usedforsecurity=False).digest() != url.digest:
                return self._failed("MD5 digest error to")
            what = "MD5 digest"
        return Attempt(True, f"{what} success to {self.name} url({url.path})")


def _status(head: bytes) -> int | None:
    line = head.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return int(line[1])
    return None

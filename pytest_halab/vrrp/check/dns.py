"""DNS_CHECK as keepalived 2.2.7 runs it (keepalived/check/check_dns.c): one UDP query
(a random id, flags RD alone, one question of the configured type and name, class IN) to
the real server, and the first answer that carries the query's id and the QR bit decides:
RCODE 0 passes, any other RCODE fails. Nothing else of the answer is looked at (not its
answer count, nor TC); a datagram shorter than 8 bytes, with another id, or without QR is
skipped and the wait goes on. The whole attempt has one deadline, connect_timeout after
the socket is connected.

Defaults are keepalived's: type SOA, name "" (the root, the same query as "."), the real
server's address and port; its timers (retry 3, delay_before_retry the delay_loop) are the
model's."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from dataclasses import dataclass

from ..conf.virtual_server import DNS_TYPES, dns_empty_label, dns_type_lookup
from .conn import Connect, connect, sockaddr_pair
from .model import CheckerSpec, format_rs
from .probe import Attempt, Target

__all__ = ["DnsProbe", "build_query"]

log = logging.getLogger("halab-vrrpd")

DNS_DEFAULT_TYPE = DNS_TYPES["SOA"]
DNS_DEFAULT_NAME = ""
DNS_BUFFER_SIZE = 768
FLAG_QR = 0x8000
FLAG_RD = 0x0100
CLASS_IN = 1
# keepalived compares the length read with sizeof(r_header), r_header being a pointer:
# 8 bytes on a 64-bit host, not the 12 of a DNS header
SHORTEST_ANSWER = 8


def build_query(query_id: bytes, qtype: int, name: str) -> bytes:
    """dns_make_query(): the 12-byte header (the id, RD, one question) and the question,
    each dot-separated part of `name` as a label (its length kept to a byte, as
    keepalived's cast does), a final empty label unless the name is ``.``."""
    header = query_id + FLAG_RD.to_bytes(2, "big") + (1).to_bytes(2, "big") + bytes(6)
    raw = name.encode("utf-8", "surrogateescape")
    qname = bytearray()
    start = 0
    while start < len(raw):
        end = raw.find(b".", start)
        if end < 0:
            end = len(raw)
        part = raw[start:end]
        qname.append(len(part) & 0xFF)
        qname += part
        start = end + 1 if end < len(raw) else end
    if raw != b".":
        qname.append(0)
    return header + bytes(qname) + qtype.to_bytes(2, "big") + CLASS_IN.to_bytes(2, "big")


@dataclass
class DnsProbe:
    """One DNS_CHECK of one real server. `server` is the real server as keepalived names
    it in the check's log lines (``[ADDRESS]:PROTOCOL:PORT``)."""

    target: Target
    qtype: int = DNS_DEFAULT_TYPE
    name: str = DNS_DEFAULT_NAME
    server: str = ""
    kind: str = "DNS_CHECK"

    @classmethod
    def from_spec(cls, spec: CheckerSpec) -> DnsProbe:
        """The DNS_CHECK `spec`, its type and name read as keepalived's handlers read
        them. Raises CheckerRefused when keepalived drops the checker."""
        assert spec.conn is not None
        qtype = DNS_DEFAULT_TYPE
        name: str | None = None
        for child in spec.item.children:
            if child.keyword == "type" and child.args:
                qtype = dns_type_lookup(child.args[0]) or qtype
            elif (
                child.keyword == "name"
                and child.args
                and name is None
                and not dns_empty_label(child.args[0])
            ):
                name = child.args[0]
        return cls(
            target=spec.conn.target(),
            qtype=qtype,
            name=DNS_DEFAULT_NAME if name is None else name,
            server=format_rs(spec.rs, spec.vs),
        )

    @property
    def type_name(self) -> str:
        """keepalived's dns_type_name()."""
        return next((k for k, v in DNS_TYPES.items() if v == self.qtype), "(unknown)")

    def _fail(self, message: str) -> Attempt:
        return Attempt(False, f"DNS_CHECK ({self.server}) {message}")

    async def attempt(self) -> Attempt:
        """One query and its answer (dns_connect_thread to dns_recv_thread)."""
        target = self.target
        loop = asyncio.get_running_loop()
        deadline = loop.time() + target.timeout
        done = await connect(target, socket.SOCK_DGRAM)
        if done.sock is None:
            if done.step == "socket":
                return self._fail("failed to create socket. Rescheduling.")
            if done.step == "state":
                return self._fail(_CONNECT_WORDS[done.status])
            if done.status is Connect.FAIL:
                pair = sockaddr_pair(target.ip, target.port)
                return self._fail(f"network unreachable for {pair}")
            log.info("DNS_CHECK (%s) %s", self.server, done.why)
            return self._fail("UDP socket bind failed. Rescheduling.")
        with done.sock as sock:
            query = build_query(random.getrandbits(16).to_bytes(2, "big"), self.qtype, self.name)
            failure = await self._send(sock, query, deadline)
            if failure is not None:
                return self._fail(failure)
            return await self._answer(sock, query, deadline)

    async def _send(self, sock: socket.socket, query: bytes, deadline: float) -> str | None:
        loop = asyncio.get_running_loop()
        try:
            sent = sock.send(query)
        except BlockingIOError:
            try:
                await asyncio.wait_for(
                    loop.sock_sendall(sock, query), max(0.0, deadline - loop.time())
                )
            except TimeoutError:
                return "write timeout to socket."
            except OSError:
                return "failed to write socket."
            return None
        except OSError:
            return "failed to write socket."
        if sent != len(query):
            return "failed to write all of the datagram."
        return None

    async def _answer(self, sock: socket.socket, query: bytes, deadline: float) -> Attempt:
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return self._fail("read timeout from socket")
            try:
                answer = await asyncio.wait_for(loop.sock_recv(sock, DNS_BUFFER_SIZE), remaining)
            except TimeoutError:
                return self._fail("read timeout from socket")
            except OSError as exc:
                code = exc.errno or 0
                return self._fail(f"failed to read socket; errno {code} ({os.strerror(code)})")
            if len(answer) < SHORTEST_ANSWER or answer[:2] != query[:2]:
                continue
            flags = int.from_bytes(answer[2:4], "big")
            if not flags & FLAG_QR:
                continue
            rcode = flags & 0x000F
            if rcode:
                return self._fail(f"read error occurred. (rcode = {rcode})")
            return Attempt(True)


_CONNECT_WORDS = {
    Connect.ERROR: "connection error.",
    Connect.TIMEOUT: "connection timeout.",
    Connect.FAIL: "connection failure.",
}

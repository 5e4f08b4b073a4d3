"""DNS_CHECK as keepalived 2.2.7 runs it (check_dns.c), against a real UDP responder on
the loopback that answers each query as a test tells it to; and DNS_CHECK blocks read
from keepalived.conf text through the daemon's parser."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from pytest_halab.vrrp.check.conn import CheckerRefused
from pytest_halab.vrrp.check.dns import DnsProbe, build_query
from pytest_halab.vrrp.check.model import CheckerSpec, VirtualServerSpec, build_model
from pytest_halab.vrrp.check.probe import Attempt, Target
from pytest_halab.vrrp.conf import load_config
from pytest_halab.vrrp.conf.virtual_server import dns_empty_label

# What the responder sends back for one query: datagrams, in order (none: silence).
Replies = Callable[[bytes], list[bytes]]


class Responder(asyncio.DatagramProtocol):
    """A UDP server that records each query (and where it came from) and sends what
    `replies` makes of it."""

    def __init__(self, replies: Replies) -> None:
        self.replies = replies
        self.queries: list[tuple[bytes, tuple[str, int]]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries.append((data, addr))
        assert self.transport is not None
        for reply in self.replies(data):
            self.transport.sendto(reply, addr)


def answer(
    query: bytes, *, flags: int = 0x8180, ancount: int = 1, qid: bytes | None = None
) -> bytes:
    """A reply to `query`: its question echoed, `ancount` in the header (the answers
    themselves are left out: keepalived never reads them)."""
    header = (qid if qid is not None else query[:2]) + flags.to_bytes(2, "big")
    header += (1).to_bytes(2, "big") + ancount.to_bytes(2, "big") + bytes(4)
    return header + query[12:]


def run_probe(
    replies: Replies,
    *,
    timeout: float = 2.0,
    family: int = socket.AF_INET,
    host: str = "127.0.0.1",
    qtype: int = 6,
    name: str = "",
    bind_ip: str | None = None,
    bind_port: int = 0,
) -> tuple[Attempt, Responder]:
    async def main() -> tuple[Attempt, Responder]:
        loop = asyncio.get_running_loop()
        transport, responder = await loop.create_datagram_endpoint(
            lambda: Responder(replies), local_addr=(host, 0), family=family
        )
        try:
            port = transport.get_extra_info("sockname")[1]
            target = Target(host, port, family, timeout, bind_ip=bind_ip, bind_port=bind_port)
            probe = DnsProbe(target, qtype=qtype, name=name, server=f"[{host}]:udp:{port}")
            # the probe bounds itself; the outer bound only keeps a broken probe from
            # hanging the test run
            result = await asyncio.wait_for(probe.attempt(), timeout + 5)
        finally:
            transport.close()
        return result, responder

    return asyncio.run(main())


def test_a_good_answer_passes_and_the_query_is_keepalived_s() -> None:
    result, responder = run_probe(lambda q: [answer(q)], qtype=1, name="example.com")
    assert result == Attempt(True)
    ((query, _src),) = responder.queries
    assert query[2:12] == bytes.fromhex("0100 0001 0000 0000 0000")  # RD only, one question
    assert query[12:] == b"\x07example\x03com\x00" + b"\x00\x01" + b"\x00\x01"


def test_the_default_name_asks_for_the_root() -> None:
    result, responder = run_probe(lambda q: [answer(q)])
    assert result.ok
    assert responder.queries[0][0][12:] == b"\x00" + b"\x00\x06" + b"\x00\x01"


def test_each_attempt_has_its_own_id() -> None:
    ids: set[bytes] = set()
    for _ in range(6):
        _result, responder = run_probe(lambda q: [answer(q)])
        ids.add(responder.queries[0][0][:2])
    assert len(ids) > 1


def test_servfail_fails_with_its_rcode() -> None:
    result, responder = run_probe(lambda q: [answer(q, flags=0x8182, ancount=0)])
    port = responder.port
    assert result == Attempt(
        False, f"DNS_CHECK ([127.0.0.1]:udp:{port}) read error occurred. (rcode = 2)"
    )


def test_nxdomain_fails_too() -> None:
    result, _ = run_probe(lambda q: [answer(q, flags=0x8183, ancount=0)])
    assert not result.ok
    assert result.detail.endswith(") read error occurred. (rcode = 3)")
    assert result.detail.startswith("DNS_CHECK ([127.0.0.1]:udp:")


def test_an_answer_without_records_passes_as_in_keepalived() -> None:
    """keepalived reads no answer count: NOERROR with no answer is a pass."""
    result, _ = run_probe(lambda q: [answer(q, ancount=0)])
    assert result.ok


def test_a_wrong_id_is_skipped_and_the_right_answer_after_it_counts() -> None:
    def replies(q: bytes) -> list[bytes]:
        wrong = bytes([q[0] ^ 0xFF, q[1]])
        return [answer(q, qid=wrong, flags=0x8182), answer(q)]

    result, _ = run_probe(replies)
    assert result.ok


def test_only_a_wrong_id_is_a_read_timeout() -> None:
    result, _ = run_probe(lambda q: [answer(q, qid=bytes([q[0] ^ 0xFF, q[1]]))], timeout=0.3)
    assert not result.ok
    assert result.detail.endswith(") read timeout from socket")


def test_a_datagram_without_qr_is_skipped() -> None:
    result, _ = run_probe(lambda q: [q], timeout=0.3)  # the query echoed back
    assert result.detail.endswith(") read timeout from socket")
    result, _ = run_probe(lambda q: [q, answer(q)])
    assert result.ok


def test_no_answer_is_a_read_timeout() -> None:
    result, responder = run_probe(lambda q: [], timeout=0.3)
    assert len(responder.queries) == 1
    assert result.detail.endswith(") read timeout from socket")


def test_short_and_garbage_datagrams() -> None:
    # under 8 bytes: skipped, even with the right id and flags
    result, _ = run_probe(lambda q: [answer(q)[:7]], timeout=0.3)
    assert result.detail.endswith(") read timeout from socket")
    # 8 bytes with the right id, QR and NOERROR: keepalived's length test (the size of a
    # pointer) lets it pass
    result, _ = run_probe(lambda q: [answer(q)[:8]])
    assert result.ok
    # bytes that are not an answer to this query
    result, _ = run_probe(lambda q: [b"\xde\xad" + bytes(30)], timeout=0.3)
    assert result.detail.endswith(") read timeout from socket")
    # garbage after a good header does not matter; a bad RCODE in it does
    result, _ = run_probe(lambda q: [q[:2] + b"\x81\x85" + b"\xff" * 40])
    assert result.detail.endswith(") read error occurred. (rcode = 5)")


def test_a_closed_port_is_a_read_error() -> None:
    async def main() -> Attempt:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
            holder.bind(("127.0.0.1", 0))
            port = holder.getsockname()[1]
        probe = DnsProbe(Target("127.0.0.1", port, socket.AF_INET, 2.0), server="s")
        return await asyncio.wait_for(probe.attempt(), 7)

    result = asyncio.run(main())
    assert result == Attempt(
        False, "DNS_CHECK (s) failed to read socket; errno 111 (Connection refused)"
    )


def test_ipv6() -> None:
    result, responder = run_probe(lambda q: [answer(q)], family=socket.AF_INET6, host="::1")
    assert result.ok
    assert responder.queries[0][1][0] == "::1"


def test_bindto_and_bind_port_are_the_source() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.2", 0))
        free = holder.getsockname()[1]
    result, responder = run_probe(lambda q: [answer(q)], bind_ip="127.0.0.2", bind_port=free)
    assert result.ok
    assert responder.queries[0][1] == ("127.0.0.2", free)


def test_an_address_that_cannot_be_bound_is_keepalived_s_bind_failure() -> None:
    result, _ = run_probe(lambda q: [answer(q)], bind_ip="192.0.2.77")
    assert not result.ok
    assert result.detail.endswith(") UDP socket bind failed. Rescheduling.")


def test_query_building() -> None:
    assert build_query(b"\x12\x34", 28, "example.com.")[12:] == (
        b"\x07example\x03com\x00\x00\x1c\x00\x01"
    )
    assert build_query(b"\x12\x34", 6, ".")[12:] == b"\x00\x00\x06\x00\x01"
    assert build_query(b"\x12\x34", 6, "")[:2] == b"\x12\x34"


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        (".", False),
        ("example.com", False),
        ("example.com.", False),
        ("ab.example.com", False),
        ("a.example.com", True),  # keepalived 2.2.7's own test refuses a 1-letter first label
        ("ex..com", True),
        (".com", True),
        ("com..", True),
    ],
)
def test_empty_label(name: str, refused: bool) -> None:
    assert dns_empty_label(name) is refused


# -- from keepalived.conf text


def _load(tmp_path: Path, text: str) -> VirtualServerSpec:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    cfg, _diags = load_config(path, interfaces={"lo": True})
    (vs,) = build_model(cfg)
    return vs


def _checkers(vs: VirtualServerSpec, kind: str = "DNS_CHECK") -> Iterator[CheckerSpec]:
    for rs in vs.real_servers:
        for spec in rs.checkers:
            if spec.kind == kind:
                yield spec


def test_defaults_from_config(tmp_path: Path) -> None:
    vs = _load(
        tmp_path,
        """virtual_server 10.1.0.1 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 10.1.1.1 5353 {
        DNS_CHECK {
        }
    }
}
""",
    )
    (spec,) = _checkers(vs)
    probe = DnsProbe.from_spec(spec)
    assert probe.kind == "DNS_CHECK"
    assert probe.target == Target("10.1.1.1", 5353, socket.AF_INET, 5.0)
    assert (probe.type_name, probe.name) == ("SOA", "")
    assert (spec.retry, spec.delay_loop, spec.delay_before_retry, spec.warmup) == (
        3,
        60,
        60,
        60,
    )
    assert probe.server == "[10.1.1.1]:udp:5353"


def test_keywords_from_config(tmp_path: Path) -> None:
    vs = _load(
        tmp_path,
        """virtual_server 10.1.0.1 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    delay_loop 10
    connect_timeout 7
    real_server 10.1.1.1 53 {
        retry 2
        DNS_CHECK {
            type FOO
            type aaaa
            name a.example.com
            name ex..com
            name example.org
            name other.org
            connect_ip 10.9.9.9
            connect_port 5300
            bindto 10.1.0.5
            bind_port 2000
            connect_timeout 1.5
            delay_before_retry 0.25
        }
        DNS_CHECK {
            connect_ip 2001:db8::1
            retry 0
        }
    }
}
""",
    )
    first, second = _checkers(vs)
    probe = DnsProbe.from_spec(first)
    assert probe.type_name == "AAAA"  # FOO ignored, case ignored
    assert probe.name == "example.org"  # refused names ignored, a second one too
    assert probe.target == Target(
        "10.9.9.9", 5300, socket.AF_INET, 1.5, bind_ip="10.1.0.5", bind_port=2000
    )
    assert (first.retry, first.delay_before_retry, first.delay_loop) == (2, 0.25, 10)
    other = DnsProbe.from_spec(second)
    assert other.target == Target("2001:db8::1", 53, socket.AF_INET6, 7.0)
    assert (second.retry, second.delay_before_retry) == (0, 10)  # delay_before_retry: delay_loop


def test_a_link_local_address_without_bind_if_is_dropped(tmp_path: Path) -> None:
    vs = _load(
        tmp_path,
        """virtual_server fe80::10 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server fe80::1 53 {
        DNS_CHECK {
        }
        DNS_CHECK {
            bind_if lo
        }
    }
}
""",
    )
    bare, bound = _checkers(vs)
    with pytest.raises(
        CheckerRefused, match="Checker link local address fe80::1 requires a bind_if"
    ):
        DnsProbe.from_spec(bare)
    assert DnsProbe.from_spec(bound).target.bind_interface == "lo"


def test_from_config_to_a_live_responder(tmp_path: Path) -> None:
    """A parsed checker runs: its name and type reach the wire."""

    async def main() -> tuple[Attempt, list[bytes]]:
        loop = asyncio.get_running_loop()
        seen: list[bytes] = []

        def replies(q: bytes) -> list[bytes]:
            seen.append(q)
            return [answer(q)]

        transport, _ = await loop.create_datagram_endpoint(
            lambda: Responder(replies), local_addr=("127.0.0.1", 0)
        )
        try:
            port = transport.get_extra_info("sockname")[1]
            vs = _load(
                tmp_path,
                f"""virtual_server 127.0.0.1 53 {{
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 127.0.0.1 {port} {{
        DNS_CHECK {{
            type MX
            name example.net
            connect_timeout 2
        }}
    }}
}}
""",
            )
            (spec,) = _checkers(vs)
            result = await asyncio.wait_for(DnsProbe.from_spec(spec).attempt(), 7)
        finally:
            transport.close()
        return result, seen

    result, seen = asyncio.run(main())
    assert result.ok
    assert seen[0][12:] == b"\x07example\x03net\x00\x00\x0f\x00\x01"


# What keepalived 2.2.7 (Debian's 1:2.2.7-1+b2) prints for this file with -t, each at its
# line; with keepalived installed the test also asks it.
REPORTED = """virtual_server 10.1.0.1 53 {
    lb_algo rr
    lb_kind NAT
    protocol UDP
    real_server 10.1.1.1 53 {
        DNS_CHECK {
            type FOO
            type aaaa
            name a.example.com
            name ex..com
            name .com
            name example.com
            name other.com
            connect_port 0
        }
        SMTP_CHECK {
            helo_name
        }
    }
}
"""
REPORTED_MESSAGES = {
    (7, "Unknown DNS check type FOO - ignoring"),
    (9, "DNS_CHECK name 'a.example.com' has empty label - ignoring"),
    (10, "DNS_CHECK name 'ex..com' has empty label - ignoring"),
    (11, "DNS_CHECK name '.com' has empty label - ignoring"),
    (13, "DNS_CHECK name already specified - ignoring"),
    (14, "number '0' outside range [1, 65535]"),
    (14, "Invalid checker connect_port '0'"),
    (17, "SMTP_CHECK helo name missing"),
}


def test_parse_reports_as_keepalived(tmp_path: Path) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(REPORTED)
    _cfg, diags = load_config(path, interfaces={"lo": True})
    printed = {(d.line, d.message) for d in diags if d.printed_by_test and d.kind != "log"}
    assert printed == REPORTED_MESSAGES


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")
def test_keepalived_reports_the_same(tmp_path: Path) -> None:
    path = tmp_path / "keepalived.conf"
    path.write_text(REPORTED)
    done = subprocess.run(
        ["keepalived", "-t", "-l", "-n", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    seen = set()
    for line in (done.stdout + done.stderr).splitlines():
        head, _, message = line.partition(") ")
        if head.startswith("(") and "Line " in head:
            seen.add((int(head.rsplit("Line ", 1)[1]), message))
    assert seen == REPORTED_MESSAGES

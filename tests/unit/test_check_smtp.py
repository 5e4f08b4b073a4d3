"""SMTP_CHECK as keepalived 2.2.7 runs it (check_smtp.c), against a real TCP server on the
loopback that plays the part each test scripts; and SMTP_CHECK blocks (host sub-blocks
too) read from keepalived.conf text through the daemon's parser."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from pytest_halab.vrrp.check.conn import CheckerRefused
from pytest_halab.vrrp.check.model import CheckerSpec, VirtualServerSpec, build_model
from pytest_halab.vrrp.check.probe import Attempt, Target
from pytest_halab.vrrp.check.smtp import SMTP_DEFAULT_HELO, SmtpProbe, smtp_status
from pytest_halab.vrrp.conf import load_config

# The server's side of one connection; what it read is appended to the list it gets.
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]


def run_probe(
    script: Script,
    *,
    timeout: float = 2.0,
    family: int = socket.AF_INET,
    host: str = "127.0.0.1",
    helo: str = SMTP_DEFAULT_HELO,
) -> tuple[Attempt, list[bytes], int]:
    """Serve `script` on the loopback, run one attempt at it; returns the attempt, the
    lines the server read, and its port."""

    async def main() -> tuple[Attempt, list[bytes], int]:
        heard: list[bytes] = []
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await script(reader, writer, heard)
            finally:
                writer.close()
                done.set()

        server = await asyncio.start_server(handle, host, 0, family=family)
        port = server.sockets[0].getsockname()[1]
        try:
            probe = SmtpProbe(Target(host, port, family, timeout), helo_name=helo)
            # the probe bounds each step itself; this bound only keeps a broken probe from
            # hanging the run
            result = await asyncio.wait_for(probe.attempt(), 4 * timeout + 5)
            await asyncio.wait_for(done.wait(), 5)
        finally:
            server.close()
        return result, heard, port

    return asyncio.run(main())


async def _read(reader: asyncio.StreamReader, heard: list[bytes]) -> None:
    heard.append(await asyncio.wait_for(reader.readline(), 5))


async def good(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
) -> None:
    writer.write(b"220 mx.test ESMTP ready\r\n")
    await _read(reader, heard)
    writer.write(b"250 mx.test pleased to meet you\r\n")
    await _read(reader, heard)
    writer.write(b"221 bye\r\n")
    await writer.drain()


def test_a_good_dialogue_passes() -> None:
    result, heard, _ = run_probe(good)
    assert result == Attempt(True)
    assert heard == [b"HELO smtpchecker.keepalived.org\r\n", b"QUIT\r\n"]


def test_the_helo_name_is_sent() -> None:
    result, heard, _ = run_probe(good, helo="lb1.example.com")
    assert result.ok
    assert heard[0] == b"HELO lb1.example.com\r\n"


def banner(text: bytes) -> Script:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        writer.write(text)
        await writer.drain()
        # wait for the checker to hang up (it must not send HELO)
        heard.append(await asyncio.wait_for(reader.read(), 5))

    return script


@pytest.mark.parametrize(
    "text",
    [
        b"554 no service here\r\n",
        b"220-mx.test first of two lines\r\n220 mx.test\r\n",  # a continued greeting
        b"220\r\n",  # the CR follows the status: not a space, not the end
        b"hello\r\n",
        b"2200 mx\r\n",
    ],
)
def test_a_bad_banner_fails(text: bytes) -> None:
    result, heard, port = run_probe(banner(text))
    assert result == Attempt(
        False, f"SMTP_CHECK Bad greeting banner from server [127.0.0.1]:{port}"
    )
    assert heard == [b""]  # nothing sent: the checker closed


def test_a_banner_in_pieces_is_put_together() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        writer.write(b"22")
        await writer.drain()
        writer.write(b"0 mx")
        await writer.drain()
        writer.write(b".test\r\n")
        await _read(reader, heard)
        writer.write(b"250 ok\r\n")
        await _read(reader, heard)
        writer.write(b"221 bye\r\n")
        await writer.drain()

    result, _heard, _ = run_probe(script)
    assert result.ok


def test_a_bad_helo_reply_fails() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        writer.write(b"220 mx.test\r\n")
        await _read(reader, heard)
        writer.write(b"501 syntax error\r\n")
        heard.append(await asyncio.wait_for(reader.read(), 5))

    result, heard, port = run_probe(script)
    assert result == Attempt(False, f"SMTP_CHECK Bad HELO response from server [127.0.0.1]:{port}")
    assert heard == [b"HELO smtpchecker.keepalived.org\r\n", b""]  # no QUIT


def test_any_reply_to_quit_passes_but_none_fails() -> None:
    async def odd_quit(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        writer.write(b"220 mx\r\n")
        await _read(reader, heard)
        writer.write(b"250 ok\r\n")
        await _read(reader, heard)
        writer.write(b"500 what?\r\n")
        await writer.drain()

    assert run_probe(odd_quit)[0].ok

    async def hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        writer.write(b"220 mx\r\n")
        await _read(reader, heard)
        writer.write(b"250 ok\r\n")
        await _read(reader, heard)

    result, _, port = run_probe(hang_up)
    assert result == Attempt(False, f"SMTP_CHECK Read failure from server [127.0.0.1]:{port}")


def test_a_silent_server_is_a_read_timeout() -> None:
    async def silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        heard.append(await asyncio.wait_for(reader.read(), 5))

    result, heard, port = run_probe(silent, timeout=0.3)
    assert result == Attempt(False, f"SMTP_CHECK Read timeout from server [127.0.0.1]:{port}")
    assert heard == [b""]


def test_a_silent_helo_reply_is_a_read_timeout() -> None:
    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        writer.write(b"220 mx\r\n")
        await _read(reader, heard)
        heard.append(await asyncio.wait_for(reader.read(), 5))

    result, _, port = run_probe(script, timeout=0.3)
    assert result == Attempt(False, f"SMTP_CHECK Read timeout from server [127.0.0.1]:{port}")


def test_each_step_has_the_whole_timeout() -> None:
    """keepalived times each wait, not the dialogue: three replies each 0.4 s late pass
    a 1 s connect_timeout though the dialogue takes longer than 1 s."""

    async def slow(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(0.4)
        writer.write(b"220 mx\r\n")
        await _read(reader, heard)
        await asyncio.sleep(0.4)
        writer.write(b"250 ok\r\n")
        await _read(reader, heard)
        await asyncio.sleep(0.4)
        writer.write(b"221 bye\r\n")
        await writer.drain()
        heard.append(f"{loop.time() - start:.3f}".encode())

    result, heard, _ = run_probe(slow, timeout=1.0)
    assert result.ok
    assert float(heard[-1]) > 1.0


def test_a_hang_up_at_once_is_a_read_failure() -> None:
    async def close(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[bytes]
    ) -> None:
        return None

    result, _, port = run_probe(close)
    assert result == Attempt(False, f"SMTP_CHECK Read failure from server [127.0.0.1]:{port}")


def test_a_closed_port_could_not_connect() -> None:
    async def main() -> tuple[Attempt, int]:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            port = holder.getsockname()[1]
        probe = SmtpProbe(Target("127.0.0.1", port, socket.AF_INET, 2.0))
        return await asyncio.wait_for(probe.attempt(), 7), port

    result, port = asyncio.run(main())
    # a loopback connect is in progress first; the refusal comes with SO_ERROR
    assert result == Attempt(False, f"SMTP_CHECK Could not connect to server [127.0.0.1]:{port}")


def test_ipv6() -> None:
    result, heard, _ = run_probe(good, family=socket.AF_INET6, host="::1")
    assert result.ok
    assert heard[1] == b"QUIT\r\n"


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"220 ok", 220),
        (b"220", 220),
        (b"220\r", -1),
        (b"220-more", -1),
        (b" 22 x", 22),  # strtoul skips the blank, which counts in the three characters
        (b"", -1),
        (b"abc", -1),
    ],
)
def test_smtp_status(line: bytes, status: int) -> None:
    assert smtp_status(line) == status


# -- from keepalived.conf text


def _load(tmp_path: Path, text: str) -> VirtualServerSpec:
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    cfg, _diags = load_config(path, interfaces={"lo": True})
    (vs,) = build_model(cfg)
    return vs


def _checkers(vs: VirtualServerSpec) -> Iterator[list[CheckerSpec]]:
    """The checkers of each SMTP_CHECK block (one per host it queues)."""
    for rs in vs.real_servers:
        blocks: dict[int, list[CheckerSpec]] = {}
        for spec in rs.checkers:
            if spec.kind == "SMTP_CHECK":
                blocks.setdefault(id(spec.item), []).append(spec)
        yield from blocks.values()


def test_defaults_from_config(tmp_path: Path) -> None:
    vs = _load(
        tmp_path,
        """virtual_server 10.1.0.1 587 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.1.1.1 587 {
        SMTP_CHECK {
            helo_name
        }
    }
}
""",
    )
    ((spec,),) = _checkers(vs)
    probe = SmtpProbe.from_spec(spec)
    assert probe.kind == "SMTP_CHECK"
    # the real server's port, not 25; helo_name without a name leaves the default
    assert probe.target == Target("10.1.1.1", 587, socket.AF_INET, 5.0)
    assert probe.helo_name == "smtpchecker.keepalived.org"
    assert (spec.retry, spec.delay_before_retry, spec.delay_loop) == (1, 1.0, 60.0)
    assert probe.success_line == "Remote SMTP server [10.1.1.1]:tcp:587 succeed on service."


def test_keywords_from_config(tmp_path: Path) -> None:
    vs = _load(
        tmp_path,
        """virtual_server 2001:db8::10 25 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    connect_timeout 3
    real_server 2001:db8::1 25 {
        SMTP_CHECK {
            helo_name "lb.example.com"
            connect_port 2525
            bindto 2001:db8::5
            retry 4
            delay_before_retry 2
            delay_loop 6
        }
        connect_timeout 9
    }
}
""",
    )
    ((spec,),) = _checkers(vs)
    probe = SmtpProbe.from_spec(spec)
    assert probe.helo_name == "lb.example.com"
    # connect_timeout 9 comes after the block: keepalived has already taken the
    # virtual server's 3 s
    assert probe.target == Target("2001:db8::1", 2525, socket.AF_INET6, 3.0, bind_ip="2001:db8::5")
    assert (spec.retry, spec.delay_before_retry, spec.delay_loop) == (4, 2.0, 6.0)


def test_host_blocks_as_2_2_7_reads_them(tmp_path: Path) -> None:
    vs = _load(
        tmp_path,
        """virtual_server 10.1.0.1 25 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.1.1.1 25 {
        SMTP_CHECK {
            helo_name mx.check
            host {
                connect_ip 10.1.1.2
                retry 3
            }
            host {
                connect_port 2525
                connect_timeout 4
            }
        }
        SMTP_CHECK {
            connect_timeout 2
            host {
                connect_ip 10.1.1.3
            }
        }
    }
}
""",
    )
    hosts_only, mixed = _checkers(vs)
    first, second = (SmtpProbe.from_spec(spec) for spec in hosts_only)
    # no connection option of its own: the first host takes the checker's place; a host
    # without connect_timeout has 0 (keepalived's zeroed allocation)
    assert first.target == Target("10.1.1.2", 25, socket.AF_INET, 0.0)
    assert second.target == Target("10.1.1.1", 2525, socket.AF_INET, 4.0)
    assert {p.helo_name for p in (first, second)} == {"mx.check"}
    assert {s.retry for s in hosts_only} == {3}  # retry in a host is the checker's
    assert SmtpProbe.from_spec(hosts_only[0]) == first
    own, host = (SmtpProbe.from_spec(spec) for spec in mixed)
    assert own.target == Target("10.1.1.1", 25, socket.AF_INET, 2.0)
    assert host.target == Target("10.1.1.3", 25, socket.AF_INET, 0.0)


def test_a_link_local_address_without_bind_if(tmp_path: Path) -> None:
    vs = _load(
        tmp_path,
        """virtual_server 10.1.0.1 25 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.1.1.1 25 {
        SMTP_CHECK {
            connect_ip fe80::1
        }
        SMTP_CHECK {
            host {
                connect_ip fe80::1
            }
            host {
                connect_ip 10.1.1.9
            }
        }
    }
}
""",
    )
    (own,), hosts = _checkers(vs)
    with pytest.raises(
        CheckerRefused, match="Checker link local address fe80::1 requires a bind_if"
    ):
        SmtpProbe.from_spec(own)
    # a refused host is dropped alone
    (kept,) = (SmtpProbe.from_spec(spec) for spec in hosts)
    assert kept.target.ip == "10.1.1.9"


def test_from_config_to_a_live_server(tmp_path: Path) -> None:
    async def main() -> tuple[Attempt, list[bytes]]:
        heard: list[bytes] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await good(reader, writer, heard)
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            vs = _load(
                tmp_path,
                f"""virtual_server 127.0.0.1 25 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 25 {{
        SMTP_CHECK {{
            helo_name lb.test
            connect_port {port}
            connect_timeout 2
        }}
    }}
}}
""",
            )
            ((spec,),) = _checkers(vs)
            result = await asyncio.wait_for(SmtpProbe.from_spec(spec).attempt(), 10)
        finally:
            server.close()
        return result, heard

    result, heard = asyncio.run(main())
    assert result.ok
    assert heard[0] == b"HELO lb.test\r\n"

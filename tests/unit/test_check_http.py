"""HTTP_GET and SSL_GET against local servers: status codes (and ranges), MD5 digests,
keepalived's request, its failure words, timeouts; and the checker's defaults."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from _check_support import Backend, RecordingEvents, RecordingPlane, model

from pytest_halab.vrrp.check.http import HttpProbe, parse_status_codes
from pytest_halab.vrrp.check.model import build_model
from pytest_halab.vrrp.check.probes import build_probe
from pytest_halab.vrrp.check.runner import Runner
from pytest_halab.vrrp.check.tcp import TcpProbe

BODY = b"hello from the real server\n"


class WebServer(Backend):
    """Answers each GET with `status` and BODY; `silent` accepts and never answers."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.status = 200
        self.silent = False
        self.requests: list[bytes] = []

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        self.requests.append(request)
        if self.silent:
            await asyncio.sleep(30)
            return
        writer.write(
            f"HTTP/1.0 {self.status} X\r\nContent-Length: {len(BODY)}\r\n\r\n".encode() + BODY
        )
        await writer.drain()


async def _plain_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    await writer.drain()


def _conf(port: int, url: str, kind: str = "HTTP_GET", extra: str = "") -> str:
    return f"""
virtual_server 127.0.0.1 {port} {{
    delay_loop 0.2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 127.0.0.1 {port} {{
        {kind} {{
            connect_timeout 0.5
            retry 1
            delay_before_retry 0.1
            {extra}
            url {{
                {url}
            }}
        }}
    }}
}}
"""


def _probe(tmp_path: Path, text: str) -> HttpProbe:
    spec = model(tmp_path, text)[0].real_servers[0].checkers[0]
    probe = build_probe(spec)
    assert isinstance(probe, HttpProbe)
    return probe


def test_status_codes_and_ranges() -> None:
    assert parse_status_codes(["200", "301-303", "99", "600", "x", "500-400"]) == {
        200,
        301,
        302,
        303,
    }


def test_status_code_digest_and_request(tmp_path: Path) -> None:
    async def scenario() -> None:
        web = WebServer()
        await web.start()
        rs = f"[127.0.0.1]:tcp:{web.port}"
        digest = hashlib.md5(BODY).hexdigest()
        ok = _probe(tmp_path, _conf(web.port, f"path /health\n digest {digest}"))
        result = await ok.attempt_url(0)
        assert result.ok and result.detail == f"MD5 digest success to {rs} url(/health)"
        assert web.requests[-1] == (
            b"GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n"
            + f"Host: 127.0.0.1:{web.port}\r\n\r\n".encode()
        )
        wrong = _probe(tmp_path, _conf(web.port, f"path /\n digest {'0' * 32}"))
        result = await wrong.attempt_url(0)
        assert not result.ok and result.detail == f"MD5 digest error to server {rs}."
        web.status = 503
        result = await ok.attempt_url(0)
        assert not result.ok and result.detail == f"HTTP status code error to server {rs}."
        ranged = _probe(tmp_path, _conf(web.port, "path /\n status_code 500-503"))
        result = await ranged.attempt_url(0)
        assert result.ok and result.detail == f"HTTP status code success to {rs} url(/)"
        vhost = _probe(tmp_path, _conf(web.port, "path /\n virtualhost www.example", extra=""))
        await vhost.attempt_url(0)
        assert b"Host: www.example\r\n" in web.requests[-1]
        await web.stop()

    asyncio.run(scenario())


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        web = WebServer()
        web.silent = True
        await web.start()
        probe = _probe(tmp_path, _conf(web.port, "path /"))
        result = await probe.attempt_url(0)
        assert not result.ok
        assert result.detail == f"Timeout WEB read server [127.0.0.1]:tcp:{web.port}."
        await web.stop()
        result = await probe.attempt_url(0)
        assert result.detail == f"Connection failed server [127.0.0.1]:tcp:{web.port}."

    asyncio.run(scenario())


def test_http_down_after_retries_and_back_after_the_failed_url_then_all(tmp_path: Path) -> None:
    """check_http.c: a down server comes back after a success of the failed url, then
    a success of every url."""

    async def scenario() -> None:
        web = WebServer()
        await web.start()
        plane, events = RecordingPlane(), RecordingEvents()
        runner = Runner(
            model(tmp_path, _conf(web.port, "path /")), plane, events, bootstrap_delay=0
        )
        rs = f"[127.0.0.1]:tcp:{web.port}"
        runner.start()
        while not web.requests:
            await asyncio.sleep(0.01)
        web.status = 500
        down = await events.wait_for("rs_state", rs=rs, up=False)
        assert down[0]["detail"] == f"HTTP_CHECK on service {rs} failed after 1 retries."
        failed_gets = len(web.requests) - 1
        assert failed_gets == 2  # retry 1: two GETs
        web.status = 200
        before = len(web.requests)
        await events.wait_for("rs_state", rs=rs, up=True)
        assert len(web.requests) - before == 2
        await runner.stop()
        await web.stop()

    asyncio.run(scenario())


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    try:
        from cryptography import x509  # noqa: F401
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither cryptography nor openssl to make a certificate")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=halab-test",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
    else:
        _cryptography_cert(cert, key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _cryptography_cert(cert: Path, key: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "halab-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_ssl_get_without_certificate_checks(tmp_path: Path) -> None:
    context = _self_signed(tmp_path)

    async def scenario() -> None:
        web = WebServer()
        await web.start(ssl=context)
        digest = hashlib.md5(BODY).hexdigest()
        probe = _probe(tmp_path, _conf(web.port, f"path /\n digest {digest}", kind="SSL_GET"))
        result = await probe.attempt_url(0)
        assert result.ok, result.detail
        await web.stop()
        # a server speaking plain HTTP at once: the handshake fails
        plain = Backend(_plain_answer)
        await plain.start()
        probe = _probe(tmp_path, _conf(plain.port, "path /", kind="SSL_GET"))
        result = await probe.attempt_url(0)
        assert not result.ok
        assert result.detail == (
            f"SSL handshake/communication error connecting to server [127.0.0.1]:tcp:{plain.port}."
        )
        await plain.stop()

    asyncio.run(scenario())


def test_keepalived_defaults(tmp_path: Path) -> None:
    text = """
virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.2 80 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
            }
        }
        MISC_CHECK {
            misc_path /bin/true
        }
    }
    real_server 10.0.0.3 80 {
        retry 4
        delay_before_retry 2.5
        TCP_CHECK {
            delay_loop 7
            connect_timeout 0.5
        }
    }
}
"""
    from _check_support import config

    vs = build_model(config(tmp_path, text))[0]
    assert vs.delay_loop == 60.0
    tcp, http, misc = vs.real_servers[0].checkers
    assert (tcp.retry, tcp.delay_before_retry, tcp.connect_timeout) == (1, 1.0, 5.0)
    assert (http.retry, http.delay_before_retry) == (1, 3.0)
    assert (misc.retry, misc.delay_before_retry) == (0, 1.0)
    assert tcp.warmup == tcp.delay_loop == 60.0
    (own,) = vs.real_servers[1].checkers
    assert (own.retry, own.delay_before_retry, own.delay_loop) == (4, 2.5, 7.0)
    assert own.connect_timeout == 0.5
    assert own.warmup == 7.0
    assert vs.name == "[10.0.0.1]:tcp:80"
    assert vs.real_servers[1].name == "[10.0.0.3]:tcp:80"


def test_virtual_server_group_and_fwmark_services(tmp_path: Path) -> None:
    from _check_support import config

    from pytest_halab.vrrp.check.pools import Pools
    from pytest_halab.vrrp.check.scripts import ScriptRunner

    text = """
virtual_server_group web {
    10.0.0.10-12 80
    fwmark 7
}
virtual_server group web {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.0.0.2 80 {
        TCP_CHECK {
        }
    }
}
virtual_server fwmark 9 {
    lb_algo sh
    lb_kind DR
    real_server 10.0.0.3 0 {
        TCP_CHECK {
            connect_port 80
        }
    }
}
"""
    specs = build_model(config(tmp_path, text))
    assert [vs.name for vs in specs] == ["[web]:0", "FWM 9"]
    pools = Pools(specs, RecordingEvents(), ScriptRunner())
    pools.start()
    group, mark = (pools.services(vs) for vs in pools.servers)
    assert [s.name for s in group] == [
        "[10.0.0.10]:tcp:80",
        "[10.0.0.11]:tcp:80",
        "[10.0.0.12]:tcp:80",
        "FWM 7",
    ]
    assert all(s.destinations[0].ip == "10.0.0.2" for s in group)
    assert (mark[0].fwmark, mark[0].ip, mark[0].sched) == (9, None, "sh")
    probe = build_probe(specs[1].real_servers[0].checkers[0])
    assert isinstance(probe, TcpProbe)
    assert probe.target.port == 80

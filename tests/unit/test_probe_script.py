"""The client image's halab-probe, run here against small local servers: each answer,
each failure named as Python's socket and http.client name them, its cadence and its stop."""

from __future__ import annotations

import itertools
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parents[2] / "lab" / "images" / "client" / "halab-probe"


def run_probe(*args: str, timeout: float = 20) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, str(PROBE), *args], capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def serve(handler: Callable[[socket.socket], None], family: int = socket.AF_INET) -> Iterator[int]:
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    srv.listen(64)
    stop = threading.Event()

    def loop() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    srv.close()


def answering(raw: bytes, seen: list[bytes] | None = None) -> Callable[[socket.socket], None]:
    def handle(conn: socket.socket) -> None:
        with conn:
            req = b""
            while b"\r\n\r\n" not in req:
                got = conn.recv(4096)
                if not got:
                    return
                req += got
            if seen is not None:
                seen.append(req)
            conn.sendall(raw)

    return handle


def test_an_answer_its_status_body_and_the_request_sent() -> None:
    seen: list[bytes] = []
    for port in serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n1111\r\n", seen)):
        recs = run_probe("127.0.0.1", "--port", str(port), "--label", "VI_1", "--count", "3")
    # Lines come as requests end: a request may end before the one started before it.
    assert sorted((r["seq"], r["ok"], r["status"], r["body"], r["error"]) for r in recs) == [
        (0, True, 200, "1111", None),
        (1, True, 200, "1111", None),
        (2, True, 200, "1111", None),
    ]
    assert all(r["kind"] == "probe" and r["vip"] == "VI_1" for r in recs)
    assert all(isinstance(r["ms"], float) and isinstance(r["ts"], float) for r in recs)
    assert (
        seen[0]
        == (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: identity\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
    )


def test_a_chunked_answer_an_error_status_and_one_that_ends_with_the_connection() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n22\r\n2;x=1\r\n22\r\n0\r\n\r\n"
    )
    for port in serve(answering(chunked)):
        assert run_probe("127.0.0.1", "--port", str(port))[0]["body"] == "2222"
    for port in serve(
        answering(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad")
    ):
        rec = run_probe("127.0.0.1", "--port", str(port))[0]
    assert (rec["ok"], rec["status"], rec["body"], rec["error"]) == (False, 500, "bad", None)
    for port in serve(answering(b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 5000)):
        rec = run_probe("127.0.0.1", "--port", str(port))[0]
    assert rec["ok"] and rec["body"] == "x" * 4096


def test_failures_are_named_as_python_names_them() -> None:
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there
    rec = run_probe("127.0.0.1", "--port", str(port))[0]
    assert rec["error"] == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert rec["status"] is None and rec["body"] is None and not rec["ok"]
    for port in serve(lambda conn: (time.sleep(1.0), conn.close())):  # type: ignore[func-returns-value]
        rec = run_probe("127.0.0.1", "--port", str(port), "--timeout", "0.3")[0]
    # the server closes after 1 s: an answer or "RemoteDisconnected" would have waited
    assert rec["error"] == "TimeoutError: timed out" and float(rec["ms"]) >= 290  # type: ignore[arg-type]
    for port in serve(answering(b"")):
        rec = run_probe("127.0.0.1", "--port", str(port))[0]
    assert rec["error"] == "RemoteDisconnected: Remote end closed connection without response"
    for port in serve(answering(b"SSH-2.0-OpenSSH\r\n\r\n")):
        rec = run_probe("127.0.0.1", "--port", str(port))[0]
    assert str(rec["error"]).startswith("BadStatusLine: ")
    for port in serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12")):
        rec = run_probe("127.0.0.1", "--port", str(port))[0]
    assert str(rec["error"]).startswith("IncompleteRead: ")


def test_requests_start_on_the_cadence_while_one_hangs_and_all_at_once_with_interval_0() -> None:
    hung = threading.Event()

    def first_hangs(conn: socket.socket) -> None:
        if not hung.is_set():
            hung.set()
            time.sleep(2.0)
            conn.close()
            return
        answering(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")(conn)

    for port in serve(first_hangs):
        recs = run_probe("127.0.0.1", "--port", str(port), "--count", "6", "--interval", "0.05")
    by_seq = sorted(recs, key=lambda r: int(r["seq"]))  # type: ignore[call-overload]
    starts = [float(r["ts"]) for r in by_seq]  # type: ignore[arg-type]
    assert [int(r["seq"]) for r in by_seq] == list(range(6))  # type: ignore[call-overload]
    assert recs[-1]["seq"] == 0  # the hung one ended last
    # each started on its own time, none waiting for the hung one (2 s)
    assert all(b > a for a, b in itertools.pairwise(starts)) and starts[5] < starts[0] + 1.5
    for port in serve(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")):
        recs = run_probe("127.0.0.1", "--port", str(port), "--count", "40", "--interval", "0")
    assert sorted(int(r["seq"]) for r in recs) == list(range(40)) and all(r["ok"] for r in recs)  # type: ignore[call-overload]


def test_sigterm_stops_new_requests_and_lets_the_running_ones_end() -> None:
    def slow(conn: socket.socket) -> None:
        time.sleep(0.2)
        answering(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1")(conn)

    for port in serve(slow):
        p = subprocess.Popen(
            [sys.executable, str(PROBE), "127.0.0.1", "--port", str(port), "--count", "1000"],
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        assert p.stdout is not None
        # The first line ended (requests run): read it byte by byte, since a buffered
        # readline() may take the lines after it too, which communicate() (reading the
        # pipe itself) would then never see.
        first = b""
        while not first.endswith(b"\n"):
            got = p.stdout.read(1)
            assert got, "halab-probe ended before its first line"
            first += got
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=10)  # 1000 requests at 20 ms would take 20 s
        assert p.returncode == 0
    recs = [json.loads(line) for line in (first + out).splitlines()]
    seqs = sorted(r["seq"] for r in recs)
    assert seqs == list(range(len(seqs))) and len(seqs) < 500  # every started one ended
    assert all(r["ok"] for r in recs)


def test_an_ipv6_host_as_a_url_writes_it() -> None:
    seen: list[bytes] = []
    try:
        gen = serve(
            answering(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n6", seen), socket.AF_INET6
        )
        port = next(gen)
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    rec = run_probe("[::1]", "--port", str(port))[0]
    next(gen, None)
    assert rec["ok"] and rec["body"] == "6"
    assert f"Host: [::1]:{port}\r\n".encode() in seen[0]

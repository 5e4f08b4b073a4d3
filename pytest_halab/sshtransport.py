"""Engines reached over ``ssh://``: the docker API through the ssh command, on connections
that are kept and reused.

As the docker CLI does, each connection is an ``ssh`` process whose remote end runs
``docker system dial-stdio``, so the user's ``~/.ssh/config`` applies (keys, ProxyJump,
ControlMaster). The docker SDK (7.x) can shell out to ssh too, but here it is not usable:

- its adapter makes a new connection pool for each request, so every request starts an ssh
  process, a session and a ``docker`` process on the engine's host, and ends them again:
  125 ms a request on this machine, against 0.8 ms over ``tcp://``; a lab makes hundreds;
- its socket stands in for a real one over the process's pipes, and an exec (``exec_run``)
  fails on it with BrokenPipeError when the response is closed: no lab starts.

Here the ssh process's stdin and stdout are one end of a socket pair, and this process holds
the other end: a real socket, which ``http.client`` and urllib3 use as they use any (HTTP
keep-alive; a connection whose ssh process died is seen as dropped and replaced). One pool
serves every request to the engine. The SDK's own ssh code is not used; its paramiko mode
(``use_ssh_client=False``) reads only part of ``~/.ssh/config``, opens a channel per distinct
URL, and needs paramiko, which is not installed.
"""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import threading
from typing import Any

import docker
import urllib3.connection
import urllib3.connectionpool
from docker.transport.basehttpadapter import BaseHTTPAdapter

_PREFIX = "http+docker://ssh"  # what the docker SDK mounts its ssh adapter on
_POOL_SIZE = 10  # connections kept per engine (the SDK's default pool size)


def ssh_argv(url: str) -> list[str]:
    """The ssh command for ``ssh://[user@]host[:port]``; the URL's port, if any, overrides
    the one ``~/.ssh/config`` gives the host."""
    rest = url.removeprefix("ssh://").rstrip("/")
    user, _, hostport = rest.rpartition("@")
    host, port = hostport, ""
    if hostport.count(":") == 1:  # host:port (an IPv6 address needs a config alias)
        host, port = hostport.split(":")
    argv = ["ssh"]
    if user:
        argv += ["-l", user]
    if port:
        argv += ["-p", port]
    return [*argv, "--", host, "docker system dial-stdio"]


class _Channel:
    """What the docker SDK reads a hijacked response (exec, attach) from: the response's
    buffer first (it may hold the stream's first bytes), then the socket."""

    def __init__(self, sock: socket.socket, fp: io.BufferedReader) -> None:
        self._sock = sock
        self._fp = fp

    def recv(self, n: int) -> bytes:
        return self._fp.read1(n)

    def fileno(self) -> int:
        return self._sock.fileno()

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def gettimeout(self) -> float | None:
        return self._sock.gettimeout()

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def close(self) -> None:
        self._sock.close()


class _SshSocket(socket.socket):
    """Our end of the socket pair, which ends the ssh process when closed."""

    proc: subprocess.Popen[bytes] | None = None

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = super().makefile(mode, *args, **kwargs)  # type: ignore[call-overload]
        if "r" in mode and "b" in mode:
            f.channel = _Channel(self, f)  # where the SDK looks for an ssh response's socket
        return f

    def close(self) -> None:
        super().close()
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for pytest, which cleans up


def connect(url: str) -> _SshSocket:
    """A socket whose other end is ``docker system dial-stdio`` on the engine's host."""
    ours, theirs = socket.socketpair()
    try:
        fd = theirs.fileno()
        proc = subprocess.Popen(ssh_argv(url), stdin=fd, stdout=fd, preexec_fn=_ignore_sigint)
    except OSError:
        ours.close()
        raise
    finally:
        theirs.close()
    sock = _SshSocket(fileno=ours.detach())
    sock.proc = proc
    return sock


class _Connection(urllib3.connection.HTTPConnection):
    def __init__(self, url: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._url = url
        self._timeout = timeout

    def connect(self) -> None:
        self.sock = connect(self._url)
        self.sock.settimeout(self._timeout)  # as over tcp: a request to a hung engine ends


class _Pool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, url: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=_POOL_SIZE)
        self._url = url
        self._timeout = timeout

    def _new_conn(self) -> _Connection:
        return _Connection(self._url, self._timeout)


class SshAdapter(BaseHTTPAdapter):  # type: ignore[misc]
    """Every request to the engine through one pool of kept ssh connections."""

    def __init__(self, url: str, timeout: float) -> None:
        super().__init__()
        self._url = url
        self._timeout = timeout
        self._pool: _Pool | None = None
        self._lock = threading.Lock()

    def get_connection(self, url: str, proxies: Any = None) -> _Pool:
        with self._lock:  # the lab's threads share the client
            if self._pool is None:
                self._pool = _Pool(self._url, self._timeout)
            return self._pool

    def close(self) -> None:
        super().close()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def ssh_client(url: str, timeout: int) -> docker.DockerClient:
    """A docker client of the ``ssh://`` engine at ``url``, speaking the engine's API
    version."""
    # Made for a socket path that is never used, then pointed at ssh: made for an ssh URL,
    # the SDK would want paramiko (124 ms of import at every start) for an adapter that is
    # replaced here anyway. Made with a version, so that it asks the engine nothing yet.
    client = docker.DockerClient(
        base_url="unix:///nonexistent/halab-ssh", timeout=timeout, version="1.24"
    )
    api = client.api
    api._custom_adapter.close()
    api._custom_adapter = SshAdapter(url, timeout)
    api.mount(_PREFIX, api._custom_adapter)
    api.base_url = _PREFIX  # requests' URLs, and the raw sockets of exec and attach
    api._version = api._retrieve_server_version()  # what version="auto" does
    return client

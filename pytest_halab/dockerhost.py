"""The Docker engines labs run on, and commands on an engine's host.

A ``DockerHost`` is one engine: the environment's (``DOCKER_HOST``, or the default socket) or
one named by URL (``unix://``, ``tcp://``, ``ssh://``; ``--hal-docker-host``). An engine is
*local* when it is reached through a unix socket of this machine: what the lab needs on the
engine's host (the iptables rule that lets VRRP cross a lab bridge, SIGKILL to a container's
init, listening on a bridge) is then done here, directly. Every other engine is *remote*,
even one on 127.0.0.1: those things are done in a helper container on that engine, in the
host's network and PID namespaces, so they work the same on an engine this process cannot
see. Commands (``run``) are execs in one resident helper per process and engine (removed at
exit; a sweep removes those of a process that died); a stream (``stream``) runs in a helper
of its own.

The docker SDK is used here directly, not testcontainers: a helper runs commands in the
host's namespaces (host network, host PID namespace, NET_ADMIN), and each command's exit
status, stdout and stderr are needed apart, as ``subprocess.run`` gives them locally;
testcontainers' ``DockerContainer`` is made for services reached over ports.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import docker
import docker.errors
from docker.models.containers import Container
from requests.utils import get_environ_proxies

from .errors import DockerUnavailableError, HalabError
from .labels import L_HELPER, L_OWNER, L_RUN, RUN_ID, owner
from .sshtransport import ssh_client

HELPER_REPO = "halab/base"  # the helper runs the lab's base image (sh, iptables, python3)
PING_TIMEOUT_S = 10


@dataclass(frozen=True)
class HostResult:
    """A command's outcome on an engine's host."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(eq=False)
class DockerHost:
    """One Docker engine. ``url`` None is the environment's engine (DOCKER_HOST or the
    default socket); ``source`` says where the URL came from, for messages."""

    url: str | None = None
    source: str = "environment"
    image_source: DockerHost | None = None  # images are copied from there (None: built here)
    _client: docker.DockerClient | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _engine_id: str | None = field(default=None, repr=False)
    _keeper: Container | None = field(default=None, repr=False)  # the resident helper
    _keeper_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _atexit: bool = field(default=False, repr=False)

    @property
    def effective_url(self) -> str:
        return self.url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"

    @property
    def local(self) -> bool:
        """Reached through a unix socket of this machine: the engine's host is this host."""
        return self.effective_url.startswith("unix://")

    @property
    def name(self) -> str:
        """How faults and messages name the engine."""
        return "the local engine" if self.local else self.effective_url

    def client(self, timeout: int = 120) -> docker.DockerClient:
        """A client for this engine (made once); a clear error when it does not answer."""
        with self._lock:
            if self._client is None:
                self._client = self._connect(timeout)
            return self._client

    def _connect(self, timeout: int) -> docker.DockerClient:
        try:
            if self.effective_url.startswith("ssh://"):  # DOCKER_HOST's too
                client = ssh_client(self.effective_url, timeout)
            elif self.url is None:
                client = docker.from_env(timeout=timeout)
            else:
                client = docker.DockerClient(base_url=self.url, timeout=timeout)
            environment_once(client.api)
            client.ping()
        except docker.errors.DockerException as exc:
            where = f" at {self.url} (from {self.source})" if self.url else ""
            raise DockerUnavailableError(
                f"no Docker engine answers{where}: {exc}; start one with scripts/ensure-docker"
            ) from exc
        return client

    @property
    def engine_id(self) -> str:
        """A short, stable name of the engine, unique on its host: a hash of its ID and its
        data root (two engines on one host may share an ID: it comes from
        /etc/docker/key.json, which Debian's dockerd reads whatever its data root)."""
        if self._engine_id is None:
            info = self.client().info()
            ident = f"{info.get('ID')}|{info.get('DockerRootDir')}|{info.get('Name')}"
            self._engine_id = hashlib.sha256(ident.encode()).hexdigest()[:12]
        return self._engine_id

    def ping(self) -> None:
        """Raise DockerUnavailableError naming the URL and its source unless it answers."""
        self.client(timeout=PING_TIMEOUT_S)

    # ------------------------------------------------------------ the engine's host

    def run(self, argv: list[str], timeout: float = 60, *, again: bool = False) -> HostResult:
        """``argv`` in the engine host's namespaces: here for a local engine, for a remote one
        by an exec in this process's resident helper container there (host network and PID
        namespace; made on first use, removed at exit). One exec costs the engine about a
        tenth of what a helper container made for each command did (create, start, wait,
        logs, remove: about 0.4 s of CPU on a busy 2-core host).

        An exec's output whose stream comes garbled (the docker SDK reads the exec's frames
        from the raw socket; seen once under ``-n 8``, on the TCP engine: a frame header
        that was text) is a HalabError, or with ``again`` (a command that only reads) the
        command is run once more."""
        if self.local:
            try:
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            except FileNotFoundError as exc:
                return HostResult(127, "", str(exc))
            return HostResult(proc.returncode, proc.stdout, proc.stderr)
        limited = ["timeout", "-s", "KILL", f"{timeout:g}", *argv]
        for attempt in (1, 2):
            c = self._resident()
            try:
                code, (out, err) = c.exec_run(limited, demux=True)
                break
            except docker.errors.APIError as exc:
                # removed or stopped under us (`halab clean --all`, an engine restart): once
                # more with a new one
                with self._keeper_lock:
                    self._keeper = None
                if attempt == 2:
                    raise HalabError(f"helper on {self.name} did not run {argv[0]}: {exc}") from exc
            except ValueError as exc:  # docker.utils.socket: "N is not a valid stream"
                if not again or attempt == 2:
                    raise HalabError(
                        f"helper on {self.name}: the output of {argv[0]} came garbled: {exc}"
                    ) from exc
        if code == 137:  # timeout -s KILL
            raise HalabError(f"helper on {self.name} did not finish {argv[0]} in {timeout:g} s")
        return HostResult(int(code if code is not None else 1), _text(out), _text(err))

    def _resident(self) -> Container:
        """This process's helper container on the engine, running (made when missing)."""
        with self._keeper_lock:
            c = self._keeper
            if c is not None:
                with suppress(docker.errors.APIError):
                    c.reload()
                    if c.status == "running":
                        return c
            c = self._make_helper(["sleep", "infinity"])
            try:
                c.start()
            except docker.errors.APIError as exc:
                with suppress(docker.errors.APIError):
                    c.remove(force=True)
                raise HalabError(
                    f"could not start a helper container on {self.name}: {exc}"
                ) from exc
            self._keeper = c
            if not self._atexit:
                atexit.register(self.close)
                self._atexit = True
            return c

    def close(self) -> None:
        """Remove this process's resident helper (if any); the engine stays usable."""
        with self._keeper_lock:
            c, self._keeper = self._keeper, None
        if c is not None:
            with suppress(docker.errors.APIError):
                c.remove(force=True)

    @contextmanager
    def stream(self, argv: list[str]) -> Iterator[Iterator[str]]:
        """Lines ``argv`` prints on the engine's host, as they come; stopped on exit."""
        if self.local:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, bufsize=1)
            try:
                assert proc.stdout is not None
                yield iter(proc.stdout.readline, "")
            finally:
                proc.kill()
                proc.wait()
            return
        with self._helper(argv) as c:
            yield _lines(c.logs(stream=True, follow=True, stdout=True, stderr=False))

    @contextmanager
    def _helper(self, argv: list[str]) -> Iterator[Container]:
        c = self._make_helper(argv)
        try:
            c.start()
            yield c
        finally:
            with suppress(docker.errors.APIError):
                c.remove(force=True)

    def _make_helper(self, argv: list[str]) -> Container:
        """A helper container (created, not started) in the engine host's network and PID
        namespaces, labelled so that a sweep removes it once this process is gone."""
        try:
            return self.client().containers.create(
                self.helper_image(),
                argv,
                entrypoint=[],
                network_mode="host",
                pid_mode="host",
                # iptables in the host's network namespace, a packet socket on a bridge. Not
                # privileged: some hosts cannot grant every capability (LAB_NOTES), and a
                # SIGKILL to another container's root process needs none.
                cap_add=["NET_ADMIN", "NET_RAW"],
                labels={L_HELPER: "1", L_RUN: RUN_ID, L_OWNER: owner()},
                detach=True,
            )
        except docker.errors.APIError as exc:
            raise HalabError(f"could not create a helper container on {self.name}: {exc}") from exc

    def helper_image(self) -> str:
        """The base image on this engine (any tag): the helper's sh, iptables and python3."""
        client = self.client()
        for img in client.images.list(name=HELPER_REPO):
            if img.tags:
                return str(img.tags[0])
        raise HalabError(
            f"no {HELPER_REPO} image on {self.name} for the helper container: "
            "run `halab images build` for that engine first"
        )


def _text(data: bytes | None) -> str:
    return (data or b"").decode(errors="replace")


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    buf = b""
    for chunk in chunks:
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode(errors="replace") + "\n"
    if buf:
        yield buf.decode(errors="replace")


_default: dict[str | None, DockerHost] = {}
_default_lock = threading.Lock()


def from_env() -> DockerHost:
    """The environment's engine (DOCKER_HOST, or the default socket): one per URL."""
    url = os.environ.get("DOCKER_HOST") or None
    with _default_lock:
        if url not in _default:
            _default[url] = DockerHost()
        return _default[url]


def environment_once(api: docker.APIClient) -> None:
    """What requests reads from the environment for each request, read once for the engine.

    requests looks up the proxy variables at every call (``getproxies`` walks the whole of
    ``os.environ``, twice): 12 % of a lab test worker's CPU went there, measured with a
    per-thread profile of tests/lab/test_fault_kinds.py. The engine's URL does not change, so
    its proxies are the same for every call: none for a unix or ssh socket; for ``tcp://``,
    ``HTTP(S)_PROXY`` unless ``NO_PROXY`` spares the host, as requests decides. A CA bundle
    named by ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` still counts where TLS verifies
    against the default store."""
    url = str(api.base_url)
    api.proxies = get_environ_proxies(url) if url.startswith(("http://", "https://")) else {}
    if api.verify is True:
        api.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
    api.trust_env = False

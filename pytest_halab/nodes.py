"""A handle per lab node: run commands in it, read its addresses, files and logs."""

from __future__ import annotations

import base64
import io
import ipaddress
import shlex
import tarfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import docker.errors
from docker.models.containers import Container

from .containerstates import ContainerStates
from .errors import NodeCommandError
from .nodeshell import NodeShell

T = TypeVar("T")

# put_files in the node: a base64 tar archive as one argument (Linux takes up to 128 KiB)
_ARG_MAX = 96 * 1024
_UNTAR = 'printf %s "$1" | base64 -d | tar -x -p --same-owner -f - -C /'
# read_file in the node: the file's bytes, or an exit status saying why not
_MISSING, _NOT_REGULAR = 66, 67
_READ_ONE = (
    f'if [ -f "$1" ]; then exec cat -- "$1"; elif [ -e "$1" ]; then exit {_NOT_REGULAR}; '
    f"else exit {_MISSING}; fi"
)


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a node returned."""

    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Node:
    """One container of a running lab (``lab.node("lb1")``)."""

    def __init__(
        self,
        name: str,
        role: str,
        ip: ipaddress.IPv4Address,
        container: Container,
        ip6: ipaddress.IPv6Address | None = None,
        states: ContainerStates | None = None,
    ):
        self.name = name
        self.role = role
        self.ip = ip
        self.ip6 = ip6  # its address on the lab's IPv6 subnet, if the lab has one
        self.container = container
        self.shell = NodeShell(container, states)  # its commands' channel (nodeshell.py)
        self._states = states  # its lab's container states, from the engine's events

    def __repr__(self) -> str:
        six = f", ip6={self.ip6}" if self.ip6 is not None else ""
        return f"Node({self.name!r}, role={self.role!r}, ip={self.ip}{six})"

    def init_pid(self) -> int | None:
        """The PID of the container's init on the engine's host (``docker inspect``), or
        None when the container is not running. Not checked: the engine's host may not
        be this one (see ``host_pid``)."""
        try:
            self.container.reload()
        except docker.errors.APIError:
            return None
        state = self.container.attrs.get("State", {})
        pid = int(state.get("Pid") or 0)
        return pid if state.get("Running") and pid > 0 else None

    def host_pid(self) -> int | None:
        """The host PID of the container's init process, when this process can see it.

        None when the engine runs elsewhere (remote DOCKER_HOST, another PID namespace) or
        the container is not running. The PID is checked against the container's cgroup, so
        a PID reused by another process is never returned.
        """
        pid = self.init_pid()
        return pid if pid is not None and pid_in_container(pid, self.container.id) else None

    def exec(self, cmd: str | Sequence[str], *, check: bool = False) -> ExecResult:
        """Run a command in the node and wait for it; a string runs through ``sh -c``.

        With ``check=True`` a non-zero exit raises ``NodeCommandError`` carrying the output.
        """
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        code, out = self._run(argv)
        res = ExecResult(
            int(code if code is not None else -1), (out or b"").decode(errors="replace")
        )
        if check and not res.ok:
            raise NodeCommandError(self.name, shlex.join(argv), res.exit_code, res.output)
        return res

    def _run(self, argv: list[str]) -> tuple[int | None, bytes | None]:
        """argv run in the node: through its channel (``nodeshell``), else by an exec of its
        own (a node that does not run: the engine's error is raised, as before)."""
        got = self.shell.run(argv)
        return got if got is not None else self.container.exec_run(argv, demux=False)

    def close(self) -> None:
        """Close the node's command channel (its halab-shell ends)."""
        self.shell.close()

    def pids(self, pgrep: Sequence[str]) -> list[int]:
        """The pids a ``pgrep ...`` argv lists in the node (none: an empty list)."""
        res = self.exec(pgrep)
        return [int(p) for p in res.output.split() if p.isdigit()] if res.ok else []

    def put_files(
        self,
        files: Mapping[str, bytes],
        mode: int = 0o644,
        modes: Mapping[str, int] | None = None,
    ) -> None:
        """Write files (absolute path -> content) into the node in one archive, each with
        its permission bits from `modes`, else `mode`: these are the modes the files have
        in the node (a file that existed is replaced, missing directories are made). The
        archive goes to `tar` in the node through its command channel when it fits in one
        argument; otherwise, or for a node that does not run, through the engine's archive
        API, which re-executes the engine's binary in a chroot for each call."""
        modes = modes or {}
        buf = io.BytesIO()
        now = time.time()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size = len(data)
                info.mode = modes.get(path, mode)
                info.mtime = int(now)
                tar.addfile(info, io.BytesIO(data))
        data = buf.getvalue()
        encoded = base64.b64encode(data).decode()
        if len(encoded) <= _ARG_MAX:
            got = self.shell.run(["sh", "-c", _UNTAR, "put_files", encoded])
            if got is not None:
                code, out = got
                if code != 0:
                    raise NodeCommandError(
                        self.name, f"tar -x {' '.join(files)}", code, out.decode(errors="replace")
                    )
                return
        self.container.put_archive("/", data)

    def read_file(self, path: str) -> bytes:
        """A file from the node (raises FileNotFoundError when absent, or not a regular
        file; a symbolic link is followed). Read with ``cat`` through the node's command
        channel: the engine's archive API (``docker cp``), which a node that does not run
        is read through, re-executes the engine's binary in a chroot for each file."""
        # halab-shell's own read (no fork), else cat through it, else the archive API
        got = self.shell.builtin("cat", path) or self.shell.run(
            ["sh", "-c", _READ_ONE, "read_file", path]
        )
        if got is None:
            return self._read_archive(path)
        code, out = got
        if code == 0:
            return out or b""
        if code in (_MISSING, _NOT_REGULAR):
            what = "" if code == _MISSING else " is not a regular file"
            raise FileNotFoundError(f"{self.name}:{path}{what}")
        raise NodeCommandError(self.name, f"cat {path}", code, out.decode(errors="replace"))

    def _read_archive(self, path: str) -> bytes:
        try:
            stream, _stat = self.container.get_archive(path)
        except docker.errors.NotFound as exc:
            raise FileNotFoundError(f"{self.name}:{path}") from exc
        raw = b"".join(stream)
        with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
            member = tar.next()
            if member is None:
                raise FileNotFoundError(f"{self.name}:{path}")
            fh = tar.extractfile(member)
            if fh is None:
                raise FileNotFoundError(f"{self.name}:{path} is not a regular file")
            return fh.read()

    def read_files(self, paths: Sequence[str]) -> dict[str, bytes]:
        """Several files from the node in one exec (``tar`` in the node): path -> content
        of those that exist. One exec costs the engine what one ``read_file`` does (about
        50 ms of CPU on a busy 2-core host), whatever the number of files. A file being
        written is read up to its size when tar reached it, as ``read_file`` does."""
        if not paths:
            return {}
        argv = ["sh", "-c", 'tar -cPf - --ignore-failed-read "$@" 2>/dev/null; true', "tar"]
        # tar writes an archive even when no file exists; no output at all is an exec whose
        # output the engine lost (seen once in CI under pytest-xdist): asked once more.
        # halab-shell makes the archive itself where it can (no fork).
        for _ in range(2):
            code, out = self.shell.builtin("tar", list(paths)) or self._run([*argv, *paths])
            if out:
                break
        found: dict[str, bytes] = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(out or b""), mode="r:") as tar:
                for member in tar:
                    fh = tar.extractfile(member) if member.isfile() else None
                    if fh is not None:
                        found["/" + member.name.lstrip("/")] = fh.read()
        except tarfile.TarError as exc:
            raise NodeCommandError(
                self.name, f"tar {' '.join(paths)}", int(code or 0), str(exc)
            ) from exc
        return found

    def ipv4_addresses(self) -> list[ipaddress.IPv4Interface]:
        """Every IPv4 address configured in the node (as the kernel reports them)."""
        return [a for a in self.addresses({4}) if isinstance(a, ipaddress.IPv4Interface)]

    def addresses(
        self, families: Collection[int] = (4, 6)
    ) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
        """Every address of these families (4, 6) configured in the node, as the kernel
        reports them (one ``ip`` call for both)."""
        fam = ["-4"] if set(families) == {4} else ["-6"] if set(families) == {6} else []
        res = self.exec(["ip", *fam, "-o", "addr", "show"], check=True)
        out: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
        for line in res.output.splitlines():
            parts = line.split()
            for word in ("inet", "inet6"):
                if word in parts and (4 if word == "inet" else 6) in families:
                    out.append(ipaddress.ip_interface(parts[parts.index(word) + 1]))
        return out

    def link_local(self, dev: str = "eth0") -> ipaddress.IPv6Address | None:
        """The link-local IPv6 address of ``dev`` the kernel made (the source of the node's
        IPv6 VRRP adverts), or None without one. The kernel derives it from the MAC
        (EUI-64, the default address generation mode); a VIP in fe80::/10 an engine added
        is another address. Failing the EUI-64 one, the oldest (listed last)."""
        res = self.exec(
            f"cat /sys/class/net/{dev}/address && ip -6 -o addr show dev {dev} scope link"
        )
        if not res.ok:
            return None
        mac, *lines = res.output.splitlines()
        found = [
            ipaddress.IPv6Interface(parts[parts.index("inet6") + 1]).ip
            for parts in (line.split() for line in lines)
            if "inet6" in parts
        ]
        eui64 = _eui64_link_local(mac.strip())
        if eui64 is not None and eui64 in found:
            return eui64
        return found[-1] if found else None

    def state(self) -> str:
        """The container's state: running, paused, exited... (``containerstates``: as the
        engine's last event said, else asked)."""
        if self._states is not None:
            return self._states.state(self.container)
        self.container.reload()
        return str(self.container.status)

    def run_id(self) -> str:
        """A token of the container's current run: it changes with each start (from the
        lab's container states, as ``state``)."""
        if self._states is not None:
            return self._states.run(self.container)[1]
        self.container.reload()
        return str(self.container.attrs.get("State", {}).get("StartedAt", ""))

    def logs(self, tail: int = 200) -> str:
        """Container output plus the node's service logs under /var/log/halab."""
        parts = []
        try:
            parts.append(self.container.logs(tail=tail).decode(errors="replace"))
        except docker.errors.APIError as exc:
            parts.append(f"(no container logs: {exc})")
        try:
            if self.state() == "running":
                res = self.exec(
                    "echo '--- processes'; ps -eo pid,stat,etime,args; "
                    'for f in /var/log/halab/*.log; do [ -s "$f" ] || continue; '
                    f'echo "--- $f"; tail -n {tail} "$f"; done'
                )
                parts.append(res.output)
        except docker.errors.APIError:
            pass
        return "\n".join(p for p in parts if p.strip())


def pid_in_container(pid: int, container_id: str) -> bool:
    """Host ``pid`` belongs to the container (its cgroup path names the container's id)."""
    try:
        with open(f"/proc/{pid}/cgroup") as fh:
            return container_id in fh.read()
    except OSError:
        return False


def parallel(fn: Callable[[Any], T], items: list[Any]) -> list[T]:
    """``fn`` over ``items`` in threads (at most 8), results in order."""
    if len(items) <= 1:
        return [fn(item) for item in items]  # no thread for one
    with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
        return list(pool.map(fn, items))


def _eui64_link_local(mac: str) -> ipaddress.IPv6Address | None:
    """fe80::/64 with the modified EUI-64 interface identifier of a MAC (RFC 4291 2.5.1)."""
    try:
        octets = bytes(int(part, 16) for part in mac.split(":"))
    except ValueError:
        return None
    if len(octets) != 6:
        return None
    ident = bytes([octets[0] ^ 0x02]) + octets[1:3] + b"\xff\xfe" + octets[3:]
    return ipaddress.IPv6Address(b"\xfe\x80" + b"\0" * 6 + ident)

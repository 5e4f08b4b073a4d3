"""The node command channel (nodeshell.py) against the real halab-shell, run on this host
behind a fake engine that frames its output as Docker's attached exec streams do."""

from __future__ import annotations

import io
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_halab import nodeshell
from pytest_halab.nodes import Node

SHELL = Path(__file__).resolve().parents[2] / "lab" / "images" / "base" / "halab-shell"


class _Api:
    """The part of docker's low-level API a channel uses; each exec_start runs halab-shell
    (or, with ``missing``, answers as the engine does for a command it cannot find)."""

    def __init__(self, missing: bool = False) -> None:
        self.state: dict[str, Any] = {"Status": "running", "StartedAt": "t1"}
        self.inspects = 0
        self.missing = missing
        self.started = 0
        self.procs: list[subprocess.Popen[bytes]] = []

    def inspect_container(self, _cid: str) -> dict[str, Any]:
        self.inspects += 1
        return {"State": dict(self.state)}

    def exec_create(self, _cid: str, cmd: list[str], **_kw: Any) -> dict[str, str]:
        assert cmd == nodeshell.SERVER
        return {"Id": "e1"}

    def exec_start(self, _eid: str, socket: bool = False) -> Any:
        assert socket
        self.started += 1
        ours, theirs = _socketpair()
        if self.missing:
            msg = b'OCI runtime exec failed: exec: "halab-shell": executable file not found'
            theirs.sendall(struct.pack(">BxxxL", 1, len(msg)) + msg)
            theirs.close()
            return ours
        proc = subprocess.Popen(
            [sys.executable, str(SHELL)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.procs.append(proc)
        threading.Thread(target=_pump_in, args=(theirs, proc), daemon=True).start()
        threading.Thread(target=_pump_out, args=(proc, theirs), daemon=True).start()
        return ours


def _socketpair() -> tuple[socket.socket, socket.socket]:
    return socket.socketpair()


def _pump_in(sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    try:  # _pump_out closes the socket when the shell's output ends, maybe mid-recv
        while data := sock.recv(65536):
            proc.stdin.write(data)
            proc.stdin.flush()
    except (OSError, ValueError):
        pass
    proc.stdin.close()


def _pump_out(proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
    assert proc.stdout is not None
    while data := proc.stdout.read1(65536):
        try:
            sock.sendall(struct.pack(">BxxxL", 1, len(data)) + data)
        except OSError:
            break
    sock.close()


class _Container:
    def __init__(self, api: _Api) -> None:
        self.id = "c1"
        self.client = type("Client", (), {"api": api})()
        self.execs: list[list[str]] = []

    def exec_run(self, argv: list[str], demux: bool = False) -> tuple[int, bytes]:
        self.execs.append(argv)
        return 0, b"by exec\n"


@pytest.fixture
def api() -> Any:
    api = _Api()
    yield api
    for p in api.procs:
        p.kill()
        p.wait()


def _node(api: _Api) -> tuple[Node, _Container]:
    c = _Container(api)
    import ipaddress

    return Node("lb1", "balancer", ipaddress.IPv4Address("10.0.0.2"), c), c  # type: ignore[arg-type]


def test_commands_run_in_the_channel_with_docker_exit_codes(api: _Api) -> None:
    node, c = _node(api)
    res = node.exec("echo out; echo err >&2; exit 3")
    assert (res.exit_code, res.output) == (3, "out\nerr\n")  # merged, as an exec's are
    assert node.exec(["sh", "-c", "kill -KILL $$"]).exit_code == 128 + 9
    missing = node.exec(["no-such-command-here"])
    assert missing.exit_code == 127 and "no-such-command-here" in missing.output
    assert node.exec(["true"]).ok
    assert c.execs == [] and api.started == 1  # one exec made the channel, none per command
    node.close()


def test_a_slow_command_does_not_hold_up_another(api: _Api) -> None:
    node, _c = _node(api)
    slow = threading.Thread(target=node.exec, args=("sleep 5",))
    slow.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert node.exec("echo quick").output == "quick\n"
    assert time.monotonic() - t0 < 4  # not behind the slow one's 5 s, even on a loaded host
    slow.join()
    node.close()


def test_stdin_is_empty_and_each_command_has_its_own_session(api: _Api) -> None:
    node, _c = _node(api)
    assert node.exec("cat").output == ""
    sid, pid = node.exec("ps -o sid= -p $$; echo $$").output.split()
    assert sid == pid
    node.close()


def test_a_node_not_running_or_paused_gets_an_exec(api: _Api) -> None:
    """An exec to a paused or stopped node fails as the engine says; a channel would hang."""
    node, c = _node(api)
    api.state["Status"] = "paused"
    assert node.exec("echo x").output == "by exec\n"
    api.state["Status"] = "exited"
    assert node.exec("echo x").output == "by exec\n"
    assert len(c.execs) == 2 and api.started == 0


def test_a_restarted_node_gets_a_new_channel(api: _Api) -> None:
    node, _c = _node(api)
    assert node.exec("echo a").output == "a\n"
    api.state["StartedAt"] = "t2"
    assert node.exec("echo b").output == "b\n"
    assert api.started == 2
    node.close()


def test_a_command_whose_channel_ends_is_not_run_again(api: _Api, tmp_path: Path) -> None:
    node, c = _node(api)
    marks = tmp_path / "runs"
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(node.exec(f"echo x >> {marks}; sleep 5")))
    t.start()
    deadline = time.monotonic() + 5
    # the command has run once: its line is written (the file alone may be empty yet)
    while not (marks.exists() and marks.read_text()) and time.monotonic() < deadline:
        time.sleep(0.01)
    node.shell.close()  # the stream ends: as when the container is killed
    t.join(5)
    assert got and got[0].exit_code == -1 and got[0].output == ""
    assert marks.read_text() == "x\n" and c.execs == []
    assert node.exec("echo again").output == "again\n"  # a new channel for the next command


def test_an_image_without_halab_shell_uses_execs() -> None:
    api = _Api(missing=True)
    node, c = _node(api)
    assert node.exec("echo x").output == "by exec\n"
    assert node.exec("echo y").output == "by exec\n"
    assert api.started == 1 and len(c.execs) == 2  # not tried again


def test_the_shell_answers_bad_requests_and_keeps_going() -> None:
    proc = subprocess.run(
        [sys.executable, str(SHELL)],
        input=b'nonsense\n{"id": 4, "argv": []}\n{"id": 5, "argv": ["echo", "ok"]}\n',
        capture_output=True,
        timeout=10,
        check=True,
    )
    out = proc.stdout
    assert out.startswith(b'{"id": 0, "code": 0, "len": 7}\ncat tar')  # ready, its builtins
    assert out.count(b'"id": -1, "code": 2') == 2
    assert out.endswith(b'{"id": 5, "code": 0, "len": 3}\nok\n')


class _Events:
    """The engine's /events stream for a ContainerStates: what the test puts."""

    def __init__(self) -> None:
        import queue

        self.q: queue.Queue[Any] = queue.Queue()

    def __iter__(self) -> Any:
        while (ev := self.q.get()) is not None:
            yield ev

    def close(self) -> None:
        self.q.put(None)


def test_with_the_labs_states_a_command_asks_the_engine_nothing(api: _Api) -> None:
    """The node's state and run come from the engine's events: no inspect per command, a
    start event (a new run) makes a new channel, a pause sends commands to an exec."""
    import ipaddress

    from pytest_halab.containerstates import ContainerStates

    events = _Events()
    api.events = lambda decode, filters: events  # type: ignore[attr-defined]
    c = _Container(api)
    c.labels = {"io.halab.lab": "hl1"}  # type: ignore[attr-defined]
    c.status = "running"  # type: ignore[attr-defined]
    c.attrs = {"State": dict(api.state)}  # type: ignore[attr-defined]
    reloads: list[int] = []

    def reload() -> None:
        reloads.append(1)
        c.attrs = {"State": dict(api.state)}  # type: ignore[attr-defined]
        c.status = api.state["Status"]  # type: ignore[attr-defined]

    c.reload = reload  # type: ignore[attr-defined]
    states = ContainerStates()
    node = Node("lb1", "balancer", ipaddress.IPv4Address("10.0.0.2"), c, None, states)
    try:
        for i in range(5):
            assert node.exec(f"echo {i}").output == f"{i}\n"
        assert (len(reloads), api.inspects, api.started) == (1, 0, 1)

        def until(cond: Any) -> None:
            deadline = time.monotonic() + 5
            while not cond():
                assert time.monotonic() < deadline
                time.sleep(0.002)

        events.q.put({"Action": "pause", "id": "c1"})
        until(lambda: node.state() == "paused")
        assert node.exec("echo p").output == "by exec\n"
        events.q.put({"Action": "unpause", "id": "c1"})
        until(lambda: node.state() == "running")
        assert node.exec("echo u").output == "u\n" and api.started == 1  # the same run
        run = node.run_id()
        events.q.put({"Action": "die", "id": "c1"})
        events.q.put({"Action": "start", "id": "c1"})
        until(lambda: node.run_id() != run and node.state() == "running")
        assert node.exec("echo s").output == "s\n" and api.started == 2  # a new channel
        assert len(c.execs) == 1 and len(reloads) == 1 and api.inspects == 0
    finally:
        node.close()
        states.close()


def test_files_are_read_by_the_shell_itself(api: _Api, tmp_path: Path) -> None:
    """cat and tar in halab-shell (no fork): what read_file and read_files give through
    them is what the commands gave, a missing or irregular file told apart."""
    node, c = _node(api)
    (tmp_path / "a").write_bytes(bytes(range(256)) * 5)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert node.shell.builtin("cat", str(tmp_path / "a")) == (0, bytes(range(256)) * 5)
    assert node.read_file(str(tmp_path / "link")) == bytes(range(256)) * 5  # followed
    with pytest.raises(FileNotFoundError, match="is not a regular file"):
        node.read_file(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        node.read_file(str(tmp_path / "nope"))
    names = [str(tmp_path / n) for n in ("a", "empty", "link", "nope")]
    got = node.read_files([*names, str(tmp_path)])
    # regular files only, a symbolic link not followed (as tar -c stores it)
    assert got == {names[0]: bytes(range(256)) * 5, names[1]: b""}
    code, raw = node.shell.builtin("tar", names[:2]) or (None, b"")
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:  # a tar any reader takes
        assert [m.name.lstrip("/") for m in tar] == [n.lstrip("/") for n in names[:2]]
    assert code == 0 and c.execs == [] and api.started == 1
    node.close()


def test_an_older_shell_without_builtins_gets_commands(api: _Api) -> None:
    node, _c = _node(api)
    assert node.exec("true").ok
    channel = node.shell._channel
    assert channel is not None and channel.builtins == {"cat", "tar"}
    channel.builtins = frozenset()  # as a halab-shell from before them says
    assert node.shell.builtin("cat", "/etc/hostname") is None
    assert node.read_file("/etc/hostname") == Path("/etc/hostname").read_bytes()  # by cat
    node.close()

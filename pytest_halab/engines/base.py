"""What the lab knows of a VRRP engine: how it starts, how to find it, how it reports.

One subclass per engine, in its own module, registered in ``engines/__init__.py``. The lab,
the faults, the observers and the bench ask the node's engine; none of them switches on an
engine's name.

The balancer image starts whichever engine ``/etc/halab/vrrp-engine`` names with
``/etc/halab/services.d/30-vrrp start`` (after the lab's go signal); the engine writes its
pid file once it runs.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, ClassVar

from ..timeline import Event, EventKind

if TYPE_CHECKING:
    from ..nodes import Node

ENGINE_FILE = "/etc/halab/vrrp-engine"  # the balancer image's 30-vrrp reads it
START = "/etc/halab/services.d/30-vrrp start"
USE = "/etc/halab/services.d/30-vrrp use"  # + an engine's name: it runs from the next start
GO_FILE = "/run/halab/vrrp-go"
# exit 0 while 30-vrrp's subshell that becomes the engine runs, from its fork until the
# engine's exec (it tests the config with keepalived -t and waits for the go time first)
STARTING = "/etc/halab/services.d/30-vrrp starting"


class VrrpEngine:
    """A VRRP engine as the lab sees it from outside the node."""

    name: ClassVar[str]
    process: ClassVar[str]  # the process name, as `pgrep -x` and `pidof` see it
    pidfile: ClassVar[str]
    events_path: ClassVar[str]  # file in the node holding its state events (JSON lines)

    # ------------------------------------------------------------ shell snippets

    @classmethod
    def pgrep(cls) -> list[str]:
        """argv listing the pids of every process of the engine (parent and children)."""
        return ["pgrep", "-x", cls.process]

    @classmethod
    def alive_cmd(cls) -> str:
        """Shell: exit 0 when the engine's pid file names a live process of the engine's
        name (its pid in ``$p``): halab-vrrpd writes keepalived's pid file, where a
        keepalived a user started by hand writes it too. Builtins only: the lab asks this
        often, and a fork in a node costs CPU that every lab on the host shares."""
        f = shlex.quote(cls.pidfile)
        name = shlex.quote(cls.process)
        return (
            f'p=; {{ read -r p || [ -n "$p" ]; }} 2>/dev/null <{f}'
            f' && [ -n "$p" ] && kill -0 "$p" 2>/dev/null'
            f' && c= && {{ read -r c || [ -n "$c" ]; }} 2>/dev/null </proc/"$p"/comm'
            f' && [ "$c" = {name} ]'
        )

    @classmethod
    def running_cmd(cls) -> str:
        """Shell: exit 0 while the engine runs or is starting: a live pid file, a process
        of its name (under load an engine can take seconds to load its config and write
        its pid file; it carries its name from exec on), or 30-vrrp's starter still on its
        way to the exec (keepalived's config tests took more than 2 s in a loaded CI run;
        30-vrrp knows its starter by pid and start time, since a restarted node reuses
        pids)."""
        return (
            f"{{ {cls.alive_cmd()}; }} || pgrep -x {shlex.quote(cls.process)} >/dev/null"
            f" || {STARTING}"
        )

    @classmethod
    def tree_pids_cmd(cls) -> str:
        """Shell: the pid from the pid file and its children, one per line."""
        return f'{cls.alive_cmd()} && {{ echo "$p"; pgrep -P "$p"; }}; true'

    @classmethod
    def kill_all_cmd(cls) -> str:
        """Shell: SIGKILL every process of the engine and wait (2 s at most) until gone.
        The real pkill and pgrep: the balancer's own (engine-names) also end a director's
        checker on `pkill keepalived`, as a user's would, and the checker is no part of
        the engine."""
        pat = shlex.quote(cls.process)
        return (
            f"/usr/bin/pkill -KILL -x {pat}; for i in $(seq 100); do "
            f"/usr/bin/pgrep -x {pat} >/dev/null || break; sleep 0.02; done"
        )

    # ------------------------------------------------------------ on a node

    @classmethod
    def pid(cls, node: Node) -> int | None:
        """The engine's main pid (from its pid file), if it runs."""
        res = node.exec(f'{cls.alive_cmd()} && echo "$p"')
        out = res.output.strip()
        return int(out) if res.ok and out.isdigit() else None

    @classmethod
    def alive(cls, node: Node) -> bool:
        """It runs and has written its pid file."""
        return node.exec(cls.alive_cmd()).ok

    @classmethod
    def instances_started(cls, node: Node, since: float) -> bool:
        """Its instances have entered a state (BACKUP, MASTER, FAULT) at or after ``since``
        (epoch seconds): from then on it hears adverts and its timers run. A live pid file
        says less: halab-vrrpd writes it before its VRRP child has read the config, which
        took 1.8 s in a loaded CI run."""
        try:
            data = node.read_file(cls.events_path)
        except FileNotFoundError:
            return False
        for line in data.splitlines():
            ev = cls.parse_event(line, node.name)
            if ev is not None and ev.kind == EventKind.VRRP_STATE and ev.ts >= since:
                return True
        return False

    @classmethod
    def running(cls, node: Node) -> bool:
        """It runs, or its process is starting (see ``running_cmd``)."""
        return node.exec(cls.running_cmd()).ok

    @classmethod
    def pids(cls, node: Node) -> list[int]:
        """Every running process of the engine (by process name)."""
        return node.pids(cls.pgrep())

    @classmethod
    def start(cls, node: Node) -> None:
        """Start the engine now (the go file, when present, lets it start at once)."""
        node.exec(START, check=True)

    # ------------------------------------------------------------ events

    @classmethod
    def parse_event(cls, line: bytes, node: str) -> Event | None:
        """One line of ``events_path`` as a timeline event; None when unusable."""
        raise NotImplementedError

"""The checker's reload (SIGHUP): keepalived 2.2.7's clear_diff_services and migrate_checkers.
A real server kept keeps its state (a down one stays out of the pool, no flap), a weight
changed in the file moves to the new one, a server or virtual server removed leaves the pool
(its notify_down runs), a new one comes in; the plane gets the new state in one apply."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from _check_support import LogLines, RecordingEvents, RecordingPlane, config, until

from pytest_halab.vrrp.check.checker import run_checker
from pytest_halab.vrrp.conf import KeepalivedConfig

VS = "[10.9.9.9]:tcp:80"
VS2 = "[10.9.9.8]:tcp:80"


def _rs(n: int) -> str:
    return f"[10.9.9.{n}]:tcp:80"


def _conf(tmp_path: Path, servers: dict[int, int], *, second_vs: bool = False) -> str:
    """Real servers 10.9.9.N with weight W, each up while the file downN is absent. The
    check may take 5 s (misc_timeout; by default the 0.1 s delay_loop): a fork slowed by a
    busy host must not fail a server and add an apply the test does not expect."""
    body = "".join(
        f"""
    real_server 10.9.9.{n} 80 {{
        weight {w}
        notify_down "/bin/sh -c 'echo {n} >> {tmp_path / "notified_down"}'"
        MISC_CHECK {{
            misc_path "/bin/sh -c 'test ! -e {tmp_path / f"down{n}"}'"
            misc_timeout 5
        }}
    }}"""
        for n, w in servers.items()
    )
    other = (
        """
virtual_server 10.9.9.8 80 {
    delay_loop 0.1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.9.9.7 80 {
        weight 1
    }
}
"""
        if second_vs
        else ""
    )
    return f"""
virtual_server 10.9.9.9 80 {{
    delay_loop 0.1
    lb_algo wrr
    lb_kind DR
    protocol TCP
    {body}
}}
{other}"""


def _start(
    cfg: KeepalivedConfig,
    plane: RecordingPlane,
    events: RecordingEvents,
    stop: asyncio.Event,
    hup: asyncio.Event,
    reload: Callable[[], KeepalivedConfig | None],
) -> asyncio.Task[int]:
    """run_checker with no bootstrap delay, reloaded when `hup` is set."""
    return asyncio.create_task(
        run_checker(
            cfg, plane, events, stop, bootstrap_delay=0, reload=reload, reload_requested=hup
        )
    )


def test_a_reload_keeps_what_stayed_and_applies_what_changed(tmp_path: Path) -> None:
    async def scenario() -> None:
        plane, events = RecordingPlane(), RecordingEvents()
        stop, hup = asyncio.Event(), asyncio.Event()
        nxt: list[KeepalivedConfig | None] = []
        cfg = config(tmp_path, _conf(tmp_path, {1: 1, 2: 1, 3: 1}, second_vs=True))
        with LogLines() as logs:
            task = _start(cfg, plane, events, stop, hup, lambda: nxt.pop(0))
            await events.wait_for("pool", vs=VS)
            # server 2 fails and leaves the pool before the reload
            (tmp_path / "down2").touch()
            await events.wait_for("rs_state", rs=_rs(2), up=False)
            await until(
                lambda: plane.pool(VS) == {("10.9.9.1", 80): 1, ("10.9.9.3", 80): 1}, "2 out"
            )
            applies = len(plane.applied)
            notified = tmp_path / "notified_down"

            def downs() -> list[str]:
                return notified.read_text().split() if notified.exists() else []

            # 2's notify_down has written before the reload: the reload ends the scripts
            # the old configuration still runs (as keepalived does), and on a loaded host
            # it ended this one before its echo (CI saw the file hold "3" alone)
            await until(lambda: downs().count("2") == 1, lambda: f"2's notify_down: {downs()}")

            # 3 is up; on a loaded host its check may have failed once and recovered (a
            # notify_down of its own): what the reload adds is counted from here
            threes = downs().count("3")
            states3 = events.of("rs_state", rs=_rs(3))
            alive3 = not states3 or states3[-1]["up"]
            # the new file: 1's weight 1 -> 5, 2 unchanged (still failing), 3 gone, 4 new,
            # the second virtual server gone
            nxt.append(config(tmp_path, _conf(tmp_path, {1: 5, 2: 1, 4: 1})))
            hup.set()
            await events.wait_for("reload")
            # one apply: the new pool whole, and the failed server still out (no flap)
            assert len(plane.applied) == applies + 1
            assert plane.pool(VS) == {("10.9.9.1", 80): 5, ("10.9.9.4", 80): 1}
            assert plane.pool(VS2) is None
            assert events.of("rs_weight", rs=_rs(1)) == [
                {**events.of("rs_weight", rs=_rs(1))[0], "weight": 5}
            ]
            assert not events.of("rs_state", rs=_rs(2), up=True)
            # 3 was alive when removed: its notify_down runs (2's ran when it failed)
            assert alive3, f"3's check failed before the reload: {states3}"
            await until(
                lambda: downs().count("3") == threes + 1,
                lambda: f"3's notify_down (file: {downs()}, 3's states: {states3})",
            )
            assert downs().count("2") == 1, downs()
            # the kept checker still works after the reload: 2 back in
            (tmp_path / "down2").unlink()
            await events.wait_for("rs_state", rs=_rs(2), up=True)
            await until(
                lambda: (
                    plane.pool(VS)
                    == {("10.9.9.1", 80): 5, ("10.9.9.2", 80): 1, ("10.9.9.4", 80): 1}
                ),
                "2 back",
            )
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0
        text = "\n".join(logs.lines)
        assert "Reloading" in logs.lines
        assert f"service {_rs(3)} no longer exist" in logs.lines
        assert f"Removing service {_rs(3)} from VS {VS}" in logs.lines
        assert f"Removing Virtual Server {VS2}" in logs.lines
        assert f"Changing weight from 1 to 5 for active service {_rs(1)} of VS {VS}" in text

    asyncio.run(scenario())


def test_a_reload_that_cannot_read_the_file_changes_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        plane, events = RecordingPlane(), RecordingEvents()
        stop, hup = asyncio.Event(), asyncio.Event()
        cfg = config(tmp_path, _conf(tmp_path, {1: 1}))
        with LogLines() as logs:
            task = _start(cfg, plane, events, stop, hup, lambda: None)
            await events.wait_for("pool", vs=VS)
            applies = len(plane.applied)
            hup.set()
            await until(lambda: any("Reload abandoned" in line for line in logs.lines), "log")
            assert len(plane.applied) == applies and not events.of("reload")
            (tmp_path / "down1").touch()  # the checkers it had still run
            await events.wait_for("rs_state", rs=_rs(1), up=False)
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0

    asyncio.run(scenario())

"""Quorum with hysteresis, the sorry server, MISC_CHECK's misc_dynamic weights and misc_timeout,
notify_up/notify_down: driven by MISC_CHECK scripts that look at files the test writes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from _check_support import LogLines, RecordingEvents, RecordingPlane, config, model, until

from pytest_halab.vrrp.check.checker import run_checker
from pytest_halab.vrrp.check.runner import Runner

VS = "[10.9.9.9]:tcp:80"


def _misc(flag: Path, extra: str = "") -> str:
    return f"""MISC_CHECK {{
            misc_path "/bin/sh -c 'test ! -e {flag}'"
            misc_timeout 5
            {extra}
        }}"""


def _quorum_conf(tmp_path: Path, sorry: bool = True) -> str:
    servers = "".join(
        f"""
    real_server 10.9.9.{n} 80 {{
        weight 1
        {_misc(tmp_path / f"down{n}")}
    }}"""
        for n in range(1, 5)
    )
    return f"""
virtual_server 10.9.9.9 80 {{
    delay_loop 0.1
    lb_algo wrr
    lb_kind DR
    protocol TCP
    quorum 3
    hysteresis 1
    quorum_up "/bin/sh -c 'echo up >> {tmp_path / "quorum.log"}'"
    quorum_down "/bin/sh -c 'echo down >> {tmp_path / "quorum.log"}'"
    {"sorry_server 10.9.9.100 80" if sorry else ""}
    {servers}
}}
"""


def _runner(tmp_path: Path, text: str) -> tuple[Runner, RecordingPlane, RecordingEvents]:
    plane, events = RecordingPlane(), RecordingEvents()
    runner = Runner(model(tmp_path, text), plane, events, bootstrap_delay=0, rng=lambda: 0.0)
    return runner, plane, events


def _rs(n: int) -> str:
    return f"[10.9.9.{n}]:tcp:80"


def test_quorum_lost_and_regained_with_hysteresis_and_the_sorry_server(tmp_path: Path) -> None:
    async def scenario() -> None:
        runner, plane, events = _runner(tmp_path, _quorum_conf(tmp_path))
        quorum_log = tmp_path / "quorum.log"
        with LogLines() as logs:
            runner.start()
            # 4 alive >= quorum 3 + hysteresis 1: quorum at start
            assert events.of("quorum") == [
                {**events.of("quorum")[0], "vs": VS, "up": True, "alive_weight": 4, "quorum": 3}
            ]
            assert len(plane.pool(VS) or {}) == 4
            for n in (1, 2):  # 2 left >= 3 - 1: still quorum
                (tmp_path / f"down{n}").touch()
                await events.wait_for("rs_state", rs=_rs(n), up=False)
            assert len(events.of("quorum")) == 1
            (tmp_path / "down3").touch()
            lost = await events.wait_for("quorum", up=False)
            assert lost[0]["alive_weight"] == 1
            sorry = await events.wait_for("sorry_server", in_use=True)
            assert sorry[0]["rs"] == "[10.9.9.100]:tcp:80"
            await until(lambda: plane.pool(VS) == {("10.9.9.100", 80): 1}, "the sorry server")
            await until(lambda: quorum_log.exists(), "quorum_down")
            for n in (1, 2):  # 3 alive < 3 + 1: no quorum yet
                os.unlink(tmp_path / f"down{n}")
                await events.wait_for("rs_state", rs=_rs(n), up=True)
            assert len(events.of("quorum")) == 2
            assert plane.pool(VS) == {("10.9.9.100", 80): 1}
            os.unlink(tmp_path / "down3")
            gained = await events.wait_for("quorum", 2, up=True)
            assert gained[-1]["alive_weight"] == 4
            await events.wait_for("sorry_server", in_use=False)
            await until(lambda: len(plane.pool(VS) or {}) == 4, "the real servers back")
            assert ("10.9.9.100", 80) not in (plane.pool(VS) or {})
            await until(lambda: quorum_log.read_text() == "up\ndown\nup\n", "quorum scripts")
            await runner.stop()
        assert f"Gained quorum 3+1=4 <= 4 for VS {VS}" in logs.lines
        assert f"Lost quorum 3-1=2 > 1 for VS {VS}" in logs.lines
        assert f"Adding sorry server [10.9.9.100]:tcp:80 to VS {VS}" in logs.lines
        assert f"Removing alive servers from the pool for VS {VS}" in logs.lines
        assert f"Removing sorry server [10.9.9.100]:tcp:80 from VS {VS}" in logs.lines
        assert f"Adding alive servers to the pool for VS {VS}" in logs.lines
        assert (
            f"Misc check for [{_rs(1)} VS {VS}] by [/bin/sh] failed with retry disabled"
            " (exited with status 1)."
        ) in logs.lines

    asyncio.run(scenario())


def test_without_a_sorry_server_the_pool_keeps_what_is_alive(tmp_path: Path) -> None:
    async def scenario() -> None:
        runner, plane, events = _runner(tmp_path, _quorum_conf(tmp_path, sorry=False))
        runner.start()
        for n in (1, 2, 3):
            (tmp_path / f"down{n}").touch()
        await events.wait_for("quorum", up=False)
        await until(lambda: plane.pool(VS) == {("10.9.9.4", 80): 1}, "one server left")
        await runner.stop()

    asyncio.run(scenario())


def test_misc_dynamic_sets_the_weight_from_the_exit_status(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("0")
    text = f"""
virtual_server 10.9.9.9 80 {{
    delay_loop 0.1
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 10.9.9.1 80 {{
        weight 7
        MISC_CHECK {{
            misc_path "/bin/sh -c 'exit $(cat {status})'"
            misc_dynamic
            misc_timeout 5
        }}
    }}
}}
"""

    async def scenario() -> None:
        runner, plane, events = _runner(tmp_path, text)
        with LogLines() as logs:
            runner.start()
            assert plane.pool(VS) == {("10.9.9.1", 80): 7}
            status.write_text("5")
            weight = await events.wait_for("rs_weight", rs=_rs(1))
            assert weight[0]["weight"] == 3
            await until(lambda: plane.pool(VS) == {("10.9.9.1", 80): 3}, "weight 3")
            status.write_text("0")
            await events.wait_for("rs_weight", 2, rs=_rs(1))
            assert events.of("rs_weight")[-1]["weight"] == 7
            await until(lambda: plane.pool(VS) == {("10.9.9.1", 80): 7}, "weight 7")
            status.write_text("1")
            await events.wait_for("rs_state", rs=_rs(1), up=False)
            assert events.of("rs_state") and not events.of("rs_state", up=True)
            await runner.stop()
        assert f"Changing weight from 7 to 3 for active service {_rs(1)} of VS {VS}" in logs.lines

    asyncio.run(scenario())


def test_notify_up_and_down_run_with_their_arguments(tmp_path: Path) -> None:
    script = tmp_path / "notify.sh"
    out = tmp_path / "notify.out"
    script.write_text(f'#!/bin/sh\necho "$@" >> {out}\n')
    script.chmod(0o755)
    flag = tmp_path / "down1"
    text = f"""
virtual_server 10.9.9.9 80 {{
    delay_loop 0.1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.9.9.1 80 {{
        notify_up "{script} rs-up 'two words'"
        notify_down "{script} rs-down"
        {_misc(flag)}
    }}
}}
"""

    async def scenario() -> None:
        runner, _plane, events = _runner(tmp_path, text)
        runner.start()
        flag.touch()
        await events.wait_for("rs_state", up=False)
        await until(lambda: out.exists() and out.read_text() == "rs-down\n", "notify_down")
        flag.unlink()
        await events.wait_for("rs_state", up=True)
        await until(lambda: out.read_text() == "rs-down\nrs-up two words\n", "notify_up")
        await runner.stop()

    asyncio.run(scenario())


def test_misc_timeout_ends_the_script_and_fails_the_check(tmp_path: Path) -> None:
    # the script is found by its own argv (a pid file it writes may still be empty when a
    # loaded host let the timeout expire before the shell ran its first command); only its
    # first run sleeps, the next ones (every delay_loop) end at once
    mark = f"30.{os.getpid()}{len(str(tmp_path))}"
    flag = tmp_path / "ran"
    text = f"""
virtual_server 10.9.9.9 80 {{
    delay_loop 0.2
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.9.9.1 80 {{
        MISC_CHECK {{
            misc_path "/bin/sh -c '[ -e {flag} ] && exit 0; : > {flag}; exec sleep {mark}'"
            misc_timeout 1
        }}
    }}
}}
"""

    def running() -> bool:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if cmdline.read_bytes() == f"sleep\0{mark}\0".encode():
                    return True
            except OSError:
                continue
        return False

    async def scenario() -> None:
        runner, _plane, events = _runner(tmp_path, text)
        with LogLines() as logs:
            runner.start()
            down = await events.wait_for("rs_state", up=False)
            assert down[0]["detail"] == (
                f"Misc check for [{_rs(1)} VS {VS}] by [/bin/sh] timed out with retry disabled."
            )
            await until(lambda: not running(), "the script ended")
            await runner.stop()
        assert down[0]["detail"] in logs.lines

    asyncio.run(scenario())


def test_run_checker_stops_on_its_event_and_says_so(tmp_path: Path) -> None:
    async def scenario() -> None:
        plane, events = RecordingPlane(), RecordingEvents()
        stop = asyncio.Event()
        cfg = config(tmp_path, _quorum_conf(tmp_path))
        with LogLines() as logs:
            task = asyncio.create_task(run_checker(cfg, plane, events, stop, bootstrap_delay=0))
            await events.wait_for("pool")
            stop.set()
            assert await asyncio.wait_for(task, 10) == 0
        assert plane.cleared == 1
        assert logs.lines[-1] == "Stopped"
        assert sum(line.startswith("Shutting down service") for line in logs.lines) == 4

    asyncio.run(scenario())

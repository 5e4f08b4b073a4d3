"""The checker's scheduler against real local servers: keepalived 2.2.7's retries, alpha,
inhibit_on_failure, and what reaches the forwarding plane."""

from __future__ import annotations

import asyncio
from pathlib import Path

from _check_support import (
    AttemptLog,
    Backend,
    LogLines,
    RecordingEvents,
    RecordingPlane,
    model,
)

from pytest_halab.vrrp.check.runner import Runner


def _conf(port: int, rs_extra: str = "", vs_extra: str = "", check: str = "") -> str:
    return f"""
virtual_server 127.0.0.1 {port} {{
    delay_loop 0.3
    lb_algo rr
    lb_kind NAT
    protocol TCP
    {vs_extra}
    real_server 127.0.0.1 {port} {{
        weight 5
        {rs_extra}
        TCP_CHECK {{
            connect_timeout 1
            retry 2
            delay_before_retry 0.1
            {check}
        }}
    }}
}}
"""


def _runner(tmp_path: Path, text: str) -> tuple[Runner, RecordingPlane, RecordingEvents]:
    plane, events = RecordingPlane(), RecordingEvents()
    runner = Runner(model(tmp_path, text), plane, events, bootstrap_delay=0, rng=lambda: 0.0)
    return runner, plane, events


def test_down_after_retry_plus_one_failures_then_up_after_one_success(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = Backend()
        await backend.start()
        port = backend.port
        runner, plane, events = _runner(tmp_path, _conf(port))
        attempts = AttemptLog(runner)
        rs = vs = f"[127.0.0.1]:tcp:{port}"
        with LogLines() as logs:
            runner.start()
            assert plane.pool(vs) == {("127.0.0.1", port): 5}
            await events.wait_for("pool", vs=vs)
            # the first check passes; then the server goes away
            while not attempts.of(rs):
                await asyncio.sleep(0.01)
            await backend.stop()
            down = await events.wait_for("rs_state", rs=rs, up=False)
            tries = attempts.of(rs)
            failures = [t for ok, t in tries if not ok]
            assert [ok for ok, _t in tries] == [True, False, False, False]
            # retries are delay_before_retry apart; the first failure came a delay_loop on
            assert failures[1] - failures[0] >= 0.1 - 0.01
            assert failures[2] - failures[1] >= 0.1 - 0.01
            assert failures[0] - tries[0][1] >= 0.3 - 0.01
            assert down[0]["checker"] == "TCP_CHECK"
            assert down[0]["detail"] == f"TCP_CHECK on service {rs} failed after 2 retries."
            await events.wait_for("pool", 2, vs=vs)
            assert plane.pool(vs) == {}
            await backend.start()
            await events.wait_for("rs_state", rs=rs, up=True)
            after_down = attempts.of(rs)[4:]
            assert [ok for ok, _t in after_down][-1] is True
            assert sum(ok for ok, _t in after_down) == 1
            await events.wait_for("pool", 3, vs=vs)
            assert plane.pool(vs) == {("127.0.0.1", port): 5}
            await runner.stop()
            await backend.stop()
        assert f"TCP_CHECK on service {rs} failed after 2 retries." in logs.lines
        assert f"Removing service {rs} from VS {vs}" in logs.lines
        assert f"Adding service {rs} to VS {vs}" in logs.lines
        assert f"TCP connection to {rs} success." in logs.lines
        assert f"Activating healthchecker for service {rs} for VS {vs}" in logs.lines
        assert logs.lines[-1] == f"Shutting down service {rs} from VS {vs}"
        assert plane.cleared == 1

    asyncio.run(scenario())


def test_a_server_down_at_start_is_removed_after_one_failure(tmp_path: Path) -> None:
    """keepalived starts each checker with its retries spent: one failure is enough."""

    async def scenario() -> None:
        backend = Backend()
        await backend.start()
        port = backend.port
        await backend.stop()
        runner, _plane, events = _runner(tmp_path, _conf(port))
        attempts = AttemptLog(runner)
        rs = f"[127.0.0.1]:tcp:{port}"
        with LogLines() as logs:
            runner.start()
            await events.wait_for("rs_state", rs=rs, up=False)
            assert [ok for ok, _t in attempts.of(rs)] == [False]
            await runner.stop()
        assert f"TCP_CHECK on service {rs} failed." in logs.lines

    asyncio.run(scenario())


def test_alpha_starts_down_until_the_first_success(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = Backend()
        await backend.start()
        port = backend.port
        runner, plane, events = _runner(tmp_path, _conf(port, vs_extra="alpha"))
        vs = rs = f"[127.0.0.1]:tcp:{port}"
        runner.start()
        assert plane.pool(vs) == {}  # not served before its first check
        up = await events.wait_for("rs_state", rs=rs, up=True)
        assert up[0]["detail"] == f"TCP connection to {rs} success."
        await events.wait_for("pool", 2, vs=vs)
        assert plane.pool(vs) == {("127.0.0.1", port): 5}
        await runner.stop()
        await backend.stop()

    asyncio.run(scenario())


def test_inhibit_on_failure_keeps_a_failed_server_with_weight_0(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = Backend()
        await backend.start()
        port = backend.port
        runner, plane, events = _runner(tmp_path, _conf(port, rs_extra="inhibit_on_failure"))
        vs = rs = f"[127.0.0.1]:tcp:{port}"
        with LogLines() as logs:
            runner.start()
            assert plane.pool(vs) == {("127.0.0.1", port): 5}
            await backend.stop()
            await events.wait_for("rs_state", rs=rs, up=False)
            await events.wait_for("pool", 2, vs=vs)
            assert plane.pool(vs) == {("127.0.0.1", port): 0}
            pool = events.of("pool", vs=vs)[-1]
            assert pool["destinations"] == [{"rs": rs, "weight": 0}]
            assert pool["plane"] == "recorder"
            await runner.stop()
        assert f"Disabling service {rs} of VS {vs}" in logs.lines
        assert f"Shutting down (inhibited) service {rs} from VS {vs}" in logs.lines

    asyncio.run(scenario())


def test_log_all_failures_logs_each_failed_attempt(tmp_path: Path) -> None:
    async def scenario() -> None:
        backend = Backend()
        await backend.start()
        port = backend.port
        runner, _plane, events = _runner(tmp_path, _conf(port, check="log_all_failures"))
        attempts = AttemptLog(runner)
        rs = f"[127.0.0.1]:tcp:{port}"
        with LogLines() as logs:
            runner.start()
            while not attempts.of(rs):
                await asyncio.sleep(0.01)
            await backend.stop()
            await events.wait_for("rs_state", rs=rs, up=False)
            await runner.stop()
        assert logs.lines.count(f"TCP connection to {rs} failed.") == 3

    asyncio.run(scenario())


def test_a_refused_service_is_skipped_and_said(tmp_path: Path) -> None:
    async def scenario() -> None:
        plane, events = RecordingPlane(refuse=lambda s: "no such thing"), RecordingEvents()
        runner = Runner(model(tmp_path, _conf(1)), plane, events, bootstrap_delay=0)
        with LogLines() as logs:
            runner.start()
            await runner.stop()
        assert plane.applied in ([], [[]])
        assert "VS [127.0.0.1]:tcp:1 cannot be served by recorder: no such thing" in logs.lines

    asyncio.run(scenario())

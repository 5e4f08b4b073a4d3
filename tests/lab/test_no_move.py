"""A fault after which no VIP moves, for real, with both VRRP engines.

nginx is killed on the master of a pair whose instances track no script
(``topologies/no_track.yaml``): VRRP does not know, the VIP stays on the master and every
request of the client fails. The user's question "does the VIP move if nginx dies?" is
answered no, and the measure must say so: moved False, the holder unchanged, no detection,
VIP-move or GARP figure, failed requests and an outage still going on. It says so once the
VIP has stayed put for as long as the configuration lets a move take
(``Scenario.move_bound``), well before the timeout; with ``to=`` the wait fails then, with
the diagnosis as its message, and the measure is recorded all the same.
"""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab.cli import EXIT_NO_MOVE
from pytest_halab.cli import main as halab_main
from pytest_halab.errors import VipDidNotMove
from pytest_halab.lab import Lab
from pytest_halab.lint import lint
from pytest_halab.measures import FailoverMeasure
from pytest_halab.scenario import Scenario

pytestmark = pytest.mark.lab("topologies/no_track.yaml")

ScenarioFactory = Callable[[Lab], Scenario]
NO_TRACK = Path(__file__).resolve().parent / "topologies" / "no_track.yaml"
ENGINES = ["keepalived", "halab"]
TIMEOUT_S = 30.0  # far above the bound (3 s here): a measure that waited for it shows
QUICK_S = 20.0  # generous: the bound, the probes' last reports and a few docker calls


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def untracked(lab_factory: Callable[..., Lab], engine: str) -> Lab:
    return lab_factory(str(NO_TRACK), vrrp=engine)


def story(hal: Scenario, m: FailoverMeasure) -> str:
    """The measure and the timeline of its window, for assertion messages."""
    after = (m.duration_s or 0.0) + 0.5
    return m.summary() + "\n" + hal.timeline().format_around(m.fault_ts, 0.5, after, limit=80)


def test_nginx_killed_on_the_master_moves_nothing(
    untracked: Lab, engine: str, hal_scenario: ScenarioFactory
) -> None:
    # what `halab lint` predicted, and the lab confirms below
    assert {f.rule for f in lint([str(NO_TRACK)])[1]} == {"no-tracking"}
    hal = hal_scenario(untracked)
    bound = hal.move_bound("VI_1")
    assert bound.track_script is None and bound.advert_int == 0.5  # what the topology says
    hal.wait_holders({"VI_1": ["lb1"]})
    fault = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
    t0 = time.monotonic()
    m = hal.failover("VI_1", fault, timeout=TIMEOUT_S)
    took = time.monotonic() - t0
    print(f"\n{engine}: {m.summary()} (returned after {took:.1f} s, bound {bound.explain()})")
    why = story(hal, m)
    assert not m.moved and m.stayed_put, why
    assert m.new_holder is None and m.old_holder == "lb1", why
    assert m.holders_before == m.holders_after == {"lb1"} and m.holder_changes == 0, why
    assert (m.detection_s, m.vip_move_s, m.garp_s, m.detection_source) == (None,) * 4, why
    # the service on the holder is dead: the client's requests fail, to the end
    assert m.failed_requests > 0 and not m.recovered, why
    assert m.ongoing_outage_s is not None and m.ongoing_outage_s > 0, why
    assert m.outage_s is None, why
    # watched as long as a move could take, then concluded: not at the timeout
    assert m.duration_s is not None and m.duration_s >= bound.seconds, why
    assert took < QUICK_S, why
    assert hal.measures[-1] is m
    assert untracked.vip_holders() == {"VI_1": ["lb1"]}


def test_waiting_for_the_backup_fails_with_the_diagnosis(
    untracked: Lab, hal_scenario: ScenarioFactory
) -> None:
    hal = hal_scenario(untracked)
    hal.wait_holders({"VI_1": ["lb1"]})
    fault = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
    t0 = time.monotonic()
    with pytest.raises(VipDidNotMove) as info:
        hal.failover("VI_1", fault, to="lb2", timeout=TIMEOUT_S)
    took = time.monotonic() - t0
    assert isinstance(info.value, AssertionError)  # a failed test, not an error
    text = str(info.value)
    print(f"\n{text} (after {took:.1f} s)")
    assert re.fullmatch(
        r"VI_1 did not move to lb2: held by lb1 throughout \d+\.\d s after kill_process "
        r"nginx SIGKILL on lb1; outage at least \d+\.\d ms \(requests still failing at the "
        r"end\), [1-9]\d* of \d+ requests failed",
        text,
    ), text
    m = info.value.measure
    assert not m.moved and m.holders_after == {"lb1"} and m.failed_requests > 0
    assert hal.measures[-1] is m  # recorded all the same
    assert took < QUICK_S, text


USER_TEST = textwrap.dedent("""
    def test_does_the_vip_move_if_nginx_dies(hal):
        fault = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
        hal.failover("VI_1", fault, to="lb2")
""")


def test_the_failed_expectation_reaches_the_summary_table(pytester: pytest.Pytester) -> None:
    """A user's test file: the failure shows the diagnosis, the summary table and the JUnit
    record have the measure (one engine: this is about the report, not the engine)."""
    pytester.makepyfile(test_user=USER_TEST)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest_subprocess(
        f"--hal-topology={NO_TRACK}", "--hal-vrrp=halab", f"--junitxml={junit}"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*VipDidNotMove: VI_1 did not move to lb2: held by lb1 throughout * s after "
            "kill_process nginx SIGKILL on lb1; outage at least * ms*",
            "*halab failover measures*",
            "*no_track*halab*kill_process nginx SIGKILL*VI_1*did not move*>= *(not recovered)*",
        ]
    )
    xml = junit.read_text()
    assert '<property name="halab.VI_1.moved" value="false"' in xml
    assert 'name="halab.VI_1.ongoing_outage_ms"' in xml


def test_bench_of_a_fault_that_moves_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    # One engine: how the bench reports a run that moved nothing does not depend on the
    # engine (the measure itself is tested on both above).
    argv = ["bench", str(NO_TRACK), "--vrrp", "halab", "--fault", "kill_nginx"]
    assert halab_main([*argv, "--runs", "1"]) == EXIT_NO_MOVE
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert re.search(
        r"^ *[\d.]+ s halab kill_nginx on lb1 #1: VI_1 did not move after "
        r"kill_process nginx SIGKILL on lb1, held by lb1 throughout \d+\.\d s; outage at least",
        captured.err,
        re.M,
    ), captured.err
    assert re.search(
        r"^halab: VI_1 did not move after kill_nginx on lb1 in 1 of 1 run\(s\) \(held "
        r"by lb1 throughout\); client outage at least \d+\.\d ms",
        captured.out,
        re.M,
    ), captured.out
    assert f"exit status {EXIT_NO_MOVE}: in some run the fault moved no VIP" in captured.out

"""The timeline picture of a real failover, with both VRRP engines: nginx killed on the
master (its track script takes 100 off its priority), the backup takes the VIP over. The
picture must show what the engines themselves say of their instances (``lab.instances()``,
read before and after): each balancer's priority line from its configured priority to its
effective one, the state bands, who held the VIP, the client's failed requests, the fault
and the measure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_halab.instances import InstanceStatus
from pytest_halab.lab import Lab
from pytest_halab.picture import STATE_COLOURS, draw_timeline
from pytest_halab.scenario import Scenario
from pytest_halab.session import note_instances, picture_args
from pytest_halab.waits import until

pytestmark = pytest.mark.lab("nginx_master_backup")

ScenarioFactory = Callable[[Lab], Scenario]
ENGINES = ["keepalived", "halab"]


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def mb(lab_factory: Callable[..., Lab], engine: str) -> Lab:
    return lab_factory("nginx_master_backup", vrrp=engine)


def priorities(lab: Lab) -> dict[str, int]:
    """Each balancer's effective priority of VI_1, as its engine says."""
    out = {}
    for node, said in lab.instances().items():
        assert not isinstance(said, str), f"{node}: {said}"
        inst: InstanceStatus = next(s for s in said if s.name == "VI_1")
        out[node] = inst.effective_priority
    return out


def row_colours(fig: Any, row: str) -> list[tuple[float, ...]]:
    """The face colours of the bars on a row of the lower plot, left to right."""
    ax = fig.axes[1]
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    y = ticks[row]
    bars = []
    for coll in ax.collections:
        for path, colour in zip(coll.get_paths(), coll.get_facecolors(), strict=False):
            ext = path.get_extents()
            if y - 0.5 <= ext.y0 and ext.y1 <= y + 0.5 and ext.width > 0 and ext.height > 0.05:
                bars.append((ext.x0, tuple(colour)))
    return [c for _, c in sorted(bars)]


def test_a_failovers_picture_shows_priorities_states_holders_and_the_measure(
    mb: Lab, engine: str, hal_scenario: ScenarioFactory
) -> None:
    from matplotlib.colors import to_rgba

    hal = hal_scenario(mb)
    hal.wait_holders({"VI_1": ["lb1"]})
    # what the session notes when pictures are asked for (--hal-report, --html): noted here
    # too, so that this test needs neither
    note_instances(mb, hal)
    before = priorities(mb)
    assert before["lb1"] > before["lb2"]
    fault = hal.faults.kill_process("lb1", "nginx", "SIGKILL")
    m = hal.failover("VI_1", fault, to="lb2")
    # the track script has failed by now (lb2 took over because of it): lb1 says so
    after = until(
        "lb1's effective priority below lb2's",
        lambda: p if (p := priorities(mb))["lb1"] < p["lb2"] else None,
        timeout=10.0,
    )
    tl = hal.timeline()
    fig = draw_timeline(tl, title=f"picture of a failover ({engine})", **picture_args(mb, hal, tl))
    ax_p, ax = fig.axes[0], fig.axes[1]

    steps = {
        str(line.get_label()): [int(v) for v in line.get_ydata()]
        for line in ax_p.get_lines()
        if line.get_drawstyle() == "steps-post"
    }
    assert set(steps) == {"lb1 VI_1", "lb2 VI_1"}, steps
    # lb1 from its configured priority down to the one its engine reports now
    assert steps["lb1 VI_1"][0] == before["lb1"], steps
    assert steps["lb1 VI_1"][-1] == after["lb1"], steps
    # the backup says nothing until it takes over: its line starts from its engine's status
    assert steps["lb2 VI_1"][0] == before["lb2"], steps
    (lb2_line,) = [ln for ln in ax_p.get_lines() if ln.get_label() == "lb2 VI_1"]
    assert lb2_line.get_xdata()[0] < 0, "lb2's priority not known before the fault"
    written = {t.get_text() for t in ax_p.texts}
    assert {str(before["lb1"]), str(after["lb1"]), str(before["lb2"])} <= written, written

    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows[:2] == ["lb1 state (VI_1)", "lb2 state (VI_1)"], rows
    master, backup = to_rgba(STATE_COLOURS["MASTER"]), to_rgba(STATE_COLOURS["BACKUP"])
    assert row_colours(fig, "lb1 state (VI_1)")[-2:] == [master, backup]
    assert row_colours(fig, "lb2 state (VI_1)")[-2:] == [backup, master]
    vip = f"VI_1 {mb.vip_addresses()['VI_1']}"
    assert len(row_colours(fig, f"{vip} held by")) >= 2  # lb1's lane, then lb2's

    failed = [e for e in tl if e.kind == "probe" and not e.get("ok")]
    ticks = [c for c in ax.collections if type(c).__name__ == "LineCollection"]
    assert sum(len(c.get_segments()) for c in ticks) == len(failed)
    spans = [p for p in ax_p.patches if p.get_x() == pytest.approx(0.0)]
    assert spans, "no fault band at the injection"
    assert any(t.get_text().startswith("kill_process nginx") for t in ax_p.texts)
    text = " ".join(" ".join(t.get_text() for t in fig.texts).split())  # lines wrapped
    assert m.vip_move_s is not None
    assert f"VIP move {m.vip_move_s * 1000:.1f} ms" in text, text
    assert f"{m.failed_requests}/{m.probes} requests failed" in text, text
    # on real data too, nothing written on the picture covers anything else written on it
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    written = [(t.get_text(), t.get_window_extent(r)) for a in fig.axes for t in a.texts]
    written += [(t.get_text()[:30], t.get_window_extent(r)) for t in fig.texts]
    written += [("legend", lg.get_window_extent(r)) for lg in fig.legends]
    written.append(("x label", ax.xaxis.label.get_window_extent(r)))
    for i, (na, a) in enumerate(written):
        for nb, b in written[i + 1 :]:
            assert not a.overlaps(b), (na, nb)


def test_a_backups_own_priority_change_is_on_the_picture(
    mb: Lab, engine: str, hal_scenario: ScenarioFactory
) -> None:
    """nginx killed on the BACKUP: its track script takes its priority down and nothing
    moves. A backup sends no adverts, so only its engine can say so: keepalived in its log
    (the user's config has no notify_priority_changes), halab-vrrpd in its event log. The
    picture's line for lb2 must go from its priority to the one its engine reports, at the
    time the engine changed it (after the fault)."""
    hal = hal_scenario(mb)
    hal.wait_holders({"VI_1": ["lb1"]})
    note_instances(mb, hal)
    before = priorities(mb)
    hal.faults.kill_process("lb2", "nginx", "SIGKILL")
    after = until(
        "lb2's effective priority below its configured one",
        lambda: p if (p := priorities(mb))["lb2"] < before["lb2"] else None,
        timeout=10.0,
    )
    hal.wait_holders({"VI_1": ["lb1"]})
    tl = hal.timeline()
    changes = [
        e
        for e in tl
        if e.node == "lb2" and e.kind == "engine" and e.get("event") == "priority_change"
    ]
    assert [(e.get("old"), e.get("new")) for e in changes] == [(before["lb2"], after["lb2"])]
    fig = draw_timeline(tl, title=f"a backup's priority ({engine})", **picture_args(mb, hal, tl))
    ax_p = fig.axes[0]
    (lb2_line,) = [ln for ln in ax_p.get_lines() if ln.get_label() == "lb2 VI_1"]
    ys = [int(v) for v in lb2_line.get_ydata()]
    assert ys[0] == before["lb2"] and ys[-1] == after["lb2"], ys
    xs = list(lb2_line.get_xdata())
    step = next(x for x, y in zip(xs, ys, strict=True) if y == after["lb2"])
    assert step > 0, "the drop is drawn before the fault"
    assert str(after["lb2"]) in {t.get_text() for t in ax_p.texts}

"""The timeline picture, drawn from synthetic timelines: priorities from each engine's
events and from the adverts on the wire, state bands, VIP holding, failed requests per VIP,
fault bands, split brains, markers by registry, measures, labels that cover nothing, and
its HTML for pytest-html."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_halab import picture
from pytest_halab.htmlextras import TestPicture, picture_html
from pytest_halab.measures import FailoverMeasure
from pytest_halab.picture import (
    MarkerStyle,
    draw_timeline,
    fault_bands,
    marks_of,
    measure_lines,
    plot_timeline,
    priority_points,
    state_bands,
)
from pytest_halab.timeline import Event, Timeline

T0 = 1_700_000_000.0
VIPS = {"VI_1": "10.0.0.100", "VI_2": "10.0.0.101"}
ADDRS = {"10.0.0.11": "lb1", "10.0.0.12": "lb2"}
VRIDS = {51: "VI_1", 52: "VI_2"}


def ev(t: float, node: str, kind: str, /, **data: Any) -> Event:
    return Event(T0 + t, node, kind, data)


def story() -> Timeline:
    """lb1 MASTER of VI_1 at 192, a track script takes 2 off (190: still above lb2's 102,
    nothing moves), then nginx is killed on lb1: its priority falls to 90 and lb2 takes
    VI_1 over, with a 30 ms overlap of both holding it. VI_2 stays on lb2 throughout."""
    events = [
        ev(0.0, "lb1", "engine", event="priority_change", instance="VI_1", old=192, new=190),
        ev(1.0, "lab", "fault", name="kill_nginx", phase="inject", target="lb1"),
        ev(1.01, "lab", "fault", name="kill_nginx", phase="effective", target="lb1"),
        ev(1.2, "lb1", "engine", event="priority_change", instance="VI_1", old=190, new=90),
        ev(1.2, "lb1", "script", script="/etc/keepalived/check_nginx.sh", exit_status=1),
        ev(1.3, "lb2", "vrrp_state", instance="VI_1", state="MASTER", prev="BACKUP", priority=102),
        ev(1.3, "lb2", "vip_added", addr="10.0.0.100/24"),
        ev(1.33, "lb1", "vip_removed", addr="10.0.0.100/24"),
        ev(1.33, "lb1", "vrrp_state", instance="VI_1", state="BACKUP", prev="MASTER", priority=90),
        ev(1.6, "mail", "mail", subject="[lb2] VRRP Instance VI_1 - Entering MASTER state"),
        ev(3.0, "lab", "fault", name="kill_nginx", phase="revert", target="lb1"),
    ]
    for i in range(40):
        t = -1.0 + i * 0.1
        events.append(ev(t, "client", "probe", vip="VI_1", ok=not (1.0 <= t < 1.35)))
        events.append(ev(t + 0.05, "client", "probe", vip="VI_2", ok=True))
    for i in range(22):  # lb1's adverts until it steps down
        t = -1.0 + i * 0.1
        events.append(
            ev(t, "client", "advert", src="10.0.0.11", vrid=51, priority=192 if t < 0 else 190)
        )
    for i in range(17):
        events.append(ev(1.3 + i * 0.1, "client", "advert", src="10.0.0.12", vrid=51, priority=102))
    events.append(ev(0.5, "client", "advert", src="10.0.0.99", vrid=51, priority=250))  # stranger
    return Timeline(events, vips=VIPS)


def story_measure() -> FailoverMeasure:
    return FailoverMeasure(
        vip="VI_1",
        fault="kill_nginx",
        fault_ts=T0 + 1.0,
        old_holder="lb1",
        new_holder="lb2",
        detection_s=0.3,
        vip_move_s=0.33,
        garp_s=0.331,
        outage_s=0.35,
        outage_from_fault_s=0.35,
        failed_requests=4,
        probes=40,
        last_failure_ts=T0 + 1.3,
        detection_source="vrrp_state",
    )


def draw(tl: Timeline | None = None, **kw: Any) -> Any:
    tl = story() if tl is None else tl
    args: dict[str, Any] = {
        "initial": {"VI_1": ["lb1"], "VI_2": ["lb2"]},
        "servers": ADDRS,
        "balancers": ["lb1", "lb2"],
        "vrids": VRIDS,
        "measures": [story_measure()],
        "title": "t.py::test_story",
    }
    args.update(kw)
    return draw_timeline(tl, VIPS, tl.of_kind("fault"), **args)


# --- what the picture shows, as data -------------------------------------------------------


def test_priorities_from_the_engines_events_and_the_wire() -> None:
    pts = priority_points(story(), addresses=ADDRS, vrids=VRIDS, start=T0 - 1.0)
    lb1 = [(round(p.ts - T0, 3), p.priority, p.source) for p in pts[("lb1", "VI_1")]]
    # halab-vrrpd's first change says what held before it: 192 from the start
    assert [x for x in lb1 if x[2] == "engine"] == [
        (-1.0, 192, "engine"),
        (0.0, 190, "engine"),
        (1.2, 90, "engine"),
        (1.33, 90, "engine"),
    ]
    # adverts: the first, each change, the last; never each advert
    assert [x for x in lb1 if x[2] == "advert"] == [
        (-1.0, 192, "advert"),
        (0.0, 190, "advert"),
        (1.1, 190, "advert"),
    ]
    lb2 = [(round(p.ts - T0, 3), p.priority) for p in pts[("lb2", "VI_1")] if p.source == "engine"]
    assert lb2 == [(1.3, 102)]
    # an advert from an address of no node is nobody's priority
    assert all(p.priority != 250 for ps in pts.values() for p in ps)
    # without the addresses and VRIDs, the engines' events alone
    bare = priority_points(story())
    assert {p.source for ps in bare.values() for p in ps} == {"engine"}


def test_keepalived_priority_notices_are_priorities() -> None:
    tl = Timeline(
        [
            ev(0, "lb1", "vrrp_state", instance="VI_1", state="MASTER", prev="INIT", priority=150),
            ev(1, "lb1", "vrrp_notice", instance="VI_1", notice="MASTER_PRIORITY", priority=50),
            ev(2, "lb1", "vrrp_notice", instance="VI_1", notice="MASTER_RX_LOWER_PRI", priority=7),
        ]
    )
    assert [p.priority for p in priority_points(tl)[("lb1", "VI_1")]] == [150, 50]


def test_state_bands_start_from_the_state_left() -> None:
    tl = story()
    bands = state_bands(tl, T0 - 1.0, T0 + 3.0)
    got = sorted((b.node, b.state, round(b.start - T0, 2), round(b.end - T0, 2)) for b in bands)
    assert got == [
        ("lb1", "BACKUP", 1.33, 3.0),
        ("lb1", "MASTER", -1.0, 1.33),
        ("lb2", "BACKUP", -1.0, 1.3),
        ("lb2", "MASTER", 1.3, 3.0),
    ]
    # left INIT: unknown before, no band
    init = Timeline([ev(1, "lb1", "vrrp_state", instance="VI_1", state="BACKUP", prev="INIT")])
    assert [(b.state, b.start) for b in state_bands(init, T0, T0 + 2)] == [("BACKUP", T0 + 1)]


def test_fault_bands_run_from_injection_to_revert() -> None:
    faults = [
        ev(1, "lab", "fault", name="stop_vrrp", phase="inject", target="lb1"),
        ev(1.1, "lab", "fault", name="stop_vrrp", phase="effective", target="lb1"),
        ev(2, "lab", "fault", name="block_vrrp", phase="inject", target="lb2"),
        ev(3, "lab", "fault", name="stop_vrrp", phase="revert", target="lb1"),
    ]
    got = [
        (b.label, b.start - T0, None if b.end is None else b.end - T0) for b in fault_bands(faults)
    ]
    assert got == [("stop_vrrp (lb1)", 1.0, 3.0), ("block_vrrp (lb2)", 2.0, None)]


def test_measures_in_words() -> None:
    (line,) = measure_lines([story_measure()])
    assert line == (
        "VI_1 failover after kill_nginx: lb1 -> lb2, detection 300.0 ms (vrrp_state), "
        "VIP move 330.0 ms, outage 350.0 ms, 4/40 requests failed"
    )


def test_the_checkers_decisions_are_marked_on_the_directors_row() -> None:
    rs = "[10.0.0.30]:tcp:80"
    tl = Timeline(
        [
            ev(0.1, "lvs1", "checker", event="rs_weight", vs="v", rs=rs, weight=4),
            ev(0.2, "lvs1", "checker", event="quorum", vs="v", up=False, alive_weight=1, quorum=3),
            ev(0.3, "lvs1", "checker", event="sorry_server", vs="v", in_use=True, rs=rs),
            ev(0.4, "lvs1", "checker", event="quorum", vs="v", up=True, alive_weight=3, quorum=3),
            ev(0.5, "lvs1", "checker", event="sorry_server", vs="v", in_use=False, rs=rs),
        ]
    )
    got = [(m.node, m.style.name, m.label) for m in marks_of(tl, {"10.0.0.30": "web2"})]
    assert got == [
        ("lvs1", "rs_weight", "web2 w4"),
        ("lvs1", "quorum_lost", "quorum 1<3"),
        ("lvs1", "sorry_server", "sorry web2 in"),
        ("lvs1", "quorum_up", "quorum 3>=3"),
        ("lvs1", "sorry_server", "sorry web2 out"),
    ]


def test_a_new_marker_kind_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    tl = Timeline([ev(0, "lb1", "haproxy", server="web1", up=False)])
    assert marks_of(tl) == []
    style = MarkerStyle(
        "haproxy",
        lambda e: e.kind == "haproxy",
        "x",
        "black",
        "haproxy backend",
        lambda e, _n: str(e.get("server")),
    )
    monkeypatch.setattr(picture, "MARKERS", [*picture.MARKERS, style])
    (mark,) = marks_of(tl)
    assert (mark.node, mark.style.name, mark.label) == ("lb1", "haproxy", "web1")
    legend = [t.get_text() for t in draw(tl, measures=[]).legends[0].get_texts()]
    assert "haproxy backend" in legend


# --- the figure ---------------------------------------------------------------------------------


def rows_of(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.axes[1].get_yticklabels()]


def bars_on_row(fig: Any, row: str) -> list[tuple[Any, tuple[float, float, float, float]]]:
    """(face colour, extent in data units) of each bar drawn on a row."""
    ax = fig.axes[1]
    y = {t.get_text(): tick for t, tick in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}[
        row
    ]
    out = []
    for coll in ax.collections:
        for path, colour in zip(coll.get_paths(), coll.get_facecolors(), strict=False):
            ext = path.get_extents()
            if ext.y0 >= y - 0.5 and ext.y1 <= y + 0.5 and ext.width > 0 and ext.height > 0.05:
                out.append((tuple(colour), (ext.x0, ext.y0, ext.x1, ext.y1)))
    return out


def test_the_picture_has_a_state_row_per_balancer_and_two_rows_per_vip() -> None:
    fig = draw()
    assert rows_of(fig) == [
        "lb1 state (VI_1)",
        "lb2 state (VI_1)",
        "VI_1 10.0.0.100 held by",
        "VI_1 10.0.0.100 failed requests",
        "VI_2 10.0.0.101 held by",
        "VI_2 10.0.0.101 failed requests",
        "mail",
    ]
    master = picture.STATE_COLOURS["MASTER"]
    from matplotlib.colors import to_rgba

    lb1 = sorted(bars_on_row(fig, "lb1 state (VI_1)"), key=lambda b: b[1][0])
    assert [c for c, _ in lb1] == [to_rgba(master), to_rgba(picture.STATE_COLOURS["BACKUP"])]
    # MASTER until 0.33 s after the fault (x = 0 is the injection)
    assert lb1[0][1][2] == pytest.approx(0.33, abs=1e-6)
    lb2 = sorted(bars_on_row(fig, "lb2 state (VI_1)"), key=lambda b: b[1][0])
    assert [c for c, _ in lb2] == [to_rgba(picture.STATE_COLOURS["BACKUP"]), to_rgba(master)]


def test_priority_lines_carry_the_values() -> None:
    fig = draw()
    ax_p = fig.axes[0]
    steps = {}
    for line in ax_p.get_lines():
        if line.get_drawstyle() == "steps-post":
            steps[line.get_label()] = [int(y) for y in line.get_ydata()]
    # engine and advert at -1 s, both at 0 s, the last advert, the kill, BACKUP, to the end
    assert steps["lb1 VI_1"] == [192, 192, 190, 190, 190, 90, 90, 90]
    assert set(steps["lb2 VI_1"]) == {102}
    written = {t.get_text() for t in ax_p.texts}
    assert {"192", "190", "90", "102"} <= written


def test_failed_requests_fall_on_their_vips_row_only() -> None:
    fig = draw()
    ax = fig.axes[1]
    ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
    reds = [
        c
        for c in ax.collections
        if c.get_label() == "failed request"
        or (
            type(c).__name__ == "LineCollection" and tuple(c.get_colors()[0])[:3] == (1.0, 0.0, 0.0)
        )
    ]
    assert len(reds) == 1  # VI_2 never failed: no ticks
    ys = {round((seg[0][1] + seg[1][1]) / 2, 6) for seg in reds[0].get_segments()}
    assert ys == {ticks["VI_1 10.0.0.100 failed requests"]}
    assert len(reds[0].get_segments()) == 4


def test_a_split_brain_is_hatched_and_in_the_legend() -> None:
    fig = draw()
    hatched = [p for p in fig.axes[1].patches if p.get_hatch()]
    assert len(hatched) == 1
    assert hatched[0].get_x() == pytest.approx(0.3) and hatched[0].get_width() == pytest.approx(
        0.03
    )
    assert "split brain" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert "split brain 30.0 ms" in [t.get_text() for t in fig.axes[1].texts]
    # a clean handover: no hatch, no legend entry
    clean = Timeline(
        [e for e in story() if e.kind != "vip_removed"]
        + [ev(1.3, "lb1", "vip_removed", addr="10.0.0.100/24")],
        vips=VIPS,
    )
    fig2 = draw(clean)
    assert not [p for p in fig2.axes[1].patches if p.get_hatch()]
    assert "split brain" not in [t.get_text() for t in fig2.legends[0].get_texts()]


def test_faults_are_bands_and_the_measures_are_written() -> None:
    fig = draw()
    spans = [p for p in fig.axes[0].patches if p.get_x() == pytest.approx(0.0)]
    assert spans and spans[0].get_width() == pytest.approx(2.0)  # inject to revert
    assert "kill_nginx (lb1)" in [t.get_text() for t in fig.axes[0].texts]
    text = "\n".join(t.get_text() for t in fig.texts)
    assert "detection 300.0 ms" in text and "outage 350.0 ms" in text


def test_markers_of_scripts_and_mails_are_drawn_and_labelled() -> None:
    fig = draw()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "script run" in legend and "mail received" in legend
    labels = [t.get_text() for t in fig.axes[1].texts]
    assert "check_nginx.sh 1" in labels
    assert any(t.startswith("[lb2] VRRP Instance VI_1") for t in labels)


def boxes(fig: Any) -> list[tuple[str, Any]]:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    out = [(f"text {t.get_text()!r}", t.get_window_extent(r)) for a in fig.axes for t in a.texts]
    out += [(f"fig text {t.get_text()[:20]!r}", t.get_window_extent(r)) for t in fig.texts]
    out += [("legend", lg.get_window_extent(r)) for lg in fig.legends]
    out += [(f"plot {i}", a.get_window_extent(r)) for i, a in enumerate(fig.axes)]
    ax = fig.axes[1]  # the lower plot: the x axis' name and numbers
    out.append(("x label", ax.xaxis.label.get_window_extent(r)))
    out += [("x numbers", t.get_window_extent(r)) for t in ax.get_xticklabels() if t.get_text()]
    return out


@pytest.mark.parametrize("n_measures", [1, 3])
def test_no_label_legend_or_text_overlaps_another(n_measures: int) -> None:
    # a long fault name makes a measure's line wider than the picture: wrapped, it takes two
    long = dataclasses.replace(story_measure(), fault="kill_process " + "x" * 100)
    fig = draw(measures=[long] * n_measures)
    assert len(fig.texts[-1].get_text().splitlines()) == 2 * n_measures
    found = boxes(fig)
    for i, (na, a) in enumerate(found):
        for nb, b in found[i + 1 :]:
            if {na.split()[0], nb.split()[0]} == {"plot", "text"}:
                continue  # a value or a fault's name is written on its plot (or at its edge)
            assert not a.overlaps(b), (na, nb)


def test_labels_cover_no_marker_and_crowded_ones_are_left_out() -> None:
    events = [
        ev(i * 0.01, "lb1", "script", script=f"/bin/check{i}", exit_status=0) for i in range(30)
    ]
    events.append(ev(1.0, "client", "probe", vip="VI_1", ok=True))
    fig = draw(Timeline(events, vips=VIPS), measures=[])
    ax = fig.axes[1]
    fig.canvas.draw()
    labels = [t for t in ax.texts if t.get_text().startswith("check")]
    assert 1 <= len(labels) < 30
    (markers,) = [ln for ln in ax.get_lines() if ln.get_marker() == "s"]
    pts = ax.transData.transform(list(zip(markers.get_xdata(), markers.get_ydata(), strict=True)))
    half = picture._MARKER_PT * fig.dpi / 72 / 2
    for t in labels:
        box = t.get_window_extent()
        for px, py in pts:
            assert not (
                box.x0 < px + half
                and px - half < box.x1
                and box.y0 < py + half
                and py - half < box.y1
            )
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not a.get_window_extent().overlaps(b.get_window_extent())


def test_an_empty_window_still_gives_a_picture(tmp_path: Path) -> None:
    out = plot_timeline(tmp_path / "sub" / "t.png", Timeline(), VIPS, [])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_html_embeds_the_picture_and_the_measures() -> None:
    png = picture.picture_png(story(), VIPS, story().of_kind("fault"), servers=ADDRS)
    page = picture_html([TestPicture("t.py::test_a <x>", png, ("VI_1 failover: 1 & 2",))])
    assert "t.py::test_a &lt;x&gt;" in page and "VI_1 failover: 1 &amp; 2" in page
    (data,) = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(data) == png


def test_the_engines_status_at_the_start_gives_a_quiet_backup_its_priority_and_state() -> None:
    """ "Why did nothing move?": the backup says nothing in the window; its engine's status
    dump, read when the observation began, still puts its 102 beside the master's 190."""
    tl = Timeline(
        [
            ev(0.1, "lb1", "vrrp_status", instance="VI_1", state="MASTER", priority=192),
            ev(0.1, "lb2", "vrrp_status", instance="VI_1", state="BACKUP", priority=102),
            ev(1.0, "lb1", "engine", event="priority_change", instance="VI_1", old=192, new=190),
            ev(
                3.0,
                "lb1",
                "vrrp_state",
                instance="VI_1",
                state="MASTER",
                prev="MASTER",
                priority=190,
            ),
        ]
    )
    pts = priority_points(tl, start=T0)
    assert [(round(p.ts - T0, 3), p.priority) for p in pts[("lb1", "VI_1")]] == [
        (0.1, 192),
        (1.0, 190),
        (3.0, 190),
    ]
    assert [p.priority for p in pts[("lb2", "VI_1")]] == [102]
    bands = state_bands(tl, T0, T0 + 4)
    # a status and a later event of the same state are one band
    assert sorted((b.node, b.state, b.start - T0, b.end - T0) for b in bands) == [
        ("lb1", "MASTER", pytest.approx(0.1), pytest.approx(4.0)),
        ("lb2", "BACKUP", pytest.approx(0.1), pytest.approx(4.0)),
    ]
    fig = draw(tl, measures=[])
    steps = {
        line.get_label(): [int(y) for y in line.get_ydata()]
        for line in fig.axes[0].get_lines()
        if line.get_drawstyle() == "steps-post"
    }
    assert steps == {"lb1 VI_1": [192, 190, 190, 190], "lb2 VI_1": [102, 102]}


def test_the_session_notes_what_each_engine_says_at_the_start() -> None:
    from types import SimpleNamespace

    from pytest_halab.instances import InstanceStatus
    from pytest_halab.session import note_instances

    def status(node: str, state: str, prio: int) -> InstanceStatus:
        return InstanceStatus(
            node, "VI_1", state, prio, prio - 2, prio, False, 0.0, 51, ("10.0.0.100",), ()
        )

    noted: list[tuple[str, str, dict[str, Any]]] = []
    lab = SimpleNamespace(
        instances=lambda: {
            "lb1": [status("lb1", "MASTER", 192)],
            "lb2": "the VRRP engine is not running",
        }
    )
    hal = SimpleNamespace(
        observation=SimpleNamespace(note=lambda node, kind, at, **d: noted.append((node, kind, d)))
    )
    note_instances(lab, hal)  # type: ignore[arg-type]
    assert noted == [
        (
            "lb1",
            "vrrp_status",
            {
                "instance": "VI_1",
                "state": "MASTER",
                "priority": 190,
                "base_priority": 192,
                "vrid": 51,
            },
        )
    ]


def test_two_instances_of_one_node_are_told_apart_by_line_style() -> None:
    tl = Timeline(
        [
            ev(0, "lb1", "vrrp_status", instance="VI_1", state="MASTER", priority=150),
            ev(0, "lb1", "vrrp_status", instance="VI_2", state="BACKUP", priority=100),
            ev(0, "lb2", "vrrp_status", instance="VI_2", state="MASTER", priority=150),
        ]
    )
    fig = draw(tl, measures=[])
    lines = {
        ln.get_label(): (ln.get_color(), ln.get_linestyle())
        for ln in fig.axes[0].get_lines()
        if ln.get_drawstyle() == "steps-post"
    }
    assert lines["lb1 VI_1"][0] == lines["lb1 VI_2"][0]  # one node, one colour
    assert lines["lb1 VI_1"][1] != lines["lb1 VI_2"][1]
    assert lines["lb1 VI_2"][1] == lines["lb2 VI_2"][1]  # one instance, one style
    legend = {
        h.get_label(): h.get_linestyle() for h in fig.legends[0].legend_handles if h.get_label()
    }
    assert legend["lb1 VI_2"] == lines["lb1 VI_2"][1]
    assert rows_of(fig)[0] == "lb1 state (VI_1, VI_2)"


def test_priority_values_are_written_off_the_lines() -> None:
    fig = draw()
    fig.canvas.draw()
    ax_p = fig.axes[0]
    values = [t for t in ax_p.texts if t.get_text().isdigit()]
    assert len(values) >= 4
    for line in ax_p.get_lines():
        if line.get_drawstyle() != "steps-post":
            continue
        xy = list(zip(line.get_xdata(), line.get_ydata(), strict=True))
        # the step's corners, then 50 points along each level and each rise or fall
        path = []
        for (x0, y0), (x1, y1) in itertools.pairwise(xy):
            path += [(x0 + (x1 - x0) * i / 50, y0) for i in range(51)]
            path += [(x1, y0 + (y1 - y0) * i / 50) for i in range(51)]
        for px, py in ax_p.transData.transform(path):
            for t in values:
                box = t.get_window_extent()
                assert not (box.x0 < px < box.x1 and box.y0 < py < box.y1), (t.get_text(), line)


def test_an_engines_status_reads_plainly_around_a_failure() -> None:
    tl = Timeline([ev(0, "lb2", "vrrp_status", instance="VI_1", state="BACKUP", priority=102)])
    assert "lb2   vrrp_status  VI_1 BACKUP priority 102" in tl.format_around(T0)

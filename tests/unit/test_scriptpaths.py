"""The scripts a keepalived.conf names in a lab (scriptpaths): which are notify scripts
the lab wraps, which paths nothing provides (refused at topology load), the wrapper and
its events."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab import topology


def test_script_uses_and_missing_script_paths_refused(tmp_path: Path) -> None:
    from pytest_halab.errors import TopologyError
    from pytest_halab.scriptpaths import notify_wrapper, provided, script_event

    src = Path(__file__).resolve().parents[2] / "tests" / "lab" / "topologies"
    topo = topology.load(src / "haproxy_notify.yaml")
    assert topo.notify_scripts["lb1"] == tuple(
        sorted(
            f"/etc/keepalived/scripts/{n}"
            for n in ("start_haproxy.sh", "stop_haproxy.sh", "stop_keepalived.sh", "notify.sh")
        )
    )
    assert provided("/etc/keepalived/check_nginx.sh", frozenset()) is True  # the image's
    assert provided("/usr/bin/killall", frozenset()) is True
    assert provided("killall", frozenset()) is None  # on PATH: not judged
    assert provided("/home/check.sh", frozenset({"/home/check.sh"})) is True
    assert provided("/home/check.sh", frozenset()) is False
    wrapper = notify_wrapper("/etc/x y.sh").decode()
    assert wrapper.startswith("#!/bin/sh\n")
    assert (
        "exec /usr/local/lib/halab/run-notify '/etc/x y.sh' '/etc/halab/notify/etc/x y.sh'"
        in wrapper
    )
    ev = script_event(
        b'{"ts":1796257439684702,"event":"script","script":"/a.sh","args":["x"],'
        b'"exit_status":0,"duration_ms":16.7,"pid":312}',
        "lb1",
    )
    assert ev is not None and ev.kind == "script" and ev.get("args") == ["x"]
    assert script_event(b'{"ts":1,"event":"pool"}', "lb1") is None
    assert script_event(b'{"event":"script","script":"/a"}', "lb1") is None

    # a notify script the topology does not ship: refused at its line
    for f in (src / "haproxy_notify").iterdir():
        (tmp_path / "haproxy_notify").mkdir(exist_ok=True)
        (tmp_path / "haproxy_notify" / f.name).write_bytes(f.read_bytes())
    text = (src / "haproxy_notify.yaml").read_text()
    text = text.replace(
        "../../../lab/topologies/common/haproxy.cfg",
        str(Path(__file__).resolve().parents[2] / "lab" / "topologies" / "common" / "haproxy.cfg"),
    )
    lines = [ln for ln in text.splitlines() if "start_haproxy.sh: haproxy_notify" not in ln]
    (tmp_path / "t.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(TopologyError) as info:
        topology.load(tmp_path / "t.yaml")
    msg = str(info.value)
    assert "nodes.lb1.files./etc/keepalived/keepalived.conf" in msg
    assert (
        "lb1.keepalived.conf:16: notify_master of VI_1: /etc/keepalived/scripts/start_haproxy.sh"
        in msg
    )

"""haproxy's pure parts: check timers from haproxy.cfg (haproxybound), the watcher's
event lines (services.base.checker_event), the config check's message (configcheck)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_halab import configcheck, topology
from pytest_halab.haproxybound import parse_time_ms, pool_bound, server_checks
from pytest_halab.services import Haproxy
from pytest_halab.services.base import checker_event

CFG = """
global
    maxconn 10
defaults
    timeout connect 1s
    timeout check 500ms
    default-server inter 3s fall 2
backend web   # a comment
    default-server rise 4
    server web1 10.0.0.20:80 check fastinter 1s
    server web2 10.0.0.30:80 check inter 1500 downinter 5s
    server spare 10.0.0.40:80
listen other
    server web1b 10.0.0.20:8080 check inter 10s fall 5 rise 1
"""


@pytest.mark.parametrize(
    ("text", "ms"),
    [("2s", 2000), ("500", 500), ("250ms", 250), ("1m", 60_000), ("1500us", 1.5), ("1h", 3.6e6)],
)
def test_haproxy_times(text: str, ms: float) -> None:
    assert parse_time_ms(text) == ms


@pytest.mark.parametrize("bad", ["", "2 s", "-1", "1.5s", "banana", "2sec"])
def test_haproxy_times_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_time_ms(bad)


def test_server_timers_from_defaults_backend_and_line() -> None:
    (a, b) = server_checks(CFG, "10.0.0.20")
    assert (a.backend, a.server, a.inter, a.fastinter, a.downinter, a.fall, a.rise) == (
        "web", "web1", 3.0, 1.0, 3.0, 2, 4,
    )  # fmt: skip
    # a failed check: connect within min(inter, timeout connect), then timeout check
    assert a.check_timeout == 1.5
    assert a.bound(removed=True) == 3.0 + 1 * 1.0 + 1.5
    assert a.bound(removed=False) == 3.0 + 3 * 1.0
    assert a.inter_x_fall == 6.0
    assert (b.backend, b.inter, b.fall, b.rise) == ("other", 10.0, 5, 1)
    (w2,) = server_checks(CFG, "10.0.0.30")
    assert (w2.inter, w2.fastinter, w2.downinter) == (1.5, 1.5, 5.0)
    assert w2.bound(removed=False) == 5.0 + 3 * 1.5
    assert server_checks(CFG, "10.0.0.40") == []  # no `check`: haproxy never takes it out
    assert pool_bound(CFG, "10.0.0.20") == max(a.bound(), b.bound())
    assert pool_bound(CFG, "10.0.0.99") is None


def test_debian_defaults_when_nothing_is_said() -> None:
    (c,) = server_checks("backend b\n  server s 10.1.1.1:80 check\n", "10.1.1.1")
    assert (c.inter, c.fastinter, c.downinter, c.fall, c.rise, c.check_timeout) == (
        2.0, 2.0, 2.0, 3, 2, 2.0,
    )  # fmt: skip


def test_the_shipped_haproxy_cfg_gives_the_bounds_the_lab_tests_use() -> None:
    topo = topology.load("haproxy_master_backup")
    addr = topo.addressing(topology.SAMPLE_SUBNET)
    files = {p: f.data for p, f in topo.render_files("lb1", addr).items()}
    web1 = str(addr.nodes["web1"])
    assert Haproxy.pool_bound(files, web1, True) == 2.0 + 2 * 2.0 + 2.0
    assert Haproxy.pool_bound(files, web1, False) == 2.0 + 1 * 2.0
    assert Haproxy.pool_bound({}, web1, True) is None


def test_watcher_lines_are_checker_events() -> None:
    ev = checker_event(
        b'{"ts":1796255342642079,"event":"rs_state","checker":"haproxy","vs":"web",'
        b'"rs":"[10.0.0.20]:tcp:80","up":false,"detail":"L4CON"}\n',
        "lb1",
    )
    assert ev is not None and ev.kind == "checker" and ev.node == "lb1"
    assert ev.ts == 1796255342.642079
    assert (ev.get("event"), ev.get("up"), ev.get("checker")) == ("rs_state", False, "haproxy")
    for bad in (b"", b"{", b"[]", b'{"ts": true, "event": "x"}', b'{"ts": 1}', b'{"event":"x"}'):
        assert checker_event(bad, "lb1") is None


def test_config_check_message_points_at_the_template(tmp_path: Path) -> None:
    topo = topology.load("haproxy_master_backup")
    out = (
        "[NOTICE]   (6) : haproxy version is 2.6.12-1+deb12u3\n"
        "[ALERT]    (6) : config : parsing [/etc/haproxy/haproxy.cfg:21] : unknown keyword "
        "'serverr' in 'backend' section; did you mean 'server' maybe ?\n"
        "[ALERT]    (6) : config : Error(s) found in configuration file : "
        "/etc/haproxy/haproxy.cfg\n"
        "[ALERT]    (6) : config : Fatal errors found in configuration.\n"
    )
    msg = configcheck._message(topo, "lb2", Haproxy.config_path, Haproxy.config_test_cmd(), 1, out)
    cfg = (topo.path.parent / "common" / "haproxy.cfg").resolve()
    assert msg.splitlines() == [
        f"{topo.path}:24: nodes.lb2.files./etc/haproxy/haproxy.cfg: `haproxy` rejects it (exit 1):",
        f"{cfg}:21: unknown keyword 'serverr' in 'backend' section; did you mean 'server' maybe ?",
    ]

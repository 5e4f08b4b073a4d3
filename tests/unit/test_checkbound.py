"""The bound a director's keepalived.conf gives its checker to take a real server out of
the pool, or back in."""

from __future__ import annotations

import ipaddress

import pytest

from pytest_halab import topology
from pytest_halab.checkbound import pool_bound

CONF = """
virtual_server 10.0.0.3 80 {
    delay_loop %(delay)s
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.20 80 {
        %(checker)s
    }
    real_server 10.0.0.30 80 {
    }
}
"""


@pytest.mark.parametrize(
    ("delay", "checker", "out", "back"),
    [
        # delay_loop + (retry + 1) x connect_timeout + retry x delay_before_retry
        ("2", "TCP_CHECK { connect_timeout 3\n retry 2\n delay_before_retry 4 }", 19.0, 5.0),
        # keepalived's defaults: retry 1, delay_before_retry 1, connect_timeout 5
        ("6", "TCP_CHECK { }", 6 + 2 * 5 + 1, 11.0),
        # HTTP_GET: delay_before_retry 3 by default; one success per url to come back
        ("1", "HTTP_GET { url { path / }\n url { path /h }\n connect_timeout 1 }", 6.0, 6.0),
        # two checkers: the quickest to fail takes it out, the slowest to pass lets it in
        (
            "1",
            "TCP_CHECK { connect_timeout 1\n retry 0 }\n TCP_CHECK { connect_timeout 9 }",
            2.0,
            10.0,
        ),
    ],
)
def test_bounds(tmp_path: object, delay: str, checker: str, out: float, back: float) -> None:
    conf = CONF % {"delay": delay, "checker": checker}
    assert pool_bound(conf, "10.0.0.20") == out
    assert pool_bound(conf, "10.0.0.20", removed=False) == back
    assert pool_bound(conf, "10.0.0.30") is None  # no checker
    assert pool_bound(conf, "10.0.0.99") is None


def test_seed_003_as_written_has_retry_at_its_default() -> None:
    # keepalived 2.2.7 no longer reads nb_get_retry in TCP_CHECK: retry stays 1
    topo = topology.load("lvs_dr")
    addr = topo.addressing(ipaddress.ip_network("10.1.2.0/24"))
    conf = topo.render_files("lvs1", addr)[topology.KEEPALIVED_CONF].data
    assert pool_bound(conf, "10.1.2.203") == 6 + 2 * 5 + 1 * 3
    assert pool_bound(conf, "10.1.2.204") == 6 + 2 * 10 + 1 * 3

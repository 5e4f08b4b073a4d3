"""The model's timers for every checker kind (keepalived 2.2.7's queue_checker defaults and
validate_check_config), SMTP_CHECK's connect_timeout taken when its block ends, and the
connection options every connecting probe builds its target from."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from _check_support import model

from pytest_halab.vrrp.check.conn import CheckerRefused
from pytest_halab.vrrp.check.model import VirtualServerSpec, build_model
from pytest_halab.vrrp.check.probe import Target
from pytest_halab.vrrp.check.probes import build_probe
from pytest_halab.vrrp.check.smtp import SmtpProbe
from pytest_halab.vrrp.check.tcp import TcpProbe
from pytest_halab.vrrp.conf import load_config

KINDS = """virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 8
    real_server 10.0.0.2 80 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
            }
        }
        SSL_GET {
            url {
                path /
            }
        }
        MISC_CHECK {
            misc_path /bin/true
        }
        DNS_CHECK {
        }
        SMTP_CHECK {
        }
    }
}
"""


def test_each_kind_has_keepalived_defaults(tmp_path: Path) -> None:
    (vs,) = model(tmp_path, KINDS)
    got = {
        c.kind: (c.retry, c.delay_before_retry, c.delay_loop, c.warmup, c.connect_timeout)
        for c in vs.real_servers[0].checkers
    }
    assert got == {
        "TCP_CHECK": (1, 1.0, 8.0, 8.0, 5.0),
        "HTTP_GET": (1, 3.0, 8.0, 8.0, 5.0),
        "SSL_GET": (1, 3.0, 8.0, 8.0, 5.0),
        "MISC_CHECK": (0, 1.0, 8.0, 8.0, 5.0),
        "DNS_CHECK": (3, 8.0, 8.0, 8.0, 5.0),  # delay_before_retry: the delay_loop
        "SMTP_CHECK": (1, 1.0, 8.0, 8.0, 5.0),
    }
    misc = vs.real_servers[0].checkers[3]
    assert (misc.conn, misc.misc_timeout) == (None, 8.0)  # misc_timeout: the VS delay_loop


def _reported(tmp_path: Path, text: str) -> list[VirtualServerSpec]:
    """The model of a file the parser reports errors in (they are only skipped here)."""
    path = tmp_path / "keepalived.conf"
    path.write_text(text)
    cfg, _diags = load_config(path, interfaces={"lo": True}, check_scripts=False)
    return build_model(cfg)


def test_a_server_value_overrides_a_kind_default_and_the_last_valid_line_wins(
    tmp_path: Path,
) -> None:
    (vs,) = _reported(
        tmp_path,
        """virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    retry 2
    real_server 10.0.0.2 80 {
        delay_before_retry 4
        MISC_CHECK {
            misc_path /bin/true
            misc_timeout 3
        }
        DNS_CHECK {
            retry 5
            retry x
        }
        HTTP_GET {
            retry 6
            nb_get_retry 7
            url {
                path /
            }
        }
    }
}
""",
    )
    misc, dns, http = vs.real_servers[0].checkers
    assert (misc.retry, misc.delay_before_retry, misc.misc_timeout) == (2, 4.0, 3.0)
    assert (dns.retry, dns.delay_before_retry) == (5, 4.0)
    assert http.retry == 7  # nb_get_retry, read after retry, sets the same value


def test_smtp_takes_the_connect_timeout_read_before_its_block(tmp_path: Path) -> None:
    (vs,) = model(
        tmp_path,
        """virtual_server 10.0.0.1 25 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    connect_timeout 3
    real_server 10.0.0.2 25 {
        SMTP_CHECK {
        }
        TCP_CHECK {
        }
        connect_timeout 9
        SMTP_CHECK {
            host {
                connect_ip 10.0.0.3
            }
            host {
                connect_timeout 4
                retry 2
            }
        }
    }
}
""",
    )
    before, tcp, first, second = vs.real_servers[0].checkers
    assert (before.kind, before.connect_timeout) == ("SMTP_CHECK", 3.0)
    assert tcp.connect_timeout == 9.0  # the others take the real server's, resolved
    # one checker per host, the first in the block's place; a host's timeout is 0 unless set
    assert (first.connect_timeout, second.connect_timeout) == (0.0, 4.0)
    assert first.item is second.item and first.retry == second.retry == 2
    probe = build_probe(first)
    assert isinstance(probe, SmtpProbe)
    assert probe.target == Target("10.0.0.3", 25, socket.AF_INET, 0.0)


def test_every_connecting_checker_refuses_a_link_local_address_without_bind_if(
    tmp_path: Path,
) -> None:
    (vs,) = model(
        tmp_path,
        """virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.0.2 80 {
        TCP_CHECK {
            connect_ip fe80::1
        }
        HTTP_GET {
            connect_ip fe80::1
            url {
                path /
            }
        }
        TCP_CHECK {
            connect_ip fe80::1
            bind_if lo
            bind_port 2000
        }
    }
}
""",
    )
    tcp, http, bound = vs.real_servers[0].checkers
    for spec in (tcp, http):
        with pytest.raises(CheckerRefused, match="link local address fe80::1 requires a bind_if"):
            build_probe(spec)
    # bind_port without bindto binds nothing, as keepalived
    probe = build_probe(bound)
    assert isinstance(probe, TcpProbe)
    assert probe.target == Target("fe80::1", 80, socket.AF_INET6, 5.0, bind_interface="lo")

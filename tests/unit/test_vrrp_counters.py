"""halab-vrrpd's keepalived counters and the text of its stats and data dumps."""

from __future__ import annotations

import os
import time

import pytest

from pytest_halab.vrrp.counters import AdvertStats
from pytest_halab.vrrp.datadump import _stamp

# /tmp/keepalived.stats of keepalived 2.2.7 (Debian 12) on a lab BACKUP after SIGUSR2
KEEPALIVED_STATS = """VRRP Instance: VI_1
  Advertisements:
    Received: 6
    Sent: 0
  Became master: 0
  Released master: 0
  Packet Errors:
    Length: 0
    TTL: 0
    Invalid Type: 0
    Advertisement Interval: 0
    Address List: 0
  Authentication Errors:
    Invalid Type: 0
    Type Mismatch: 0
    Failure: 0
  Priority Zero:
    Received: 0
    Sent: 0
"""


def test_the_stats_text_is_keepalived_s_line_for_line() -> None:
    assert AdvertStats(advert_rcvd=6).text("VI_1") == KEEPALIVED_STATS


@pytest.mark.parametrize(
    ("code", "counter", "received"),
    [
        ("ttl", "ip_ttl_err", 0),
        ("auth_type", "authtype_mismatch", 0),
        ("auth_password", "auth_failure", 0),
        ("address_count", "addr_list_err", 0),
        ("cast", "addr_list_err", 0),
        ("address_list", "addr_list_err", 1),
        ("unicast_source", None, 1),
        ("version", None, 0),
        ("advert_interval", None, 0),
        ("other_vrid", None, 0),
        ("a code nobody knows", None, 0),
    ],
)
def test_each_drop_counts_where_keepalived_counts_it(
    code: str, counter: str | None, received: int
) -> None:
    stats = AdvertStats()
    stats.dropped(code)
    counts = stats.as_json()
    assert counts.pop("advert_rcvd") == received
    assert {k: v for k, v in counts.items() if v} == ({counter: 1} if counter else {})


def test_priority_zero_and_clear() -> None:
    stats = AdvertStats()
    stats.received(0)
    stats.received(100)
    stats.sent(0)
    stats.malformed("packet_len_err")
    stats.malformed("not a counter")  # a malformed packet keepalived counts nowhere
    assert (stats.advert_rcvd, stats.pri_zero_rcvd, stats.advert_sent) == (2, 1, 1)
    assert (stats.pri_zero_sent, stats.packet_len_err) == (1, 1)
    stats.clear()
    assert not any(stats.as_json().values())


def test_a_time_is_printed_as_keepalived_prints_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # keepalived 2.2.7: "Last transition = 1796399117.847208 (Fri Dec  4 15:45:17.847208 2026)"
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert _stamp(1796399117.847208) == ("1796399117.847208 (Fri Dec  4 15:45:17.847208 2026)")
        assert _stamp(1796399117.9999999).startswith("1796399118.000000 (")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
        assert "TZ" not in os.environ

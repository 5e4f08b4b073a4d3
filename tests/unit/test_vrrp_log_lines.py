"""halab-vrrpd against keepalived 2.2.7 as seen from outside: what it logs for the adverts
it refuses or takes, and in what order it checks a malformed one.

The log lines are the ones keepalived 2.2.7 printed in a network-namespace run next to
halab-vrrpd (v2 PASS and v3, advert_int 1, a forged master injecting one defect at a time).
"""

from __future__ import annotations

import logging
import struct

import pytest
from test_vrrp_daemon import (  # the fake kernel and daemon those tests use
    CONF,
    IF,
    FakeDaemon,
    _drive,
    _plug,
    _state,
    fake_daemon,  # noqa: F401
)

from pytest_halab.vrrp import daemon
from pytest_halab.vrrp.packet import (
    MalformedPacket,
    ReceiveExpectation,
    VrrpAdvert,
    build_ipv4_header,
    check_advert,
    decode,
    encode,
    internet_checksum,
    password_auth_data,
)
from pytest_halab.vrrp.state import InstanceParams, LogNotice, State, VrrpInstanceMachine

SRC, GROUP = "10.9.0.2", "224.0.0.18"
VIP = "10.9.0.100"

# --- the order of the checks ------------------------------------------------------------


def _v3(**kw: object) -> VrrpAdvert:
    base: dict[str, object] = {"version": 3, "vrid": 51, "priority": 100, "advert_int": 100}
    base.update(kw)
    base.setdefault("addresses", (VIP,))
    return VrrpAdvert(**base)  # type: ignore[arg-type]


def test_a_wrong_type_of_the_wrong_length_is_a_length_error() -> None:
    """keepalived measures the message before it reads the type: a type-2 message with a
    trailing word is "too long" (packet_len_err), not an invalid type."""
    message = bytearray(encode(_v3(), SRC, GROUP)) + bytes(4)
    message[0] = 0x32
    message[6:8] = b"\0\0"
    pseudo = bytes(map(int, SRC.split("."))) + bytes([224, 0, 0, 18, 0, 112])
    pseudo += struct.pack("!H", len(message))
    message[6:8] = struct.pack("!H", internet_checksum(pseudo + bytes(message)))
    with pytest.raises(MalformedPacket) as caught:
        decode(bytes(message), SRC, GROUP)
    assert (caught.value.kind, caught.value.counter) == ("length", "packet_len_err")
    assert caught.value.values == (16, 12)


# --- the words of a refused advert ------------------------------------------------------


def _expect(**kw: object) -> ReceiveExpectation:
    base: dict[str, object] = {
        "version": 2,
        "vrid": 52,
        "advert_int": 1,
        "addresses": ("10.77.0.100",),
        "auth_type": 1,
        "auth_data": b"h4lab",
    }
    base.update(kw)
    return ReceiveExpectation(**base)  # type: ignore[arg-type]


def _v2(**kw: object) -> VrrpAdvert:
    base: dict[str, object] = {
        "version": 2,
        "vrid": 52,
        "priority": 200,
        "advert_int": 1,
        "addresses": ("10.77.0.100",),
        "auth_type": 1,
        "auth_data": password_auth_data("h4lab"),
    }
    base.update(kw)
    return VrrpAdvert(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("advert", "ttl", "dst", "line"),
    [
        (_v2(), 254, GROUP, "invalid TTL/HL. Received 254 and expect 255"),
        (
            VrrpAdvert(
                version=3, vrid=52, priority=200, advert_int=100, addresses=("10.77.0.100",)
            ),
            255,
            GROUP,
            "wrong version. Received 3 and expect 2",
        ),
        (_v2(auth_data=password_auth_data("wrong")), 255, GROUP, "received an invalid passwd!"),
        (_v2(auth_type=0, auth_data=b""), 255, GROUP, "received a 0 auth, expecting 1!"),
        (
            _v2(advert_int=2),
            255,
            GROUP,
            "advertisement interval mismatch mine=1 sec rcv'd=2 sec",
        ),
        (
            _v2(addresses=("10.77.0.100", "10.77.0.101")),
            255,
            GROUP,
            "received an unexpected ip number count 2, expected 1!",
        ),
        (
            _v2(addresses=("10.77.0.109",)),
            255,
            GROUP,
            "ip address associated with VRID 52 not present in MASTER advert: 10.77.0.100",
        ),
        (_v2(), 255, "10.77.0.12", "Expected multicast packet but received unicast packet"),
    ],
)
def test_refused_adverts_are_worded_as_keepalived_logs_them(
    advert: VrrpAdvert, ttl: int, dst: str, line: str
) -> None:
    drop = check_advert(advert, ttl, _expect(), src="10.77.0.50", dst=dst)
    assert drop is not None and drop.message == line


# --- what the state machine has logged ----------------------------------------------------


def _machine(**kw: object) -> VrrpInstanceMachine:
    base: dict[str, object] = {"name": "VI_1", "vrid": 51, "primary_address": "10.0.0.9"}
    base.update(kw)
    return VrrpInstanceMachine(InstanceParams(**base))  # type: ignore[arg-type]


def _logs(actions: list[object]) -> list[LogNotice]:
    return [a for a in actions if isinstance(a, LogNotice)]


def test_a_v3_backup_logs_the_interval_it_learns_and_the_master_gives_it_back() -> None:
    m = _machine(version=3)
    m.start(0.0)
    advert = VrrpAdvert(version=3, vrid=51, priority=200, advert_int=200)
    assert _logs(m.on_advert(1.0, "10.0.0.50", advert)) == [
        LogNotice("advertisement interval updated from 1000ms to 2000ms by master", detail=True)
    ]
    assert _logs(m.on_advert(3.0, "10.0.0.50", advert)) == []  # unchanged: no line
    assert m.master_down_interval == pytest.approx(7.21875)
    deadline = m.next_deadline
    assert deadline is not None
    assert _logs(m.on_timer(deadline)) == [
        LogNotice("changing advert interval from 2000ms to locally configured 1000ms", detail=True)
    ]
    assert m.state is State.MASTER


def test_preempt_delay_start_and_stop_are_logged_with_detail() -> None:
    m = _machine(priority=150, preempt_delay=5.0)
    m.start(0.0)
    lower = VrrpAdvert(version=2, vrid=51, priority=100, advert_int=1)
    higher = VrrpAdvert(version=2, vrid=51, priority=200, advert_int=1)
    assert _logs(m.on_advert(1.0, "10.0.0.50", lower)) == [
        LogNotice("start preempt delay (5.000000)", detail=True)
    ]
    assert _logs(m.on_advert(2.0, "10.0.0.50", higher)) == [
        LogNotice("stop preempt delay", detail=True)
    ]


def test_an_equal_priority_advert_from_our_own_address_is_a_warning() -> None:
    m = _machine()
    m.start(0.0)
    deadline = m.next_deadline
    assert deadline is not None
    m.on_timer(deadline)
    advert = VrrpAdvert(version=2, vrid=51, priority=100, advert_int=1)
    assert _logs(m.on_advert(5.0, "10.0.0.9", advert)) == [
        LogNotice("WARNING - equal priority advert received from remote host with our IP address.")
    ]


# --- what the daemon logs, with and without -D ---------------------------------------------


def _master(fake_daemon: FakeDaemon) -> daemon.Daemon:  # noqa: F811
    d, kernel = fake_daemon(CONF)
    _plug(kernel, 7, IF, "10.9.0.1")
    d.start()
    _drive(d.loop, lambda: _state(d) is State.MASTER, timeout=3)
    assert not d.detail
    return d


def _packet(payload: bytes, *, ttl: int = 255) -> bytes:
    return build_ipv4_header(SRC, GROUP, len(payload), ttl=ttl, ident=1) + payload


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_refused_adverts_are_logged_without_log_detail(
    fake_daemon: FakeDaemon,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = _master(fake_daemon)
    sock = d.instances["VI_1"].sock
    assert sock is not None
    good = encode(_v3(priority=200), SRC, GROUP)
    bad_sum = good[:6] + bytes([good[6] ^ 0xFF]) + good[7:]
    other_vrid = encode(_v3(vrid=52, priority=200), SRC, GROUP)
    other_bad = other_vrid[:6] + bytes([other_vrid[6] ^ 0xFF]) + other_vrid[7:]
    with caplog.at_level(logging.INFO, logger="halab-vrrpd"):
        d._on_packet(sock, _packet(good, ttl=254))
        d._on_packet(sock, _packet(bad_sum))
        d._on_packet(sock, _packet(other_bad))  # not our VRID: keepalived says nothing
        d._on_packet(sock, _packet(good[:6]))
        d._on_packet(sock, _packet(good + bytes(4)))
    assert _lines(caplog) == [
        "(VI_1) invalid TTL/HL. Received 254 and expect 255",
        "(VI_1) Invalid VRRPv3 checksum",
        "IPv4 VRRP packet too short - 26 bytes",
        "(VI_1) vrrp packet too long, length 36 and expect 32",
    ]
    assert _state(d) is State.MASTER
    assert d.malformed == 4


def test_master_logs_the_advert_that_makes_it_backup_and_detail_lines_only_with_d(
    fake_daemon: FakeDaemon,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = _master(fake_daemon)
    sock = d.instances["VI_1"].sock
    assert sock is not None
    with caplog.at_level(logging.INFO, logger="halab-vrrpd"):
        d._on_packet(sock, _packet(encode(_v3(priority=0), SRC, GROUP)))
        d._on_packet(sock, _packet(encode(_v3(priority=200, advert_int=20), SRC, GROUP)))
    lines = _lines(caplog)
    assert "(VI_1) Master received priority 0 message" not in lines  # -D only
    assert "(VI_1) Master received advert from 10.9.0.2 with higher priority 200, ours 150" in (
        lines
    )
    assert "(VI_1) Entering BACKUP STATE" in lines
    assert not any("advertisement interval updated" in line for line in lines)
    caplog.clear()
    d.detail = True
    with caplog.at_level(logging.INFO, logger="halab-vrrpd"):
        d._on_packet(sock, _packet(encode(_v3(priority=0, advert_int=20), SRC, GROUP)))
    assert "(VI_1) Backup received priority 0 advertisement" in _lines(caplog)

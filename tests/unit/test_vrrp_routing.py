"""The rtnetlink messages halab-vrrpd sends for static and virtual routes and rules: those
keepalived 2.2.7 sends (netlink_route, netlink_rule). The kernel's view of them is checked
in tests/netns (both engines, the same kernel state)."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from pytest_halab.vrrp.conf import KeepalivedConfig, Route, Rule, load_config
from pytest_halab.vrrp.net import RTM_DELROUTE, RTM_DELRULE, RTM_NEWROUTE, RTM_NEWRULE
from pytest_halab.vrrp.routing import item_key, route_message, rule_message

IPROUTE2 = str(Path(__file__).resolve().parents[1] / "data" / "keepalived_routes" / "iproute2")
INDEX = {"eth0": 7, "lo": 1}
_RTMSG = struct.Struct("=BBBBBBBBI")


def _config(text: str, tmp_path: Path) -> KeepalivedConfig:
    conf = tmp_path / "k.conf"
    conf.write_text(text)
    cfg, _ = load_config(
        conf, interfaces={"eth0": False, "lo": True}, check_scripts=False, iproute2_dir=IPROUTE2
    )
    return cfg


def _route(line: str, tmp_path: Path) -> Route:
    return _config(f"static_routes {{\n {line}\n}}\n", tmp_path).static_routes[0]


def _rule(line: str, tmp_path: Path) -> Rule:
    return _config(f"static_rules {{\n {line}\n}}\n", tmp_path).static_rules[0]


def _attrs(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        found[kind] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def _decode(body: bytes) -> tuple[tuple[int, ...], dict[int, bytes]]:
    return _RTMSG.unpack_from(body), _attrs(body[_RTMSG.size :])


def test_a_route_added_and_deleted_as_keepalived_does(tmp_path: Path) -> None:
    route = _route("10.1.0.0/16 via 10.0.0.1 dev eth0 table 100 metric 5", tmp_path)
    kind, flags, body = route_message(route, add=True, index_of=INDEX.get)
    assert (kind, flags) == (RTM_NEWROUTE, 0x400)  # NLM_F_CREATE: "ip route prepend"
    (family, dst_len, src_len, tos, table, proto, scope, rtype, rflags), attrs = _decode(body)
    assert (family, dst_len, src_len, tos, table) == (socket.AF_INET, 16, 0, 0, 100)
    assert (proto, scope, rtype, rflags) == (18, 0, 1, 0)  # keepalived, universe, unicast
    assert attrs[1] == socket.inet_aton("10.1.0.0")  # RTA_DST
    assert attrs[5] == socket.inet_aton("10.0.0.1")  # RTA_GATEWAY
    assert struct.unpack("=I", attrs[4]) == (7,)  # RTA_OIF
    assert struct.unpack("=I", attrs[6]) == (5,)  # RTA_PRIORITY
    kind, flags, body = route_message(route, add=False, index_of=INDEX.get)
    assert (kind, flags) == (RTM_DELROUTE, 0)
    (_f, _d, _s, _t, _tb, proto, scope, rtype, _fl), _ = _decode(body)
    assert (proto, scope, rtype) == (18, 255, 0)  # scope nowhere, type unset on delete


def test_route_options_become_attributes(tmp_path: Path) -> None:
    route = _route(
        "blackhole 10.2.0.0/16 table 1000 mtu lock 1400 rtt 2s congctl reno features ecn"
        " protocol static no_track add",
        tmp_path,
    )
    _kind, flags, body = route_message(route, add=True, index_of=INDEX.get)
    assert flags == 0x400 | 0x200  # add: NLM_F_EXCL
    (_f, _d, _s, _t, table, proto, _sc, rtype, _fl), attrs = _decode(body)
    assert (table, proto, rtype) == (0, 4, 6)
    assert struct.unpack("=I", attrs[15]) == (1000,)  # RTA_TABLE beyond 255
    metrics = _attrs(attrs[8])
    assert struct.unpack("=I", metrics[2]) == (1400,)  # RTAX_MTU
    assert struct.unpack("=I", metrics[4]) == (16000,)  # RTAX_RTT, 1/8 ms
    assert struct.unpack("=I", metrics[12]) == (1,)  # RTAX_FEATURES ecn
    assert metrics[16] == b"reno"  # RTAX_CC_ALGO
    assert struct.unpack("=I", metrics[1]) == (1 << 2,)  # RTAX_LOCK: mtu


def test_multipath_and_ipv6_routes(tmp_path: Path) -> None:
    route = _route(
        "10.3.0.0/16 nexthop via 10.0.0.1 dev eth0 weight 2 nexthop via 10.0.0.2 onlink",
        tmp_path,
    )
    _kind, _flags, body = route_message(route, add=True, index_of=INDEX.get)
    _, attrs = _decode(body)
    multipath = attrs[9]
    length, hflags, hops, index = struct.unpack_from("=HBBi", multipath)
    assert (hflags, hops, index) == (0, 1, 7)  # weight 2 is sent as 1
    assert _attrs(multipath[8:length])[5] == socket.inet_aton("10.0.0.1")
    _l2, hflags2, hops2, index2 = struct.unpack_from("=HBBi", multipath, length)
    assert (hflags2, hops2, index2) == (4, 0, 0)  # onlink, no dev
    six = _route("from 2001:db8:5::/48 2001:db8:4::/48 dev eth0 pref high", tmp_path)
    _kind, _flags, body = route_message(six, add=True, index_of=INDEX.get)
    (family, dst_len, src_len, *_rest), attrs = _decode(body)
    assert (family, dst_len, src_len) == (socket.AF_INET6, 48, 48)
    assert attrs[2] == socket.inet_pton(socket.AF_INET6, "2001:db8:5::")  # RTA_SRC
    assert attrs[20] == b"\x01"  # RTA_PREF high


def test_rule_messages(tmp_path: Path) -> None:
    rule = _rule("not from 10.0.0.0/8 fwmark 0x10/0xff iif eth0 lookup 1000 priority 7", tmp_path)
    kind, flags, body = rule_message(rule, add=True)
    assert (kind, flags) == (RTM_NEWRULE, 0x400 | 0x200)
    (family, dst_len, src_len, tos, table, _r1, _r2, action, rflags), attrs = _decode(body)
    assert (family, dst_len, src_len, tos, table, action, rflags) == (2, 0, 8, 0, 0, 1, 2)
    assert struct.unpack("=I", attrs[15]) == (1000,)  # FRA_TABLE
    assert struct.unpack("=I", attrs[6]) == (7,)  # FRA_PRIORITY
    assert (attrs[10], attrs[16]) == (struct.pack("=I", 16), struct.pack("=I", 255))
    assert attrs[3] == b"eth0\0"  # FRA_IIFNAME
    assert attrs[21] == b"\x12"  # FRA_PROTOCOL keepalived
    goto = _rule("goto 500 priority 4", tmp_path)
    kind, flags, body = rule_message(goto, add=False)
    (*_h, table, _r1, _r2, action, _fl), attrs = _decode(body)
    assert (kind, flags, table, action) == (RTM_DELRULE, 0, 0, 2)
    assert struct.unpack("=I", attrs[4]) == (500,)  # FRA_GOTO
    main = _rule("from 10.0.0.0/8 table main priority 9 no_track", tmp_path)
    (*_h, table, _r1, _r2, action, _fl), attrs = _decode(rule_message(main, add=True)[2])
    assert (table, action) == (254, 1) and 21 not in attrs


def test_the_same_route_written_twice_has_one_key(tmp_path: Path) -> None:
    cfg = _config(
        "static_routes {\n 10.1.0.0/16 dev eth0\n 10.1.0.0/16   dev eth0\n 10.1.0.0/16 dev lo\n}\n",
        tmp_path,
    )
    keys = [item_key(r) for r in cfg.static_routes]
    assert keys[0] == keys[1] != keys[2]


def test_vip_broadcast_plus_and_numeric_scope_reach_the_kernel(tmp_path: Path) -> None:
    """``brd +`` is keepalived's computed broadcast (the daemon sent '+' before, and its
    address parsing raised); a scope by number is sent as that number."""
    from pytest_halab.vrrp.instance import resolve_vips

    cfg = _config(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n"
        "  10.5.0.100/24 brd +\n  10.5.0.101/24 brd - scope 253\n }\n}\n",
        tmp_path,
    )
    vips = resolve_vips(cfg.instances["V"], "eth0", INDEX.get)
    assert [(v.broadcast, v.scope) for v in vips] == [("10.5.0.255", None), ("10.5.0.0", 253)]

"""The live address set: the agent's lines applied in order (addrwatch.NodeWatch.apply), and
the address events kept."""

from __future__ import annotations

import ipaddress
import json
import threading

from pytest_halab.addrwatch import NodeWatch


def _watch() -> NodeWatch:
    w = NodeWatch.__new__(NodeWatch)  # no node: only the line handling
    w.node, w.started_at = "lb1", "t0"
    w.synced, w.ended = threading.Event(), threading.Event()
    w._addrs, w._lock, w.history = set(), threading.Lock(), []
    return w


def test_the_listing_then_changes_in_order_give_the_kernels_set() -> None:
    w = _watch()
    for line in (
        b'{"kind":"addr_present","addr":"10.0.0.2","dev":"eth0"}',
        b'{"kind":"addr_present","addr":"fd68:616c:6162:700::2","dev":"eth0"}',
        b'{"kind":"addr_synced"}',
        b'{"kind":"vip_added","addr":"10.0.0.3","dev":"eth0"}',
        b'{"kind":"vip_added","addr":"10.0.0.3","dev":"eth0"}',  # a flags change: again
        b'{"kind":"vip_removed","addr":"10.0.0.2","dev":"eth0"}',
        b'{"kind":"vip_removed","addr":"10.0.0.9","dev":"eth0"}',  # gone before the list
        b'{"kind":"observer_ready","modes":["nl","stdin"]}',
    ):
        w.apply(line)
    assert w.synced.is_set()
    assert w._addrs == {
        ipaddress.ip_address("10.0.0.3"),
        ipaddress.ip_address("fd68:616c:6162:700::2"),
    }
    # the changes, not the listing, are the node's address events (observe.py takes a
    # test's from here), each line as the agent wrote it
    assert [json.loads(line)["kind"] for line in w.history] == [
        "vip_added",
        "vip_added",
        "vip_removed",
        "vip_removed",
    ]


def test_garbage_lines_change_nothing() -> None:
    w = _watch()
    for line in (b"", b"not json", b"[1,2]", b'{"kind":"vip_added","addr":"999.1.1.1"}'):
        w.apply(line)
    assert w._addrs == set() and not w.synced.is_set() and w.history == []

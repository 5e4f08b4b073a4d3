"""Tests that run VRRP daemons for real in Linux network namespaces on this host."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "netns: runs halab-vrrpd and keepalived in Linux network namespaces (needs root, ip,"
        " keepalived)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/netns/" in str(item.path):
            item.add_marker(pytest.mark.netns)

"""Temporary: the keepalived.conf parser moved to `pytest_halab.vrrp.conf`.

This module re-exports what ``daemon.py`` imports until its split is merged; import from
`pytest_halab.vrrp.conf` instead.
"""

from __future__ import annotations

from pytest_halab.vrrp.conf import (
    KeepalivedConfig,
    VrrpInstance,
    config_test_exit_status,
    load_config,
)

__all__ = ["KeepalivedConfig", "VrrpInstance", "config_test_exit_status", "load_config"]

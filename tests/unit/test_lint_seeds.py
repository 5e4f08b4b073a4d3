"""`halab lint` on real keepalived.conf pairs taken verbatim from the seed blog posts
(tests/data/lint_seeds/<seed>_<setup>/<node>.conf, each file's first line naming its
source): for each setup, the exact findings (rule, file, line) lint reports, with every
script the configs name present and executable under ``root``, so that script-missing
does not fire and the other rules show.

Every finding asserted was checked by hand against keepalived 2.2.7's source and
``keepalived -t``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_halab.lint import LintInputError, lint

SEEDS = Path(__file__).parents[1] / "data" / "lint_seeds"
SCRIPT = re.compile(r'^\s*script\s+"?([^"\s]+)', re.MULTILINE)


def setup_files(setup: str) -> list[Path]:
    return sorted((SEEDS / setup).glob("*.conf"))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A node's file system holding every script path the seed configs name, executable."""
    for conf in SEEDS.glob("*/*.conf"):
        for path in SCRIPT.findall(conf.read_text()):
            script = tmp_path / path.lstrip("/")
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text("#!/bin/sh\nexit 0\n")
            script.chmod(0o755)
    return tmp_path


def findings(setup: str, root: Path) -> list[tuple[str, str, int]]:
    paths = setup_files(setup)
    assert len(paths) >= 2, setup
    _checked, found = lint([str(p) for p in paths], str(root))
    return sorted((f.rule, Path(f.file).name, f.line) for f in found)


def test_000_preempt(root: Path) -> None:
    """2.1: MASTER 150 / BACKUP 100, nothing tracked: only the nodes' own death moves the
    VIP. Both files say router_id lb02: lint names the nodes by their files, and says so."""
    assert findings("000_d9b63f4555c50075_preempt", root) == [
        ("no-tracking", "lb01.conf", 9),
        ("no-tracking", "lb02.conf", 10),
        ("router-id-shared", "lb02.conf", 4),
    ]


def test_000_nopreempt(root: Path) -> None:
    """2.2: lb01 MASTER 150, lb02 BACKUP 100 nopreempt, nothing tracked. lb02's nopreempt
    does nothing (lb02 never outranks lb01, and lb01 preempts), so this "non-preemptive"
    pair still fails back: nopreempt-useless."""
    assert findings("000_d9b63f4555c50075_nopreempt", root) == [
        ("no-tracking", "lb01.conf", 10),
        ("no-tracking", "lb02.conf", 10),
        ("nopreempt-useless", "lb02.conf", 12),
    ]


def test_000_nginx(root: Path) -> None:
    """2.3: the same pair as 2.2, as the nginx balancers: a dead nginx moves nothing."""
    assert findings("000_d9b63f4555c50075_nginx", root) == [
        ("no-tracking", "lb01.conf", 10),
        ("no-tracking", "lb02.conf", 10),
        ("nopreempt-useless", "lb02.conf", 12),
    ]


def test_000_check(root: Path) -> None:
    """2.4: weight -5 at 150 / 100: a failing check leaves lb01 at 145, above lb02, so
    only the script's own `systemctl stop keepalived` moves the VIP."""
    assert findings("000_d9b63f4555c50075_check", root) == [
        ("nopreempt-useless", "lb02.conf", 20),
        ("weight-too-small", "lb01.conf", 28),
    ]


def test_003_nopreempt_is_refused_as_keepalived_refuses_it(root: Path) -> None:
    """A: state backup, priority 80, nopreempt; B: state backup, priority 70; both weight
    -20, as the post prints them (the rest elided as "...."): no virtual_router_id, so
    keepalived 2.2.7's VRRP process stops at start-up ("exited with permanent error
    CONFIG"), although `keepalived -t` exits 5. lint reads nothing into files keepalived
    would not run: exit 2, with keepalived's messages, file and line."""
    with pytest.raises(LintInputError) as info:
        findings("003_7ec87c6464189029_nopreempt", root)
    text = str(info.value)
    assert "A.conf: keepalived would not run this file" in text
    assert "A.conf:10: (test) the virtual router id must be set" in text
    assert "A.conf:12: Unknown keyword '....'" in text

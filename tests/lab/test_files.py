"""A topology's `files:` in a real node: a check script keeps its template's mode (an
executable template stays executable), `mode:` sets one, and the VRRP engine runs both
scripts (a script that arrived 0644 would be disabled by keepalived without failing the
instance: the readiness of the lab would not show it)."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab.lab import Lab
from pytest_halab.naps import polling

pytestmark = pytest.mark.lab("topologies/files_modes.yaml")

TOPOLOGY = Path(__file__).resolve().parent / "topologies" / "files_modes.yaml"
TEMPLATES = TOPOLOGY.parent / "files_modes"


def test_check_scripts_keep_or_get_their_mode_and_run(lab_factory: Callable[..., Lab]) -> None:
    # what the topology's templates are, so that what the node shows is what it was given
    kept, moded = TEMPLATES / "check_kept.sh", TEMPLATES / "check_moded.sh"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o755, f"{kept} lost its mode in the checkout"
    assert stat.S_IMODE(moded.stat().st_mode) == 0o644, f"{moded}: expected 0644 in the checkout"

    lab = lab_factory(str(TOPOLOGY), vrrp="keepalived")
    lb1 = lab.node("lb1")
    modes = lb1.exec(
        [
            "stat",
            "-c",
            "%n %a %U",
            "/etc/keepalived/check_kept.sh",
            "/etc/keepalived/check_moded.sh",
            "/etc/keepalived/keepalived.conf",
        ],
        check=True,
    )
    assert modes.output.split("\n")[:3] == [
        "/etc/keepalived/check_kept.sh 755 root",  # the template's mode
        "/etc/keepalived/check_moded.sh 750 root",  # mode: "0750" over a 0644 template
        "/etc/keepalived/keepalived.conf 644 root",
    ]
    # keepalived runs both (interval 1 s): each leaves its mark within a few seconds
    ran = lb1.exec(
        "timeout 15 sh -c 'until [ -e /tmp/check_kept.ran ] && [ -e /tmp/check_moded.ran ]; "
        "do sleep 0.2; done'"
    )
    marks = lb1.exec("ls /tmp").output.split()
    assert ran.ok, f"track scripts that ran: {[m for m in marks if m.endswith('.ran')]}"
    assert lab.vip_holders() == {"VI_1": ["lb1"]}


def test_read_files_reads_several_files_in_one_go_and_leaves_out_missing_ones(
    lab_factory: Callable[..., Lab],
) -> None:
    """`Node.read_files` (the observation's collector) against a real node: the contents
    are byte for byte those `read_file` gives, a missing file is left out, an empty one is
    there."""
    lb1 = lab_factory(str(TOPOLOGY), vrrp="keepalived").node("lb1")
    lb1.put_files({"/tmp/halab-empty": b"", "/tmp/halab-bin": bytes(range(256)) * 3})
    paths = ["/etc/keepalived/keepalived.conf", "/tmp/halab-empty", "/tmp/halab-bin", "/nope"]
    got = lb1.read_files(paths)
    assert set(got) == set(paths[:3])
    assert got["/etc/keepalived/keepalived.conf"] == lb1.read_file(paths[0])
    assert got["/tmp/halab-empty"] == b""
    assert got["/tmp/halab-bin"] == bytes(range(256)) * 3


def test_the_labs_polling_loops_nap_without_a_fork_in_every_image(
    lab_factory: Callable[..., Lab],
) -> None:
    """`naps.polling` in real nodes: bash has sleep as a builtin there (bash-builtins in
    the base image), and its naps last what they say (ten of 20 ms: 0.2 s at least)."""
    lab = lab_factory(str(TOPOLOGY), vrrp="keepalived")
    script = (
        "type sleep; read a _ < /proc/uptime; i=0; "
        'while [ "$i" -lt 10 ]; do i=$((i + 1)); sleep 0.02; done; '
        'read b _ < /proc/uptime; echo "$a $b"'
    )
    for name in ("lb1", "web1", "client"):
        out = lab.node(name).exec(polling(script), check=True).output.splitlines()
        assert out[0] == "sleep is a shell builtin", f"{name}: {out}"
        a, b = (float(x) for x in out[1].split())
        assert b - a >= 0.19, f"{name}: ten naps of 20 ms took {b - a:.2f} s"

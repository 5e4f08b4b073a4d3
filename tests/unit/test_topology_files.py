"""A topology's `files:`: each file keeps its template's mode in the node, or gets the
`mode:` of the long form; a bad mode is refused with file, line and field."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_halab import topology
from pytest_halab.errors import TopologyError
from pytest_halab.nodes import Node

KA = """\
vrrp_instance VI_1 {
    state MASTER
    interface {{ interface }}
    virtual_router_id 50
    priority 150
    advert_int 1
    virtual_ipaddress {
        {{ vip.VI_1 }}
    }
}
"""

TOPOLOGY = """\
name: modes
nodes:
  client: {role: client, host: 100}
  lb1:
    role: balancer
    host: 10
    files:
      /etc/keepalived/keepalived.conf: ka.conf
      /etc/keepalived/check.sh: {entry}
  web1: {role: web, host: 20, body: "1111"}
vips:
  VI_1: {host: 3, master: lb1}
"""
ENTRY_LINE = 9
FIELD = "nodes.lb1.files./etc/keepalived/check.sh"
SAMPLE = ipaddress.IPv4Network("10.213.7.0/24")


def write(tmp_path: Path, entry: str, script_mode: int = 0o644) -> Path:
    (tmp_path / "ka.conf").write_text(KA)
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, script_mode)
    p = tmp_path / "modes.yaml"
    p.write_text(TOPOLOGY.replace("{entry}", entry))
    return p


def check_mode(tmp_path: Path, entry: str, script_mode: int = 0o644) -> int:
    t = topology.load(write(tmp_path, entry, script_mode))
    return t.render_files("lb1", t.addressing(SAMPLE))["/etc/keepalived/check.sh"].mode


def refused(tmp_path: Path, entry: str) -> str:
    with pytest.raises(TopologyError) as info:
        topology.load(write(tmp_path, entry))
    return str(info.value)


@pytest.mark.parametrize("source", [0o755, 0o700, 0o644, 0o600, 0o750])
def test_short_form_keeps_the_template_mode(tmp_path: Path, source: int) -> None:
    assert check_mode(tmp_path, "check.sh", source) == source


def test_long_form_without_mode_keeps_the_template_mode(tmp_path: Path) -> None:
    assert check_mode(tmp_path, "{template: check.sh}", 0o755) == 0o755


def test_special_bits_of_a_template_are_not_carried(tmp_path: Path) -> None:
    # a setuid bit on the host's copy is an accident of the host: only `mode:` sets one
    assert check_mode(tmp_path, "check.sh", 0o4755) == 0o755


@pytest.mark.parametrize(
    ("written", "mode"),
    [
        ('"0755"', 0o755),
        ('"755"', 0o755),
        ("'0o750'", 0o750),
        ('"0600"', 0o600),
        ('"04755"', 0o4755),
        ('"07777"', 0o7777),
        ('"0"', 0),
        ("0755", 0o755),  # unquoted: YAML 1.1 reads an integer with a leading 0 as octal
        ("0o755", 0o755),  # not an integer in YAML 1.1: the string "0o755"
        ("5", 5),  # one digit: the same in octal and decimal
    ],
)
def test_long_form_mode_wins_over_the_template(tmp_path: Path, written: str, mode: int) -> None:
    entry = f"{{template: check.sh, mode: {written}}}"
    assert check_mode(tmp_path, entry, 0o644) == mode


def test_long_form_in_block_style(tmp_path: Path) -> None:
    entry = '\n        template: check.sh\n        mode: "0700"'
    assert check_mode(tmp_path, entry, 0o644) == 0o700


@pytest.mark.parametrize(
    ("entry", "line", "field", "why"),
    [
        (
            '{template: check.sh, mode: "0999"}',
            ENTRY_LINE,
            f"{FIELD}.mode",
            '\'0999\' is not an octal mode such as "0644" or "0755"',
        ),
        (
            '{template: check.sh, mode: "rwxr-xr-x"}',
            ENTRY_LINE,
            f"{FIELD}.mode",
            "is not an octal mode",
        ),
        ('{template: check.sh, mode: ""}', ENTRY_LINE, f"{FIELD}.mode", "is not an octal mode"),
        (
            '{template: check.sh, mode: "010000"}',
            ENTRY_LINE,
            f"{FIELD}.mode",
            "010000 is out of range: a mode goes from 0 to 07777",
        ),
        (
            "{template: check.sh, mode: -1}",
            ENTRY_LINE,
            f"{FIELD}.mode",
            "-1 is out of range",
        ),
        (
            "{template: check.sh, mode: 010000}",
            ENTRY_LINE,
            f"{FIELD}.mode",
            "4096 (octal 010000) is out of range",
        ),
        ("{template: check.sh, mode: true}", ENTRY_LINE, f"{FIELD}.mode", "must be an octal"),
        ("{template: check.sh, mode: [7]}", ENTRY_LINE, f"{FIELD}.mode", "must be an octal"),
        ("{template: check.sh, mode: }", ENTRY_LINE, f"{FIELD}.mode", "must be an octal"),
        (
            "{template: check.sh, mode: 755}",
            ENTRY_LINE,
            f"{FIELD}.mode",
            "755 is a decimal number in YAML (octal 01363): write the mode in octal, in "
            'quotes, e.g. "0755"',
        ),
        (
            "{template: check.sh, mode: 493}",
            ENTRY_LINE,
            f"{FIELD}.mode",
            "493 is a decimal number in YAML (octal 0755): write the mode in octal, in "
            'quotes, e.g. "0755"',
        ),
        ("{mode: '0755'}", ENTRY_LINE, f"{FIELD}.template", "Field required"),
        ("{template: check.sh, owner: root}", ENTRY_LINE, f"{FIELD}.owner", "unknown field"),
        ("5", ENTRY_LINE, FIELD, 'must be a template path, or {template: PATH, mode: "0755"}'),
        (
            '\n        template: check.sh\n        mode: "9"',
            ENTRY_LINE + 2,
            f"{FIELD}.mode",
            "'9' is not an octal mode",
        ),
    ],
)
def test_bad_long_form_names_file_line_and_field(
    tmp_path: Path, entry: str, line: int, field: str, why: str
) -> None:
    msg = refused(tmp_path, entry)
    assert msg.startswith(f"{tmp_path / 'modes.yaml'}:{line}: {field}: "), msg
    assert why in msg, msg
    assert "\n" not in msg, msg  # one error, not one per member of a union


def test_missing_template_of_the_long_form_names_the_template_line(tmp_path: Path) -> None:
    entry = '\n        mode: "0755"\n        template: nothere.sh'
    msg = refused(tmp_path, entry)
    assert msg.startswith(f"{tmp_path / 'modes.yaml'}:{ENTRY_LINE + 2}: {FIELD}: no such file")


def test_json_schema_has_both_forms_and_the_mode() -> None:
    schema = json.loads(topology.json_schema())
    files = schema["$defs"]["NodeSpec"]["properties"]["files"]["additionalProperties"]
    assert files["anyOf"] == [{"type": "string"}, {"$ref": "#/$defs/FileSpec"}]
    spec = schema["$defs"]["FileSpec"]
    assert spec["required"] == ["template"]
    assert spec["additionalProperties"] is False
    mode = spec["properties"]["mode"]
    assert {"type": "string", "pattern": r"^(0o)?0*[0-7]{1,4}$"} in mode["anyOf"]
    assert {"type": "integer", "minimum": 0, "maximum": 0o7777} in mode["anyOf"]


def test_shipped_topologies_keep_their_templates_modes() -> None:
    t = topology.load("nginx_master_backup")
    files = t.render_files("lb1", t.addressing(SAMPLE))
    assert {dest: f.mode for dest, f in files.items()} == {
        "/etc/keepalived/keepalived.conf": 0o644,
        "/etc/nginx/conf.d/halab.conf": 0o644,
    }


class FakeContainer:
    """Keeps the archive Node.put_files sends."""

    def __init__(self) -> None:
        self.archives: list[tuple[str, bytes]] = []

    def put_archive(self, path: str, data: bytes) -> bool:
        self.archives.append((path, data))
        return True


def test_put_files_writes_each_file_with_its_mode() -> None:
    container: Any = FakeContainer()
    node = Node("lb1", "balancer", ipaddress.IPv4Address("10.213.7.10"), container)
    node.put_files(
        {"/etc/a.conf": b"a", "/etc/check.sh": b"#!/bin/sh\n", "/run/go": b"1"},
        modes={"/etc/check.sh": 0o755, "/etc/a.conf": 0o600},
    )
    [(where, data)] = container.archives
    assert where == "/"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        got = {m.name: (m.mode, m.uid, tar.extractfile(m).read()) for m in tar}  # type: ignore[union-attr]
    assert got == {
        "etc/a.conf": (0o600, 0, b"a"),
        "etc/check.sh": (0o755, 0, b"#!/bin/sh\n"),
        "run/go": (0o644, 0, b"1"),  # not in `modes`: the default
    }


def test_topology_text_is_what_the_tests_assume() -> None:
    lines = textwrap.dedent(TOPOLOGY).splitlines()
    assert lines[ENTRY_LINE - 1].strip() == "/etc/keepalived/check.sh: {entry}"

"""`halab lint` on keepalived.conf files and topologies: each rule finds what it should,
where it should (file and line), and says nothing of configs that are right. The lab
confirms the predictions in tests/lab/test_lint_lab.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from pytest_halab.cli import main as halab_main
from pytest_halab.lint import RULES, LintInputError, lint
from pytest_halab.lint.rules import Finding

CHECK = "/usr/local/bin/chk_nginx.sh"


def conf(
    *,
    name: str = "VI_1",
    state: str = "BACKUP",
    priority: int = 100,
    vrid: int = 51,
    advert: str = "1",
    version: int = 2,
    auth: str | None = "1111",
    vips: tuple[str, ...] = ("10.0.0.3/24",),
    extra: str = "",
    weight: int | None = -20,
    script: str = CHECK,
    router_id: str = "lb",
) -> str:
    lines = ["global_defs {", f"    router_id {router_id}", "}", ""]
    if weight is not None:
        lines += [
            "vrrp_script chk_nginx {",
            f'    script "{script}"',
            "    interval 1",
            f"    weight {weight}",
            "}",
            "",
        ]
    lines += [
        f"vrrp_instance {name} {{",
        f"    state {state}",
        "    interface eth0",
        f"    virtual_router_id {vrid}",
        f"    priority {priority}",
        f"    advert_int {advert}",
        f"    version {version}",
    ]
    if auth is not None:
        lines += [
            "    authentication {",
            "        auth_type PASS",
            f"        auth_pass {auth}",
            "    }",
        ]
    lines += ["    virtual_ipaddress {", *(f"        {v}" for v in vips), "    }"]
    if weight is not None:
        lines += ["    track_script {", "        chk_nginx", "    }"]
    lines += [textwrap.indent(extra, "    ").rstrip(), "}", ""]
    return "\n".join(lines)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A node's file system holding the check script, executable."""
    script = tmp_path / "root" / CHECK.lstrip("/")
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return tmp_path / "root"


def run_pair(tmp_path: Path, root: Path, a: str, b: str) -> list[Finding]:
    pa, pb = tmp_path / "lb1.conf", tmp_path / "lb2.conf"
    pa.write_text(a)
    pb.write_text(b)
    _checked, findings = lint([str(pa), str(pb)], str(root))
    return findings


def rules_of(findings: list[Finding]) -> list[str]:
    return sorted(f.rule for f in findings)


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_sound_pair_has_no_findings(tmp_path: Path, root: Path) -> None:
    a = conf(state="MASTER", priority=150, weight=-100, router_id="lb01")
    b = conf(priority=100, weight=-100, router_id="lb02")
    assert run_pair(tmp_path, root, a, b) == []


def test_vrid_mismatch_is_split_brain_at_the_vrid_line(tmp_path: Path, root: Path) -> None:
    a = conf(state="MASTER", priority=150, weight=-100, router_id="lb01")
    b = conf(priority=100, vrid=52, weight=-100, router_id="lb02")
    (f,) = run_pair(tmp_path, root, a, b)
    assert f.rule == "vrid-mismatch" and f.severity == "error"
    assert "split brain" in f.message and "51" in f.message and "52" in f.message
    assert (f.file, f.line) == (
        str(tmp_path / "lb1.conf"),
        line_of(tmp_path / "lb1.conf", "virtual_router_id"),
    )
    assert f.related == (
        (str(tmp_path / "lb2.conf"), line_of(tmp_path / "lb2.conf", "virtual_router_id")),
    )
    assert f.nodes == ("lb01", "lb02")


@pytest.mark.parametrize(
    ("b_kwargs", "rule"),
    [
        ({"auth": "2222"}, "auth-mismatch"),
        ({"auth": None}, "auth-mismatch"),
        ({"advert": "2"}, "advert-mismatch"),
        ({"version": 3, "auth": None}, "version-mismatch"),
        ({"vips": ("10.0.0.4/24",)}, "vip-mismatch"),
        ({"vips": ("10.0.0.3/24", "10.0.0.4/24")}, "vip-mismatch"),
    ],
)
def test_what_peers_must_agree_on(tmp_path: Path, root: Path, b_kwargs: dict, rule: str) -> None:
    a = conf(state="MASTER", priority=150, weight=-100, router_id="lb01")
    b = conf(**{"priority": 100, "weight": -100, "router_id": "lb02", **b_kwargs})
    found = run_pair(tmp_path, root, a, b)
    assert rules_of(found) == [rule], found
    assert found[0].severity == "error" and "split brain" in found[0].message


def test_what_peers_may_differ_in(tmp_path: Path, root: Path) -> None:
    """auth_pass beyond its 8 bytes (VRRPv2 carries 8), advert_int under VRRPv3 (a backup
    learns the master's), instance names (the VRID and addresses pair them)."""
    a = conf(state="MASTER", priority=150, weight=-100, auth="12345678-one", router_id="a")
    b = conf(priority=100, weight=-100, auth="12345678-two", router_id="b", name="VI_X")
    found = run_pair(tmp_path, root, a, b)  # keepalived -t reports the truncation
    assert [(f.rule, f.message) for f in found] == [
        ("config-error", "a: Truncating auth_pass to 8 characters"),
        ("config-error", "b: Truncating auth_pass to 8 characters"),
    ]
    a3 = conf(state="MASTER", priority=150, weight=-100, version=3, auth=None, advert="0.1")
    b3 = conf(priority=100, weight=-100, version=3, auth=None, advert="0.5", router_id="b")
    assert run_pair(tmp_path, root, a3, b3) == []


def test_seed_000_weight_too_small(tmp_path: Path, root: Path) -> None:
    """seed 000: weight -5 at 150/100; a dead nginx leaves the master at 145."""
    a = conf(state="MASTER", priority=150, weight=-5, router_id="lb01")
    b = conf(priority=100, weight=-5, router_id="lb02")
    (f,) = run_pair(tmp_path, root, a, b)
    assert f.rule == "weight-too-small" and f.severity == "error"
    assert "from 150 to 145" in f.message and "below 100" in f.message
    assert f.line == line_of(tmp_path / "lb1.conf", "track_script")
    # equal after the drop: the backup accepts adverts of its own priority, nothing moves
    a = conf(state="MASTER", priority=150, weight=-50, router_id="lb01")
    (f,) = run_pair(tmp_path, root, a, b)
    assert f.rule == "weight-too-small" and "only equals" in f.message
    a = conf(state="MASTER", priority=150, weight=-51, router_id="lb01")
    assert run_pair(tmp_path, root, a, b) == []


def test_positive_weights_count_on_both_sides(tmp_path: Path, root: Path) -> None:
    """weight +20 on both: healthy 170 vs 120; the master's failure leaves 150 > 120."""
    a = conf(state="MASTER", priority=150, weight=20, router_id="lb01")
    b = conf(priority=100, weight=20, router_id="lb02")
    (f,) = run_pair(tmp_path, root, a, b)
    assert f.rule == "weight-too-small" and "from 170 to 150" in f.message
    a = conf(state="MASTER", priority=110, weight=20, router_id="lb01")
    assert run_pair(tmp_path, root, a, b) == []


def test_weight_zero_means_fault_and_moves(tmp_path: Path, root: Path) -> None:
    a = conf(state="MASTER", priority=150, weight=0, router_id="lb01")
    b = conf(priority=100, weight=0, router_id="lb02")
    assert run_pair(tmp_path, root, a, b) == []


def test_seed_003_nopreempt_trap(tmp_path: Path, root: Path) -> None:
    """seed 003: A BACKUP 80 nopreempt, B 70, both weight -20."""
    a = conf(priority=80, weight=-20, extra="nopreempt", router_id="A")
    b = conf(priority=70, weight=-20, router_id="B")
    found = run_pair(tmp_path, root, a, b)
    assert rules_of(found) == ["nopreempt-trap"], found
    (f,) = found
    assert f.line == line_of(tmp_path / "lb1.conf", "nopreempt")
    assert "stays on B" in f.message and "B VI_1 drops to 50, below A VI_1's 80" in f.message


def test_nopreempt_with_state_master_is_cleared(tmp_path: Path, root: Path) -> None:
    a = conf(state="MASTER", priority=150, weight=-100, extra="nopreempt", router_id="a")
    b = conf(priority=100, weight=-100, router_id="b")
    found = run_pair(tmp_path, root, a, b)
    assert rules_of(found) == ["nopreempt-master"]
    assert found[0].line == line_of(tmp_path / "lb1.conf", "nopreempt")
    # keepalived's own word (the lab refuses such a topology, as keepalived -t exits 5)
    if shutil.which("keepalived"):
        res = subprocess.run(
            ["keepalived", "-t", "-f", str(tmp_path / "lb1.conf")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert "nopreempt will not work with initial state MASTER - clearing" in res.stderr


def test_two_masters_at_equal_priority(tmp_path: Path, root: Path) -> None:
    a = conf(state="MASTER", priority=100, weight=-50, router_id="a")
    b = conf(state="MASTER", priority=100, weight=-50, router_id="b")
    assert rules_of(run_pair(tmp_path, root, a, b)) == ["equal-masters"]


def test_state_master_outranked(tmp_path: Path, root: Path) -> None:
    a = conf(state="MASTER", priority=90, weight=-50, router_id="a")
    b = conf(priority=100, weight=-50, router_id="b")
    (f,) = run_pair(tmp_path, root, a, b)
    assert f.rule == "master-outranked" and "b takes" in f.message
    assert f.line == line_of(tmp_path / "lb1.conf", "priority")


@pytest.mark.parametrize("mode", [None, 0o644])
def test_a_script_missing_or_not_executable(tmp_path: Path, root: Path, mode: int | None) -> None:
    script = root / CHECK.lstrip("/")
    if mode is None:
        script.unlink()
    else:
        script.chmod(mode)
    a = conf(state="MASTER", priority=150, weight=-100, router_id="a")
    b = conf(priority=100, weight=-100, router_id="b")
    found = run_pair(tmp_path, root, a, b)
    assert rules_of(found) == ["script-missing", "script-missing"]
    state = "missing" if mode is None else "not executable"
    assert all(state in f.message for f in found)
    assert found[0].line == line_of(tmp_path / "lb1.conf", "vrrp_script")


def test_an_instance_without_peer(tmp_path: Path, root: Path) -> None:
    """Same name, another VRID and address: two routers of one node each, no failover."""
    a = conf(state="MASTER", priority=150, weight=-100, router_id="a")
    b = conf(priority=100, weight=-100, router_id="b", vrid=52, vips=("10.0.0.4/24",))
    found = run_pair(tmp_path, root, a, b)
    assert rules_of(found) == ["no-peer", "no-peer"]
    assert "a VI_1's addresses never fail over" in found[0].message


def test_untracked_pair(tmp_path: Path, root: Path) -> None:
    a = conf(state="MASTER", priority=150, weight=None, router_id="a")
    b = conf(priority=100, weight=None, router_id="b")
    assert rules_of(run_pair(tmp_path, root, a, b)) == ["no-tracking", "no-tracking"]


UNICAST = "unicast_src_ip {src}\nunicast_peer {{\n    {peer}\n}}\n"


def test_unicast_peers(tmp_path: Path, root: Path) -> None:
    a_uni = UNICAST.format(src="10.0.0.10", peer="10.0.0.11")
    b_uni = UNICAST.format(src="10.0.0.11", peer="10.0.0.10")
    a = conf(state="MASTER", priority=150, weight=-100, extra=a_uni, router_id="a")
    b = conf(priority=100, weight=-100, extra=b_uni, router_id="b")
    assert run_pair(tmp_path, root, a, b) == []
    b_wrong = UNICAST.format(src="10.0.0.11", peer="10.0.0.12")
    b = conf(priority=100, weight=-100, extra=b_wrong, router_id="b")
    (f,) = run_pair(tmp_path, root, a, b)
    assert f.rule == "unicast-peer-missing" and "does not list a (10.0.0.10)" in f.message
    assert f.file.endswith("lb2.conf") and f.line == line_of(tmp_path / "lb2.conf", "unicast_peer")
    b = conf(priority=100, weight=-100, router_id="b")
    assert rules_of(run_pair(tmp_path, root, a, b)) == ["unicast-mismatch"]


def test_topologies(tmp_path: Path) -> None:
    """The shipped pairs are sound but for nopreempt's trap (which the lab shows: a dead
    nginx on the master moves nothing); a user's first lab has three mistakes."""
    for name in ("nginx_master_backup", "nginx_dual_master", "nginx_v3_fast"):
        assert lint([name])[1] == [], name
    found = lint(["nginx_nopreempt"])[1]
    assert rules_of(found) == ["nopreempt-trap", "nopreempt-trap"]
    assert found[0].file.endswith("lab/topologies/nginx_nopreempt/lb1.keepalived.conf")
    first = Path(__file__).parents[1] / "lab" / "topologies" / "first_lab.yaml"
    assert rules_of(lint([str(first)])[1]) == [
        "master-outranked",
        "script-missing",
        "script-missing",
    ]


def test_bad_input_is_exit_2_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("vrrp_instance VI_1 {\n    state MASTER\n    virtual_router_id\n}\n")
    with pytest.raises(LintInputError, match=rf"{bad}:3: "):
        lint([str(bad)])
    assert halab_main(["lint", str(bad)]) == 2
    assert f"{bad}:3:" in capsys.readouterr().err
    assert halab_main(["lint", str(tmp_path / "absent.conf")]) == 2
    assert halab_main(["lint", "no_such_topology.yaml"]) == 2
    assert halab_main(["lint"]) == 2


def test_cli_formats_and_exit_status(
    tmp_path: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "lb1.conf", tmp_path / "lb2.conf"
    a.write_text(conf(state="MASTER", priority=150, weight=-5, router_id="lb01"))
    b.write_text(conf(priority=100, weight=-5, router_id="lb02"))
    args = ["lint", str(a), str(b), "--root", str(root)]
    assert halab_main(args) == 1
    out = capsys.readouterr().out
    assert "error [weight-too-small]" in out and "1 error(s), 0 warning(s)" in out
    assert halab_main([*args, "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == 1 and doc["findings"][0]["line"] == line_of(a, "track_script")
    sarif_file = tmp_path / "out.sarif"
    assert halab_main([*args, "--format", "sarif", "-o", str(sarif_file)]) == 1
    sarif = json.loads(sarif_file.read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert ids == list(RULES)
    (res,) = run["results"]
    assert ids[res["ruleIndex"]] == res["ruleId"] == "weight-too-small"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["region"]["startLine"] == line_of(a, "track_script")
    assert loc["artifactLocation"]["uri"].endswith("lb1.conf")
    b.write_text(conf(priority=100, weight=-100, router_id="lb02"))
    a.write_text(conf(state="MASTER", priority=150, weight=-100, router_id="lb01"))
    assert halab_main(args) == 0
    assert "no findings" in capsys.readouterr().out
    assert halab_main(["lint", "--rules"]) == 0
    listed = capsys.readouterr().out
    assert all(rid in listed for rid in RULES)


def test_interfaces_are_the_nodes_and_errors_keepalived_runs_with_are_findings(
    tmp_path: Path, root: Path
) -> None:
    a = conf(state="MASTER", priority=150, weight=-100).replace("eth0", "ens192")
    b = conf(priority=100, weight=-100, router_id="b").replace("eth0", "bond0")
    assert run_pair(tmp_path, root, a, b) == []
    b = conf(priority=300, weight=-100, router_id="b")
    found = run_pair(tmp_path, root, a, b)
    assert {(f.rule, f.line) for f in found} == {
        ("config-error", line_of(tmp_path / "lb2.conf", "priority"))
    }
    assert "b: (VI_1) Priority not valid! must be between 1 & 255" in found[-1].message
    with pytest.raises(LintInputError, match="given twice"):
        lint([str(tmp_path / "lb1.conf"), str(tmp_path / "lb1.conf")])


def test_scripts_are_looked_up_on_this_machine_without_root(tmp_path: Path) -> None:
    a, b = tmp_path / "lb1.conf", tmp_path / "lb2.conf"
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(script, 0o755)
    a.write_text(conf(state="MASTER", priority=150, weight=-100, script=str(script)))
    b.write_text(conf(priority=100, weight=-100, script=str(script), router_id="b"))
    assert lint([str(a), str(b)])[1] == []


MAIL = "notification_email {\n        ops@example.com\n    }\n    smtp_server 10.0.0.25\n"


@pytest.mark.parametrize(
    ("global_extra", "instance_extra", "found"),
    [
        ("", "", True),  # seeds 001-004: no smtp_alert anywhere
        ("    smtp_alert\n", "", False),
        ("    smtp_alert_vrrp\n", "", False),
        ("", "smtp_alert\n", False),
        ("    smtp_alert false\n", "", True),
        ("    smtp_alert_vrrp off\n    smtp_alert\n", "", True),  # smtp_alert_vrrp wins
    ],
)
def test_mail_never_sent_without_smtp_alert(
    tmp_path: Path, root: Path, global_extra: str, instance_extra: str, found: bool
) -> None:
    def mailing(text: str) -> str:
        return text.replace("global_defs {\n", "global_defs {\n    " + MAIL + global_extra)

    a = mailing(
        conf(state="MASTER", priority=150, weight=-100, router_id="lb01", extra=instance_extra)
    )
    b = conf(priority=100, weight=-100, router_id="lb02")  # no mail at all: nothing to say
    findings = run_pair(tmp_path, root, a, b)
    assert rules_of(findings) == (["mail-never-sent"] if found else [])
    if found:
        (f,) = findings
        assert (f.file, f.line) == (
            str(tmp_path / "lb1.conf"),
            line_of(tmp_path / "lb1.conf", "smtp_server"),
        )
        assert "keepalived 2.2.7 sends no state-change mail" in f.message

"""`halab` with hostile arguments: user text is printed as text, a closed pipe ends quietly,
bench checks what it can before any run and never loses a finished one, and random argv on
every subcommand (no Docker engine) ends with an exit status, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_halab import bench, cli, cliout
from pytest_halab import lab as lab_mod
from pytest_halab import topology as topology_mod
from pytest_halab.bench import BenchResult
from pytest_halab.cli import main as halab_main

REPO = Path(__file__).resolve().parents[2]
MARKUP = "[/x] [bold]b[/bold] :smile: \\[u]"


def test_user_text_in_an_error_is_printed_as_is(capsys: pytest.CaptureFixture[str]) -> None:
    assert halab_main(["up", f"{MARKUP}.yaml"]) == 2
    assert f"halab: error: {MARKUP}.yaml: no such topology file" in capsys.readouterr().err


def fake_status(lab: str) -> dict[str, Any]:
    return {
        "lab": lab,
        "topology": MARKUP,
        "vrrp": "keepalived",
        "subnet": "10.0.0.0/24",
        "nodes": [{"name": MARKUP, "role": "balancer", "ip": "10.0.0.10", "state": "[/up]"}],
        "vips": [{"name": "[/v]", "ip": "10.0.0.3", "expected": MARKUP, "holders": [MARKUP]}],
    }


def test_status_prints_lab_ids_and_names_as_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class FakeLab:
        def __init__(self, lab_id: str) -> None:
            self.lab_id = lab_id

        def status(self) -> dict[str, Any]:
            return fake_status(self.lab_id)

    monkeypatch.setattr(cli, "docker_host", lambda: None)
    monkeypatch.setattr(lab_mod.Lab, "attach", staticmethod(lambda _c, i: FakeLab(i)))
    monkeypatch.setattr(cliout, "console", cliout._Console(width=400, emoji=False, highlight=False))
    assert halab_main(["status", "--lab", "[/x]"]) == 0
    out = capsys.readouterr().out
    assert "lab [/x]  topology [/x] [bold]b[/bold] :smile: \\[u]" in out
    assert "[/up]" in out and "[/v]" in out and "ok" in out


def test_topologies_prints_descriptions_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = (REPO / "lab/topologies/nginx_master_backup.yaml").read_text()
    lines = src.replace("name: nginx_master_backup", "name: odd").splitlines()
    at = lines.index("description: >-")
    lines[at : at + 2] = [f"description: '{MARKUP}'"]
    (tmp_path / "odd.yaml").write_text("\n".join(lines) + "\n")
    for sub in ("common", "nginx_master_backup"):
        (tmp_path / sub).symlink_to(REPO / "lab/topologies" / sub)
    monkeypatch.setattr(topology_mod, "available", lambda: ["odd"])
    monkeypatch.setenv("HALAB_TOPOLOGY_PATH", str(tmp_path))
    code = halab_main(["topologies"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"odd  {MARKUP}" in captured.out


def test_schema_into_a_closed_pipe_ends_quietly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_halab.cli", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` exiting before halab writes
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == cli.EXIT_BROKEN_PIPE
    assert err == b""


def no_runs(*_a: Any, **_k: Any) -> BenchResult:
    raise AssertionError("the bench started although its arguments were bad")


def test_bench_refuses_an_unknown_vip_before_any_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "run_bench", no_runs)
    assert halab_main(["bench", "--vip", "UNKNOWN"]) == 2
    assert (
        "--vip: topology nginx_master_backup has no VIP 'UNKNOWN'; its VIPs: VI_1"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize("where", ["missing/dir/out.json", ".", "nul\0.json"])
def test_bench_refuses_an_unwritable_json_before_any_run(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "run_bench", no_runs)
    monkeypatch.chdir(tmp_path)
    assert halab_main(["bench", "--json", where]) == 2
    assert "halab: error: --json " in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # the check leaves nothing behind


def test_bench_json_check_truncates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "old.json"
    out.write_text("previous results")
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: BenchResult("t", "VI_1"))
    assert halab_main(["bench", "--json", str(out), "--runs", "1"]) == 0
    assert out.read_text().startswith("{")  # replaced only once the bench is done


def test_bench_results_printed_when_the_json_cannot_be_written_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "gone" / "out.json"
    target.parent.mkdir()

    def bench_then_lose_the_dir(*_a: Any, **_k: Any) -> BenchResult:
        target.parent.rmdir()  # writable when checked, gone when the bench ends
        return BenchResult("nginx_master_backup", "VI_1", lab_start_s={"keepalived": 1.5})

    monkeypatch.setattr(bench, "run_bench", bench_then_lose_the_dir)
    assert halab_main(["bench", "--json", str(target)]) == 1
    captured = capsys.readouterr()
    assert '"lab_start_s": {\n  "keepalived": 1.5' in captured.out
    assert f"could not write {target} (No such file or directory); the JSON is above" in (
        captured.err
    )


# ---------------------------------------------------------------- fuzzing

ODD = st.sampled_from(
    [
        "",
        "-",
        "--",
        "[/x]",
        "[bold]",
        ":smile:",
        "\\",
        "nan",
        "inf",
        "-1",
        "0",
        "1e999",
        "9" * 5000,
        "nginx_master_backup",
        "nginx_dual_master",
        "keepalived",
        "halab",
        "keepalived,halab",
        "lb1=halab,lb2=keepalived",
        "crash_node",
        "VI_1",
        "/proc/self/status",
        "/dev/null",
        "../x.yaml",
        "x.yaml",
        "a" * 5000,
        "advert",
        "random",
        "base",
    ]
) | st.text(max_size=20)

OPTIONS = {
    "images": ["build", "--rebuild", "-h"],
    "up": ["--vrrp"],
    "status": ["--lab", "--json"],
    "down": ["--lab"],  # never --all: even with no engine, no test asks to remove every lab
    "ls": [],
    "bench": [
        "--vrrp",
        "--fault",
        "--runs",
        "--vip",
        "--json",
        "--phase",
        "--probe-interval",
        "--busy",
    ],
    "soak": ["--vrrp", "--seconds", "--busy", "--json"],
    "topologies": [],
    "schema": [],
    "clean": [],
}


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    cmd = draw(st.sampled_from([*OPTIONS, "bogus"]))
    argv = [] if cmd == "bogus" else [cmd]
    for _ in range(draw(st.integers(0, 5))):
        if OPTIONS.get(cmd) and draw(st.booleans()):
            argv.append(draw(st.sampled_from(OPTIONS[cmd])))
        argv.append(draw(ODD))
    return argv


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(argv=argvs())
def test_fuzz_argv_exits_with_a_status_never_a_traceback(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert os.environ["DOCKER_HOST"].startswith("unix:///nonexistent/")  # tests/conftest.py
    monkeypatch.chdir(tmp_path)  # a --json FILE lands here
    try:
        code: int | str | None = halab_main(argv)
    except SystemExit as exc:  # argparse: usage errors and --help
        code = exc.code
    captured = capsys.readouterr()
    assert isinstance(code, int), code
    assert "Traceback" not in captured.err + captured.out
    if code == 0:
        return
    assert captured.err, "a failure says why"


def test_fuzz_argv_through_the_real_entry_point() -> None:
    # a few argv in a fresh interpreter: what the user sees, exit status and stderr
    for argv in (["status", "--lab", "[/x]"], ["x"]):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest_halab.cli", *argv],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=120,
            check=False,
        )
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip(), textwrap.shorten(str(argv), 80)

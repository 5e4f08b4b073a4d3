"""Script security as keepalived 2.2.7 applies it (lib/notify.c check_script_secure,
keepalived/vrrp/vrrp.c check_vrrp_script_security, set_script_env).

The files are made insecure for real (world/group writable, non-root owner, in a
world-writable directory, setuid), so most tests need root; the comparisons with the
host's ``keepalived -t -f FILE`` need keepalived installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pytest_halab.vrrp.conf import (
    Diagnostic,
    KeepalivedConfig,
    NotifyScript,
    config_test_exit_status,
    load_config,
)
from pytest_halab.vrrp.conf.scripts import (
    SC_EXECUTABLE,
    SC_INHIBIT,
    SC_INSECURE,
    SC_ISSCRIPT,
    SC_NOTFOUND,
    check_script,
)
from pytest_halab.vrrp.track import ProcessRunner

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, setuid, setgroups)")
pytestmark = root_only

NOBODY = 65534
SCRIPT = "#!/bin/sh\nexit 0\n"


@pytest.fixture
def lab() -> Iterator[Path]:
    """A root-owned 0755 directory under /tmp (sticky, root-owned: secure), so that
    insecurity comes only from what each test does, and other users can reach it."""
    path = Path(tempfile.mkdtemp(prefix="halab-sec-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _script(path: Path, mode: int = 0o755) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPT)
    path.chmod(mode)
    return path


def _check(command: str, uid: int = 0, gid: int | None = None, **kw: bool) -> tuple[int, list[str]]:
    logs: list[str] = []
    flags = check_script(command, uid, logs.append, gid=gid, **kw)
    return flags, logs


# --------------------------------------------------------------- which scripts are insecure


def test_secure_script_has_no_insecure_flag(lab: Path) -> None:
    good = _script(lab / "good.sh")
    flags, logs = _check(str(good), security=True)
    assert flags == SC_ISSCRIPT | SC_EXECUTABLE | 0x20
    assert logs == []


def test_world_writable_script_is_insecure(lab: Path) -> None:
    ww = _script(lab / "ww.sh", 0o777)
    flags, logs = _check(str(ww), security=True)
    assert flags & SC_INSECURE and flags & SC_INHIBIT
    assert logs == [f"Unsafe permissions found for script '{ww}' - disabling."]
    flags, logs = _check(str(ww), security=False)
    assert flags & SC_INSECURE and not flags & SC_INHIBIT
    assert logs == [f"Unsafe permissions found for script '{ww}'."]


def test_group_write_is_unsafe_only_for_a_non_root_group(lab: Path) -> None:
    gw = _script(lab / "gw.sh", 0o775)
    assert not _check(str(gw), security=True)[0] & SC_INSECURE  # group root
    os.chown(gw, 0, 1)
    assert _check(str(gw), security=True)[0] & SC_INHIBIT


def test_script_owned_by_another_user_is_insecure(lab: Path) -> None:
    mine = _script(lab / "mine.sh")
    os.chown(mine, NOBODY, 0)
    flags, logs = _check(str(mine), security=True)
    assert flags & SC_INHIBIT
    assert logs == [f"Unsafe permissions found for script '{mine}' - disabling."]


def test_directory_in_the_path_must_not_be_writable(lab: Path) -> None:
    indir = _script(lab / "open" / "deep" / "s.sh")
    (lab / "open").chmod(0o777)
    flags, logs = _check(str(indir), security=True)
    assert flags & SC_INHIBIT
    # the whole script path is reported, not the guilty directory
    assert logs == [f"Unsafe permissions found for script '{indir}' - disabling."]
    (lab / "open").chmod(0o1777)  # sticky: like /tmp, allowed
    assert not _check(str(indir), security=True)[0] & SC_INSECURE
    (lab / "open").chmod(0o755)
    os.chown(lab / "open", NOBODY, 0)  # a directory owned by someone else
    assert _check(str(indir), security=True)[0] & SC_INHIBIT


def test_symlink_is_resolved_before_checking(lab: Path) -> None:
    good = _script(lab / "safe" / "good.sh")
    (lab / "open").mkdir()
    (lab / "open").chmod(0o777)
    (lab / "open" / "link.sh").symlink_to(good)
    flags, logs = _check(str(lab / "open" / "link.sh"), security=True)
    assert not flags & SC_INSECURE and logs == []


def test_script_run_as_a_user_needs_no_protection(lab: Path) -> None:
    ww = _script(lab / "ww.sh", 0o777)
    flags, logs = _check(str(ww), uid=NOBODY, gid=NOBODY, security=True)
    assert flags & SC_EXECUTABLE and not flags & SC_INSECURE and logs == []
    # ...unless the user's group is root's
    assert _check(str(ww), uid=NOBODY, gid=0, security=True)[0] & SC_INHIBIT


def test_setuid_root_script_run_as_a_user_is_checked(lab: Path) -> None:
    suid = _script(lab / "open" / "suid.sh", 0o4755)
    (lab / "open").chmod(0o777)
    flags, logs = _check(str(suid), uid=NOBODY, gid=NOBODY, security=True)
    assert flags & SC_INHIBIT
    assert logs == [f"Unsafe permissions found for script '{suid}' - disabling."]


def test_not_executable_for_the_script_user(lab: Path) -> None:
    private = _script(lab / "p.sh", 0o750)
    flags, logs = _check(str(private), uid=NOBODY, gid=NOBODY, security=True)
    assert not flags & SC_EXECUTABLE
    assert logs == [
        f"WARNING - script '{private}' is not executable for uid:gid {NOBODY}:{NOBODY} - disabling."
    ]


def test_missing_and_path_searched_scripts(lab: Path) -> None:
    flags, logs = _check(str(lab / "absent.sh"))
    assert flags == SC_NOTFOUND
    assert logs == [f"Script {lab / 'absent.sh'} cannot be accessed - No such file or directory"]
    assert _check("halab-no-such-script")[1] == [
        "Cannot find script halab-no-such-script in path - disabling"
    ]
    flags, logs = _check("true")
    assert flags & SC_EXECUTABLE
    assert logs[0].startswith("WARNING - script `true` resolved by path search to `")


# ------------------------------------------------------------ configuration and -t


def _conf(lab: Path, globals_: str, track: str, notify_master: str, notify_backup: str) -> Path:
    text = f"""global_defs {{
{globals_}
}}
vrrp_script chk {{
  script "{track}"
}}
vrrp_instance V {{
  interface eth0
  virtual_router_id 7
  priority 100
  virtual_ipaddress {{
    10.1.1.1
  }}
  track_script {{
    chk
  }}
  notify_master "{notify_master}"
  notify_backup "{notify_backup}"
}}
"""
    path = lab / "keepalived.conf"
    path.write_text(text)
    return path


@pytest.fixture
def scripts(lab: Path) -> dict[str, Path]:
    open_dir = lab / "open"
    made = {
        "good": _script(lab / "ok" / "good.sh"),
        "ww": _script(lab / "ok" / "ww.sh", 0o777),
        "indir": _script(open_dir / "indir.sh"),
    }
    open_dir.chmod(0o777)
    return made


CASES: dict[str, tuple[str, str, str, str]] = {
    # global_defs, track script, notify_master, notify_backup
    "secure_insecure_notify": ("enable_script_security\nscript_user root", "good", "ww", "indir"),
    "secure_insecure_track": ("enable_script_security\nscript_user root", "ww", "good", "good"),
    "not_secure": ("script_user root", "good", "ww", "good"),
    "not_secure_clean": ("script_user root", "good", "good", "good"),
    "secure_clean": ("enable_script_security\nscript_user root", "good", "good", "good"),
}


def _case(lab: Path, scripts: dict[str, Path], name: str) -> Path:
    globals_, track, master, backup = CASES[name]
    return _conf(lab, globals_, *(str(scripts[k]) for k in (track, master, backup)))


def test_insecure_notify_scripts_are_removed(lab: Path, scripts: dict[str, Path]) -> None:
    cfg, diags = _load(_case(lab, scripts, "secure_insecure_notify"))
    inst = cfg.instances["V"]
    assert inst.notify_master is None and inst.notify_backup is None
    assert [t.name for t in inst.track_scripts] == ["chk"]
    assert [d.message for d in diags] == [
        f"Unsafe permissions found for script '{scripts['indir']}' - disabling.",
        f"Unsafe permissions found for script '{scripts['ww']}' - disabling.",
    ]
    assert all(d.severity == "warning" for d in diags)  # keepalived only logs them
    assert config_test_exit_status(diags) == 0


def test_insecure_track_script_is_disabled(lab: Path, scripts: dict[str, Path]) -> None:
    cfg, diags = _load(_case(lab, scripts, "secure_insecure_track"))
    assert cfg.scripts["chk"].disabled and cfg.instances["V"].track_scripts == []
    assert _argv(cfg.instances["V"].notify_master) == [str(scripts["good"])]
    assert [d.message for d in diags] == [
        f"Unsafe permissions found for script '{scripts['ww']}' - disabling.",
        "Disabling track script chk due to insecure",
    ]
    assert config_test_exit_status(diags) == 5


def test_without_script_security_insecure_scripts_still_run(
    lab: Path, scripts: dict[str, Path]
) -> None:
    cfg, diags = _load(_case(lab, scripts, "not_secure"))
    assert _argv(cfg.instances["V"].notify_master) == [str(scripts["ww"])]
    assert [d.message for d in diags] == [
        f"Unsafe permissions found for script '{scripts['ww']}'.",
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
        " There are insecure scripts.",
    ]
    assert config_test_exit_status(diags) == 6


def test_script_security_without_any_script_user(lab: Path, scripts: dict[str, Path]) -> None:
    if Path("/etc/passwd").read_text().find("\nkeepalived_script:") >= 0:
        pytest.skip("this host has a keepalived_script user")
    path = _conf(lab, "enable_script_security", *(str(scripts["good"]),) * 3)
    cfg, diags = _load(path)
    inst = cfg.instances["V"]
    assert inst.notify_master is None and inst.track_scripts == []
    errors = [d.message for d in diags if d.severity != "warning"]
    assert errors == [
        "Unable to set default user keepalived_script for script",
        "Unable to set default user for vrrp script chk - removing",
        "(V) track script chk not found, ignoring...",
    ]
    assert config_test_exit_status(diags) == 5


def _argv(script: NotifyScript | None) -> list[str] | None:
    return None if script is None else script.argv


def _load(path: Path) -> tuple[KeepalivedConfig, list[Diagnostic]]:
    return load_config(path, interfaces={"eth0"})


def _their_messages(stderr: str) -> set[str]:
    messages = set()
    for line in stderr.splitlines():
        m = re.match(r"^\((?:[^:]*: )?Line \d+\) (.*)$", line)
        messages.add(m.group(1) if m else line)
    return messages


@pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed")
@pytest.mark.skipif(not os.path.exists("/sys/class/net/eth0"), reason="the configs use eth0")
@pytest.mark.parametrize("name", [*sorted(CASES), "no_user"])
def test_config_test_matches_real_keepalived(
    lab: Path, scripts: dict[str, Path], name: str
) -> None:
    if name == "no_user":
        path = _conf(lab, "enable_script_security", *(str(scripts["ww"]),) * 3)
    else:
        path = _case(lab, scripts, name)
    run = subprocess.run(
        ["keepalived", "-t", "-f", str(path)], capture_output=True, text=True, timeout=60
    )
    _, diags = load_config(path)
    theirs = _their_messages(run.stderr)
    assert config_test_exit_status(diags) == run.returncode, run.stderr
    assert theirs <= {d.message for d in diags}
    assert {d.message for d in diags if d.severity != "warning"} == theirs


# ------------------------------------------------------------------ running as a user


class _Scheduler:
    def time(self) -> float:
        return time.monotonic()

    def call_at(self, when: float, callback: Callable[[], None]) -> object:
        raise AssertionError("not used")

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self.callback = callback

    def remove_reader(self, fd: int) -> None:
        pass


def _groups_of_script(
    lab: Path, *, runner_user: str | None = None, user: str | None = None, group: str | None = None
) -> list[int]:
    """Run a script printing ``id -G`` with root holding extra supplementary groups."""
    out = lab / "out"
    out.mkdir(exist_ok=True)
    out.chmod(0o777)
    script = lab / "ids.sh"
    script.write_text(f"#!/bin/sh\nid -u > {out}/uid\nid -G > {out}/groups\n")
    script.chmod(0o755)
    scheduler = _Scheduler()
    runner = ProcessRunner(scheduler, user=runner_user)  # type: ignore[arg-type]
    saved = os.getgroups()
    os.setgroups([0, 1, 2, 4])
    try:
        codes: list[int] = []
        proc = runner.start([str(script)], codes.append, user=user, group=group)
    finally:
        os.setgroups(saved)
    assert proc is not None
    assert proc.wait(timeout=10) == 0
    scheduler.callback()
    assert codes == [0]
    uid = int((out / "uid").read_text())
    return [uid, *map(int, (out / "groups").read_text().split())]


def test_script_user_gets_only_its_own_group(lab: Path) -> None:
    assert _groups_of_script(lab, runner_user="nobody") == [NOBODY, NOBODY]
    assert _groups_of_script(lab, user="nobody") == [NOBODY, NOBODY]


def test_script_user_with_a_group(lab: Path) -> None:
    assert _groups_of_script(lab, user="nobody", group="daemon") == [NOBODY, 1]


def test_script_run_as_root_drops_the_extra_groups(lab: Path) -> None:
    if Path("/etc/passwd").read_text().find("\nkeepalived_script:") >= 0:
        pytest.skip("this host has a keepalived_script user")
    assert _groups_of_script(lab) == [0, 0]

"""Script checks on this host, as keepalived makes them: does a user (and group) exist,
which uid a script runs as, and is a script found, executable, and secure
(a simplified check_script_secure())."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
from collections.abc import Callable

__all__ = [
    "SC_EXECUTABLE",
    "SC_INSECURE",
    "SC_ISSCRIPT",
    "SC_NOTFOUND",
    "check_script",
    "script_uid",
    "user_exists",
]

SC_NOTFOUND, SC_ISSCRIPT, SC_EXECUTABLE, SC_INSECURE = 1, 2, 4, 8


def user_exists(user: str, group: str | None) -> bool:
    """A user (a name, or a uid) and an optional group (a name, or a gid) keepalived accepts."""
    try:
        pwd.getpwnam(user)
    except (KeyError, ValueError):
        if not user.isdigit():
            return False
    if group is None:
        return True
    try:
        grp.getgrnam(group)
    except (KeyError, ValueError):
        return group.isdigit()
    return True


def script_uid(user: str | None) -> int:
    """The uid scripts run as: `user`, else keepalived_script, else root."""
    name = user or "keepalived_script"
    try:
        return pwd.getpwnam(name).pw_uid
    except (KeyError, ValueError):
        return 0


def check_script(command: str, uid: int, report_log: Callable[[str], None]) -> int:
    """A simplified check_script_secure(): SC_* flags for the first word of command."""
    parts = command.split()
    if not parts:
        return SC_NOTFOUND
    path = parts[0]
    if path.startswith("<"):
        return 0
    if "/" not in path:
        found = shutil.which(path)
        if found is None:
            report_log(f"Cannot find script {path} in path - disabling")
            return SC_NOTFOUND
        path = found
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError as exc:
        report_log(f"Script {path} cannot be accessed - {exc.strerror}")
        return SC_NOTFOUND
    flags = SC_ISSCRIPT
    mode = st.st_mode
    if uid == 0:
        executable = bool(mode & 0o111)
    elif st.st_uid == uid:
        executable = bool(mode & stat.S_IXUSR)
    else:
        executable = bool(mode & stat.S_IXOTH)
    if not stat.S_ISREG(mode) or not executable:
        report_log(
            f"WARNING - script '{path}' is not executable for uid:gid {uid}:{uid} - disabling."
        )
        return flags
    flags |= SC_EXECUTABLE
    if uid == 0:
        probe = real
        while True:
            try:
                pst = os.stat(probe)
            except OSError:
                break
            sticky_dir = stat.S_ISDIR(pst.st_mode) and pst.st_mode & stat.S_ISVTX
            if pst.st_uid != 0 or (pst.st_mode & 0o022 and not sticky_dir):
                flags |= SC_INSECURE
                break
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
    return flags

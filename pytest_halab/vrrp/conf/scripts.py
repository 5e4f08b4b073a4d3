"""Script checks on this host, as keepalived 2.2.7 makes them: does a user (and group)
exist, which uid:gid a script runs as, and is a script found, executable and secure
(keepalived's check_script_secure() and check_security(), lib/notify.c).

keepalived's rules, followed here:

- A command without a ``/`` is looked up in PATH; the first regular file the script's
  uid:gid may execute wins (with a warning asking for a full path).
- The path is resolved (symbolic links, ``.``, ``..``); when the resolved file has another
  name, the original name in the resolved directory is kept if it is the same file.
- The file must be executable by the script's uid:gid (root: any execute bit; the owner:
  the user bit; the group: the group bit; others: the other bit).
- Only a script that needs protection is checked for security: one run as uid 0 or gid 0,
  or setuid root, or setgid root. Every component of its path, from ``/`` down, must be
  owned by root; a directory without the sticky bit, or the file itself, must be neither
  group-writable with a non-root group nor world-writable. The last component may be a
  regular file or a symbolic link, every other one a directory.
- An unsafe script is reported "Unsafe permissions found for script 'PATH' - disabling."
  under ``enable_script_security`` (and is then inhibited), "... for script 'PATH'."
  without it.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import shlex
import stat
from collections.abc import Callable, Sequence

__all__ = [
    "DEFAULT_SCRIPT_USER",
    "SC_EXECABLE",
    "SC_EXECUTABLE",
    "SC_INHIBIT",
    "SC_INSECURE",
    "SC_ISSCRIPT",
    "SC_NOTFOUND",
    "SC_SYSTEM",
    "check_script",
    "cmd_str",
    "is_executable",
    "lookup_user",
    "script_ids",
    "script_uid",
    "user_exists",
]

# keepalived's flags returned by check_script_secure() (lib/notify.h), same values.
SC_INSECURE = 0x01  # the script is insecure
SC_ISSCRIPT = 0x02  # it is a script
SC_INHIBIT = 0x04  # it must not be run
SC_NOTFOUND = 0x08  # an element of its path cannot be found
SC_EXECUTABLE = 0x10  # it is executable by its uid:gid
SC_EXECABLE = 0x20  # it can be exec'd
SC_SYSTEM = 0x40  # "</file": only checks that a file can be opened, never executed

DEFAULT_SCRIPT_USER = "keepalived_script"
# keepalived searches PATH, or the system's default path when PATH is not set.
_DEFAULT_PATH = "/bin:/usr/bin"


def lookup_user(
    user: str, group: str | None, report_log: Callable[[str], None] | None = None
) -> tuple[int, int] | None:
    """keepalived's set_uid_gid(): (uid, gid) of the user `user`, with its own group or
    `group`; None when either does not exist (what keepalived logs goes to `report_log`).

    Names only, as getpwnam()/getgrnam() take them: keepalived 2.2.7 refuses a number
    ("Script user '65534' does not exist")."""
    try:
        entry = pwd.getpwnam(user)
    except (KeyError, ValueError):
        if report_log is not None:
            report_log(f"Script user '{user}' does not exist")
        return None
    gid = entry.pw_gid
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except (KeyError, ValueError):
            if report_log is not None:
                report_log(f"Script group '{group}' does not exist")
            return None
    return entry.pw_uid, gid


def cmd_str(argv: Sequence[str]) -> str:
    """keepalived's cmd_str(): a script's words for a message, each in single quotes (but
    a first word starting with ``<`` or ``>``), joined by blanks."""
    return " ".join(w if i == 0 and w[:1] in ("<", ">") else f"'{w}'" for i, w in enumerate(argv))


def user_exists(user: str, group: str | None) -> bool:
    """A user (and an optional group) keepalived accepts: names that exist."""
    return lookup_user(user, group) is not None


def script_ids(user: str | None, group: str | None = None) -> tuple[int, int] | None:
    """(uid, gid) a script runs as: ``user`` (and ``group``), else keepalived_script,
    else our own ids. None when a user or group named here does not exist."""
    if user is None:
        try:
            entry = pwd.getpwnam(DEFAULT_SCRIPT_USER)
        except KeyError:
            return os.geteuid(), os.getegid()
        return entry.pw_uid, entry.pw_gid
    return lookup_user(user, group)


def script_uid(user: str | None) -> int:
    """The uid scripts run as: `user`, else keepalived_script, else root."""
    ids = script_ids(user)
    return ids[0] if ids is not None else 0


def is_executable(st: os.stat_result, uid: int, gid: int) -> bool:
    """keepalived's is_executable(): may uid:gid execute a file with this stat."""
    mode = st.st_mode
    if uid == 0:
        return bool(mode & 0o111)
    if uid == st.st_uid:
        return bool(mode & stat.S_IXUSR)
    if gid == st.st_gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def _first_word(command: str) -> str:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return words[0] if words else ""


def _path_search(
    name: str, uid: int, gid: int, report_log: Callable[[str], None]
) -> tuple[str | None, bool]:
    """keepalived's find_path(): (the file found, whether a candidate was not executable).

    keepalived 2.2.7 searches with the script's ids: it takes the script's egid and euid,
    then sets its supplementary groups to the script's gid, which an euid other than 0
    may not do; so a bare name run as any user but root is never found."""
    euid, egid = os.geteuid(), os.getegid()
    if (uid, gid) != (euid, egid):
        failed = None
        if euid != 0 and gid != egid:
            failed = f"Unable to set egid to {gid}"
        elif euid != 0:
            failed = f"Unable to set euid to {uid}"
        elif uid != 0:
            failed = "Unable to set supplementary gids"
        if failed is not None:
            report_log(f"{failed} ({os.strerror(errno.EPERM)})")
            return None, True
    denied = False
    for directory in (os.environ.get("PATH") or _DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory, name) if directory else name
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and is_executable(st, uid, gid):
            return candidate, False
        denied = True
    return None, denied


def _check_security(filename: str, security: bool, report_log: Callable[[str], None]) -> int:
    """keepalived's check_security(): every component of `filename`, from ``/`` down."""
    parts = filename.split("/")
    prefixes = ["/"] + ["/".join(parts[:i]) for i in range(2, len(parts))] + [filename]
    for index, prefix in enumerate(prefixes):
        last = index == len(prefixes) - 1
        try:
            st = os.lstat(prefix)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
                report_log(f"check_script_secure could not find script '{filename}' - disabling")
            else:
                report_log(
                    f"check_script_secure('{filename}') returned errno {exc.errno}"
                    f" - {exc.strerror} - disabling"
                )
            return SC_NOTFOUND
        mode = st.st_mode
        is_dir, is_reg = stat.S_ISDIR(mode), stat.S_ISREG(mode)
        if (not last and not is_dir) or (last and not is_reg and not stat.S_ISLNK(mode)):
            report_log(f"Wrong file type found in script path '{filename}'.")
            return SC_INHIBIT
        writable = (st.st_gid != 0 and mode & stat.S_IWGRP) or mode & stat.S_IWOTH
        checked = (is_dir and not mode & stat.S_ISVTX) or is_reg
        if st.st_uid != 0 or (checked and writable):
            suffix = " - disabling" if security else ""
            report_log(f"Unsafe permissions found for script '{filename}'{suffix}.")
            return SC_INSECURE | (SC_INHIBIT if security else 0)
    return 0


def _searchable(st: os.stat_result, uid: int, gid: int) -> bool:
    """May uid:gid (with our supplementary groups, which keepalived keeps while it looks)
    search a directory with this stat, as the kernel decides."""
    mode = st.st_mode
    if uid == 0:
        return True
    if uid == st.st_uid:
        return bool(mode & stat.S_IXUSR)
    if st.st_gid == gid or st.st_gid in os.getgroups():
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def _reachable(path: str, uid: int, gid: int) -> bool:
    """Can uid:gid reach `path`: search permission on every directory on the way, as
    keepalived's realpath() of a script (run with the script's ids) needs."""
    if uid == os.geteuid() and gid == os.getegid():
        return True
    for name in (path, os.path.realpath(path)):
        directory = os.path.dirname(os.path.abspath(name))
        chain = []
        while True:
            chain.append(directory)
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for directory in chain:
            try:
                if not _searchable(os.stat(directory), uid, gid):
                    return False
            except OSError:
                continue  # realpath() reports what is missing
    return True


def check_script(
    command: str | Sequence[str],
    uid: int,
    report_log: Callable[[str], None],
    *,
    gid: int | None = None,
    security: bool = False,
) -> int:
    """keepalived's check_script_secure(): SC_* flags for the program of `command` (a
    command line, whose first word is taken, or an argv).

    `uid`/`gid` are the ids the script runs as (`gid` defaults to `uid`); `security` is
    ``enable_script_security``. Messages keepalived only logs go to `report_log`.
    """
    if gid is None:
        gid = uid
    argv = [_first_word(command)] if isinstance(command, str) else list(command)
    path = argv[0] if argv else ""
    if not path:
        return SC_NOTFOUND
    if path.startswith("<") and path[1:].lstrip(" \t").startswith("/"):
        return SC_SYSTEM
    if "/" not in path:
        found, denied = _path_search(path, uid, gid, report_log)
        if found is None:
            if denied:
                report_log(f"Permissions failure for script {path} in path - disabling")
            else:
                report_log(f"Cannot find script {path} in path - disabling")
            return SC_NOTFOUND
        report_log(
            f"WARNING - script `{path}` resolved by path search to `{found}`."
            " Please specify full path."
        )
        path = found
    if not _reachable(path, uid, gid):
        report_log(f"Script {path} cannot be accessed - {os.strerror(errno.EACCES)}")
        return SC_NOTFOUND
    try:
        resolved = os.path.realpath(path, strict=True)
    except OSError as exc:
        report_log(f"Script {path} cannot be accessed - {exc.strerror}")
        return SC_NOTFOUND
    real_file: str | None = None
    new_path = resolved
    if resolved != path and os.path.basename(resolved) != os.path.basename(path):
        # Keep the name the script was called by (some programs look at it) when that
        # name, in the resolved directory, is the same file.
        same_name = os.path.join(os.path.dirname(resolved), os.path.basename(path))
        try:
            real_st, named_st = os.stat(resolved), os.stat(same_name)
            if (real_st.st_dev, real_st.st_ino) == (named_st.st_dev, named_st.st_ino):
                new_path, real_file = same_name, resolved
        except OSError:
            pass
    try:
        st = os.stat(real_file or new_path)
    except OSError:
        report_log(f"Unable to access script `{new_path}` - disabling")
        return SC_NOTFOUND
    flags = SC_ISSCRIPT | SC_EXECABLE
    mode = st.st_mode
    protect = False
    if is_executable(st, uid, gid):
        flags |= SC_EXECUTABLE
        protect = (
            uid == 0
            or gid == 0
            or (st.st_uid == 0 and bool(mode & stat.S_IXUSR) and bool(mode & stat.S_ISUID))
            or (st.st_gid == 0 and bool(mode & stat.S_IXGRP) and bool(mode & stat.S_ISGID))
        )
    else:
        report_log(
            f"WARNING - script '{new_path}' is not executable for uid:gid {uid}:{gid} - disabling."
        )
    if not protect:
        return flags
    flags |= _check_security(new_path, security, report_log)
    if real_file is not None:
        flags |= _check_security(real_file, security, report_log)
    return flags

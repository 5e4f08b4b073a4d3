#!/usr/bin/env python3
"""Compare ``halab-vrrpd -t`` with the real ``keepalived -t`` (2.2.7) on the wild corpus.

The corpus: keepalived 2.2.7's doc/samples and the sample configuration, read where
Debian's keepalived package installs them (/usr/share/doc/keepalived/samples/keepalived.conf*,
/etc/keepalived/keepalived.conf.sample; they are keepalived's text, so the repository holds
no copy), and tests/data/wild/NNN_name.conf, minimal configurations written for this project,
each with a pattern met in public keepalived.conf files (the first line of each, a ``!``
comment, says so). Configurations copied from public repositories are not committed; a
local collection of them can be compared too: ``--corpus DIR``.

Interfaces: those files name interfaces this host lacks (ens192, bond0, ...), and
``keepalived -t`` reports each one missing. So that a file is judged on the rest, both
checkers run it inside a network namespace made for that file alone, in which every
interface name the file uses exists: one link per name (``ip -n NS link add NAME type
bridge``, set up, as ``lo`` is; the kernel here has no ``dummy`` driver, and a bridge needs
no peer). The names come from :func:`interface_names` (``interface``, ``dev``,
``track_interface`` and ``linkbeat_interfaces`` blocks, ``lvs_sync_daemon``, ``iif``/``oif``,
``$IF=...`` definitions). The namespace is deleted when the file is done, also on error or
Ctrl-C. This needs root and iproute2.

Scripts named by vrrp_script are looked up on this host by both checkers (the namespace
shares the host's file system), so both see the same scripts.

For each file both checkers run as ``ip netns exec NS keepalived -t -f FILE`` and
``ip netns exec NS python -m pytest_halab.vrrp -t -f FILE``; the tool compares their exit
status and the set of diagnostics (file, line, message) parsed from stderr. keepalived
prints some messages with no line at all ("Non-existent interface specified in
configuration"); halab-vrrpd prints those with the line of the declaration they concern
(on purpose, see tests/unit/test_vrrp_config.py), so a line-less keepalived message
matches a halab message of the same text on any line. The ``strict`` figure counts
without that allowance.

A halab-vrrpd run that prints a Python traceback or "halab-vrrpd internal error", or takes
more than 10 s, is a crash.

Usage (as root)::

    PYTHONPATH=. .venv/bin/python tools/wild_compare.py [--diffs] [--json OUT] [FILE...]
    PYTHONPATH=. .venv/bin/python tools/wild_compare.py --corpus tests/data/wild --corpus DIR
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "data" / "wild"
PACKAGED_SAMPLES = Path("/usr/share/doc/keepalived/samples")
PACKAGED_SAMPLE_CONF = Path("/etc/keepalived/keepalived.conf.sample")
HALAB_TIMEOUT = 10.0
KEEPALIVED_TIMEOUT = 30.0
INTERNAL_ERROR = "halab-vrrpd internal error"

# ------------------------------------------------------------------ interface names

_COND = r"(?:@\^?\S+\s+)?"  # a conditional-configuration prefix: "@high interface eth0"
_IFACE_KEYWORDS = re.compile(
    rf"^\s*{_COND}(?:interface|lvs_sync_daemon_interface|lvs_sync_daemon|default_interface)"
    r"\s+(\S+)"
)
_DEV = re.compile(r"\b(?:dev|iif|oif)\s+(\S+)")
_DEFINITION = re.compile(r"^\s*\$(\w*(?:IF|INTF|INTERFACE)\w*)\s*=\s*(\S+)", re.IGNORECASE)
_BLOCKS = re.compile(rf"^\s*{_COND}(?:track_interface|linkbeat_interfaces)\b")
_VMAC = re.compile(rf"^\s*{_COND}use_vmac\s+(\S+)")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,15}$")


def _strip_comment(line: str) -> str:
    for mark in ("#", "!"):
        at = line.find(mark)
        if at >= 0:
            line = line[:at]
    return line


def interface_names(text: str) -> set[str]:
    """The interface names a keepalived.conf uses (a superset is harmless: each becomes a
    link of the namespace the checkers run in). ``lo`` is left out: it always exists, and
    so are the names given to ``use_vmac``: keepalived makes those macvlans itself, and one
    that already exists is reported ("already exists and is not a private macvlan")."""
    names: set[str] = set()
    vmacs: set[str] = set()
    in_block = False
    for raw in text.splitlines():
        line = _strip_comment(raw)
        definition = _DEFINITION.match(raw)
        if definition:
            names.add(definition.group(2).strip("\"'"))
        if in_block:
            body = line.split("}", 1)
            for token in body[0].replace("{", " ").split()[:1]:
                names.add(token)
            if len(body) > 1:
                in_block = False
            continue
        if _BLOCKS.match(line):
            after = line.split("{", 1)
            if len(after) > 1:
                inner = after[1].split("}", 1)
                names.update(inner[0].split()[:1])
                in_block = len(inner) == 1
            else:
                words = line.split()
                if words[-1] in {"track_interface", "linkbeat_interfaces"}:
                    in_block = True  # its "{" is on the next line
                else:
                    names.add(words[-1])  # "track_interface eth0": no block, but a name
            continue
        vmac = _VMAC.match(line)
        if vmac:
            vmacs.add(vmac.group(1))
        match = _IFACE_KEYWORDS.match(line)
        if match:
            names.add(match.group(1))
        names.update(m.group(1) for m in _DEV.finditer(line))
    return {n for n in names - vmacs if _NAME.match(n) and n not in {"lo", "weight"}}


# ------------------------------------------------------------------ namespaces

_counter = itertools.count()


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True, timeout=30)


@contextmanager
def namespace(interfaces: Iterable[str]) -> Iterator[str]:
    """A network namespace with ``lo`` and one link (a bridge, set up) per name; deleted on
    exit. Names the kernel refuses are left out."""
    name = f"halab-wild-{os.getpid()}-{next(_counter)}"
    _ip("netns", "add", name)
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        for ifname in sorted(interfaces):
            try:
                _ip("-n", name, "link", "add", ifname, "type", "bridge")
                _ip("-n", name, "link", "set", ifname, "up")
            except subprocess.CalledProcessError:
                pass
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


# ------------------------------------------------------------------ running the checkers

Diag = tuple[str | None, int | None, str]
_DIAG = re.compile(r"^\((?:(?P<file>.*): )?Line (?P<line>\d+)\) (?P<msg>.*)$")


def parse_diagnostics(stderr: str, main_file: str) -> set[Diag]:
    """(file, line, message) for each line keepalived -t (or halab-vrrpd -t) printed:
    ``(FILE: Line N) msg``, ``(Line N) msg`` (the main file) or a bare message (no file,
    no line)."""
    out: set[Diag] = set()
    for line in stderr.splitlines():
        if not line.strip():
            continue
        m = _DIAG.match(line)
        if m:
            out.add((m.group("file") or main_file, int(m.group("line")), m.group("msg")))
        else:
            out.add((None, None, line))
    return out


@dataclass
class Run:
    status: int | None  # None: timed out
    stderr: str
    seconds: float


def _run(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> Run:
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode("utf-8", "replace") if exc.stderr else ""
        return Run(None, err, time.monotonic() - start)
    return Run(proc.returncode, proc.stderr.decode("utf-8", "replace"), time.monotonic() - start)


def run_keepalived(ns: str, path: str) -> Run:
    return _run(["ip", "netns", "exec", ns, "keepalived", "-t", "-f", path], KEEPALIVED_TIMEOUT)


def run_halab(ns: str, path: str) -> Run:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "pytest_halab.vrrp", "-t", "-f", path]
    return _run(["ip", "netns", "exec", ns, *argv], HALAB_TIMEOUT, env)


# ------------------------------------------------------------------ comparing


@dataclass
class Result:
    file: str
    interfaces: list[str]
    keepalived_status: int | None
    halab_status: int | None
    keepalived_seconds: float
    halab_seconds: float
    crash: str  # "" or why halab-vrrpd counts as crashed
    only_keepalived: list[Diag] = field(default_factory=list)
    only_halab: list[Diag] = field(default_factory=list)
    strict_equal: bool = False

    @property
    def status_agrees(self) -> bool:
        return self.keepalived_status == self.halab_status and not self.crash

    @property
    def output_agrees(self) -> bool:
        return not self.only_keepalived and not self.only_halab and not self.crash

    @property
    def agrees(self) -> bool:
        return self.status_agrees and self.output_agrees

    def first_difference(self) -> str:
        if self.crash:
            return f"CRASH: {self.crash}"
        diffs = [("K", d) for d in self.only_keepalived] + [("H", d) for d in self.only_halab]
        if not diffs:
            return ""
        diffs.sort(key=lambda kd: (kd[1][1] if kd[1][1] is not None else 1 << 30, kd[0]))
        side, (_file, line, msg) = diffs[0]
        where = f"L{line} " if line is not None else ""
        return f"{side}: {where}{msg}"


def compare_diagnostics(theirs: set[Diag], ours: set[Diag]) -> tuple[list[Diag], list[Diag]]:
    """What only keepalived printed, what only halab printed. A line-less keepalived message
    matches a halab message with the same text on any line."""
    only_theirs = []
    ours_left = set(ours)
    for diag in sorted(theirs, key=_sort_key):
        if diag in ours_left:
            ours_left.discard(diag)
            continue
        if diag[1] is None:
            same_text = sorted((d for d in ours_left if d[2] == diag[2]), key=_sort_key)
            if same_text:
                ours_left.discard(same_text[0])
                continue
        only_theirs.append(diag)
    return only_theirs, sorted(ours_left, key=_sort_key)


def _sort_key(d: Diag) -> tuple[str, int, str]:
    return (d[0] or "", d[1] if d[1] is not None else -1, d[2])


def _crash(run: Run) -> str:
    if run.status is None:
        return f"no answer in {HALAB_TIMEOUT:.0f} s"
    if "Traceback (most recent call last)" in run.stderr:
        last = [line for line in run.stderr.splitlines() if line.strip()][-1]
        return f"traceback: {last}"
    for line in run.stderr.splitlines():
        if INTERNAL_ERROR in line:
            return line
    if run.seconds > HALAB_TIMEOUT:
        return f"took {run.seconds:.1f} s"
    return ""


def compare_file(path: Path) -> Result:
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    names = sorted(interface_names(text))
    main = str(path)
    with namespace(names) as ns:
        theirs = run_keepalived(ns, main)
        ours = run_halab(ns, main)
    k_diags = parse_diagnostics(theirs.stderr, main)
    h_diags = parse_diagnostics(ours.stderr, main)
    only_k, only_h = compare_diagnostics(k_diags, h_diags)
    return Result(
        file=path.name,
        interfaces=names,
        keepalived_status=theirs.status,
        halab_status=ours.status,
        keepalived_seconds=theirs.seconds,
        halab_seconds=ours.seconds,
        crash=_crash(ours),
        only_keepalived=only_k,
        only_halab=only_h,
        strict_equal=k_diags == h_diags,
    )


def packaged_files() -> list[Path]:
    """keepalived's own sample configurations, where Debian's package installed them."""
    files = sorted(PACKAGED_SAMPLES.glob("keepalived.conf*"))
    if PACKAGED_SAMPLE_CONF.is_file():
        files.append(PACKAGED_SAMPLE_CONF)
    return [p for p in files if p.is_file() and p.suffix != ".gz"]


def corpus_files() -> list[Path]:
    return packaged_files() + sorted(CORPUS.glob("*.conf"))


# ------------------------------------------------------------------ report


def _status(s: int | None) -> str:
    return "T/O" if s is None else str(s)


def print_table(results: list[Result], out: TextIO | None = None) -> None:
    def w(text: str) -> None:
        print(text, file=out or sys.stdout)

    width = max((len(r.file) for r in results), default=4)
    w(f"{'file':<{width}}  ka  hb  agree   ka_s  hb_s  first difference")
    for r in results:
        agree = "yes" if r.agrees else ("status" if r.status_agrees else "NO")
        diff = r.first_difference()
        if len(diff) > 110:
            diff = diff[:107] + "..."
        w(
            f"{r.file:<{width}}  {_status(r.keepalived_status):>2}  {_status(r.halab_status):>2}"
            f"  {agree:<6} {r.keepalived_seconds:5.2f} {r.halab_seconds:5.2f}  {diff}"
        )
    n = len(results) or 1
    status_ok = sum(r.status_agrees for r in results)
    full_ok = sum(r.agrees for r in results)
    strict_ok = sum(r.status_agrees and r.strict_equal for r in results)
    crashes = [r for r in results if r.crash]
    k_time = sum(r.keepalived_seconds for r in results)
    h_time = sum(r.halab_seconds for r in results)
    w("")
    w(f"files: {len(results)}")
    w(f"exit-status agreement: {status_ok}/{len(results)} = {100 * status_ok / n:.1f}%")
    w(f"full-output agreement: {full_ok}/{len(results)} = {100 * full_ok / n:.1f}%")
    w(
        f"  strict (line-less keepalived messages must be line-less in halab too): "
        f"{strict_ok}/{len(results)} = {100 * strict_ok / n:.1f}%"
    )
    w(f"halab-vrrpd crashes/timeouts: {len(crashes)}")
    for r in crashes:
        w(f"  {r.file}: {r.crash}")
    w(
        f"time per file: keepalived {k_time / n:.3f} s mean, halab-vrrpd {h_time / n:.3f} s "
        f"mean (max {max((r.halab_seconds for r in results), default=0):.2f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="default: the whole corpus")
    parser.add_argument(
        "--corpus",
        type=Path,
        action="append",
        default=[],
        help="also every *.conf in this directory (a corpus kept out of the repository)",
    )
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument(
        "--diffs", action="store_true", help="print every differing diagnostic, not the first"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("wild_compare: needs root (ip netns)", file=sys.stderr)
        return 2
    files = [p.resolve() for p in args.files]
    for directory in args.corpus:
        files += sorted(p.resolve() for p in directory.glob("*.conf"))
    if not files:
        files = corpus_files()
    results = [compare_file(p) for p in files]
    print_table(results)
    if args.diffs:
        for r in results:
            if r.agrees:
                continue
            print(
                f"\n== {r.file}  keepalived {_status(r.keepalived_status)}"
                f"  halab {_status(r.halab_status)}  interfaces {' '.join(r.interfaces)}"
            )
            if r.crash:
                print(f"   CRASH {r.crash}")
            for _f, line, msg in r.only_keepalived:
                print(f"   K L{line}: {msg}")
            for _f, line, msg in r.only_halab:
                print(f"   H L{line}: {msg}")
    if args.json:
        data = [
            {**asdict(r), "status_agrees": r.status_agrees, "agrees": r.agrees} for r in results
        ]
        args.json.write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

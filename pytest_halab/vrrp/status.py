"""halab-vrrpd's status dump: keepalived's JSON signal, answered in keepalived's format.

keepalived built with JSON support (Debian's 2.2.7 is) writes ``/tmp/keepalived.json`` when
it gets the signal that ``keepalived --signum=JSON`` names (36 on Linux, SIGRTMIN + 2): a
list with one object per VRRP instance, ``{"data": {...}, "stats": {...}}``. ``data`` holds
the instance's configuration and run-time state (``state`` as a number: 0 INIT, 1 BACKUP,
2 MASTER, 3 FAULT; ``base_priority`` and ``effective_priority``; ``master_priority``, the
priority of the master a backup last accepted; ``last_transition`` in seconds since the
epoch); ``stats`` its packet counters.

halab-vrrpd answers the same signal with the same file, so that whatever reads keepalived's
dump (the lab's ``status``, an operator's own script) reads ours unchanged. It writes the
fields keepalived writes for what halab-vrrpd has, with keepalived's names and meanings; the
file is replaced atomically (written beside it, then renamed), so a reader never sees half
of it. Fields keepalived has and halab-vrrpd does not model (VMAC, strict mode counters it
does not keep) are left out rather than invented.

The other dumps keepalived writes on signal are answered too, each in its own module and
written by :func:`write_atomic`: SIGUSR1 (``--signum=DATA``) ``/tmp/keepalived.data``
(:mod:`.datadump`), SIGUSR2 (``--signum=STATS``) ``/tmp/keepalived.stats`` and
SIGRTMIN+29 (``--signum=STATS_CLEAR``) the same, then the counters zeroed
(:mod:`.counters`). A signal keepalived answers never stops halab-vrrpd.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_halab.vrrp.state import State

if TYPE_CHECKING:
    from pytest_halab.vrrp.instance import Instance

JSON_PATH = "/tmp/keepalived.json"  # keepalived's KA_TMP_DIR "/keepalived.json"
JSON_SIGNAL = signal.SIGRTMIN + 2  # keepalived --signum=JSON: 36 on Linux
STATS_CLEAR_SIGNAL = signal.SIGRTMIN + 29  # keepalived --signum=STATS_CLEAR: 63 on Linux
# keepalived --signum's names, as keepalived 2.2.7 numbers them
SIGNAL_FUNCTIONS = {
    "STOP": signal.SIGTERM,
    "RELOAD": signal.SIGHUP,
    "DATA": signal.SIGUSR1,
    "STATS": signal.SIGUSR2,
    "STATS_CLEAR": STATS_CLEAR_SIGNAL,
    "JSON": JSON_SIGNAL,
}
# The signals that ask a running daemon for something (reload, a dump), not to stop: their
# default action kills, so they are blocked until the daemon handles them.
REQUEST_SIGNALS = frozenset(
    {signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, STATS_CLEAR_SIGNAL, JSON_SIGNAL}
)
STATE_NUMBERS = {State.INIT: 0, State.BACKUP: 1, State.MASTER: 2, State.FAULT: 3}
AUTH_NUMBERS = {0: 0, 1: 1, 2: 2}  # VRRP auth types: none, simple password, AH


def instance_record(
    inst: Instance, last_transition: float, running_scripts: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """One instance as keepalived's JSON dump has it. ``running_scripts``: the argv of each
    vrrp_script that runs, by name (keepalived leaves disabled ones out of an instance's
    ``track_script``, and lists each by its command, every word in single quotes)."""
    m = inst.machine
    cfg = inst.cfg
    master = m.master
    data: dict[str, Any] = {
        "iname": inst.name,
        "ifp_ifname": cfg.interface or "",
        "vrid": m.params.vrid,
        "version": m.params.version,
        "state": STATE_NUMBERS.get(m.state, 0),
        "wantstate": STATE_NUMBERS.get(m.state, 0),
        "base_priority": m.params.priority,
        "effective_priority": m.effective_priority,
        # the priority in the adverts of the master last heard (0: none heard yet)
        "master_priority": master[1] if master else 0,
        "last_transition": last_transition,
        "adver_int": m.advert_interval,
        "master_adver_int": m.master_advert_interval,
        "nopreempt": m.nopreempt,
        "preempt_delay": m.preempt_delay,
        "vipset": bool(inst.installed),
        "vips": [f"{v.address} dev {v.dev} scope {v.scope or 'global'}" for v in inst.vips],
        "track_script": [
            " ".join(f"'{word}'" for word in running_scripts[t.name])
            for t in cfg.track_scripts
            if t.name in running_scripts
        ],
        "auth_type": AUTH_NUMBERS.get(inst.auth_type, 0),
        "dont_track_primary": int(cfg.dont_track_primary),
    }
    return {"data": data, "stats": inst.stats.as_json()}


def dump(records: Iterable[dict[str, Any]], path: str = JSON_PATH) -> None:
    """Write the JSON dump (:func:`write_atomic`)."""
    write_atomic(path, json.dumps(list(records), separators=(",", ":")))


def write_atomic(path: str, text: str) -> None:
    """Write a dump atomically (mode 0600, as keepalived's umask leaves it): written beside
    it, then renamed, so a reader never sees half of it."""
    import tempfile  # here: only a dump needs it, and the daemon starts often

    folder = os.path.dirname(path) or "."
    name = os.path.basename(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

"""keepalived.conf parser and config checker, following keepalived 2.2.7.

`load_config` reads a configuration the way keepalived does (comments, braces, quoted
strings, ``include`` globs, keyword tables per block) and returns a typed model plus a
list of `Diagnostic`. Every diagnostic carries the file and line it concerns, and the
message text keepalived itself prints for the same mistake. `config_test_exit_status`
turns diagnostics into the exit status of ``keepalived -t``.

The package runs inside balancer containers, so it uses only the standard library. It
never raises on malformed input: whatever the text, the result is a model and diagnostics.

Deliberate differences from keepalived 2.2.7 (see the tests for the observed behaviour):

- keepalived prints the checks made after parsing without a ``(FILE: Line N)`` prefix, and
  so does ``halab-vrrpd -t``; each diagnostic still carries a file and a line (where the
  problem was declared: `Diagnostic.located` says whether keepalived prints them), for
  ``halab lint`` and for people.
- keepalived reads the file several times (parent, VRRP and checker processes) and prints
  some messages more than once; here each problem is reported once.
- A missing main configuration file: keepalived 2.2.7 prints ``Config files missing`` and
  exits 0; here it is fatal (exit 4), as `halab-vrrpd -t` promises.
- ``smtp_server`` host names are resolved only when ``resolve_hosts`` is true (the daemon
  and ``halab-vrrpd -t`` resolve, as keepalived does: ``localhost`` through /etc/hosts);
  otherwise a name is reported invalid, as keepalived does on a host without DNS.
- ``keepalived -t`` 2.2.7 kills itself (SIGTERM, before printing anything more) as soon as
  it checks a script that runs with other ids than its own (``script_user nobody``, or
  ``notify_master "/x.sh" nobody``): it takes itself for an orphaned child. Here such a
  configuration is checked to the end, as the running keepalived checks it (its log then
  has the SECURITY VIOLATION line that ``-t`` never reaches).
- ``keepalived -t`` 2.2.7 dies of a NULL pointer (SIGSEGV) on a ``bfd_instance`` without
  a name or a ``neighbor_ip`` without a value; here they miss their parameter (exit 2).

The package, one concept per module: `diagnostics` (messages, exit status), `model`,
`lexer` (comments, words, braces, includes), `values` (numbers, flags, addresses),
`keywords` (keyword tables), `rttables` (iproute2 names of tables, protocols, scopes...),
`context` (the state of one parse), one parser per block (`global_defs`, `vrrp_script`,
`vrrp_instance`, `vrrp_sync_group`, `virtual_server`, `static` for static_ipaddress,
static_routes, static_rules and track_group, `bfd` for bfd_instance and the track_bfd blocks
that name one) and the lines they share: `notify` (notify-type
scripts), `addresses`, `routes` and `rules` (an address, route or rule line), the
dispatching core `parser`, `scripts` (script users and checks on this host), `validate`,
`load` (`load_config`), and `edit` (changes to a configuration's text).
"""

from __future__ import annotations

from .diagnostics import FATAL_STATUSES, Diagnostic, Severity, config_test_exit_status
from .edit import set_instance_priority
from .load import load_config
from .model import (
    BfdInstance,
    ConfigItem,
    Encap,
    GlobalDefs,
    KeepalivedConfig,
    Nexthop,
    NotifyScript,
    RealServer,
    Route,
    Rule,
    SyncGroup,
    TrackBfd,
    TrackGroup,
    TrackInterface,
    TrackScript,
    VirtualIp,
    VirtualServer,
    VrrpInstance,
    VrrpScript,
)

__all__ = [
    "FATAL_STATUSES",
    "BfdInstance",
    "ConfigItem",
    "Diagnostic",
    "Encap",
    "GlobalDefs",
    "KeepalivedConfig",
    "Nexthop",
    "NotifyScript",
    "RealServer",
    "Route",
    "Rule",
    "Severity",
    "SyncGroup",
    "TrackBfd",
    "TrackGroup",
    "TrackInterface",
    "TrackScript",
    "VirtualIp",
    "VirtualServer",
    "VrrpInstance",
    "VrrpScript",
    "config_test_exit_status",
    "load_config",
    "set_instance_priority",
]

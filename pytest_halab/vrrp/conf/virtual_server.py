"""The ``virtual_server ADDRESS PORT { ... }`` block as keepalived 2.2.7's checker process
reads it (keepalived/check/check_parser.c, check_data.c alloc_vs/alloc_rs, the checkers'
keyword handlers): keywords checked against keepalived's tree, the values it checks read
and reported with its messages, the rest kept as data. The VRRP side does not act on it;
`check_validate` makes keepalived's checks on the whole (validate_check_config)."""

from __future__ import annotations

import socket
import string
from collections.abc import Callable

from .bfd import BFD_INAME_MAX, checker_knows
from .context import Kw, ParseContext
from .keywords import VS_TABLE, KeywordTree
from .lexer import Line, split_quoted_escaped
from .model import ConfigItem, NotifyScript, RealServer, VirtualServer
from .notify import notify_script
from .scripts import lookup_user
from .values import UINT_MAX, true_false

__all__ = ["DNS_TYPES", "KEYWORD", "checked_block", "dns_empty_label", "dns_type_lookup"]

# lvs_schedulers[] of check_parser.c
SCHEDULERS = frozenset(
    ("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos")
)
FORWARDING = ("NAT", "DR", "TUN")
LVS_MAX_TIMEOUT = 86400 * 31
IPVS_SVC_PERSISTENT_TIMEOUT = 6 * 60
IPVS_WEIGHT_LIMIT = 2**31 - 1
TIMER_MAXIMUM = 2**64 - 2  # ULONG_MAX - 1, in microseconds

# A keyword's check: (context, its line, the reader's state).
Check = Callable[[ParseContext, Line, "_State"], None]


class _State:
    """What the checker process remembers while it reads one virtual server."""

    def __init__(self, vs: VirtualServer) -> None:
        self.vs = vs
        self.rs: RealServer | None = None
        self.misc: NotifyScript | None = None
        self.misc_user_set = False
        self.misc_dropped = False
        self.dns_name_set = False
        # a BFD_CHECK being read (keepalived's new_checker), the BFD it names, and those
        # the real server's BFD_CHECKs already name
        self.bfd_check = False
        self.bfd_name: str | None = None
        self.rs_bfds: list[str] = []


def sockaddr(ctx: ParseContext, ip: str, port: str | None) -> tuple[str, int, int] | None:
    """keepalived's inet_stosockaddr(): (address, family, port) or None. A range (``-``) or
    a mask (``/``) is dropped; a port is read as a number in [1, 65535] (its complaint
    reported); a port of zeros is no port."""
    if port is not None and not port.strip("0"):
        port = None
    number = 0
    if port is not None:
        value = ctx.num.uint(port, 1, 65535)
        if value is None:
            return None
        number = value
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    cut = min((i for i in (ip.find("-"), ip.find("/")) if i >= 0), default=len(ip))
    try:
        packed = socket.inet_pton(family, ip[:cut])
    except (OSError, ValueError):
        return None
    return socket.inet_ntop(family, packed), family, number


def trio(ip: str | None, family: int, protocol: str | None, port: int) -> str:
    """keepalived's inet_sockaddrtotrio(): ``[ADDRESS]:PROTOCOL:PORT``."""
    return f"[{ip or ''}]:{protocol or 'none'}:{port}"


def checked_block(
    ctx: ParseContext,
    table: KeywordTree,
    level: int,
    scope: str = "vs",
    state: _State | None = None,
) -> list[ConfigItem]:
    """Parse a ``{ ... }`` block against a keyword tree, keeping it as data; with a
    `state`, each keyword's value is checked as keepalived's handler for it checks it."""
    items: list[ConfigItem] = []
    for line in ctx.block_lines():
        word = line.words[0]
        if word not in table:
            ctx.report("unknown_keyword", f"Unknown keyword '{word}'")
            continue
        item = ConfigItem(word, line.words[1:], line.line, line.file)
        sub = table[word]
        inner = _scope_of(scope, word)
        if state is not None:
            check = _CHECKS.get((scope, word))
            if check is not None:
                ctx.skip_requested = False
                check(ctx, line, state)
                if ctx.skip_requested and ctx.next_opens_block():
                    # keepalived's skip_block(true): the keyword's block is not read
                    ctx.skip_requested = False
                    ctx.skip_block()
                    continue
                ctx.skip_requested = False
        if isinstance(sub, dict):
            item.children = checked_block(ctx, sub, level + 1, inner, state)
            if state is not None:
                end = _ENDS.get(inner)
                if end is not None:
                    end(ctx, line, state)
        items.append(item)
    return items


def _scope_of(scope: str, word: str) -> str:
    if word == "real_server":
        return "rs"
    if word == "MISC_CHECK":
        return "misc"
    if word == "host" or word == "url":
        return word
    if word == "DNS_CHECK":
        return "dns"
    if word == "BFD_CHECK":
        return "bfd"
    if word == "SMTP_CHECK":
        return "smtp"
    if word.isupper() or word.endswith("_GET"):
        return "checker"
    return scope


# -- the virtual server's own keywords


def _vs_timer(what: str, lo: int) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if ctx.num.decimal(ctx.arg(line, 1), lo, TIMER_MAXIMUM) is None:
            ctx.report("general", f"virtual server {what} '{line.words[1]}' invalid - ignoring")

    return check


def _vs_connect_timeout(ctx: ParseContext, line: Line, st: _State) -> None:
    if ctx.num.decimal(ctx.arg(line, 1), 1, UINT_MAX) is None:
        ctx.report("general", f"virtual server connect_timeout {line.words[1]} invalid - ignoring")


def _retry(ctx: ParseContext, line: Line, st: _State) -> None:
    if ctx.num.uint(ctx.arg(line, 1), 1, UINT_MAX) is None:
        ctx.report("general", f"retry value invalid - {line.words[1]}")


def _lb_algo(ctx: ParseContext, line: Line, st: _State) -> None:
    name = ctx.arg(line, 1)
    if name not in SCHEDULERS:
        ctx.report("general", f"Invalid lvs_scheduler '{name}' - ignoring")
        return
    st.vs.sched = name


def _forwarding(ctx: ParseContext, line: Line, server: str) -> str | None:
    """keepalived's svr_forwarding_handler(): NAT, DR or TUN, in capitals (tunnel options
    after TUN are not checked here)."""
    method = ctx.arg(line, 1)
    if method not in FORWARDING:
        ctx.report("general", f"PARSER : unknown [{method}] routing method for {server} server.")
        return None
    return method


def _lb_kind(ctx: ParseContext, line: Line, st: _State) -> None:
    method = _forwarding(ctx, line, "virtual")
    if method is not None:
        st.vs.forwarding = method


def _persistence_timeout(ctx: ParseContext, line: Line, st: _State) -> None:
    if len(line.words) < 2:
        st.vs.persistence_timeout = IPVS_SVC_PERSISTENT_TIMEOUT
        return
    value = ctx.num.uint(line.words[1], 1, LVS_MAX_TIMEOUT)
    if value is None:
        ctx.report("general", "persistence_timeout invalid")
        return
    st.vs.persistence_timeout = value


def _persistence_granularity(ctx: ParseContext, line: Line, st: _State) -> None:
    if not st.vs.persistence_timeout:
        st.vs.persistence_timeout = IPVS_SVC_PERSISTENT_TIMEOUT


def _protocol(ctx: ParseContext, line: Line, st: _State) -> None:
    name = ctx.arg(line, 1)
    if name.lower() in ("tcp", "udp", "sctp"):
        st.vs.protocol = name.lower()
    else:
        ctx.report("general", f"Unknown protocol {name} - ignoring")


def _quorum(ctx: ParseContext, line: Line, st: _State) -> None:
    value = ctx.num.uint(ctx.arg(line, 1), 1, UINT_MAX)
    if value is None:
        ctx.report("general", f"Quorum {line.words[1]} must be in [1, {UINT_MAX}]. Setting to 1.")
        value = 1
    st.vs.quorum = value


def _hysteresis(ctx: ParseContext, line: Line, st: _State) -> None:
    value = ctx.num.uint(ctx.arg(line, 1), 0, UINT_MAX)
    if value is None:
        ctx.report("general", f"Hysteresis {line.words[1]} must be in [0, {UINT_MAX}] - ignoring")
        return
    st.vs.hysteresis = value


def _vs_weight(ctx: ParseContext, line: Line, st: _State) -> None:
    value = ctx.num.uint(ctx.arg(line, 1), 1, IPVS_WEIGHT_LIMIT)
    if value is None:
        ctx.report(
            "general",
            f"Virtual server weight {line.words[1]} is outside range 1-{IPVS_WEIGHT_LIMIT}",
        )
        return
    st.vs.weight = value


def _smtp_alert(what: str) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if len(line.words) >= 2 and true_false(line.words[1]) is None:
            ctx.report("general", f"Invalid {what} smtp_alert parameter {line.words[1]}")

    return check


def _flag(name: str) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        setattr(st.vs, name, True)

    return check


def _lb_flags(ctx: ParseContext, line: Line, st: _State) -> None:
    """keepalived's lbflags_handler(): ``ops`` and ``flag-N`` always; any other flag
    (``hashed`` too) only after lb_algo sh or mh, else it is refused."""
    word = line.words[0]
    if word == "ops":
        st.vs.one_packet = True
    elif word not in ("flag-1", "flag-2", "flag-3") and st.vs.sched not in ("sh", "mh"):
        ctx.report("general", f"{word} only applies to sh scheduler - ignoring")


def _quorum_script(ctx: ParseContext, line: Line, st: _State) -> None:
    script = notify_script(ctx, line, "quorum")
    if script is not None:
        st.vs.notify_scripts.append(script)


def _sorry_server(ctx: ParseContext, line: Line, st: _State) -> None:
    ip = ctx.arg(line, 1)
    port = line.words[2] if len(line.words) > 2 else None
    addr = sockaddr(ctx, ip, port)
    if addr is None:
        ctx.report("general", f"Invalid sorry server IP address {ip} - skipping")
        return
    st.vs.sorry_server = RealServer(
        ip, port, [], line.line, line.file, addr[0], addr[1], addr[2], None, None
    )


def _sorry_forwarding(ctx: ParseContext, line: Line, st: _State) -> None:
    sorry = st.vs.sorry_server
    if sorry is None:
        ctx.report("general", "sorry_server forwarding used without sorry_server")
        return
    method = _forwarding(ctx, line, "sorry")
    if method is not None:
        sorry.forwarding = method


def _sorry_inhibit(ctx: ParseContext, line: Line, st: _State) -> None:
    if st.vs.sorry_server is None:
        ctx.report("general", "Ignoring sorry_server inhibit used before or without sorry_server")


# -- real servers


def _real_server(ctx: ParseContext, line: Line, st: _State) -> None:
    ip = ctx.arg(line, 1)
    port = line.words[2] if len(line.words) > 2 else None
    addr = sockaddr(ctx, ip, port)
    rs = RealServer(ip, port, [], line.line, line.file)
    st.rs = rs
    st.rs_bfds = []
    if addr is None:
        ctx.report("general", f"Invalid real server ip address/port {ip}/{port} - skipping")
        st.rs = None
        ctx.request_skip()  # its block is not read
        return
    rs.ip, rs.family, rs.port_num = addr


def _rs_end(ctx: ParseContext, line: Line, st: _State) -> None:
    """keepalived's rs_end_handler(): a real server of another address family than its
    virtual server's is dropped (tunnelled ones excepted)."""
    rs, vs = st.rs, st.vs
    st.rs = None
    if rs is None or rs.ip is None:
        return
    if rs.forwarding != "TUN":
        if not vs.family:
            vs.family = rs.family
        elif vs.family != rs.family:
            ctx.report(
                "general",
                f"Address family of virtual server and real server {rs.ip} don't match"
                " - skipping real server.",
            )
            return
    vs.real_servers.append(rs)


def _rs_weight(ctx: ParseContext, line: Line, st: _State) -> None:
    value = ctx.num.uint(ctx.arg(line, 1), 0, IPVS_WEIGHT_LIMIT)
    if value is None:
        ctx.report(
            "general",
            f"Real server weight {line.words[1]} is outside range 0-{IPVS_WEIGHT_LIMIT}",
        )
        return
    if st.rs is not None:
        st.rs.weight = value


def _rs_forwarding(ctx: ParseContext, line: Line, st: _State) -> None:
    method = _forwarding(ctx, line, "real")
    if method is not None and st.rs is not None:
        st.rs.forwarding = method


def _rs_timer(what: str, lo: int, hi: int = TIMER_MAXIMUM) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if ctx.num.decimal(ctx.arg(line, 1), lo, hi) is None:
            if what == "connect_timeout":
                message = f"real server connect_timeout {line.words[1]} invalid - ignoring"
            else:
                message = f"real server {what} '{line.words[1]}' invalid - ignoring"
            ctx.report("general", message)

    return check


def _threshold(what: str) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if ctx.num.uint(ctx.arg(line, 1), 0, UINT_MAX) is None:
            ctx.report("general", f"Invalid real_server {what} '{line.words[1]}' - ignoring")

    return check


def _rs_bool(what: str) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if len(line.words) >= 2 and true_false(line.words[1]) is None:
            ctx.report("general", f"Invalid {what} parameter {line.words[1]}")

    return check


def _rs_notify(ctx: ParseContext, line: Line, st: _State) -> None:
    script = notify_script(ctx, line, "notify")
    if script is not None and st.rs is not None:
        st.rs.notify_scripts.append(script)


# -- checkers


def _checker_retry(ctx: ParseContext, line: Line, st: _State) -> None:
    if ctx.num.uint(ctx.arg(line, 1), 0, UINT_MAX) is None:
        ctx.report("general", f"Invalid retry connection value '{line.words[1]}'")


def _checker_timer(what: str, lo: int) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if ctx.num.decimal(ctx.arg(line, 1), lo, TIMER_MAXIMUM) is None:
            if what == "delay_loop":
                message = f"delay_loop '{line.words[1]}' is invalid - ignoring"
            else:
                message = f"Invalid {what} connection value '{line.words[1]}'"
            ctx.report("general", message)

    return check


def _connect_timeout(ctx: ParseContext, line: Line, st: _State) -> None:
    if ctx.num.decimal(ctx.arg(line, 1), 1, UINT_MAX) is None:
        ctx.report("general", f"connect_timeout {line.words[1]} invalid - ignoring")


def _checker_port(what: str) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if ctx.num.uint(ctx.arg(line, 1), 1, 65535) is None:
            ctx.report("general", f"Invalid checker {what} '{line.words[1]}'")

    return check


def _checker_address(what: str) -> Check:
    def check(ctx: ParseContext, line: Line, st: _State) -> None:
        if sockaddr(ctx, ctx.arg(line, 1), None) is None:
            ctx.report("general", f"Invalid {what} address {line.words[1]} - ignoring")

    return check


def _nb_get_retry(ctx: ParseContext, line: Line, st: _State) -> None:
    ctx.report("general", "nb_get_retry is deprecated - please use 'retry'")
    if ctx.num.uint(ctx.arg(line, 1), 0, UINT_MAX) is None:
        ctx.report("general", f"Invalid nb_get_retry value '{line.words[1]}'")


def _misc_check(ctx: ParseContext, line: Line, st: _State) -> None:
    st.misc = None
    st.misc_user_set = False
    st.misc_dropped = False


def _misc_path(ctx: ParseContext, line: Line, st: _State) -> None:
    if st.misc_dropped:
        return

    def report(kind: str, message: str) -> None:
        ctx.report(kind, message, line)

    words = split_quoted_escaped(line.text, report)
    if not words or len(words) < 2:
        return
    argv = split_quoted_escaped(words[1], report) if len(words) == 2 else words[1:]
    if argv:
        user = st.misc.user if st.misc else None
        group = st.misc.group if st.misc else None
        st.misc = NotifyScript(argv, user, group, line.line, line.file)


def _misc_user(ctx: ParseContext, line: Line, st: _State) -> None:
    if st.misc_dropped:
        return
    path = st.misc.path if st.misc else ""
    if len(line.words) < 2:
        ctx.report("general", f"No user specified for misc checker script {path}")
        return
    user = line.words[1]
    group = line.words[2] if len(line.words) > 2 else None

    def log(message: str) -> None:
        ctx.report("syslog", message)

    if lookup_user(user, group, log) is None:
        ctx.report("general", f"Failed to set uid/gid for misc checker script {path} - removing")
        st.misc = None
        st.misc_dropped = True
        return
    st.misc_user_set = True
    if st.misc is None:
        st.misc = NotifyScript([], user, group, line.line, line.file)
    else:
        st.misc.user, st.misc.group = user, group


def _misc_end(ctx: ParseContext, line: Line, st: _State) -> None:
    """keepalived's misc_end_handler(): a MISC_CHECK without a script is dropped."""
    misc, st.misc = st.misc, None
    if st.misc_dropped:
        return
    if misc is None or not misc.argv:
        ctx.report(
            "general", "No script path has been specified for MISC_CHECKER - skipping", ctx.cur
        )
        return
    if st.rs is not None:
        st.rs.misc_scripts.append(misc)


# check_dns.c's DNS_TYPE[] (2.2.7 knows RRSIG and DNSKEY too; its manual lists the rest)
DNS_TYPES: dict[str, int] = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
    "RRSIG": 46,
    "DNSKEY": 48,
}


def dns_type_lookup(label: str) -> int:
    """dns_type_lookup(): the type a name stands for, whatever its case (C's strcasecmp,
    ASCII only); 0 if none."""
    return DNS_TYPES.get(label.upper(), 0) if label.isascii() else 0


def dns_empty_label(name: str) -> bool:
    """dns_name_handler()'s test for a name with an empty label. It is keepalived's own:
    besides ``a..b`` and a leading dot, it refuses a name whose first label is one
    character long (``a.example.com``), as 2.2.7 does."""
    if name.startswith(".") and name != ".":
        return True
    dot = 0
    while dot != -1:
        if name[dot + 1 : dot + 2] == ".":
            return True
        dot = name.find(".", dot + 1)
    return False


def _dns_check(ctx: ParseContext, line: Line, st: _State) -> None:
    st.dns_name_set = False


def _dns_type(ctx: ParseContext, line: Line, st: _State) -> None:
    name = ctx.arg(line, 1)
    if not dns_type_lookup(name):
        ctx.report("general", f"Unknown DNS check type {name} - ignoring")


def _dns_name(ctx: ParseContext, line: Line, st: _State) -> None:
    """dns_name_handler(): the first valid name is kept."""
    if st.dns_name_set:
        ctx.report("general", "DNS_CHECK name already specified - ignoring")
        return
    name = ctx.arg(line, 1)
    if dns_empty_label(name):
        ctx.report("general", f"DNS_CHECK name '{name}' has empty label - ignoring")
        return
    st.dns_name_set = True


def _bfd_check(ctx: ParseContext, line: Line, st: _State) -> None:
    """check_bfd.c's BFD_CHECK: queued unless its real server was refused (keepalived
    skips such a server's block)."""
    st.bfd_check = st.rs is not None and st.rs.ip is not None
    st.bfd_name = None


def _rs_trio(st: _State) -> str:
    """keepalived's FMT_RS: the real server, with its virtual server's protocol so far."""
    rs = st.rs
    assert rs is not None
    return trio(rs.ip, rs.family, st.vs.protocol, rs.port_num)


def _bfd_name(ctx: ParseContext, line: Line, st: _State) -> None:
    """bfd_name_handler(): ``name NAME``, a bfd_instance the checker kept before; an error
    drops the checker (its later keywords are not read)."""
    if not st.bfd_check:
        return
    words = line.words
    name = words[1] if len(words) > 1 else ""
    if len(words) != 2:
        problem = "No or too many names specified - skipping checker"
    elif not checker_knows(ctx, name):
        problem = f"BFD {name} not configured"
    elif st.bfd_name is not None:
        problem = f"BFD {name} already specified as {st.bfd_name}"
    elif len(name.encode("utf-8", "surrogateescape")) >= BFD_INAME_MAX:
        problem = f"BFD name {name} too long"
    elif name in st.rs_bfds:
        problem = f"RS already monitoring {name}"
    else:
        st.bfd_name = name
        return
    ctx.report("general", f"({_rs_trio(st)}) BFD_CHECK - {problem}")
    st.bfd_check = False


def _bfd_alpha(ctx: ParseContext, line: Line, st: _State) -> None:
    if st.bfd_check:
        _rs_bool("alpha")(ctx, line, st)


def _bfd_end(ctx: ParseContext, line: Line, st: _State) -> None:
    """bfd_end_handler(): a BFD_CHECK without a name is dropped."""
    if not st.bfd_check:
        return
    st.bfd_check = False
    if st.bfd_name is None:
        ctx.report(
            "general",
            f"({_rs_trio(st)}) No name has been specified for BFD_CHECKER - skipping",
            ctx.cur,
        )
        return
    st.rs_bfds.append(st.bfd_name)


def _helo_name(ctx: ParseContext, line: Line, st: _State) -> None:
    if len(line.words) < 2:
        ctx.report("general", "SMTP_CHECK helo name missing")


def _status_code(ctx: ParseContext, line: Line, st: _State) -> None:
    """``status_code CODE|LOW-HIGH ...``: HTTP codes 100-599 (keepalived 2.2.7)."""
    for word in line.words[1:]:
        low, dash, high = word.partition("-")
        codes = [low, high] if dash else [low]
        valid = all(c.isdigit() and 100 <= int(c) <= 599 for c in codes)
        if not valid or (dash and int(low) > int(high)):
            ctx.report("general", f"Invalid HTTP_GET status code '{word}'")


def _digest(ctx: ParseContext, line: Line, st: _State) -> None:
    """``digest HEX``: an MD5, 32 hexadecimal digits."""
    text = ctx.arg(line, 1)
    if len(text) != 32:
        ctx.report(
            "general", f"digest '{text}' character length should be 32 rather than {len(text)}"
        )
        return
    for i, c in enumerate(text):
        if c not in string.hexdigits:
            ctx.report(
                "general", f"Unable to interpret hex digit in '{text}' at offset {i - i % 2}/{i}"
            )
            return


_CHECKS: dict[tuple[str, str], Check] = {
    ("vs", "retry"): _retry,
    ("vs", "delay_before_retry"): _vs_timer("delay before retry", 0),
    ("vs", "warmup"): _vs_timer("warmup", 0),
    ("vs", "connect_timeout"): _vs_connect_timeout,
    ("vs", "delay_loop"): _vs_timer("delay loop", 1),
    ("vs", "lb_algo"): _lb_algo,
    ("vs", "lvs_sched"): _lb_algo,
    ("vs", "ops"): _lb_flags,
    ("vs", "hashed"): _lb_flags,
    ("vs", "sh-port"): _lb_flags,
    ("vs", "sh-fallback"): _lb_flags,
    ("vs", "mh-port"): _lb_flags,
    ("vs", "mh-fallback"): _lb_flags,
    ("vs", "lb_kind"): _lb_kind,
    ("vs", "lvs_method"): _lb_kind,
    ("vs", "persistence_timeout"): _persistence_timeout,
    ("vs", "persistence_granularity"): _persistence_granularity,
    ("vs", "protocol"): _protocol,
    ("vs", "ha_suspend"): _flag("ha_suspend"),
    ("vs", "smtp_alert"): _smtp_alert("virtual_server"),
    ("vs", "quorum_up"): _quorum_script,
    ("vs", "quorum_down"): _quorum_script,
    ("vs", "quorum"): _quorum,
    ("vs", "hysteresis"): _hysteresis,
    ("vs", "weight"): _vs_weight,
    ("vs", "sorry_server"): _sorry_server,
    ("vs", "sorry_server_inhibit"): _sorry_inhibit,
    ("vs", "sorry_server_lvs_method"): _sorry_forwarding,
    ("vs", "real_server"): _real_server,
    ("rs", "weight"): _rs_weight,
    ("rs", "lvs_method"): _rs_forwarding,
    ("rs", "uthreshold"): _threshold("uthreshold"),
    ("rs", "lthreshold"): _threshold("lthreshold"),
    ("rs", "inhibit_on_failure"): _rs_bool("inhibit_on_failure"),
    ("rs", "alpha"): _rs_bool("alpha"),
    ("rs", "notify_up"): _rs_notify,
    ("rs", "notify_down"): _rs_notify,
    ("rs", "retry"): _retry,
    ("rs", "delay_before_retry"): _rs_timer("delay_before_retry", 0),
    ("rs", "warmup"): _rs_timer("warmup", 0),
    ("rs", "connect_timeout"): _rs_timer("connect_timeout", 1, UINT_MAX),
    ("rs", "delay_loop"): _rs_timer("delay_loop", 1),
    ("rs", "smtp_alert"): _smtp_alert("real_server"),
    ("rs", "MISC_CHECK"): _misc_check,
    ("misc", "misc_path"): _misc_path,
    ("misc", "user"): _misc_user,
    ("rs", "DNS_CHECK"): _dns_check,
    ("dns", "type"): _dns_type,
    ("dns", "name"): _dns_name,
    ("smtp", "helo_name"): _helo_name,
    ("rs", "BFD_CHECK"): _bfd_check,
    ("bfd", "name"): _bfd_name,
    ("bfd", "alpha"): _bfd_alpha,
    ("url", "status_code"): _status_code,
    ("url", "digest"): _digest,
}
for _scope in ("checker", "misc", "host", "dns", "smtp"):
    _CHECKS[(_scope, "retry")] = _checker_retry
    _CHECKS[(_scope, "delay_before_retry")] = _checker_timer("delay_before_retry", 0)
    _CHECKS[(_scope, "warmup")] = _checker_timer("warmup", 0)
    _CHECKS[(_scope, "delay_loop")] = _checker_timer("delay_loop", 1)
    _CHECKS[(_scope, "alpha")] = _rs_bool("alpha")
    _CHECKS[(_scope, "log_all_failures")] = _rs_bool("log_all_failures")
for _scope in ("checker", "host", "dns", "smtp"):
    _CHECKS[(_scope, "connect_port")] = _checker_port("connect_port")
    _CHECKS[(_scope, "bind_port")] = _checker_port("bind_port")
    _CHECKS[(_scope, "connect_ip")] = _checker_address("connect_ip")
    _CHECKS[(_scope, "bindto")] = _checker_address("bindto")
    _CHECKS[(_scope, "connect_timeout")] = _connect_timeout
_CHECKS[("checker", "nb_get_retry")] = _nb_get_retry

_ENDS: dict[str, Check] = {"rs": _rs_end, "misc": _misc_end, "bfd": _bfd_end}


def _virtual_server(ctx: ParseContext, line: Line) -> None:
    """keepalived's vs_handler()/alloc_vs(): ``virtual_server IP PORT``, ``fwmark N`` or
    ``group NAME``; an invalid address or fwmark skips the block."""
    words = line.words
    first = ctx.arg(line, 1)
    second = words[2] if len(words) > 2 else None
    vs = VirtualServer(address=first, port=second, line=line.line, file=line.file)
    if first == "group":
        vs.group = second
    elif first == "fwmark":
        value = ctx.num.uint(second or "", 0, UINT_MAX)
        if value is None:
            ctx.report(
                "general",
                f"virtual server fwmark '{second}' must be in [0, {UINT_MAX}] - ignoring",
            )
            ctx.request_skip()
            return
        vs.fwmark = value
    else:
        addr = sockaddr(ctx, first, second)
        if addr is None:
            port = second if second is not None and second.strip("0") else None
            ctx.report(
                "general",
                f"Invalid virtual server IP address{'/port' if port else ''} {first}"
                f"{'/' + port if port else ''} - skipping",
            )
            ctx.request_skip()
            return
        vs.ip, vs.family, vs.port_num = addr
    ctx.cfg.virtual_servers.append(vs)
    state = _State(vs)
    items = checked_block(ctx, VS_TABLE, 1, "vs", state)
    # each real_server block's items go to the server declared at its line (by a table:
    # a pool of 20 000 servers took 35 s when each looked through all the others)
    declared: dict[tuple[int, str], list[RealServer]] = {}
    for rs in vs.real_servers:
        declared.setdefault((rs.line, rs.file), []).append(rs)
    for item in items:
        if item.keyword == "real_server":
            for rs in declared.get((item.line, item.file), ()):
                rs.items = item.children
        else:
            vs.items.append(item)
    vs.end_line = ctx.cur.line


# the top-level keyword: the handler reads the whole block itself
KEYWORD = Kw(_virtual_server)

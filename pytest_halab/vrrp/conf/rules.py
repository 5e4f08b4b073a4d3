"""A rule line of ``static_rules`` or ``virtual_rules``, read as keepalived 2.2.7 reads
one (vrrp_iprule.c: alloc_rule, inet_proto_a2n), with its messages.

The syntax is ``ip rule``'s: ``[not] [from PREFIX] [to PREFIX] [tos T] [fwmark M[/MASK]]
[iif IF] [oif IF] [priority N] [uidrange A-B] [ipproto P] [sport A-B] [dport A-B]
[table T | goto N | nop | blackhole | unreachable | prohibit | l3mdev] [realms R]
[suppress_prefixlength N] [suppress_ifgroup G]``, with keepalived's ``no_track`` and
(static rules only) ``track_group``. A rule without a preference gets the next one of
keepalived's own (16384 counting down, per family), with a complaint that counts as an
error for ``-t``.
"""

from __future__ import annotations

import socket

from .addresses import inet_family, parse_route_dest
from .context import ParseContext
from .lexer import Line
from .model import Rule
from .routes import RTPROT_KEEPALIVED
from .values import WHITE_SPACE, strtoul

__all__ = [
    "FR_ACT_BLACKHOLE",
    "FR_ACT_GOTO",
    "FR_ACT_NOP",
    "FR_ACT_PROHIBIT",
    "FR_ACT_TO_TBL",
    "FR_ACT_UNREACHABLE",
    "alloc_rule",
]

FR_ACT_TO_TBL = 1
FR_ACT_GOTO = 2
FR_ACT_NOP = 3
FR_ACT_BLACKHOLE = 6
FR_ACT_UNREACHABLE = 7
FR_ACT_PROHIBIT = 8
# route types (RTN_*) that name a rule action
_TYPE_ACTIONS = {6: FR_ACT_BLACKHOLE, 7: FR_ACT_UNREACHABLE, 8: FR_ACT_PROHIBIT}
UINT32_MAX = 0xFFFFFFFF


class _Failed(Exception):
    """keepalived's ``goto err``: the line is dropped (already reported)."""


class _RuleReader:
    def __init__(self, ctx: ParseContext, item: Line, static: bool) -> None:
        self.ctx = ctx
        self.item = item
        self.words = item.words
        self.static = static
        self.rule = Rule(words=list(item.words), line=item.line, file=item.file)
        self.family = 0
        self.priority_set = False
        self.table_option = False

    def slot(self, index: int) -> str:
        return self.ctx.arg(self.item, index)

    def say(self, message: str) -> None:
        self.ctx.say("general", message)

    def fail(self, message: str) -> _Failed:
        self.say(message)
        return _Failed()

    def read(self) -> Rule | None:
        try:
            return self._read()
        except _Failed:
            return None

    def _set_action(self, action: int, message: str) -> None:
        if self.rule.action:
            raise self.fail(message)
        self.rule.action = action

    def _address(self, word: str, text: str) -> tuple[str, int]:
        dest = parse_route_dest(self.ctx, text)
        if dest is None:
            raise self.fail(f"Invalid rule {word} address {text}")
        addr, plen, family = dest
        if not self.family:
            self.family = family
        elif family != self.family:
            raise self.fail("rule specification has mixed IPv4 and IPv6")
        return (str(addr) if addr is not None else "", plen)

    def _read(self) -> Rule:
        rule, words = self.rule, self.words
        ctx = self.ctx
        i = 0
        while i < len(words):
            word = words[i]
            if word in ("inet6", "inet"):
                self.family, error = inet_family(word, self.family, "rule")
                if error is not None:
                    raise self.fail(error)
                i += 1  # keepalived skips this word here, and the next one below
            elif word == "from":
                i += 1
                rule.src = self._address(word, self.slot(i))
            elif word == "to":
                i += 1
                rule.dst = self._address(word, self.slot(i))
            elif word in ("table", "lookup"):
                i += 1
                table = ctx.rt.table(self.slot(i))
                if table is None:
                    raise self.fail(f"Routing table {self.slot(i)} not found for rule")
                if table == 0:
                    raise self.fail("Table 0 is not valid")
                rule.table = table
                self._set_action(
                    FR_ACT_TO_TBL,
                    "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable"
                    " for rule",
                )
            elif word == "not":
                rule.invert = True
            elif word in ("preference", "order", "priority"):
                i += 1
                value = ctx.num_each.uint(self.slot(i), 0, UINT32_MAX, base=0)
                if value is None:
                    raise self.fail(f"Invalid rule preference {word} specified")
                rule.priority = value
                self.priority_set = True
            elif word in ("tos", "dsfield"):
                i += 1
                tos = ctx.rt.dsfield(self.slot(i))
                if tos is None:
                    raise self.fail(f"TOS value {self.slot(i)} is invalid")
                rule.tos = tos
            elif word == "fwmark":
                i += 1
                text = self.slot(i).lstrip(WHITE_SPACE)
                mark = _fwmark(text)
                if mark is None:
                    raise self.fail(f"Invalid rule fwmark {text} specified")
                rule.fwmark, rule.fwmask = mark
            elif word == "realms":
                i += 1
                realms = ctx.rt.realms(self.slot(i))
                if realms is None:
                    raise self.fail(f"invalid realms {self.slot(i)} for rule")
                rule.realms = realms
                self.table_option = True
                if not self.family:
                    self.family = 4
                elif self.family != 4:
                    raise self.fail("realms is only valid for IPv4")
            elif word in ("suppress_prefixlength", "sup_pl"):
                i += 1
                value = ctx.num_each.uint(self.slot(i), 0, 0x7FFFFFFF)
                if value is None:
                    raise self.fail(f"Invalid suppress_prefixlength {word} specified")
                rule.suppress_prefixlen = value
                self.table_option = True
            elif word in ("suppress_ifgroup", "sup_group"):
                i += 1
                group = ctx.rt.group(self.slot(i))
                if group is None:
                    raise self.fail(f"suppress_group {self.slot(i)} is invalid")
                rule.suppress_group = group
                self.table_option = True
            elif word in ("dev", "iif", "oif"):
                i += 1
                name = self.slot(i)
                if not ctx.interface_exists(name):
                    raise self.fail(f"WARNING - interface {name} for rule doesn't exist")
                if word == "oif":
                    rule.oif = name
                else:
                    rule.iif = name
            elif word == "tunnel-id":
                i += 1
                value = ctx.num_each.uint64(self.slot(i), 0, 2**64 - 1)
                if value is None:
                    raise self.fail(f"Invalid tunnel-id {word} specified")
                rule.tunnel_id = value
            elif word == "uidrange":
                i += 1
                count, first, last = _scan_range(self.slot(i), 0xFFFFFFFF)
                if count != 2:
                    raise self.fail(f"Invalid uidrange {word} specified")
                rule.uid_range = (first, last)
            elif word == "l3mdev":
                rule.l3mdev = True
                self._set_action(FR_ACT_TO_TBL, "Cannot specify l3mdev with other action")
            elif word == "protocol":
                i += 1
                value = ctx.num_each.uint(self.slot(i), 0, 255)
                if value is None:
                    self.say(f"Invalid protocol {self.slot(i)}")
                else:
                    rule.protocol = value
            elif word == "ipproto":
                i += 1
                proto = _inet_proto(self.slot(i))
                if proto is None:
                    self.say(f"Invalid ipproto {self.slot(i)}")
                else:
                    rule.ip_proto = proto
            elif word in ("sport", "dport"):
                i += 1
                count, first, last = _scan_range(self.slot(i), 0xFFFF)
                if count != 2:
                    self.say(f"invalid {word} range {self.slot(i)}")
                elif word == "sport":
                    rule.sport = (first, last)
                else:
                    rule.dport = (first, last)
            elif word == "no_track":
                rule.no_track = True
            elif self.static and word == "track_group":
                i += 1
                name = self.slot(i)
                if rule.track_group is not None:
                    self.say(f"track_group {name} is a duplicate")
                    break
                if name in ctx.cfg.track_groups:
                    rule.track_group = name
                else:
                    self.say(f"track_group {name} not found")
            else:
                i = self._action(i, word)
            i += 1
        return self._finish()

    def _action(self, i: int, word: str) -> int:
        """``[type] goto N | nop | blackhole | unreachable | prohibit``."""
        if word == "type":
            i += 1
            word = self.slot(i)
        if word == "goto":
            i += 1
            target = self.ctx.num_each.uint(self.slot(i), 0, UINT32_MAX)
            if target is None:
                raise self.fail(f"Invalid target {word} specified")
            self.rule.goto = target
            action = FR_ACT_GOTO
        elif word == "nop":
            action = FR_ACT_NOP
        else:
            kind = self.ctx.rt.rtntype(word)
            if kind is None:
                raise self.fail(f"Unknown rule option {word}")
            if kind not in _TYPE_ACTIONS:
                raise self.fail(f"Invalid rule action {word}")
            action = _TYPE_ACTIONS[kind]
        self._set_action(
            action,
            "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable/l3mdev"
            " for rule",
        )
        return i

    def _finish(self) -> Rule:
        rule = self.rule
        if rule.action == FR_ACT_GOTO:
            assert rule.goto is not None
            if not self.priority_set:
                raise self.fail(
                    f"Invalid rule - goto target {rule.goto} specified without preference"
                )
            if rule.priority >= rule.goto:
                raise self.fail(
                    f"Invalid rule - preference {rule.priority} >= goto target {rule.goto}"
                )
        if not rule.action:
            raise self.fail("No action specified for rule - ignoring")
        if rule.action != FR_ACT_TO_TBL and self.table_option:
            raise self.fail("suppressor/realm specified for non table action - skipping")
        if rule.table and rule.l3mdev:
            raise self.fail("table cannot be specified for l3mdev rules")
        if not rule.no_track:
            if rule.protocol is not None and rule.protocol != RTPROT_KEEPALIVED:
                self.say(
                    "Rule cannot be tracked if protocol is not"
                    f" RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), resetting protocol"
                )
            rule.protocol = RTPROT_KEEPALIVED
        if rule.track_group is not None and rule.iif is None:
            self.say("Static rule cannot have track_group if dev/iif not specified")
            rule.track_group = None
        rule.family = self.family or 4
        zero = "::" if rule.family == 6 else "0.0.0.0"
        if rule.src is not None and not rule.src[0]:
            rule.src = (zero, rule.src[1])
        if rule.dst is not None and not rule.dst[0]:
            rule.dst = (zero, rule.dst[1])
        if not self.priority_set:
            rule.priority = self.ctx.next_rule_priority[rule.family]
            self.ctx.next_rule_priority[rule.family] -= 1
            self.say(
                f"Rule has no preference specified - setting to {rule.priority}."
                " This is probably not what you want."
            )
        return rule


def _fwmark(text: str) -> tuple[int, int | None] | None:
    """``MARK[/MASK]`` as keepalived reads it (C's strtoul, base 0); None if invalid."""
    if text.startswith("-"):
        return None
    mark, end, _ = strtoul(text, 0)
    if mark > UINT32_MAX:
        return None
    mask: int | None = None
    if text[end : end + 1] == "/":
        rest = text[end + 1 :]
        if rest[:1] and rest[0] in WHITE_SPACE + "-":
            return None
        mask, used, _ = strtoul(rest, 0)
        if mask > UINT32_MAX:
            return None
        end += 1 + used
    if end != len(text):
        return None
    return mark, mask


def _scan_range(text: str, bits: int) -> tuple[int, int, int]:
    """C's ``sscanf(text, "%u-%u")`` (``%hu`` for 16 bits): (conversions, first, last)."""
    first, end, _ = strtoul(text, 10)
    if not end:
        return 0, 0, 0
    rest = text[end:]
    if not rest.startswith("-"):
        return 1, first & bits, 0
    last, used, _ = strtoul(rest[1:], 10)
    if not used:
        return 1, first & bits, 0
    return 2, first & bits, last & bits


def _inet_proto(text: str) -> int | None:
    """keepalived's inet_proto_a2n(): a number up to 127, or a name from /etc/protocols."""
    text = text.lstrip(WHITE_SPACE)
    if not text or text.startswith("-"):
        return None
    number, end, _ = strtoul(text, 10)
    if number > 127:
        return None
    if end == len(text):
        return number
    try:
        proto = socket.getprotobyname(text)
    except (OSError, ValueError, UnicodeError):
        return None
    return proto if 0 <= proto <= 255 else None


def alloc_rule(ctx: ParseContext, item: Line, *, static: bool) -> Rule | None:
    """One rule line; None (reported) when keepalived drops it.

    `static`: a ``static_rules`` line (``track_group`` allowed)."""
    ctx.cur = item
    return _RuleReader(ctx, item, static).read()

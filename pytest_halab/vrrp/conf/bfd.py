"""BFD configuration: the ``bfd_instance NAME { ... }`` block as each of keepalived
2.2.7's processes reads it, and the ``track_bfd { NAME [weight W [reverse]] }`` blocks
of vrrp_instance and vrrp_sync_group that refer to it.

keepalived reads a bfd_instance block three times, each process with its own keywords
(bfd/bfd_parser.c, init_bfd_keywords):

- its BFD process checks the session: neighbor and source addresses, timers, multiplier,
  ttl and max_hops; at the block's end it drops a session without neighbor, with
  addresses of two families or already configured for the same addresses;
- its VRRP process keeps the name, with the ``weight [reverse]`` that track_bfd entries
  default to; ``track_bfd`` then names one kept earlier in the file;
- its checker process keeps the name, for a real server's ``BFD_CHECK { name NAME }``.

``vrrp`` or ``checker`` in the block sends the session's events only to that process:
the other one forgets the name. The reads differ where a process refuses the block (a
name too long, a name seen before) or stops reading it (a malformed neighbor).

halab-vrrpd runs no BFD session: a tracked BFD is checked as keepalived checks it and
then has no effect on an instance's priority or state (keepalived's would).

With ``-t``, keepalived's checker reads the file first, then its VRRP process, then its
BFD process. Here the block is read as the checker and the VRRP process read it while
the configuration is parsed, and as the BFD process reads it aside: what that process
says is added after the parse (`finish`), unless the VRRP process stopped first.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import ClassVar

from .context import Kw, MissingParameter, ParseContext
from .diagnostics import Diagnostics
from .lexer import Line
from .model import BfdInstance, TrackBfd

__all__ = [
    "BFD_INAME_MAX",
    "KEYWORD",
    "BfdViews",
    "checker_knows",
    "finish",
    "track_bfd",
]

# keepalived's bfd.h: a name has fewer than BFD_INAME_MAX bytes; intervals in ms
BFD_INAME_MAX = 32
BFD_MINRX_MIN = 1
BFD_MINTX_MIN = 1
BFD_IDLETX_MIN = 1000
BFD_INTERVAL_MAX = (2**32 - 1) // 1000
BFD_INTERVAL_MAX_SENSIBLE = 10000
BFD_MULTIPLIER_MIN = 1
BFD_MULTIPLIER_MAX = 255
BFD_WEIGHT_MIN = -253
BFD_WEIGHT_MAX = 253
BFD_TTL_MAX = 255
BFD_CONTROL_TTL = 255  # IPv4's default ttl
BFD_CONTROL_HOPLIMIT = 64  # IPv6's default hop limit

# An address as keepalived's sockaddr_t holds it: (family, packed address).
Address = tuple[int, bytes]


def _address(text: str) -> Address | None:
    """keepalived's inet_stosockaddr(): IPv6 when the text has a ``:``; what follows a
    ``-`` (or else a ``/``) is dropped; then inet_pton()."""
    family = socket.AF_INET6 if ":" in text else socket.AF_INET
    cut = text.find("-")
    if cut < 0:
        cut = text.find("/")
    try:
        return family, socket.inet_pton(family, text if cut < 0 else text[:cut])
    except (OSError, ValueError):  # UnicodeError is a ValueError
        return None


def _text(addr: Address) -> str:
    """inet_sockaddrtos()."""
    return socket.inet_ntop(*addr)


def _size(name: str) -> int:
    """strlen(): the name's bytes as the file has them."""
    return len(name.encode("utf-8", "surrogateescape"))


# -- one process's reading of a block

# the keywords of the block: every process knows them all, and acts on some
_KEYWORDS = frozenset(
    (
        "source_ip",
        "neighbor_ip",
        "neighbour_ip",
        "min_rx",
        "min_tx",
        "idle_tx",
        "multiplier",
        "passive",
        "ttl",
        "hoplimit",
        "max_hops",
        "weight",
        "vrrp",
        "checker",
    )
)


class _View:
    """What one of keepalived's processes does with bfd_instance blocks: the keywords it
    acts on (`HANDLERS`: keyword -> method), the start of a block (False: refused,
    keepalived's skip_block(true)) and its end (the sublevel end handler). (Methods are
    named, not bound, in the table: a parse makes no reference cycle.)"""

    HANDLERS: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        # ``vrrp`` / ``checker`` seen in the block (keepalived's specified_event_processes)
        self.events: set[str] = set()
        # a handler asked to skip the rest of the block (skip_block(false))
        self.skip_rest = False

    def start(self, ctx: ParseContext, name: str) -> bool:
        raise NotImplementedError

    def end(self, ctx: ParseContext) -> None:
        raise NotImplementedError

    def read(self, ctx: ParseContext, line: Line, name: str) -> None:
        """The block of ``bfd_instance NAME`` (`line`), as keepalived's process_stream()
        reads a block level: a refused block, or the rest of one after skip_block(false),
        is skipped (ParseContext.skip_block), and then has no end handler."""
        ctx.cur = line
        if not self.start(ctx, name) and ctx.next_opens_block():
            ctx.skip_block()
            return
        # with no block after a refused keyword, nothing is skipped: the lines are read
        # as its block (keepalived's handlers then act on the block read before, if any)
        self.skip_rest = False
        for item in ctx.block_lines():
            word = item.words[0]
            if word not in _KEYWORDS:
                ctx.report("unknown_keyword", f"Unknown keyword '{word}'")
            elif word in ("vrrp", "checker"):
                self.events.add(word)
            elif word in self.HANDLERS:
                getattr(self, self.HANDLERS[word])(ctx, item)
                if self.skip_rest:
                    self.skip_rest = False
                    ctx.skip_block(inside=True)
                    return
        self.end(ctx)


# -- the BFD process


@dataclass(eq=False)
class _Session:
    """A BFD session being configured (keepalived's bfd_t), what its checks need."""

    name: str
    neighbor: Address | None = None
    source: Address | None = None
    ttl: int = 0
    max_hops: int = 0


class _BfdProcess(_View):
    """keepalived's BFD process: bfd_parser.c's handlers and bfd_end_handler()."""

    HANDLERS: ClassVar[dict[str, str]] = {
        "neighbor_ip": "_neighbor",
        "neighbour_ip": "_neighbor",
        "source_ip": "_source",
        "min_rx": "_interval",
        "min_tx": "_interval",
        "idle_tx": "_interval",
        "multiplier": "_multiplier",
        "ttl": "_ttl",
        "hoplimit": "_ttl",
        "max_hops": "_max_hops",
    }
    # the interval keywords' minimum (ms)
    INTERVAL_MIN: ClassVar[dict[str, int]] = {
        "min_rx": BFD_MINRX_MIN,
        "min_tx": BFD_MINTX_MIN,
        "idle_tx": BFD_IDLETX_MIN,
    }

    def __init__(self) -> None:
        super().__init__()
        # the sessions configured, in order (keepalived's list), and the names of those
        # with each neighbor, and each neighbor and source (for its duplicate check,
        # without a walk through them all)
        self.sessions: dict[str, _Session] = {}
        self.by_neighbor: dict[Address, set[str]] = {}
        self.by_pair: dict[tuple[Address, Address | None], set[str]] = {}
        # how its messages name the neighbor: a static that becomes "neighbour" for good
        # once a neighbor_ip/neighbour_ip line's *value* is the word neighbour_ip (2.2.7
        # compares the value where it meant the keyword)
        self.neighbor = "neighbor"
        # what it says, added after the parse; stopped: it exited (a missing parameter)
        self.said = Diagnostics()
        self.stopped = False

    def start(self, ctx: ParseContext, name: str) -> bool:
        """alloc_bfd()."""
        if _size(name) >= BFD_INAME_MAX:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {name} name too long (maximum length is"
                f" {BFD_INAME_MAX - 1} characters) - ignoring",
            )
            return False
        if name in self.sessions:
            ctx.report(
                "general", f"Configuration error: BFD instance {name} already configured - ignoring"
            )
            return False
        self.sessions[name] = _Session(name)
        self.events = set()
        return True

    def _last(self) -> _Session | None:
        # keepalived's handlers act on the last session of its list
        return next(reversed(self.sessions.values()), None)

    def _drop(self, session: _Session) -> None:
        """free_bfd()."""
        self._index(session, False)
        del self.sessions[session.name]

    def _index(self, session: _Session, add: bool) -> None:
        """Index the session by its addresses, or take it out before they change."""
        if session.neighbor is None:
            return
        names = self.by_neighbor.setdefault(session.neighbor, set())
        pair = self.by_pair.setdefault((session.neighbor, session.source), set())
        for index in (names, pair):
            if add:
                index.add(session.name)
            else:
                index.discard(session.name)

    def _neighbor(self, ctx: ParseContext, line: Line) -> None:
        # (keepalived 2.2.7 dies of a NULL pointer on a neighbor_ip without a value; here
        # it misses its parameter as its other keywords do)
        text = ctx.arg(line, 1)
        session = self._last()
        if session is None:
            return
        if text == "neighbour_ip":
            self.neighbor = "neighbour"
        addr = _address(text)
        if addr is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {session.name} has malformed"
                f" {self.neighbor} address {text}, ignoring instance",
            )
            self._drop(session)
            self.skip_rest = True
            return
        self._index(session, False)
        session.neighbor = addr
        self._index(session, True)

    def _source(self, ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        session = self._last()
        if session is None:
            return
        addr = _address(text)
        if addr is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {session.name} has malformed source"
                f" address {text}, ignoring",
            )
            return
        self._index(session, False)
        session.source = addr
        self._index(session, True)

    def _interval(self, ctx: ParseContext, line: Line) -> None:
        """min_rx, min_tx, idle_tx: milliseconds with up to 3 decimals. Above 10000 ms
        keepalived only logs that the value is larger than sensible (-t prints nothing)."""
        what = line.words[0]
        low = self.INTERVAL_MIN[what]
        text = ctx.arg(line, 1)
        session = self._last()
        if session is None:
            return
        value = ctx.num.decimal(text, low * 1000, BFD_INTERVAL_MAX * 1000, 3)
        if value is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {session.name} {what} value {text} is"
                f" not valid (must be in range [{low}-{BFD_INTERVAL_MAX}]), ignoring",
            )
        elif value > BFD_INTERVAL_MAX_SENSIBLE * 1000:
            ctx.report(
                "syslog",
                f"Configuration warning: BFD instance {session.name} {what} value {text} is"
                f" larger than max sensible ({BFD_INTERVAL_MAX_SENSIBLE})",
            )

    def _multiplier(self, ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        session = self._last()
        if session is None:
            return
        if ctx.num.uint(text, BFD_MULTIPLIER_MIN, BFD_MULTIPLIER_MAX) is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {session.name} multiplier value {text} not"
                f" valid (must be in range [{BFD_MULTIPLIER_MIN}-{BFD_MULTIPLIER_MAX}]),"
                " ignoring",
            )

    def _ttl(self, ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        session = self._last()
        if session is None:
            return
        value = ctx.num.uint(text, 1, BFD_TTL_MAX)
        if value is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {session.name} ttl/hoplimit value {text}"
                f" not valid (must be in range [1-{BFD_TTL_MAX}]), ignoring",
            )
            return
        session.ttl = value

    def _max_hops(self, ctx: ParseContext, line: Line) -> None:
        text = ctx.arg(line, 1)
        session = self._last()
        if session is None:
            return
        value, _ = ctx.num.integer(text, -1, BFD_TTL_MAX)
        if value is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {session.name} max_hops value {text} not"
                f" valid (must be in range [-1-{BFD_TTL_MAX}]), ignoring",
            )
            return
        session.max_hops = value

    def end(self, ctx: ParseContext) -> None:
        """bfd_end_handler(): the checks of the whole session, at the block's ``}``."""
        session = self._last()
        if session is None:
            return
        name, nbr, src = session.name, session.neighbor, session.source
        if nbr is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {name} has no {self.neighbor} address set,"
                " disabling instance",
            )
            self._drop(session)
            return
        if src is not None and src[0] != nbr[0]:
            # keepalived formats both addresses in one static buffer: the source's, the
            # last formatted, is printed twice
            shown = _text(src)
            ctx.report(
                "general",
                f"Configuration error: BFD instance {name} source address {shown} and"
                f" {self.neighbor} address {shown} are not of the same family, disabling"
                " instance",
            )
            self._drop(session)
            return
        if self._duplicate(session, nbr, src):
            if src is not None:
                message = f"has duplicate source/{self.neighbor} address {_text(src)}/{_text(nbr)}"
            else:
                message = f"has duplicate {self.neighbor} address {_text(nbr)}"
            ctx.report(
                "general", f"Configuration error: BFD instance {name} {message}, ignoring instance"
            )
            self._drop(session)
            return
        if not session.ttl:
            session.ttl = BFD_CONTROL_TTL if nbr[0] == socket.AF_INET else BFD_CONTROL_HOPLIMIT
        if session.max_hops > session.ttl:
            ctx.report(
                "general",
                f"BFD instance {name}: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit",
            )
            session.max_hops = session.ttl

    def _duplicate(self, session: _Session, nbr: Address, src: Address | None) -> bool:
        """find_bfd_by_addr(): another session with this neighbor, unless both have a
        source and they differ."""

        def others(names: set[str]) -> bool:
            return len(names) > (session.name in names)

        if src is None:
            return others(self.by_neighbor.get(nbr, set()))
        return others(self.by_pair.get((nbr, None), set())) or others(
            self.by_pair.get((nbr, src), set())
        )


# -- the VRRP process


class _VrrpProcess(_View):
    """keepalived's VRRP process: the names it keeps (vrrp_tracked_bfd_t), in
    ``cfg.bfd_instances``, with their weight."""

    HANDLERS: ClassVar[dict[str, str]] = {"weight": "_weight"}

    def start(self, ctx: ParseContext, name: str) -> bool:
        """bfd_vrrp_handler() / alloc_vrrp_tracked_bfd()."""
        self.events = set()
        if _size(name) >= BFD_INAME_MAX:
            ctx.report("general", f"BFD name {name} too long")
            return False
        if name in ctx.cfg.bfd_instances:
            ctx.report("general", f"BFD {name} already specified")
            return False
        line = ctx.cur
        ctx.cfg.bfd_instances[name] = BfdInstance(name=name, line=line.line, file=line.file)
        return True

    @staticmethod
    def _last(ctx: ParseContext) -> BfdInstance | None:
        return next(reversed(ctx.cfg.bfd_instances.values()), None)

    def _weight(self, ctx: ParseContext, line: Line) -> None:
        """``weight W [reverse]``: what the instance's trackers default to."""
        text = ctx.arg(line, 1)
        bfd = self._last(ctx)
        if bfd is None:
            return
        value, _ = ctx.num.integer(text, BFD_WEIGHT_MIN, BFD_WEIGHT_MAX)
        if value is None:
            ctx.report(
                "general",
                f"Configuration error: BFD instance {bfd.name} weight value {text} not valid"
                f" (must be in range [{BFD_WEIGHT_MIN}-{BFD_WEIGHT_MAX}]), ignoring",
            )
        else:
            bfd.weight = value
        if len(line.words) >= 3:
            if line.words[2] == "reverse":
                bfd.weight_reverse = True
            else:
                ctx.report(
                    "general",
                    f"Configuration error: BFD instance {bfd.name} unknown weight option"
                    f" {line.words[2]}",
                )

    def end(self, ctx: ParseContext) -> None:
        """bfd_vrrp_end_handler(): events for the checker only, the name is forgotten."""
        bfd = self._last(ctx)
        if bfd is not None and self.events and "vrrp" not in self.events:
            del ctx.cfg.bfd_instances[bfd.name]


# -- the checker process


class _CheckerProcess(_View):
    """keepalived's checker process: the names a BFD_CHECK may name."""

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, None] = {}  # in order: the last is the block's

    def start(self, ctx: ParseContext, name: str) -> bool:
        """bfd_checker_handler() (it has no limit on the name's length)."""
        if name in self.names:
            ctx.report("general", f"BFD {name} already specified")
            return False
        self.names[name] = None
        self.events = set()
        return True

    def end(self, ctx: ParseContext) -> None:
        """bfd_checker_end_handler(): events for the VRRP process only."""
        if self.names and self.events and "checker" not in self.events:
            self.names.popitem()


@dataclass
class BfdViews:
    """What keepalived's processes have read of bfd_instance blocks so far."""

    checker: _CheckerProcess = field(default_factory=_CheckerProcess)
    bfd: _BfdProcess = field(default_factory=_BfdProcess)
    vrrp: _VrrpProcess = field(default_factory=_VrrpProcess)


def _views(ctx: ParseContext) -> BfdViews:
    if ctx.bfd is None:
        ctx.bfd = BfdViews()
    return ctx.bfd


def _bfd_instance(ctx: ParseContext, line: Line) -> None:
    """``bfd_instance NAME { ... }``, read as the checker, the BFD process (aside) and the
    VRRP process read it; the parse goes on where the VRRP process does.

    keepalived 2.2.7's checker and BFD processes die of a NULL pointer on a
    bfd_instance without a name; here, as its VRRP process would say, it misses its
    parameter."""
    name = ctx.arg(line, 1)
    views = _views(ctx)
    start = ctx.pos
    views.checker.read(ctx, line, name)
    if not views.bfd.stopped:
        ctx.pos = start
        diags, ctx.diags = ctx.diags, views.bfd.said
        try:
            views.bfd.read(ctx, line, name)
        except MissingParameter:
            views.bfd.stopped = True
        finally:
            ctx.diags = diags
    ctx.pos = start
    views.vrrp.read(ctx, line, name)


def finish(ctx: ParseContext) -> None:
    """After the parse: what keepalived's BFD process said (it reads the file last; a
    missing parameter there gives exit status 2, after everything the others said)."""
    if ctx.bfd is None:
        return
    for d in ctx.bfd.bfd.said.items:
        ctx.diags.add_again(d)


def checker_knows(ctx: ParseContext, name: str) -> bool:
    """Whether keepalived's checker has a bfd_instance of this name (read so far)."""
    return ctx.bfd is not None and name in ctx.bfd.checker.names


def track_bfd(ctx: ParseContext, line: Line, owner: str, tracked: list[TrackBfd]) -> None:
    """A ``track_bfd { NAME [weight W [reverse|noreverse]] ... }`` block of the instance
    or sync group `owner` (keepalived's alloc_track_bfd()): each entry names a
    bfd_instance the VRRP process kept earlier in the file."""
    for item in ctx.value_block(line):
        ctx.cur = item
        words = item.words
        name = words[0]
        bfd = ctx.cfg.bfd_instances.get(name)
        if bfd is None:
            ctx.report("general", f"({owner}) track bfd {name} not found, ignoring...")
            continue
        if any(t.name == name for t in tracked):
            ctx.report("general", f"({owner}) duplicate track_bfd {name} - ignoring")
            continue
        weight, reverse = bfd.weight, bfd.weight_reverse
        if len(words) >= 2:
            if words[1] != "weight":
                ctx.report(
                    "general", f"({owner}) unknown track bfd {name} option {words[1]} - ignoring"
                )
                continue
            if len(words) == 2:
                ctx.report(
                    "general",
                    f"({owner}) weight without value specified for track bfd {name} - ignoring",
                )
                continue
            value, _ = ctx.num.integer(words[2], BFD_WEIGHT_MIN, BFD_WEIGHT_MAX)
            if value is None:
                ctx.report(
                    "general",
                    f"({owner}) weight for track bfd {name} must be in [-253..253] inclusive."
                    " Ignoring...",
                )
            else:
                weight = value
            if len(words) >= 4:
                if words[3] not in ("reverse", "noreverse"):
                    ctx.report(
                        "general",
                        f"({owner}) unknown track bfd {name} weight option {words[3]} - ignoring",
                    )
                    continue
                reverse = words[3] == "reverse"
        tracked.append(TrackBfd(name, weight, reverse, item.line))


# the top-level keyword: the handler reads the whole block itself
KEYWORD = Kw(_bfd_instance)

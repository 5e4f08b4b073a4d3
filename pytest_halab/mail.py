"""The lab's mail: what its mail node's SMTP server received, as :class:`Mail` objects.

A topology's node of role ``mail`` runs ``halab-smtpd`` (the ``halab/mail`` image: Debian's
python3-aiosmtpd), which balancers reach as ``smtp_server {{ mail.ip }}``. It keeps every
message in a JSON-lines mailbox in the node (:data:`MAILBOX`), each line stamped with the
wall-clock time its DATA ended (microseconds, like every lab event) and carrying the SMTP
envelope (peer address, HELO name, sender, recipients) and the message text as it came.

The observation reads the mailbox into the timeline as ``mail`` events (one per message, an
event of the node that sent it: :func:`sender_event`);
``Scenario.mail()`` turns those into :class:`Mail` (``from_``, ``to``, ``subject``,
``body``, ``received_at``, and ``sender_node``: the lab node the message came from). Pure:
no Docker here; the lab runs :func:`ensure_running_cmd` and :data:`READY_CMD` in the node.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .timeline import Event, EventKind
from .vrrp.smtpalert import subject_word

__all__ = [
    "MAILBOX",
    "PORT",
    "READY_CMD",
    "STAMP_SLACK_S",
    "Mail",
    "MailMatch",
    "ensure_running_cmd",
    "mails",
    "match_transitions",
    "sender_event",
]

PORT = 25
MAILBOX = "/var/log/halab/mailbox.jsonl"
PIDFILE = "/run/halab/smtpd.pid"
READY_FILE = "/run/halab/smtpd.ready"
START = "/etc/halab/services.d/10-smtpd start"
READY_CMD = f"test -e {READY_FILE}"  # in the mail node: the server listens
_ALIVE = f'p=$(cat {PIDFILE} 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null'


def ensure_running_cmd() -> str:
    """A shell command for the mail node: start the SMTP server unless it runs (a test
    stopped it), then wait for it to listen (bounded)."""
    return f"{_ALIVE} || {START}; timeout 10 sh -c 'until {READY_CMD}; do sleep 0.05; done'"


def stop_cmd() -> str:
    """A shell command for the mail node: stop the SMTP server (SIGTERM, then SIGKILL)."""
    return (
        f'p=$(cat {PIDFILE} 2>/dev/null); [ -n "$p" ] || exit 0; kill -TERM "$p" 2>/dev/null; '
        f'for i in $(seq 50); do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.05; done; '
        f'kill -KILL "$p" 2>/dev/null; true'
    )


_ADDR = re.compile(r"<([^<>]*)>|([^\s,<>]+@[^\s,<>]+)")


def _addresses(header: str | None) -> tuple[str, ...]:
    """The addresses of a From/To header (``a@x, b@y``, ``Name <a@x>``), in order."""
    if not header:
        return ()
    return tuple(m.group(1) or m.group(2) for m in _ADDR.finditer(header))


@dataclass(frozen=True)
class Mail:
    """One message the lab's SMTP server received.

    ``from_`` and ``to`` are the message's From and To headers (addresses), ``subject`` its
    Subject, ``body`` its text without the trailing line ends; ``envelope_from`` and
    ``envelope_to`` what the SMTP dialogue said (MAIL FROM, RCPT TO). ``received_at``: when
    the server had the whole message (epoch seconds, microseconds). ``sender_node``: the lab
    node whose address the connection came from (None if no node has it)."""

    received_at: float
    from_: str
    to: tuple[str, ...]
    subject: str
    body: str
    envelope_from: str
    envelope_to: tuple[str, ...]
    peer: str | None
    helo: str | None
    sender_node: str | None
    mail_node: str
    headers: tuple[tuple[str, str], ...]
    raw: str

    def header(self, name: str) -> str | None:
        """The first header of that name (any case), or None."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    @classmethod
    def from_event(cls, ev: Event, node_of_ip: Mapping[str, str] | None = None) -> Mail:
        """A ``mail`` event of the timeline as a Mail; ``node_of_ip`` names the sender of
        an event read straight from the mailbox (:func:`sender_event` has named it)."""
        if ev.kind != EventKind.MAIL:
            raise ValueError(f"not a mail event: {ev.kind}")
        raw = str(ev.get("message") or "")
        msg = _parse(raw)
        payload = msg.get_payload()
        body = payload if isinstance(payload, str) else ""
        peer = ev.get("peer")
        named = ev.get("sender_node")
        sender = named if isinstance(named, str) else None
        if sender is None and peer:
            sender = (node_of_ip or {}).get(peer)
        return cls(
            received_at=ev.ts,
            from_=next(iter(_addresses(msg.get("From"))), msg.get("From") or ""),
            to=_addresses(msg.get("To")),
            subject=(msg.get("Subject") or "").strip(),
            body=body.replace("\r\n", "\n").strip("\n"),
            envelope_from=str(ev.get("mail_from") or ""),
            envelope_to=tuple(str(a) for a in ev.get("rcpt_tos") or ()),
            peer=peer,
            helo=ev.get("helo"),
            sender_node=sender,
            mail_node=str(ev.get("mail_node") or ev.node),
            headers=tuple((k, str(v)) for k, v in msg.items()),
            raw=raw,
        )

    def summary(self) -> str:
        who = self.sender_node or self.peer or "?"
        return f"{self.received_at:.6f} {who} -> {', '.join(self.to)}: {self.subject}"


def _parse(raw: str) -> email.message.Message:
    return email.parser.Parser(policy=email.policy.compat32).parsestr(raw)


def sender_event(ev: Event, node_of_ip: Mapping[str, str]) -> Event:
    """A mailbox line's event (of the mail node) as the timeline keeps it: an event of the
    node that sent the message (the mail node's own when the sender is not a lab node),
    with ``mail_node``, ``sender_node`` and the message's ``subject`` in its data, so that a
    balancer's row of the picture shows the mails it sent."""
    peer = ev.get("peer")
    sender = node_of_ip.get(peer) if isinstance(peer, str) else None
    subject = (_parse(str(ev.get("message") or "")).get("Subject") or "").strip()
    data = {**ev.data, "mail_node": ev.node, "sender_node": sender, "subject": subject}
    return Event(ts=ev.ts, node=sender or ev.node, kind=ev.kind, data=data)


def mails(events: Iterable[Event], node_of_ip: Mapping[str, str] | None = None) -> list[Mail]:
    """The ``mail`` events among ``events`` as Mail objects, in the order received."""
    out = [Mail.from_event(e, node_of_ip) for e in events if e.kind == EventKind.MAIL]
    return sorted(out, key=lambda m: m.received_at)


def expected_subject_tail(instance: str, state: str) -> str | None:
    """``VRRP Instance VI_1 - Entering MASTER state``: how the state-change mail of an
    instance entering ``state`` ends its subject (after ``[ROUTER_ID] ``)."""
    tail = subject_word(state)  # the daemon's own table: keepalived's words
    return None if tail is None else f"VRRP Instance {instance} - {tail}"


# How much earlier than its state change a mail may be received and still be its mail:
# keepalived's state changes reach the timeline through its notify FIFO, stamped by the
# reader in the node when it reads the line; keepalived wrote that line before it sent the
# mail, and on a busy machine a lab-local mail can be in before the line is read (a CI run
# from a fresh machine: 52 ms before, for lb1 entering MASTER as it preempted). A mail is
# still never paired across another state change of its instance on its node, and its
# subject names the state, so the slack can be generous.
STAMP_SLACK_S = 0.5


@dataclass(frozen=True)
class MailMatch:
    """A VRRP state change (a ``vrrp_state`` event) and the mail it brought, if any."""

    transition: Event
    mail: Mail | None

    @property
    def delay_s(self) -> float | None:
        """Transition to mail received (seconds, microsecond precision), None if no mail.
        Negative (by at most STAMP_SLACK_S) when the state change was stamped after the
        mail came in: keepalived's, stamped by its notify FIFO's reader."""
        if self.mail is None:
            return None
        return round(self.mail.received_at - self.transition.ts, 6)


def match_transitions(
    transitions: Iterable[Event], received: Iterable[Mail]
) -> tuple[list[MailMatch], list[Mail]]:
    """Pair each state change with its mail: the first mail not yet paired, from the same
    node, whose subject ends as that instance's entering that state, received after it
    (or at most STAMP_SLACK_S before it), and not before that node's previous state change
    of that instance. Returns the pairs (in the transitions' order; ``mail`` None where none
    came) and the mails left over (a mail no state change explains)."""
    left = sorted(received, key=lambda m: m.received_at)
    out = []
    previous: dict[tuple[str, str], float] = {}  # (node, instance) -> its last change
    for ev in sorted(transitions, key=lambda e: e.ts):
        instance = str(ev.get("instance"))
        tail = expected_subject_tail(instance, str(ev.get("state")))
        earliest = max(ev.ts - STAMP_SLACK_S, previous.get((ev.node, instance), -math.inf))
        previous[(ev.node, instance)] = ev.ts
        found = next(
            (
                m
                for m in left
                if tail is not None
                and m.sender_node == ev.node
                and m.subject.endswith(tail)
                and m.received_at >= earliest
            ),
            None,
        )
        if found is not None:
            left.remove(found)
        out.append(MailMatch(ev, found))
    return out, left

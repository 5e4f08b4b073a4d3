"""The mailbox as the plugin reads it: halab-smtpd's JSON lines -> timeline events -> Mail."""

from __future__ import annotations

import json

import pytest

from pytest_halab.mail import STAMP_SLACK_S, Mail, mails, match_transitions, sender_event
from pytest_halab.timeline import Event, EventKind

MESSAGE = (
    "Date: Wed, 02 Dec 2026 23:36:54 +0000\r\n"
    "From: Alexandre.Cassen@firewall.loc\r\n"
    "Subject: [LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state\r\n"
    "X-Mailer: Keepalived\r\n"
    "To: acassen@firewall.loc, failover@firewall.loc\r\n"
    "\r\n"
    "=> VRRP Instance is now owning VRRP VIPs <=\r\n"
    "\r\n"
)


def line(ts: float, peer: str = "10.0.0.10", message: str = MESSAGE) -> bytes:
    record = {
        "ts": ts,
        "kind": "mail",
        "peer": peer,
        "helo": "lb1",
        "mail_from": "Alexandre.Cassen@firewall.loc",
        "rcpt_tos": ["acassen@firewall.loc", "failover@firewall.loc"],
        "message": message,
    }
    return json.dumps(record).encode()


def test_a_mailbox_line_is_a_mail_event_and_a_mail() -> None:
    ev = Event.from_record(line(1796254614.226892), "mail")
    assert ev is not None and ev.kind == EventKind.MAIL and ev.node == "mail"
    m = Mail.from_event(ev, {"10.0.0.10": "lb1"})
    assert m.received_at == 1796254614.226892
    assert m.from_ == "Alexandre.Cassen@firewall.loc"
    assert m.to == ("acassen@firewall.loc", "failover@firewall.loc")
    assert m.subject == "[LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state"
    assert m.body == "=> VRRP Instance is now owning VRRP VIPs <="
    assert m.envelope_to == m.to and m.envelope_from == m.from_
    assert (m.sender_node, m.peer, m.helo, m.mail_node) == ("lb1", "10.0.0.10", "lb1", "mail")
    assert m.header("x-mailer") == "Keepalived" and m.header("Cc") is None


def test_a_peer_outside_the_lab_has_no_sender_node() -> None:
    ev = Event.from_record(line(1.0, peer="10.9.9.9"), "mail")
    assert ev is not None
    assert Mail.from_event(ev, {"10.0.0.10": "lb1"}).sender_node is None


def test_named_addresses_and_a_message_without_headers() -> None:
    msg = "From: Ops <ops@x.example>\r\nTo: A <a@x.example>, b@x.example\r\n\r\nhi\r\n"
    ev = Event.from_record(line(1.0, message=msg), "mail")
    assert ev is not None
    m = Mail.from_event(ev)
    assert (m.from_, m.to, m.subject, m.body) == (
        "ops@x.example",
        ("a@x.example", "b@x.example"),
        "",
        "hi",
    )


def test_mails_are_in_the_order_received_and_only_mail_events() -> None:
    evs = [Event.from_record(line(ts), "mail") for ts in (3.0, 1.0, 2.0)]
    other = Event(1.5, "lb1", EventKind.VRRP_STATE.value, {"state": "MASTER"})
    got = mails([*(e for e in evs if e is not None), other])
    assert [m.received_at for m in got] == [1.0, 2.0, 3.0]


def test_not_a_mail_event_is_refused() -> None:
    with pytest.raises(ValueError, match="not a mail event"):
        Mail.from_event(Event(1.0, "lb1", "vrrp_state", {}))


def mail_at(ts: float, node: str, subject: str) -> Mail:
    msg = f"From: a@x\r\nTo: b@x\r\nSubject: {subject}\r\n\r\nbody\r\n"
    ev = Event.from_record(line(ts, peer=f"ip-{node}", message=msg), "mail")
    assert ev is not None
    return Mail.from_event(ev, {f"ip-{node}": node})


def state(ts: float, node: str, st: str, instance: str = "VI_1") -> Event:
    return Event(ts, node, EventKind.VRRP_STATE.value, {"instance": instance, "state": st})


def test_each_transition_is_paired_with_its_own_mail() -> None:
    transitions = [
        state(10.0, "lb2", "MASTER"),
        state(20.0, "lb1", "BACKUP"),
        state(21.0, "lb1", "MASTER"),
    ]
    received = [
        mail_at(21.004, "lb1", "[R1] VRRP Instance VI_1 - Entering MASTER state"),
        mail_at(20.003, "lb1", "[R1] VRRP Instance VI_1 - Entering BACKUP state"),
        mail_at(10.002, "lb2", "[R2] VRRP Instance VI_1 - Entering MASTER state"),
        mail_at(30.0, "lb2", "[R2] VRRP Instance VI_1 - Entering BACKUP state"),  # unexplained
        mail_at(9.0, "lb1", "[R1] VRRP Instance VI_1 - Entering MASTER state"),  # before any
    ]
    pairs, left = match_transitions(transitions, received)
    assert [p.delay_s for p in pairs] == [0.002, 0.003, 0.004]
    assert sorted(m.received_at for m in left) == [9.0, 30.0]


def test_a_transition_without_its_mail_says_so() -> None:
    pairs, left = match_transitions(
        [state(10.0, "lb2", "MASTER"), state(11.0, "lb2", "INIT")],
        [mail_at(10.5, "lb1", "[R1] VRRP Instance VI_1 - Entering MASTER state")],
    )
    assert [p.mail for p in pairs] == [None, None] and [p.delay_s for p in pairs] == [None, None]
    assert len(left) == 1


def test_a_mail_in_before_its_late_stamped_state_change_is_still_its_own() -> None:
    """keepalived's state changes are stamped by its notify FIFO's reader: the mail (sent
    after the FIFO line was written) may be received first, by less than STAMP_SLACK_S."""
    transitions = [state(20.0, "lb1", "BACKUP"), state(21.0007, "lb1", "MASTER")]
    received = [
        mail_at(20.001, "lb1", "[R1] VRRP Instance VI_1 - Entering BACKUP state"),
        mail_at(21.0, "lb1", "[R1] VRRP Instance VI_1 - Entering MASTER state"),
    ]
    pairs, left = match_transitions(transitions, received)
    assert [p.delay_s for p in pairs] == [0.001, -0.0007] and left == []
    # as a CI run saw it: the mail 52 ms before the stamp, lb1 preempting
    late = [state(16.763, "lb1", "BACKUP"), state(21.0521, "lb1", "MASTER")]
    pairs, left = match_transitions(late, received[1:])
    assert [p.delay_s for p in pairs] == [None, -0.0521] and left == []
    # beyond the slack it is not
    far = [state(21.0 + STAMP_SLACK_S + 0.01, "lb1", "MASTER")]
    pairs, left = match_transitions(far, received[1:])
    assert pairs[0].mail is None and len(left) == 1


def test_on_the_timeline_a_mail_is_an_event_of_its_sender() -> None:
    ev = Event.from_record(line(5.0), "mail")
    assert ev is not None
    tl_ev = sender_event(ev, {"10.0.0.10": "lb1"})
    assert (tl_ev.node, tl_ev.ts, tl_ev.kind) == ("lb1", 5.0, "mail")
    assert tl_ev.get("subject") == "[LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state"
    assert (tl_ev.get("mail_node"), tl_ev.get("sender_node")) == ("mail", "lb1")
    m = Mail.from_event(tl_ev)  # no addresses needed any more
    assert (m.sender_node, m.mail_node, m.received_at) == ("lb1", "mail", 5.0)
    # a sender outside the lab: the mail node's own event
    stray = sender_event(ev, {})
    assert stray.node == "mail" and stray.get("sender_node") is None
    assert Mail.from_event(stray).sender_node is None

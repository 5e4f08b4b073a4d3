"""State-change mail for real, with both VRRP engines: the balancers' keepalived.conf mails
(seed 001's notification_email block, ``smtp_server {{ mail.ip }}``) to the lab's mail node,
a real SMTP server (Debian's python3-aiosmtpd) that stamps each message on receipt.

- nginx_mail (``smtp_alert`` on VI_1): one mail per state change, in keepalived 2.2.7's
  words, from each engine; the backup's "Entering MASTER state" when the master crashes,
  then the mails of its return as they really come.
- The SMTP server stopped (connections refused) or firewalled (connects hang until
  ``smtp_connect_timeout``): the backup still takes over, and its engine logs the failure.
- mail_as_written (seed 001's global_defs as users copy them, no ``smtp_alert``):
  keepalived 2.2.7 sends no mail at all, and neither does halab-vrrpd.

Timing figures are not asserted here (shared, noisy machines): ``scripts/mail-figures``
measures them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_halab import waits
from pytest_halab.errors import LabTimeoutError
from pytest_halab.lab import Lab
from pytest_halab.lint import lint
from pytest_halab.mail import MAILBOX, Mail, MailMatch, match_transitions
from pytest_halab.scenario import Scenario
from pytest_halab.timeline import EventKind

pytestmark = pytest.mark.lab("nginx_mail")

ScenarioFactory = Callable[[Lab], Scenario]
ENGINES = ["keepalived", "halab"]
HERE = Path(__file__).resolve().parent
AS_WRITTEN = str(HERE / "topologies" / "mail_as_written.yaml")

SENDER = "Alexandre.Cassen@firewall.loc"
RECIPIENTS = ("acassen@firewall.loc", "failover@firewall.loc", "sysadmin@firewall.loc")
ROUTER_ID = {"lb1": "LVS_DEVEL", "lb2": "LVS_DEVEL_BACKUP"}
BODY = {
    "MASTER": "=> VRRP Instance is now owning VRRP VIPs <=",
    "BACKUP": "=> VRRP Instance is no longer owning VRRP VIPs <=",
    "FAULT": "=> VRRP Instance is no longer owning VRRP VIPs <=",
}
MAIL_WAIT_S = 10.0  # a lab-local mail takes milliseconds; this only bounds a failure
ENGINE_LOG = "/var/log/halab/vrrp.log"


@pytest.fixture(scope="module", params=ENGINES)
def mail_lab(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    return lab_factory("nginx_mail", vrrp=request.param)


def pairs_since(hal: Scenario, since: float) -> tuple[list[MailMatch], list[Mail]]:
    """The state changes since ``since`` paired with their mails, and the mails left over."""
    tl = hal.timeline()
    transitions = [e for e in tl.between(since, None).of_kind(EventKind.VRRP_STATE.value)]
    received = [m for m in hal.mail() if m.received_at >= since]
    return match_transitions(transitions, received)


def all_mailed(hal: Scenario, since: float) -> tuple[list[MailMatch], list[Mail]] | None:
    pairs, left = pairs_since(hal, since)
    return (pairs, left) if pairs and all(p.mail is not None for p in pairs) else None


def wait_all_mailed(hal: Scenario, since: float) -> tuple[list[MailMatch], list[Mail]]:
    try:
        return waits.until(
            "a mail for every VRRP state change", lambda: all_mailed(hal, since), MAIL_WAIT_S, 0.2
        )
    except LabTimeoutError as exc:  # say which state change went without its mail
        pairs, left = pairs_since(hal, since)
        for p in pairs:
            t = p.transition
            got = p.mail.summary() if p.mail is not None else "NO MAIL"
            exc.add_note(f"{t.ts:.6f} {t.node} {t.get('instance')} {t.get('state')}: {got}")
        for m in left:
            exc.add_note(f"mail no state change explains: {m.summary()}")
        raise


def assert_keepalived_words(m: Mail, node: str, state: str) -> None:
    assert m.from_ == SENDER and m.envelope_from == SENDER, m.raw
    assert m.to == RECIPIENTS and m.envelope_to == RECIPIENTS, m.raw
    assert m.subject == f"[{ROUTER_ID[node]}] VRRP Instance VI_1 - Entering {state} state", m.raw
    assert m.body == BODY[state], m.raw
    assert m.header("X-Mailer") == "Keepalived", m.raw
    assert [k for k, _ in m.headers] == ["Date", "From", "Subject", "X-Mailer", "To"], m.raw
    assert m.helo == node  # HELO with the host name (no smtp_helo_name)


def record_delays(item: pytest.Item, pairs: list[MailMatch]) -> None:
    """Each transition-to-mail time as a JUnit property (a figure, never asserted)."""
    for p in pairs:
        if p.delay_s is not None:
            t = p.transition
            key = f"halab.mail.{t.node}.{t.get('instance')}.{t.get('state')}_ms"
            item.user_properties.append((key, round(p.delay_s * 1000, 3)))


def test_one_mail_per_transition_in_keepalived_s_words(
    mail_lab: Lab, hal_scenario: ScenarioFactory, request: pytest.FixtureRequest
) -> None:
    hal = hal_scenario(mail_lab)
    fault = hal.faults.crash_node("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.recovered, m.summary()
    pairs, left = wait_all_mailed(hal, fault.injected_at)
    # the crash: lb2 alone changes state (lb1 is gone), and says so once
    assert [(p.transition.node, p.transition.get("state")) for p in pairs] == [("lb2", "MASTER")]
    assert left == [], [x.summary() for x in left]
    mail = pairs[0].mail
    assert mail is not None and mail.sender_node == "lb2" and mail.mail_node == "mail"
    assert_keepalived_words(mail, "lb2", "MASTER")
    record_delays(request.node, pairs)

    back = hal.timeline().end
    assert back is not None
    hal.revert(fault)
    hal.recovery("VI_1", fault, to="lb1")
    pairs, left = wait_all_mailed(hal, back)
    # lb1 starts again (BACKUP, then MASTER: it preempts), lb2 steps down: a mail each
    seen = sorted((p.transition.node, p.transition.get("state")) for p in pairs)
    assert seen == [("lb1", "BACKUP"), ("lb1", "MASTER"), ("lb2", "BACKUP")], seen
    assert left == [], [x.summary() for x in left]
    for p in pairs:
        assert p.mail is not None
        assert_keepalived_words(p.mail, p.transition.node, str(p.transition.get("state")))
    record_delays(request.node, pairs)


# What each engine logs when the mail cannot go (keepalived 2.2.7 as seen in this lab: a
# refused connect comes back as an error on its socket, named by fd)
FAILURE_LOGGED = {
    ("keepalived", "stop_mail"): r"smtp fd \d+ returned write error",
    ("halab", "stop_mail"): r"SMTP connection ERROR to \[{ip}\]:25\.",
    (
        "keepalived",
        "firewall_mail",
    ): r"Timeout opening connection to remote SMTP server \[{ip}\]:25\.",
    ("halab", "firewall_mail"): r"Timeout opening connection to remote SMTP server \[{ip}\]:25\.",
}


@pytest.mark.parametrize("fault_name", ["stop_mail", "firewall_mail"])
def test_an_unreachable_mail_server_does_not_stop_the_takeover(
    mail_lab: Lab, hal_scenario: ScenarioFactory, fault_name: str
) -> None:
    hal = hal_scenario(mail_lab)
    lb2 = mail_lab.node("lb2")
    log_lines_before = len(lb2.read_file(ENGINE_LOG).splitlines())
    getattr(hal.faults, fault_name)()
    fault = hal.faults.crash_node("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.recovered and m.vip_move_s is not None, m.summary()
    tl = hal.timeline().between(fault.injected_at, None)
    assert [e.get("state") for e in tl.of_kind(EventKind.VRRP_STATE.value) if e.node == "lb2"] == [
        "MASTER"
    ]
    # the failure is logged once the connect fails: refused at once, or after
    # smtp_connect_timeout (5 s in nginx_mail) when the connect hangs
    engine = mail_lab.engine_of("lb2").name
    ip = re.escape(str(mail_lab.node("mail").ip))
    message = re.compile(FAILURE_LOGGED[(engine, fault_name)].format(ip=ip))

    def failure_logged() -> bool | None:
        new = lb2.read_file(ENGINE_LOG).decode(errors="replace").splitlines()[log_lines_before:]
        return True if any(message.search(line) for line in new) else None

    waits.until(
        f"lb2's engine logging {message.pattern!r}",
        failure_logged,
        5 + MAIL_WAIT_S,
        0.25,
        node="lb2",
    )
    assert [x for x in hal.mail() if x.received_at >= fault.injected_at] == []


@pytest.mark.lab("topologies/mail_as_written.yaml")
@pytest.mark.parametrize("engine", ENGINES)
def test_seed_001_as_written_sends_no_mail(
    engine: str, lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    """No smtp_alert anywhere: keepalived 2.2.7 mails nothing, though notification_email
    and smtp_server are set (users of seeds 001-004 expect mail; they get none)."""
    # halab lint predicts it, at each balancer's smtp_server line; not for nginx_mail
    found = lint([AS_WRITTEN])[1]
    assert sorted((f.rule, f.nodes) for f in found) == [
        ("mail-never-sent", ("lb1",)),
        ("mail-never-sent", ("lb2",)),
    ], found
    assert all(f.line == 9 for f in found), found  # smtp_server {{ mail.ip }}
    assert lint(["nginx_mail"])[1] == []
    lab = lab_factory(AS_WRITTEN, vrrp=engine)
    hal = hal_scenario(lab)
    fault = hal.faults.crash_node("lb1")
    m = hal.failover("VI_1", fault, to="lb2")
    assert m.recovered, m.summary()
    hal.revert(fault)
    hal.recovery("VI_1", fault, to="lb1")
    transitions = (
        hal.timeline().between(fault.injected_at, None).of_kind(EventKind.VRRP_STATE.value)
    )
    assert len(transitions.events) >= 3  # lb2 MASTER, lb1 BACKUP and MASTER, lb2 BACKUP
    # The window: the last state change plus what a mail takes here (milliseconds, see
    # test_one_mail_per_transition...) with a wide margin; a mail would be in it.
    last = transitions.events[-1].ts
    mail_node = lab.node("mail")

    def window_over() -> bool | None:
        now = float(mail_node.exec("date +%s.%N", check=True).output.strip())
        return True if now > last + 2.0 else None

    waits.until("2 s past the last state change, on the mail node's clock", window_over, 10, 0.25)
    assert hal.mail() == [], [x.summary() for x in hal.mail()]
    # nor since the lab started: the mailbox holds nothing at all
    assert not lab.node("mail").exec(f"test -s {MAILBOX}").ok


SYNC_MAIL = str(HERE / "topologies" / "sync_mail.yaml")


@pytest.mark.lab("topologies/sync_mail.yaml")
def test_a_sync_groups_mail_is_the_same_from_both_engines(
    lab_factory: Callable[..., Lab], hal_scenario: ScenarioFactory
) -> None:
    """smtp_alert on the sync group (its own form): the master crashes, the backup takes
    the whole group over and mails it. What keepalived 2.2.7 sends is the reference;
    halab-vrrpd must send the same mails (subject, body, sender, recipients)."""
    sent: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {}
    for engine in ENGINES:
        lab = lab_factory(SYNC_MAIL, vrrp=engine)
        hal = hal_scenario(lab)
        fault = hal.faults.crash_node("lb1")
        hal.wait_holders({"VI_1": ["lb2"], "VI_2": ["lb2"]})

        def group_mail(h: Scenario = hal, since: float = fault.injected_at) -> list[Mail] | None:
            got = [m for m in h.mail() if m.received_at >= since]
            return got if any("Group G1" in m.subject for m in got) else None

        waits.until(f"{engine}: lb2's mail of group G1", group_mail, MAIL_WAIT_S, 0.2)
        mails = group_mail() or []
        sent[engine] = sorted((m.sender_node, m.subject, m.body, m.to) for m in mails)
        hal.revert(fault)
        hal.wait_holders({"VI_1": ["lb1"], "VI_2": ["lb1"]})
    keepalived = sent["keepalived"]
    assert (
        "lb2",
        "[lb02] VRRP Group G1 - Entering MASTER state",
        "=> All VRRP group instances are now in MASTER state <=",
        ("ops@example.lab",),
    ) in keepalived, keepalived
    assert sent["halab"] == keepalived, sent

"""halab-vrrpd's state-change mail against keepalived 2.2.7's (core/smtp.c, vrrp_notify.c):
who mails, when, and the words."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_halab.vrrp.smtpalert import (
    GROUP_BODIES,
    INSTANCE_BODIES,
    MailPolicy,
    SmtpAlerter,
    alert_setting,
)


@pytest.mark.parametrize(
    ("own", "vrrp", "glob", "mails"),
    [
        (None, None, None, False),  # keepalived 2.2.7: no smtp_alert anywhere, no mail
        (True, None, None, True),
        (None, None, True, True),
        (None, True, False, True),  # smtp_alert_vrrp before smtp_alert
        (None, False, True, False),
        (False, True, True, False),  # the instance's own first
        (True, False, False, True),
    ],
)
def test_who_mails(own: bool | None, vrrp: bool | None, glob: bool | None, mails: bool) -> None:
    policy = MailPolicy(global_alert=glob, global_alert_vrrp=vrrp)
    assert policy.should_mail("INSTANCE", "VI_1", own, "MASTER") is mails


def test_one_mail_per_state_entered_never_the_same_twice_in_a_row() -> None:
    p = MailPolicy(global_alert=True)
    seq = ["BACKUP", "BACKUP", "MASTER", "MASTER", "BACKUP", "FAULT", "FAULT", "BACKUP"]
    assert [p.should_mail("INSTANCE", "VI_1", None, s) for s in seq] == [
        True,
        False,
        True,
        False,
        True,
        True,
        False,
        True,
    ]
    # instances and groups are remembered apart
    assert p.should_mail("INSTANCE", "VI_2", None, "BACKUP")
    assert p.should_mail("GROUP", "VI_1", None, "BACKUP")


def test_no_email_faults_and_init_are_not_mailed() -> None:
    p = MailPolicy(global_alert=True, no_email_faults=True)
    assert not p.should_mail("INSTANCE", "VI_1", None, "FAULT")
    assert not p.should_mail("INSTANCE", "VI_1", None, "INIT")
    assert p.should_mail("INSTANCE", "VI_1", None, "STOP")


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ([], True),
        (["yes"], True),
        (["on"], True),
        (["false"], False),
        (["off"], False),
        (["x"], None),
    ],
)
def test_alert_setting(words: list[str], value: bool | None) -> None:
    assert alert_setting({"smtp_alert": words}, "smtp_alert") is value
    assert alert_setting({}, "smtp_alert") is None


def test_message_is_keepalived_s_headers_and_body() -> None:
    a = SmtpAlerter(
        server="192.0.2.25",
        recipients=["a@x.example", "b@x.example"],
        sender="lb@x.example",
        router_id="LVS_DEVEL",
    )
    text = a.message(
        "[LVS_DEVEL] VRRP Instance VI_1 - Stopping", INSTANCE_BODIES["STOP"], 0
    ).decode()
    head, body = text.split("\r\n\r\n", 1)
    names = [h.split(":", 1)[0] for h in head.split("\r\n")]
    assert names == ["Date", "From", "Subject", "X-Mailer", "To"]
    assert "\r\nTo: a@x.example, b@x.example" in head
    assert "\r\nX-Mailer: Keepalived" in head
    assert body == "=> VRRP Instance stopping <=\r\n\r\n"


def test_defaults_are_keepalived_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "lb9")
    a = SmtpAlerter(server="192.0.2.25", recipients=["a@x.example"])
    assert a.router_id == "lb9" and a.helo_name == "lb9"
    assert a.sender.endswith("@lb9") and "@" in a.sender and a.sender != "keepalived@lb9"
    assert a.where == "[192.0.2.25]:25"


def test_words_per_state() -> None:
    assert INSTANCE_BODIES["BACKUP"] == "=> VRRP Instance is no longer owning VRRP VIPs <="
    assert INSTANCE_BODIES["FAULT"] == INSTANCE_BODIES["BACKUP"]
    assert GROUP_BODIES["MASTER"] == "=> All VRRP group instances are now in MASTER state <="


def test_a_refused_connection_is_logged_in_keepalived_s_words(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connection refused
    a = SmtpAlerter(server="127.0.0.1", port=port, recipients=["a@x.example"], timeout=1)
    with caplog.at_level("INFO", logger="halab-vrrpd"):
        thread = a.group_alert("G1", "MASTER")
        assert thread is not None
        thread.join(10)
    assert (a.sent, a.failed) == (0, 1)
    assert f"SMTP connection ERROR to [127.0.0.1]:{port}." in caplog.text
    assert a.instance_alert("VI_1", "INIT") is None


def test_the_daemon_loads_smtplib_only_for_a_config_that_can_mail() -> None:
    """halab-vrrpd starts hundreds of times a run: smtplib (with ssl and email) is loaded
    when an alerter can send, at configuration time, never by a daemon that cannot mail, and
    tempfile only for a dump."""
    code = (
        "import json, sys\n"
        "import pytest_halab.vrrp.__main__, pytest_halab.vrrp.daemon\n"
        "from pytest_halab.vrrp.smtpalert import SmtpAlerter\n"
        "before = [m for m in ('smtplib', 'ssl', 'email', 'tempfile') if m in sys.modules]\n"
        "SmtpAlerter(server=None, recipients=['a@b'])\n"
        "SmtpAlerter(server='127.0.0.1', recipients=[])\n"
        "idle = 'smtplib' in sys.modules\n"
        "SmtpAlerter(server='127.0.0.1', recipients=['a@b'])\n"
        "print(json.dumps([before, idle, 'smtplib' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert json.loads(out.stdout) == [[], False, True]

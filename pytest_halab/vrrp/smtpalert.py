"""halab-vrrpd's state-change mail, as keepalived 2.2.7 sends it (its core/smtp.c and
vrrp/vrrp_notify.c, read for behaviour).

What keepalived does, and so what this module does:

- An alert goes out only when ``notification_email`` names someone and ``smtp_server`` is
  set. Whether an instance (or a sync group) mails at all is its own ``smtp_alert``; unset,
  the global ``smtp_alert_vrrp``; unset, the global ``smtp_alert``; unset: **no mail**. A
  configuration with ``notification_email`` and ``smtp_server`` but no ``smtp_alert``
  anywhere (seeds 001-004 as written) sends nothing.
- One mail per state an instance enters, never twice the same state in a row; FAULT mails
  are skipped under ``no_email_faults``.
- Subject ``[ROUTER_ID] VRRP Instance NAME - Entering MASTER state`` (``... - Stopping`` at
  shutdown), ``[ROUTER_ID] VRRP Group NAME - ...`` for a sync group; the router id defaults
  to the host name. The body is one line (``=> VRRP Instance is now owning VRRP VIPs <=``...).
- The message carries Date, From, Subject, ``X-Mailer: Keepalived`` and To (every recipient,
  comma separated) and nothing else; the envelope sender is ``notification_email_from``
  (default ``USER@HOSTNAME``), one ``RCPT TO`` per recipient, after ``HELO`` with
  ``smtp_helo_name`` (default: the host name).
- Sending never holds up VRRP: keepalived's SMTP exchange runs on its event loop,
  non-blocking, every step bounded by ``smtp_connect_timeout``; here each mail goes out on
  its own thread with that bound. A failure is logged, in keepalived's words.
"""

from __future__ import annotations

import logging
import os
import pwd
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "GROUP_BODIES",
    "INSTANCE_BODIES",
    "MailPolicy",
    "SmtpAlerter",
    "alert_setting",
    "subject_word",
]

log = logging.getLogger("halab-vrrpd")

# keepalived's words: subject tail and body per state entered
_SUBJECT = {
    "MASTER": "Entering MASTER state",
    "BACKUP": "Entering BACKUP state",
    "FAULT": "Entering FAULT state",
    "STOP": "Stopping",
}
INSTANCE_BODIES = {
    "MASTER": "=> VRRP Instance is now owning VRRP VIPs <=",
    "BACKUP": "=> VRRP Instance is no longer owning VRRP VIPs <=",
    "FAULT": "=> VRRP Instance is no longer owning VRRP VIPs <=",
    "STOP": "=> VRRP Instance stopping <=",
}
GROUP_BODIES = {
    "MASTER": "=> All VRRP group instances are now in MASTER state <=",
    "BACKUP": "=> All VRRP group instances are now in BACKUP state <=",
    "FAULT": "=> All VRRP group instances are now in FAULT state <=",
    "STOP": "=> All VRRP group instances are now stopping <=",
}
_TRUE = {"true", "on", "yes"}
_FALSE = {"false", "off", "no"}


def subject_word(state: str) -> str | None:
    """The subject's tail for a state entered; None for a state keepalived mails nothing of."""
    return _SUBJECT.get(state)


def alert_setting(options: Mapping[str, Sequence[str]], keyword: str) -> bool | None:
    """A global yes/no keyword as keepalived reads it: absent None, bare true, else its
    word (an unreadable word leaves it unset, as keepalived ignores the line)."""
    if keyword not in options:
        return None
    words = list(options[keyword])
    if not words:
        return True
    word = words[0].lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


@dataclass
class MailPolicy:
    """Who mails and when: keepalived's smtp_alert defaults and its no-repeat rule."""

    global_alert: bool | None = None  # global_defs smtp_alert
    global_alert_vrrp: bool | None = None  # global_defs smtp_alert_vrrp
    no_email_faults: bool = False
    _last: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> state

    def wants(self, own: bool | None) -> bool:
        """Whether an instance or group whose own ``smtp_alert`` is ``own`` mails."""
        for setting in (own, self.global_alert_vrrp, self.global_alert):
            if setting is not None:
                return setting
        return False

    def should_mail(self, kind: str, name: str, own: bool | None, state: str) -> bool:
        """True (and the state remembered) when entering ``state`` is to be mailed."""
        if subject_word(state) is None or not self.wants(own):
            return False
        if state == "FAULT" and self.no_email_faults:
            return False
        if self._last.get((kind, name)) == state:
            return False
        self._last[(kind, name)] = state
        return True


def _local_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "root"


class SmtpAlerter:
    """Sends keepalived's alert mails, each on a thread bounded by ``timeout``."""

    def __init__(
        self,
        *,
        server: str | None,
        port: int = 25,
        recipients: Sequence[str] = (),
        sender: str | None = None,
        router_id: str | None = None,
        helo_name: str | None = None,
        timeout: float = 30.0,
        detail: bool = False,
    ) -> None:
        host = socket.gethostname()
        self.server = server
        self.port = port
        self.recipients = list(recipients)
        self.sender = sender or f"{_local_user()}@{host}"
        self.router_id = router_id or host
        self.helo_name = helo_name or host
        self.timeout = max(float(timeout), 0.1)
        self.detail = detail  # -D: log each connection, as keepalived's --log-detail
        self.sent = 0
        self.failed = 0
        self._lock = threading.Lock()
        # smtplib (with ssl and email: a sixth of the daemon's start-up) only where mail can
        # go out, and here, with the configuration: not on a sending thread at the first
        # state change, while the VRRP loop needs the interpreter
        if self.enabled:
            import smtplib  # noqa: F401

    @property
    def enabled(self) -> bool:
        return bool(self.server and self.recipients)

    @property
    def where(self) -> str:
        """The server as keepalived's log writes it: ``[ADDR]:PORT``."""
        return f"[{self.server}]:{self.port}"

    def message(self, subject: str, body: str, now: float | None = None) -> bytes:
        """The DATA of one alert, CRLF line ends, as keepalived words its headers."""
        stamp = time.strftime("%a, %d %b %Y %H:%M:%S %z", time.localtime(now))
        lines = [
            f"Date: {stamp}",
            f"From: {self.sender}",
            f"Subject: {subject}",
            "X-Mailer: Keepalived",
            f"To: {', '.join(self.recipients)}",
            "",
            body,
            "",  # keepalived ends its body with a line end, then sends CRLF . CRLF
            "",
        ]
        return "\r\n".join(lines).encode("utf-8", errors="replace")

    def send(self, subject: str, body: str) -> threading.Thread | None:
        """Queue one alert; returns its thread (tests join it), None when disabled."""
        if not self.enabled:
            return None
        data = self.message(f"[{self.router_id}] {subject}", body)
        thread = threading.Thread(target=self._deliver, args=(data,), daemon=True)
        thread.start()
        return thread

    def instance_alert(self, instance: str, state: str) -> threading.Thread | None:
        """``[ROUTER_ID] VRRP Instance NAME - Entering STATE state`` and its body."""
        word = subject_word(state)
        if word is None:
            return None
        return self.send(f"VRRP Instance {instance} - {word}", INSTANCE_BODIES[state])

    def group_alert(self, group: str, state: str) -> threading.Thread | None:
        """``[ROUTER_ID] VRRP Group NAME - Entering STATE state`` and its body."""
        word = subject_word(state)
        if word is None:
            return None
        return self.send(f"VRRP Group {group} - {word}", GROUP_BODIES[state])

    def _deliver(self, data: bytes) -> None:
        assert self.server is not None
        import smtplib  # loaded already, with the configuration (__init__)

        try:
            smtp = smtplib.SMTP(timeout=self.timeout)
            try:
                smtp.connect(self.server, self.port)
            except TimeoutError:
                self._fail(f"Timeout opening connection to remote SMTP server {self.where}.")
                return
            except OSError:
                self._fail(f"SMTP connection ERROR to {self.where}.")
                return
            if self.detail:
                log.info("Remote SMTP server %s connected.", self.where)
            with smtp:
                smtp.helo(self.helo_name)
                smtp.sendmail(self.sender, self.recipients, data)
        except TimeoutError:
            self._fail(f"Timeout reading data to remote SMTP server {self.where}.")
            return
        except smtplib.SMTPServerDisconnected:
            self._fail(f"Remote SMTP server {self.where} has closed the connection.")
            return
        except (OSError, smtplib.SMTPException) as exc:
            self._fail(f"Error sending SMTP alert to {self.where}: {exc}")
            return
        with self._lock:
            self.sent += 1
        if self.detail:
            log.info("SMTP alert successfully sent.")

    def _fail(self, message: str) -> None:
        with self._lock:
            self.failed += 1
        log.info("%s", message)

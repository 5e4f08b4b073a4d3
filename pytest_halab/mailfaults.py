"""Faults on the lab's mail node, mixed into ``Faults``::

    faults.stop_mail()        # the SMTP server stopped: connections refused at once
    faults.firewall_mail()    # incoming TCP to port 25 dropped: connects hang until the
                              # sender's smtp_connect_timeout

Each is verified as a balancer sees it (``webfaults.ask`` from the first balancer: one
connect to the mail node's port 25): refused, or timing out. Each undo puts the server back
and checks a balancer connects again. ``Lab.restore`` starts a stopped server too
(``mail.ensure_running_cmd``); the firewall rule goes with its fault's undo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import mail
from .errors import FaultError, FaultNotEffective
from .faultmixin import wait_effect
from .topology import Role
from .webfaults import NodeFaultMixin, ask

if TYPE_CHECKING:
    from .faults import Fault
    from .nodes import Node

__all__ = ["MailFaults"]

CONNECT_BOUND_S = 1.0  # a lab-local connect takes about a millisecond


class MailFaults(NodeFaultMixin):
    """The mail-node faults of :class:`~pytest_halab.faults.Faults` (a mixin: ``Faults``
    provides the lab, ``_apply`` and the iptables steps)."""

    def _mail_node(self, node: str | None, fault: str) -> Node:
        mails = [m.name for m in self.lab.nodes.values() if m.role == Role.MAIL.value]
        if node is None:
            if not mails:
                raise FaultError("lab", f"{fault}: this lab has no mail node (role mail)")
            node = mails[0]
        n = self.lab.node(node)  # unknown node: KeyError naming the nodes
        if n.role != Role.MAIL.value:
            raise FaultError(
                node,
                f"{fault} acts on a mail node (role mail), and {node} is a {n.role} node; "
                f"mail nodes of this lab: {', '.join(mails) or 'none'}",
            )
        return n

    def _smtp_answer(self, n: Node) -> str:
        """What a connect from a running balancer (the first) to the mail node's port
        comes to: "refused", "timeout", or another kind (connected)."""
        running = [b for b in self.lab.balancers() if b.state() == "running"]
        source = running[0].name if running else None
        return ask(self.lab, n.name, mail.PORT, CONNECT_BOUND_S, source=source).kind

    def stop_mail(self, node: str | None = None) -> Fault:
        """Stop the SMTP server of the mail node (default: the lab's one). Verified by a
        balancer's connect refused; reverted by starting it, verified by a connect
        accepted."""
        n = self._mail_node(node, "stop_mail")

        def inject() -> None:
            n.exec(mail.stop_cmd(), check=True)

        def verify() -> None:
            wait_effect(
                "the SMTP server refusing connections",
                n.name,
                lambda: self._smtp_answer(n) == "refused",
            )

        def undo() -> None:
            n.exec(mail.ensure_running_cmd(), check=True)
            wait_effect(
                "the SMTP server accepting connections",
                n.name,
                lambda: self._smtp_answer(n) not in ("refused", "timeout"),
            )

        return self._apply(
            "stop_mail", n.name, f"SMTP server stopped (tcp/{mail.PORT})", inject, verify, undo
        )

    def firewall_mail(self, node: str | None = None) -> Fault:
        """Drop incoming TCP to port 25 on the mail node (iptables in the node): a sender's
        connect hangs until its own timeout. Verified by the rule in place and a balancer's
        connect timing out; reverted by deleting the rule, verified by a connect no longer
        timing out."""
        n = self._mail_node(node, "firewall_mail")
        rules = [["INPUT", "-p", "tcp", "--dport", str(mail.PORT), "-j", "DROP"]]
        inject, rule_in_place, delete = self._rule_steps(n, rules)

        def verify() -> None:
            rule_in_place()
            if (got := self._smtp_answer(n)) != "timeout":
                raise FaultNotEffective(
                    n.name, f"tcp/{mail.PORT} dropped, yet a connect came to {got}"
                )

        def undo() -> None:
            delete()
            wait_effect(
                f"connections to port {mail.PORT} not timing out",
                n.name,
                lambda: self._smtp_answer(n) != "timeout",
            )

        return self._apply(
            "firewall_mail", n.name, f"drop tcp/{mail.PORT} in", inject, verify, undo
        )

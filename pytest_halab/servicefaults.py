"""Faults on a balancer's service configuration, mixed into ``Faults``::

    faults.break_config("lb1", "nginx")   # nginx.conf no longer loads: nginx cannot start

What users' check scripts meet when they try to restart a service (seed 000's check_list:
``systemctl start nginx``, then stop keepalived if nginx is still down). The running
service is left as it is: kill it with ``kill_process`` to see what the script does.
Verified by the service's own config test (``nginx -t``, ``haproxy -c``) failing in the
node; undone by putting the file back byte for byte (mode included), verified by the test
passing again.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from . import services
from .errors import FaultError, FaultNotEffective
from .faultmixin import FaultMixin
from .topology import Role

if TYPE_CHECKING:
    from .faults import Fault

__all__ = ["BROKEN_LINE", "ServiceFaults"]

# A line no service's config parser accepts, appended to the config: nginx says "unknown
# directive", haproxy "unknown keyword", each naming the file and line.
BROKEN_LINE = "halab_fault_broken_config_line;"
_SAVED = "/run/halab/broken-config.{}.orig"


class ServiceFaults(FaultMixin):
    """The service-config faults of :class:`~pytest_halab.faults.Faults` (a mixin:
    ``Faults`` provides the lab and ``_apply``)."""

    def break_config(self, node: str, service: str = "nginx") -> Fault:
        """Make the balancer's `service` config fail its config test (a line it rejects,
        appended); the running service keeps running on what it loaded."""
        n = self.lab.node(node)  # unknown node: KeyError naming the nodes
        if n.role != Role.BALANCER.value:
            raise FaultError(node, f"break_config acts on a balancer, {node} is a {n.role} node")
        svc = services.SERVICES.get(service)
        test = svc.config_test_cmd() if svc is not None else None
        if svc is None or test is None:
            known = [s.name for s in services.SERVICES.values() if s.config_test_cmd()]
            raise FaultError(node, f"break_config: no config test for {service!r}; known: {known}")
        if svc not in self.lab.services_of(n):
            raise FaultError(node, f"{node} runs no {service} (no {svc.config_path})")
        path, saved = shlex.quote(svc.config_path), shlex.quote(_SAVED.format(service))

        def inject() -> None:
            n.exec(
                f"mkdir -p /run/halab && cp -p {path} {saved} && "
                f"printf '\\n%s\\n' {shlex.quote(BROKEN_LINE)} >> {path}",
                check=True,
            )

        def verify() -> None:
            res = n.exec(test)
            if res.ok:
                raise FaultNotEffective(node, f"{service}'s config test still passes: {test}")

        def undo() -> None:
            n.exec(f"cp -p {saved} {path} && rm -f {saved}", check=True)
            res = n.exec(test)
            if not res.ok:
                raise FaultError(
                    node, f"{service}'s config test fails after the revert: {res.output}"
                )

        return self._apply("break_config", node, service, inject, verify, undo)

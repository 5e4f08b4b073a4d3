"""The web nodes' server: Apache httpd as the web image runs it (``lab/images/web``).

What the lab and the web faults know of it: its process, port and pid file, how it is
started, where a fault's config snippet goes, and the one command that brings a web node
back to serving its body whatever web fault was left in place (``Lab.restore``).
"""

from __future__ import annotations

import shlex

from .labels import FAULT_RULE_COMMENT

PROCESS = "apache2"
PGREP = ["pgrep", "-x", PROCESS]
PORT = 80
PIDFILE = "/var/run/apache2/apache2.pid"
# Read with every conf-enabled/*.conf at apache's next (graceful) restart; the web image
# ships nothing under that name, so its presence is the web_error fault.
FAULT_CONF = "/etc/apache2/conf-enabled/zz-halab-fault.conf"
SERVICES_STARTED = "/run/halab/services-started"  # written by halab-entry once it started apache


def start_cmd() -> str:
    """Start apache unless one runs. A SIGKILLed apache leaves its pid file behind; apache
    refuses to start while that pid names a live process, so it goes first."""
    return f"pgrep -x {PROCESS} >/dev/null || {{ rm -f {PIDFILE}; apache2ctl start; }}"


def listening_cmd(port: int = PORT) -> list[str]:
    """argv printing the node's TCP listeners on ``port`` (nothing when none)."""
    return ["ss", "-ltnH", f"sport = :{port}"]


def ensure_serving_cmd() -> str:
    """Shell command run in a web node: apache back to how the image starts it. Stopped
    processes continued, the fault snippet removed (graceful restart), apache started if
    down (unless the node's own start is still under way: a container just started again
    starts it), the faults' iptables rules removed; then up to 5 s for apache to answer
    itself with a success. Idempotent; exits 0."""
    drop_rules = (
        f"iptables -w -S 2>/dev/null | grep -- '--comment {FAULT_RULE_COMMENT}-' "
        "| sed 's/^-A /-D /' | while read -r rule; do iptables -w $rule; done"
    )
    conf = shlex.quote(FAULT_CONF)
    # a graceful restart lets old children answer a last request or two: wait (bounded,
    # 5 s) for a good answer; the firewall rules go first, they would drop it on lo too
    serving = (
        f"i=0; until curl -fso /dev/null -m 1 http://127.0.0.1:{PORT}/ || [ $i -ge 50 ]; "
        "do i=$((i+1)); sleep 0.1; done"
    )
    return "; ".join(
        [
            f"pkill -CONT -x {PROCESS}",
            f"if [ -e {conf} ]; then rm -f {conf}; pgrep -x {PROCESS} >/dev/null "
            "&& apache2ctl graceful; fi",
            drop_rules,
            f"if [ -e {SERVICES_STARTED} ]; then {start_cmd()}; {serving}; fi",
            "true",
        ]
    )

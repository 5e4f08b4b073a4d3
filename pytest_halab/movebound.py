"""How long a VIP may take to move after a fault, as the lab's VRRP configuration allows.

A failover measure that sees no move must stop watching at some point and say "did not
move". Too early, and a failover that was on its way is reported as none: the worst answer
to "does the VIP move if nginx dies?". Too late, and every such test waits for nothing (the
measure's timeout, 15 s, was the only bound before). The bound is what the configuration
gives a move, summed over the instances that carry the VIP on any balancer:

- Master_Down_Interval: a backup takes over 3 advert intervals + Skew_Time after the last
  advert it heard, and Skew_Time is under one interval (RFC 5798 6.1; VRRPv2 alike): at
  most 4 advert intervals;
- the slowest tracked script: a failure is noticed after ``fall`` failed runs ``interval``
  apart, the last of which may run for ``timeout`` (keepalived's default: the interval),
  so ``interval x fall + timeout``; a script that drops the priority then lets the backup's
  Master_Down timer run out;
- ``preempt_delay``: a backup preempting a master whose priority dropped waits that long;
- a margin of 1 s for daemons stalled on a loaded host (the lab runs on 2 shared cores).

Tracked interfaces and files act at once (netlink, inotify) and add nothing. The client's
probes are not part of the bound: the measure waits for the last ones to report after its
window anyway. What the configuration does not show is not counted (a script defined in a
file that an ``include`` brings in from the host); pass the window to the measure then.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .vrrp.conf import load_config

__all__ = ["MARGIN_S", "MASTER_DOWN_ADVERTS", "MoveBound", "move_bound"]

MASTER_DOWN_ADVERTS = 4
"""Master_Down_Interval is at most this many advert intervals (3 + a Skew_Time under 1)."""
MARGIN_S = 1.0
"""Added to every bound: a VRRP daemon or a check script stalled on a busy host."""
DEFAULT_ADVERT_S = 1.0  # keepalived's advert_int default


@dataclass(frozen=True, slots=True)
class MoveBound:
    """The longest a VIP may take to move after a fault, and what it is made of."""

    advert_int: float
    track_s: float = 0.0
    track_script: str | None = None  # the slowest tracked script, if any
    preempt_delay_s: float = 0.0
    margin_s: float = MARGIN_S

    @property
    def seconds(self) -> float:
        return round(
            MASTER_DOWN_ADVERTS * self.advert_int
            + self.track_s
            + self.preempt_delay_s
            + self.margin_s,
            6,
        )

    def explain(self) -> str:
        """The bound and its terms, e.g. "4.0 s (Master_Down_Interval <= 4 x 0.5 s, track
        script check_nginx 1 s, margin 1 s)"."""
        parts = [f"Master_Down_Interval <= {MASTER_DOWN_ADVERTS} x {self.advert_int:g} s"]
        if self.track_script is not None:
            parts.append(f"track script {self.track_script} {self.track_s:g} s")
        if self.preempt_delay_s:
            parts.append(f"preempt_delay {self.preempt_delay_s:g} s")
        parts.append(f"margin {self.margin_s:g} s")
        return f"{self.seconds:g} s ({', '.join(parts)})"


def move_bound(
    confs: Iterable[str | bytes], vip_addr: str, advert_int: float | None = None
) -> MoveBound:
    """The bound for the VIP at ``vip_addr``, from the balancers' keepalived.conf texts.

    The advert interval is the largest of the instances carrying the VIP, else
    ``advert_int``, else keepalived's default (1 s). A text that does not parse counts
    for what it does show: the parser never raises, and the lab checked these files
    before it started.
    """
    adverts: list[float] = []
    track_s, script_name, preempt = 0.0, None, 0.0
    with tempfile.TemporaryDirectory(prefix="halab-bound-") as tmp:
        path = Path(tmp) / "keepalived.conf"
        for text in confs:
            path.write_bytes(text.encode() if isinstance(text, str) else text)
            cfg, _diags = load_config(path, interfaces={"eth0", "lo"}, check_scripts=False)
            for inst in cfg.instances.values():
                if not any(v.address == vip_addr for v in inst.vips):
                    continue
                adverts.append(inst.advert_int)
                preempt = max(preempt, inst.preempt_delay)
                for tracked in inst.track_scripts:
                    script = cfg.scripts.get(tracked.name)
                    if script is None or script.disabled:
                        continue
                    run = script.timeout or script.interval
                    noticed = float(script.interval * script.fall + run)
                    if noticed > track_s:
                        track_s, script_name = noticed, script.name
    advert = max(adverts) if adverts else (advert_int or DEFAULT_ADVERT_S)
    return MoveBound(advert, track_s, script_name, preempt)

"""The link-flap loop that runs inside a node: its bash script, the bounds of its arguments,
and the lines of its log. ``Faults.flap_link`` starts it, follows its log and stops it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

FLAP_MAX_COUNT = 1000
FLAP_PHASE_S = (0.001, 60.0)  # bounds of down_s and up_s
FLAP_MAX_TOTAL_S = 600.0
FLAP_PROCESS = "halab-flap"  # the loop's $0: how its pid is told from a reused one
IFNAME_RE = re.compile(r"[A-Za-z0-9_.:@-]{1,15}")  # what Linux accepts, less "/" and spaces

# bash, for $EPOCHREALTIME (microseconds, no fork). Arguments: log iface count down up.
# Log lines: "<epoch s> <start|down|up|done|stopped|error> <flap> <operstate>". sleep runs in
# the background so that a TERM (the fault's revert) is handled at once: the link goes up.
FLAP_SCRIPT = r"""
log=$1 iface=$2 count=$3 down=$4 up=$5
mkdir -p "${log%/*}"
exec 2>>"$log.err"
echo $$ > "$log.pid"
operstate=/sys/class/net/$iface/operstate
i=0 pause=
mark() {
    local state=gone
    read -r state 2>/dev/null < "$operstate"
    echo "$EPOCHREALTIME $1 $i $state" >> "$log"
}
nap() { sleep "$1" & pause=$!; wait "$pause"; pause=; }
stop() {
    [ -n "$pause" ] && kill "$pause" 2>/dev/null
    ip link set dev "$iface" up
    mark stopped
    exit 0
}
trap stop TERM INT HUP
mark start
while [ "$i" -lt "$count" ]; do
    i=$((i + 1))
    ip link set dev "$iface" down || { mark error; exit 1; }
    mark down
    nap "$down"
    ip link set dev "$iface" up || { mark error; exit 1; }
    mark up
    nap "$up"
done
mark done
"""


def check_flap_args(count: int, down_s: float, up_s: float, iface: str) -> None:
    """ValueError naming the argument that is out of bounds."""
    if not isinstance(iface, str) or not IFNAME_RE.fullmatch(iface) or iface in (".", ".."):
        raise ValueError(f"flap_link: iface={iface!r} is not an interface name")
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"flap_link: count must be an integer, not {count!r}")
    if not 1 <= count <= FLAP_MAX_COUNT:
        raise ValueError(f"flap_link: count={count}: must be 1..{FLAP_MAX_COUNT}")
    lo, hi = FLAP_PHASE_S
    for name, value in (("down_s", down_s), ("up_s", up_s)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"flap_link: {name} must be a number of seconds, not {value!r}")
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"flap_link: {name}={value}: must be {lo:g}..{hi:g} s")
    total = count * (down_s + up_s)
    if total > FLAP_MAX_TOTAL_S:
        raise ValueError(
            f"flap_link: {count} x ({down_s:g} + {up_s:g}) s = {total:g} s: the sequence "
            f"must last at most {FLAP_MAX_TOTAL_S:g} s"
        )


@dataclass(frozen=True, slots=True)
class FlapLine:
    """One line of the flap loop's log."""

    ts: float
    what: str
    flap: int
    state: str

    @classmethod
    def parse(cls, raw: str) -> FlapLine | None:
        parts = raw.split()
        if len(parts) != 4:
            return None
        try:
            # $EPOCHREALTIME uses the locale's decimal point
            ts = float(parts[0].replace(",", "."))
            return cls(round(ts, 6), parts[1], int(parts[2]), parts[3])
        except ValueError:
            return None

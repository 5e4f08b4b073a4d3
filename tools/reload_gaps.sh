#!/bin/bash
# The master's advert gaps while its engine reloads (SIGHUP) 25 times, 1.1 s apart, on a
# host with 3 busy loops: a lab of nginx_v3_fast (advert_int 0.1, Master_Down_Interval
# 0.36 s), lb1's adverts captured on the client, lb2's takeovers counted in its log.
#   tools/reload_gaps.sh ENGINE [EXTRA_CONF]
# EXTRA_CONF is appended to lb1's keepalived.conf first (a large file makes a slow read:
# tools/reload_gaps.sh halab <(python3 tools/reload_gaps_pool.py 4000)).
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-halab}
extra=${2:-}
halab=.venv/bin/halab
$halab up nginx_v3_fast --vrrp "$engine" >/dev/null
trap '$halab down >/dev/null 2>&1 || true' EXIT
if [ -n "$extra" ]; then
  $halab exec lb1 sh -c 'cat >> /etc/keepalived/keepalived.conf' <"$extra"
fi
lb1=$($halab exec lb1 sh -c "ip -4 -o addr show eth0 | awk '{print \$4}' | head -1 | cut -d/ -f1")
out=$(mktemp)
$halab exec client timeout 32 tcpdump -i eth0 -nn -tt -l "ip proto 112 and src $lb1" \
  >"$out" 2>/dev/null &
capture=$!
for _ in 1 2 3; do timeout 32 sh -c 'while :; do :; done' & done
sleep 1
$halab exec lb1 sh -c 'for i in $(seq 25); do kill -HUP "$(cat /run/keepalived.pid)"; sleep 1.1; done'
wait "$capture" || true
wait
taken=$($halab exec lb2 grep -c 'Entering MASTER' /var/log/halab/vrrp.log || true)
python3 - "$out" "$engine" "$taken" <<'PY'
import statistics, sys
ts = [float(line.split()[0]) for line in open(sys.argv[1]) if line.strip()]
gaps = sorted((b - a) * 1000 for a, b in zip(ts, ts[1:]))
print(f"{sys.argv[2]}: {len(ts)} adverts of lb1; gaps median {statistics.median(gaps):.1f} ms,"
      f" p99 {gaps[int(len(gaps) * 0.99)]:.1f} ms, max {gaps[-1]:.1f} ms;"
      f" {sum(g > 360 for g in gaps)} over 360 ms; lb2 became master {sys.argv[3]} time(s)")
PY
rm -f "$out"

#!/bin/sh
# MISC_CHECK with misc_dynamic (keepalived.conf(5)): exit 0 is up with the configured weight,
# 1 is down, 2-255 is up with weight (status - 2). The real server publishes the weight it
# wants at /weight (from its load, say); when it publishes none, it is up if it answers.
w=$(curl -fsS --max-time 1 "http://$1/weight" 2>/dev/null) || {
    curl -fsS --max-time 1 -o /dev/null "http://$1/" && exit 0
    exit 1
}
case "$w" in
    ''|*[!0-9]*) exit 1 ;;
esac
exit $((w + 2))

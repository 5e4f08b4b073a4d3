#!/bin/sh
# Health check for keepalived's vrrp_script: succeeds while nginx's master process lives.
# The pid file names the master; a killed master is reaped by tini (LAB_NOTES pitfall 2),
# so `kill -0` fails at once even if orphaned workers linger.
pid=$(cat /run/nginx.pid 2>/dev/null) || exit 1
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null

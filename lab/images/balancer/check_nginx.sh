#!/bin/sh
# Health check for keepalived's vrrp_script: succeeds while nginx's master process lives.
# The pid file names the master; a killed master is reaped by tini (LAB_NOTES pitfall 2),
# so `kill -0` fails at once even if orphaned workers linger. Builtins only (no `cat`): the
# engine runs this every interval in every balancer of every lab on the host.
pid=
{ read -r pid || [ -n "$pid" ]; } 2>/dev/null </run/nginx.pid || exit 1
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null

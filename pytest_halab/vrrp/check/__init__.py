"""halab-vrrpd's checker: keepalived's other half (its ``--check`` process). It health-checks
the real servers of each ``virtual_server`` and keeps the forwarding plane's pools in step
(IPVS where the kernel has it, nftables otherwise). Standard library only, like the rest of
the daemon."""

"""halab-vrrpd: a keepalived-compatible VRRP daemon (standard library only)."""

"""pytest-halab: prove high-availability load-balancer setups in a Docker lab."""

__version__ = "0.1.0"

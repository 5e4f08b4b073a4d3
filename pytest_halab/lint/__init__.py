"""`halab lint`: read the keepalived.conf of every balancer together and say what will go
wrong across nodes (split brain, failovers that cannot happen, scripts that never run),
each finding at the line to fix.

- `subjects`: the balancers under lint, from a topology or from files;
- `rules`: the checks and their rule ids;
- `output`: text, JSON and SARIF.

keepalived's own checks of one file are ``halab-vrrpd -t`` (or ``keepalived -t``); lint
reads the files only after those pass (else exit 2, with keepalived's messages).
"""

from __future__ import annotations

from pathlib import Path

from .. import topology
from .rules import RULES, Finding, run
from .subjects import Balancer, LintInputError, from_files, from_topology

__all__ = ["RULES", "Balancer", "Finding", "LintInputError", "lint", "load"]


def _is_topology(arg: str) -> bool:
    if arg.endswith((".yaml", ".yml")):
        return True
    return not Path(arg).exists() and arg in topology.available()


def load(targets: list[str], root: str | None = None) -> tuple[list[str], list[Balancer]]:
    """What to lint: one topology (by name or file) or keepalived.conf files, one per
    balancer. Returns what was checked (for messages) and the balancers."""
    if not targets:
        raise LintInputError("nothing to lint: give a topology or keepalived.conf files")
    if _is_topology(targets[0]):
        if len(targets) > 1:
            raise LintInputError("give one topology, or keepalived.conf files (not both)")
        name, balancers = from_topology(targets[0])
        return [f"topology {name}"], balancers
    return list(targets), from_files(targets, root)


def lint(targets: list[str], root: str | None = None) -> tuple[list[str], list[Finding]]:
    checked, balancers = load(targets, root)
    return checked, run(balancers)

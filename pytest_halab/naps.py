"""Polling loops in the nodes without a fork per nap.

The lab waits in the nodes themselves for what it can see only there (an engine's JSON dump
written, observers ready, processes gone): a shell loop that naps with ``sleep`` between two
looks, which saves a round trip per look. Each nap was a fork and an exec of ``sleep``, about
1.1 ms of CPU, and the lab's loops made 20,000 of them in a run of the suite (process
accounting, scripts/cpu-account). The base image carries Debian's ``bash-builtins``, whose
loadable ``sleep`` makes the nap a builtin of bash.
"""

from __future__ import annotations

# bash-builtins' loadable sleep, where the image has it; else ``sleep`` stays the command
BUILTIN_SLEEP = "enable -f /usr/lib/bash/sleep sleep 2>/dev/null"


def polling(script: str) -> list[str]:
    """argv that runs ``script``, POSIX sh whose loop naps with ``sleep``, in bash with
    ``sleep`` a builtin."""
    return ["bash", "-c", f"{BUILTIN_SLEEP}; {script}"]

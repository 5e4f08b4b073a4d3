"""naps.polling: a POSIX sh polling loop run by bash, with sleep a builtin where the image
carries bash-builtins, and the external sleep where it does not (this host: no loadable)."""

from __future__ import annotations

import subprocess

from pytest_halab.naps import polling


def test_a_polling_script_runs_where_the_loadable_is_missing() -> None:
    argv = polling('i=0; while [ "$i" -lt 3 ]; do i=$((i + 1)); sleep 0.01; done; echo "$i"')
    assert argv[:2] == ["bash", "-c"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10)
    assert (out.stdout, out.stderr) == ("3\n", "")  # no word about the missing loadable


def test_the_exit_status_is_the_scripts() -> None:
    assert subprocess.run(polling("exit 4"), check=False, timeout=10).returncode == 4

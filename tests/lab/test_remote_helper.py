"""Commands on a remote engine's host (``DockerHost.run``): execs in one resident helper
container per process, in the host's namespaces. The engine under test is treated as
remote whatever its URL, so this runs on any engine (CI: the worker's)."""

from __future__ import annotations

import pytest

from pytest_halab.dockerhost import DockerHost
from pytest_halab.errors import HalabError
from pytest_halab.labels import L_HELPER, L_OWNER, owner


class AsRemote(DockerHost):
    """This engine, reached as a remote one: host commands go through the helper."""

    @property
    def local(self) -> bool:
        return False


def our_helpers(host: DockerHost) -> list[str]:
    # other processes' helpers on the engine come and go meanwhile: one removed between the
    # list and its inspect is not ours (ignore_removed, as the lab's own lists do)
    found = host.client().containers.list(
        all=True, ignore_removed=True, filters={"label": L_HELPER}
    )
    return [c.id for c in found if c.labels.get(L_OWNER) == owner()]


def test_host_commands_run_in_one_resident_helper(halab_docker: DockerHost) -> None:
    host = AsRemote(url=halab_docker.effective_url, source="test")
    before = set(our_helpers(host))
    try:
        res = host.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")
        (helper,) = set(our_helpers(host)) - before
        # in the host's PID namespace: its pid 1 is the host's init, not the helper's sleep
        assert host.run(["cat", "/proc/1/comm"]).stdout.strip() != "sleep"
        # in the host's network namespace: the lab bridges' host side is there
        assert "lo" in host.run(["ls", "/sys/class/net"]).stdout.split()
        assert set(our_helpers(host)) - before == {helper}  # the same one, reused

        # removed under us (`halab clean --all`): the next command makes another
        host.client().containers.get(helper).remove(force=True)
        assert host.run(["true"]).returncode == 0
        (again,) = set(our_helpers(host)) - before
        assert again != helper

        with pytest.raises(HalabError, match="did not finish sleep in 1 s"):
            host.run(["sleep", "10"], timeout=1)
    finally:
        host.close()
    assert set(our_helpers(host)) - before == set()  # nothing left behind

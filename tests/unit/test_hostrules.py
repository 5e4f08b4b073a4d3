"""The lab's host rule: read back from both chains it lives in, and only from those."""

from __future__ import annotations

from typing import cast

from pytest_halab import hostrules
from pytest_halab.dockerhost import DockerHost, HostResult

RULE = hostrules.BridgeRule("hl-abc123", "hlabc123", "run1", "eng1")
SPEC = f'-i hl-abc123 -o hl-abc123 -m comment --comment "{RULE.comment}" -j ACCEPT'
OTHER = hostrules.BridgeRule("hl-def456", "hldef456", "run1", "eng2")


class FakeHost:
    """`iptables -S` as a host with Docker's chains prints it; records other commands."""

    name = "fake"
    engine_id = "eng1"

    def __init__(self, chains: dict[str, list[str]]) -> None:
        self.chains = chains
        self.ran: list[list[str]] = []

    def run(self, argv: list[str], timeout: float = 60, *, again: bool = False) -> HostResult:
        self.ran.append(argv)
        if argv[:3] == ["iptables", "-w", "5"] and argv[3] == "-S":
            names = argv[4:] or list(self.chains)
            if any(n not in self.chains for n in names):
                return HostResult(1, "", "iptables: No chain/target/match by that name.")
            lines = [f"-N {n}" for n in names]
            lines += [f"-A {n} {r}" for n in names for r in self.chains[n]]
            return HostResult(0, "\n".join(lines) + "\n", "")
        if argv[:2] == ["sh", "-c"]:
            for cmd in argv[2].split("; "):
                chain, spec = cmd.split(" -D ", 1)[1].split(" ", 1)
                self.chains[chain].remove(spec.replace("'", '"').replace(" && echo ok", ""))
            return HostResult(0, "ok\n" * argv[2].count("echo ok"), "")
        raise AssertionError(argv)


def host(**chains: list[str]) -> FakeHost:
    return FakeHost({k.replace("_", "-"): v for k, v in chains.items()})


def as_host(h: FakeHost) -> DockerHost:
    return cast(DockerHost, h)


def test_the_rule_is_read_from_both_chains_and_nowhere_else() -> None:
    other = f'-i hl-def456 -o hl-def456 -m comment --comment "{OTHER.comment}" -j ACCEPT'
    h = host(
        DOCKER_USER=[SPEC, other, "-j RETURN"],
        DOCKER_ISOLATION_STAGE_1=[SPEC, "-i hl-abc123 ! -d 10.213.0.0/24 -j DROP"],
        FORWARD=[SPEC, "-j DOCKER-USER"],  # a chain the project does not use: not ours
    )
    found = hostrules.labelled(as_host(h))
    assert found == [
        ("hlabc123", f"-A DOCKER-USER {SPEC}"),
        ("hlabc123", f"-A DOCKER-ISOLATION-STAGE-1 {SPEC}"),
    ]  # eng2's rule belongs to the other engine sharing this host
    assert hostrules.exists(as_host(h), RULE)


def test_a_rule_missing_from_the_isolation_chain_does_not_exist() -> None:
    h = host(DOCKER_USER=[SPEC], DOCKER_ISOLATION_STAGE_1=[])
    assert not hostrules.exists(as_host(h), RULE)


def test_without_an_isolation_chain_docker_user_is_enough() -> None:
    h = host(DOCKER_USER=[SPEC])
    assert hostrules.exists(as_host(h), RULE)


def test_remove_takes_the_rule_out_of_both_chains() -> None:
    h = host(DOCKER_USER=[SPEC, "-j RETURN"], DOCKER_ISOLATION_STAGE_1=[SPEC])
    hostrules.remove(as_host(h), RULE)
    assert h.chains == {"DOCKER-USER": ["-j RETURN"], "DOCKER-ISOLATION-STAGE-1": []}
    assert not hostrules.labelled(as_host(h))

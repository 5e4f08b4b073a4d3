"""Service configs checked by the service itself before a lab starts: a balancer's
haproxy.cfg that ``haproxy -c`` rejects is refused with the topology's file, line and
field and the template's line, before any container of the lab exists.

keepalived.conf is judged at topology load, by our own parser (no Docker needed). haproxy
has no such twin here, and its own parser is the judge users meet: the check runs the
service's config test (`BalancerService.config_test_cmd`) in a throwaway container of the
balancer image the lab will run (same haproxy version), with no network, holding the
node's files rendered against the sample subnet (rendering keeps lines). Each distinct
(image, files) pair is checked once per process.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
from typing import TYPE_CHECKING

from . import services, yamldoc
from .errors import TopologyError
from .nodes import parallel
from .topology import SAMPLE_SUBNET, SAMPLE_SUBNET6, Role, Topology, read_text_file

if TYPE_CHECKING:
    from .dockerhost import DockerHost

__all__ = ["check_service_configs"]

_cache: dict[str, tuple[int, str]] = {}
_lock = threading.Lock()
# haproxy: "parsing [/etc/haproxy/haproxy.cfg:23] : unknown keyword ..."; nginx: "... in
# /etc/nginx/conf.d/halab.conf:5"
_SUMMARY = re.compile(r"Fatal errors found in configuration|Error\(s\) found in configuration file")
_AT = re.compile(r"\[?(/[^\s:\[\]]+):(\d+)\]?")


def check_service_configs(
    host: DockerHost, image: str, topo: Topology, labels: dict[str, str]
) -> None:
    """Raise TopologyError when a balancer's service config fails its service's own test."""
    sample = topo.addressing(SAMPLE_SUBNET, SAMPLE_SUBNET6 if topo.spec.ipv6 else None)
    jobs = []
    for node in topo.nodes_with_role(Role.BALANCER):
        rendered = topo.render_files(node, sample)
        for svc in services.SERVICES.values():
            cmd = svc.config_test_cmd()
            if svc.checked_at_load and cmd and svc.config_path in rendered:
                files = {path: f.data for path, f in rendered.items()}
                jobs.append((node, svc, cmd, files, {p: f.mode for p, f in rendered.items()}))
    if not jobs:
        return

    def run(job: tuple) -> tuple[int, str]:  # type: ignore[type-arg]
        _node, svc, cmd, files, modes = job
        key = hashlib.sha256(
            repr((image, svc.name, cmd, sorted(files.items()))).encode()
        ).hexdigest()
        with _lock:
            if key in _cache:
                return _cache[key]
        result = _run_in_image(host, image, cmd, files, modes, labels)
        with _lock:
            _cache[key] = result
        return result

    for (node, svc, cmd, _files, _modes), (code, output) in zip(
        jobs, parallel(run, jobs), strict=True
    ):
        if code != 0:
            raise TopologyError(_message(topo, node, svc.config_path, cmd, code, output))


def _run_in_image(
    host: DockerHost,
    image: str,
    cmd: str,
    files: dict[str, bytes],
    modes: dict[str, int],
    labels: dict[str, str],
) -> tuple[int, str]:
    client = host.client()
    container = client.containers.create(
        image,
        entrypoint=["sh", "-c", cmd],
        network_mode="none",
        labels={**labels, "io.halab.role": "config-check"},
        detach=True,
    )
    try:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for path, data in files.items():
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size = len(data)
                info.mode = modes.get(path, 0o644)
                tar.addfile(info, io.BytesIO(data))
        container.put_archive("/", buf.getvalue())
        container.start()
        code = int(container.wait(timeout=60).get("StatusCode", 1))
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
    finally:
        container.remove(force=True)
    return code, output


def _message(topo: Topology, node: str, path: str, cmd: str, code: int, output: str) -> str:
    """'TOPOLOGY.yaml:LINE: nodes.NODE.files.PATH: ...' then each of the service's
    complaints at the template's line."""
    line = None
    try:
        root, _ = yamldoc.parse_yaml(topo.path, read_text_file(topo.path, "topology file"))
        line = yamldoc.line_of(root, ("nodes", node, "files", path, "template"))
    except TopologyError:
        pass
    where = f"{topo.path}:{line}" if line else str(topo.path)
    templates = {
        dest: (topo.path.parent / f.template).resolve()
        for dest, f in topo.spec.nodes[node].files.items()
    }
    said = []
    for raw in output.splitlines():
        text = raw.strip()
        # haproxy's banner and summary lines say nothing about where
        if not text or text.startswith("[NOTICE]") or _SUMMARY.search(text):
            continue
        m = _AT.search(text)
        if m and m.group(1) in templates:
            text = f"{templates[m.group(1)]}:{m.group(2)}: {_strip(text, m)}"
        said.append(text)
    head = f"{where}: nodes.{node}.files.{path}: `{cmd.split()[0]}` rejects it (exit {code})"
    return head + (":\n" + "\n".join(said) if said else "")


def _strip(text: str, m: re.Match[str]) -> str:
    """The complaint without haproxy's '[ALERT] (7) : config : parsing [...] :' prefix."""
    rest = text[m.end() :].lstrip(" :]")
    return rest or text

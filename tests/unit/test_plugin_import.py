"""The plugin is loaded by every pytest run of a project that installs it: loading it must
not load the lab, Docker's SDK, YAML or rich. They come with the first test that asks for a
lab (or the first table drawn). mypy checks the imports moved into functions; the lab tests
run them."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("docker", "rich", "yaml", "pytest_halab.lab", "pytest_halab.topology", "matplotlib")


def test_loading_the_plugin_loads_no_lab_docker_yaml_or_rich() -> None:
    code = (
        "import json, sys; import pytest_halab.plugin; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []

"""`halab lint`'s findings for people (text), for programs (JSON) and for code-scanning
views (SARIF 2.1.0: GitHub, GitLab and most CI show it next to the lines)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .rules import RULES, Finding

__all__ = ["as_json", "as_sarif", "as_text"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL = "halab lint"


def _shown(path: str) -> str:
    """A path relative to the working directory when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def as_text(findings: Sequence[Finding], checked: Sequence[str]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{_shown(f.file)}:{f.line}: {f.severity} [{f.rule}] {f.message}")
        lines.extend(f"    see {_shown(file)}:{line}" for file, line in f.related)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    what = ", ".join(checked) or "nothing"
    if findings:
        lines.append(f"{errors} error(s), {warnings} warning(s) in {what}")
    else:
        lines.append(f"no findings in {what}")
    return "\n".join(lines) + "\n"


def as_json(findings: Sequence[Finding], checked: Sequence[str]) -> str:
    doc = {
        "balancers": list(checked),
        "findings": [
            {
                "rule": f.rule,
                "severity": f.severity,
                "file": f.file,
                "line": f.line,
                "message": f.message,
                "nodes": list(f.nodes),
                "related": [{"file": file, "line": line} for file, line in f.related],
            }
            for f in findings
        ],
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity != "error" for f in findings),
    }
    return json.dumps(doc, indent=2) + "\n"


def _location(file: str, line: int) -> dict[str, Any]:
    shown = _shown(file)
    uri = shown if not Path(shown).is_absolute() else Path(shown).as_uri()
    return {
        "physicalLocation": {
            "artifactLocation": {"uri": uri},
            "region": {"startLine": max(line, 1)},
        }
    }


def as_sarif(findings: Sequence[Finding], version: str) -> str:
    rule_ids = list(RULES)
    results = []
    for f in findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": rule_ids.index(f.rule),
            "level": "error" if f.severity == "error" else "warning",
            "message": {"text": f.message},
            "locations": [_location(f.file, f.line)],
        }
        if f.related:
            result["relatedLocations"] = [
                {"id": i, **_location(file, line), "message": {"text": "peer"}}
                for i, (file, line) in enumerate(f.related)
            ]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL,
                        "version": version,
                        "rules": [
                            {"id": rid, "shortDescription": {"text": text}}
                            for rid, text in RULES.items()
                        ],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"

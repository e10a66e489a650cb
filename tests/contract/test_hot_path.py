"""The hot path: preflight, breaker-gate and breaker-update load no network, GitHub, schema or database library.

Every batch job runs these three steps; what they import is paid on every run
(see benchmarks/breaker_gate.py). Checked on the real CLI entry, in a fresh
interpreter, on the paths that write (probe granted, outcome recorded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEVER = ("requests", "github", "urllib3", "jsonschema", "jsonschema_rs", "referencing", "sqlite3", "http.client", "socket", "ssl")

PROBE = """
import json, sys
from batchops.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""

CONTROL = {
    "enabled": True,
    "circuit_breaker": {"npm": {"state": "open", "failures": 5, "opens_at": "2026-06-26T21:51:01Z"}},
    "budget": {"macos_minutes_used": 10, "linux_minutes_used": 20, "week_start": ""},
}

STEPS = {
    "preflight": ["preflight", "--ecosystems", "npm,homebrew"],
    "breaker-gate": ["breaker-gate", "--ecosystem", "npm", "--now", "2026-06-26T22:00:00Z"],
    "breaker-update": ["breaker-update", "--ecosystem", "npm", "--outcome", "success", "--macos-minutes", "3", "--now", "2026-06-26T22:10:00Z"],
}


@pytest.mark.parametrize("step", STEPS)
def test_a_hot_path_step_imports_no_network_github_schema_or_database_library(tmp_path: Path, step: str) -> None:
    (tmp_path / "batch-control.json").write_text(json.dumps(CONTROL, indent=2))
    report = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_"))}
    env.update(PYTHONPATH=str(ROOT), GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(tmp_path / "out"), GITHUB_STEP_SUMMARY=str(tmp_path / "summary"), RUNNER_TEMP=str(tmp_path / "runner"))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(report), *STEPS[step]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(report.read_text())
    assert result["code"] == 0, proc.stdout + proc.stderr
    loaded = [name for name in result["modules"] if name in NEVER or name.split(".")[0] in NEVER]
    assert loaded == [], f"{step} imports {loaded}"

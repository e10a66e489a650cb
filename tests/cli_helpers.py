"""Run the batchops CLI the way a workflow does: in a subprocess, outputs via $GITHUB_OUTPUT."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from batchops.adapters.runner import parse_output_file

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


def run_cli(
    args: list[str], cwd: Path, *, env: dict[str, str] | None = None, actions: bool = True, stdin: str | None = None
) -> CliRun:
    """``batchops ARGS`` in ``cwd``; with ``actions`` it behaves as in a runner step."""
    out_file = cwd / ".gh-output"
    summary = cwd / ".gh-summary"
    for path in (out_file, summary):
        if path.exists():
            path.unlink()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    full_env["PYTHONPATH"] = str(REPO_ROOT)
    if actions:
        out_file.touch()
        full_env.update({"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out_file), "GITHUB_STEP_SUMMARY": str(summary)})
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "batchops", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )
    outputs = parse_output_file(out_file.read_text()) if actions and out_file.exists() else {}
    if not actions:
        outputs = dict(
            line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and not line.startswith("::")
        )
    return CliRun(proc.returncode, proc.stdout, proc.stderr, outputs, summary.read_text() if summary.exists() else "")

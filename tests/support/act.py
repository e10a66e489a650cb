"""Run a workflow through the act runner in host mode and collect what it did.

The job's working directory is a scratch folder, so every test workflow starts
with a step that copies the repository in: ``cp -a "$SRC"/. .`` (SRC is passed
with --env). ``uses: ./actions/<step>`` then resolves against that copy.
Tests read outputs by having a last step write ``toJSON(steps.<id>.outputs)``
(passed through env) to ``$RESULT_DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

COPY_STEP = """      - name: copy the repository into the job folder
        run: cp -a "$SRC"/. .
"""


# A step that stands in for actions/checkout in a workflow run under act: a clone of the bare remote
# ($REMOTE) with the repository under test copied to _batchops ($SRC). ``.format(indent=...)``.
CHECKOUT_STAND_IN = """- name: checkout (local stand-in for actions/checkout)
{indent}  run: |
{indent}    git init -q -b main .
{indent}    git remote add origin "$REMOTE"
{indent}    git fetch -q origin
{indent}    git checkout -q -B main origin/main
{indent}    cp -a "$SRC" _batchops
{indent}    echo _batchops >> .git/info/exclude
"""


def single_job(steps: str, *, job: str = "batch") -> str:
    """A push-triggered workflow of one job that copies the repository in, then runs ``steps``
    (YAML list items indented by six spaces)."""
    return (
        f"""
on: push
jobs:
  {job}:
    runs-on: ubuntu-latest
    steps:
"""
        + COPY_STEP
        + steps
    )


@dataclass
class ActRun:
    returncode: int
    log: str
    result_dir: Path
    summaries: list[str] = field(default_factory=list)

    def result(self, name: str) -> Any:
        path = self.result_dir / name
        return json.loads(path.read_text()) if path.exists() else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def act_available() -> bool:
    return shutil.which("act") is not None


def run_workflow(
    workflow: str,
    tmp_path: Path,
    *,
    src: Path | None = None,
    event: str = "push",
    event_payload: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    inputs: dict[str, str] | None = None,
    variables: dict[str, str] | None = None,
    timeout: int = 300,
) -> ActRun:
    """Run ``workflow`` (YAML text) with act; SRC defaults to a copy of this repository."""
    home = tmp_path / "act-home"
    home.mkdir(parents=True, exist_ok=True)
    wf_dir = tmp_path / "act-workflow" / ".github" / "workflows"
    wf_dir.mkdir(parents=True, exist_ok=True)
    wf_file = wf_dir / "test.yml"
    wf_file.write_text(workflow)
    result_dir = tmp_path / "act-results"
    result_dir.mkdir(exist_ok=True)
    if src is None:
        src = copy_repository(tmp_path / "act-src")
    cmd = [
        "act",
        event,
        "-P",
        "ubuntu-latest=-self-hosted",
        "-W",
        str(wf_file),
        "--env",
        f"SRC={src}",
        "--env",
        f"RESULT_DIR={result_dir}",
    ]
    for key, value in (env or {}).items():
        cmd += ["--env", f"{key}={value}"]
    for key, value in (secrets or {}).items():
        cmd += ["-s", f"{key}={value}"]
    for key, value in (variables or {}).items():
        cmd += ["--var", f"{key}={value}"]
    for key, value in (inputs or {}).items():
        cmd += ["--input", f"{key}={value}"]
    if event_payload is not None:
        payload = tmp_path / "act-event.json"
        payload.write_text(json.dumps(event_payload))
        cmd += ["-e", str(payload)]
    # each job of the workflow keeps its own journal under its RUNNER_TEMP
    proc_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "RUNNER_", "INPUT_")) and k not in ("BATCHOPS_JOURNAL", "BATCHOPS_NOW")
    }
    proc_env["HOME"] = str(home)
    proc_env.setdefault("BATCHOPS_VENV", os.environ.get("BATCHOPS_VENV", ""))
    proc = subprocess.run(
        cmd,
        cwd=wf_dir.parents[1],
        env=proc_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return ActRun(proc.returncode, proc.stdout + proc.stderr, result_dir)


def copy_repository(dest: Path) -> Path:
    """A clean copy of the repository's tracked and untracked (not ignored) files."""
    ignore = shutil.ignore_patterns(
        ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis", "*.egg-info", ".batchops"
    )
    shutil.copytree(REPO_ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def run_with_telemetry(
    act: Any, workflow: str, tmp_path: Path, *, remote: Path, token: str, secret: str, variable: str
) -> Any:
    """Run ``workflow`` (on workflow_dispatch) against the bare ``remote``, with a real telemetry endpoint on
    127.0.0.1 (``batchops metrics serve``, its store ``tmp_path/telemetry.db``) named by the repository variable
    ``variable`` and its token by the secret ``secret``; the endpoint stops when the run ends."""
    from batchops.commands import metrics

    server = metrics.make_server(str(tmp_path / "telemetry.db"), token).start()
    try:
        return act(
            workflow,
            src=copy_repository(tmp_path / "src"),
            event="workflow_dispatch",
            env={"REMOTE": str(remote)},
            secrets={secret: token},
            variables={variable: server.url},
            timeout=600,
        )
    finally:
        server.shutdown()
        server.server_close()

"""A consumer repository that vendors batchops with the copy command of docs/install.md and
uses the actions by path, on a fresh runner: no environment, no uv, empty caches."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.act import COPY_STEP

pytestmark = [pytest.mark.act, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RELEASE_URL = "https://github.com/batchops/batchops.git"

WORKFLOW = (
    """
on: push
jobs:
  batch:
    runs-on: ubuntu-latest
    steps:
"""
    + COPY_STEP
    + """      - id: preflight
        uses: ./vendor/batchops/actions/preflight
        with:
          ecosystems: homebrew, npm
      - id: gate
        uses: ./vendor/batchops/actions/breaker-gate
        with:
          ecosystem: homebrew
      - name: report the setup time
        env:
          PREFLIGHT: ${{ toJSON(steps.preflight.outputs) }}
          GATE: ${{ toJSON(steps.gate.outputs) }}
        run: |
          printf '%s' "$PREFLIGHT" > "$RESULT_DIR/preflight.json"
          printf '%s' "$GATE" > "$RESULT_DIR/gate.json"
          echo "RUNNER_TEMP=$RUNNER_TEMP" > "$RESULT_DIR/runner.txt"
          ls -A "$RUNNER_TEMP/batchops-venv" > "$RESULT_DIR/venv.txt"
          {
            echo "### batchops setup"
            echo
            echo "$(cat "$RUNNER_TEMP/batchops-venv/.batchops-setup")"
          } >> "$GITHUB_STEP_SUMMARY"
          cp "$GITHUB_STEP_SUMMARY" "$RESULT_DIR/summary.md"
"""
)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _release(tmp_path: Path) -> Path:
    """A repository holding the files of this work tree (as they would be committed), tagged v1.0.0."""
    upstream = tmp_path / "upstream"
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        dest = upstream / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dest.symlink_to(src.readlink())
        else:
            shutil.copy2(src, dest)
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", "-A")
    _git(
        upstream,
        "-c",
        "user.name=release",
        "-c",
        "user.email=release@example.invalid",
        "commit",
        "-q",
        "-m",
        "batchops 1.0.0",
    )
    _git(upstream, "tag", "v1.0.0")
    return upstream


def _documented_copy_command() -> str:
    text = (ROOT / "docs" / "install.md").read_text()
    section = text.split("## (c) A vendored copy", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "docs/install.md shows the copy command of a vendored copy"
    assert RELEASE_URL in block.group(1)
    return block.group(1)


def _consumer(tmp_path: Path, upstream: Path) -> Path:
    consumer = tmp_path / "registry"
    consumer.mkdir()
    _git(consumer, "init", "-q", "-b", "main")
    command = _documented_copy_command().replace(RELEASE_URL, upstream.as_uri())
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command], cwd=consumer, check=True, capture_output=True, text=True
    )
    (consumer / "batch-control.json").write_text(
        json.dumps({"enabled": True, "disabled_ecosystems": ["npm"]}, indent=2)
    )
    return consumer


def test_vendored_copy_runs_preflight_and_breaker_gate_cold_and_reports_the_setup_time(act, tmp_path: Path) -> None:
    consumer = _consumer(tmp_path, _release(tmp_path))
    assert (consumer / "vendor" / "batchops" / "actions" / "preflight" / "action.yml").is_file()
    assert not (consumer / "vendor" / "batchops" / ".git").exists()

    run = act(WORKFLOW, src=consumer, env={"BATCHOPS_VENV": ""}, timeout=600)  # default place: a fresh RUNNER_TEMP
    assert run.ok, run.log

    preflight = run.result("preflight.json")
    assert preflight["can-proceed"] == "true"
    assert json.loads(preflight["ecosystems"]) == ["homebrew"]
    assert json.loads(preflight["disabled-ecosystems"]) == ["npm"]
    gate = run.result("gate.json")
    assert gate["skip"] == "false" and gate["state"] == "closed"

    runner_temp = Path((run.result_dir / "runner.txt").read_text().strip().split("=", 1)[1])
    assert runner_temp.is_relative_to(tmp_path)  # this run's own, fresh RUNNER_TEMP
    assert {"bin", ".batchops-stamp"} <= set((run.result_dir / "venv.txt").read_text().split())  # built there
    summary = (run.result_dir / "summary.md").read_text()
    assert re.search(r"environment built in \d+\.\d\d s with uv \d+\.\d+\.\d+", summary), summary
    # the first step paid the setup (its log and its own summary say so), the second reused it
    assert len(re.findall(r"\| batchops setup: environment built in", run.log)) == 1, run.log
    assert re.search(r"Summary - _batchops setup: environment built in \d+\.\d\d s", run.log), run.log


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): (
            "-> " + p.readlink().as_posix() if p.is_symlink() else hashlib.sha256(p.read_bytes()).hexdigest()
        )
        for p in sorted(folder.rglob("*"))
        if (p.is_file() or p.is_symlink()) and ".git" not in p.relative_to(folder).parts
    }


def test_git_subtree_as_documented_vendors_the_same_tree(tmp_path: Path) -> None:
    upstream = _release(tmp_path)
    copied = _consumer(tmp_path, upstream)
    text = (ROOT / "docs" / "install.md").read_text()
    add = next(line for line in text.splitlines() if line.startswith("git subtree add "))
    subtree = tmp_path / "registry-subtree"
    subtree.mkdir()
    _git(subtree, "init", "-q", "-b", "main")
    _git(
        subtree,
        "-c",
        "user.name=a",
        "-c",
        "user.email=a@example.invalid",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "start",
    )
    env_cmd = [
        "env",
        "GIT_AUTHOR_NAME=a",
        "GIT_AUTHOR_EMAIL=a@example.invalid",
        "GIT_COMMITTER_NAME=a",
        "GIT_COMMITTER_EMAIL=a@example.invalid",
    ]
    subprocess.run(
        [*env_cmd, "bash", "-euc", add.replace(RELEASE_URL, upstream.as_uri())],
        cwd=subtree,
        check=True,
        capture_output=True,
    )
    assert _tree(subtree / "vendor" / "batchops") == _tree(copied / "vendor" / "batchops")

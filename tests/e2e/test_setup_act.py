"""The setup action installs batchops once per job and puts it on PATH."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.act import single_job

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = single_job(
    """      - id: setup
        uses: ./
      - name: batchops is on PATH
        run: |
          batchops --version > "$RESULT_DIR/version.txt"
          batchops status > "$RESULT_DIR/status.txt"
      - id: preflight
        uses: ./actions/preflight
      - name: the step action reused the environment
        env:
          BIN: ${{ steps.setup.outputs.path }}
        run: |
          printf '%s' "$BIN" > "$RESULT_DIR/path.txt"
          ls -A "$BATCHOPS_VENV" > "$RESULT_DIR/venv.txt"
""",
    job="setup",
)


def test_setup_puts_batchops_on_path_and_steps_reuse_the_environment(act, tmp_path: Path, batchops_venv: Path) -> None:
    run = act(WORKFLOW, env={"BATCHOPS_VENV": str(batchops_venv)})
    assert run.ok, run.log
    assert (run.result_dir / "version.txt").read_text().startswith("batchops ")
    assert "batchops status" in (run.result_dir / "status.txt").read_text()  # the operator command runs
    assert (run.result_dir / "path.txt").read_text().endswith("/batchops")
    assert "batchops setup: environment built" not in run.log  # nothing was installed again


def test_cold_setup_bootstraps_uv_and_builds_an_isolated_environment_once(act, tmp_path: Path) -> None:
    venv = tmp_path / "fresh-venv"
    run = act(WORKFLOW, env={"BATCHOPS_VENV": str(venv)}, timeout=600)
    assert run.ok, run.log
    assert (venv / "bin" / "python").exists()
    assert (venv / ".batchops-stamp").exists()
    assert (run.result_dir / "version.txt").read_text().startswith("batchops ")
    built = re.findall(r"\| batchops setup: environment built in \d+\.\d\d s with (.*)", run.log)
    assert len(built) == 1, run.log  # the setup action paid; the preflight step reused it
    # a fresh runner has no uv: the pinned one is installed first (one on PATH would be used as is)
    assert re.match(r"uv \d+\.\d+\.\d+ (\(installed into the tool cache first\)|from PATH)", built[0]), built

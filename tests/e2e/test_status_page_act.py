"""End to end: the status-page action through act, in a checkout holding the first user's history."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import corpus_dir
from tests.support import control_history
from tests.support.act import COPY_STEP, copy_repository

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = (
    """
on:
  schedule:
    - cron: "41 * * * *"
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    permissions:
      contents: read
    steps:
"""
    + COPY_STEP
    + """      - id: page
        uses: ./actions/status-page
        with:
          days: "160"
      - name: save the page and the outputs
        env:
          OUTPUTS: ${{ toJSON(steps.page.outputs) }}
          PAGE_DIR: ${{ steps.page.outputs.page-dir }}
        run: |
          printf '%s' "$OUTPUTS" > "$RESULT_DIR/outputs.json"
          cp "$PAGE_DIR/index.html" "$PAGE_DIR/feed.xml" "$RESULT_DIR/"
"""
)


def test_the_action_builds_the_page_from_the_checkouts_history(act, tmp_path: Path) -> None:
    src = copy_repository(tmp_path / "src")
    control_history.build(src, corpus_dir() / "tsuku" / "control-history")  # the registry's history, in the checkout
    run = act(WORKFLOW, src=src, event="schedule", env={"BATCHOPS_NOW": "2026-06-29T12:00:00Z"})
    assert run.ok, run.log
    assert run.result("outputs.json") == {"page-dir": "status-page", "open-incidents": "8"}
    page = (run.result_dir / "index.html").read_text(encoding="utf-8")
    assert "no batch has shipped recipes since 2026-05-08T14:12:31Z" in page
    assert "Content-Security-Policy" in page and "<script" not in page
    assert "<feed" in (run.result_dir / "feed.xml").read_text(encoding="utf-8")

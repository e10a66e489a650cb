"""End to end: the alert action through act, against the GitHub stand-in and a webhook on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.contract.test_alert_github import CLOSED, Hook, control, tripped
from tests.support.act import COPY_STEP, copy_repository
from tests.support.github_api import GitHubStandIn

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = (
    """
on:
  schedule:
    - cron: "23 * * * *"
permissions: {}
jobs:
  alert:
    runs-on: ubuntu-latest
    permissions:
      issues: write
    steps:
"""
    + COPY_STEP
    + """      - id: first
        uses: ./actions/alert
        with:
          github-token: ${{ secrets.GITHUB_TOKEN }}
          webhook-url: ${{ secrets.WEBHOOK }}
      - id: again
        uses: ./actions/alert
        with:
          github-token: ${{ secrets.GITHUB_TOKEN }}
          webhook-url: ${{ secrets.WEBHOOK }}
      - name: save outputs
        env:
          FIRST: ${{ toJSON(steps.first.outputs) }}
          AGAIN: ${{ toJSON(steps.again.outputs) }}
        run: |
          printf '%s' "$FIRST" > "$RESULT_DIR/first.json"
          printf '%s' "$AGAIN" > "$RESULT_DIR/again.json"
"""
)


def test_scheduled_alert_opens_one_issue_per_incident_and_the_next_run_changes_nothing(
    act, tmp_path: Path, github_api: GitHubStandIn
) -> None:
    github_api.add_repo("tsuku/registry")
    src = copy_repository(tmp_path / "src")
    (src / "batch-control.json").write_text(json.dumps(control(npm=tripped(), pypi=CLOSED)))
    with Hook(200) as hook:
        run = act(
            WORKFLOW,
            src=src,
            event="schedule",
            env={
                "GITHUB_API_URL": github_api.base_url,
                "GITHUB_REPOSITORY": "tsuku/registry",
                "BATCHOPS_GITHUB_WRITE_INTERVAL": "0",
                "BATCHOPS_NOW": "2026-06-01T12:00:00Z",
            },
            secrets={"GITHUB_TOKEN": github_api.token, "WEBHOOK": hook.url},
        )
    assert run.ok, run.log
    assert run.result("first.json") == {"opened": "1", "updated": "0", "closed": "0", "open-incidents": "1"}
    assert run.result("again.json") == {"opened": "0", "updated": "0", "closed": "0", "open-incidents": "1"}
    (issue,) = github_api.issues("tsuku/registry")
    assert issue["title"] == "Circuit breaker open: npm"
    assert [m["text"].split(":")[0] for m in hook.received] == ["batchops incident opened"]
    assert github_api.token not in run.log and "/services/T000" not in run.log

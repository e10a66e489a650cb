"""End to end: the scheduled drift-monitor workflow through act, against a local upstream and the GitHub stand-in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.act import COPY_STEP, copy_repository
from tests.support.github_api import GitHubStandIn
from tests.support.upstream import Upstream

pytestmark = [pytest.mark.act, pytest.mark.slow]

WORKFLOW = (
    """
on:
  schedule:
    - cron: "41 5 * * *"
  workflow_dispatch:
permissions: {}
jobs:
  drift:
    runs-on: ubuntu-latest
    permissions:
      contents: write
      issues: write
    steps:
"""
    + COPY_STEP
    + """      - id: today
        uses: ./actions/drift-monitor
        with:
          recipes-dir: recipes
          github-token: ${{ secrets.GITHUB_TOKEN }}
          labels: security, checksum-drift
          platforms: linux/amd64,darwin/arm64
      - id: tomorrow
        uses: ./actions/drift-monitor
        with:
          recipes-dir: recipes
          github-token: ${{ secrets.GITHUB_TOKEN }}
      - name: save outputs
        env:
          TODAY: ${{ toJSON(steps.today.outputs) }}
          TOMORROW: ${{ toJSON(steps.tomorrow.outputs) }}
        run: |
          printf '%s' "$TODAY" > "$RESULT_DIR/today.json"
          printf '%s' "$TOMORROW" > "$RESULT_DIR/tomorrow.json"
          cp checksum-baseline.json "$RESULT_DIR/baseline.json"
          cp "$RUNNER_TEMP/batchops/drift-report.json" "$RESULT_DIR/report.json"
"""
)


def test_scheduled_run_opens_one_issue_and_comments_on_the_next_run(
    act, tmp_path: Path, github_api: GitHubStandIn
) -> None:
    upstream = Upstream().start()
    fake = github_api
    fake.add_repo("tsuku/registry")
    fake.add_repo("acme/tool")
    try:
        tool_url = upstream.put("/tool/v2.0.0/SHA256SUMS", "tampered  tool.zip\n")
        upstream.put("/pinned/1.0.0/SHA256SUMS", "fine  pinned.zip\n")
        fake.add_release("acme/tool", "v2.0.0", published_at="2026-01-01T00:00:00Z")
        src = copy_repository(tmp_path / "src")
        recipes = src / "recipes"
        recipes.mkdir()
        (recipes / "tool.toml").write_text(
            '[metadata]\nname = "tool"\n[version]\ngithub_repo = "acme/tool"\ntag_prefix = "v"\n'
            f'[[steps]]\naction = "download"\nurl = "{upstream.url}/tool/{{version_tag}}/tool.zip"\n'
            f'checksum_url = "{upstream.url}/tool/{{version_tag}}/SHA256SUMS"\n'
        )
        (recipes / "pinned.toml").write_text(
            '[metadata]\nname = "pinned"\n[version]\nversion = "1.0.0"\n'
            f'[[steps]]\naction = "download"\nurl = "{upstream.url}/pinned/{{version}}/p.zip"\n'
            f'checksum_url = "{upstream.url}/pinned/{{version}}/SHA256SUMS"\n'
            'when = { os = ["linux"] }\n'
        )
        recorded = hashlib.sha256(b"original  tool.zip\n").hexdigest()
        stamp = "2026-01-02T00:00:00Z"
        (src / "checksum-baseline.json").write_text(
            json.dumps(
                {
                    "version": 1,
                    "recipes": {
                        "tool": {"2.0.0": {tool_url: {"sha256": recorded, "first_seen": stamp, "last_verified": stamp}}}
                    },
                }
            )
        )
        run = act(
            WORKFLOW,
            src=src,
            event="schedule",
            env={
                "GITHUB_API_URL": fake.base_url,
                "GITHUB_REPOSITORY": "tsuku/registry",
                "BATCHOPS_GITHUB_WRITE_INTERVAL": "0",
            },
            secrets={"GITHUB_TOKEN": fake.token},
        )
    finally:
        upstream.stop()
    assert run.ok, run.log
    today, tomorrow = run.result("today.json"), run.result("tomorrow.json")
    assert today["drift"] == "true" and today["drifted-count"] == "1" and today["unverifiable-count"] == "0"
    assert today["issue-url"] == "https://github.com/tsuku/registry/issues/1"
    assert tomorrow["issue-url"] == today["issue-url"]
    (issue,) = fake.issues("tsuku/registry")
    assert len(fake.comments("tsuku/registry", 1)) == 1
    assert [label["name"] for label in issue["labels"]] == ["security", "checksum-drift"]
    assert fake.violations == []  # every request valid against GitHub's description
    baseline = run.result("baseline.json")
    assert baseline["recipes"]["tool"]["2.0.0"][tool_url]["sha256"] == recorded  # drift never rewrites the baseline
    assert "pinned" in baseline["recipes"]  # first sight recorded
    report = run.result("report.json")
    assert report["counts"]["drift"] == 1 and report["counts"]["ok"] == 1
    assert fake.token not in run.log

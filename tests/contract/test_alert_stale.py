"""A pipeline gone quiet (``stale-after``) on the first user's history: real git, the GitHub stand-in.

The history is the corpus control files as 1,226 commits and the batches as squash merges
(:mod:`tests.support.control_history`): the last batch that shipped landed on 2026-05-08 while the
pipeline kept running, failing, until 2026-06-26 20:51, then stopped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from batchops.core import alert
from tests.cli_helpers import run_cli
from tests.conftest import corpus_dir
from tests.support import control_history

REPO = "tsuku/tsuku"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("tsuku") / "tsuku"
    control_history.build(repo, corpus_dir() / "tsuku" / "control-history")
    return repo


def replay_actions(run: Any) -> list[tuple[str, str, str]]:
    """(time, verb, rest) of every line of the replay that acted on a staleness incident."""
    found = []
    for line in run.stdout.splitlines():
        if line.startswith("2026-") and "Batch pipeline quiet" in line:
            stamp, _, verb, rest = line.split(None, 3)
            found.append((stamp, verb, rest))
    return found


def test_replaying_the_first_users_history_raises_the_may_stall_and_the_june_silence(history: Path) -> None:
    run = run_cli(
        ["alert", "replay", "--git", "batch-control.json", "--stale-after", "48h", "--until", "2026-07-01T00:00:00Z"],
        history,
        actions=False,
    )
    assert run.returncode == 0, run.log
    opened = [(stamp, rest) for stamp, verb, rest in replay_actions(run) if verb == "open"]
    assert len(opened) == 2, opened
    (shipped_at, shipped), (quiet_at, quiet) = opened
    assert "no batch has shipped recipes since 2026-05-08T14:12:31Z" in shipped
    assert "2026-05-10T14:12:31Z" < shipped_at <= "2026-05-10T15:12:31Z"  # the first run after 48h without a landing
    assert "no batch has run since 2026-06-26T20:51:08Z" in quiet
    assert "2026-06-28T20:51:08Z" < quiet_at <= "2026-06-28T21:51:08Z"
    assert "  pipeline/not-shipping: #" in run.stdout and "  pipeline/quiet: #" in run.stdout


def test_without_stale_after_the_replay_says_nothing_of_a_quiet_pipeline(history: Path) -> None:
    run = run_cli(
        ["alert", "replay", "--git", "batch-control.json", "--until", "2026-07-01T00:00:00Z"], history, actions=False
    )
    assert run.returncode == 0, run.log
    assert replay_actions(run) == [] and "pipeline/quiet" not in run.stdout


@pytest.fixture
def standin(github_api: Any) -> Any:
    github_api.add_repo(REPO)
    return github_api


def run_alert(history: Path, standin: Any, now: str, *extra: str) -> Any:
    env = {**standin.env(REPO), "BATCHOPS_GITHUB_WRITE_INTERVAL": "0"}
    return run_cli(["alert", "--github-token", standin.token, "--now", now, *extra], history, env=env)


def quiet_issues(standin: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for issue in standin.issues(REPO):
        marker = alert.parse_marker(issue["body"])
        if marker and marker.key.startswith("pipeline/"):
            found[marker.key] = issue
    return found


def test_a_checkout_of_the_stalled_pipeline_opens_an_issue_for_each_silence(history: Path, standin: Any) -> None:
    run = run_alert(history, standin, "2026-05-11T00:00:00Z")
    assert run.returncode == 0, run.log
    issues = quiet_issues(standin)
    assert list(issues) == ["pipeline/not-shipping"]
    body = issues["pipeline/not-shipping"]["body"]
    assert "2026-05-08T14:12:31Z" in body and "add batch recipes (1 recipes) (#2382)" in body.replace("\\", "")
    assert "batchops status" in body

    run = run_alert(history, standin, "2026-06-29T00:00:00Z")
    assert run.returncode == 0, run.log
    issues = quiet_issues(standin)
    assert sorted(issues) == ["pipeline/not-shipping", "pipeline/quiet"]
    assert issues["pipeline/quiet"]["title"] == "Batch pipeline quiet: no batch has run since 2026-06-26T20:51:08Z"
    assert run.outputs["open-incidents"] == "8"  # the six open breakers and the two silences


def test_stale_after_empty_turns_the_check_off(history: Path, standin: Any) -> None:
    run = run_alert(history, standin, "2026-06-29T00:00:00Z", "--stale-after", "")
    assert run.returncode == 0, run.log
    assert quiet_issues(standin) == {} and run.outputs["open-incidents"] == "6"


def test_a_shallow_checkout_warns_that_stale_after_needs_the_history(
    history: Path, standin: Any, tmp_path: Path
) -> None:
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{history}", str(shallow)], check=True)
    run = run_alert(shallow, standin, "2026-06-29T00:00:00Z")
    assert run.returncode == 0, run.log
    (warning,) = [line for line in run.stdout.splitlines() if "stale-after" in line and line.startswith("::warning")]
    assert "fetch-depth: 0" in warning
    assert quiet_issues(standin) == {}

"""Drift issues on GitHub as GitHub behaves (the stand-in checks every request against GitHub's description):
mass drift, rate limits, the search quota, pull requests among issues, reasons, pagination."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchops.core import drift
from tests.support import drift_registry
from tests.support.drift_registry import run_monitor, wire
from tests.support.github_api import GitHubStandIn
from tests.support.upstream import Upstream

REPO = "tsuku/registry"
LABELS = ["security", "checksum-drift"]


@pytest.fixture
def gh(github_api: GitHubStandIn, monkeypatch: pytest.MonkeyPatch) -> GitHubStandIn:
    return wire(github_api, monkeypatch, REPO)


def drifting(root: Path, upstream: Upstream, count: int, *, start: int = 0) -> None:
    """``count`` recipes whose checksum files no longer have the recorded bytes."""
    drift_registry.drifting(root, upstream, range(start, start + count))


def run(
    root: Path,
    gh: GitHubStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    now: str = "2026-03-02T12:00:00Z",
) -> dict[str, Any]:
    return run_monitor(root, gh, capsys, monkeypatch, now=now)


def fingerprints(result: dict[str, Any]) -> set[str]:
    return {f["fingerprint"] for f in result["report"]["findings"] if f["status"] == "drift"}


def carried(gh: GitHubStandIn) -> set[str]:
    return {fp for issue in gh.issues(REPO) for fp in drift.markers(issue["body"])}


def test_a_mass_drift_of_100_files_is_reported_in_one_run_in_a_grouped_issue(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 100)

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert len(fingerprints(result)) == 100
    assert carried(gh) == fingerprints(result)  # every drift is in an issue
    (issue,) = gh.issues(REPO)
    assert issue["title"] == "Checksum drift: 100 checksum files of 100 recipes"
    assert len(issue["body"]) < 65536
    assert all(i["action"] == "created" and i["url"] == issue["html_url"] for i in result["report"]["issues"])
    assert "grouped issue" in result["log"]
    assert len(gh.requests_to("GET", "/search/issues")) <= 1  # not one search per drift


def test_the_next_run_comments_once_on_the_grouped_issue_and_opens_nothing(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 40)
    run(tmp_path, gh, capsys, monkeypatch)
    searches = len(gh.requests_to("GET", "/search/issues"))

    again = run(tmp_path, gh, capsys, monkeypatch, now="2026-03-03T12:00:00Z")

    assert len(gh.issues(REPO)) == 1
    assert len(gh.comments(REPO, 1)) == 1
    assert {i["action"] for i in again["report"]["issues"]} == {"commented"}
    assert len(gh.requests_to("GET", "/search/issues")) == searches  # the labelled listing found them all


def test_up_to_the_threshold_each_drift_gets_its_own_issue(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, drift.GROUP_THRESHOLD)

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert len(gh.issues(REPO)) == drift.GROUP_THRESHOLD
    assert carried(gh) == fingerprints(result)
    assert all(len(drift.markers(i["body"])) == 1 for i in gh.issues(REPO))
    assert len(result["outputs"]["issue-url"].splitlines()) == drift.GROUP_THRESHOLD


def test_new_drifts_beside_open_issues_get_their_own_and_the_old_ones_a_comment(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 2)
    run(tmp_path, gh, capsys, monkeypatch)
    drifting(tmp_path, upstream, 1, start=2)

    again = run(tmp_path, gh, capsys, monkeypatch, now="2026-03-03T12:00:00Z")

    actions = sorted(i["action"] for i in again["report"]["issues"])
    assert actions == ["commented", "commented", "created"]
    assert len(gh.issues(REPO)) == 3
    assert carried(gh) == fingerprints(again)


def test_secondary_rate_limits_are_waited_out_and_every_drift_still_gets_its_issue(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 3)
    gh.inject("POST", f"/repos/{REPO}/issues", 403, times=2)  # GitHub's secondary limit, retry-after: 1
    gh.inject("GET", f"/repos/{REPO}/issues", 429)

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert carried(gh) == fingerprints(result)
    assert len(gh.issues(REPO)) == 3
    assert gh.waits == [1.0, 1.0, 1.0]  # type: ignore[attr-defined]


def test_a_rate_limit_that_outlasts_the_deadline_fails_with_githubs_reason_and_stops_asking(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 3)
    gh.inject("POST", f"/repos/{REPO}/issues", 403, times=100, headers={"retry-after": "3600"})

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 1
    assert "You have exceeded a secondary rate limit" in result["log"]
    assert "rate limit" in result["log"] and "re-run after" in result["log"]
    assert len(gh.requests_to("POST", f"/repos/{REPO}/issues")) == 1  # the first refusal stops the others
    assert {i["action"] for i in result["report"]["issues"]} == {"failed"}


def test_a_pull_request_labelled_and_marked_like_a_drift_issue_is_never_taken_for_it(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 1)
    fp = drift.fingerprint(
        "tool000", "1.0.0", __import__("hashlib").sha256(f"{0:064x}  tool000.zip\n".encode()).hexdigest()
    )
    gh.set_branch(REPO, "fix-drift", "c" * 40)
    gh.add_label(REPO, "security")
    gh.add_label(REPO, "checksum-drift")
    gh.add_pull(REPO, head="fix-drift", title="a PR quoting the drift issue", body=drift.marker(fp), labels=LABELS)

    result = run(tmp_path, gh, capsys, monkeypatch)

    (issue,) = gh.issues(REPO)  # a real issue was opened beside the PR
    assert result["outputs"]["issue-url"] == issue["html_url"]
    assert "/pull/" not in result["outputs"]["issue-url"]
    assert gh.comments(REPO, 1) == []  # nothing commented on the PR
    assert result["report"]["issues"][0]["action"] == "created"


def test_an_open_issue_on_the_second_page_is_found_and_commented_on(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 1)
    for n in range(130):
        gh.add_issue(REPO, f"older drift {n}", body="no marker", labels=LABELS)
    run(tmp_path, gh, capsys, monkeypatch)
    (ours,) = [i for i in gh.issues(REPO) if drift.markers(i["body"])]
    assert ours["number"] == 131

    again = run(tmp_path, gh, capsys, monkeypatch, now="2026-03-03T12:00:00Z")

    assert again["report"]["issues"][0]["action"] == "commented"
    assert len(gh.comments(REPO, 131)) == 1
    pages = [r.query.get("page", ["1"])[0] for r in gh.requests_to("GET", f"/repos/{REPO}/issues")]
    assert "2" in pages


def test_an_unlabelled_issue_is_found_by_one_marker_search_within_the_quota(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 3)
    run(tmp_path, gh, capsys, monkeypatch)
    for issue in gh.repos[REPO].issues.values():
        issue.labels = []
    before = len(gh.requests_to("GET", "/search/issues"))

    again = run(tmp_path, gh, capsys, monkeypatch, now="2026-03-03T12:00:00Z")

    assert {i["action"] for i in again["report"]["issues"]} == {"commented"}
    assert len(gh.issues(REPO)) == 3
    assert len(gh.requests_to("GET", "/search/issues")) - before == 1


def test_with_the_search_quota_used_up_new_drifts_are_still_opened_and_a_note_says_so(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 2)
    client = gh.client()
    for _ in range(gh.SEARCH_LIMIT):
        client.search_issues(f"repo:{REPO} is:issue something").get_page(0)

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert carried(gh) == fingerprints(result)
    assert "search quota" in result["log"]
    assert len(gh.requests_to("GET", "/search/issues")) == gh.SEARCH_LIMIT  # none spent past the quota


def test_a_422_on_issue_creation_carries_githubs_errors_messages(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 1)
    gh.inject(
        "POST",
        f"/repos/{REPO}/issues",
        422,
        body={
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "Issue",
                    "code": "custom",
                    "field": "body",
                    "message": "body is too long (maximum is 65536 characters)",
                }
            ],
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
        },
    )

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 1
    error = result["report"]["issues"][0]["error"]
    assert "422 Validation Failed" in error
    assert "body is too long (maximum is 65536 characters)" in error
    assert "https://docs.github.com/rest/issues/issues#create-an-issue" in error


def test_a_repository_that_does_not_exist_is_named_with_githubs_404_and_a_hint(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 1)
    monkeypatch.setenv("GITHUB_REPOSITORY", "tsuku/no-such-repo")

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 1
    error = result["report"]["issues"][0]["error"]
    assert "looking for open drift issues: GitHub answered 404 Not Found" in error
    assert "check GITHUB_REPOSITORY" in error
    gh.expect_violations()  # the stand-in records a 404 for an unknown repository as a bad request


def test_a_label_that_cannot_be_created_is_a_warning_and_the_issue_is_opened(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 1)
    gh.inject(
        "POST",
        f"/repos/{REPO}/labels",
        403,
        times=2,
        body={
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/issues/labels#create-a-label",
        },
    )

    result = run(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0
    assert (
        "could not create the label 'security': GitHub answered 403 Resource not accessible by integration"
        in result["log"]
    )
    assert len(gh.issues(REPO)) == 1


def test_every_request_of_a_drift_run_is_valid_against_githubs_description(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, 12)
    run(tmp_path, gh, capsys, monkeypatch)
    run(tmp_path, gh, capsys, monkeypatch, now="2026-03-03T12:00:00Z")

    assert gh.violations == []
    for request in gh.requests:
        assert request.header("Accept") == "application/vnd.github+json"
        assert request.header("X-GitHub-Api-Version") == "2022-11-28"
        assert (request.header("User-Agent") or "").startswith("batchops/")

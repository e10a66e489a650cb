"""drift-monitor against GitHub as GitHub behaves, with faults on every kind of call it makes.

The stand-in checks every request and response against GitHub's official description and
enforces the search quota (30 a minute) and the secondary limit on content creation; the
client's waits move the stand-in's clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from batchops.core import drift
from tests.support import drift_registry
from tests.support.drift_registry import run_monitor, sums, wire
from tests.support.github_api import GitHubStandIn
from tests.support.upstream import Upstream

REPO = "tsuku/registry"
RELEASES = "kubernetes/kubernetes"
RECORDED = "0" * 64
FIRST_SEEN = "2026-01-01T00:00:00Z"
LABELS = ["security", "checksum-drift"]
NOW = "2026-03-02T12:00:00Z"


@pytest.fixture
def gh(github_api: GitHubStandIn, monkeypatch: pytest.MonkeyPatch) -> GitHubStandIn:
    return wire(github_api, monkeypatch, REPO)


def fp_of(n: int, version: str = "1.0.0") -> str:
    return drift.fingerprint(f"tool{n:03d}", version, hashlib.sha256(sums(n).encode()).hexdigest())


def drifting(root: Path, upstream: Upstream, numbers: range, *, released: bool = False) -> None:
    """Recipes ``tool<n>`` whose checksum files no longer have the recorded bytes.

    ``released``: the version comes from the latest GitHub release of RELEASES (tag v1.0.0).
    """
    drift_registry.drifting(root, upstream, numbers, releases=RELEASES if released else None)


def drifted(result: dict[str, Any]) -> set[str]:
    return {f["fingerprint"] for f in result["report"]["findings"] if f["status"] == "drift"}


def carried(gh: GitHubStandIn) -> set[str]:
    """Fingerprints the open issues (not pull requests) of REPO carry."""
    return {fp for issue in gh.issues(REPO) if issue["state"] == "open" for fp in drift.markers(issue["body"])}


# --- mass drift and the search quota -------------------------------------------------------------


def test_a_mass_drift_of_35_files_puts_every_drift_in_an_issue_in_one_run_with_at_most_one_search(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, range(35))

    result = run_monitor(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert len(drifted(result)) == 35
    assert carried(gh) == drifted(result)
    assert "could not be opened" not in result["log"]
    assert len(gh.requests_to("GET", "/search/issues")) <= 1
    assert gh.violations == []


def test_35_drift_issues_that_lost_their_labels_are_all_found_by_one_search_and_commented_not_reopened(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, range(35))
    for n in range(35):  # one issue each, from earlier runs, whose labels someone removed
        gh.add_issue(REPO, f"Checksum drift: tool{n:03d}", body=f"drift of tool{n:03d}\n{drift.marker(fp_of(n))}\n")

    result = run_monitor(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert {i["action"] for i in result["report"]["issues"]} == {"commented"}
    assert len(gh.issues(REPO)) == 35  # nothing opened twice
    assert all(len(gh.comments(REPO, n)) == 1 for n in range(1, 36))
    assert len(gh.requests_to("GET", "/search/issues")) == 1


def test_a_mass_drift_of_100_files_with_the_search_quota_already_spent_still_reports_every_drift(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, range(100))
    client = gh.client()
    for _ in range(gh.SEARCH_LIMIT):  # another workflow spent this minute's searches
        client.search_issues(f"repo:{REPO} is:issue other").get_page(0)

    result = run_monitor(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert carried(gh) == drifted(result) and len(drifted(result)) == 100
    assert len(gh.requests_to("GET", "/search/issues")) == gh.SEARCH_LIMIT  # none spent past the quota
    assert "search quota" in result["log"]


def test_one_hundred_drifts_each_with_its_own_open_issue_get_100_comments_past_the_secondary_limit(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, range(100))
    for n in range(100):
        gh.add_issue(REPO, f"Checksum drift: tool{n:03d}", body=drift.marker(fp_of(n)), labels=LABELS)

    result = run_monitor(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert sum(len(gh.comments(REPO, n)) for n in range(1, 101)) == 100  # the 81st waited out GitHub's 60 s
    assert 60.0 in gh.waits  # type: ignore[attr-defined]
    assert len(gh.issues(REPO)) == 100


def test_an_unlabelled_drift_issue_on_the_second_page_of_the_search_is_found(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, range(1))
    for n in range(120):  # older, unlabelled drift issues of other recipes: the first page of hits
        gh.add_issue(REPO, f"old drift {n}", body=drift.marker(f"{n:024x}"))
    ours = gh.add_issue(REPO, "Checksum drift: tool000", body=drift.marker(fp_of(0)))

    result = run_monitor(tmp_path, gh, capsys, monkeypatch)

    assert result["report"]["issues"][0]["action"] == "commented", result["log"]
    assert len(gh.comments(REPO, ours["number"])) == 1
    assert len(gh.issues(REPO)) == 121
    pages = [r.query.get("page", ["1"])[0] for r in gh.requests_to("GET", "/search/issues")]
    assert pages == ["1", "2"]


def test_a_pull_request_carrying_the_marker_without_labels_is_not_taken_for_the_drift_issue(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    drifting(tmp_path, upstream, range(1))
    gh.set_branch(REPO, "quote-drift", "c" * 40)
    pr = gh.add_pull(REPO, head="quote-drift", title="quotes the drift issue", body=drift.marker(fp_of(0)))

    result = run_monitor(tmp_path, gh, capsys, monkeypatch)

    (issue,) = gh.issues(REPO)
    assert result["outputs"]["issue-url"] == issue["html_url"]
    assert gh.comments(REPO, pr["number"]) == []
    assert result["report"]["issues"][0]["action"] == "created"


# --- rate limits on every kind of call --------------------------------------------------------------

CALLS = [
    ("GET", f"/repos/{RELEASES}/releases/latest"),
    ("GET", f"/repos/{REPO}"),
    ("GET", f"/repos/{REPO}/labels"),
    ("POST", f"/repos/{REPO}/labels"),
    ("GET", f"/repos/{REPO}/issues"),
    ("GET", "/rate_limit"),
    ("GET", "/search/issues"),
    ("POST", f"/repos/{REPO}/issues"),
    ("POST", f"/repos/{REPO}/issues/*/comments"),
]
LIMITS = {
    "secondary-403": (403, None),  # GitHub's secondary limit, retry-after: 1
    "secondary-429": (429, {"retry-after": "2"}),
    "primary-reset": (403, "reset"),  # x-ratelimit-remaining: 0 until x-ratelimit-reset
    "server-502": (502, None),
}


def every_call_kind(tmp_path: Path, upstream: Upstream, gh: GitHubStandIn) -> None:
    """Two drifts, versions from a GitHub release: one already has a labelled issue (a comment),
    one gets a new issue; the labels are missing (created) and a marker search runs."""
    gh.add_repo(RELEASES)
    gh.add_release(RELEASES, "v1.0.0", published_at="2026-01-01T00:00:00Z")
    drifting(tmp_path, upstream, range(2), released=True)
    gh.add_issue(REPO, "Checksum drift: tool000", body=drift.marker(fp_of(0)))  # unlabelled: found by the search
    gh.add_issue(REPO, "unrelated", body="no marker")


@pytest.mark.parametrize("method,path", CALLS, ids=[f"{m} {p}" for m, p in CALLS])
@pytest.mark.parametrize("kind", list(LIMITS))
def test_a_rate_limit_or_server_error_on_any_call_is_waited_out_and_every_drift_ends_in_an_issue(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch, method: str, path: str, kind: str
) -> None:  # type: ignore[no-untyped-def]
    every_call_kind(tmp_path, upstream, gh)
    status, headers = LIMITS[kind]
    if headers == "reset":
        headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(gh.now) + 5)}
    gh.inject(method, path, status, times=1, headers=headers)  # type: ignore[arg-type]

    result = run_monitor(tmp_path, gh, capsys, monkeypatch)

    assert result["code"] == 0, result["log"]
    assert sorted(i["action"] for i in result["report"]["issues"]) == ["commented", "created"]
    assert carried(gh) == drifted(result) == {fp_of(0), fp_of(1)}
    assert len(gh.comments(REPO, 1)) == 1
    assert len([i for i in gh.issues(REPO) if drift.markers(i["body"])]) == 2  # no duplicate issue
    hits = gh.requests_to(method, path)
    assert len(hits) >= 2, "the refused call was repeated"
    assert gh.faults[0].times == 0, "the fault was met"
    assert gh.waits, "the client waited before repeating"  # type: ignore[attr-defined]
    assert gh.violations == []


# --- GitHub's length limits ----------------------------------------------------------------------------

LONG = "releases/download/v1.0.0/amazon-ec2-instance-selector-and-friends-with-a-long-project-name-v1.0.0-checksums"


def long_url_drifts(root: Path, upstream: Upstream, count: int) -> None:
    """``count`` recipes, each with a checksum file per platform (linux/amd64, darwin/arm64) at a long URL, all drifted
    to the same new bytes (so one fingerprint, two rows, per recipe)."""
    folder = root / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    baseline: dict[str, Any] = {"version": 1, "recipes": {}}
    for n in range(count):
        name = f"tool{n:03d}"
        entries = {}
        for os_name, arch in (("linux", "amd64"), ("darwin", "arm64")):
            url = upstream.put(
                f"/{name}/{LONG}/{os_name}-{arch}/SHA256SUMS", sums(n)
            )  # one file for both: one fingerprint
            entries[url] = {"sha256": RECORDED, "first_seen": FIRST_SEEN, "last_verified": FIRST_SEEN}
        template = f"{upstream.url}/{name}/{LONG}/{{os}}-{{arch}}/SHA256SUMS"
        (folder / f"{name}.toml").write_text(
            f'[metadata]\nname = "{name}"\n[version]\nversion = "1.0.0"\n'
            f'[[steps]]\naction = "download"\nchecksum_url = "{template}"\n'
        )
        baseline["recipes"][name] = {"1.0.0": entries}
    (root / "checksum-baseline.json").write_text(json.dumps(baseline))


def test_a_grouped_issue_of_100_drifts_on_two_platforms_with_long_urls_gets_comments_github_accepts(
    tmp_path: Path, upstream: Upstream, gh: GitHubStandIn, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    long_url_drifts(tmp_path, upstream, 100)
    monkeypatch.setenv("INPUT_PLATFORMS", "linux/amd64,darwin/arm64")
    first = run_monitor(tmp_path, gh, capsys, monkeypatch)
    assert first["code"] == 0, first["log"]
    assert len(drifted(first)) == 100 and first["report"]["counts"]["drift"] == 200

    again = run_monitor(tmp_path, gh, capsys, monkeypatch, now="2026-03-03T12:00:00Z")

    assert again["code"] == 0, again["log"]
    assert {i["action"] for i in again["report"]["issues"]} == {"commented"}
    (comment,) = gh.comments(REPO, 1)
    assert len(comment["body"]) <= 65536
    assert "more rows in the run's report file" in comment["body"]


def test_an_issue_body_or_comment_never_exceeds_githubs_limit_even_for_one_row_of_hostile_length() -> None:
    from batchops.core.drift import Finding
    from batchops.render import drift as render

    huge = Finding(
        "tool",
        "tool.toml",
        "drift",
        version="1.0.0",
        url="https://example.invalid/" + "a" * 70_000,
        expected=RECORDED,
        actual="1" * 64,
        fingerprint="f" * 24,
    )

    body = render.issue_body({huge.fingerprint: [huge]}, at=NOW, run_url="")
    comment = render.comment_body([huge], at=NOW, run_url="")

    assert len(body) <= 65536 and len(comment) <= 65536
    assert drift.markers(body) == [huge.fingerprint]  # the marker survives the cut

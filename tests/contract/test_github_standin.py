"""The GitHub stand-in against real clients (PyGithub, requests) and GitHub's description."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import github
import pytest
import requests
from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededException

from tests.support import github_spec
from tests.support.github_api import GitHubStandIn

REPO = "tsuku/registry"

pytest_plugins = ["pytester"]


@pytest.fixture
def gh(github_api: GitHubStandIn) -> Github:
    github_api.add_repo(REPO)
    return github_api.client(per_page=100)


@pytest.fixture
def spec() -> github_spec.Spec:
    try:
        return github_spec.load()
    except github_spec.SpecMissing as exc:
        pytest.skip(str(exc))


def _get(standin: GitHubStandIn, path: str, **kwargs: Any) -> requests.Response:
    headers = {
        "Authorization": f"Bearer {standin.token}",
        "Accept": "application/vnd.github+json",
        **kwargs.pop("headers", {}),
    }
    return requests.get(standin.base_url + path, headers=headers, timeout=10, **kwargs)


def _post(standin: GitHubStandIn, path: str, body: Any, **kwargs: Any) -> requests.Response:
    headers = {
        "Authorization": f"Bearer {standin.token}",
        "Accept": "application/vnd.github+json",
        **kwargs.pop("headers", {}),
    }
    return requests.post(standin.base_url + path, json=body, headers=headers, timeout=10, **kwargs)


def _next_link(response: requests.Response) -> dict[str, list[str]]:
    return parse_qs(urlsplit(response.links["next"]["url"]).query)


# --- PyGithub end to end ---------------------------------------------------------------------


def test_pygithub_creates_and_lists_issues_labels_and_comments_with_zero_violations(
    github_api: GitHubStandIn, gh: Github
) -> None:
    github_api.add_label(REPO, "security", "d73a4a", "Security report")
    repo = gh.get_repo(REPO)

    issue = repo.create_issue(title="Checksum drift in node", body="marker: fp-1", labels=["security", "drift"])
    issue.create_comment("still drifting")
    issue.add_to_labels("triaged")  # a bare JSON array, which the operation's text allows
    issue.edit(state="closed", state_reason="not_planned")

    assert issue.number == 1
    assert [label.name for label in repo.get_labels()] == ["drift", "security", "triaged"]
    listed = list(repo.get_issues(state="closed", labels=["security"]))
    assert [(i.number, i.state, i.state_reason) for i in listed] == [(1, "closed", "not_planned")]
    assert listed[0].closed_at is not None
    assert [c.body for c in repo.get_issue(1).get_comments()] == ["still drifting"]
    assert list(repo.get_issues(state="open")) == []
    assert [c["body"] for c in github_api.comments(REPO, 1)] == ["still drifting"]
    assert github_api.violations == []


def test_reopening_an_issue_clears_closed_at_and_says_reopened(github_api: GitHubStandIn, gh: Github) -> None:
    github_api.add_issue(
        REPO, "Old incident", state="closed", closed_at="2026-01-02T00:00:00Z", created_at="2026-01-01T00:00:00Z"
    )
    issue = gh.get_repo(REPO).get_issue(1)
    issue.edit(state="open")
    again = gh.get_repo(REPO).get_issue(1)
    assert (again.state, again.state_reason, again.closed_at) == ("open", "reopened", None)


def test_since_and_sort_filter_the_issues_listing_as_github_does(github_api: GitHubStandIn, gh: Github) -> None:
    github_api.add_issue(REPO, "old", created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z")
    github_api.add_issue(REPO, "touched", created_at="2026-01-02T00:00:00Z", updated_at="2026-03-01T00:00:00Z")
    github_api.add_issue(REPO, "new", created_at="2026-02-01T00:00:00Z", updated_at="2026-02-01T00:00:00Z")
    repo = gh.get_repo(REPO)
    since = datetime(2026, 1, 15, tzinfo=UTC)
    assert [i.title for i in repo.get_issues(since=since)] == ["new", "touched"]
    assert [i.title for i in repo.get_issues(sort="updated", direction="desc")] == ["touched", "new", "old"]
    assert [i.title for i in repo.get_issues(sort="created", direction="asc")] == ["old", "touched", "new"]


def test_pygithub_opens_a_pull_request_and_a_second_one_gets_githubs_duplicate_error(
    github_api: GitHubStandIn, gh: Github
) -> None:
    github_api.set_branch(REPO, "rollback-b7", "c" * 40)
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(base="main", head="rollback-b7", title="Roll back batch 7", body="rollback-of: b7")
    assert (pull.number, pull.state, pull.head.ref, pull.head.sha, pull.merged) == (
        1,
        "open",
        "rollback-b7",
        "c" * 40,
        False,
    )

    with pytest.raises(GithubException) as duplicate:
        repo.create_pull(base="main", head="rollback-b7", title="Roll back batch 7 again", body="")
    assert duplicate.value.status == 422
    assert duplicate.value.data["errors"] == [
        {"resource": "PullRequest", "code": "custom", "message": "A pull request already exists for tsuku:rollback-b7."}
    ]
    assert [p["number"] for p in github_api.pulls(REPO)] == [1]
    assert github_api.violations == []


def test_a_pull_request_from_a_branch_that_does_not_exist_is_refused(github_api: GitHubStandIn, gh: Github) -> None:
    with pytest.raises(GithubException) as refused:
        gh.get_repo(REPO).create_pull(base="main", head="no-such-branch", title="x", body="")
    assert refused.value.status == 422
    assert refused.value.data["errors"] == [{"resource": "PullRequest", "code": "invalid", "field": "head"}]


def test_a_pull_request_without_a_head_is_a_violation_answered_422(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    github_api.expect_violations()
    answer = _post(github_api, f"/repos/{REPO}/pulls", {"title": "x", "base": "main"})
    assert answer.status_code == 422
    assert "'head' is a required property" in answer.json()["message"]
    assert [(v.kind, v.status, v.operation) for v in github_api.violations] == [("request", 422, "pulls/create")]


def test_merged_pull_requests_are_found_by_merge_commit_head_and_commits_from_git(
    github_api: GitHubStandIn, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    git = ["git", "-C", str(work), "-c", "user.name=Batch Bot", "-c", "user.email=bot@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "base"], check=True)
    subprocess.run([*git, "checkout", "-q", "-b", "batch-7"], check=True)
    for n in (1, 2):
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", f"batch_id: b7 part {n}"], check=True)
    shas = subprocess.run(
        [*git, "rev-list", "--reverse", "main..batch-7"], check=True, capture_output=True, text=True
    ).stdout.split()

    github_api.add_repo(REPO, git_dir=work)
    gh = github_api.client()
    repo = gh.get_repo(REPO)
    pull = repo.create_pull(base="main", head="batch-7", title="Batch 7", body="")
    assert [c.sha for c in pull.get_commits()] == shas
    assert [c.commit.message for c in pull.get_commits()] == ["batch_id: b7 part 1", "batch_id: b7 part 2"]

    github_api.add_pull(
        REPO, head="batch-6", merged_at="2026-05-01T10:00:00Z", merge_commit_sha="d" * 40, commits=["e" * 40]
    )
    merged = repo.get_pull(2)
    assert (merged.merged, merged.state, merged.merge_commit_sha) == (True, "closed", "d" * 40)
    by_merge = _get(github_api, f"/repos/{REPO}/commits/{'d' * 40}/pulls").json()
    by_commit = _get(github_api, f"/repos/{REPO}/commits/{shas[0]}/pulls").json()
    unknown = _get(github_api, f"/repos/{REPO}/commits/{'f' * 40}/pulls")
    assert [p["number"] for p in by_merge] == [2]
    assert [p["number"] for p in by_commit] == [1]
    assert unknown.status_code == 422 and unknown.json()["message"] == f"No commit found for SHA: {'f' * 40}"
    assert github_api.violations == []


def test_the_pulls_listing_filters_by_state_base_and_owner_qualified_head(
    github_api: GitHubStandIn, gh: Github
) -> None:
    github_api.add_pull(REPO, head="a", base="main")
    github_api.add_pull(REPO, head="b", base="release", merged_at="2026-05-01T00:00:00Z")
    github_api.add_pull(REPO, head="c", base="main", state="closed")
    repo = gh.get_repo(REPO)
    assert [p.number for p in repo.get_pulls(state="closed", base="main")] == [3]
    assert [p.number for p in repo.get_pulls(state="all", head="tsuku:b")] == [2]
    # GitHub ignores a head filter without the owner: every open pull request comes back
    assert [p.number for p in repo.get_pulls(state="open", head="c")] == [1]


# --- pagination --------------------------------------------------------------------------------


def test_labels_paginate_in_pages_of_100_with_link_headers_that_keep_the_query(
    github_api: GitHubStandIn, gh: Github
) -> None:
    names = [f"label-{n:03d}" for n in range(250)]
    for name in names:
        github_api.add_label(REPO, name)
    assert [label.name for label in gh.get_repo(REPO).get_labels()] == names
    pages = github_api.requests_to("GET", f"/repos/{REPO}/labels")
    assert [(r.query.get("per_page"), r.query.get("page")) for r in pages] == [
        (["100"], None),
        (["100"], ["2"]),
        (["100"], ["3"]),
    ]

    first = _get(github_api, f"/repos/{REPO}/labels", params={"per_page": "100"})
    assert _next_link(first) == {"per_page": ["100"], "page": ["2"]}
    assert first.links["last"]["url"].endswith("per_page=100&page=3")


def test_issues_paginate_with_prs_among_them_and_the_link_header_keeps_every_filter(
    github_api: GitHubStandIn, gh: Github
) -> None:
    for n in range(1, 251):
        if n % 5 == 0:
            github_api.add_pull(REPO, head=f"branch-{n}", labels=["batch"])
        else:
            github_api.add_issue(REPO, f"issue {n}", labels=["batch"])
    listed = list(gh.get_repo(REPO).get_issues(state="open", labels=["batch"]))
    assert [i.number for i in listed] == list(range(250, 0, -1))

    url: str | None = f"{github_api.base_url}/repos/{REPO}/issues?state=open&labels=batch&per_page=100"
    pulls = set()
    while url:
        answer = _get(github_api, url.removeprefix(github_api.base_url))
        pulls |= {i["number"] for i in answer.json() if "pull_request" in i}
        url = answer.links.get("next", {}).get("url")
    assert pulls == set(range(5, 251, 5))

    page = _get(
        github_api, f"/repos/{REPO}/issues", params={"state": "open", "labels": "batch", "per_page": "100", "page": "2"}
    )
    assert len(page.json()) == 100
    assert _next_link(page) == {"state": ["open"], "labels": ["batch"], "per_page": ["100"], "page": ["3"]}
    assert parse_qs(urlsplit(page.links["prev"]["url"]).query)["page"] == ["1"]
    assert "pull_request" in page.json()[0]  # #150 is a pull request
    assert github_api.violations == []


def test_per_page_defaults_to_30_and_is_capped_at_100(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    for n in range(120):
        github_api.add_issue(REPO, f"issue {n}")
    assert len(_get(github_api, f"/repos/{REPO}/issues").json()) == 30
    assert len(_get(github_api, f"/repos/{REPO}/issues", params={"per_page": "500"}).json()) == 100


def test_pulls_paginate_across_pages(github_api: GitHubStandIn, gh: Github) -> None:
    for n in range(250):
        github_api.add_pull(REPO, head=f"b{n}", created_at=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z")
    numbers = [p.number for p in gh.get_repo(REPO).get_pulls(state="open", sort="created", direction="asc")]
    assert numbers == list(range(1, 251))
    last = github_api.requests_to("GET", f"/repos/{REPO}/pulls")[-1]
    assert last.query == {
        "state": ["open"],
        "sort": ["created"],
        "direction": ["asc"],
        "per_page": ["100"],
        "page": ["3"],
    }


# --- search ------------------------------------------------------------------------------------


def test_search_understands_the_qualifiers_batchops_sends(github_api: GitHubStandIn, gh: Github) -> None:
    github_api.add_issue(REPO, "Checksum drift", "fingerprint `fp-1` in body", labels=["security alert"])
    github_api.add_issue(REPO, "Closed drift", "fingerprint `fp-1` again", state="closed")
    github_api.add_pull(REPO, head="x", body="fingerprint `fp-1` in a pull request")
    github_api.add_issue(REPO, "fp-1 in the title only", "nothing here")

    def numbers(query: str, **qualifiers: Any) -> list[int]:
        return [i.number for i in gh.search_issues(query, **qualifiers)]

    assert numbers('"fp-1"', repo=REPO, type="issue", state="open", **{"in": "body"}) == [1]
    assert numbers(f'repo:{REPO} is:pr is:open "fp-1"') == [3]
    assert numbers(f'repo:{REPO} is:issue label:"security alert"') == [1]
    assert numbers(f"repo:{REPO} is:issue state:closed fingerprint") == [2]
    assert numbers(f"repo:{REPO} fp-1") == [4, 3, 2, 1]
    hit = next(iter(gh.search_issues(f"repo:{REPO} is:pr")))
    assert hit.pull_request is not None and hit.score == 1.0
    assert github_api.violations == []


def test_the_31st_search_in_a_minute_gets_githubs_403_and_advance_60_restores_the_quota(
    github_api: GitHubStandIn,
) -> None:
    github_api.add_repo(REPO)
    answers = [_get(github_api, "/search/issues", params={"q": f"repo:{REPO} is:issue"}) for _ in range(31)]
    assert [a.status_code for a in answers[:30]] == [200] * 30
    assert answers[29].headers["x-ratelimit-remaining"] == "0"
    limited = answers[30]
    assert limited.status_code == 403
    assert limited.json()["message"].startswith("API rate limit exceeded for user ID")
    assert (
        limited.headers["x-ratelimit-remaining"],
        limited.headers["x-ratelimit-resource"],
        limited.headers["x-ratelimit-limit"],
    ) == ("0", "search", "30")
    assert int(limited.headers["x-ratelimit-reset"]) == int(github_api.now) + 60

    github_api.advance(60)
    again = _get(github_api, "/search/issues", params={"q": f"repo:{REPO} is:issue"})
    assert again.status_code == 200
    assert (again.headers["x-ratelimit-remaining"], again.headers["x-ratelimit-used"]) == ("29", "1")
    # the search quota is separate from the core one
    assert _get(github_api, f"/repos/{REPO}").headers["x-ratelimit-resource"] == "core"


def test_pygithub_sees_the_exhausted_search_quota_as_a_rate_limit(github_api: GitHubStandIn, gh: Github) -> None:
    for _ in range(30):
        gh.search_issues(f"repo:{REPO}").totalCount  # noqa: B018 - one request each
    with pytest.raises(RateLimitExceededException):
        gh.search_issues(f"repo:{REPO}").totalCount  # noqa: B018


# --- rate limits and faults ------------------------------------------------------------------------


def test_every_response_carries_core_rate_limit_headers(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    first = _get(github_api, f"/repos/{REPO}")
    second = _get(github_api, f"/repos/{REPO}/issues")
    missing = _get(github_api, "/repos/tsuku/elsewhere")
    assert [
        (r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-used"], r.headers["x-ratelimit-remaining"])
        for r in (first, second, missing)
    ] == [
        ("5000", "1", "4999"),
        ("5000", "2", "4998"),
        ("5000", "3", "4997"),
    ]
    assert {r.headers["x-ratelimit-resource"] for r in (first, second, missing)} == {"core"}
    assert missing.status_code == 404
    rate = _get(github_api, "/rate_limit").json()
    assert rate["resources"]["core"]["used"] == 3 and rate["resources"]["search"]["remaining"] == 30


def test_an_injected_secondary_rate_limit_is_answered_as_github_does_and_pygithub_retries_after_it(
    github_api: GitHubStandIn, mocker: Any
) -> None:
    github_api.add_repo(REPO)
    github_api.inject("POST", f"/repos/{REPO}/issues", 403)
    raw = _post(github_api, f"/repos/{REPO}/issues", {"title": "x"})
    assert raw.status_code == 403 and raw.headers["retry-after"] == "1"
    assert raw.json()["message"].startswith(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    )
    assert github_api.issues(REPO) == []

    github_api.inject("POST", f"/repos/{REPO}/issues", 403)
    slept = mocker.patch("urllib3.util.retry.time.sleep")
    client = Github(
        base_url=github_api.base_url,
        auth=Auth.Token(github_api.token),
        retry=GithubRetry(total=3),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    issue = client.get_repo(REPO).create_issue(title="after the wait")
    assert issue.number == 1
    slept.assert_any_call(1.0)
    assert [r.method for r in github_api.requests_to("POST", f"/repos/{REPO}/issues")] == ["POST"] * 3


def test_faults_are_consumed_in_order_then_the_real_answer_returns(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    github_api.inject("GET", "/repos/*/issues", 502)
    github_api.inject("GET", "/repos/*/issues", 429, headers={"retry-after": "7"})
    github_api.inject(
        "GET",
        "/repos/*/issues",
        422,
        body={"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "invalid", "field": "labels"}]},
    )
    statuses = [_get(github_api, f"/repos/{REPO}/issues") for _ in range(4)]
    assert [r.status_code for r in statuses] == [502, 429, 422, 200]
    assert statuses[1].headers["retry-after"] == "7"
    assert statuses[2].json()["errors"][0]["field"] == "labels"


def test_an_injected_fault_surfaces_in_pygithub_as_that_status(github_api: GitHubStandIn, gh: Github) -> None:
    github_api.inject("GET", f"/repos/{REPO}/releases/latest", 404)
    github_api.add_release(REPO, "v1.2.3")
    with pytest.raises(github.UnknownObjectException):
        gh.get_repo(REPO).get_latest_release()
    assert gh.get_repo(REPO).get_latest_release().tag_name == "v1.2.3"


# --- the description is enforced ---------------------------------------------------------------------


def test_pygithub_create_label_sends_a_retired_preview_media_type_and_gets_406(
    github_api: GitHubStandIn, gh: Github
) -> None:
    github_api.expect_violations()
    with pytest.raises(GithubException) as refused:
        gh.get_repo(REPO).create_label("security", "d73a4a", "Security report")
    assert refused.value.status == 406
    assert github_api.labels(REPO) == []
    (violation,) = github_api.violations
    assert (violation.kind, violation.status, violation.operation) == ("request", 406, "issues/create-label")
    assert "symmetra-preview" in violation.message
    # the same request with GitHub's media type works
    created = _post(
        github_api, f"/repos/{REPO}/labels", {"name": "security", "color": "d73a4a", "description": "Security report"}
    )
    assert created.status_code == 201 and created.json()["default"] is False


def test_unknown_routes_bad_path_parameters_bad_queries_and_bad_bodies_are_refused_and_recorded(
    github_api: GitHubStandIn,
) -> None:
    github_api.add_repo(REPO)
    github_api.expect_violations()
    assert _get(github_api, f"/repos/{REPO}/secrets").status_code == 404
    assert _get(github_api, f"/repos/{REPO}/issues/abc").status_code == 404
    assert _get(github_api, f"/repos/{REPO}/issues", params={"state": "shut"}).status_code == 422
    assert _post(github_api, f"/repos/{REPO}/issues", {"body": "no title"}).status_code == 422
    bad_json = requests.post(
        f"{github_api.base_url}/repos/{REPO}/issues",
        data=b"{not json",
        headers={"Authorization": f"Bearer {github_api.token}"},
        timeout=10,
    )
    assert bad_json.status_code == 400
    assert [(v.status, v.operation) for v in github_api.violations] == [
        (404, ""),
        (404, "issues/get"),
        (422, "issues/list-for-repo"),
        (422, "issues/create"),
        (400, "issues/create"),
    ]
    assert github_api.issues(REPO) == []


def test_a_query_parameter_github_ignores_is_answered_but_recorded(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    github_api.expect_violations()
    assert _get(github_api, f"/repos/{REPO}/labels", params={"stat": "open"}).status_code == 200
    assert ["'stat'" in v.message for v in github_api.violations] == [True]


def test_the_full_media_type_renders_bodies_as_text_and_html(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    github_api.add_issue(REPO, "x", "a <b> body")
    issue = _get(github_api, f"/repos/{REPO}/issues/1", headers={"Accept": "application/vnd.github.full+json"}).json()
    assert (issue["body"], issue["body_text"], issue["body_html"]) == (
        "a <b> body",
        "a <b> body",
        "<p>a &lt;b&gt; body</p>",
    )
    assert github_api.violations == []


def test_the_validator_catches_a_response_missing_a_required_field(spec: github_spec.Spec) -> None:
    op, _ = spec.match("GET", "/repos/o/r/labels/bug")  # type: ignore[misc]
    good = {
        "id": 1,
        "node_id": "LA_1",
        "url": "http://x/labels/bug",
        "name": "bug",
        "color": "d73a4a",
        "default": False,
        "description": None,
    }
    assert op.check_response(200, good) == []
    broken = {k: v for k, v in good.items() if k != "default"}
    assert op.check_response(200, broken) == ["response: 'default' is a required property"]
    assert op.check_response(200, {**good, "closed_at": "yesterday", "id": "1"}) == [
        "response.id: '1' is not of type 'integer'"
    ]
    issue_op, _ = spec.match("GET", "/repos/o/r/issues/1")  # type: ignore[misc]
    assert "response.closed_at: 'yesterday' is not a 'date-time'" in issue_op.check_response(
        200, {"closed_at": "yesterday"}, limit=100
    )


def test_a_response_the_stand_in_builds_wrong_is_recorded_as_its_own_bug(
    github_api: GitHubStandIn, gh: Github, monkeypatch: pytest.MonkeyPatch
) -> None:
    github_api.add_label(REPO, "bug")
    original = GitHubStandIn._label_json

    def without_node_id(self: GitHubStandIn, repo: Any, label: Any) -> dict[str, Any]:
        return {k: v for k, v in original(self, repo, label).items() if k != "node_id"}

    monkeypatch.setattr(GitHubStandIn, "_label_json", without_node_id)
    github_api.expect_violations()
    list(gh.get_repo(REPO).get_labels())
    assert [(v.kind, v.operation, v.message) for v in github_api.violations] == [
        ("response", "issues/list-labels-for-repo", "response[0]: 'node_id' is a required property")
    ]


def test_openapi_nullable_becomes_a_null_type() -> None:
    converted = github_spec.to_json_schema(
        {
            "type": "object",
            "properties": {
                "description": {"type": "string", "nullable": True, "description": "text"},
                "milestone": {"nullable": True, "oneOf": [{"type": "string"}, {"type": "integer"}]},
                "reason": {"type": "string", "enum": ["a"], "nullable": True},
            },
        }
    )
    assert converted["properties"] == {
        "description": {"type": ["string", "null"]},
        "milestone": {"anyOf": [{"oneOf": [{"type": "string"}, {"type": "integer"}]}, {"type": "null"}]},
        "reason": {"type": ["string", "null"], "enum": ["a", None]},
    }


def test_the_subset_is_cached_next_to_the_description_and_reused(spec: github_spec.Spec) -> None:
    source = github_spec.github_openapi_file()
    cached = github_spec.subset_file(source)
    github_spec.load_subset(source)
    assert cached.is_file() and cached.stat().st_size < 2_000_000
    ops = {(o["method"], o["path"]) for o in github_spec.load_subset(source)["operations"]}
    assert ops == set(github_spec.OPERATIONS)


def test_the_fixture_fails_a_test_that_left_violations(pytester: pytest.Pytester, spec: github_spec.Spec) -> None:
    pytester.makepyfile(
        test_inner="""
        import requests
        from tests.support.github_api import github_api  # noqa: F401

        def test_sends_a_bad_request(github_api):
            requests.get(github_api.base_url + "/no/such/route", timeout=10)
        """
    )
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*the GitHub stand-in saw 1 violation(s)*", "*request GET /no/such/route -> 404*"])


def test_labels_are_added_from_an_object_or_a_bare_array_but_never_an_empty_list(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    github_api.add_issue(REPO, "x", labels=["a"])
    assert [
        label["name"] for label in _post(github_api, f"/repos/{REPO}/issues/1/labels", {"labels": ["B"]}).json()
    ] == ["a", "B"]
    assert [label["name"] for label in _post(github_api, f"/repos/{REPO}/issues/1/labels", ["c", "a"]).json()] == [
        "a",
        "B",
        "c",
    ]
    assert github_api.violations == []
    github_api.expect_violations()
    assert _post(github_api, f"/repos/{REPO}/issues/1/labels", {"labels": []}).status_code == 422
    assert [v.operation for v in github_api.violations] == ["issues/add-labels"]


def test_the_stand_in_clock_drives_timestamps_and_since(github_api: GitHubStandIn, gh: Github) -> None:
    repo = gh.get_repo(REPO)
    issue = repo.create_issue(title="incident")
    github_api.advance(3600)
    issue.create_comment("still open")
    (seen,) = github_api.issues(REPO)
    assert (seen["created_at"], seen["updated_at"]) == (
        datetime.fromtimestamp(github_api.now - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        datetime.fromtimestamp(github_api.now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    half_way = datetime.fromtimestamp(github_api.now - 1800, UTC)
    assert [i.number for i in repo.get_issues(since=half_way)] == [1]
    assert [c.body for c in issue.get_comments(since=half_way)] == ["still open"]


def test_a_wrong_token_is_refused_and_an_unknown_repository_is_a_plain_404(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    wrong = Github(base_url=github_api.base_url, auth=Auth.Token("not-the-token"), retry=None)
    with pytest.raises(github.BadCredentialsException):
        wrong.get_repo(REPO)
    with pytest.raises(github.UnknownObjectException):
        github_api.client().get_repo("tsuku/elsewhere")
    anonymous = requests.get(f"{github_api.base_url}/repos/{REPO}", timeout=10)
    assert (anonymous.status_code, anonymous.headers["x-ratelimit-limit"]) == (200, "60")
    assert github_api.violations == []


def test_githubs_length_limits_refuse_a_long_issue_body_and_a_long_search(
    github_api: GitHubStandIn, gh: Github
) -> None:
    repo = gh.get_repo(REPO)
    with pytest.raises(GithubException) as long_body:
        repo.create_issue(title="drift report", body="x" * 65537)
    assert long_body.value.status == 422
    assert long_body.value.data["errors"] == [
        {
            "resource": "Issue",
            "code": "custom",
            "field": "body",
            "message": "body is too long (maximum is 65536 characters)",
        }
    ]
    with pytest.raises(GithubException) as long_query:
        gh.search_issues("x" * 250, repo=REPO).totalCount  # noqa: B018
    assert long_query.value.status == 422
    assert github_api.issues(REPO) == []


def test_the_81st_issue_in_a_minute_meets_the_secondary_limit_on_content_creation(github_api: GitHubStandIn) -> None:
    github_api.add_repo(REPO)
    answers = [_post(github_api, f"/repos/{REPO}/issues", {"title": f"incident {n}"}) for n in range(81)]
    assert [a.status_code for a in answers[:80]] == [201] * 80
    assert (answers[80].status_code, answers[80].headers["retry-after"]) == (403, "60")
    assert "secondary rate limit" in answers[80].json()["message"]
    github_api.advance(60)
    assert _post(github_api, f"/repos/{REPO}/issues", {"title": "later"}).status_code == 201
    assert len(github_api.issues(REPO)) == 81

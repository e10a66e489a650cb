"""The GitHub client policy (batchops.adapters.github) against the stand-in that speaks GitHub's description."""

from __future__ import annotations

from typing import Any

import pytest
from github import GithubException
from hypothesis import given
from hypothesis import strategies as st

from batchops.adapters import github as gh_adapter
from tests.support.github_api import GitHubStandIn

REPO = "tsuku/registry"


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch, github_api: GitHubStandIn) -> list[float]:
    """The client's waits, recorded instead of slept; the stand-in's clock moves by each of them."""
    recorded: list[float] = []

    def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)
        github_api.advance(seconds)
        clock["now"] += seconds

    clock = {"now": 1000.0}
    real_wall = gh_adapter.wall
    offset = {"value": 0.0}

    def fake_wall() -> float:
        return real_wall() + (clock["now"] - 1000.0) + offset["value"]

    monkeypatch.setattr(gh_adapter, "sleep", fake_sleep)
    monkeypatch.setattr(gh_adapter, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(gh_adapter, "wall", fake_wall)
    monkeypatch.setenv("BATCHOPS_GITHUB_WRITE_INTERVAL", "0")
    return recorded


@pytest.fixture
def client(github_api: GitHubStandIn, waits: list[float]) -> Any:
    github_api.add_repo(REPO)
    return gh_adapter.client(github_api.token, base_url=github_api.base_url)


def test_every_request_carries_the_batchops_user_agent_api_version_and_media_type(
    github_api: GitHubStandIn, client: Any
) -> None:
    repo = client.get_repo(REPO)
    gh_adapter.ensure_labels(repo, ["security", "checksum-drift"], {"security": "d73a4a"})
    repo.create_issue(title="drift", body="x", labels=["security"])
    gh_adapter.open_issues_with_label(repo, ["security"])
    gh_adapter.find_by_marker(client, REPO, "batchops-drift")

    assert len(github_api.requests) >= 6
    for request in github_api.requests:
        assert request.header("User-Agent") == f"batchops/{gh_adapter.__version__}", request.path
        assert request.header("X-GitHub-Api-Version") == "2022-11-28", request.path
        assert request.header("Accept") == "application/vnd.github+json", request.path


def test_labels_are_created_with_the_standard_media_type_and_their_colours(
    github_api: GitHubStandIn, client: Any
) -> None:
    github_api.add_label(REPO, "security", "d73a4a")
    repo = client.get_repo(REPO)

    warnings = gh_adapter.ensure_labels(
        repo, ["security", "checksum-drift"], {"checksum-drift": "fbca04"}, description="Opened by batchops"
    )

    assert warnings == []
    colours = {label["name"]: label["color"] for label in github_api.labels(REPO)}
    assert colours == {"security": "d73a4a", "checksum-drift": "fbca04"}
    assert not github_api.violations  # no 406 for a retired preview media type


def test_an_invalid_label_colour_is_a_warning_with_githubs_reason_not_taken_as_created(
    github_api: GitHubStandIn, client: Any
) -> None:
    repo = client.get_repo(REPO)

    warnings = gh_adapter.ensure_labels(repo, ["checksum-drift"], {"checksum-drift": "not-a-colour"})

    assert len(warnings) == 1
    assert "checksum-drift" in warnings[0] and "422" in warnings[0] and "Validation Failed" in warnings[0]
    assert "color" in warnings[0]
    assert github_api.labels(REPO) == []


def test_a_label_created_meanwhile_is_not_a_warning(github_api: GitHubStandIn, client: Any) -> None:
    repo = client.get_repo(REPO)
    github_api.inject(
        "POST",
        f"/repos/{REPO}/labels",
        422,
        body={
            "message": "Validation Failed",
            "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}],
            "documentation_url": "https://docs.github.com/rest/issues/labels#create-a-label",
        },
    )

    assert gh_adapter.ensure_labels(repo, ["security"]) == []


def test_a_secondary_rate_limit_is_waited_out_and_the_issue_is_created_once(
    github_api: GitHubStandIn, client: Any, waits: list[float]
) -> None:
    repo = client.get_repo(REPO)
    github_api.inject("POST", f"/repos/{REPO}/issues", 403, headers={"retry-after": "3"})

    issue = repo.create_issue(title="Checksum drift", body="x")

    assert waits == [3.0]
    assert [i["title"] for i in github_api.issues(REPO)] == ["Checksum drift"]
    assert issue.number == 1


def test_a_429_and_server_errors_are_retried_with_backoff_within_the_deadline(
    github_api: GitHubStandIn, client: Any, waits: list[float]
) -> None:
    github_api.inject("GET", f"/repos/{REPO}", 502, times=2)
    github_api.inject("GET", f"/repos/{REPO}", 429, headers={"retry-after": "2"})

    repo = client.get_repo(REPO)

    assert repo.full_name == REPO
    assert len(waits) == 3 and waits[2] == 2.0
    assert sum(waits) <= gh_adapter.DEADLINE


def test_server_errors_that_outlast_the_deadline_fail_with_githubs_reason(
    github_api: GitHubStandIn, client: Any, waits: list[float]
) -> None:
    github_api.inject("GET", f"/repos/{REPO}", 503, times=50)

    with pytest.raises(GithubException) as caught:
        client.get_repo(REPO)

    assert caught.value.status == 503
    assert sum(waits) <= gh_adapter.DEADLINE
    assert 1 < len(waits) < 50
    assert "503 Service Unavailable" in gh_adapter.reason(caught.value)


def test_a_rate_limit_that_resets_after_the_deadline_is_not_waited_for(
    github_api: GitHubStandIn, client: Any, waits: list[float]
) -> None:
    reset = int(gh_adapter.wall()) + 3600
    github_api.inject(
        "GET",
        f"/repos/{REPO}",
        403,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
        body={
            "message": "API rate limit exceeded for user ID 7.",
            "documentation_url": "https://docs.github.com/rest/rate-limits",
        },
    )

    with pytest.raises(GithubException) as caught:
        client.get_repo(REPO)

    assert waits == []
    error = gh_adapter.GitHubError.wrap(caught.value, "reading the repository")
    assert "API rate limit exceeded" in error.message and "rate limit" in error.hint


@pytest.mark.parametrize("status", [404, 422])
def test_a_plain_404_or_422_is_not_retried_and_keeps_githubs_reason(
    github_api: GitHubStandIn, client: Any, waits: list[float], status: int
) -> None:
    repo = client.get_repo(REPO)
    github_api.inject(
        "POST",
        f"/repos/{REPO}/issues",
        status,
        body={
            "message": "Validation Failed" if status == 422 else "Not Found",
            "errors": [
                {
                    "resource": "Issue",
                    "code": "custom",
                    "field": "title",
                    "message": "title is too long (maximum is 256 characters)",
                }
            ]
            if status == 422
            else None,
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
        }
        if status == 422
        else None,
    )
    before = len(github_api.requests_to("POST", f"/repos/{REPO}/issues"))

    with pytest.raises(GithubException) as caught:
        repo.create_issue(title="t", body="b")

    assert len(github_api.requests_to("POST", f"/repos/{REPO}/issues")) == before + 1
    assert waits == []
    text = gh_adapter.reason(caught.value)
    assert text.startswith(str(status))
    assert "https://docs.github.com/rest" in text
    if status == 422:
        assert "title is too long (maximum is 256 characters)" in text


def test_a_403_without_rate_limit_signs_is_a_permission_error_with_a_hint(
    github_api: GitHubStandIn, client: Any, waits: list[float]
) -> None:
    repo = client.get_repo(REPO)
    github_api.inject(
        "POST",
        f"/repos/{REPO}/issues",
        403,
        headers={},
        body={
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
        },
    )

    with pytest.raises(GithubException) as caught:
        repo.create_issue(title="t", body="b")

    assert waits == []
    error = gh_adapter.GitHubError.wrap(caught.value, "opening the drift issue")
    assert error.message.startswith(
        "opening the drift issue: GitHub answered 403 Resource not accessible by integration"
    )
    assert "permissions: issues: write" in error.hint
    assert "\n" not in error.render()


def test_pull_requests_are_left_out_of_the_issue_listing_across_pages(github_api: GitHubStandIn, client: Any) -> None:
    github_api.add_label(REPO, "checksum-drift")
    for n in range(130):
        github_api.add_issue(REPO, f"issue {n}", labels=["checksum-drift"])
    github_api.set_branch(REPO, "drift-fix", "a" * 40)
    github_api.add_pull(REPO, title="a PR labelled like a drift issue", head="drift-fix", labels=["checksum-drift"])
    repo = client.get_repo(REPO)

    issues = gh_adapter.open_issues_with_label(repo, ["checksum-drift"])

    assert len(issues) == 130
    assert all(i.pull_request is None for i in issues)
    pages = github_api.requests_to("GET", f"/repos/{REPO}/issues")
    assert len(pages) == 2  # 100 a page


def test_the_marker_search_finds_unlabelled_issues_and_leaves_out_pull_requests(
    github_api: GitHubStandIn, client: Any
) -> None:
    github_api.add_issue(REPO, "old drift issue", body="<!-- batchops-drift: abc -->")
    github_api.add_issue(REPO, "unrelated", body="nothing")
    github_api.set_branch(REPO, "x", "b" * 40)
    github_api.add_pull(REPO, title="a PR quoting the marker", head="x", body="<!-- batchops-drift: abc -->")

    found = gh_adapter.find_by_marker(client, REPO, "batchops-drift")

    assert [i.title for i in found.issues] == ["old drift issue"]
    assert found.complete


def test_the_marker_search_is_skipped_when_the_search_quota_is_used_up(github_api: GitHubStandIn, client: Any) -> None:
    for _ in range(github_api.SEARCH_LIMIT):
        client.search_issues(f"repo:{REPO} is:issue nothing").get_page(0)

    found = gh_adapter.find_by_marker(client, REPO, "batchops-drift")

    assert not found.complete and "quota" in found.note
    assert len(github_api.requests_to("GET", "/search/issues")) == github_api.SEARCH_LIMIT


def test_a_label_on_the_second_page_is_found_and_not_created_again(github_api: GitHubStandIn, client: Any) -> None:
    for n in range(130):
        github_api.add_label(REPO, f"area-{n:03d}")
    github_api.add_label(REPO, "checksum-drift", "fbca04")
    repo = client.get_repo(REPO)

    assert gh_adapter.ensure_labels(repo, ["checksum-drift"]) == []

    assert github_api.requests_to("POST", f"/repos/{REPO}/labels") == []
    assert len(github_api.requests_to("GET", f"/repos/{REPO}/labels")) == 2


class _Answer:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers


@given(
    status=st.integers(min_value=100, max_value=599),
    retry_after=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6).map(str), st.text(max_size=8)),
    remaining=st.one_of(st.none(), st.sampled_from(["0", "1", "4999", "x"])),
    reset_in=st.integers(min_value=-100, max_value=10**6),
)
def test_the_retry_decision_waits_only_for_rate_limits_and_server_errors(
    status: int, retry_after: str | None, remaining: str | None, reset_in: int
) -> None:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if remaining is not None:
        headers["X-RateLimit-Remaining"] = remaining
        headers["X-RateLimit-Reset"] = str(int(gh_adapter.wall()) + reset_in)
    wait = gh_adapter.GitHubRetry().wait_for(status, _Answer(status, headers))
    if status < 500 and status not in (403, 429):
        assert wait is None  # 404, 422, 401 ...: repeating cannot help
    if status == 403 and "Retry-After" not in headers and remaining != "0":
        assert wait is None  # a permission 403
    if wait is not None:
        assert wait >= 0


def test_an_unreachable_api_fails_fast_with_a_reason_not_a_traceback(waits: list[float]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = gh_adapter.client("t", base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(Exception) as caught:
        client.get_repo(REPO)

    assert gh_adapter.reason(caught.value).startswith("GitHub API unreachable: ConnectionError")
    assert 1 <= len(waits) <= 3 and sum(waits) <= gh_adapter.DEADLINE
    assert "GITHUB_API_URL" in gh_adapter.GitHubError.wrap(caught.value, "reading the repository").hint


# --- one call's bound: an outage costs at most DEADLINE; waits GitHub asks for are not an outage ----------


def test_an_api_answering_500_to_everything_costs_one_call_at_most_the_deadline_then_is_unavailable(
    github_api: GitHubStandIn, client: Any, waits: list[float]
) -> None:
    github_api.inject("*", "*", 500, times=10_000)

    with pytest.raises(GithubException) as caught:
        client.get_repo(REPO)

    assert gh_adapter.DEADLINE == 30.0
    assert sum(waits) <= gh_adapter.DEADLINE and waits == [1.0, 2.0, 4.0, 8.0]  # the next wait, 16 s, would pass 30 s
    error = gh_adapter.GitHubError.wrap(caught.value, "confirming the landings")
    assert isinstance(error, gh_adapter.GitHubUnavailable) and error.status == 500
    assert error.message.startswith("confirming the landings: GitHub answered 500")


def test_a_closed_port_is_unavailable_to_the_caller_within_the_deadline(waits: list[float]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = gh_adapter.client("t", base_url=f"http://127.0.0.1:{port}")

    with pytest.raises(gh_adapter.GitHubUnavailable) as caught:
        client.get_repo(REPO)

    assert sum(waits) <= gh_adapter.DEADLINE
    assert gh_adapter.is_unavailable(caught.value) and caught.value.status is None
    assert caught.value.reason.startswith("GitHub API unreachable: ConnectionError")
    assert "GITHUB_API_URL" in caught.value.hint


@pytest.fixture
def silent_server() -> Any:
    """A loopback 'GitHub' that accepts connections and reads requests but never answers."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for conn in held:
        conn.close()


def test_a_server_that_never_answers_costs_one_call_its_deadline_in_all_attempts_included(
    silent_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    waits: list[float] = []
    monkeypatch.setattr(gh_adapter, "sleep", waits.append)  # the waits are recorded; the reads time out for real
    client = gh_adapter.client("t", base_url=silent_server, timeout=1, deadline=2.5, write_interval=0)
    started = time.monotonic()

    with pytest.raises(gh_adapter.GitHubUnavailable) as caught:
        client.get_repo(REPO)

    elapsed = time.monotonic() - started
    assert 1 <= elapsed < 2.5 + 1.5, f"one call took {elapsed:.1f} s with a 2.5 s deadline"
    assert waits and elapsed + sum(waits) <= 2.5 + 1.5  # it retried, and no wait ran past the deadline
    assert "timed out" in caught.value.reason or "no complete answer within 2.5 s" in caught.value.reason


def test_a_wait_github_asks_for_is_taken_beyond_the_outage_bound_but_not_beyond_its_own(
    github_api: GitHubStandIn, client: Any, waits: list[float]
) -> None:
    github_api.inject("GET", f"/repos/{REPO}", 429, headers={"retry-after": "45"})

    assert client.get_repo(REPO).full_name == REPO
    assert waits == [45.0]  # longer than DEADLINE: asked for, not an outage

    github_api.inject("GET", f"/repos/{REPO}", 429, headers={"retry-after": "45"}, times=2)
    waits.clear()
    with pytest.raises(GithubException):
        client.get_repo(REPO)
    assert waits == [45.0]  # a second 45 s would pass ASKED_WAIT (60 s) for this call

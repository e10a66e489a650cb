"""Pull requests for rollback, through the one GitHub client policy (:mod:`batchops.adapters.github`).

- ``pulls_of_commits``: ``commits/{sha}/pulls`` for landings, keeping the PR merged as that commit;
- ``get_pull``: one PR (``pulls/{n}``);
- ``find_batch_pulls``: merged PRs into the base branch that carry a batch: their head or body
  names it, or one of their commits (``pulls/{n}/commits``) has the ``batch_id:`` line; the
  listing (newest update first) stops at PRs last updated two days before the batch's date,
  and commits are read only for PRs created within two days of it;
- ``open_or_find_pull``: opens the rollback PR (retried by the client policy); when GitHub says
  one already exists for the branch, that PR is found and returned instead;
- ``is_outage``: a failure of GitHub itself (5xx, timeout, connection refused, rate limit),
  after which a plan stops calling the API and stands on the history alone.

Every function takes ``deadline`` and ``timeout`` (seconds) for the client: all retries of one
call end within ``deadline`` of its first failure, each attempt within ``timeout``. Any failure
comes back as :class:`~batchops.adapters.github.GitHubError` (a connection error too, status None).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from batchops.adapters import github
from batchops.core.rollback import message_names_batch


@dataclass(frozen=True)
class PullInfo:
    number: int
    merged: bool
    merge_commit_sha: str
    html_url: str
    head_ref: str
    head_sha: str
    base_ref: str
    why: str = ""
    merged_at: str = ""


def _info(pull: Any, why: str = "") -> PullInfo:
    head = pull.head
    merged_at = pull.merged_at
    return PullInfo(
        int(pull.number),
        merged_at is not None,
        pull.merge_commit_sha or "",
        pull.html_url or "",
        head.ref if head is not None else "",
        head.sha if head is not None else "",
        pull.base.ref if pull.base is not None else "",
        why,
        merged_at.strftime("%Y-%m-%dT%H:%M:%SZ") if merged_at is not None else "",
    )


def _repo(token: str, repository: str, deadline: float, timeout: float) -> Any:
    return github.client(token, lazy=True, deadline=deadline, timeout=timeout).get_repo(repository)


def is_outage(exc: github.GitHubError) -> bool:
    """GitHub unavailable: no answer (timeout, connection refused), a 5xx, or a rate limit."""
    status = exc.status
    return status is None or status >= 500 or (status in (403, 429) and "rate limit" in exc.reason.lower())


@contextmanager
def _calling(doing: str, *, ignore: tuple[int, ...] = ()) -> Iterator[list[bool]]:
    """Wrap any failure of the block as a GitHubError naming ``doing``; statuses in ``ignore`` set the flag."""
    from github import GithubException
    from requests.exceptions import RequestException

    ignored: list[bool] = []
    try:
        yield ignored
    except GithubException as exc:
        if exc.status in ignore:
            ignored.append(True)
            return
        raise github.GitHubError.wrap(exc, doing) from None
    except RequestException as exc:
        raise github.GitHubError.wrap(exc, doing) from None


def pulls_of_commits(
    token: str,
    repository: str,
    shas: list[str],
    *,
    deadline: float = github.DEADLINE,
    timeout: float = github.TIMEOUT,
) -> dict[str, list[PullInfo]]:
    repo = _repo(token, repository, deadline, timeout)
    found: dict[str, list[PullInfo]] = {}
    for sha in shas:
        pulls: list[PullInfo] = []
        with _calling(f"looking up the pull request of {sha[:12]} in {repository}", ignore=(404, 422)):
            pulls = [_info(p) for p in repo.get_commit(sha).get_pulls()]  # 404/422: GitHub does not know it
        merged_as = [p for p in pulls if p.merged and p.merge_commit_sha == sha]
        if merged_as:
            found[sha] = merged_as
    return found


def get_pull(
    token: str,
    repository: str,
    number: int,
    *,
    deadline: float = github.DEADLINE,
    timeout: float = github.TIMEOUT,
) -> PullInfo | None:
    with _calling(f"reading PR #{number} of {repository}", ignore=(404,)):
        return _info(_repo(token, repository, deadline, timeout).get_pull(number))
    return None


def head_names_batch(ref: str, batch_id: str) -> bool:
    """True when the last path segment of a head branch is ``ID`` or ``batch-ID``."""
    last = (ref or "").rsplit("/", 1)[-1]
    return last in (batch_id, f"batch-{batch_id}")


def _why(pull: Any, batch_id: str, window: tuple[date, date]) -> str:
    head = pull.head.ref if pull.head is not None else ""
    if head_names_batch(head, batch_id):
        return f"head branch {head}"
    if message_names_batch(pull.body or "", batch_id):
        return "PR body"
    created = pull.created_at.date() if pull.created_at is not None else None
    if created is not None and window[0] <= created <= window[1]:
        if any(message_names_batch(c.commit.message or "", batch_id) for c in pull.get_commits()):
            return "a commit of the PR"
    return ""


def find_batch_pulls(
    token: str,
    repository: str,
    base_branch: str,
    batch_id: str,
    *,
    deadline: float = github.DEADLINE,
    timeout: float = github.TIMEOUT,
) -> list[PullInfo]:
    day = date.fromisoformat(batch_id[:10])
    cutoff = day - timedelta(days=2)
    window = (day - timedelta(days=1), day + timedelta(days=2))
    matches: list[PullInfo] = []
    with _calling(f"listing the merged pull requests into {base_branch} of {repository}"):
        repo = _repo(token, repository, deadline, timeout)
        for pull in repo.get_pulls(state="closed", base=base_branch, sort="updated", direction="desc"):
            updated = pull.updated_at
            if updated is not None and updated.date() < cutoff:
                break
            if pull.merged_at is None or not pull.merge_commit_sha:
                continue
            why = _why(pull, batch_id, window)
            if why:
                matches.append(_info(pull, why))
    return matches


def merged_pulls(
    token: str,
    repository: str,
    base_branch: str,
    keep: Callable[[PullInfo], bool],
    since: date,
    *,
    deadline: float = github.DEADLINE,
    timeout: float = github.TIMEOUT,
) -> list[PullInfo]:
    """Merged PRs into ``base_branch`` updated on or after ``since`` that ``keep`` accepts, newest update first."""
    found: list[PullInfo] = []
    with _calling(f"listing the merged pull requests into {base_branch} of {repository}"):
        repo = _repo(token, repository, deadline, timeout)
        for pull in repo.get_pulls(state="closed", base=base_branch, sort="updated", direction="desc"):
            if pull.updated_at is not None and pull.updated_at.date() < since:
                break
            if pull.merged_at is None or not pull.merge_commit_sha:
                continue
            info = _info(pull)
            if keep(info):
                found.append(info)
    return found


def open_or_find_pull(
    token: str,
    repository: str,
    base: str,
    branch: str,
    title: str,
    body: str,
    *,
    deadline: float = github.DEADLINE,
    timeout: float = github.TIMEOUT,
) -> tuple[str, bool]:
    """(URL of the rollback PR, True when it was opened now)."""
    from github import GithubException

    try:
        with _calling(f"opening the pull request for {branch}"):
            repo = _repo(token, repository, deadline, timeout)
            try:
                pull = repo.create_pull(base=base, head=branch, title=title, body=body)
                return pull.html_url or "", True
            except GithubException as exc:
                if not (exc.status == 422 and "already exists" in github.reason(exc)):
                    raise
            owner = repository.split("/", 1)[0]
            with _calling(f"finding the open pull request for {branch}"):
                for existing in repo.get_pulls(state="open", head=f"{owner}:{branch}", base=base):
                    return existing.html_url or "", False
            raise github.GitHubError(
                f"opening the pull request for {branch}: GitHub says one already exists, but none is open from it",
                hint="open it by hand",
            )
    except github.GitHubError as error:
        error.hint = (error.hint + "; " if error.hint else "") + (
            "the branch is pushed: re-run the rollback (it opens the PR for the branch it pushed) "
            "or open it by hand; the job needs `permissions: pull-requests: write`"
        )
        raise

"""Pull requests for rollback, through the one GitHub client policy (:mod:`batchops.adapters.github`).

- ``pulls_of_commits``: ``commits/{sha}/pulls`` for landings, keeping the PR merged as that commit;
- ``get_pull``: one PR (``pulls/{n}``);
- ``find_batch_pulls``: merged PRs into the base branch that carry a batch: their head or body
  names it, or one of their commits (``pulls/{n}/commits``) has the ``batch_id:`` line; the
  listing (newest update first) stops at PRs last updated two days before the batch's date,
  and commits are read only for PRs created within two days of it;
- ``open_or_find_pull``: opens the rollback PR (retried by the client policy); when GitHub says
  one already exists for the branch, that PR is found and returned instead.
"""

from __future__ import annotations

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


def _info(pull: Any, why: str = "") -> PullInfo:
    head = pull.head
    return PullInfo(
        int(pull.number), pull.merged_at is not None, pull.merge_commit_sha or "", pull.html_url or "",
        head.ref if head is not None else "", head.sha if head is not None else "",
        pull.base.ref if pull.base is not None else "", why,
    )


def _repo(token: str, repository: str) -> Any:
    return github.client(token, lazy=True).get_repo(repository)


def pulls_of_commits(token: str, repository: str, shas: list[str]) -> dict[str, list[PullInfo]]:
    from github import GithubException

    repo = _repo(token, repository)
    found: dict[str, list[PullInfo]] = {}
    for sha in shas:
        try:
            pulls = [_info(p) for p in repo.get_commit(sha).get_pulls()]
        except GithubException as exc:
            if exc.status in (404, 422):
                continue  # GitHub does not know the commit (not pushed)
            raise github.GitHubError.wrap(exc, f"looking up the pull request of {sha[:12]} in {repository}") from None
        merged_as = [p for p in pulls if p.merged and p.merge_commit_sha == sha]
        if merged_as:
            found[sha] = merged_as
    return found


def get_pull(token: str, repository: str, number: int) -> PullInfo | None:
    from github import GithubException

    try:
        return _info(_repo(token, repository).get_pull(number))
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise github.GitHubError.wrap(exc, f"reading PR #{number} of {repository}") from None


def head_names_batch(ref: str, batch_id: str) -> bool:
    """True when the last path segment of a head branch is ``ID`` or ``batch-ID``."""
    last = (ref or "").rsplit("/", 1)[-1]
    return last in (batch_id, f"batch-{batch_id}")


def find_batch_pulls(token: str, repository: str, base_branch: str, batch_id: str) -> list[PullInfo]:
    from github import GithubException

    day = date.fromisoformat(batch_id[:10])
    cutoff = day - timedelta(days=2)
    window = (day - timedelta(days=1), day + timedelta(days=2))
    matches: list[PullInfo] = []
    try:
        repo = _repo(token, repository)
        for pull in repo.get_pulls(state="closed", base=base_branch, sort="updated", direction="desc"):
            updated = pull.updated_at
            if updated is not None and updated.date() < cutoff:
                break
            if pull.merged_at is None or not pull.merge_commit_sha:
                continue
            head = pull.head.ref if pull.head is not None else ""
            why = ""
            if head_names_batch(head, batch_id):
                why = f"head branch {head}"
            elif message_names_batch(pull.body or "", batch_id):
                why = "PR body"
            else:
                created = pull.created_at.date() if pull.created_at is not None else None
                if created is not None and window[0] <= created <= window[1]:
                    if any(message_names_batch(c.commit.message or "", batch_id) for c in pull.get_commits()):
                        why = "a commit of the PR"
            if why:
                matches.append(_info(pull, why))
    except GithubException as exc:
        raise github.GitHubError.wrap(exc, f"listing the merged pull requests into {base_branch} of {repository}") from None
    return matches


def open_or_find_pull(token: str, repository: str, base: str, branch: str, title: str, body: str) -> tuple[str, bool]:
    """(URL of the rollback PR, True when it was opened now)."""
    from github import GithubException

    repo = _repo(token, repository)
    try:
        pull = repo.create_pull(base=base, head=branch, title=title, body=body)
        return pull.html_url or "", True
    except GithubException as exc:
        if exc.status == 422 and "already exists" in github.reason(exc):
            owner = repository.split("/", 1)[0]
            try:
                for existing in repo.get_pulls(state="open", head=f"{owner}:{branch}", base=base):
                    return existing.html_url or "", False
            except GithubException as again:
                raise github.GitHubError.wrap(again, f"finding the open pull request for {branch}") from None
        error = github.GitHubError.wrap(exc, f"opening the pull request for {branch}")
        error.hint = (error.hint + "; " if error.hint else "") + (
            "the branch is pushed: re-run the rollback (it opens the PR for the branch it pushed) "
            "or open it by hand; the job needs `permissions: pull-requests: write`"
        )
        raise error from None

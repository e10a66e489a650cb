"""What a failed GitHub call means: the reason on one line, the error types, the hint.

The tree (catch the narrowest that lets you act)::

    BatchopsError
    └── GitHubError            a call failed: .status (None without an answer), .reason, .hint
        └── GitHubUnavailable  GitHub could not answer within the call's bound (a 5xx after the
                               retries, a timeout, the connection refused or cut): degrade

- ``reason(exc) -> str``: GitHub's ``message``, every ``errors[].message`` (or
  resource/field/code) and ``documentation_url``, on one line, for any exception.
- ``GitHubError.wrap(exc, doing)`` names what was being done, the status and the reason, with a
  hint chosen by status; an outage comes back as a :class:`GitHubUnavailable`.
- ``is_rate_limited(exc)``: a rate-limit refusal (primary, secondary or search);
  ``is_unavailable(exc)``: an outage.

:mod:`batchops.adapters.github` re-exports all of them: callers import that one module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchops.core import escape
from batchops.errors import BatchopsError

REASON_LIMIT = 600


def _unreachable(exc: BaseException) -> str:
    detail = str(exc)
    return escape.flatten(
        f"GitHub API unreachable: {exc.__class__.__name__}" + (f" ({detail[:200]})" if detail else ""), REASON_LIMIT
    )


def _error_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, Mapping):
        if item.get("message"):
            return str(item["message"])
        parts = [str(item.get(k)) for k in ("resource", "field", "code") if item.get(k)]
        return " ".join(parts)
    return str(item)


def reason(exc: BaseException) -> str:
    """What GitHub said, on one line: status, message, errors[].message, documentation_url."""
    from github import GithubException

    if isinstance(exc, GitHubError):
        return exc.reason
    if isinstance(exc, GithubException):
        data = exc.data
        parts: list[str] = []
        if isinstance(data, Mapping):
            if data.get("message"):
                parts.append(str(data["message"]))
            errors = data.get("errors")
            if isinstance(errors, list):
                texts = [t for t in (_error_text(e) for e in errors) if t]
                if texts:
                    parts.append("errors: " + "; ".join(texts))
            if data.get("documentation_url"):
                parts.append(f"see {data['documentation_url']}")
        elif data:
            parts.append(str(data)[:300])
        text = f"{exc.status} " + (" - ".join(parts) if parts else "(no message)")
        return escape.flatten(text, REASON_LIMIT)
    name = exc.__class__.__name__
    detail = str(exc)
    if "requests" in type(exc).__module__ or isinstance(exc, OSError):
        return _unreachable(exc)
    return escape.flatten(f"{name}: {detail}" if detail else name, REASON_LIMIT)


def is_rate_limited(exc: BaseException) -> bool:
    from github import GithubException

    if not isinstance(exc, GithubException) or exc.status not in (403, 429):
        return False
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    if "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0":
        return True
    message = str((exc.data or {}).get("message", "") if isinstance(exc.data, Mapping) else exc.data)
    return "rate limit" in message.lower()


def _hint(status: int | None, exc: BaseException) -> str:
    if status is None:
        return "check that GITHUB_API_URL is reachable from the runner, then re-run"
    if status == 401:
        return "the token is missing, invalid or expired: pass a valid github-token, e.g. ${{ secrets.GITHUB_TOKEN }}"
    if status in (403, 429) and is_rate_limited(exc):
        return "GitHub's rate limit: re-run after the reset time GitHub gives, or spread the runs out"
    if status == 403:
        return "the token may not do this: give the workflow the permission it needs, e.g. `permissions: issues: write`"
    if status == 404:
        return "check GITHUB_REPOSITORY (owner/name) and that the token can see that repository"
    if status == 422:
        return "GitHub refused the content: the reason above says which field"
    if status >= 500:
        return "GitHub is having trouble: re-run later (https://www.githubstatus.com)"
    return "see GitHub's reason above"


class GitHubError(BatchopsError):
    """A GitHub API call that failed; the message carries GitHub's reason.

    The tree (catch the narrowest that lets you act)::

        BatchopsError
        └── GitHubError            a call failed: .status (None without an answer), .reason, .hint
            └── GitHubUnavailable  GitHub could not answer within the call's bound (DEADLINE): a 5xx
                                   after the retries, a timeout, the connection refused or cut; degrade
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason or message

    @classmethod
    def wrap(cls, exc: BaseException, doing: str) -> GitHubError:
        """``exc`` as a GitHubError saying what was being done (a :class:`GitHubUnavailable` for an outage)."""
        from github import GithubException

        if isinstance(exc, GitHubError):
            if exc.message != exc.reason:
                return exc  # already says what was being done
            return type(exc)(f"{doing}: {exc.reason}", status=exc.status, reason=exc.reason, hint=exc.hint)
        status = exc.status if isinstance(exc, GithubException) else None
        why = reason(exc)
        answered = "GitHub answered " + why if status is not None else why
        kind = GitHubUnavailable if is_unavailable(exc) else GitHubError
        return kind(f"{doing}: {answered}", status=status, reason=why, hint=_hint(status, exc))


class GitHubUnavailable(GitHubError):
    """GitHub could not answer one call within its bound (:data:`DEADLINE`): callers degrade instead of failing."""


def is_unavailable(exc: BaseException) -> bool:
    """An outage: a 5xx after the retries, a timeout, the connection refused or cut (not a refusal of the request)."""
    from github import GithubException

    if isinstance(exc, GitHubUnavailable):
        return True
    if isinstance(exc, GitHubError):
        return exc.status is not None and exc.status >= 500
    if isinstance(exc, GithubException):
        return exc.status >= 500
    return "requests" in type(exc).__module__ or isinstance(exc, OSError)

"""The one GitHub client policy of batchops (PyGithub underneath).

Functions (drift-monitor, rollback and alert use them; nothing else builds a client):

- ``client(token, *, base_url=None, timeout=TIMEOUT, write_interval=None, lazy=False) -> github.Github``:
  base URL from ``runner.api_url()`` (``$GITHUB_API_URL``); 100 items a page; on every
  request ``User-Agent: batchops/<version>``, ``X-GitHub-Api-Version: 2022-11-28`` and
  ``Accept: application/vnd.github+json`` (a retired ``*-preview`` media type that PyGithub
  asks for is replaced by it); the retry policy :class:`GitHubRetry`; writes spaced by
  ``write_interval`` seconds (default 1, GitHub's advice; ``$BATCHOPS_GITHUB_WRITE_INTERVAL``).
- ``reason(exc) -> str``: GitHub's ``message``, every ``errors[].message`` (or
  resource/field/code) and ``documentation_url``, on one line, for any exception.
- ``GitHubError(BatchopsError)``: ``GitHubError.wrap(exc, doing)`` names what was being
  done, the status and the reason, with a hint chosen by status; ``.status`` is kept.
- ``ensure_labels(repo, names, colors=None, description=...) -> list[str]``: creates the
  missing labels through the REST endpoint with the standard media type (not PyGithub's
  ``create_label``, which asks for the retired symmetra preview); "already exists" is
  fine, any other refusal comes back as a warning line with GitHub's reason.
- ``open_issues_with_label(repo, labels) -> list[Issue]``: every open issue carrying all
  ``labels``, all pages, pull requests left out (the issues listing returns them too).
- ``find_by_marker(gh, repository, text, *, max_pages=3) -> MarkerSearch``: the fallback
  for issues that lost their labels: one search ``repo:R is:issue is:open in:body "text"``,
  paginated, only while the search quota (30 a minute) has room; says when it stopped early.
- ``is_rate_limited(exc)``: a rate-limit refusal (primary, secondary or search).

The retry policy (:class:`GitHubRetry`, a ``urllib3.Retry``): 5xx, 429, and 403 that carry
``Retry-After`` or ``X-RateLimit-Remaining: 0`` are retried, for every method (a rate-limited
request was not processed); the wait is ``Retry-After``, else until ``X-RateLimit-Reset``
(+1 s), else exponential backoff (1, 2, 4 … 16 s; at least 60 s for a bare 429, as GitHub
asks). All retries of one call end within ``DEADLINE`` (90 s: a 60 s ``Retry-After`` or a search-quota reset fits) from its first failure: a
wait that would pass it is not taken and the call fails with GitHub's reason. A plain 403
(permissions), 404 and 422 are never retried. Connection errors are retried (3 times), read
errors only for requests that are safe to repeat (not POST). Waits go through the module's
``sleep`` (tests patch ``batchops.adapters.github.sleep``), and the clocks through
``monotonic`` and ``wall``. One call, its retries included, ends within :func:`call_deadline`
(``DEADLINE`` + 2 × ``timeout``, 120 s by default) of its start, whatever the server sends: a
server that drips its headers or body gets a read timeout, not an unbounded wait.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from batchops import __version__
from batchops.adapters import runner
from batchops.core import escape
from batchops.core.backoff import exponential
from batchops.errors import BatchopsError

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
USER_AGENT = f"batchops/{__version__}"
DEADLINE = 90.0  # seconds: every retry of one call ends within this, from its first failure (a 60 s Retry-After fits)
TIMEOUT = 15  # seconds per attempt (connect, then each read)
PER_PAGE = 100
DEFAULT_LABEL_COLOR = "ededed"

# injectable for tests: the waits between attempts and the clocks the deadline is measured with
sleep = time.sleep
monotonic = time.monotonic
wall = time.time

_SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ALL_METHODS = frozenset({*_SAFE_TO_REPEAT, "POST"})


class GitHubRetry(Retry):
    """urllib3 retry policy for the GitHub API (see the module docstring)."""

    def __init__(
        self,
        *,
        deadline: float = DEADLINE,
        started: float | None = None,
        waited: float = 0.0,
        wait: float = 0.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("total", 10)
        kwargs.setdefault("connect", 3)
        kwargs.setdefault("read", 2)
        kwargs.setdefault("status", 8)
        kwargs.setdefault("backoff_factor", 0.5)
        kwargs.setdefault("backoff_max", 16.0)
        kwargs["status_forcelist"] = frozenset({403, 429, *range(500, 600)})
        kwargs["allowed_methods"] = _ALL_METHODS
        kwargs["raise_on_status"] = False  # the last answer goes back to PyGithub, with GitHub's reason
        kwargs["respect_retry_after_header"] = True
        super().__init__(**kwargs)
        self.deadline = deadline
        self.started = started
        self.waited = waited
        self.wait = wait

    def new(self, **kw: Any) -> GitHubRetry:
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("started", self.started)
        kw.setdefault("waited", self.waited)
        kw.setdefault("wait", 0.0)
        return super().new(**kw)  # type: ignore[return-value]

    # -- the decision --------------------------------------------------------------------------
    def _backoff(self) -> float:
        attempts = len(self.history) + 1
        return exponential(attempts + 1, self.backoff_factor, self.backoff_max)

    def _retry_after(self, response: Any) -> float | None:
        value = (response.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        if value.isascii() and value.isdigit():
            return float(value)
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        return max(0.0, email.utils.mktime_tz(parsed) - wall())

    def wait_for(self, status: int, response: Any) -> float | None:
        """Seconds to wait before repeating a request answered ``status``; None: do not repeat."""
        retry_after = self._retry_after(response)
        if status in (403, 429):
            if retry_after is not None:
                return retry_after
            remaining = (response.headers.get("X-RateLimit-Remaining") or "").strip()
            reset = (response.headers.get("X-RateLimit-Reset") or "").strip()
            if remaining == "0" and reset.isascii() and reset.isdigit():
                return max(0.0, int(reset) - wall()) + 1.0
            if status == 429:
                return max(60.0, self._backoff())
            return None  # a 403 that is not a rate limit: permissions; repeating cannot help
        if status >= 500:
            return retry_after if retry_after is not None else self._backoff()
        return None

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        now = monotonic()
        started = self.started if self.started is not None else now
        if response is not None:
            wait = self.wait_for(int(response.status), response)
            if wait is None:
                raise MaxRetryError(_pool, url or "", None)  # urllib3 hands the answer back as it is
        else:
            if error is not None and self._is_read_error(error) and (method or "").upper() not in _SAFE_TO_REPEAT:
                raise MaxRetryError(_pool, url or "", error) from error  # the server may have acted on it
            wait = self._backoff() if self.history else 0.5
        elapsed = max(now - started, self.waited)
        if elapsed + wait > self.deadline:
            raise MaxRetryError(_pool, url or "", error)
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        assert isinstance(new, GitHubRetry)
        new.started = started
        new.waited = self.waited + wait
        new.wait = wait
        return new

    def sleep(self, response: Any = None) -> None:
        if self.wait > 0:
            sleep(self.wait)


def _policy_auth(token: str) -> Any:
    from github.Auth import Auth

    class _Policy(Auth):
        """Adds the token (when there is one) and the standard media type to every request."""

        @property
        def token_type(self) -> str:
            return "token"

        @property
        def token(self) -> str:
            return token

        def authentication(self, headers: dict[str, Any]) -> None:
            if token:
                headers["Authorization"] = f"token {token}"
            accept = str(headers.get("Accept") or "")
            if not accept or accept == "*/*" or "-preview" in accept:
                headers["Accept"] = MEDIA_TYPE

        def mask_authentication(self, headers: dict[str, Any]) -> None:
            if "Authorization" in headers:
                headers["Authorization"] = "token (removed)"

        @property
        def _masked_token(self) -> str:
            return "token (removed)"

    return _Policy()


def call_deadline(retry: Any, timeout: Any) -> float:
    """The wall-clock total of one GitHub call: every retry's wait (``DEADLINE``) plus two attempts' ``timeout``."""
    seconds = float(timeout or TIMEOUT)
    return float(getattr(retry, "deadline", DEADLINE)) + 2 * seconds


def _bounded(base: Any) -> Any:
    """PyGithub's connection class with a total deadline per call (a server that drips bytes cannot stretch it).

    ``requests`` only bounds each socket read; the call runs on a daemon thread that is
    abandoned, and its connection shut, when :func:`call_deadline` passes.
    """
    import threading

    class Bounded(base):  # type: ignore[misc,valid-type]
        def getresponse(self) -> Any:
            import requests

            conn: Any = self
            total = call_deadline(getattr(conn, "retry", None), conn.timeout)
            session: Any = conn.session
            box: list[tuple[bool, Any]] = []

            def run() -> None:
                try:
                    box.append((True, base.getresponse(self)))
                except BaseException as exc:  # handed to the caller's thread
                    box.append((False, exc))

            worker = threading.Thread(target=run, daemon=True, name="batchops-github")
            worker.start()
            worker.join(total)
            if not box:
                conn.session = requests.Session()  # later calls never share the abandoned connection
                conn.session.auth = session.auth
                conn.adapter = type(conn.adapter)(max_retries=conn.retry, pool_connections=conn.pool_size, pool_maxsize=conn.pool_size)
                conn.session.mount(f"{conn.protocol}://", conn.adapter)
                session.close()
                raise requests.exceptions.ReadTimeout(f"GitHub gave no complete answer within {total:g} s (a server that sends its reply too slowly)")
            ok, value = box[0]
            if ok:
                return value
            raise value

    Bounded.__name__ = Bounded.__qualname__ = "Bounded" + base.__name__
    return Bounded


def _install_deadline() -> None:
    from github import Requester as module

    requester = module.Requester
    for attribute, base in (("_Requester__httpConnectionClass", module.HTTPRequestsConnectionClass), ("_Requester__httpsConnectionClass", module.HTTPSRequestsConnectionClass)):
        if getattr(requester, attribute, None) is base:
            setattr(requester, attribute, _bounded(base))


def client(
    token: str,
    *,
    base_url: str | None = None,
    timeout: float = TIMEOUT,
    write_interval: float | None = None,
    lazy: bool = False,
    deadline: float = DEADLINE,
) -> Any:
    """A PyGithub client with the batchops policy (see the module docstring)."""
    from github import Github

    _install_deadline()
    if write_interval is None:
        try:
            write_interval = float(runner.setting("BATCHOPS_GITHUB_WRITE_INTERVAL", "1"))
        except ValueError:
            write_interval = 1.0
    return Github(
        base_url=(base_url or runner.api_url()).rstrip("/"),
        auth=_policy_auth(token or ""),
        timeout=max(1, int(timeout)),
        user_agent=USER_AGENT,
        per_page=PER_PAGE,
        retry=GitHubRetry(deadline=deadline),
        seconds_between_requests=None,
        seconds_between_writes=write_interval or None,
        lazy=lazy,
        api_version=API_VERSION,
    )


# --- reasons and errors ---------------------------------------------------------------------------


def _one_line(text: str, limit: int = 600) -> str:
    return escape.flatten(text, limit)


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
        return _one_line(text)
    name = exc.__class__.__name__
    detail = str(exc)
    if "requests" in type(exc).__module__ or isinstance(exc, OSError):
        return _one_line(f"GitHub API unreachable: {name}" + (f" ({detail[:200]})" if detail else ""))
    return _one_line(f"{name}: {detail}" if detail else name)


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
    """A GitHub API call that failed; the message carries GitHub's reason."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason or message

    @classmethod
    def wrap(cls, exc: BaseException, doing: str) -> GitHubError:
        from github import GithubException

        if isinstance(exc, GitHubError):
            return exc
        status = exc.status if isinstance(exc, GithubException) else None
        why = reason(exc)
        answered = "GitHub answered " + why if status is not None else why
        return cls(f"{doing}: {answered}", status=status, reason=why, hint=_hint(status, exc))


# --- helpers ------------------------------------------------------------------------------------------


def ensure_labels(
    repo: Any,
    names: Iterable[str],
    colors: Mapping[str, str] | None = None,
    *,
    description: str = "",
) -> list[str]:
    """Create the labels of ``names`` that ``repo`` lacks; return warning lines (empty: all there).

    Raises GitHubError when the labels cannot even be listed.
    """
    from github import GithubException

    wanted = [n for n in dict.fromkeys(n.strip() for n in names) if n]
    if not wanted:
        return []
    try:
        existing = {label.name.lower() for label in repo.get_labels()}
    except GithubException as exc:
        raise GitHubError.wrap(exc, f"listing the labels of {repo.full_name}") from None
    warnings: list[str] = []
    palette = {k.lower(): v for k, v in (colors or {}).items()}
    for name in wanted:
        if name.lower() in existing:
            continue
        payload: dict[str, Any] = {"name": name, "color": palette.get(name.lower(), DEFAULT_LABEL_COLOR).lstrip("#")}
        if description:
            payload["description"] = description[:100]
        try:
            repo.requester.requestJsonAndCheck("POST", f"{repo.url}/labels", input=payload, headers={"Accept": MEDIA_TYPE})
        except GithubException as exc:
            if exc.status == 422 and _already_exists(exc):
                continue  # created meanwhile
            warnings.append(f"could not create the label {name!r}: GitHub answered {reason(exc)}")
    return warnings


def _already_exists(exc: Any) -> bool:
    data = exc.data if isinstance(exc.data, Mapping) else {}
    errors = data.get("errors")
    if not isinstance(errors, list):
        return False
    return any(isinstance(e, Mapping) and e.get("code") == "already_exists" for e in errors)


def open_issues_with_label(repo: Any, labels: str | Sequence[str]) -> list[Any]:
    """Every open issue with all of ``labels`` (every page); pull requests are left out."""
    from github import GithubException

    names = [labels] if isinstance(labels, str) else [n for n in labels if n]
    try:
        listing = repo.get_issues(state="open", labels=names) if names else repo.get_issues(state="open")
        return [issue for issue in listing if issue.pull_request is None]
    except GithubException as exc:
        raise GitHubError.wrap(exc, f"listing the open issues labelled {','.join(names)} of {repo.full_name}") from None


@dataclass
class MarkerSearch:
    issues: list[Any] = field(default_factory=list)
    complete: bool = True  # False: stopped early (search quota, page cap); ``note`` says why
    note: str = ""


def find_by_marker(gh: Any, repository: str, text: str, *, max_pages: int = 3) -> MarkerSearch:
    """Open issues (not PRs) of ``repository`` whose body holds ``text``, within the search quota.

    One query, each page one search request; stops before the quota (30 a minute) is
    used up or after ``max_pages`` pages, and says so. Raises GitHubError for other failures.
    """
    from github import GithubException

    out = MarkerSearch()
    try:
        remaining = gh.get_rate_limit().resources.search.remaining
    except GithubException:
        remaining = max_pages  # the rate-limit endpoint is not always there (GHES); search carefully
    except AttributeError:
        remaining = max_pages
    pages = min(max_pages, int(remaining) - 1)
    if pages < 1:
        return MarkerSearch([], False, "the search quota is used up for this minute")
    query = f'repo:{repository} is:issue is:open in:body "{text}"'
    try:
        result = gh.search_issues(query)
        for number in range(pages):
            page = result.get_page(number)
            out.issues.extend(i for i in page if i.pull_request is None)
            if len(page) < PER_PAGE:
                break
        else:
            out.complete = False
            out.note = f"searched the first {pages * PER_PAGE} hits only (the search quota is kept for the next runs)"
    except GithubException as exc:
        if is_rate_limited(exc):
            return MarkerSearch(out.issues, False, f"search stopped by the rate limit: {reason(exc)}")
        raise GitHubError.wrap(exc, f"searching the issues of {repository}") from None
    return out

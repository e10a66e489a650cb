"""The one GitHub client policy of batchops (PyGithub underneath).

Functions (drift-monitor, rollback and alert use them; nothing else builds a client):

- ``client(token, *, base_url=None, timeout=TIMEOUT, write_interval=None, lazy=False, deadline=DEADLINE)
  -> github.Github``: base URL from ``runner.api_url()`` (``$GITHUB_API_URL``); 100 items a page;
  on every request ``User-Agent: batchops/<version>``, ``X-GitHub-Api-Version: 2022-11-28`` and
  ``Accept: application/vnd.github+json`` (a retired ``*-preview`` media type that PyGithub
  asks for is replaced by it); the retry policy below; writes spaced by ``write_interval``
  seconds (default 1, GitHub's advice; ``$BATCHOPS_GITHUB_WRITE_INTERVAL``).
- ``reason``, ``GitHubError`` (``.wrap(exc, doing)``), ``GitHubUnavailable`` (GitHub could not
  answer one call within its bound: 5xx after the retries, timeouts, the connection refused;
  callers catch it to degrade), ``is_rate_limited``, ``is_unavailable``: from
  :mod:`batchops.adapters.github_errors`, re-exported here.
- ``ensure_labels``, ``open_issues_with_label``, ``find_by_marker``, ``is_rate_limited``: below.

The bound of one call (:data:`DEADLINE`, 30 s): an API that fails as an outage (5xx, timeouts,
connection refused, a server that drips its answer) costs one call at most that, its attempts
and its waits included: the call is one :class:`~batchops.adapters.deadline.Deadline` that every
socket operation meets (per operation at most ``timeout``) and that no wait may pass. A wait
GitHub asks for (``Retry-After``, a rate-limit reset, 60 s for a bare 429) is not an outage: it is
taken when all such waits of the call stay within :data:`ASKED_WAIT` (60 s), and moves the deadline
by as much; a longer one is not waited for and the call fails with GitHub's reason.

The retry policy (:func:`retry_policy`, a :mod:`batchops.core.retry` value, run by urllib3
through :class:`GitHubRetry`): 5xx, 429, and 403 that carry ``Retry-After`` or
``X-RateLimit-Remaining: 0`` are retried, for every method (a rate-limited request was not
processed); the wait is the one GitHub asked for, else exponential backoff (1, 2, 4 … 16 s). A
plain 403 (permissions), 404 and 422 are never retried. Connection errors are retried (3 times),
read errors only for requests that are safe to repeat (not POST). Waits go through the module's
``sleep`` (tests patch ``batchops.adapters.github.sleep``), the clocks through ``monotonic`` and
``wall``.

How the deadline reaches PyGithub's sockets without patching its private classes: PyGithub's
public ``Requester.injectConnectionClasses`` takes connection classes; ours subclass its public
``HTTP(S)RequestsConnectionClass``, use a ``requests`` session from
:func:`batchops.adapters.deadline.session` (kept per client, so connections are reused), and run
each call on the calling thread within its deadline.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from batchops import __version__
from batchops.adapters import deadline as deadlines
from batchops.adapters import runner
from batchops.adapters.deadline import Deadline
from batchops.adapters.github_errors import (  # noqa: F401 - re-exported: callers import one module
    GitHubError,
    GitHubUnavailable,
    _hint,
    _unreachable,
    is_rate_limited,
    is_unavailable,
    reason,
)
from batchops.core.retry import (
    Attempt,
    Policy,
    Stop,
    stop_after_attempt,
    wait_exponential,
    wait_retry_after,
)

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
USER_AGENT = f"batchops/{__version__}"
DEADLINE = 30.0  # seconds: all of one call (attempts and waits) when GitHub fails as an outage
ASKED_WAIT = 60.0  # seconds: the waits GitHub asks for (Retry-After, a rate-limit reset) one call may take in all
TIMEOUT = 15  # seconds per socket operation (connect, then each read), within the deadline
ATTEMPTS = 11  # one call and at most ten repeats
PER_PAGE = 100
DEFAULT_LABEL_COLOR = "ededed"

# injectable for tests: the waits between attempts and the clocks the deadline is measured with
sleep = time.sleep
monotonic = time.monotonic
wall = time.time

_SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
_ALL_METHODS = frozenset({*_SAFE_TO_REPEAT, "POST"})


def _now() -> float:
    return monotonic()


# --- the retry policy -----------------------------------------------------------------------------


class Failed(Exception):
    """One failed attempt as the retry policy sees it: GitHub's answer (``status``, ``headers``) or a network error."""

    def __init__(
        self, method: str, *, status: int | None = None, headers: Any = None, error: BaseException | None = None
    ) -> None:
        super().__init__(f"{method} answered {status}" if status is not None else f"{method}: {error!r}")
        self.method = method.upper()
        self.status = status
        self.headers = headers if headers is not None else {}
        self.error = error


def _header(failure: Failed, name: str) -> str:
    return str(failure.headers.get(name) or "").strip()


def _retry_after(failure: Failed) -> float | None:
    value = _header(failure, "Retry-After")
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - wall())


def asked_wait(failure: BaseException) -> float | None:
    """The wait GitHub asked for: ``Retry-After``, else until ``X-RateLimit-Reset`` (+1 s), else 60 s for a bare 429."""
    if not isinstance(failure, Failed) or failure.status is None:
        return None
    retry_after = _retry_after(failure)
    if failure.status in (403, 429):
        if retry_after is not None:
            return retry_after
        reset = _header(failure, "X-RateLimit-Reset")
        if _header(failure, "X-RateLimit-Remaining") == "0" and reset.isascii() and reset.isdigit():
            return max(0.0, int(reset) - wall()) + 1.0
        return 60.0 if failure.status == 429 else None  # GitHub asks for at least a minute after a bare 429
    return retry_after if failure.status >= 500 else None


def worth_repeating(failure: BaseException) -> bool:
    """5xx and rate limits; network errors, but a read error only where repeating is safe
    (the server may have acted on the request)."""
    if not isinstance(failure, Failed):
        return False
    if failure.status is not None:
        if failure.status in (403, 429):
            return asked_wait(failure) is not None  # a 403 that is not a rate limit: permissions
        return failure.status >= 500
    if _is_read_error(failure.error) and failure.method not in _SAFE_TO_REPEAT:
        return False
    return True


def _is_read_error(error: BaseException | None) -> bool:
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    return isinstance(error, (ReadTimeoutError, ProtocolError))


def retry_policy(deadline: Deadline) -> Policy[Any]:
    """Repeat what is worth it, waiting what GitHub asked for or 1, 2, 4 … 16 s, never past ``deadline``."""
    return Policy(
        stop=stop_after_attempt(ATTEMPTS) | Stop(lambda attempt: attempt.elapsed >= deadline.seconds),
        wait=wait_retry_after(wait_exponential(base=1.0, cap=16.0), cap=ASKED_WAIT),
        retry=worth_repeating,
        retry_after=asked_wait,
    )


class GitHubRetry(Retry):
    """The retry policy as urllib3 runs it under PyGithub: each decision is :func:`retry_policy`'s.

    urllib3's own counters stay as a second bound (3 connection errors, 2 read errors, 8 answers).
    """

    def __init__(
        self, *, deadline: float = DEADLINE, call: Deadline | None = None, wait: float = 0.0, **kwargs: Any
    ) -> None:
        kwargs.setdefault("total", ATTEMPTS - 1)
        kwargs.setdefault("connect", 3)
        kwargs.setdefault("read", 2)
        kwargs.setdefault("status", 8)
        kwargs["status_forcelist"] = frozenset({403, 429, *range(500, 600)})
        kwargs["allowed_methods"] = _ALL_METHODS
        kwargs["raise_on_status"] = False  # the last answer goes back to PyGithub, with GitHub's reason
        kwargs["respect_retry_after_header"] = True
        super().__init__(**kwargs)
        self.deadline = deadline
        self.call = call
        self.wait = wait
        self.transports: dict[str, Any] = {}
        self.lock = threading.Lock()

    def new(self, **kw: Any) -> GitHubRetry:
        kw.setdefault("deadline", self.deadline)
        kw.setdefault("call", self.call)
        kw.setdefault("wait", 0.0)
        return super().new(**kw)  # type: ignore[return-value]

    def wait_for(self, status: int, response: Any) -> float | None:
        """Seconds to wait before repeating a request answered ``status``; None: do not repeat."""
        failure = Failed("GET", status=status, headers=response.headers)
        if not worth_repeating(failure):
            return None
        asked = asked_wait(failure)
        return asked if asked is not None else wait_exponential(1.0, 16.0)(Attempt(number=len(self.history) + 1))

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Retry:
        call = self.call or deadlines.current() or Deadline(self.deadline, monotonic=_now)
        if response is not None:
            failure = Failed(method or "GET", status=int(response.status), headers=response.headers)
        else:
            failure = Failed(method or "GET", error=error)
        asked = asked_wait(failure)
        if asked is not None and call.extended + asked <= ASKED_WAIT:
            call.extend(asked)  # a wait GitHub asked for is not an outage: it does not spend the call's bound
        state = Attempt(len(self.history) + 1, call.seconds - call.remaining(), failure, asked)
        wait = retry_policy(call).next_wait(state)
        if wait is None:
            raise MaxRetryError(_pool, url or "", error) from error  # an answer goes back to PyGithub as it is
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        assert isinstance(new, GitHubRetry)
        new.call = call
        new.wait = wait
        return new

    def sleep(self, response: Any = None) -> None:
        if self.wait > 0:
            sleep(self.wait)


# --- the client -----------------------------------------------------------------------------------


def _connection_classes() -> tuple[type, type]:
    """PyGithub's public connection classes, each call bounded by its deadline (see the module docstring)."""
    from github.Requester import HTTPRequestsConnectionClass, HTTPSRequestsConnectionClass

    def bounded(base: type) -> type:
        class Bounded(base):  # type: ignore[misc,valid-type]
            session: Any
            retry: Any
            protocol: str

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                if isinstance(self.retry, GitHubRetry):  # the client's session: connections kept alive across calls
                    self.session.close()
                    self.session = _transport(self.retry, self.protocol)

            def getresponse(self) -> Any:
                seconds = self.retry.deadline if isinstance(self.retry, GitHubRetry) else DEADLINE
                return _within(Deadline(seconds, monotonic=_now), super().getresponse)

            def close(self) -> None:
                if not isinstance(self.retry, GitHubRetry):
                    super().close()  # a client's own session lives as long as the client

        Bounded.__name__ = Bounded.__qualname__ = "Bounded" + base.__name__
        return Bounded

    return bounded(HTTPRequestsConnectionClass), bounded(HTTPSRequestsConnectionClass)


def _transport(retry: GitHubRetry, protocol: str) -> Any:
    with retry.lock:
        if protocol not in retry.transports:
            retry.transports[protocol] = deadlines.session(max_retries=retry)
        return retry.transports[protocol]


def _within(call: Deadline, send: Any) -> Any:
    """``send()`` within ``call``: every socket operation meets it; a network failure is :class:`GitHubUnavailable`."""
    import requests

    with call.applied():
        try:
            return send()
        except (requests.RequestException, TimeoutError) as exc:
            if call.expired():
                why = (
                    f"GitHub API unreachable: no complete answer within {call.seconds:g} s "
                    "(a server that answers too slowly or not at all)"
                )
            else:
                why = _unreachable(exc)
            raise GitHubUnavailable(why, reason=why, hint=_hint(None, exc)) from exc


_installed = threading.Lock()


def _install_connection_classes() -> None:
    from github.Requester import Requester

    with _installed:
        if not getattr(_install_connection_classes, "done", False):
            Requester.injectConnectionClasses(*_connection_classes())
            _install_connection_classes.done = True  # type: ignore[attr-defined]


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

    _install_connection_classes()
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
            repo.requester.requestJsonAndCheck(
                "POST", f"{repo.url}/labels", input=payload, headers={"Accept": MEDIA_TYPE}
            )
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

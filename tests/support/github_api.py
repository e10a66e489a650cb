"""A GitHub REST stand-in on 127.0.0.1 that answers as GitHub's official description says.

Every request is matched against GitHub's OpenAPI description (``github_spec.py``): an
unknown route gets 404, a bad path parameter 404, a bad query value or body 422, an
``Accept`` media type the operation does not offer 406 (PyGithub's ``create_label`` sends
the retired ``symmetra-preview`` type), and each of these is recorded in
``standin.violations``. Every response the stand-in builds is validated against the
operation's response schema; a mismatch is a stand-in bug and is recorded too. A query
parameter the description does not list is answered (GitHub ignores it) but recorded, and
so are filters and search qualifiers the stand-in does not implement.

Use it through the ``github_api`` fixture (``tests/conftest.py`` imports it), which fails
the test at teardown when ``violations`` is not empty::

    def test_opens_one_issue(github_api, monkeypatch):
        github_api.add_repo("tsuku/registry")
        github_api.add_label("tsuku/registry", "security")
        monkeypatch.setenv("GITHUB_API_URL", github_api.base_url)
        monkeypatch.setenv("GITHUB_TOKEN", github_api.token)
        ...                                  # run the code under test
        assert [i["title"] for i in github_api.issues("tsuku/registry")] == ["Checksum drift"]

Tests that send bad requests on purpose call ``github_api.expect_violations()`` (and
assert on ``github_api.violations`` themselves).

Behaviour, as GitHub's:

* issues and pull requests share one number sequence per repository; the issues
  listing includes pull requests (with the ``pull_request`` key); filters ``state``,
  ``labels``, ``since``, ``creator``, ``assignee``; ``sort``/``direction``;
  ``per_page`` (default 30, at most 100) and ``page``, with ``Link`` headers that keep
  the request's query and change only ``page``;
* pull requests: creating one needs an existing head branch (``set_branch`` or a git
  directory given to ``add_repo``) and answers 422 "A pull request already exists for
  owner:branch." for a second open one; ``head`` filters only in ``owner:branch`` form
  (a bare branch name is ignored, as GitHub does); ``commits/{sha}/pulls`` finds pull
  requests by merge commit, head or commits;
* search (``GET /search/issues``): ``repo:``, ``is:issue``/``type:issue``, ``is:pr``,
  ``is:open``/``state:open`` (and closed), ``label:``, ``in:title``/``in:body``/
  ``in:comments``, words and quoted phrases (case-insensitive); 30 searches a minute
  per token, then 403 with ``x-ratelimit-resource: search``;
* core rate-limit headers on every response (5000 an hour per token, 60 without one);
  80 content-creating requests (issues, comments, pulls, labels) a minute, then GitHub's
  secondary-limit 403 with ``retry-after: 60``; GitHub's length limits (issue title 256,
  bodies 65536, label name 50 and description 100, search query 256 characters);
* ``POST .../issues/{n}/labels`` also takes a bare JSON array (the operation's text allows
  it, its schema does not; PyGithub's ``add_to_labels`` sends one);
* the stand-in's own clock: ``advance(seconds)`` moves it (timestamps, quota resets);
  tests never sleep.

Seed with ``add_repo``, ``add_label``, ``add_issue``, ``add_comment``, ``add_pull``,
``add_release``, ``set_branch``; inject faults with ``inject(method, path_glob, status,
times=1, headers=None, body=None)`` (403/429 default to a secondary rate limit with
``retry-after: 1``); read ``requests``, ``issues(repo)``, ``pulls(repo)``,
``comments(repo, number)``, ``labels(repo)``. ``client()`` gives a PyGithub client with
no retries and no write throttling; ``env(repo)`` the variables batchops reads
(``GITHUB_API_URL``, ``GITHUB_REPOSITORY``, ``GITHUB_TOKEN``) for a subprocess or act.

Unknown repositories answer 404.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import html
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, unquote, urlencode, urlsplit

import pytest

from tests.support import github_spec
from tests.support.local_server import LocalServer

DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
_DEFAULT_BODIES = {
    401: {"message": "Bad credentials", "documentation_url": DOCS},
    404: {"message": "Not Found", "documentation_url": DOCS},
    422: {
        "message": "Validation Failed",
        "errors": [{"resource": "Issue", "code": "custom", "message": "injected"}],
        "documentation_url": DOCS,
    },
    500: {"message": "Server Error"},
    502: {"message": "Server Error"},
    503: {"message": "Service Unavailable"},
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    pairs: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Violation:
    kind: str  # "request" (the client broke the description) or "response" (the stand-in did)
    method: str
    path: str
    status: int
    message: str
    operation: str = ""

    def __str__(self) -> str:
        where = f" [{self.operation}]" if self.operation else ""
        return f"{self.kind} {self.method} {self.path}{where} -> {self.status}: {self.message}"


@dataclass
class Fault:
    method: str
    path_glob: str
    status: int
    times: int
    headers: dict[str, str] | None
    body: Any


@dataclass
class Label:
    id: int
    name: str
    color: str
    description: str | None
    default: bool


@dataclass
class Comment:
    id: int
    body: str
    user: str
    created_at: float
    updated_at: float


@dataclass
class Commit:
    sha: str
    message: str
    author: str
    email: str
    date: float
    parents: list[str]


@dataclass
class Pull:
    id: int
    head: str
    head_sha: str
    base: str
    base_sha: str
    commits: list[Commit]
    merged_at: float | None
    merge_commit_sha: str | None
    draft: bool
    head_owner: str


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    state: str
    state_reason: str | None
    labels: list[str]
    assignees: list[str]
    created_at: float
    updated_at: float
    closed_at: float | None
    comments: list[Comment] = field(default_factory=list)
    pull: Pull | None = None


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str
    private: bool
    git_dir: Path | None
    created_at: float
    labels: dict[str, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    releases: list[dict[str, Any]] = field(default_factory=list)
    branches: dict[str, tuple[str, list[Commit] | None]] = field(default_factory=dict)
    next_number: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(int(moment), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: str | float | int | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _fake_sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def _node_id(prefix: str, number: int) -> str:
    return f"{prefix}_kwDO" + base64.b64encode(number.to_bytes(8, "big")).decode().rstrip("=")


class GitHubStandIn(LocalServer):
    """GitHub's REST API for a few repositories, on http://127.0.0.1:PORT (see the module docstring)."""

    SEARCH_LIMIT = 30
    CORE_LIMIT = 5000
    CONTENT_PER_MINUTE = 80  # GitHub's secondary limit on content-creating requests
    CONTENT_OPERATIONS = frozenset({"issues/create", "issues/create-comment", "pulls/create", "issues/create-label"})

    def __init__(self, token: str = "test-token", *, user: str = "batchops-bot", start: float | None = None) -> None:
        self.spec = github_spec.load()
        self.token = token
        self.login = user
        self.now = float(int(start if start is not None else time.time()))
        self.repos: dict[str, Repo] = {}
        self.requests: list[Request] = []
        self.violations: list[Violation] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._ids = 1000
        self._quota: dict[tuple[str, str], list[float]] = {}  # (who, resource) -> [reset, used]
        self._content: dict[str, list[float]] = {}  # who -> times of content-creating requests
        self._expect_violations = False
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> GitHubStandIn:
        standin = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, headers, payload = standin.handle(self.command, self.path, dict(self.headers.items()), raw)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle  # noqa: N815

        return self.serve(_Handler)

    def stop(self) -> None:
        super().stop()
        self._server = None

    @property
    def base_url(self) -> str:
        return self.url

    def client(self, **kwargs: Any) -> Any:
        """A PyGithub client for this stand-in: no retries, no throttling (override with kwargs)."""
        from github import Auth, Github

        options: dict[str, Any] = {
            "retry": None,
            "seconds_between_requests": 0,
            "seconds_between_writes": 0,
            "timeout": 10,
        }
        options.update(kwargs)
        return Github(base_url=self.base_url, auth=Auth.Token(self.token), **options)

    def env(self, repo: str | None = None) -> dict[str, str]:
        """Environment variables that point batchops (PyGithub) at this stand-in."""
        out = {"GITHUB_API_URL": self.base_url, "GITHUB_TOKEN": self.token}
        if repo:
            out["GITHUB_REPOSITORY"] = repo
        return out

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock (timestamps, rate-limit windows)."""
        with self.lock:
            self.now += seconds

    def expect_violations(self) -> None:
        """This test sends non-conforming requests on purpose: the fixture will not fail it."""
        self._expect_violations = True

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- seeding ----------------------------------------------------------------------------
    def add_repo(
        self, full_name: str, *, default_branch: str = "main", private: bool = False, git_dir: str | Path | None = None
    ) -> Repo:
        """A repository; with ``git_dir`` (a bare or work repository) branches and commits come from git."""
        owner, name = full_name.split("/")
        with self.lock:
            repo = Repo(
                owner, name, self._next_id(), default_branch, private, Path(git_dir) if git_dir else None, self.now
            )
            if repo.git_dir is None:
                repo.branches[default_branch] = (_fake_sha(full_name, default_branch), None)
            self.repos[full_name] = repo
            return repo

    def _repo(self, full_name: str) -> Repo:
        if full_name not in self.repos:
            raise KeyError(f"no repository {full_name!r} in the stand-in: call add_repo({full_name!r}) first")
        return self.repos[full_name]

    def set_branch(
        self, repo: str, name: str, sha: str, *, commits: Iterable[str | dict[str, Any]] | None = None
    ) -> None:
        """A branch and (optionally) the commits a pull request from it would carry."""
        with self.lock:
            state = self._repo(repo)
            state.branches[name] = (sha, [self._commit(c) for c in commits] if commits is not None else None)

    def add_label(
        self, repo: str, name: str, color: str = "ededed", description: str | None = None, *, default: bool = False
    ) -> dict[str, Any]:
        with self.lock:
            state = self._repo(repo)
            label = Label(self._next_id(), name, color, description, default)
            state.labels[name.lower()] = label
            return self._label_json(state, label)

    def _ensure_label(self, state: Repo, name: str) -> str:
        if name.lower() not in state.labels:  # GitHub creates unknown labels on issue create/edit
            state.labels[name.lower()] = Label(self._next_id(), name, "ededed", None, False)
        return state.labels[name.lower()].name

    def add_issue(
        self,
        repo: str,
        title: str,
        body: str | None = "",
        *,
        labels: Iterable[str] = (),
        state: str = "open",
        state_reason: str | None = None,
        user: str | None = None,
        assignees: Iterable[str] = (),
        number: int | None = None,
        created_at: str | float | None = None,
        updated_at: str | float | None = None,
        closed_at: str | float | None = None,
        comments: Iterable[str] = (),
    ) -> dict[str, Any]:
        """Seed one issue (numbers shared with pull requests); returns it as GitHub would."""
        with self.lock:
            issue = self._new_issue(self._repo(repo), title, body, labels, user, number, created_at, assignees)
            issue.updated_at = _epoch(updated_at, issue.created_at)
            if state == "closed":
                issue.state = "closed"
                issue.closed_at = _epoch(closed_at, issue.updated_at)
                issue.state_reason = state_reason or "completed"
            for text in comments:
                issue.comments.append(Comment(self._next_id(), text, self.login, issue.created_at, issue.created_at))
            return self._issue_json(self._repo(repo), issue)

    def _new_issue(
        self,
        state: Repo,
        title: str,
        body: str | None,
        labels: Iterable[str],
        user: str | None,
        number: int | None,
        created_at: str | float | None,
        assignees: Iterable[str] = (),
    ) -> Issue:
        if number is None:
            number = state.next_number
        if number in state.issues:
            raise ValueError(f"#{number} already exists in {state.full_name}")
        state.next_number = max(state.next_number, number + 1)
        created = _epoch(created_at, self.now)
        issue = Issue(
            number,
            self._next_id(),
            title,
            body,
            user or self.login,
            "open",
            None,
            [self._ensure_label(state, n) for n in labels],
            list(assignees),
            created,
            created,
            None,
        )
        state.issues[number] = issue
        return issue

    def add_comment(
        self, repo: str, number: int, body: str, *, user: str | None = None, created_at: str | float | None = None
    ) -> dict[str, Any]:
        with self.lock:
            state = self._repo(repo)
            at = _epoch(created_at, self.now)
            comment = Comment(self._next_id(), body, user or self.login, at, at)
            state.issues[number].comments.append(comment)
            state.issues[number].updated_at = max(state.issues[number].updated_at, at)
            return self._comment_json(state, state.issues[number], comment)

    def add_pull(
        self,
        repo: str,
        *,
        head: str,
        base: str | None = None,
        title: str | None = None,
        body: str | None = "",
        head_sha: str | None = None,
        commits: Iterable[str | dict[str, Any]] = (),
        merged_at: str | float | None = None,
        merge_commit_sha: str | None = None,
        state: str | None = None,
        closed_at: str | float | None = None,
        labels: Iterable[str] = (),
        number: int | None = None,
        created_at: str | float | None = None,
        updated_at: str | float | None = None,
        draft: bool = False,
        user: str | None = None,
        head_owner: str | None = None,
    ) -> dict[str, Any]:
        """Seed one pull request; merged when ``merged_at`` is given. Git data comes from the test."""
        with self.lock:
            repo_state = self._repo(repo)
            issue = self._new_issue(
                repo_state, title or f"Pull request from {head}", body, labels, user, number, created_at
            )
            base = base or repo_state.default_branch
            base_sha = (self._branch(repo_state, base) or (_fake_sha(repo, base), None))[0]
            commit_list = [self._commit(c) for c in commits]
            if not commit_list and head_sha is None and (branch := self._branch(repo_state, head)) is not None:
                head_sha = branch[0]
                commit_list = branch[1] or self._git_commits(repo_state, base_sha, head_sha) or []
            sha = head_sha or (commit_list[-1].sha if commit_list else _fake_sha(repo, head, issue.number))
            issue.pull = Pull(
                self._next_id(),
                head,
                sha,
                base,
                base_sha,
                commit_list or [self._commit(sha)],
                _epoch(merged_at, 0) if merged_at is not None else None,
                merge_commit_sha,
                draft,
                head_owner or repo_state.owner,
            )
            issue.updated_at = _epoch(updated_at, issue.pull.merged_at or issue.created_at)
            if issue.pull.merged_at is not None or state == "closed":
                issue.state = "closed"
                issue.closed_at = issue.pull.merged_at or _epoch(closed_at, issue.updated_at)
            return self._pull_json(repo_state, issue, full=True)

    def add_release(
        self,
        repo: str,
        tag: str,
        *,
        published_at: str | float | None = None,
        draft: bool = False,
        prerelease: bool = False,
        name: str | None = None,
    ) -> None:
        with self.lock:
            at = _epoch(published_at, self.now)
            self._repo(repo).releases.append(
                {
                    "id": self._next_id(),
                    "tag": tag,
                    "at": at,
                    "draft": draft,
                    "prerelease": prerelease,
                    "name": name or tag,
                }
            )

    def _commit(self, spec: str | dict[str, Any] | Commit) -> Commit:
        if isinstance(spec, Commit):
            return spec
        if isinstance(spec, str):
            spec = {"sha": spec}
        return Commit(
            spec["sha"],
            spec.get("message", f"commit {spec['sha'][:7]}"),
            spec.get("author", "Batch Bot"),
            spec.get("email", "bot@example.com"),
            _epoch(spec.get("date"), self.now),
            list(spec.get("parents", [])),
        )

    # -- fault injection ----------------------------------------------------------------------
    def inject(
        self,
        method: str,
        path_glob: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` (faults are consumed in order).

        ``path_glob`` is an fnmatch pattern on the path without the query (``*`` crosses ``/``).
        403 and 429 default to GitHub's secondary rate limit answer with ``retry-after: 1``.
        """
        with self.lock:
            self.faults.append(Fault(method.upper(), path_glob, status, times, headers, body))

    def _take_fault(self, request: Request) -> Reply | None:
        for fault in self.faults:
            if (
                fault.times > 0
                and fault.method in (request.method, "*")
                and fnmatch.fnmatchcase(request.path, fault.path_glob)
            ):
                fault.times -= 1
                headers = dict(fault.headers or {})
                body = fault.body
                if fault.status in (403, 429) and body is None:
                    secondary = self._secondary_limit(fault.status)
                    body = secondary.body
                    headers = {**secondary.headers, **headers}
                if body is None:
                    body = _DEFAULT_BODIES.get(fault.status, {"message": f"injected {fault.status}"})
                return Reply(fault.status, body, headers)
        return None

    def _secondary_limit(self, status: int = 403, retry_after: int = 1) -> Reply:
        return Reply(
            status,
            {
                "message": SECONDARY_MESSAGE.format(request_id=self._request_id()),
                "documentation_url": (
                    f"{DOCS}/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits"
                ),
            },
            {"retry-after": str(retry_after)},
        )

    def _request_id(self) -> str:
        return f"C0DE:{len(self.requests):04X}:{self._ids:06X}:0000"

    # -- accessors ----------------------------------------------------------------------------
    def issues(self, repo: str, *, include_pulls: bool = False) -> list[dict[str, Any]]:
        """The repository's issues as GitHub returns them, oldest first."""
        with self.lock:
            state = self._repo(repo)
            return [
                self._issue_json(state, i) for n, i in sorted(state.issues.items()) if include_pulls or i.pull is None
            ]

    def pulls(self, repo: str) -> list[dict[str, Any]]:
        with self.lock:
            state = self._repo(repo)
            return [self._pull_json(state, i, full=True) for n, i in sorted(state.issues.items()) if i.pull is not None]

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self.lock:
            state = self._repo(repo)
            issue = state.issues[number]
            return [self._comment_json(state, issue, c) for c in issue.comments]

    def labels(self, repo: str) -> list[dict[str, Any]]:
        with self.lock:
            state = self._repo(repo)
            return [self._label_json(state, label) for label in state.labels.values()]

    def requests_to(self, method: str, path_glob: str) -> list[Request]:
        return [r for r in self.requests if r.method == method.upper() and fnmatch.fnmatchcase(r.path, path_glob)]

    # -- request handling ---------------------------------------------------------------------
    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP exchange: (status, headers, payload)."""
        parts = urlsplit(target)
        path = parts.path
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body, bad_json = raw.decode("utf-8", "replace"), True
        request = Request(method.upper(), path, parse_qs(parts.query, keep_blank_values=True), headers, body, pairs)
        with self.lock:
            self.requests.append(request)
            reply, resource, who, op = self._respond(request, bool(raw), bad_json)
            out = {
                "Content-Type": "application/json; charset=utf-8",
                "X-GitHub-Media-Type": "github.v3; format=json",
                "X-GitHub-Api-Version-Selected": "2022-11-28",
                "X-GitHub-Request-Id": self._request_id(),
            }
            if resource:
                reset, used = self._window(who, resource)
                limit = self._limit(who, resource)
                out.update(
                    {
                        "X-RateLimit-Limit": str(limit),
                        "X-RateLimit-Remaining": str(max(0, limit - int(used))),
                        "X-RateLimit-Used": str(int(used)),
                        "X-RateLimit-Reset": str(int(reset)),
                        "X-RateLimit-Resource": resource,
                    }
                )
            out.update(reply.headers)
            if op is not None and reply.status < 300 and isinstance(reply.body, dict | list):
                reply = Reply(reply.status, self._render(reply.body, op, request), reply.headers)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        return reply.status, out, payload

    def _violation(
        self, kind: str, request: Request, status: int, message: str, op: github_spec.Operation | None = None
    ) -> None:
        self.violations.append(Violation(kind, request.method, request.path, status, message, op.id if op else ""))

    def _error(
        self, request: Request, status: int, message: str, op: github_spec.Operation | None, detail: str, **extra: Any
    ) -> Reply:
        self._violation("request", request, status, detail, op)
        return Reply(status, {"message": message, "documentation_url": DOCS, "status": str(status), **extra})

    def _respond(
        self, request: Request, has_body: bool, bad_json: bool
    ) -> tuple[Reply, str, str, github_spec.Operation | None]:
        who = self._who(request)
        if who is None:
            return (
                Reply(401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"}),
                "core",
                "anonymous",
                None,
            )
        matched = self.spec.match(request.method, request.path)
        resource = "search" if matched and matched[0].id.startswith("search/") else "core"
        if not (matched and matched[0].id == "rate-limit/get"):  # asking for the rate limit does not count
            limited = self._spend(who, resource)  # GitHub counts every request, refused ones too
            if limited:
                return limited, resource, who, matched[0] if matched else None
        if matched is None:
            detail = (
                "no operation in GitHub's description (of those the stand-in serves) "
                f"matches {request.method} {request.path}"
            )
            return self._error(request, 404, "Not Found", None, detail), "core", who, None
        op, raw_params = matched
        params, problems = op.check_path({k: unquote(v) for k, v in raw_params.items()})
        if problems:
            return self._error(request, 404, "Not Found", op, "; ".join(problems)), resource, who, op
        media = op.accept(request.header("Accept"))
        if media is None:
            accept = request.header("Accept")
            offered = ", ".join(
                ["application/vnd.github+json", *(f"application/vnd.github.{m}+json" for m in op.media)]
            )
            return (
                self._error(
                    request,
                    406,
                    f"Unsupported 'Accept' header: {accept!r}. Must accept 'application/json'.",
                    op,
                    f"Accept {accept!r} is not offered by {op.id} (offered: {offered})",
                ),
                resource,
                who,
                op,
            )
        query, problems, unknown = op.check_query(request.query)
        for name in unknown:
            self._violation(
                "request",
                request,
                200,
                f"query parameter {name!r} is not in the description of {op.id} (GitHub ignores it)",
                op,
            )
        if problems:
            return self._error(request, 422, "Validation Failed", op, "; ".join(problems)), resource, who, op
        if bad_json:
            return (
                self._error(request, 400, "Problems parsing JSON", op, "the request body is not JSON"),
                resource,
                who,
                op,
            )
        checked = request.body
        if op.id == "issues/add-labels" and isinstance(checked, list):
            checked = {"labels": checked}  # the operation's text allows a bare array (PyGithub sends one)
        problems = op.check_body(checked, has_body)
        if problems:
            return (
                self._error(request, 422, "Invalid request.\n\n" + "\n".join(problems), op, "; ".join(problems)),
                resource,
                who,
                op,
            )
        if request.method != "GET" and who == "anonymous":
            return (
                Reply(401, {"message": "Requires authentication", "documentation_url": DOCS, "status": "401"}),
                resource,
                who,
                op,
            )
        fault = self._take_fault(request)
        if fault is not None:
            return fault, resource, who, op
        if op.id in self.CONTENT_OPERATIONS:
            recent = [t for t in self._content.get(who, []) if t > self.now - 60]
            if len(recent) >= self.CONTENT_PER_MINUTE:
                self._content[who] = recent
                return self._secondary_limit(retry_after=60), resource, who, op
            self._content[who] = [*recent, self.now]
        reply = _HANDLERS[op.id](self, request, params, query)
        for problem in op.check_response(reply.status, reply.body):
            self._violation("response", request, reply.status, problem, op)
        entry = op.responses.get(str(reply.status)) or {}
        if "Location" in entry.get("headers", []) and "Location" not in reply.headers:
            self._violation("response", request, reply.status, "the description promises a Location header", op)
        return reply, resource, who, op

    def _who(self, request: Request) -> str | None:
        auth = request.header("Authorization") or ""
        if not auth:
            return "anonymous"
        scheme, _, value = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer") or (self.token and value != self.token):
            return None
        return value

    # -- rate limits ----------------------------------------------------------------------------
    def _limit(self, who: str, resource: str) -> int:
        if resource == "search":
            return 10 if who == "anonymous" else self.SEARCH_LIMIT
        return 60 if who == "anonymous" else self.CORE_LIMIT

    def _window(self, who: str, resource: str) -> tuple[float, float]:
        window = self._quota.get((who, resource))
        if window is None or self.now >= window[0]:
            window = [self.now + (60 if resource == "search" else 3600), 0]
            self._quota[(who, resource)] = window
        return window[0], window[1]

    def _spend(self, who: str, resource: str) -> Reply | None:
        reset, used = self._window(who, resource)
        if used >= self._limit(who, resource):
            whom = (
                "127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. "
                "Check out the documentation for more details.)"
                if who == "anonymous"
                else "user ID 7."
            )
            return Reply(
                403,
                {
                    "message": f"API rate limit exceeded for {whom}",
                    "documentation_url": f"{DOCS}/using-the-rest-api/rate-limits-for-the-rest-api",
                    "status": "403",
                },
            )
        self._quota[(who, resource)][1] = used + 1
        return None

    def rate(self, resource: str = "core", who: str | None = None) -> dict[str, int]:
        who = who or self.token or "anonymous"
        with self.lock:
            reset, used = self._window(who, resource)
            limit = self._limit(who, resource)
            return {"limit": limit, "remaining": max(0, limit - int(used)), "reset": int(reset), "used": int(used)}

    # -- pagination -----------------------------------------------------------------------------
    def _page(self, request: Request, query: dict[str, Any], items: list[Any]) -> Reply:
        per_page = max(1, min(100, int(query.get("per_page") or 30)))
        page = max(1, int(query.get("page") or 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
                links.append(f'<{self._page_url(request, target)}>; rel="{rel}"')
        return Reply(200, chunk, {"Link": ", ".join(links)} if links else {})

    def _page_url(self, request: Request, page: int) -> str:
        pairs = [(k, v) for k, v in request.pairs]
        if any(k == "page" for k, _ in pairs):
            pairs = [(k, str(page) if k == "page" else v) for k, v in pairs]
        else:
            pairs.append(("page", str(page)))
        return f"{self.base_url}{request.path}?{urlencode(pairs)}"

    # -- JSON shapes ------------------------------------------------------------------------------
    def _render(self, body: Any, op: github_spec.Operation, request: Request) -> Any:
        media = op.accept(request.header("Accept")) or "raw"
        if media == "raw" or media not in ("text", "html", "full"):
            return body

        def one(obj: Any) -> Any:
            if not isinstance(obj, dict) or "body" not in obj:
                return obj
            text = obj["body"]
            out = {k: v for k, v in obj.items() if k != "body" or media == "full"}
            if media in ("text", "full"):
                out["body_text"] = text
            if media in ("html", "full"):
                out["body_html"] = None if text is None else f"<p>{html.escape(text)}</p>"
            return out

        if isinstance(body, list):
            return [one(item) for item in body]
        if isinstance(body, dict) and "items" in body:
            return {**body, "items": [one(item) for item in body["items"]]}
        return one(body)

    def _api(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _html(self, path: str) -> str:
        return f"https://github.com{path}"

    def user_json(self, login: str) -> dict[str, Any]:
        uid = int(hashlib.sha1(login.encode()).hexdigest()[:6], 16)
        api = self._api(f"/users/{login}")
        is_bot = login.endswith("[bot]") or login.endswith("-bot")
        return {
            "login": login,
            "id": uid,
            "node_id": _node_id("BOT" if is_bot else "U", uid),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": self._html(f"/{login}"),
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": "Bot" if is_bot else "User",
            "user_view_type": "public",
            "site_admin": False,
        }

    def _repo_json(self, repo: Repo, *, full: bool = False) -> dict[str, Any]:
        api = self._api(f"/repos/{repo.full_name}")
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": _node_id("R", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self.user_json(repo.owner),
            "html_url": self._html(f"/{repo.full_name}"),
            "description": None,
            "fork": False,
            "url": api,
            **{
                f"{k}_url": f"{api}/{v}"
                for k, v in {
                    "archive": "{archive_format}{/ref}",
                    "assignees": "assignees{/user}",
                    "blobs": "git/blobs{/sha}",
                    "branches": "branches{/branch}",
                    "collaborators": "collaborators{/collaborator}",
                    "comments": "comments{/number}",
                    "commits": "commits{/sha}",
                    "compare": "compare/{base}...{head}",
                    "contents": "contents/{+path}",
                    "contributors": "contributors",
                    "deployments": "deployments",
                    "downloads": "downloads",
                    "events": "events",
                    "forks": "forks",
                    "git_commits": "git/commits{/sha}",
                    "git_refs": "git/refs{/sha}",
                    "git_tags": "git/tags{/sha}",
                    "hooks": "hooks",
                    "issue_comment": "issues/comments{/number}",
                    "issue_events": "issues/events{/number}",
                    "issues": "issues{/number}",
                    "keys": "keys{/key_id}",
                    "labels": "labels{/name}",
                    "languages": "languages",
                    "merges": "merges",
                    "milestones": "milestones{/number}",
                    "notifications": "notifications{?since,all,participating}",
                    "pulls": "pulls{/number}",
                    "releases": "releases{/id}",
                    "stargazers": "stargazers",
                    "statuses": "statuses/{sha}",
                    "subscribers": "subscribers",
                    "subscription": "subscription",
                    "tags": "tags",
                    "teams": "teams",
                    "trees": "git/trees{/sha}",
                }.items()
            },
            "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git",
            "clone_url": f"https://github.com/{repo.full_name}.git",
            "svn_url": self._html(f"/{repo.full_name}"),
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 0,
            "default_branch": repo.default_branch,
            "open_issues_count": open_issues,
            "open_issues": open_issues,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "pushed_at": _iso(self.now),
            "created_at": _iso(repo.created_at),
            "updated_at": _iso(self.now),
            "license": None,
            "allow_forking": True,
            "web_commit_signoff_required": False,
        }
        if full:
            data.update(
                {
                    "network_count": 0,
                    "subscribers_count": 0,
                    "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
                }
            )
        return data

    def _label_json(self, repo: Repo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": _node_id("LA", label.id),
            "url": self._api(f"/repos/{repo.full_name}/labels/{quote(label.name, safe='')}"),
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    def _issue_json(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        kind = "pull" if issue.pull else "issues"
        api = self._api(f"/repos/{repo.full_name}/issues/{issue.number}")
        data: dict[str, Any] = {
            "id": issue.id,
            "node_id": _node_id("PR" if issue.pull else "I", issue.id),
            "url": api,
            "repository_url": self._api(f"/repos/{repo.full_name}"),
            "labels_url": f"{api}/labels{{/name}}",
            "comments_url": f"{api}/comments",
            "events_url": f"{api}/events",
            "timeline_url": f"{api}/timeline",
            "html_url": self._html(f"/{repo.full_name}/{kind}/{issue.number}"),
            "number": issue.number,
            "state": issue.state,
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": self.user_json(issue.user),
            "labels": [
                self._label_json(repo, repo.labels[n.lower()]) for n in issue.labels if n.lower() in repo.labels
            ],
            "assignee": self.user_json(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user_json(a) for a in issue.assignees],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": len(issue.comments),
            "closed_at": _iso(issue.closed_at),
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_by": None,
            "author_association": "OWNER" if issue.user == repo.owner else "NONE",
            "reactions": {
                "url": f"{api}/reactions",
                "total_count": 0,
                "+1": 0,
                "-1": 0,
                "laugh": 0,
                "hooray": 0,
                "confused": 0,
                "heart": 0,
                "rocket": 0,
                "eyes": 0,
            },
        }
        if issue.pull:
            pull_api = self._api(f"/repos/{repo.full_name}/pulls/{issue.number}")
            html_url = self._html(f"/{repo.full_name}/pull/{issue.number}")
            data["draft"] = issue.pull.draft
            data["pull_request"] = {
                "url": pull_api,
                "html_url": html_url,
                "diff_url": f"{html_url}.diff",
                "patch_url": f"{html_url}.patch",
                "merged_at": _iso(issue.pull.merged_at),
            }
        return data

    def _comment_json(self, repo: Repo, issue: Issue, comment: Comment) -> dict[str, Any]:
        kind = "pull" if issue.pull else "issues"
        return {
            "id": comment.id,
            "node_id": _node_id("IC", comment.id),
            "url": self._api(f"/repos/{repo.full_name}/issues/comments/{comment.id}"),
            "html_url": self._html(f"/{repo.full_name}/{kind}/{issue.number}#issuecomment-{comment.id}"),
            "issue_url": self._api(f"/repos/{repo.full_name}/issues/{issue.number}"),
            "body": comment.body,
            "user": self.user_json(comment.user),
            "created_at": _iso(comment.created_at),
            "updated_at": _iso(comment.updated_at),
            "author_association": "NONE",
        }

    def _branch_ref(self, repo: Repo, ref: str, sha: str, owner: str | None = None) -> dict[str, Any]:
        owner = owner or repo.owner
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user_json(owner),
            "repo": self._repo_json(repo),
        }

    def _pull_json(self, repo: Repo, issue: Issue, *, full: bool) -> dict[str, Any]:
        pull = issue.pull
        assert pull is not None
        api = self._api(f"/repos/{repo.full_name}/pulls/{issue.number}")
        issue_api = self._api(f"/repos/{repo.full_name}/issues/{issue.number}")
        html_url = self._html(f"/{repo.full_name}/pull/{issue.number}")
        statuses = self._api(f"/repos/{repo.full_name}/statuses/{pull.head_sha}")
        data: dict[str, Any] = {
            "url": api,
            "id": pull.id,
            "node_id": _node_id("PR", pull.id),
            "html_url": html_url,
            "diff_url": f"{html_url}.diff",
            "patch_url": f"{html_url}.patch",
            "issue_url": issue_api,
            "commits_url": f"{api}/commits",
            "review_comments_url": f"{api}/comments",
            "review_comment_url": self._api(f"/repos/{repo.full_name}/pulls/comments{{/number}}"),
            "comments_url": f"{issue_api}/comments",
            "statuses_url": statuses,
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": self.user_json(issue.user),
            "body": issue.body,
            "labels": [
                self._label_json(repo, repo.labels[n.lower()]) for n in issue.labels if n.lower() in repo.labels
            ],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(issue.created_at),
            "updated_at": _iso(issue.updated_at),
            "closed_at": _iso(issue.closed_at),
            "merged_at": _iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": self.user_json(issue.assignees[0]) if issue.assignees else None,
            "assignees": [self.user_json(a) for a in issue.assignees],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": self._branch_ref(repo, pull.head, pull.head_sha, pull.head_owner),
            "base": self._branch_ref(repo, pull.base, pull.base_sha),
            "_links": {
                "self": {"href": api},
                "html": {"href": html_url},
                "issue": {"href": issue_api},
                "comments": {"href": f"{issue_api}/comments"},
                "review_comments": {"href": f"{api}/comments"},
                "review_comment": {"href": self._api(f"/repos/{repo.full_name}/pulls/comments{{/number}}")},
                "commits": {"href": f"{api}/commits"},
                "statuses": {"href": statuses},
            },
            "author_association": "OWNER" if issue.user == repo.owner else "NONE",
            "auto_merge": None,
            "draft": pull.draft,
        }
        if full:
            merged = pull.merged_at is not None
            data.update(
                {
                    "merged": merged,
                    "mergeable": None if issue.state == "closed" else True,
                    "rebaseable": None if issue.state == "closed" else True,
                    "mergeable_state": "unknown" if issue.state == "closed" else "clean",
                    "merged_by": self.user_json(self.login) if merged else None,
                    "comments": len(issue.comments),
                    "review_comments": 0,
                    "maintainer_can_modify": False,
                    "commits": len(pull.commits),
                    "additions": 0,
                    "deletions": 0,
                    "changed_files": 0,
                }
            )
        return data

    def _commit_json(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        api = self._api(f"/repos/{repo.full_name}/commits/{commit.sha}")
        person = {"name": commit.author, "email": commit.email, "date": _iso(commit.date)}
        return {
            "url": api,
            "sha": commit.sha,
            "node_id": _node_id("C", int(commit.sha[:12], 16) if re.fullmatch(r"[0-9a-f]{12,}", commit.sha) else 1),
            "html_url": self._html(f"/{repo.full_name}/commit/{commit.sha}"),
            "comments_url": f"{api}/comments",
            "commit": {
                "url": self._api(f"/repos/{repo.full_name}/git/commits/{commit.sha}"),
                "author": person,
                "committer": person,
                "message": commit.message,
                "comment_count": 0,
                "tree": {
                    "sha": _fake_sha("tree", commit.sha),
                    "url": self._api(f"/repos/{repo.full_name}/git/trees/{_fake_sha('tree', commit.sha)}"),
                },
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "author": None,
            "committer": None,
            "parents": [
                {
                    "sha": p,
                    "url": self._api(f"/repos/{repo.full_name}/commits/{p}"),
                    "html_url": self._html(f"/{repo.full_name}/commit/{p}"),
                }
                for p in commit.parents
            ],
        }

    # -- git --------------------------------------------------------------------------------------
    def _git(self, repo: Repo, *args: str) -> str | None:
        assert repo.git_dir is not None
        done = subprocess.run(["git", "-C", str(repo.git_dir), *args], capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else None

    def _branch(self, repo: Repo, name: str) -> tuple[str, list[Commit] | None] | None:
        if name in repo.branches:
            return repo.branches[name]
        if repo.git_dir is not None:
            sha = self._git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}^{{commit}}")
            if sha:
                return sha.strip(), None
        return None

    def _git_commits(self, repo: Repo, base: str, head: str) -> list[Commit] | None:
        if repo.git_dir is None:
            return None
        out = self._git(repo, "log", "--reverse", "--format=%H%x00%P%x00%an%x00%ae%x00%at%x00%B%x1e", f"{base}..{head}")
        if out is None:
            return None
        commits = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, parents, name, email, at, message = record.split("\x00", 5)
            commits.append(Commit(sha, message.strip(), name, email, float(at), parents.split()))
        return commits


# --- handlers (operation id -> answer) ---------------------------------------------------------

Handler = Callable[[GitHubStandIn, Request, dict[str, Any], dict[str, Any]], Reply]
_HANDLERS: dict[str, Handler] = {}


def _handles(operation_id: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[operation_id] = fn
        return fn

    return register


def _not_found() -> Reply:
    return Reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})


def _validation_failed(resource: str, code: str, field_name: str | None = None, message: str | None = None) -> Reply:
    error: dict[str, Any] = {"resource": resource, "code": code}
    if field_name:
        error["field"] = field_name
    if message:
        error["message"] = message
    return Reply(422, {"message": "Validation Failed", "errors": [error], "documentation_url": DOCS, "status": "422"})


def _too_long(resource: str, values: dict[str, Any], limits: dict[str, int]) -> Reply | None:
    for name, maximum in limits.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > maximum:
            return _validation_failed(resource, "custom", name, f"{name} is too long (maximum is {maximum} characters)")
    return None


_ISSUE_LIMITS = {"title": 256, "body": 65536}


def _repo_of(s: GitHubStandIn, params: dict[str, Any]) -> Repo | None:
    return s.repos.get(f"{params['owner']}/{params['repo']}")


def _issue_of(s: GitHubStandIn, params: dict[str, Any]) -> tuple[Repo, Issue] | None:
    repo = _repo_of(s, params)
    if repo is None or params["issue_number"] not in repo.issues:
        return None
    return repo, repo.issues[params["issue_number"]]


@_handles("repos/get")
def _get_repo(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    return Reply(200, s._repo_json(repo, full=True)) if repo else _not_found()


@_handles("rate-limit/get")
def _rate_limit(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    who = s._who(r) or "anonymous"
    core = s.rate("core", who)
    return Reply(200, {"resources": {"core": core, "search": s.rate("search", who)}, "rate": core})


@_handles("repos/get-latest-release")
def _latest_release(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    releases = [x for x in (repo.releases if repo else []) if not x["draft"] and not x["prerelease"]]
    if repo is None or not releases:
        return _not_found()
    rel = max(releases, key=lambda x: (x["at"], x["id"]))
    api = s._api(f"/repos/{repo.full_name}/releases/{rel['id']}")
    return Reply(
        200,
        {
            "url": api,
            "html_url": s._html(f"/{repo.full_name}/releases/tag/{rel['tag']}"),
            "assets_url": f"{api}/assets",
            "upload_url": f"https://uploads.github.com/repos/{repo.full_name}/releases/{rel['id']}/assets{{?name,label}}",
            "tarball_url": s._api(f"/repos/{repo.full_name}/tarball/{rel['tag']}"),
            "zipball_url": s._api(f"/repos/{repo.full_name}/zipball/{rel['tag']}"),
            "id": rel["id"],
            "node_id": _node_id("RE", rel["id"]),
            "tag_name": rel["tag"],
            "target_commitish": repo.default_branch,
            "name": rel["name"],
            "body": None,
            "draft": False,
            "prerelease": False,
            "immutable": False,
            "created_at": _iso(rel["at"]),
            "published_at": _iso(rel["at"]),
            "updated_at": _iso(rel["at"]),
            "author": s.user_json(s.login),
            "assets": [],
        },
    )


@_handles("issues/list-labels-for-repo")
def _list_labels(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    if repo is None:
        return _not_found()
    return s._page(
        r, q, [s._label_json(repo, label) for label in sorted(repo.labels.values(), key=lambda x: x.name.lower())]
    )


@_handles("issues/get-label")
def _get_label(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    label = repo.labels.get(str(params["name"]).lower()) if repo else None
    return Reply(200, s._label_json(repo, label)) if repo and label else _not_found()


@_handles("issues/create-label")
def _create_label(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    if repo is None:
        return _not_found()
    name = r.body["name"]
    if name.lower() in repo.labels:
        return _validation_failed("Label", "already_exists", "name")
    refused = _too_long("Label", r.body, {"name": 50, "description": 100})
    if refused:
        return refused
    color = r.body.get("color", "ededed")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", color):
        return _validation_failed("Label", "invalid", "color")
    label = Label(s._next_id(), name, color.lower(), r.body.get("description"), False)
    repo.labels[name.lower()] = label
    body = s._label_json(repo, label)
    return Reply(201, body, {"Location": body["url"]})


def _label_names(values: Iterable[Any]) -> list[str]:
    return [v if isinstance(v, str) else v.get("name", "") for v in values]


@_handles("issues/list-for-repo")
def _list_issues(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    if repo is None:
        return _not_found()
    for name in ("milestone", "mentioned", "type", "issue_field_values"):
        if name in q:
            s._violation("request", r, 200, f"the stand-in does not implement the {name!r} filter", None)
    found = list(repo.issues.values())
    if q["state"] != "all":
        found = [i for i in found if i.state == q["state"]]
    wanted = [w.strip().lower() for w in q.get("labels", "").split(",") if w.strip()]
    found = [i for i in found if all(w in {n.lower() for n in i.labels} for w in wanted)]
    if "since" in q:
        since = _epoch(q["since"], 0)
        found = [i for i in found if i.updated_at >= since]
    if "creator" in q:
        found = [i for i in found if i.user == q["creator"]]
    if "assignee" in q:
        who = q["assignee"]
        found = [
            i
            for i in found
            if (who == "none" and not i.assignees) or (who == "*" and i.assignees) or who in i.assignees
        ]
    key = {"created": lambda i: i.created_at, "updated": lambda i: i.updated_at, "comments": lambda i: len(i.comments)}[
        q["sort"]
    ]
    found.sort(key=lambda i: (key(i), i.number), reverse=q["direction"] == "desc")
    return s._page(r, q, [s._issue_json(repo, i) for i in found])


@_handles("issues/create")
def _create_issue(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    if repo is None:
        return _not_found()
    refused = _too_long("Issue", r.body, _ISSUE_LIMITS)
    if refused:
        return refused
    issue = s._new_issue(
        repo,
        str(r.body["title"]),
        r.body.get("body"),
        _label_names(r.body.get("labels", [])),
        s.login,
        None,
        None,
        r.body.get("assignees") or ([r.body["assignee"]] if r.body.get("assignee") else []),
    )
    body = s._issue_json(repo, issue)
    return Reply(201, body, {"Location": body["url"]})


@_handles("issues/get")
def _get_issue(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    found = _issue_of(s, params)
    return Reply(200, s._issue_json(*found)) if found else _not_found()


@_handles("issues/update")
def _update_issue(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    found = _issue_of(s, params)
    if found is None:
        return _not_found()
    repo, issue = found
    body = r.body or {}
    refused = _too_long("Issue", body, _ISSUE_LIMITS)
    if refused:
        return refused
    if "title" in body:
        if body["title"] in (None, ""):
            return _validation_failed("Issue", "missing_field", "title")
        issue.title = str(body["title"])
    if "body" in body:
        issue.body = body["body"]
    if "labels" in body:
        issue.labels = [s._ensure_label(repo, n) for n in _label_names(body["labels"])]
    if "assignees" in body:
        issue.assignees = [a if isinstance(a, str) else a.get("login", "") for a in body["assignees"]]
    state = body.get("state")
    if state == "closed" and issue.state == "open":
        issue.state, issue.closed_at = "closed", s.now
        issue.state_reason = body.get("state_reason") or "completed"
    elif state == "open" and issue.state == "closed":
        if issue.pull and issue.pull.merged_at is not None:
            return _validation_failed(
                "PullRequest", "custom", "state", "state cannot be changed. The pull request has been merged."
            )
        issue.state, issue.closed_at, issue.state_reason = "open", None, "reopened"
    elif "state_reason" in body and issue.state == "closed":
        issue.state_reason = body["state_reason"]
    issue.updated_at = s.now
    return Reply(200, s._issue_json(repo, issue))


@_handles("issues/list-comments")
def _list_comments(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    found = _issue_of(s, params)
    if found is None:
        return _not_found()
    repo, issue = found
    since = _epoch(q["since"], 0) if "since" in q else None
    comments = [c for c in sorted(issue.comments, key=lambda c: c.id) if since is None or c.updated_at >= since]
    return s._page(r, q, [s._comment_json(repo, issue, c) for c in comments])


@_handles("issues/create-comment")
def _create_comment(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    found = _issue_of(s, params)
    if found is None:
        return _not_found()
    repo, issue = found
    if not r.body["body"].strip():
        return _validation_failed("IssueComment", "missing_field", "body")
    refused = _too_long("IssueComment", r.body, {"body": 65536})
    if refused:
        return refused
    comment = Comment(s._next_id(), r.body["body"], s.login, s.now, s.now)
    issue.comments.append(comment)
    issue.updated_at = s.now
    body = s._comment_json(repo, issue, comment)
    return Reply(201, body, {"Location": body["url"]})


@_handles("issues/add-labels")
def _add_labels(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    found = _issue_of(s, params)
    if found is None:
        return _not_found()
    repo, issue = found
    body = r.body or {}
    names = _label_names(body if isinstance(body, list) else body.get("labels", []))
    have = {n.lower() for n in issue.labels}
    for name in names:
        if name.lower() not in have:
            issue.labels.append(s._ensure_label(repo, name))
            have.add(name.lower())
    issue.updated_at = s.now
    return Reply(200, [s._label_json(repo, repo.labels[n.lower()]) for n in issue.labels])


# --- pulls -----------------------------------------------------------------------------------


@_handles("pulls/list")
def _list_pulls(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    if repo is None:
        return _not_found()
    found = [i for i in repo.issues.values() if i.pull is not None]
    if q["state"] != "all":
        found = [i for i in found if i.state == q["state"]]
    if "base" in q:
        found = [i for i in found if i.pull and i.pull.base == q["base"]]
    if ":" in q.get("head", ""):  # GitHub ignores a head filter without the owner
        owner, _, ref = q["head"].partition(":")
        found = [i for i in found if i.pull and i.pull.head_owner == owner and i.pull.head == ref]
    sort = q["sort"]
    direction = q.get("direction") or ("desc" if sort == "created" else "asc")
    keys: dict[str, Callable[[Issue], Any]] = {
        "created": lambda i: i.created_at,
        "updated": lambda i: i.updated_at,
        "popularity": lambda i: len(i.comments),
        "long-running": lambda i: -i.created_at if i.state == "open" else 0,
    }
    found.sort(key=lambda i: (keys[sort](i), i.number), reverse=direction == "desc")
    return s._page(r, q, [s._pull_json(repo, i, full=False) for i in found])


@_handles("pulls/get")
def _get_pull(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    issue = repo.issues.get(params["pull_number"]) if repo else None
    if repo is None or issue is None or issue.pull is None:
        return _not_found()
    return Reply(200, s._pull_json(repo, issue, full=True))


@_handles("pulls/create")
def _create_pull(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    if repo is None:
        return _not_found()
    body = r.body
    head_owner, _, head = body["head"].rpartition(":")
    head_owner = head_owner or repo.owner
    base = body["base"]
    if not body.get("title") and "issue" not in body:
        return _validation_failed("PullRequest", "missing_field", "title")
    refused = _too_long("PullRequest", body, _ISSUE_LIMITS)
    if refused:
        return refused
    head_branch = s._branch(repo, head)
    if head_branch is None:
        return _validation_failed("PullRequest", "invalid", "head")
    base_branch = s._branch(repo, base)
    if base_branch is None:
        return _validation_failed("PullRequest", "invalid", "base")
    for other in repo.issues.values():
        if (
            other.pull
            and other.state == "open"
            and other.pull.head == head
            and other.pull.head_owner == head_owner
            and other.pull.base == base
        ):
            return _validation_failed(
                "PullRequest", "custom", message=f"A pull request already exists for {head_owner}:{head}."
            )
    commits = head_branch[1]
    if commits is None:
        commits = s._git_commits(repo, base_branch[0], head_branch[0])
    if commits is not None and not commits:
        return _validation_failed("PullRequest", "custom", message=f"No commits between {base} and {head}")
    issue = s._new_issue(repo, body.get("title") or "", body.get("body"), [], s.login, None, None)
    issue.pull = Pull(
        s._next_id(),
        head,
        head_branch[0],
        base,
        base_branch[0],
        commits or [s._commit(head_branch[0])],
        None,
        None,
        bool(body.get("draft")),
        head_owner,
    )
    data = s._pull_json(repo, issue, full=True)
    return Reply(201, data, {"Location": data["url"]})


@_handles("pulls/list-commits")
def _pull_commits(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    issue = repo.issues.get(params["pull_number"]) if repo else None
    if repo is None or issue is None or issue.pull is None:
        return Reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
    return s._page(r, q, [s._commit_json(repo, c) for c in issue.pull.commits[:250]])


@_handles("repos/list-pull-requests-associated-with-commit")
def _commit_pulls(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    repo = _repo_of(s, params)
    if repo is None:
        return _not_found()
    sha = str(params["commit_sha"])

    def same(candidate: str | None) -> bool:
        return bool(candidate) and len(sha) >= 7 and candidate.startswith(sha)  # type: ignore[union-attr]

    found = [
        i
        for i in repo.issues.values()
        if i.pull
        and (same(i.pull.merge_commit_sha) or same(i.pull.head_sha) or any(same(c.sha) for c in i.pull.commits))
    ]
    if not found and repo.git_dir is not None and s._git(repo, "cat-file", "-e", f"{sha}^{{commit}}") is None:
        return Reply(422, {"message": f"No commit found for SHA: {sha}", "documentation_url": DOCS, "status": "422"})
    found.sort(key=lambda i: i.number, reverse=True)
    return s._page(r, q, [s._pull_json(repo, i, full=False) for i in found])


# --- search ----------------------------------------------------------------------------------

_TOKEN = re.compile(r'(-?)(?:(\w[\w-]*):)?(?:"([^"]*)"|(\S+))')
_QUALIFIERS = {"repo", "is", "type", "state", "label", "in", "author", "no"}


@dataclass
class _Query:
    repos: list[str] = field(default_factory=list)
    kinds: set[str] = field(default_factory=set)
    states: set[str] = field(default_factory=set)
    labels: list[str] = field(default_factory=list)
    without_labels: list[str] = field(default_factory=list)
    fields: set[str] = field(default_factory=set)
    terms: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


def parse_search(text: str) -> _Query:
    query = _Query()
    for match in _TOKEN.finditer(text):
        negate, key, quoted, bare = match[1], (match[2] or "").lower(), match[3], match[4]
        value = quoted if quoted is not None else bare
        if not key:
            query.terms.append((negate + value) if not quoted else value)
            continue
        if key not in _QUALIFIERS:
            query.unsupported.append(match[0])
            continue
        if negate and key != "label":
            query.unsupported.append(match[0])
            continue
        lowered = value.lower()
        if key == "repo":
            query.repos.append(value)
        elif key in ("is", "type", "state"):
            kind = {"pr": "pr", "pull-request": "pr", "issue": "issue"}.get(lowered)
            if kind:
                query.kinds.add(kind)
            elif lowered in ("open", "closed"):
                query.states.add(lowered)
            elif lowered == "merged" and key == "is":
                query.kinds.add("pr")
                query.states.add("merged")
            else:
                query.unsupported.append(match[0])
        elif key == "label":
            (query.without_labels if negate else query.labels).append(lowered)
        elif key == "in":
            for part in lowered.split(","):
                if part in ("title", "body", "comments"):
                    query.fields.add(part)
                else:
                    query.unsupported.append(match[0])
        elif key == "author":
            query.authors.append(value)
        elif key == "no" and lowered == "label":
            query.without_labels.append("*")
        else:
            query.unsupported.append(match[0])
    return query


def _matches(query: _Query, issue: Issue) -> bool:
    if query.kinds and ("pr" if issue.pull else "issue") not in query.kinds:
        return False
    if query.states:
        merged = issue.pull is not None and issue.pull.merged_at is not None
        if not any(st == issue.state or (st == "merged" and merged) for st in query.states):
            return False
    names = {n.lower() for n in issue.labels}
    if any(label not in names for label in query.labels):
        return False
    if "*" in query.without_labels and names:
        return False
    if any(label in names for label in query.without_labels if label != "*"):
        return False
    if query.authors and issue.user not in query.authors:
        return False
    fields = query.fields or {"title", "body", "comments"}
    haystack = " ".join(
        ([issue.title] if "title" in fields else [])
        + ([issue.body or ""] if "body" in fields else [])
        + ([c.body for c in issue.comments] if "comments" in fields else [])
    ).lower()
    return all(term.lower() in haystack for term in query.terms)


@_handles("search/issues-and-pull-requests")
def _search(s: GitHubStandIn, r: Request, params: dict[str, Any], q: dict[str, Any]) -> Reply:
    if len(q["q"]) > 256:
        return _validation_failed("Search", "invalid", "q", "The search is longer than 256 characters.")
    query = parse_search(q["q"])
    if query.unsupported:
        s._violation("request", r, 200, f"the stand-in does not implement search qualifiers {query.unsupported}", None)
    found: list[tuple[Repo, Issue]] = []
    for name in query.repos or list(s.repos):
        repo = s.repos.get(name)
        if repo is None:
            return _validation_failed(
                "Search",
                "invalid",
                "q",
                "The listed users and repositories cannot be searched either because the resources do not exist "
                "or you do not have permission to view them.",
            )
        found += [(repo, i) for i in repo.issues.values() if _matches(query, i)]
    sort = q.get("sort")
    keys: dict[str, Callable[[Issue], Any]] = {
        "created": lambda i: i.created_at,
        "updated": lambda i: i.updated_at,
        "comments": lambda i: len(i.comments),
    }
    if sort in keys:
        found.sort(key=lambda pair: (keys[sort](pair[1]), pair[1].number), reverse=q["order"] == "desc")
    else:
        found.sort(key=lambda pair: pair[1].number, reverse=True)  # best match: all score 1.0, newest first
    page = s._page(r, q, found)
    items = []
    for repo, issue in page.body:
        item = s._issue_json(repo, issue)
        item["score"] = 1.0
        items.append(item)
    return Reply(
        200,
        {"total_count": len(found), "incomplete_results": False, "search_type": "lexical", "items": items},
        page.headers,
    )


# --- pytest fixture ------------------------------------------------------------------------------


@pytest.fixture
def github_api() -> Iterator[GitHubStandIn]:
    """A fresh stand-in; the test fails at teardown if a request or response broke the description."""
    try:
        standin = GitHubStandIn().start()
    except github_spec.SpecMissing as exc:
        pytest.skip(str(exc))
    try:
        yield standin
    finally:
        standin.stop()
    if standin.violations and not standin._expect_violations:
        listing = "\n".join(f"  {v}" for v in standin.violations)
        pytest.fail(
            f"the GitHub stand-in saw {len(standin.violations)} violation(s) of GitHub's description:\n{listing}",
            pytrace=False,
        )

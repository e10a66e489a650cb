"""A local HTTP server on 127.0.0.1 that speaks the GitHub REST endpoints batchops uses.

PyGithub talks to it over real HTTP (its base URL comes from GITHUB_API_URL).
State lives in plain dicts so tests can seed and inspect it. Endpoint groups are
added with :meth:`FakeGitHub.route`; each feature's tests register what they
need (see ``github_drift.py``, ``github_pulls.py``), the core ones are here.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[["FakeGitHub", Request, "re.Match[str]"], Response]


class FakeGitHub:
    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self.repos: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)")(_get_repo)
        self.route("GET", r"/rate_limit")(_rate_limit)

    # -- setup ------------------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self.routes.insert(0, (method, re.compile(f"^{pattern}$"), fn))
            return fn

        return decorate

    def repo(self, full_name: str) -> dict[str, Any]:
        """State of one repository (created on first use)."""
        with self.lock:
            if full_name not in self.repos:
                self.repos[full_name] = {
                    "full_name": full_name,
                    "issues": [],
                    "comments": {},
                    "labels": {},
                    "releases": [],
                    "pulls": [],
                    "default_branch": "main",
                }
            return self.repos[full_name]

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGitHub:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                path = parts.path
                if path.startswith("/api/v3"):
                    path = path[len("/api/v3") :]
                request = Request(self.command, path, parse_qs(parts.query), dict(self.headers), body)
                fake.requests.append(request)
                response = fake.dispatch(request)
                payload = b"" if response.body is None else json.dumps(response.body).encode()
                self.send_response(response.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    # -- dispatch ---------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        auth = request.headers.get("Authorization", "")
        if self.token and auth not in (f"token {self.token}", f"Bearer {self.token}"):
            return Response(401, {"message": "Bad credentials"})
        for method, pattern, handler in self.routes:
            if method != request.method:
                continue
            match = pattern.match(request.path)
            if match:
                with self.lock:
                    return handler(self, request, match)
        return Response(404, {"message": f"Not Found: {request.method} {request.path}"})

    # -- helpers for handlers ---------------------------------------------------------
    def repo_json(self, full_name: str) -> dict[str, Any]:
        owner, name = full_name.split("/")
        return {
            "id": abs(hash(full_name)) % 10**8,
            "name": name,
            "full_name": full_name,
            "owner": {"login": owner, "id": 1, "type": "Organization"},
            "default_branch": self.repos.get(full_name, {}).get("default_branch", "main"),
            "url": f"{self.url}/repos/{full_name}",
            "html_url": f"https://github.example/{full_name}",
        }

    def paginate(self, request: Request, items: list[Any]) -> Response:
        per_page = int(request.query.get("per_page", ["30"])[0])
        page = int(request.query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = f'<{self.url}{request.path}?per_page={per_page}&page={page + 1}>; rel="next"'
        return Response(200, chunk, headers)


def _get_repo(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
    full = f"{match['owner']}/{match['repo']}"
    fake.repos.setdefault(full, {
        "full_name": full, "issues": [], "comments": {}, "labels": {},
        "releases": [], "pulls": [], "default_branch": "main",
    })
    return Response(200, fake.repo_json(full))


def _rate_limit(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
    core = {"limit": 5000, "remaining": 4999, "reset": 0, "used": 1}
    return Response(200, {"resources": {"core": core, "search": core}, "rate": core})

"""What drift-monitor talks to, on 127.0.0.1: GitHub endpoints for FakeGitHub, and an upstream.

``install(fake)`` adds the GitHub REST endpoints PyGithub calls for drift-monitor:
latest release, issues (create, list with label/state filters, get, edit),
issue comments, labels and issue search. State lives in ``fake.repo(name)``.

``Upstream`` is a plain HTTP server serving checksum files (and the Node.js dist
index): tests change a file's bytes to cause drift, or make it answer 500, hang
past the client's timeout, or send more than the size cap.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.github_server import FakeGitHub, Request, Response

REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


# --- GitHub --------------------------------------------------------------------------------


def add_release(fake: FakeGitHub, full_name: str, tag: str, published_at: str = "2026-01-01T00:00:00Z", **extra: Any) -> None:
    state = fake.repo(full_name)
    state["releases"].append({"tag_name": tag, "published_at": published_at, "draft": False, "prerelease": False, **extra})


def _user() -> dict[str, Any]:
    return {"login": "batchops-bot", "id": 7, "type": "Bot"}


def _label_json(fake: FakeGitHub, full: str, label: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": abs(hash((full, label["name"]))) % 10**8,
        "name": label["name"],
        "color": label.get("color", "ededed"),
        "description": label.get("description", ""),
        "url": f"{fake.url}/repos/{full}/labels/{label['name']}",
    }


def _issue_json(fake: FakeGitHub, full: str, issue: dict[str, Any]) -> dict[str, Any]:
    state = fake.repo(full)
    number = issue["number"]
    return {
        "id": 100000 + number,
        "number": number,
        "title": issue["title"],
        "body": issue.get("body", ""),
        "state": issue.get("state", "open"),
        "labels": [_label_json(fake, full, state["labels"].get(n.lower(), {"name": n})) for n in issue.get("labels", [])],
        "user": _user(),
        "comments": len(state["comments"].get(number, [])),
        "url": f"{fake.url}/repos/{full}/issues/{number}",
        "html_url": f"https://github.example/{full}/issues/{number}",
        "repository_url": f"{fake.url}/repos/{full}",
        "created_at": issue.get("created_at", "2026-01-01T00:00:00Z"),
        "updated_at": issue.get("updated_at", "2026-01-01T00:00:00Z"),
    }


def _full(match: re.Match[str]) -> str:
    return f"{match['owner']}/{match['repo']}"


def install(fake: FakeGitHub) -> FakeGitHub:
    """Register the drift-monitor endpoints on ``fake`` and return it."""

    @fake.route("GET", REPO + r"/releases/latest")
    def latest_release(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        releases = [r for r in fake.repo(full)["releases"] if not r.get("draft") and not r.get("prerelease")]
        if fake.repo(full).get("releases_status"):
            return Response(fake.repo(full)["releases_status"], {"message": "Server Error"})
        if not releases:
            return Response(404, {"message": "Not Found"})
        release = releases[-1]
        return Response(
            200,
            {
                "id": len(releases),
                "tag_name": release["tag_name"],
                "name": release["tag_name"],
                "draft": False,
                "prerelease": False,
                "published_at": release.get("published_at"),
                "created_at": release.get("published_at"),
                "url": f"{fake.url}/repos/{full}/releases/{len(releases)}",
                "html_url": f"https://github.example/{full}/releases/tag/{release['tag_name']}",
                "author": _user(),
                "assets": [],
            },
        )

    @fake.route("GET", REPO + r"/labels")
    def list_labels(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        labels = [_label_json(fake, full, label) for label in fake.repo(full)["labels"].values()]
        return fake.paginate(request, labels)

    @fake.route("POST", REPO + r"/labels")
    def create_label(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        body = request.body or {}
        labels = fake.repo(full)["labels"]
        if body["name"].lower() in labels:
            return Response(422, {"message": "Validation Failed", "errors": [{"code": "already_exists"}]})
        labels[body["name"].lower()] = {"name": body["name"], "color": body.get("color", ""), "description": body.get("description", "")}
        return Response(201, _label_json(fake, full, labels[body["name"].lower()]))

    @fake.route("GET", REPO + r"/issues")
    def list_issues(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        state = request.query.get("state", ["open"])[0]
        wanted = [w.lower() for w in request.query.get("labels", [""])[0].split(",") if w]
        found = []
        for issue in fake.repo(full)["issues"]:
            if state != "all" and issue.get("state", "open") != state:
                continue
            have = {n.lower() for n in issue.get("labels", [])}
            if any(w not in have for w in wanted):
                continue
            found.append(_issue_json(fake, full, issue))
        found.reverse()  # newest first, as GitHub does
        return fake.paginate(request, found)

    @fake.route("POST", REPO + r"/issues")
    def create_issue(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        body = request.body or {}
        state = fake.repo(full)
        if state.get("issues_status"):
            return Response(state["issues_status"], {"message": "Forbidden"})
        names = [n if isinstance(n, str) else n["name"] for n in body.get("labels", [])]
        for name in names:  # GitHub creates unknown labels on the fly
            state["labels"].setdefault(name.lower(), {"name": name, "color": "ededed"})
        issue = {"number": len(state["issues"]) + 1, "title": body["title"], "body": body.get("body", ""), "state": "open", "labels": names}
        state["issues"].append(issue)
        return Response(201, _issue_json(fake, full, issue))

    @fake.route("GET", REPO + r"/issues/(?P<number>\d+)")
    def get_issue(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        issue = _find_issue(fake, full, int(match["number"]))
        return Response(200, _issue_json(fake, full, issue)) if issue else Response(404, {"message": "Not Found"})

    @fake.route("PATCH", REPO + r"/issues/(?P<number>\d+)")
    def edit_issue(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        issue = _find_issue(fake, full, int(match["number"]))
        if issue is None:
            return Response(404, {"message": "Not Found"})
        for key in ("title", "body", "state"):
            if key in (request.body or {}):
                issue[key] = request.body[key]
        if "labels" in (request.body or {}):
            issue["labels"] = [n if isinstance(n, str) else n["name"] for n in request.body["labels"]]
        return Response(200, _issue_json(fake, full, issue))

    @fake.route("GET", REPO + r"/issues/(?P<number>\d+)/comments")
    def list_comments(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        comments = fake.repo(full)["comments"].get(int(match["number"]), [])
        return fake.paginate(request, [_comment_json(fake, full, int(match["number"]), n, c) for n, c in enumerate(comments, 1)])

    @fake.route("POST", REPO + r"/issues/(?P<number>\d+)/comments")
    def create_comment(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        full = _full(match)
        number = int(match["number"])
        if _find_issue(fake, full, number) is None:
            return Response(404, {"message": "Not Found"})
        comments = fake.repo(full)["comments"].setdefault(number, [])
        comments.append((request.body or {}).get("body", ""))
        return Response(201, _comment_json(fake, full, number, len(comments), comments[-1]))

    @fake.route("GET", r"/search/issues")
    def search_issues(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
        query = request.query.get("q", [""])[0]
        phrases = re.findall(r'"([^"]*)"', query)
        rest = re.sub(r'"[^"]*"', " ", query).split()
        qualifiers = dict(part.split(":", 1) for part in rest if ":" in part)
        words = [part for part in rest if ":" not in part]
        repos = [qualifiers["repo"]] if "repo" in qualifiers else list(fake.repos)
        state = qualifiers.get("state") or (qualifiers.get("is") if qualifiers.get("is") in ("open", "closed") else "")
        items = []
        for full in repos:
            for issue in fake.repo(full)["issues"]:
                if state and issue.get("state", "open") != state:
                    continue
                text = issue.get("body", "") + " " + issue["title"]
                if all(p in text for p in phrases) and all(w in text for w in words):
                    items.append(_issue_json(fake, full, issue))
        fake.search_queries.append(query)  # type: ignore[attr-defined]
        return Response(200, {"total_count": len(items), "incomplete_results": False, "items": items})

    fake.search_queries = []  # type: ignore[attr-defined]
    return fake


def _find_issue(fake: FakeGitHub, full: str, number: int) -> dict[str, Any] | None:
    for issue in fake.repo(full)["issues"]:
        if issue["number"] == number:
            return issue
    return None


def _comment_json(fake: FakeGitHub, full: str, number: int, index: int, body: str) -> dict[str, Any]:
    return {
        "id": number * 1000 + index,
        "body": body,
        "user": _user(),
        "url": f"{fake.url}/repos/{full}/issues/comments/{number * 1000 + index}",
        "html_url": f"https://github.example/{full}/issues/{number}#issuecomment-{number * 1000 + index}",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }


# --- upstream ------------------------------------------------------------------------------


@dataclass
class Served:
    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] | None = None


class Upstream:
    """Checksum files on http://127.0.0.1:PORT; ``files[path]`` is what each path answers."""

    def __init__(self, latency: float = 0.0) -> None:
        self.files: dict[str, Served] = {}
        self.hits: dict[str, int] = {}
        self.connections = 0
        self.active = 0
        self.peak_active = 0
        self.latency = latency
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def put(self, path: str, body: bytes | str, *, status: int = 200, delay: float = 0.0, headers: dict[str, str] | None = None) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.files[path] = Served(data, status, delay, headers)
        return self.url + path

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.put(path, b"moved", status=status, headers={"Location": location})

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Upstream:
        upstream = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with upstream.lock:
                    upstream.connections += 1

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                with upstream.lock:
                    upstream.hits[path] = upstream.hits.get(path, 0) + 1
                    upstream.active += 1
                    upstream.peak_active = max(upstream.peak_active, upstream.active)
                try:
                    self._answer(path)
                finally:
                    with upstream.lock:
                        upstream.active -= 1

            def _answer(self, path: str) -> None:
                served = upstream.files.get(path, Served(b"not found", 404))
                if upstream.latency:
                    time.sleep(upstream.latency)
                if served.delay:
                    time.sleep(served.delay)
                try:
                    self.send_response(served.status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(served.body)))
                    for key, value in (served.headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(served.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def nodejs_index(self, versions: list[tuple[str, str]]) -> str:
        """Serve ``/dist/index.json`` (newest first) and return the dist base URL."""
        self.put("/dist/index.json", json.dumps([{"version": v, "date": d, "files": ["linux-x64"]} for v, d in versions]))
        return self.url + "/dist"

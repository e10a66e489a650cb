"""Fake GitHub routes for pull requests (what PyGithub calls for rollback).

* ``GET  /repos/{o}/{r}/pulls``                 list (state, base, head=owner:ref, sort, direction, paging)
* ``GET  /repos/{o}/{r}/pulls/{n}``             one pull request
* ``POST /repos/{o}/{r}/pulls``                 open a pull request (422 on a duplicate head)
* ``GET  /repos/{o}/{r}/commits/{sha}/pulls``   pull requests associated with a commit

State: ``fake.repo(full_name)["pulls"]`` holds the pull requests as GitHub returns them.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.github_server import FakeGitHub, Request, Response

_OWNER_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


def install(fake: FakeGitHub) -> FakeGitHub:
    fake.route("GET", _OWNER_REPO + r"/pulls")(_list_pulls)
    fake.route("GET", _OWNER_REPO + r"/pulls/(?P<number>\d+)")(_get_pull)
    fake.route("POST", _OWNER_REPO + r"/pulls")(_create_pull)
    fake.route("GET", _OWNER_REPO + r"/commits/(?P<sha>[0-9a-f]+)/pulls")(_commit_pulls)
    return fake


def _full(match: re.Match[str]) -> str:
    return f"{match['owner']}/{match['repo']}"


def pull_json(fake: FakeGitHub, full_name: str, number: int, **fields: Any) -> dict[str, Any]:
    owner = full_name.split("/")[0]
    head = fields.pop("head", f"feature-{number}")
    base = fields.pop("base", "main")
    merged_at = fields.pop("merged_at", None)
    state = fields.pop("state", "closed" if merged_at else "open")
    pull = {
        "id": 1000 + number,
        "number": number,
        "state": state,
        "title": fields.pop("title", f"PR {number}"),
        "body": fields.pop("body", ""),
        "created_at": fields.pop("created_at", "2026-05-01T00:00:00Z"),
        "updated_at": fields.pop("updated_at", merged_at or "2026-05-01T00:00:00Z"),
        "closed_at": merged_at if state == "closed" else None,
        "merged_at": merged_at,
        "merged": merged_at is not None,
        "merge_commit_sha": fields.pop("merge_commit_sha", None),
        "user": {"login": "batch-bot", "id": 7, "type": "Bot"},
        "head": {"ref": head, "sha": fields.pop("head_sha", "0" * 40), "label": f"{owner}:{head}", "repo": fake.repo_json(full_name)},
        "base": {"ref": base, "sha": "0" * 40, "label": f"{owner}:{base}", "repo": fake.repo_json(full_name)},
        "url": f"{fake.url}/repos/{full_name}/pulls/{number}",
        "html_url": f"https://github.example/{full_name}/pull/{number}",
    }
    pull.update(fields)
    return pull


def add_pull(fake: FakeGitHub, full_name: str, **fields: Any) -> dict[str, Any]:
    """Seed one pull request (merged when ``merged_at`` is given)."""
    with fake.lock:
        pulls = fake.repo(full_name)["pulls"]
        number = fields.pop("number", len(pulls) + 1)
        pull = pull_json(fake, full_name, number, **fields)
        pulls.append(pull)
        return pull


def _list_pulls(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
    query = {key: values[0] for key, values in request.query.items()}
    state = query.get("state", "open")
    pulls = list(fake.repo(_full(match))["pulls"])
    if state != "all":
        pulls = [p for p in pulls if p["state"] == state]
    if "base" in query:
        pulls = [p for p in pulls if p["base"]["ref"] == query["base"]]
    if "head" in query:
        pulls = [p for p in pulls if p["head"]["label"] == query["head"]]
    key = {"updated": "updated_at", "created": "created_at"}.get(query.get("sort", "created"), "created_at")
    descending = query.get("direction", "desc") == "desc"
    pulls.sort(key=lambda p: (p[key], p["number"]), reverse=descending)
    return fake.paginate(request, pulls)


def _get_pull(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
    for pull in fake.repo(_full(match))["pulls"]:
        if pull["number"] == int(match["number"]):
            return Response(200, pull)
    return Response(404, {"message": "Not Found"})


def _create_pull(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
    full = _full(match)
    body = request.body or {}
    head, base = body.get("head"), body.get("base")
    if not head or not base or not body.get("title"):
        return Response(422, {"message": "Validation Failed", "errors": [{"code": "missing_field"}]})
    pulls = fake.repo(full)["pulls"]
    if any(p["head"]["ref"] == head and p["state"] == "open" for p in pulls):
        return Response(422, {"message": "Validation Failed", "errors": [{"message": f"A pull request already exists for {head}."}]})
    pull = pull_json(fake, full, len(pulls) + 1, head=head, base=base, title=body["title"], body=body.get("body") or "", state="open")
    pulls.append(pull)
    return Response(201, pull)


def _commit_pulls(fake: FakeGitHub, request: Request, match: re.Match[str]) -> Response:
    sha = match["sha"]
    pulls = [p for p in fake.repo(_full(match))["pulls"] if p.get("merge_commit_sha") == sha or p["head"]["sha"] == sha]
    return fake.paginate(request, pulls)

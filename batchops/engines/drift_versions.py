"""Current versions of recipes for drift-monitor: GitHub latest release (PyGithub), the Node.js dist index, or pinned.

Each GitHub repository (and the Node.js index) is asked once per run, concurrently; a lookup that fails is
an :class:`~batchops.core.drift.Unresolved` with the reason, never an exception.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from batchops.adapters import github as gh
from batchops.adapters.http import Fetcher
from batchops.core import escape, recipes, timeutil
from batchops.core.drift import Resolved, Unresolved

MAX_INDEX_BYTES = 32 * 1024 * 1024  # the Node.js dist index is a few hundred KiB
DEFAULT_NODEJS_DIST = "https://nodejs.org/dist"


def _check_version(version: str, where: str) -> str:
    if not recipes.VERSION_PATTERN.match(version):
        raise _Unresolvable(f"{where} gave {escape.one_line(version[:80])!r}, which is not a usable version string")
    return version


class _Unresolvable(Exception):
    pass


class Resolver:
    """Current versions: GitHub latest release (PyGithub), the Node.js dist index, or pinned."""

    def __init__(
        self, *, token: str, api_url: str, nodejs_url: str, timeout: float, fetcher: Fetcher, workers: int = 8
    ) -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.nodejs_url = nodejs_url.rstrip("/")
        self.timeout = timeout
        self.fetcher = fetcher
        self.workers = workers
        self._local = threading.local()
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, str], Future[Resolved | Unresolved]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _github(self) -> Any:
        client = getattr(self._local, "github", None)
        if client is None:
            client = gh.client(self.token, base_url=self.api_url, timeout=min(self.timeout, gh.TIMEOUT), lazy=True)
            self._local.github = client
        return client

    def github_release(self, repo: str, tag_prefix: str) -> Resolved:
        from github import GithubException

        try:
            release = self._github().get_repo(repo).get_latest_release()
            tag = str(release.tag_name or "")
            published = release.published_at
        except GithubException as exc:
            if exc.status == 404:
                raise _Unresolvable(f"GitHub has no published release for {repo} (404)") from None
            raise _Unresolvable(f"GitHub refused the release lookup for {repo}: {gh.reason(exc)}") from None
        except Exception as exc:  # network errors surface as requests exceptions
            raise _Unresolvable(f"release lookup for {repo}: {gh.reason(exc)}") from None
        if tag_prefix and not tag.startswith(tag_prefix):
            shown = escape.one_line(tag[:80])
            raise _Unresolvable(f"latest release tag {shown!r} of {repo} does not start with tag_prefix {tag_prefix!r}")
        version = _check_version(tag[len(tag_prefix) :], f"the latest release of {repo}")
        return Resolved(version, tag, recipes.SOURCE_GITHUB, timeutil.iso(published) if published else "")

    def nodejs(self, tag_prefix: str) -> Resolved:
        import json

        url = f"{self.nodejs_url}/index.json"
        result = self.fetcher.fetch(url, max_bytes=MAX_INDEX_BYTES, keep_body=True)
        if result.error:
            raise _Unresolvable(f"Node.js dist index {url}: {result.error}")
        try:
            index = json.loads(result.body or b"")
            newest = index[0]
            tag = str(newest["version"])
        except (ValueError, LookupError, TypeError, RecursionError):
            raise _Unresolvable(f"Node.js dist index {url} is not a list of releases") from None
        version = _check_version(
            tag[len(tag_prefix) :] if tag.startswith(tag_prefix) else tag, "the Node.js dist index"
        )
        published = str(newest.get("date") or "") if isinstance(newest, dict) else ""
        published_iso = ""
        if published:
            parsed = timeutil.parse_iso_or_none(published if "T" in published else published + "T00:00:00Z")
            published_iso = timeutil.iso(parsed) if parsed else ""
        return Resolved(version, tag, recipes.SOURCE_NODEJS, published_iso)

    def submit(self, recipe: recipes.Recipe) -> Future[Resolved | Unresolved]:
        """Start resolving ``recipe``'s version; each GitHub repository (and the Node.js index) is asked once."""
        spec = recipe.version
        if spec.source == recipes.SOURCE_PINNED:
            try:
                version = _check_version(spec.pinned, f"[version] of {recipe.relpath}")
                return _done(Resolved(version, spec.tag_prefix + version, recipes.SOURCE_PINNED))
            except _Unresolvable as exc:
                return _done(Unresolved(str(exc)))
        if spec.source == recipes.SOURCE_GITHUB:
            key = ("github", spec.github_repo, spec.tag_prefix)
            job: Callable[[], Resolved] = lambda: self.github_release(spec.github_repo, spec.tag_prefix)  # noqa: E731
        elif spec.source == recipes.SOURCE_NODEJS:
            key = ("nodejs", "", spec.tag_prefix)
            job = lambda: self.nodejs(spec.tag_prefix)  # noqa: E731
        elif spec.source:
            source = escape.one_line(spec.source[:40])
            return _done(
                Unresolved(
                    f"version source {source!r} is not supported by drift-monitor "
                    "(use github_repo, nodejs_dist or a pinned version)"
                )
            )
        else:
            return _done(Unresolved("the recipe has no [version] github_repo, source or pinned version"))
        with self._lock:
            if key not in self._jobs:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="drift-version")
                self._jobs[key] = self._pool.submit(_capture, job)
            return self._jobs[key]

    def resolve_all(self, items: Sequence[recipes.Recipe]) -> dict[str, Resolved | Unresolved]:
        futures = {recipe.name: self.submit(recipe) for recipe in items}
        return {name: future.result() for name, future in futures.items()}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _done(value: Resolved | Unresolved) -> Future[Resolved | Unresolved]:
    future: Future[Resolved | Unresolved] = Future()
    future.set_result(value)
    return future


def _capture(job: Callable[[], Resolved]) -> Resolved | Unresolved:
    try:
        return job()
    except _Unresolvable as exc:
        return Unresolved(str(exc))

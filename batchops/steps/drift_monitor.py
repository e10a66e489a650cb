"""drift-monitor: re-verify upstream checksum files; one deduplicated security issue per drift.

A checksum file that changes for a version that was already published is how a
supply-chain compromise (or a silent re-publication) shows. For every recipe
this step resolves the current version, renders each ``checksum_url`` for the
platforms asked for, fetches the files concurrently and compares their SHA-256
with the baseline file (committed in the repository, schema ``drift-baseline``):

- first sight of a recipe + version + URL: recorded, status ``new``;
- same bytes: ``ok`` (``last_verified`` moves);
- other bytes while the release is younger than ``grace-period``: ``pending``;
  the baseline follows the new bytes and keeps an audit entry, so a release
  that is still being assembled upstream never raises an alarm;
- other bytes for an older release: ``drift``: one GitHub issue per
  fingerprint (recipe, version, new checksum); a later run that finds the same
  drift comments on the open issue instead of opening another;
- network failure, HTTP error, oversized file, version not resolvable:
  ``unverifiable``; never ``drift`` and never ``ok``.

The baseline changes only through the operations ``drift.record`` and
``drift.accept`` (``control.mutate``), so persist-with-retry can re-apply them
on the remote's copy. ``batchops drift accept RECIPE VERSION --reason ...``
accepts a benign re-publication with an audit entry.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from batchops import __version__
from batchops.adapters import controlfile, files, runner, schema
from batchops.adapters import git as gitcmd
from batchops.cli.args import (
    Command,
    add_input,
    add_now,
    clock,
    parse_bool,
    parse_float,
    parse_int,
    parse_list,
)
from batchops.core import control, recipes, timeutil
from batchops.core.drift import STATUSES, _entry, _later, _put, empty_baseline  # noqa: F401
from batchops.errors import BatchopsError, UsageError
from batchops.render import markdown

DEFAULT_BASELINE = "checksum-baseline.json"
DEFAULT_RECIPES_DIR = "recipes"
DEFAULT_LABELS = "security,checksum-drift"
DEFAULT_GRACE = "24h"
DEFAULT_CONCURRENCY = 64  # checksum files are tiny: the run is latency-bound
DEFAULT_TIMEOUT = 30.0
MAX_BYTES = 4 * 1024 * 1024  # a checksum file is a few KiB; anything above 4 MiB is not one
MAX_INDEX_BYTES = 32 * 1024 * 1024  # the Node.js dist index is a few hundred KiB
DEFAULT_GITHUB_API = "https://api.github.com"
DEFAULT_NODEJS_DIST = "https://nodejs.org/dist"
MARKER = "batchops-drift"
SUMMARY_ROWS = 200


# --- fetching ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    url: str
    sha256: str | None = None
    size: int = 0
    error: str = ""
    body: bytes | None = None


_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5


class _Abort(Exception):
    """A download that must stop now (cap, deadline, bad redirect); the message is the reason."""


class Fetcher:
    """Concurrent GETs: a bounded worker pool, one keep-alive connection per worker and host.

    Built on the standard library's http.client: per request it costs a fifth
    of a requests.Session call and half of a urllib3 one, which is what lets
    1,000 files go 20x faster than serially on a busy two-core runner.
    Only http/https (also after redirects, at most 5); connect/read timeouts
    plus a total time cap per file; a size cap; TLS verified with the system's
    CA store; HTTP(S)_PROXY and NO_PROXY honoured; one retry after a connection
    error, a timeout or a 5xx (a keep-alive connection the server had closed is
    reopened without counting as a retry).
    """

    def __init__(self, *, workers: int = DEFAULT_CONCURRENCY, timeout: float = DEFAULT_TIMEOUT, max_bytes: int = MAX_BYTES, retries: int = 1) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []
        self._tls: Any = None

    # -- connections ----------------------------------------------------------------------
    def _tls_context(self) -> Any:
        import ssl

        with self._lock:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            return self._tls

    def _connection(self, scheme: str, host: str, port: int) -> tuple[Any, bool]:
        """(connection, reused) for this thread; through the environment's proxy when one applies."""
        import http.client
        import urllib.request

        cache = getattr(self._local, "connections", None)
        if cache is None:
            cache = self._local.connections = {}
        key = (scheme, host, port)
        if key in cache:
            return cache[key], True
        proxy = "" if urllib.request.proxy_bypass(host) else urllib.request.getproxies().get(scheme, "")
        headers: dict[str, str] = {}
        target_host, target_port = host, port
        if proxy:
            parsed = urlsplit(proxy if "://" in proxy else "http://" + proxy)
            target_host, target_port = parsed.hostname or "", parsed.port or 80
            if parsed.username:
                import base64

                token = base64.b64encode(f"{parsed.username}:{parsed.password or ''}".encode()).decode()
                headers["Proxy-Authorization"] = f"Basic {token}"
        if scheme == "https" and proxy:
            conn: Any = http.client.HTTPSConnection(target_host, target_port, timeout=self.timeout, context=self._tls_context())
            conn.set_tunnel(host, port, headers=headers)
        elif scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._tls_context())
        else:
            conn = http.client.HTTPConnection(target_host, target_port, timeout=self.timeout)
        conn._batchops_proxy = bool(proxy) and scheme == "http"  # absolute-form request line
        conn._batchops_proxy_headers = headers if scheme == "http" else {}
        cache[key] = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self, scheme: str, host: str, port: int) -> None:
        conn = getattr(self._local, "connections", {}).pop((scheme, host, port), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    # -- one request ----------------------------------------------------------------------
    def _get(self, url: str, limit: int, keep_body: bool) -> FetchResult:
        """One attempt, following redirects. Raises OSError/HTTPException for network trouble."""
        import http.client

        deadline = time.monotonic() + self.timeout * 2
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                raise _Abort("not fetched: a redirect led to a URL that is not http or https")
            host = parts.hostname or ""
            port = parts.port or (443 if scheme == "https" else 80)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            for fresh_try in (False, True):
                conn, reused = self._connection(scheme, host, port)
                target = current if conn._batchops_proxy else path
                try:
                    conn.request("GET", target, headers={
                        "User-Agent": f"batchops-drift-monitor/{__version__}",
                        "Accept-Encoding": "identity",
                        **conn._batchops_proxy_headers,
                    })
                    response = conn.getresponse()
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                    self._drop(scheme, host, port)
                    if not reused or fresh_try:
                        raise
                except BaseException:
                    self._drop(scheme, host, port)
                    raise
            complete = False
            try:
                if response.status in _REDIRECTS and response.getheader("Location"):
                    from urllib.parse import urljoin

                    response.read(65536)
                    complete = response.isclosed()
                    current = urljoin(current, response.getheader("Location", ""))
                    continue
                if response.status != 200:
                    response.read(65536)
                    complete = response.isclosed()
                    return FetchResult(url, error=f"HTTP {response.status} from upstream")
                declared = response.getheader("Content-Length", "")
                if declared.isdigit() and int(declared) > limit:
                    return FetchResult(url, error=f"larger than the {limit} byte cap ({declared} bytes): not a checksum file")
                digest = hashlib.sha256()
                size = 0
                chunks: list[bytes] = []
                while True:
                    chunk = response.read(65536)
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        return FetchResult(url, error=f"larger than the {limit} byte cap: not a checksum file")
                    if time.monotonic() > deadline:
                        return FetchResult(url, error=f"timed out: the download took more than {self.timeout * 2:g}s")
                    digest.update(chunk)
                    if keep_body:
                        chunks.append(chunk)
                complete = True
                return FetchResult(url, digest.hexdigest(), size, body=b"".join(chunks) if keep_body else None)
            finally:
                if not complete or response.will_close:
                    self._drop(scheme, host, port)
        return FetchResult(url, error="too many redirects")

    def fetch(self, url: str, *, max_bytes: int | None = None, keep_body: bool = False) -> FetchResult:
        import http.client

        limit = self.max_bytes if max_bytes is None else max_bytes
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            return FetchResult(url, error=f"not fetched: only http and https URLs are checked, not {scheme or 'a relative URL'!r}")
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(2.0, 0.2 * 2 ** (attempt - 1)))
            try:
                result = self._get(url, limit, keep_body)
            except _Abort as exc:
                return FetchResult(url, error=str(exc))
            except TimeoutError:
                error = f"timed out after {self.timeout:g}s"
                continue
            except ConnectionRefusedError:
                error = "network error: connection refused"
                continue
            except (OSError, http.client.HTTPException, ValueError) as exc:
                error = f"network error: {exc.__class__.__name__}"
                continue
            if result.error.startswith("HTTP 5"):
                error = result.error
                continue
            return result
        return FetchResult(url, error=error)

    def fetch_all(self, urls: Sequence[str]) -> dict[str, FetchResult]:
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=min(self.workers, len(unique)), thread_name_prefix="drift-fetch") as pool:
            return dict(zip(unique, pool.map(self.fetch, unique), strict=True))


# --- versions ----------------------------------------------------------------------------


class Unresolvable(Exception):
    """The version of a recipe cannot be found; the message says why."""


@dataclass(frozen=True)
class Resolved:
    version: str
    version_tag: str
    source: str
    published_at: str = ""


def _check_version(version: str, where: str) -> str:
    if not recipes.VERSION_PATTERN.match(version):
        raise Unresolvable(f"{where} gave {version[:80]!r}, which is not a usable version string")
    return version


class Resolver:
    """Current versions: GitHub latest release (PyGithub), the Node.js dist index, or pinned."""

    def __init__(self, *, token: str, api_url: str, nodejs_url: str, timeout: float, fetcher: Fetcher, workers: int = 8) -> None:
        self.token = token
        self.api_url = api_url.rstrip("/")
        self.nodejs_url = nodejs_url.rstrip("/")
        self.timeout = timeout
        self.fetcher = fetcher
        self.workers = workers
        self._local = threading.local()
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str, str], Future[Resolved | Unresolvable]] = {}
        self._pool: ThreadPoolExecutor | None = None

    def _github(self) -> Any:
        client = getattr(self._local, "github", None)
        if client is None:
            client = github_client(self.token, self.api_url, self.timeout, lazy=True)
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
                raise Unresolvable(f"GitHub has no published release for {repo} (404)") from None
            if exc.status in (401, 403):
                raise Unresolvable(f"GitHub refused the release lookup for {repo} ({exc.status}; token missing, invalid or rate-limited)") from None
            raise Unresolvable(f"GitHub API error {exc.status} for {repo}") from None
        except Exception as exc:  # network errors surface as requests exceptions
            raise Unresolvable(f"GitHub API unreachable for {repo}: {exc.__class__.__name__}") from None
        if tag_prefix and not tag.startswith(tag_prefix):
            raise Unresolvable(f"latest release tag {tag[:80]!r} of {repo} does not start with tag_prefix {tag_prefix!r}")
        version = _check_version(tag[len(tag_prefix):], f"the latest release of {repo}")
        return Resolved(version, tag, recipes.SOURCE_GITHUB, timeutil.iso(published) if published else "")

    def nodejs(self, tag_prefix: str) -> Resolved:
        import json

        url = f"{self.nodejs_url}/index.json"
        result = self.fetcher.fetch(url, max_bytes=MAX_INDEX_BYTES, keep_body=True)
        if result.error:
            raise Unresolvable(f"Node.js dist index {url}: {result.error}")
        try:
            index = json.loads(result.body or b"")
            newest = index[0]
            tag = str(newest["version"])
        except (ValueError, LookupError, TypeError):
            raise Unresolvable(f"Node.js dist index {url} is not a list of releases") from None
        version = _check_version(tag[len(tag_prefix):] if tag.startswith(tag_prefix) else tag, "the Node.js dist index")
        published = str(newest.get("date") or "")
        published_iso = ""
        if published:
            parsed = timeutil.parse_iso_or_none(published if "T" in published else published + "T00:00:00Z")
            published_iso = timeutil.iso(parsed) if parsed else ""
        return Resolved(version, tag, recipes.SOURCE_NODEJS, published_iso)

    def submit(self, recipe: recipes.Recipe) -> Future[Resolved | Unresolvable]:
        """Start resolving ``recipe``'s version; each GitHub repository (and the Node.js index) is asked once."""
        spec = recipe.version
        if spec.source == recipes.SOURCE_PINNED:
            try:
                version = _check_version(spec.pinned, f"[version] of {recipe.relpath}")
                return _done(Resolved(version, spec.tag_prefix + version, recipes.SOURCE_PINNED))
            except Unresolvable as exc:
                return _done(exc)
        if spec.source == recipes.SOURCE_GITHUB:
            key = ("github", spec.github_repo, spec.tag_prefix)
            job: Callable[[], Resolved] = lambda: self.github_release(spec.github_repo, spec.tag_prefix)  # noqa: E731
        elif spec.source == recipes.SOURCE_NODEJS:
            key = ("nodejs", "", spec.tag_prefix)
            job = lambda: self.nodejs(spec.tag_prefix)  # noqa: E731
        elif spec.source:
            return _done(Unresolvable(f"version source {spec.source[:40]!r} is not supported by drift-monitor (use github_repo, nodejs_dist or a pinned version)"))
        else:
            return _done(Unresolvable("the recipe has no [version] github_repo, source or pinned version"))
        with self._lock:
            if key not in self._jobs:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="drift-version")
                self._jobs[key] = self._pool.submit(_capture, job)
            return self._jobs[key]

    def resolve_all(self, items: Sequence[recipes.Recipe]) -> dict[str, Resolved | Unresolvable]:
        futures = {recipe.name: self.submit(recipe) for recipe in items}
        return {name: future.result() for name, future in futures.items()}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _done(value: Resolved | Unresolvable) -> Future[Resolved | Unresolvable]:
    future: Future[Resolved | Unresolvable] = Future()
    future.set_result(value)
    return future


def _capture(job: Callable[[], Resolved]) -> Resolved | Unresolvable:
    try:
        return job()
    except Unresolvable as exc:
        return exc


def github_client(token: str, api_url: str, timeout: float, *, lazy: bool = False) -> Any:
    from github import Auth, Github

    write_interval = float(os.environ.get("BATCHOPS_GITHUB_WRITE_INTERVAL", "1.0") or 1.0)
    return Github(
        base_url=api_url,
        auth=Auth.Token(token) if token else None,
        timeout=max(1, int(timeout)),
        retry=2,
        seconds_between_requests=None,
        seconds_between_writes=write_interval,
        user_agent=f"batchops-drift-monitor/{__version__}",
        lazy=lazy,
    )


# --- selecting recipes (since) ----------------------------------------------------------


def changed_recipes(recipes_dir: str | Path, since: timedelta, now: datetime) -> set[str]:
    """Paths (relative to ``recipes_dir``) of recipe files changed on the current branch since ``now - since``.

    One ``git log`` over the first-parent history: a PR merged by a merge
    commit counts at the time of the merge, whatever its commits' dates.
    """
    cutoff = timeutil.iso(now - since)
    folder = Path(recipes_dir)
    cmd = [
        "git", "-C", str(folder), "log", f"--since={cutoff}", "--first-parent", "--diff-merges=first-parent",
        "--name-only", "--relative", "--pretty=format:", "--", ".",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"cannot run git: {exc.__class__.__name__}", field="since", hint="install git, or leave since empty to check every recipe") from None
    if proc.returncode != 0:
        raise UsageError(
            f"git log failed: {proc.stderr.strip()[:200]}",
            file=str(folder),
            field="since",
            hint="since needs recipes-dir inside a git checkout with history (actions/checkout with fetch-depth: 0), or leave since empty",
        )
    return {line.strip() for line in proc.stdout.splitlines() if line.strip().endswith(".toml")}


# --- classifying -------------------------------------------------------------------------


@dataclass
class Finding:
    recipe: str
    file: str
    status: str
    version: str = ""
    version_tag: str = ""
    version_source: str = ""
    published_at: str = ""
    url: str = ""
    platforms: tuple[str, ...] = ()
    expected: str | None = None
    actual: str | None = None
    first_seen: str = ""
    reason: str = ""
    fingerprint: str = ""
    issue_url: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"recipe": self.recipe, "file": self.file, "status": self.status}
        for key in ("version", "version_tag", "version_source", "published_at", "url", "first_seen", "reason", "fingerprint", "issue_url"):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.platforms:
            data["platforms"] = list(self.platforms)
        if self.url:
            data["expected"] = self.expected
            data["actual"] = self.actual
        return data


def fingerprint(recipe: str, version: str, actual: str) -> str:
    return hashlib.sha256(f"{recipe}\n{version}\n{actual}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Check:
    recipe: recipes.Recipe
    resolved: Resolved
    target: recipes.ChecksumTarget


def plan(items: Sequence[recipes.Recipe], versions: dict[str, Resolved | Unresolvable], platforms: Sequence[recipes.Platform]) -> tuple[list[Check], list[Finding]]:
    """The URLs to fetch, and the findings that need no fetch (skipped, unverifiable)."""
    checks: list[Check] = []
    findings: list[Finding] = []
    wanted = ", ".join(str(p) for p in platforms)
    for recipe in items:
        if not any(recipes.steps_for(recipe, p) for p in platforms):
            findings.append(Finding(recipe.name, recipe.relpath, "skipped", reason=f"no step with a checksum_url for {wanted}"))
            continue
        resolved = versions.get(recipe.name)
        if not isinstance(resolved, Resolved):
            reason = str(resolved) if resolved else "version not resolved"
            findings.append(Finding(recipe.name, recipe.relpath, "unverifiable", reason=f"version unresolvable: {reason}"))
            continue
        try:
            targets = recipes.checksum_targets(recipe, resolved.version, resolved.version_tag, platforms)
        except ValueError as exc:
            findings.append(Finding(recipe.name, recipe.relpath, "unverifiable", resolved.version, resolved.version_tag, resolved.source, resolved.published_at, reason=f"checksum_url: {exc}"))
            continue
        checks.extend(Check(recipe, resolved, target) for target in targets)
    return checks, findings


def classify(
    checks: Sequence[Check],
    results: dict[str, FetchResult],
    baseline: dict[str, Any],
    *,
    now: datetime,
    grace: timedelta,
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Compare fetched checksums with the baseline (pure). Returns findings and drift.record entries."""
    findings: list[Finding] = []
    entries: list[dict[str, Any]] = []
    for check in checks:
        recipe, resolved, target = check.recipe, check.resolved, check.target
        finding = Finding(
            recipe.name, recipe.relpath, "ok", resolved.version, resolved.version_tag, resolved.source,
            resolved.published_at, target.url, target.platforms,
        )
        findings.append(finding)
        result = results[target.url]
        entry = _entry(baseline, recipe.name, resolved.version, target.url)
        finding.expected = entry["sha256"] if entry else None
        finding.first_seen = entry["first_seen"] if entry else ""
        if result.error or not result.sha256:
            finding.status = "unverifiable"
            finding.reason = result.error or "no content"
            continue
        finding.actual = result.sha256
        key = {"recipe": recipe.name, "version": resolved.version, "url": target.url, "sha256": result.sha256}
        if entry is None:
            finding.status = "new"
            finding.reason = "first sight: recorded in the baseline"
            entries.append({**key, "kind": "new"})
        elif entry["sha256"] == result.sha256:
            entries.append({**key, "kind": "verified"})
        else:
            born = timeutil.parse_iso_or_none(resolved.published_at) or timeutil.parse_iso(entry["first_seen"])
            age = now - born
            if grace and age < grace:
                finding.status = "pending"
                finding.reason = (
                    f"changed while the release is {timeutil.format_duration(age)} old (grace period "
                    f"{timeutil.format_duration(grace)}): the baseline follows, audit entry added"
                )
                entries.append({**key, "kind": "grace", "previous": entry["sha256"]})
            else:
                finding.status = "drift"
                finding.reason = "the checksum file changed for a version already recorded"
                finding.fingerprint = fingerprint(recipe.name, resolved.version, result.sha256)
    return findings, entries


# --- issues ------------------------------------------------------------------------------


@dataclass
class IssueResult:
    fingerprint: str
    action: str  # created, commented, failed
    url: str = ""
    number: int | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"fingerprint": self.fingerprint, "action": self.action, "url": self.url}
        if self.number is not None:
            data["number"] = self.number
        if self.error:
            data["error"] = self.error
        return data


def marker(fp: str) -> str:
    return f"<!-- {MARKER}: {fp} -->"


def _markers(body: str | None) -> list[str]:
    import re

    return re.findall(rf"<!-- {MARKER}: ([0-9a-f]{{24}}) -->", body or "")


def _short(sha: str | None) -> str:
    return sha or "-"


def drift_table(findings: Sequence[Finding]) -> str:
    return markdown.md_table(
        ["recipe", "version", "URL", "expected", "actual", "first seen"],
        [[f.recipe, f.version, f.url, _short(f.expected), _short(f.actual), f.first_seen or "-"] for f in findings],
    )


def issue_title(first: Finding) -> str:
    return f"Checksum drift: {first.recipe} {first.version} ({(first.actual or '')[:12]})"


def issue_body(group: Sequence[Finding], *, at: str, run_url: str) -> str:
    first = group[0]
    accept = " \\\n  ".join(
        f"batchops drift accept {first.recipe} {first.version} --url {shlex.quote(f.url)} --sha256 {f.actual} --reason \"<why this re-publication is benign>\""
        for f in group
    )
    stop = f'batchops stop --reason "checksum drift: {first.recipe} {first.version}" --incident-url <URL of this issue>'
    detected = f"Detected {at}" + (f" by [this run]({run_url})" if run_url else "") + "."
    return "\n".join(
        [
            marker(group[0].fingerprint),
            f"## Checksum drift: `{first.recipe}` {first.version}",
            "",
            f"The checksum file that upstream serves for **{first.recipe} {first.version}** no longer has the bytes "
            "batchops recorded when it first saw this version. The same version must always have the same bytes: "
            "this is how a compromised or silently re-published release shows.",
            "",
            drift_table(group),
            "### Next steps (runbook)",
            "",
            f"1. **Do not install** {first.recipe} {first.version} anywhere, and do not merge batches that ship it, until this is resolved.",
            "2. Compare with upstream: the release notes or announcement, the release's signatures "
            "(GPG/minisign/cosign/provenance) and the checksum file on another mirror. Ask upstream whether they re-published.",
            "3. If it is a **benign re-publication** (confirmed by upstream), accept the new checksum; the command records an audit entry in the baseline:",
            "",
            "   ```sh",
            "   " + accept.replace("\n", "\n   "),
            "   ```",
            "",
            "   Commit the baseline (persist-with-retry does it in CI), then close this issue.",
            "4. **Otherwise** treat it as an incident: stop the pipeline and roll back the batch that shipped the recipe:",
            "",
            "   ```sh",
            f"   {stop}",
            "   ```",
            "",
            "   then run the rollback action (`actions/rollback`) with the `batch-id` of the batch that merged it.",
            "",
            detected + " A later run that finds the same drift comments here instead of opening another issue.",
        ]
    )


def comment_body(group: Sequence[Finding], *, at: str, run_url: str) -> str:
    where = f" ([run]({run_url}))" if run_url else ""
    return f"Still drifting at {at}{where}: upstream serves the same changed bytes.\n\n" + drift_table(group)


def _run_url() -> str:
    server = os.environ.get("GITHUB_SERVER_URL", "")
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    run_id = os.environ.get("GITHUB_RUN_ID", "")
    return f"{server}/{repo}/actions/runs/{run_id}" if server and repo and run_id else ""


_LABEL_COLORS = {"security": "d73a4a"}


def raise_issues(
    drifts: Sequence[Finding],
    *,
    token: str,
    api_url: str,
    repository: str,
    labels: Sequence[str],
    at: str,
    timeout: float,
) -> list[IssueResult]:
    """One issue per fingerprint; an open issue with the same marker gets a comment instead."""
    from github import GithubException

    groups: dict[str, list[Finding]] = {}
    for finding in drifts:
        groups.setdefault(finding.fingerprint, []).append(finding)
    gh = github_client(token, api_url, timeout)
    run_url = _run_url()
    results: list[IssueResult] = []
    try:
        repo = gh.get_repo(repository)
        _ensure_labels(repo, labels)
        open_issues: dict[str, Any] = {}
        for issue in repo.get_issues(state="open", labels=list(labels)) if labels else repo.get_issues(state="open"):
            for fp in _markers(issue.body):
                open_issues.setdefault(fp, issue)
        for fp in groups:
            if fp in open_issues:
                continue
            for hit in gh.search_issues(f'"{fp}"', repo=repository, type="issue", state="open", **{"in": "body"}):
                if fp in _markers(hit.body) and hit.state == "open":
                    open_issues[fp] = repo.get_issue(hit.number)
                    break
    except GithubException as exc:
        return [IssueResult(fp, "failed", error=f"GitHub API error {exc.status} while looking for open drift issues") for fp in groups]
    except Exception as exc:
        return [IssueResult(fp, "failed", error=f"GitHub API unreachable: {exc.__class__.__name__}") for fp in groups]
    for fp, group in groups.items():
        try:
            existing = open_issues.get(fp)
            if existing is not None:
                existing.create_comment(comment_body(group, at=at, run_url=run_url))
                results.append(IssueResult(fp, "commented", existing.html_url, existing.number))
            else:
                issue = repo.create_issue(title=issue_title(group[0]), body=issue_body(group, at=at, run_url=run_url), labels=list(labels))
                results.append(IssueResult(fp, "created", issue.html_url, issue.number))
        except GithubException as exc:
            results.append(IssueResult(fp, "failed", error=f"GitHub API error {exc.status}"))
        except Exception as exc:
            results.append(IssueResult(fp, "failed", error=f"GitHub API unreachable: {exc.__class__.__name__}"))
    return results


def _ensure_labels(repo: Any, labels: Sequence[str]) -> None:
    from github import GithubException

    if not labels:
        return
    existing = {label.name.lower() for label in repo.get_labels()}
    for name in labels:
        if name.lower() in existing:
            continue
        try:
            repo.create_label(name, _LABEL_COLORS.get(name.lower(), "fbca04"), "Opened by batchops drift-monitor")
        except GithubException as exc:
            if exc.status != 422:  # 422: created meanwhile
                runner.warning(f"could not create the label {name!r} (GitHub {exc.status}); the issue is opened without creating it first")


# --- the step ----------------------------------------------------------------------------


def load_baseline(path: str | Path) -> dict[str, Any]:
    if not Path(path).exists():
        return empty_baseline()
    return controlfile.load(path, schema_name="drift-baseline")


def _default_report() -> str:
    temp = os.environ.get("RUNNER_TEMP")
    return str(Path(temp) / "batchops" / "drift-report.json") if temp else "drift-report.json"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "recipes-dir", "folder of recipe .toml files (searched recursively)", default=DEFAULT_RECIPES_DIR)
    add_input(parser, "baseline-file", "checksum baseline (JSON, committed; created on first run)", default=DEFAULT_BASELINE)
    add_input(parser, "since", "only recipes whose file changed in git within this duration (24h, 7d); empty: every recipe", default="")
    add_input(parser, "grace-period", "releases younger than this never alarm: a changed checksum is 'pending' and the baseline follows (0 disables)", default=DEFAULT_GRACE)
    add_input(parser, "github-token", "token for the GitHub API (release lookups, issues); empty: report only, no issue")
    add_input(parser, "labels", "labels of the drift issue (created when missing)", default=DEFAULT_LABELS)
    add_input(parser, "fail-on-drift", "exit non-zero when drift is found", default="false")
    add_input(parser, "platforms", "os/arch platforms whose checksum URLs are checked", default="linux/amd64")
    add_input(parser, "report-file", "where the JSON report is written (default: $RUNNER_TEMP/batchops/drift-report.json, else ./drift-report.json)")
    add_input(parser, "concurrency", "parallel downloads", default=str(DEFAULT_CONCURRENCY))
    add_input(parser, "timeout", "seconds per request (connect and read)", default=str(int(DEFAULT_TIMEOUT)))
    add_input(parser, "nodejs-dist-url", "base URL of the Node.js dist index (also BATCHOPS_NODEJS_DIST_URL)", default="")
    add_now(parser)


@dataclass
class RunConfig:
    recipes_dir: str
    baseline_file: str
    since: str = ""
    grace: str = DEFAULT_GRACE
    token: str = ""
    labels: list[str] = field(default_factory=lambda: DEFAULT_LABELS.split(","))
    platforms: list[recipes.Platform] = field(default_factory=lambda: recipes.parse_platforms(""))
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    api_url: str = DEFAULT_GITHUB_API
    nodejs_url: str = DEFAULT_NODEJS_DIST
    repository: str = ""


@dataclass
class RunResult:
    findings: list[Finding]
    issues: list[IssueResult]
    recipes_read: int
    checked: int
    issues_enabled: bool

    def count(self, status: str) -> int:
        return sum(1 for f in self.findings if f.status == status)


def monitor(config: RunConfig, now: datetime) -> RunResult:
    """Everything but the runner I/O: select, resolve, fetch, classify, record, raise issues."""
    at = timeutil.iso(now)
    grace = timeutil.parse_duration(config.grace, field="grace-period")
    baseline = load_baseline(config.baseline_file)
    only = changed_recipes(config.recipes_dir, timeutil.parse_duration(config.since, field="since"), now) if config.since else None
    findings: list[Finding] = []
    checks: list[Check] = []
    recipes_read = 0
    fetcher = Fetcher(workers=config.concurrency, timeout=config.timeout)
    resolver = Resolver(token=config.token, api_url=config.api_url, nodejs_url=config.nodejs_url, timeout=config.timeout, fetcher=fetcher)
    downloads: dict[str, Future[FetchResult]] = {}
    # Recipes are read first (reading them while downloading only adds GIL
    # contention); then pinned versions start downloading at once while the
    # GitHub lookups are in flight, and each resolved recipe follows.
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="drift-fetch") as pool:

        def start(recipe: recipes.Recipe, resolved: Resolved | Unresolvable) -> None:
            planned, early = plan([recipe], {recipe.name: resolved}, config.platforms)
            findings.extend(early)
            checks.extend(planned)
            for check in planned:
                if check.target.url not in downloads:
                    downloads[check.target.url] = pool.submit(fetcher.fetch, check.target.url)

        waiting: list[tuple[recipes.Recipe, Future[Resolved | Unresolvable]]] = []
        try:
            for item in list(recipes.iter_dir(config.recipes_dir, only=only)):
                recipes_read += 1
                if isinstance(item, recipes.RecipeError):
                    findings.append(Finding(Path(str(item.file)).stem, _relative(item.file, config.recipes_dir), "unverifiable", reason=f"cannot read the recipe: {item.message}"))
                    runner.warning(item.render(), title="drift-monitor: recipe skipped", file=item.file, line=item.line)
                    continue
                if not any(recipes.steps_for(item, p) for p in config.platforms):
                    start(item, Unresolvable("not needed"))  # plan() reports it as skipped
                    continue
                version = resolver.submit(item)
                if version.done():
                    start(item, version.result())
                else:
                    waiting.append((item, version))
            for item, version in waiting:
                start(item, version.result())
            results = {url: future.result() for url, future in downloads.items()}
        finally:
            resolver.close()
            fetcher.close()
    classified, entries = classify(checks, results, baseline, now=now, grace=grace)
    findings += classified
    if entries:
        controlfile.mutate(
            config.baseline_file,
            "drift.record",
            {"at": at, "entries": entries},
            at=at,
            schema_name="drift-baseline",
            document=None if Path(config.baseline_file).exists() else empty_baseline(),
        )
    drifts = [f for f in findings if f.status == "drift"]
    issues: list[IssueResult] = []
    issues_enabled = bool(config.token)
    if drifts and issues_enabled:
        if not config.repository:
            issues = [IssueResult(fp, "failed", error="GITHUB_REPOSITORY is not set: no repository to open the issue in") for fp in dict.fromkeys(f.fingerprint for f in drifts)]
        else:
            issues = raise_issues(drifts, token=config.token, api_url=config.api_url, repository=config.repository, labels=config.labels, at=at, timeout=config.timeout)
        by_fp = {i.fingerprint: i.url for i in issues if i.url}
        for finding in drifts:
            finding.issue_url = by_fp.get(finding.fingerprint, "")
    order = {status: n for n, status in enumerate(("drift", "unverifiable", "pending", "new", "skipped", "ok"))}
    findings.sort(key=lambda f: (order[f.status], f.recipe, f.version, f.url))
    return RunResult(findings, issues, recipes_read, len(checks), issues_enabled)


def _relative(path: str | None, folder: str) -> str:
    if not path:
        return ""
    try:
        return Path(path).relative_to(folder).as_posix()
    except ValueError:
        return str(path)


def build_report(result: RunResult, config: RunConfig, at: str) -> dict[str, Any]:
    counts = {"recipes": result.recipes_read, "checked": result.checked}
    counts.update({status: result.count(status) for status in STATUSES})
    return {
        "generated_at": at,
        "recipes_dir": config.recipes_dir,
        "baseline_file": config.baseline_file,
        "platforms": [str(p) for p in config.platforms],
        "grace_period": config.grace.strip(),
        "since": config.since.strip(),
        "counts": counts,
        "drift": result.count("drift") > 0,
        "issues_enabled": result.issues_enabled,
        "findings": [f.to_json() for f in result.findings],
        "issues": [i.to_json() for i in result.issues],
    }


_ICONS = {"ok": "✅", "new": "🆕", "pending": "⏳", "drift": "🚨", "unverifiable": "❔", "skipped": "➖"}


def _summary(result: RunResult, report: dict[str, Any], report_file: str) -> str:
    counts = report["counts"]
    head = "### 🚨 drift-monitor: checksum drift found" if report["drift"] else "### drift-monitor: no drift"
    lines = [
        head,
        "",
        markdown.md_table(
            ["recipes", "checksum files", "ok", "new", "pending", "drift", "unverifiable", "skipped"],
            [[counts["recipes"], counts["checked"], counts["ok"], counts["new"], counts["pending"], counts["drift"], counts["unverifiable"], counts["skipped"]]],
        ),
    ]
    rows = [f for f in result.findings if f.status not in ("ok", "skipped")]
    if rows:
        shown = rows[:SUMMARY_ROWS]
        lines.append(
            markdown.md_table(
                ["", "recipe", "version", "URL", "expected", "actual", "first seen", "note"],
                [[_ICONS[f.status] + " " + f.status, f.recipe, f.version or "-", f.url or "-", (f.expected or "-")[:16], (f.actual or "-")[:16], f.first_seen or "-", f.issue_url or f.reason] for f in shown],
            )
        )
        if len(rows) > len(shown):
            lines.append(f"… and {len(rows) - len(shown)} more rows in the report file.")
    for issue in result.issues:
        text = {"created": "opened", "commented": "commented on", "failed": "could not open or update"}[issue.action]
        lines.append(f"- {text} the drift issue {markdown.md_escape(issue.url or issue.fingerprint)}" + (f": {markdown.md_escape(issue.error)}" if issue.error else ""))
    if report["drift"] and not result.issues_enabled:
        lines.append("- ⚠️ no github-token: report only, no issue was opened.")
    lines.append(f"\nReport: `{markdown.md_escape(report_file)}`")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    token = (args.github_token or "").strip()
    runner.mask(token)
    now = clock(args)
    at = timeutil.iso(now)
    grace_text = str(args.grace_period or "0").strip()
    timeutil.parse_duration(grace_text, field="grace-period")
    since_text = str(args.since or "").strip()
    if since_text:
        timeutil.parse_duration(since_text, field="since")
    config = RunConfig(
        recipes_dir=str(args.recipes_dir),
        baseline_file=str(args.baseline_file),
        since=since_text,
        grace=grace_text,
        token=token,
        labels=parse_list(args.labels, field="labels"),
        platforms=recipes.parse_platforms(args.platforms),
        concurrency=parse_int(args.concurrency, field="concurrency", minimum=1),
        timeout=parse_float(args.timeout, field="timeout", minimum=0.1),
        api_url=os.environ.get("GITHUB_API_URL") or DEFAULT_GITHUB_API,
        nodejs_url=(args.nodejs_dist_url or os.environ.get("BATCHOPS_NODEJS_DIST_URL") or DEFAULT_NODEJS_DIST),
        repository=os.environ.get("GITHUB_REPOSITORY", ""),
    )
    fail_on_drift = parse_bool(args.fail_on_drift, field="fail-on-drift")
    report_file = args.report_file or _default_report()
    result = monitor(config, now)
    report = build_report(result, config, at)
    schema.validate(report, "drift-report", file=report_file)
    files.write_atomic(report_file, control.dumps(report))
    issue_urls = list(dict.fromkeys(i.url for i in result.issues if i.url))
    runner.set_outputs(
        {
            "drift": report["drift"],
            "drifted-count": report["counts"]["drift"],
            "unverifiable-count": report["counts"]["unverifiable"],
            "pending-count": report["counts"]["pending"],
            "report-file": report_file,
            "baseline-file": config.baseline_file,
            "issue-url": "\n".join(issue_urls),
        }
    )
    _log(result)
    runner.summary(_summary(result, report, report_file))
    failed = [i for i in result.issues if i.action == "failed"]
    for finding in result.findings:
        if finding.status == "drift":
            annotate = runner.error if fail_on_drift else runner.warning
            annotate(f"checksum drift: {finding.recipe} {finding.version}: {finding.url} now has sha256 {finding.actual}, recorded {finding.expected}", title="drift-monitor")
    if report["drift"] and not result.issues_enabled:
        runner.warning("checksum drift found but no github-token was given: report only, no issue was opened", title="drift-monitor")
    if report["counts"]["unverifiable"]:
        runner.notice(f"{report['counts']['unverifiable']} checksum file(s) or recipe(s) could not be verified; see the step summary", title="drift-monitor")
    if failed:
        runner.error(
            f"checksum drift found but {len(failed)} issue(s) could not be opened or updated: {failed[0].error}",
            title="drift-monitor",
        )
        return 1
    if report["drift"] and fail_on_drift:
        return 1
    return 0


def _log(result: RunResult) -> None:
    with runner.group("drift-monitor findings"):
        for finding in result.findings:
            if finding.status == "ok":
                continue
            where = f"{finding.recipe} {finding.version}".strip()
            runner.log_untrusted(f"{finding.status:<12} {where} {finding.url} {finding.reason}".rstrip())
        runner.log(f"{sum(1 for f in result.findings if f.status == 'ok')} checksum file(s) unchanged")


MONITOR = Command(
    help="re-fetch upstream checksum files, compare with the baseline, open one issue per drift",
    configure=_configure,
    run=_run,
)


# --- batchops drift accept ---------------------------------------------------------------


def _configure_drift(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="accept")
    accept = sub.add_parser("accept", help="accept a benign re-publication: set the baseline checksum, with an audit entry")
    accept.add_argument("recipe", help="recipe name")
    accept.add_argument("version", help="version whose checksum changed")
    accept.add_argument("--reason", required=True, help="why the new bytes are benign (kept in the audit entry)")
    accept.add_argument("--sha256", default=None, help="the checksum to accept (from the drift issue); default: fetch the URL now")
    accept.add_argument("--url", default=None, help="the checksum URL (needed when the version has several)")
    add_input(accept, "baseline-file", "checksum baseline", default=DEFAULT_BASELINE)
    accept.add_argument("--timeout", default=str(int(DEFAULT_TIMEOUT)), help="seconds per request when fetching")
    add_now(accept)


def _run_drift(args: argparse.Namespace) -> int:
    return _accept_command(args)


def _accept_command(args: argparse.Namespace) -> int:
    import re

    reason = (args.reason or "").strip()
    if not reason:
        raise UsageError("is empty", field="--reason", hint='say why the new bytes are benign, e.g. --reason "upstream rebuilt the archive, see <link>"')
    sha = (args.sha256 or "").strip().lower() or None
    if sha and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise UsageError(f"{args.sha256!r} is not a SHA-256", field="--sha256", hint="copy the 64 hex digits of the 'actual' column of the drift issue")
    path = args.baseline_file
    if not Path(path).exists():
        raise BatchopsError("file not found", file=path, hint="run drift-monitor first, or pass --baseline-file with the baseline's path")
    baseline = load_baseline(path)
    known = baseline["recipes"].get(args.recipe, {}).get(args.version, {})
    urls = [args.url] if args.url else list(known)
    if args.url and args.url not in known and not sha:
        raise UsageError(f"{args.url} is not recorded for {args.recipe} {args.version}", field="--url", hint="pass --sha256 too, or one of: " + (", ".join(known) or "(none recorded)"))
    if not urls:
        versions = ", ".join(baseline["recipes"].get(args.recipe, {})) or "none"
        raise UsageError(
            f"{args.recipe} {args.version} is not in the baseline",
            file=path,
            hint=f"check the recipe and version (recorded versions of {args.recipe}: {versions}), or pass --url and --sha256",
        )
    if sha and len(urls) > 1:
        raise UsageError(f"{args.recipe} {args.version} has {len(urls)} checksum URLs", field="--url", hint="add --url with one of: " + ", ".join(urls))
    if sha:
        wanted = {urls[0]: sha}
    else:
        fetcher = Fetcher(timeout=parse_float(args.timeout, field="--timeout", minimum=0.1))
        try:
            fetched = fetcher.fetch_all(urls)
        finally:
            fetcher.close()
        broken = [r for r in fetched.values() if r.error]
        if broken:
            raise BatchopsError(
                f"cannot fetch {broken[0].url}: {broken[0].error}",
                hint="retry later, or pass --url and --sha256 copied from the drift issue",
            )
        wanted = {url: r.sha256 for url, r in fetched.items() if r.sha256 and r.sha256 != known.get(url, {}).get("sha256")}
        if not wanted:
            runner.log(f"nothing to accept: upstream serves the recorded bytes for every checksum URL of {args.recipe} {args.version}")
            runner.set_outputs({"accepted": 0})
            return 0
    now = clock(args)
    at = timeutil.iso(now)
    who = gitcmd.actor()
    rows = []
    for url, new_sha in wanted.items():
        _, result = controlfile.mutate(
            path,
            "drift.accept",
            {"recipe": args.recipe, "version": args.version, "url": url, "sha256": new_sha, "reason": reason, "actor": who, "at": at},
            at=at,
            schema_name="drift-baseline",
            actor=who,
        )
        rows.append([args.recipe, args.version, url, result["from"] or "-", new_sha])
        runner.log_untrusted(f"accepted {args.recipe} {args.version} {url}: {result['from'] or '-'} -> {new_sha} (reason: {reason})")
    runner.set_outputs({"accepted": len(rows)})
    runner.summary(
        "### drift accept\n\n"
        + markdown.md_table(["recipe", "version", "URL", "from", "to"], rows)
        + f"\nReason: {markdown.md_escape(reason)} (by {markdown.md_escape(who)}). Commit {path} and close the drift issue."
    )
    runner.log(f"commit {path} (audit: drift-accept {args.recipe} {args.version}) and close the drift issue")
    return 0


DRIFT = Command(
    help="operate on the checksum baseline: `batchops drift accept RECIPE VERSION --reason ...`",
    configure=_configure_drift,
    run=_run_drift,
)


__all__ = [
    "DRIFT",
    "MONITOR",
    "Fetcher",
    "Finding",
    "Resolver",
    "changed_recipes",
    "classify",
    "fingerprint",
    "monitor",
]


"""Drift rules (pure): the baseline operations, classification, fingerprints, and which issue gets which drift.

- the baseline operations ``drift.record`` and ``drift.accept``, re-applicable by
  persist-with-retry on another job's baseline (a recorded checksum is never overwritten
  by ``drift.record``);
- :func:`plan`: which checksum URLs a set of recipes needs fetched, and what needs no fetch
  (``skipped``: no checksum step for the platforms; ``unverifiable``: no version);
- :func:`classify`: what the fetched bytes mean against the baseline: ``new`` (first
  sight, recorded), ``ok`` (same bytes), ``pending`` (changed while the release is younger
  than the grace period: the baseline follows, with an audit entry), ``drift`` (changed for
  an older release), ``unverifiable`` (the download failed, was cut short or is too large:
  never drift and never ok);
- :func:`fingerprint` (recipe, version, new checksum) and the issue markers;
- :func:`plan_issues`: reconciliation with the open issues: a drift whose fingerprint an
  open issue carries gets a comment there; the others get one issue each, or, past
  ``GROUP_THRESHOLD`` new fingerprints in one run, grouped issues of up to ``GROUP_SIZE``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from batchops.core import recipes, timeutil

STATUSES = ("ok", "new", "pending", "drift", "unverifiable", "skipped")
ORDER = ("drift", "unverifiable", "pending", "new", "skipped", "ok")  # most urgent first
MARKER = "batchops-drift"
GROUP_THRESHOLD = 10  # more new drift fingerprints than this in one run: grouped issues instead of one each
GROUP_SIZE = 100  # fingerprints per grouped issue (keeps the body under GitHub's 65,536 characters)


def empty_baseline() -> dict[str, Any]:
    return {"version": 1, "recipes": {}}


# --- operations on the baseline ----------------------------------------------------------


def _entry(doc: dict[str, Any], recipe: str, version: str, url: str) -> dict[str, Any] | None:
    return doc.get("recipes", {}).get(recipe, {}).get(version, {}).get(url)


def _put(doc: dict[str, Any], recipe: str, version: str, url: str, entry: dict[str, Any]) -> None:
    doc.setdefault("version", 1)
    doc.setdefault("recipes", {}).setdefault(recipe, {}).setdefault(version, {})[url] = entry


def _later(a: str, b: str) -> str:
    return a if timeutil.parse_iso(a) >= timeutil.parse_iso(b) else b


def record_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Record what one monitor run saw. Re-applicable on another job's baseline.

    ``entries``: ``{recipe, version, url, sha256, kind}`` with kind ``new``
    (first sight), ``verified`` (same bytes) or ``grace`` (bytes changed while
    the release was younger than the grace period; ``previous`` is the sha256
    it replaces). A recorded checksum is never overwritten by a different one
    here: such an entry is skipped (the next run reports it).
    """
    at = args["at"]
    doc.setdefault("version", 1)
    doc.setdefault("recipes", {})
    applied = skipped = 0
    for item in args.get("entries", []):
        recipe, version, url, sha = item["recipe"], item["version"], item["url"], item["sha256"]
        entry = _entry(doc, recipe, version, url)
        if entry is None:
            if item["kind"] == "grace":
                skipped += 1
                continue
            _put(doc, recipe, version, url, {"sha256": sha, "first_seen": at, "last_verified": at})
            applied += 1
            continue
        if entry["sha256"] == sha:
            entry["last_verified"] = _later(entry["last_verified"], at)
            applied += 1
        elif item["kind"] == "grace" and entry["sha256"] == item.get("previous"):
            entry.setdefault("audit", []).append(
                {"action": "grace-update", "at": at, "from": entry["sha256"], "to": sha}
            )
            entry["sha256"] = sha
            entry["last_verified"] = _later(entry["last_verified"], at)
            applied += 1
        else:
            skipped += 1
    return {"applied": applied, "skipped": skipped}


def accept_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Accept ``sha256`` as the content of ``url`` for ``recipe`` ``version``, with an audit entry."""
    at = args["at"]
    entry = _entry(doc, args["recipe"], args["version"], args["url"])
    previous = entry["sha256"] if entry else None
    if entry is None:
        entry = {"sha256": args["sha256"], "first_seen": at, "last_verified": at}
        _put(doc, args["recipe"], args["version"], args["url"], entry)
    audit: dict[str, Any] = {"action": "accept", "at": at, "from": previous, "to": args["sha256"]}
    if args.get("actor"):
        audit["actor"] = args["actor"]
    audit["reason"] = args["reason"]
    entry.setdefault("audit", []).append(audit)
    entry["sha256"] = args["sha256"]
    entry["last_verified"] = _later(entry["last_verified"], at)
    return {"from": previous, "to": args["sha256"]}


# --- versions, checks, findings ----------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """The current version of a recipe and where it came from."""

    version: str
    version_tag: str
    source: str
    published_at: str = ""


@dataclass(frozen=True)
class Unresolved:
    """The version of a recipe could not be found; ``reason`` says why."""

    reason: str

    def __str__(self) -> str:
        return self.reason


class Download(Protocol):
    """What a fetch gave: a complete body's SHA-256, or the reason there is none."""

    @property
    def sha256(self) -> str | None: ...

    @property
    def error(self) -> str: ...


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
        for key in (
            "version",
            "version_tag",
            "version_source",
            "published_at",
            "url",
            "first_seen",
            "reason",
            "fingerprint",
            "issue_url",
        ):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.platforms:
            data["platforms"] = list(self.platforms)
        if self.url:
            data["expected"] = self.expected
            data["actual"] = self.actual
        return data


@dataclass(frozen=True)
class Check:
    recipe: recipes.Recipe
    resolved: Resolved
    target: recipes.ChecksumTarget


# what a Python or urllib3 exception text means, in a few words (first match wins)
_CAUSES = (
    (re.compile(r"connection refused|errno 111\b|econnrefused", re.I), "connection refused"),
    (
        re.compile(
            r"gaierror|name or service not known|nodename nor servname|temporary failure in name resolution|"
            r"name resolution|getaddrinfo|could not resolve",
            re.I,
        ),
        "host name not found (DNS)",
    ),
    (re.compile(r"timed? ?out|timeout", re.I), "timed out"),
    (re.compile(r"certificate|ssl", re.I), "TLS certificate not accepted"),
    (
        re.compile(r"connection reset|remotedisconnected|remote end closed|connection aborted|broken pipe", re.I),
        "connection closed by the server",
    ),
    (re.compile(r"network is unreachable|no route to host|errno 101\b|errno 113\b", re.I), "network unreachable"),
    (
        re.compile(
            r"failed to establish a new connection|newconnectionerror|max retries exceeded|connectionerror", re.I
        ),
        "could not connect",
    ),
)
_EXCEPTION_TEXT = re.compile(r"\b(?:[A-Z][A-Za-z0-9]*(?:Error|Exception|Timeout)|gaierror|herror)\b|\(|\[Errno|<")
SHORT_REASON = 120  # characters of a reason shown in the log and the summary; the report file keeps it whole


def short_reason(reason: str, limit: int = SHORT_REASON) -> str:
    """A finding's reason as the log and the summary show it: a few words (``connection refused``,
    ``host name not found (DNS)``, ``timed out``, ``HTTP 404 from upstream``), never a Python
    exception's text; the report file keeps the reason whole."""
    text = " ".join(reason.split())
    cut = _EXCEPTION_TEXT.search(text)
    if cut is None and len(text) <= limit:
        return text
    head = (text[: cut.start()] if cut else text).rstrip(" :-,;(")
    cause = next((words for pattern, words in _CAUSES if pattern.search(text[cut.start() :] if cut else text)), "")
    if cause and cause.lower() not in head.lower():
        head = f"{head}: {cause}" if head else cause
    elif not cause and cut is not None:
        name = re.match(r"[A-Za-z0-9]+", text[cut.start() :])
        head = f"{head}: {name.group(0)}" if name and head else (head or (name.group(0) if name else text))
    if len(head) > limit:
        head = head[: limit - 1].rstrip() + "…"
    return head


def fingerprint(recipe: str, version: str, actual: str) -> str:
    return hashlib.sha256(f"{recipe}\n{version}\n{actual}".encode()).hexdigest()[:24]


def sort_findings(findings: list[Finding]) -> None:
    rank = {status: n for n, status in enumerate(ORDER)}
    findings.sort(key=lambda f: (rank[f.status], f.recipe, f.version, f.url))


def plan(
    items: Sequence[recipes.Recipe],
    versions: Mapping[str, Resolved | Unresolved],
    platforms: Sequence[recipes.Platform],
) -> tuple[list[Check], list[Finding]]:
    """The URLs to fetch, and the findings that need no fetch (skipped, unverifiable)."""
    checks: list[Check] = []
    findings: list[Finding] = []
    wanted = ", ".join(str(p) for p in platforms)
    for recipe in items:
        if not any(recipes.steps_for(recipe, p) for p in platforms):
            findings.append(
                Finding(recipe.name, recipe.relpath, "skipped", reason=f"no step with a checksum_url for {wanted}")
            )
            continue
        resolved = versions.get(recipe.name)
        if not isinstance(resolved, Resolved):
            reason = str(resolved) if resolved else "version not resolved"
            findings.append(
                Finding(recipe.name, recipe.relpath, "unverifiable", reason=f"version unresolvable: {reason}")
            )
            continue
        try:
            targets = recipes.checksum_targets(recipe, resolved.version, resolved.version_tag, platforms)
        except ValueError as exc:
            findings.append(_unverifiable(recipe, resolved, f"checksum_url: {exc}"))
            continue
        for target in targets:
            if not _plain_url(target.url):
                findings.append(_unverifiable(recipe, resolved, UNPLAIN_URL))
                continue
            checks.append(Check(recipe, resolved, target))
    return checks, findings


UNPLAIN_URL = 'checksum_url renders to a URL with a blank, a control character or one of `<>"\\ in it: not fetched'


def _unverifiable(recipe: recipes.Recipe, resolved: Resolved, reason: str) -> Finding:
    """A finding for a recipe whose version is known but whose checksum cannot be checked."""
    return Finding(
        recipe.name,
        recipe.relpath,
        "unverifiable",
        resolved.version,
        resolved.version_tag,
        resolved.source,
        resolved.published_at,
        reason=reason,
    )


def _plain_url(url: str) -> bool:
    """One line, no blank, none of the characters that could end a Markdown code span or table cell early."""
    return (
        bool(url)
        and len(url) <= 2048
        and not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch in '`<>"\\' for ch in url)
    )


def classify(
    checks: Sequence[Check],
    results: Mapping[str, Download],
    baseline: dict[str, Any],
    *,
    now: datetime,
    grace: timedelta,
) -> tuple[list[Finding], list[dict[str, Any]]]:
    """Compare fetched checksums with the baseline. Returns findings and ``drift.record`` entries."""
    findings: list[Finding] = []
    entries: list[dict[str, Any]] = []
    for check in checks:
        recipe, resolved, target = check.recipe, check.resolved, check.target
        finding = Finding(
            recipe.name,
            recipe.relpath,
            "ok",
            resolved.version,
            resolved.version_tag,
            resolved.source,
            resolved.published_at,
            target.url,
            target.platforms,
        )
        findings.append(finding)
        result = results.get(target.url)
        entry = _entry(baseline, recipe.name, resolved.version, target.url)
        finding.expected = entry["sha256"] if entry else None
        finding.first_seen = entry["first_seen"] if entry else ""
        if result is None or result.error or not result.sha256:
            finding.status = "unverifiable"
            finding.reason = (result.error if result is not None else "") or "not fetched"
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

_MARKER_RE = re.compile(rf"<!-- {MARKER}: ([0-9a-f]{{24}}) -->")


def marker(fp: str) -> str:
    return f"<!-- {MARKER}: {fp} -->"


def markers(body: str | None) -> list[str]:
    """The fingerprints an issue body carries (a grouped issue carries several)."""
    return _MARKER_RE.findall(body or "")


def group_by_fingerprint(drifts: Iterable[Finding]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for finding in drifts:
        if finding.fingerprint:
            groups.setdefault(finding.fingerprint, []).append(finding)
    return groups


@dataclass
class IssuePlan:
    """What to do on GitHub: comment on open issues, open new ones (one list of fingerprints each)."""

    comment: dict[int, list[str]] = field(default_factory=dict)  # open issue number -> fingerprints it carries
    create: list[list[str]] = field(default_factory=list)
    grouped: bool = False

    @property
    def requests(self) -> int:
        return len(self.comment) + len(self.create)


def plan_issues(
    fingerprints: Sequence[str],
    open_issues: Mapping[str, int],
    *,
    threshold: int = GROUP_THRESHOLD,
    group_size: int = GROUP_SIZE,
) -> IssuePlan:
    """Reconcile this run's drift fingerprints with the open issues (fingerprint -> issue number).

    A fingerprint an open issue carries is commented on there (one comment per issue,
    whatever the number of its fingerprints). The rest are new: one issue each, or, when
    there are more than ``threshold`` of them, issues of up to ``group_size`` fingerprints.
    """
    result = IssuePlan()
    new: list[str] = []
    for fp in dict.fromkeys(fingerprints):
        number = open_issues.get(fp)
        if number is None:
            new.append(fp)
        else:
            result.comment.setdefault(number, []).append(fp)
    if len(new) > threshold:
        result.grouped = True
        result.create = [new[i : i + group_size] for i in range(0, len(new), group_size)]
    else:
        result.create = [[fp] for fp in new]
    return result

"""Metrics rules (pure): the payload, the idempotency key, what an answer means, the replay plan,
and the legacy batch-runs record shapes.

The payload is the production telemetry contract field by field (``docs/telemetry.md``):
each result carries ``ecosystem``; ``total_recipes`` is the number of entries in
``results`` (one per recipe and platform when platforms are listed), as
``passed + failed + skipped``. ``sampled`` and ``sample_rate`` are sent when the
results file has them; the production Worker accepts and drops them (and
``results[i].platform``), the embedded store keeps them.

An endpoint's answer is one of four kinds (:func:`answer_kind`): ``delivered``
(200/201), ``retry`` (no answer, 5xx, 408, 425, 429: worth trying again),
``rejected`` (every other 4xx: refused for good, a *dead letter*, never re-sent
unless asked) and ``redirect`` (3xx: not followed, a POST must not become a GET;
kept in the spool, the endpoint URL is wrong).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from batchops.core import timeutil
from batchops.core.retry import (
    Attempt,
    Policy,
    jitter_between,
    stop_after_delay,
    wait_exponential,
    wait_retry_after,
)
from batchops.errors import BatchopsError

KEY_VERSION = "batchops-metrics/v1"
RESULT_FIELDS = ("platform", "error_category", "error_message", "duration_seconds")
MIXED = "mixed"  # the ecosystem of a legacy batch record that names several ecosystems (or none)

# --- the payload --------------------------------------------------------------------


def build_payload(results: dict[str, Any]) -> dict[str, Any]:
    """The telemetry payload of one validated results file.

    ``total_recipes`` = number of entries (passed + failed + skipped);
    ``success_rate`` = passed / (passed + failed), 0.0 when nothing was attempted.
    """
    entries = results.get("results", [])
    ecosystem = results["ecosystem"]
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    items = []
    for entry in entries:
        counts[entry["result"]] += 1
        item = {"recipe_name": entry["recipe_name"], "ecosystem": ecosystem, "result": entry["result"]}
        for name in RESULT_FIELDS:
            if name in entry:
                item[name] = entry[name]
        items.append(item)
    attempted = counts["passed"] + counts["failed"]
    payload: dict[str, Any] = {
        "batch_id": results["batch_id"],
        "ecosystem": ecosystem,
        "started_at": timeutil.iso(timeutil.parse_iso(results["started_at"], field="started_at")),
        "completed_at": timeutil.iso(timeutil.parse_iso(results["completed_at"], field="completed_at")),
        "total_recipes": len(entries),
        **counts,
        "success_rate": round(counts["passed"] / attempted, 4) if attempted else 0.0,
        "macos_minutes": results.get("macos_minutes", 0),
        "linux_minutes": results.get("linux_minutes", 0),
        "results": items,
    }
    if "sampled" in results:
        payload["sampled"] = bool(results["sampled"])
    if "sample_rate" in results:
        payload["sample_rate"] = results["sample_rate"]
    return payload


def idempotency_key(payload: dict[str, Any]) -> str:
    """sha256 of the run's identity: batch, ecosystem, start and end (normalised to …Z)."""
    parts = [
        KEY_VERSION,
        str(payload["batch_id"]),
        str(payload["ecosystem"]),
        timeutil.iso(timeutil.parse_iso(str(payload["started_at"]), field="started_at")),
        timeutil.iso(timeutil.parse_iso(str(payload["completed_at"]), field="completed_at")),
    ]
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()


def upgrade_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """A spooled payload in today's shape: results written by an older batchops without
    ``ecosystem`` get the run's (the contract requires it). Nothing else is changed."""
    ecosystem = payload.get("ecosystem")
    results = payload.get("results")
    if not isinstance(ecosystem, str) or not isinstance(results, list):
        return payload
    upgraded = [
        ({"ecosystem": ecosystem, **item} if isinstance(item, dict) and "ecosystem" not in item else item)
        for item in results
    ]
    return {**payload, "results": upgraded}


def spool_name(payload: dict[str, Any], key: str) -> str:
    """One spool file per idempotency key: spooling the same run again replaces its file."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in f"{payload['batch_id']}-{payload['ecosystem']}")
    return f"{safe[:120]}-{key[:12]}.json"


# --- what an answer means -----------------------------------------------------------

DELIVERED, RETRY, REJECTED, REDIRECT = "delivered", "retry", "rejected", "redirect"
RETRY_STATUSES = frozenset({408, 425, 429})


def answer_kind(status: int | None) -> str:
    """``delivered``, ``retry``, ``rejected`` (a dead letter) or ``redirect``; None = no answer."""
    if status is None or status >= 500 or status in RETRY_STATUSES:
        return RETRY
    if status in (200, 201):
        return DELIVERED
    if 400 <= status < 500:
        return REJECTED
    if 300 <= status < 400:
        return REDIRECT
    return REJECTED  # 1xx and other 2xx: not the contract's answer


def is_dead_letter(status: int | None) -> bool:
    """Refused for good: every 4xx but 408, 425 and 429 (DESIGN "Metrics")."""
    return answer_kind(status) == REJECTED


CONTRACT_DOC = "docs/telemetry.md"


def hint(status: int | None, *, reason: str = "", location: str = "") -> str:
    """What to do about an answer, by status (the endpoint's reason is shown beside it)."""
    if status in (401, 403):
        return "check the repository secret passed to the `token` input (it must be the endpoint's BATCH_METRICS_TOKEN)"
    if status in (400, 422):
        return (
            f"compare the payload in the dead-letter file with the endpoint's contract ({CONTRACT_DOC}) "
            "and the reason it gave"
        )
    if status == 404:
        return (
            "check the endpoint URL: batchops posts to {endpoint}/batch-metrics, so give the service's base URL, "
            "e.g. https://telemetry.example.com"
        )
    if status == 413:
        return (
            "the payload is larger than the endpoint accepts; split the results file or raise the endpoint's body limit"
        )
    if status is not None and 300 <= status < 400:
        moved = f" (it points to {location})" if location else ""
        return f"the endpoint redirects{moved}; set the endpoint to the final URL (a POST is not re-sent to a redirect)"
    if status is None or status >= 500 or status in RETRY_STATUSES:
        return "retried until max-time; the payload is kept in the spool for `batchops metrics-replay`"
    return f"see the endpoint's contract ({CONTRACT_DOC})"


# --- retries ------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by ``max_time`` seconds in total.

    ``request_timeout`` bounds one request from connect to the last byte read (a
    server that drips bytes cannot stretch it); ``max_time`` bounds all attempts
    and the waits between them.
    """

    max_time: float = 60.0
    request_timeout: float = 10.0
    base: float = 1.0
    cap: float = 16.0
    retry_after_cap: float = 30.0

    def retrying(self, rng: random.Random) -> Policy[Any]:
        """The policy as a value: waits of base·2^(n-1), capped, times U(0.5, 1), or the far side's
        ``Retry-After`` up to ``retry_after_cap``; no wait that would end past ``max_time``."""
        return Policy(
            stop=stop_after_delay(self.max_time),
            wait=wait_retry_after(
                wait_exponential(self.base, self.cap) * jitter_between(0.5, 1.0, rng), cap=self.retry_after_cap
            ),
        )

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Wait before attempt ``attempt + 1``: base·2^(attempt-1), capped, times U(0.5, 1)."""
        return self.retrying(rng).wait(Attempt(number=attempt))

    def wait(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        return self.retrying(rng).wait(Attempt(number=attempt, retry_after=retry_after))

    def request_deadline(self, elapsed: float) -> float:
        """Seconds the next request may take: the request timeout, or what is left of max-time."""
        return max(0.1, min(self.request_timeout, self.max_time - elapsed))


@dataclass
class Delivery:
    """What became of one payload at one endpoint."""

    ok: bool
    status: int | None = None
    duplicate: bool = False
    attempts: int = 0
    error: str = ""  # one line: "HTTP 400: Bad request: results[0].ecosystem is required"
    reason: str = ""  # the endpoint's own words, one line
    honored: bool | None = None  # the endpoint said (Batchops-Idempotency: honored) it keeps one run per key
    location: str = ""
    log: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return DELIVERED if self.ok else answer_kind(self.status)

    @property
    def permanent(self) -> bool:
        return self.kind in (REJECTED, REDIRECT)


# --- the replay plan ----------------------------------------------------------------

SEND, STORE, HOLD = "send", "store", "hold"


@dataclass(frozen=True)
class ReplayItem:
    name: str
    action: str  # send (to an endpoint), store (embedded database), hold (left where it is)
    endpoint: str = ""
    with_token: bool = False
    rejected: bool = False  # a dead letter
    note: str = ""


def replay_plan(
    entries: list[tuple[str, str, bool]],
    *,
    endpoint: str,
    token_given: bool,
    retry_rejected: bool,
) -> list[ReplayItem]:
    """What metrics-replay does with each ``(name, recorded endpoint, is dead letter)``.

    The token is bound to the endpoint given on the command line: a spool file that
    names another endpoint is sent to the given one (never the token to the host a
    file names). Without a given endpoint no token is sent at all (the caller refuses
    a token without an endpoint), a file is sent, tokenless, to the endpoint it
    names, or stored in the embedded database when it names none. Dead letters are
    held unless ``retry_rejected``.
    """
    plan = []
    for name, recorded, rejected in entries:
        if rejected and not retry_rejected:
            plan.append(
                ReplayItem(
                    name,
                    HOLD,
                    rejected=True,
                    note="dead letter: refused by the endpoint; re-send with --retry-rejected",
                )
            )
            continue
        if endpoint:
            note = "recorded for another endpoint; sent to the one given" if recorded and recorded != endpoint else ""
            plan.append(ReplayItem(name, SEND, endpoint, with_token=token_given, rejected=rejected, note=note))
        elif recorded:
            plan.append(
                ReplayItem(
                    name,
                    SEND,
                    recorded,
                    with_token=False,
                    rejected=rejected,
                    note="sent without a token (no --endpoint given)",
                )
            )
        else:
            plan.append(ReplayItem(name, STORE, rejected=rejected))
    return plan


# --- legacy batch-runs records ------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """One top-level JSON value of a legacy file, or text that is not one."""

    text: str
    line: int  # where it starts (1-based)
    column: int
    error: str = ""  # set when the text is not a complete object


def split_records(text: str) -> Iterator[Chunk]:
    """The top-level objects of a legacy metrics file, whatever its layout: one object per
    line (JSONL), pretty-printed objects one after another, or both mixed.

    Objects are found by their braces (strings aware; a raw line break ends a string,
    as JSON strings cannot hold one). An object still open at the end of the text was
    cut short: it is reported up to the next line that starts with ``{``, and reading
    goes on from there, so one broken record never hides the rest. Text between objects
    that is not whitespace is reported line by line.
    """
    length = len(text)
    lines = _LineCounter(text)
    index = 0
    while index < length:
        char = text[index]
        if char in " \t\r\n\ufeff":
            index += 1
            continue
        start = index
        if char != "{":
            end = text.find("\n", index)
            end = length if end < 0 else end
            yield Chunk(text[start:end], *lines.at(start), "text that is not a JSON object")
            index = end
            continue
        end, closed = _object_end(text, start)
        if not closed:
            cut = text.find("\n{", start)
            if cut >= 0:
                end = cut + 1
        yield Chunk(
            text[start:end], *lines.at(start), "" if closed else "the object is not closed (a truncated record?)"
        )
        index = end


def _object_end(text: str, start: int) -> tuple[int, bool]:
    depth, in_string, escaped = 0, False, False
    index, length = start, len(text)
    while index < length:
        char = text[index]
        index += 1
        if in_string:
            if char == "\n":
                in_string = escaped = False
            elif escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index, True
    return length, False


class _LineCounter:
    """Line and column of positions visited in increasing order (linear overall)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line, self.line_start = text, 0, 1, 0

    def at(self, position: int) -> tuple[int, int]:
        newlines = self.text.count("\n", self.pos, position)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", self.pos, position) + 1
        self.pos = position
        return self.line, position - self.line_start + 1


def record_ecosystem(record: dict[str, Any]) -> tuple[str, dict[str, int] | None]:
    """The ecosystem a legacy record is stored under, and its ``ecosystems`` map if any.

    Old records name one ``ecosystem``. Newer ones carry ``ecosystems``, a map of
    ecosystem -> recipes generated: one entry is that ecosystem; several (a
    multi-ecosystem batch) or none is :data:`MIXED`, because the record's pass/fail
    counts are per platform and cannot be split by ecosystem.
    """
    if isinstance(record.get("ecosystem"), str) and record["ecosystem"]:
        return record["ecosystem"], None
    counts = record.get("ecosystems") or {}
    names = sorted(counts)
    if len(names) == 1:
        return names[0], dict(counts)
    return MIXED, dict(counts)


def legacy_payload(record: dict[str, Any]) -> dict[str, Any]:
    """Map one validated legacy batch-runs record to a payload (see docs/migration.md)."""
    completed = timeutil.parse_iso(record["timestamp"], field="timestamp")
    started = completed - timedelta(seconds=float(record.get("duration_seconds", 0) or 0))
    platforms = record.get("platforms", {})
    passed = sum(int(p.get("passed", 0)) for p in platforms.values())
    failed = sum(int(p.get("failed", 0)) for p in platforms.values())
    skipped = sum(
        max(0, int(p.get("tested", 0)) - int(p.get("passed", 0)) - int(p.get("failed", 0))) for p in platforms.values()
    )
    attempted = passed + failed
    ecosystem, _ = record_ecosystem(record)
    return {
        "batch_id": record["batch_id"],
        "ecosystem": ecosystem,
        "started_at": timeutil.iso(started),
        "completed_at": timeutil.iso(completed),
        "total_recipes": int(record.get("total", 0)),
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "success_rate": round(passed / attempted, 4) if attempted else 0.0,
        "macos_minutes": 0,
        "linux_minutes": 0,
        "results": [],
    }


@dataclass
class ImportedRecord:
    file: str
    line: int
    payload: dict[str, Any] | None = None
    ecosystems: dict[str, int] | None = None
    error: str = ""


def read_records(
    text: str,
    file: str,
    parse: Callable[[str, str], Any],
    problems: Callable[[Any], list[tuple[str, str, str]]],
) -> list[ImportedRecord]:
    """Every record of one legacy file: a payload, or an error with its line.

    ``parse(text, name)`` is the strict JSON reader (raises :class:`BatchopsError`);
    ``problems(document)`` lists schema violations as ``(pointer, message, hint)``.
    """
    found = []
    for chunk in split_records(text):
        if chunk.error:
            found.append(ImportedRecord(file, chunk.line, error=f"{chunk.error} (column {chunk.column})"))
            continue
        try:
            document = parse(chunk.text, file)
        except BatchopsError as exc:
            line = chunk.line + (exc.line - 1 if exc.line else 0)
            found.append(ImportedRecord(file, line, error=exc.message))
            continue
        violations = problems(document)
        if violations:
            pointer, message, fix = violations[0]
            found.append(ImportedRecord(file, chunk.line, error=f"{pointer or '/'}: {message} (fix: {fix})"))
            continue
        try:
            payload = legacy_payload(document)
        except BatchopsError as exc:
            found.append(ImportedRecord(file, chunk.line, error=exc.message))
            continue
        found.append(ImportedRecord(file, chunk.line, payload, record_ecosystem(document)[1]))
    return found


def runs_window(
    runs: list[dict[str, Any]], *, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Runs completed in ``(since, until]``, ordered by completion (a run without ``completed_at`` by its start)."""
    kept = []
    for run in runs:
        when = timeutil.parse_iso_or_none(run.get("completed_at") or run.get("started_at"))
        if when is None:
            continue
        if since is not None and when <= since:
            continue
        if until is not None and when > until:
            continue
        kept.append((when, int(run.get("id") or 0), run))
    return [run for _, _, run in sorted(kept, key=lambda item: (item[0], item[1]))]

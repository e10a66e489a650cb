"""The control file's rules: its legacy defaults and the operator operations (pure).

The format is the legacy ``batch-control.json``: every file the old scripts wrote
loads as it is. Key order and unknown keys are kept on write. Each change goes
through :func:`mutate`, which validates before and after, writes through a temp
file and a rename, and records the operation in the job's journal.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from batchops.core import escape

DEFAULT_FILE = "batch-control.json"

# Defaults of the legacy top-level fields, used when a field is absent.
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "disabled_ecosystems": [],
    "reason": "",
    "incident_url": "",
    "disabled_by": "",
    "disabled_at": "",
    "expected_resume": "",
    "circuit_breaker": {},
    "budget": {},
}


def new_document() -> dict[str, Any]:
    """A new control file in the legacy layout (every legacy field, at its default)."""
    document = copy.deepcopy(DEFAULTS)
    document["budget"] = {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": False}
    return document


TEMPLATE = json.dumps(new_document())


def get(document: dict[str, Any], key: str) -> Any:
    return document.get(key, copy.deepcopy(DEFAULTS.get(key)))


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- operator operations ------------------------------------------------------------


def stop_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Stop the pipeline. A second stop keeps the first incident's reason, actor and time
    (``replace_reason: false``, what ``batchops stop`` sends unless ``--replace-reason``) and
    only updates the incident link and expected resume it is given. Journal entries without
    ``replace_reason`` replace, as every stop did before."""
    if not get(doc, "enabled") and doc.get("reason") and not args.get("replace_reason", True):
        for key in ("incident_url", "expected_resume"):
            if args.get(key):
                doc[key] = args[key]
        return {"enabled": False, "kept_reason": True}
    doc["enabled"] = False
    doc["reason"] = args["reason"]
    doc["incident_url"] = args.get("incident_url", "")
    doc["expected_resume"] = args.get("expected_resume", "")
    doc["disabled_by"] = args.get("disabled_by", "")
    doc["disabled_at"] = args["at"]
    return {"enabled": False}


def resume_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    doc["enabled"] = True
    for key in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume"):
        if key in doc or key in DEFAULTS:
            doc[key] = ""
    return {"enabled": True}


def disable_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystems = doc.setdefault("disabled_ecosystems", [])
    changed = args["ecosystem"] not in ecosystems
    if changed:
        ecosystems.append(args["ecosystem"])
    return {"changed": changed}


def enable_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystems = doc.setdefault("disabled_ecosystems", [])
    changed = args["ecosystem"] in ecosystems
    doc["disabled_ecosystems"] = [e for e in ecosystems if e != args["ecosystem"]]
    return {"changed": changed}


# --- no-ops, safe text and the audited commit message (pure) ----------------------------


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every absent legacy field at its default (what readers see)."""
    full = copy.deepcopy(DEFAULTS)
    full.update(copy.deepcopy(document))
    return full


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Top-level fields whose value differs, absent legacy fields counting as their default."""
    old, new = normalised(before), normalised(after)
    return [key for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)]


# Characters that would break one line of a log, a table or a commit message:
# control characters and everything str.splitlines() splits on.
_BREAKING = {chr(c) for c in range(0x20)} | {"\x7f", "\x85", "\u2028", "\u2029"}


def check_text(value: str, field: str, *, example: str) -> str:
    """One line of operator text: no line break or control character (so a reason can never
    forge a commit trailer or a log line); surrounding blanks trimmed."""
    from batchops.errors import UsageError

    text = value or ""
    if any(ch in _BREAKING for ch in text):
        raise UsageError(
            "must be a single line without control characters",
            field=field,
            hint=(
                f"write it on one line, e.g. {field} {example}; "
                "put the details in the incident and link it with --incident-url"
            ),
        )
    return text.strip()


_STEP_TITLES = {
    "breaker.gate": "breaker-gate {ecosystem}: the gate's decision (grants the half-open probe)",
    "breaker.record": "breaker-update {ecosystem}: record {count} outcome(s)",
    "budget.add_minutes": "budget: add {macos} macOS and {linux} Linux minute(s)",
    "drift.record": "drift-monitor: update the checksum baseline",
    "drift.accept": "drift: accept a re-published checksum",
}


def describe(entry: dict[str, Any]) -> tuple[str, list[str]]:
    """What a journaled operation does, in words: (title, body lines)."""
    args = entry.get("args") or {}
    audit: dict[str, Any] = args["audit"] if isinstance(args.get("audit"), dict) else {}
    title = audit.get("title")
    if not title:
        template = _STEP_TITLES.get(str(entry.get("op")), str(entry.get("op")))
        fields = {
            "ecosystem": args.get("ecosystem", "?"),
            "count": len(args.get("outcomes") or []),
            "macos": args.get("macos", 0),
            "linux": args.get("linux", 0),
        }
        title = template.format(**fields)
    body = [escape.one_line(line) for line in (audit.get("body") or []) if str(line).strip()]
    return escape.one_line(title), body


TRAILER_KEYS = (
    "Batchops-Operation",
    "Batchops-Operation-Id",
    "Batchops-Actor",
    "Batchops-At",
    "Batchops-Ecosystem",
    "Batchops-Reason",
)


def trailers(entry: dict[str, Any]) -> list[str]:
    args = entry.get("args") or {}
    lines = [
        f"Batchops-Operation: {escape.one_line(entry.get('op', ''))}",
        f"Batchops-Operation-Id: {escape.one_line(entry.get('id', ''))}",
    ]
    if entry.get("actor"):  # steps run in a job journal no actor: the commit's author is the job's
        lines.append(f"Batchops-Actor: {escape.one_line(entry['actor'])}")
    lines.append(f"Batchops-At: {escape.one_line(entry.get('at', ''))}")
    if args.get("ecosystem"):
        lines.append(f"Batchops-Ecosystem: {escape.one_line(args['ecosystem'])}")
    if args.get("reason"):
        lines.append(f"Batchops-Reason: {escape.one_line(args['reason'])}")
    return lines


def commit_message(entries: list[dict[str, Any]]) -> str:
    """The audited commit message of a push carrying ``entries`` (oldest first): a title that
    says what changes, a body describing every operation, and one trailer group per operation."""
    if not entries:
        return ""
    described = [describe(entry) for entry in entries]
    if len(entries) == 1:
        title, body = described[0]
        lines = [f"batchops: {title} [skip ci]", ""]
        if body:
            lines += body + [""]
    else:
        joined = "; ".join(title for title, _ in described)
        head = joined if len(joined) <= 72 else f"{len(entries)} control-plane changes"
        lines = [f"batchops: {head} [skip ci]", ""]
        for title, body in described:
            lines.append(f"- {title}")
            lines += [f"  {line}" for line in body]
        lines.append("")
    for entry in entries:
        lines += trailers(entry)
    return "\n".join(lines) + "\n"


def parse_trailers(message: str) -> list[dict[str, str]]:
    """The operations a commit message's trailer block records, one dict per
    ``Batchops-Operation`` group (keys without the ``Batchops-`` prefix, lowercase)."""
    paragraphs = [p for p in message.strip().split("\n\n") if p.strip()]
    if not paragraphs:
        return []
    groups: list[dict[str, str]] = []
    for line in paragraphs[-1].splitlines():
        key, sep, value = line.partition(": ")
        if not sep or key not in TRAILER_KEYS:
            continue
        name = key.removeprefix("Batchops-").lower()
        if name == "operation" or not groups or name in groups[-1]:
            groups.append({})
        groups[-1][name] = value.strip()
    return groups


# --- what the next batch of an ecosystem meets (pure; status computes it, changes nothing) ----


def next_batch(document: dict[str, Any], ecosystem: str, now: Any) -> dict[str, Any]:
    """What the next batch of ``ecosystem`` meets at ``now``, and why.

    ``verdict`` is ``runs``, ``probe`` (it runs as the half-open probe) or ``skipped``;
    ``until`` is when a skip ends, when known. The gate is asked on a copy: nothing changes.
    """
    from batchops.core import breaker
    from batchops.errors import BatchopsError

    entry = (document.get("circuit_breaker") or {}).get(ecosystem)
    try:
        config = breaker.config_for(document, ecosystem)
    except BatchopsError:  # an invalid breaker_config: the gate would fail closed
        return {
            "verdict": "skipped",
            "until": "",
            "why": "breaker_config is invalid: the gate fails closed (batchops validate)",
            "state": "",
        }
    state = breaker.Breaker.from_entry(entry, config)
    window = state.window
    if window.attempts:
        counted = f"{window.failures} of {window.attempts} failed ({window.failure_rate:.0%})"
    else:
        counted = "no attempt in the window"
    if state.state == breaker.OPEN and not window.attempts and state.failures and not state.opened_at:
        cause = f"opened by the legacy scripts after {state.failures} consecutive failures (no window recorded)"
    elif state.state == breaker.OPEN and not window.should_trip(config):
        # the window does not explain the red state: say so, and what can have opened it
        cause = (
            f"open since {state.opened_at or '(unknown)'}, not tripped by the window ({counted}; it trips at "
            f"{config.failure_rate_threshold:.0%} over {config.minimum_attempts}+ attempts): opened by hand "
            "(`batchops breaker open`) or by a legacy script, or the window recovered while open"
        )
    elif state.state == breaker.OPEN:
        cause = f"tripped: {counted}" + (
            f"; re-opened {state.consecutive_opens - 1} time(s), the wait doubles"
            if state.consecutive_opens > 1
            else ""
        )
    else:
        cause = ""
    answer = _gate_answer(state, config, now, counted, cause)
    held = ""
    if not get(document, "enabled"):
        held = f"the pipeline is stopped: {escape.one_line(document.get('reason') or '(no reason)')}"
    elif ecosystem in get(document, "disabled_ecosystems"):
        held = "disabled by an operator (batchops enable brings it back)"
    if held:
        return {**answer, "verdict": "skipped", "until": "", "why": f"{held}; then {answer['why']}"}
    return answer


def _gate_answer(state: Any, config: Any, now: Any, counted: str, cause: str) -> dict[str, Any]:
    from batchops.core import breaker, timeutil

    window = state.window
    base = {"state": state.state}
    _, decision = breaker.gate(state, now, config)
    if state.state == breaker.CLOSED:
        if window.attempts < config.minimum_attempts:
            why = f"closed: {counted}; cannot trip before {config.minimum_attempts} attempts"
        else:
            why = f"closed: {counted}; trips at {config.failure_rate_threshold:.0%}"
        return {**base, "verdict": "runs", "until": "", "why": why}
    if state.state == breaker.OPEN:
        if decision.skip:
            return {**base, "verdict": "skipped", "until": state.opens_at, "why": cause}
        return {
            **base,
            "verdict": "probe",
            "until": "",
            "why": f"{cause}; the wait is over: the next batch is the half-open probe",
        }
    if decision.skip:
        started = timeutil.parse_iso_or_none(state.probe_started_at)
        lost = timeutil.iso(started + config.probe_timeout) if started else ""
        return {
            **base,
            "verdict": "skipped",
            "until": lost,
            "why": f"half-open: a probe is running since {state.probe_started_at} (counted lost at {lost})",
        }
    return {**base, "verdict": "probe", "until": "", "why": "half-open, no probe out: the next batch is the probe"}


# --- times the schema lets through but no reader can use (batchops validate reports them) ----

_BREAKER_TIMES = ("last_failure", "opens_at", "opened_at", "probe_started_at")


def impossible_times(document: Any) -> list[tuple[str, str, str]]:
    """``(pointer, value, example)`` of every time field of the shape the schema takes
    that names no real instant (``2026-13-01``, ``2026-02-30T00:00:00Z``, hour 25).

    The readers would refuse ``budget.week_start`` and take an ``opens_at`` as absent
    (the probe at once), so such a file is invalid although it matches the schema.
    """
    from batchops.core import timeutil
    from batchops.errors import UsageError

    if not isinstance(document, dict):
        return []
    found: list[tuple[str, Any, str]] = []
    stamp = '2026-06-26T20:51:01Z or ""'
    found.append(("/disabled_at", document.get("disabled_at"), stamp))
    for name, entry in (document.get("circuit_breaker") or {}).items():
        if isinstance(entry, dict):
            key = str(name).replace("~", "~0").replace("/", "~1")
            found.extend((f"/circuit_breaker/{key}/{field}", entry.get(field), stamp) for field in _BREAKER_TIMES)
    budget = document.get("budget")
    if isinstance(budget, dict):
        week = '2026-11-30 or 2026-11-30T00:00:00Z, or "" for the Monday of the current week'
        found.append(("/budget/week_start", budget.get("week_start"), week))
        for index, week_entry in enumerate(budget.get("history") or []):
            if isinstance(week_entry, dict):
                found.append(
                    (
                        f"/budget/history/{index}/week_start",
                        week_entry.get("week_start"),
                        "2026-11-30 or 2026-11-30T00:00:00Z",
                    )
                )
                found.append((f"/budget/history/{index}/reset_at", week_entry.get("reset_at"), stamp))
    problems = []
    for pointer, value, example in found:
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            timeutil.parse_iso(value)
        except UsageError:
            problems.append((pointer, value, example))
    return problems

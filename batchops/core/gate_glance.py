"""breaker-gate at a glance: the read-only answer for a closed breaker, from the control file's text.

Every batch of a healthy pipeline asks the gate about a closed breaker, and the answer
changes nothing: run, state closed. This module gives that answer (outputs, log line and
step summary, the very text the full step gives) with the interpreter's C parts only
(``_json``'s scanner, ``datetime``): no argparse, no dataclasses, no schema validator, no
breaker rules, no ``re``. It is sure or it says nothing: :func:`glance` returns None for
anything it does not recognise (a file it cannot prove valid, a ``breaker_config``, a
breaker that is not closed, an entry a legacy script wrote after batchops), and the full
step (``batchops.steps.breaker_gate``) answers instead, errors included.

Its answers are held to the full step's by ``tests/contract/test_hot_path.py`` (every
control file of the first user's history, every ecosystem in it, and generated files);
what it accepts is held to the schema by the same tests. Pure: text in, text out.
"""

from __future__ import annotations

# _collections_abc is loaded with os already (collections.abc would import collections)
from _collections_abc import Callable
from _json import make_scanner
from datetime import UTC, datetime, timedelta

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
OUTCOMES = ("success", "failure")
TITLE = "batchops breaker-gate"
WINDOW_SIZE = 10  # batchops.core.breaker.BreakerConfig defaults (no breaker_config: else the full step)
PROBE_TIMEOUT = timedelta(hours=6)
MAX_DEPTH = 64  # batchops.adapters.schema: the strict reader's limits
MAX_SAFE = 2**53
MAX_NUMBER_CHARS = 40
MAX_MINUTES = 100000000
_UTC = UTC
_DIGITS = "0123456789"
_ECOSYSTEM_FIRST = "abcdefghijklmnopqrstuvwxyz0123456789"
_ECOSYSTEM_REST = _ECOSYSTEM_FIRST + "._-"
_ICONS = {CLOSED: "🟢 closed", OPEN: "🔴 open", HALF_OPEN: "🟡 half-open"}
_HEADERS = ["ecosystem", "state", "failure rate (window)", "attempts", "consecutive failures", "opens at"]


class Unsure(Exception):
    """The glance cannot answer: the full step does."""


class Answer:
    """What the gate says for a closed breaker: the log line, the outputs (in order) and the summary."""

    def __init__(self, ecosystem: str, summary: str) -> None:
        self.log = f"{ecosystem}: circuit breaker closed, the batch runs"
        self.outputs = (("skip", "false"), ("state", CLOSED), ("opens-at", ""))
        self.summary = summary


# --- the strict reader (batchops.adapters.schema.parse_json_text, or Unsure) ----------


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document = dict(pairs)
    if len(document) != len(pairs):
        raise Unsure("a duplicate key")
    return document


def _float(literal: str) -> float:
    value = float(literal)
    if len(literal) > MAX_NUMBER_CHARS or not abs(value) <= MAX_SAFE:  # NaN fails the second
        raise Unsure("a number out of range")
    return value


def _constant(literal: str) -> object:
    raise Unsure("NaN or Infinity")


class _Context:
    """What ``_json.make_scanner`` reads from a decoder."""

    strict = True
    object_hook = None
    object_pairs_hook = staticmethod(_pairs)
    parse_float = staticmethod(_float)
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict[str, str] = {}


_scan = make_scanner(_Context())  # type: ignore[arg-type]  # what json.decoder.JSONDecoder gives it
_BLANK = " \t\n\r"


def parse(text: str) -> object:
    """The JSON document of ``text``, as strictly as the full reader takes it; Unsure otherwise."""
    if "\\ud" in text or "\\uD" in text:  # a surrogate escape: the full reader checks its pairing
        raise Unsure("a surrogate escape")
    start = len(text) - len(text.lstrip(_BLANK))
    try:
        document, end = _scan(text, start)
    except Unsure:
        raise
    except Exception as exc:  # StopIteration, JSONDecodeError, RecursionError, ValueError
        raise Unsure("not JSON the glance reads") from exc
    finally:
        _Context.memo.clear()
    if text[end:].strip(_BLANK):
        raise Unsure("extra data")
    _check_numbers_and_depth(document)
    return document


def _check_numbers_and_depth(document: object) -> None:
    stack: list[tuple[object, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: list[object] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            if type(value) is int and abs(value) > MAX_SAFE:
                raise Unsure("a number out of range")
            continue
        if depth > MAX_DEPTH:
            raise Unsure("nested too deep")
        stack.extend((child, depth + 1) for child in children)


# --- what surely passes schemas/batch-control.schema.json (a subset of it) -------------


def is_ecosystem(value: object) -> bool:
    """``^[a-z0-9][a-z0-9._-]{0,63}$`` (defs.schema.json#/$defs/ecosystem)."""
    if not isinstance(value, str) or not 0 < len(value) <= 64 or value[0] not in _ECOSYSTEM_FIRST:
        return False
    return all(char in _ECOSYSTEM_REST for char in value)


def _form(value: object, shape: str) -> bool:
    """``value`` is a string of exactly ``shape``, where ``9`` is any ASCII digit."""
    if not isinstance(value, str) or len(value) != len(shape):
        return False
    return all(char in _DIGITS if want == "9" else char == want for char, want in zip(value, shape, strict=True))


def _timestamp(value: object) -> bool:
    return _form(value, "9999-99-99T99:99:99Z")


def _date(value: object) -> bool:
    return _form(value, "9999-99-99")


def _timestamp_or_empty(value: object) -> bool:
    return value == "" or _timestamp(value)


def _integer(value: object, low: int, high: int = MAX_SAFE) -> bool:
    return type(value) is int and low <= value <= high


def _number(value: object, low: float, high: float, *, above: bool = False) -> bool:
    if type(value) not in (int, float):
        return False
    number = float(value)  # type: ignore[arg-type]
    return (low < number if above else low <= number) and number <= high


def _minutes(value: object) -> bool:
    return _number(value, 0, MAX_MINUTES)


Check = Callable[[object], bool]  # noqa: UP040 - a plain alias, evaluated once


def _optional(entry: dict[str, object], checks: dict[str, Check]) -> bool:
    for key, check in checks.items():
        if key in entry and not check(entry[key]):
            return False
    return True


_BREAKER: dict[str, Check] = {
    "state": lambda v: v in (CLOSED, OPEN, HALF_OPEN) and isinstance(v, str),
    "failures": lambda v: _integer(v, 0),
    "last_failure": _timestamp_or_empty,
    "opens_at": _timestamp_or_empty,
    "window": lambda v: isinstance(v, list) and len(v) <= 1000 and all(o in OUTCOMES and isinstance(o, str) for o in v),
    "consecutive_opens": lambda v: _integer(v, 0),
    "opened_at": _timestamp_or_empty,
    "probe_started_at": _timestamp_or_empty,
}
_WEEK: dict[str, Check] = {
    "week_start": lambda v: _timestamp(v) or _date(v),
    "macos_minutes_used": _minutes,
    "linux_minutes_used": _minutes,
    "reset_at": _timestamp,
}
_BUDGET: dict[str, Check] = {
    "macos_minutes_used": _minutes,
    "linux_minutes_used": _minutes,
    "week_start": lambda v: v == "" or _timestamp(v) or _date(v),
    "sampling_active": lambda v: isinstance(v, bool),
    "macos_minutes_limit": lambda v: _number(v, 0, MAX_MINUTES, above=True),
    "linux_minutes_limit": lambda v: _number(v, 0, MAX_MINUTES, above=True),
    "sampling_percent": lambda v: _number(v, 0, 100, above=True),
    "pause_percent": lambda v: _number(v, 0, 100, above=True),
    "sample_rate_floor": lambda v: _number(v, 0, 1),
    "history_weeks": lambda v: _integer(v, 0, 52),
    "history": lambda v: (
        isinstance(v, list) and all(isinstance(w, dict) and "week_start" in w and _optional(w, _WEEK) for w in v)
    ),
}
_TOP: dict[str, Check] = {
    "enabled": lambda v: isinstance(v, bool),
    "disabled_ecosystems": lambda v: isinstance(v, list) and all(map(is_ecosystem, v)) and len(set(v)) == len(v),
    "reason": lambda v: isinstance(v, str),
    "incident_url": lambda v: isinstance(v, str),
    "disabled_by": lambda v: isinstance(v, str),
    "disabled_at": _timestamp_or_empty,
    "expected_resume": lambda v: isinstance(v, str),
    "circuit_breaker": lambda v: (
        isinstance(v, dict)
        and all(
            is_ecosystem(name) and isinstance(entry, dict) and _optional(entry, _BREAKER) for name, entry in v.items()
        )
    ),
    "budget": lambda v: isinstance(v, dict) and _optional(v, _BUDGET),
}


def surely_valid(document: object) -> bool:
    """True only when ``document`` passes the control file's schema and uses no ``breaker_config``."""
    if not isinstance(document, dict) or "enabled" not in document or "breaker_config" in document:
        return False
    return _optional(document, _TOP)


# --- time (batchops.core.timeutil) -------------------------------------------------------


def parse_iso(text: str) -> datetime | None:
    """As ``timeutil.parse_iso`` reads a time; None where it refuses one."""
    raw = (text or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0m"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    return " ".join(parts)


# --- the answer ------------------------------------------------------------------------------


def _trailing_failures(outcomes: list[str]) -> int:
    count = 0
    for outcome in reversed(outcomes):
        if outcome != "failure":
            break
        count += 1
    return count


def _row(name: str, entry: dict[str, object], now: datetime) -> list[str]:
    """The breakers table's row of one ecosystem (batchops.render.breaker.table_rows)."""
    state = str(entry.get("state", CLOSED))
    failures = int(entry.get("failures", 0) or 0)  # type: ignore[call-overload]
    outcomes = [o for o in entry.get("window", []) or [] if o in OUTCOMES][-WINDOW_SIZE:]  # type: ignore[attr-defined]
    opens_count = entry.get("consecutive_opens")
    opens_count = (0 if state == CLOSED else 1) if opens_count is None else opens_count
    if "window" in entry:  # a legacy script wrote after batchops: the full step reconciles it
        trailing = _trailing_failures(outcomes)
        if failures < trailing or ("success" in outcomes and failures > trailing):
            raise Unsure("legacy fields written after batchops'")
        if (state == CLOSED and opens_count) or (state == OPEN and "consecutive_opens" in entry and opens_count == 0):
            raise Unsure("legacy fields written after batchops'")
    attempts = len(outcomes)
    rate = outcomes.count("failure") / attempts if attempts else 0.0
    filled = round(rate * 10)
    opens = "-"
    if state == OPEN:
        opens_at = str(entry.get("opens_at", "") or "")
        opens = opens_at or "(not set: next gate probes)"
        at = parse_iso(opens_at)
        if at is not None:
            opens += " (wait over)" if now >= at else f" (in {_duration(at - now)})"
    elif state == HALF_OPEN:
        since = str(entry.get("probe_started_at", "") or "")
        started = parse_iso(since)
        opens = f"probe out since {since}" if started is not None and now < started + PROBE_TIMEOUT else "probe may run"
    bar = "█" * filled + "░" * (10 - filled)
    return [name, _ICONS[state], f"{bar} {rate:.0%}", f"{attempts}/{WINDOW_SIZE}", str(failures), opens]


def _is_template(name: str, entry: dict[str, object]) -> bool:
    """The legacy file's untouched ``default`` entry (batchops.core.breaker.is_template)."""
    if name != "default" or set(entry) - {"state", "failures"}:
        return False
    return entry.get("state", CLOSED) == CLOSED and not entry.get("failures")


def _cell(text: str) -> str:
    """batchops.render.markdown.md_escape"""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\r", " ")
        .replace("\n", " ")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
    )


def summary(ecosystem: str, table: dict[str, dict[str, object]], now: datetime) -> str:
    rows = [_row(name, entry, now) for name, entry in table.items() if not _is_template(name, entry)]
    text = f"### {TITLE}: {ecosystem} — ▶️ run\n\n{ecosystem}: closed: batches run.\n\n#### Circuit breakers\n\n"
    if not rows:
        return text + "No breaker has recorded anything yet.\n"
    lines = ["| " + " | ".join(_HEADERS) + " |", "|" + "|".join("---" for _ in _HEADERS) + "|"]
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows)
    return text + "\n".join(lines) + "\n"


def glance(text: str, ecosystem: str, now: datetime) -> Answer | None:
    """The gate's answer when ``ecosystem``'s breaker is closed (or absent) in a file surely valid; else None."""
    if not is_ecosystem(ecosystem):
        return None
    try:
        document = parse(text)
        if not isinstance(document, dict) or not surely_valid(document):
            return None
        table = document.get("circuit_breaker") or {}
        entry = table.get(ecosystem) or {}
        if entry.get("state", CLOSED) != CLOSED:
            return None
        report = summary(ecosystem, table, now)
    except Unsure:
        return None
    if "<" in report or "@" in report or "`" in report:  # what the summary writer would rewrite
        return None
    return Answer(ecosystem, report)

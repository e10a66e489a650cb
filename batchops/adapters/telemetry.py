"""The telemetry client (``requests``): POST a payload, read runs back, each within a hard deadline.

Deadlines: every request has a **total** deadline (:mod:`batchops.adapters.deadline`) that
each socket operation meets, so a server that drips one byte a second (in the headers or in
the body) cannot hold a request open past it; the body is read in chunks with the deadline
checked between them. Every request uses a fresh connection (``Connection: close``), so a
socket the endpoint has just closed never spends an attempt unsent.

Retries (:func:`post`): the policy is a value (:meth:`RetryPolicy.retrying
<batchops.core.metrics.RetryPolicy.retrying>`, from :mod:`batchops.core.retry`): no answer,
5xx, 408, 425 and 429 are retried with backoff, a ``Retry-After`` honoured up to its cap,
never past ``max-time``. ``sleep`` and ``monotonic`` are the module's (tests replace them).

Replies: at most :data:`MAX_REPLY` bytes are read (1 MiB); the rest is never read.
The endpoint's reason for a refusal is taken from a JSON ``error`` (and ``detail``) or
``message`` key, or from the plain text of the body, made one line and shortened.

Redirects are not followed (a POST must not become a GET elsewhere); the ``Location``
is reported.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from time import monotonic, sleep
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from batchops.adapters import deadline as deadlines
from batchops.adapters.deadline import Deadline
from batchops.core import escape
from batchops.core.metrics import DELIVERED, REDIRECT, REJECTED, Delivery, RetryPolicy, answer_kind
from batchops.core.retry import Attempt
from batchops.errors import BatchopsError, UsageError

MAX_REPLY = 1024 * 1024
MAX_REASON = 300
HONORED_HEADER = "Batchops-Idempotency"
USER_AGENT = "batchops-metrics"


# --- URLs ---------------------------------------------------------------------------


def target_url(endpoint: str) -> str:
    base = endpoint.strip().rstrip("/")
    return base if base.endswith("/batch-metrics") else base + "/batch-metrics"


def runs_url(endpoint: str) -> str:
    return target_url(endpoint) + "/runs"


def safe_url(url: str) -> str:
    """The URL without user:password, query or fragment: what may be printed or written to a file."""
    parts = urlsplit(url.strip())
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_endpoint(endpoint: str, *, field: str = "endpoint") -> str:
    """The endpoint, checked: an http(s) URL with a host, without credentials in it."""
    text = endpoint.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{safe_url(text)!r} is not an http(s) URL",
            field=field,
            hint="set it to the service's base URL, e.g. https://telemetry.example.com "
            "(batchops appends /batch-metrics)",
        )
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"the URL {safe_url(text)} carries credentials (user:password@); "
            "they would be sent to the server and kept in spool files",
            field=field,
            hint="remove them from the URL and pass the secret in the `token` input (sent as Authorization: Bearer), "
            "e.g. endpoint: https://telemetry.example.com",
        )
    if parts.query or parts.fragment:
        raise UsageError(
            f"the URL {safe_url(text)} has a query or fragment; a token in a URL would be kept in spool files",
            field=field,
            hint="give the base URL only, e.g. https://telemetry.example.com, and the secret in the `token` input",
        )
    return text


def plain_http_with_token(endpoint: str, token: str) -> bool:
    parts = urlsplit(endpoint)
    return bool(token) and parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1")


# --- one request -------------------------------------------------------------------


def new_session() -> Any:
    """A ``requests`` session whose connections meet each request's deadline."""
    return deadlines.session()


@dataclass
class Reply:
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False  # the body was longer than the cap
    error: str = ""  # no (complete) answer: why


def request(
    session: Any,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes | None,
    seconds: float,
    cap: int = MAX_REPLY,
) -> Reply:
    """One HTTP request, answered or abandoned within ``seconds`` in total; at most ``cap`` bytes read."""
    import requests

    deadline = Deadline(seconds, monotonic=monotonic)
    with deadline.applied():
        try:
            response = session.request(
                method,
                url,
                data=body,
                headers={**headers, "Connection": "close", "User-Agent": USER_AGENT},
                timeout=deadline.timeouts(seconds, seconds),
                allow_redirects=False,
                stream=True,
            )
        except (requests.RequestException, TimeoutError) as exc:
            return Reply(error=_failure(exc, deadline.expired(), seconds))
        try:
            return _read_reply(response, deadline, cap)
        finally:
            response.close()
            # every attempt gets a new connection (the request says Connection: close): a pooled
            # socket the endpoint has just closed would make the next attempt fail unsent
            for adapter in session.adapters.values():
                adapter.close()


def _read_reply(response: Any, deadline: Deadline, cap: int) -> Reply:
    """Status, headers and at most ``cap`` bytes of the body, the deadline checked between chunks."""
    import requests

    reply = Reply(status=response.status_code, headers={k.lower(): v for k, v in response.headers.items()})
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(chunk_size=65536):
            deadline.check()
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                reply.truncated = True
                break
    except (requests.RequestException, OSError) as exc:
        # the status line and headers arrived: the answer stands, its body is cut short
        reply.truncated = True
        if deadline.expired():
            reply.error = f"the reply did not finish within {deadline.seconds:g}s"
        else:
            reply.error = f"the reply was cut off ({_reason(exc)})"
    reply.body = b"".join(chunks)[:cap]
    return reply


def _failure(exc: Exception, fired: bool, seconds: float) -> str:
    import requests

    if fired or isinstance(exc, requests.Timeout):
        return f"no response within {seconds:g}s"
    if isinstance(exc, requests.ConnectionError):
        return f"connection failed ({_reason(exc)})"
    return f"request failed ({exc.__class__.__name__})"


def _reason(exc: Exception) -> str:
    text = str(exc).lower()
    for marker in (
        "Connection refused",
        "Name or service not known",
        "No route to host",
        "timed out",
        "Connection reset",
        "Remote end closed",
        "Connection aborted",
    ):
        if marker.lower() in text:
            return marker.lower()
    return exc.__class__.__name__


def reason_of(reply: Reply) -> str:
    """The endpoint's own words: a JSON ``error``/``detail``/``message``, else the body's text."""
    text = reply.body.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    if text[:1] in "{[":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            said = [
                str(data[key]) for key in ("error", "message", "detail") if isinstance(data.get(key), (str, int, float))
            ]
            if said:
                return escape.flatten(": ".join(dict.fromkeys(said)), MAX_REASON)
    if "<html" in text[:200].lower():
        return escape.flatten(" ".join(part.split(">")[-1] for part in text.split("<")), MAX_REASON)
    return escape.flatten(text, MAX_REASON)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --- POST /batch-metrics ------------------------------------------------------------


def post(
    endpoint: str,
    token: str,
    payload: dict[str, Any],
    key: str,
    policy: RetryPolicy,
    *,
    session: Any = None,
    rng: random.Random | None = None,
) -> Delivery:
    """POST the payload until it is accepted, refused for good, or ``policy.max_time`` is spent."""
    retrying = policy.retrying(rng or random.Random())
    url = target_url(endpoint)
    own = session is None
    session = session or new_session()
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("utf-8")
    start = monotonic()
    result = Delivery(ok=False)
    state = Attempt()
    try:
        while True:
            state.number = result.attempts = result.attempts + 1
            seconds = policy.request_deadline(monotonic() - start)
            reply = request(session, "POST", url, headers=headers, body=body, seconds=seconds)
            if _settled(result, reply):
                return result
            state.failure = _Unanswered(result.error)
            state.retry_after = retry_after_seconds(reply.headers.get("retry-after")) if reply.status else None
            state.elapsed = monotonic() - start
            wait = retrying.next_wait(state)
            if wait is None:
                result.log.append(
                    f"attempt {result.attempts}: {result.error}; giving up after {state.elapsed:.1f}s "
                    f"(max-time {policy.max_time:g}s)"
                )
                return result
            result.log.append(f"attempt {result.attempts}: {result.error}; retrying in {wait:.1f}s")
            sleep(wait)
    finally:
        if own:
            session.close()


class _Unanswered(Exception):
    """An attempt that was not delivered but is worth another (no answer, 5xx, 408, 425, 429)."""


def _settled(result: Delivery, reply: Reply) -> bool:
    """Record ``reply`` in ``result``; True when it settles the delivery (accepted, refused for good, redirected)."""
    if reply.status is None:
        result.status, result.error, result.reason = None, reply.error, ""
        return False
    result.status = reply.status
    said = reply.headers.get(HONORED_HEADER.lower(), "")
    result.honored = said.strip().lower() == "honored"
    result.reason = reason_of(reply)
    kind = answer_kind(reply.status)
    if kind == DELIVERED:
        result.ok = True
        result.duplicate = reply.status == 200 and bool(result.honored)
        result.error = ""
        result.log.append(
            f"attempt {result.attempts}: HTTP {reply.status}" + (" (already recorded)" if result.duplicate else "")
        )
        return True
    result.error = f"HTTP {reply.status}" + (f": {result.reason}" if result.reason else "")
    if reply.error:
        result.error += f" ({reply.error})"
    if kind in (REJECTED, REDIRECT):
        location = reply.headers.get("location")
        result.location = safe_url(location) if kind == REDIRECT and location else ""
        result.log.append(f"attempt {result.attempts}: {result.error}; not retried")
        return True
    return False


# --- GET /batch-metrics/runs --------------------------------------------------------

RUNS_PAGE = 100
MAX_RUNS_REPLY = 16 * 1024 * 1024
MAX_PAGES = 10_000


class ReadError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def get_runs(
    endpoint: str, token: str, *, since: datetime | None, until: datetime | None, seconds: float = 30.0
) -> list[dict[str, Any]]:
    """Every run of the read endpoint in ``[since, until)`` (by start), page by page."""
    from batchops.core import timeutil

    session = new_session()
    params: dict[str, str] = {"limit": str(RUNS_PAGE)}
    if since is not None:
        params["since"] = timeutil.iso(since)
    if until is not None:
        params["until"] = timeutil.iso(until)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    runs: list[dict[str, Any]] = []
    seen: set[str] = set()
    try:
        for _ in range(MAX_PAGES):
            from urllib.parse import urlencode

            reply = request(
                session,
                "GET",
                runs_url(endpoint) + "?" + urlencode(params),
                headers=headers,
                body=None,
                seconds=seconds,
                cap=MAX_RUNS_REPLY,
            )
            if reply.status is None:
                raise ReadError(reply.error)
            if reply.status != 200:
                raise ReadError(
                    f"HTTP {reply.status}" + (f": {reason_of(reply)}" if reason_of(reply) else ""), reply.status
                )
            if reply.truncated:
                raise ReadError(f"a page of runs was larger than {MAX_RUNS_REPLY} bytes or cut off")
            # the one strict reader: no NaN, 1e400, duplicate keys
            from batchops.adapters.schema import parse_json_text

            try:
                page = parse_json_text(reply.body.decode("utf-8"), "the answer")
            except UnicodeDecodeError:
                raise ReadError("the answer is not UTF-8 JSON") from None
            except BatchopsError as exc:
                raise ReadError(f"the answer is not usable JSON: {exc.message}") from None
            if not isinstance(page, dict) or not isinstance(page.get("runs"), list):
                raise ReadError('the answer is not {"runs": [...], "next_cursor": ...}')
            runs += [run for run in page["runs"] if isinstance(run, dict) and isinstance(run.get("ecosystem"), str)]
            cursor = page.get("next_cursor")
            if not cursor:
                return runs
            if not isinstance(cursor, str) or cursor in seen:  # it would page forever
                raise ReadError(
                    f"the answer's next_cursor {json.dumps(cursor)[:80]} is not a new string cursor "
                    "(a page repeated or malformed)"
                )
            seen.add(cursor)
            params["cursor"] = cursor
        raise ReadError(f"more than {MAX_PAGES} pages of runs")
    finally:
        session.close()

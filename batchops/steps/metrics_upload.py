"""metrics-upload, metrics-replay and ``batchops metrics serve|import``.

The payload (``schemas/batch-metrics.schema.json``) is built from the results
file and sent as ``POST {endpoint}/batch-metrics`` with a bearer token and an
``Idempotency-Key`` header derived from the run's identity, so a retried or
replayed upload is counted once. Connection errors, timeouts, 5xx, 409 and 429
are retried with exponential backoff and jitter (``Retry-After`` honoured,
capped) within a bounded total time; what still cannot be delivered is spooled
to a file (payload, key and endpoint, never the token) and the step exits 0:
metrics are advisory and never fail the batch. Without an endpoint the run is
written to the embedded SQLite store (``batchops.adapters.store``) under the same key.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from time import monotonic, sleep
from typing import Any
from urllib.parse import urlsplit

from batchops.adapters import runner, schema
from batchops.adapters.store import DEFAULT_DATABASE, Store
from batchops.cli.args import Command, add_input, add_now, clock, parse_float
from batchops.core import timeutil
from batchops.errors import BatchopsError, UsageError
from batchops.render import markdown

KEY_VERSION = "batchops-metrics/v1"
DEFAULT_MAX_TIME = 60.0
DEFAULT_REQUEST_TIMEOUT = 10.0
RETRY_AFTER_CAP = 30.0
MAX_BODY = 10 * 1024 * 1024
TOKEN_HINT = "check the repository secret passed to the `token` input of metrics-upload (it must match the endpoint's token)"


# --- payload ------------------------------------------------------------------------


def build_payload(results: dict[str, Any]) -> dict[str, Any]:
    """The telemetry payload of one validated results file (pure).

    ``total_recipes`` counts distinct recipe names; ``passed``/``failed``/``skipped``
    count result entries (one per recipe and platform when platforms are given).
    ``success_rate`` = passed / (passed + failed), 0.0 when nothing was attempted.
    """
    entries = results.get("results", [])
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    items = []
    for entry in entries:
        counts[entry["result"]] += 1
        item = {"recipe_name": entry["recipe_name"], "result": entry["result"]}
        for name in ("platform", "error_category", "error_message", "duration_seconds"):
            if name in entry:
                item[name] = entry[name]
        items.append(item)
    attempted = counts["passed"] + counts["failed"]
    payload: dict[str, Any] = {
        "batch_id": results["batch_id"],
        "ecosystem": results["ecosystem"],
        "started_at": timeutil.iso(timeutil.parse_iso(results["started_at"], field="started_at")),
        "completed_at": timeutil.iso(timeutil.parse_iso(results["completed_at"], field="completed_at")),
        "total_recipes": len({entry["recipe_name"] for entry in entries}),
        **counts,
        "success_rate": round(counts["passed"] / attempted, 4) if attempted else 0.0,
        "macos_minutes": results.get("macos_minutes", 0),
        "linux_minutes": results.get("linux_minutes", 0),
        "results": items,
    }
    if "sampled" in results:
        payload["sampled"] = bool(results["sampled"])
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


def load_results(path: str, *, batch_id: str | None, ecosystem: str | None) -> dict[str, Any]:
    """Read and validate the results file; the batch-id/ecosystem inputs must agree with it."""
    document = schema.load_json(path, "batch-results")
    for name, given in (("batch_id", batch_id), ("ecosystem", ecosystem)):
        if given and given != document[name]:
            raise UsageError(
                f"the input {name.replace('_', '-')}={given!r} does not match the results file's {name} {document[name]!r}",
                file=path,
                field=name,
                hint=f"pass the results file of {name.replace('_', ' ')} {given!r}, or drop the input (the file's value is used)",
            )
    return document


# --- delivery -----------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by ``max_time`` seconds in total."""

    max_time: float = DEFAULT_MAX_TIME
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    base: float = 1.0
    cap: float = 16.0
    retry_after_cap: float = RETRY_AFTER_CAP

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Wait before attempt ``attempt + 1``: base·2^(attempt-1), capped, times U(0.5, 1)."""
        return min(self.cap, self.base * 2 ** (attempt - 1)) * rng.uniform(0.5, 1.0)


@dataclass
class Delivery:
    ok: bool
    status: int | None = None
    duplicate: bool = False
    attempts: int = 0
    error: str = ""
    permanent: bool = False  # a 4xx that retrying does not fix
    log: list[str] = field(default_factory=list)


RETRY_STATUSES = {408, 409, 425, 429}


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


def target_url(endpoint: str) -> str:
    base = endpoint.strip().rstrip("/")
    return base if base.endswith("/batch-metrics") else base + "/batch-metrics"


def check_endpoint(endpoint: str) -> None:
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{safe_url(endpoint)!r} is not an http(s) URL",
            field="endpoint",
            hint="set endpoint to the service's base URL, e.g. https://telemetry.example.com (batchops appends /batch-metrics)",
        )


def safe_url(url: str) -> str:
    """The URL without user:password, for logs."""
    parts = urlsplit(url.strip())
    if parts.username or parts.password:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        return parts._replace(netloc=netloc).geturl()
    return url.strip()


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
    """POST the payload until it is accepted, a 4xx says it never will be, or time is up."""
    import requests

    rng = rng or random.Random()
    url = target_url(endpoint)
    own_session = session is None
    session = session or requests.Session()
    headers = {"Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": "batchops-metrics"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    start = monotonic()
    result = Delivery(ok=False)
    try:
        while True:
            result.attempts += 1
            remaining = policy.max_time - (monotonic() - start)
            timeout = max(0.1, min(policy.request_timeout, remaining))
            retry_after: float | None = None
            try:
                response = session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
            except requests.Timeout:
                result.error = f"no response within {timeout:g}s"
            except requests.ConnectionError as exc:
                result.error = f"connection failed ({_reason(exc)})"
            except requests.RequestException as exc:
                result.error = f"request failed ({exc.__class__.__name__})"
            else:
                result.status = response.status_code
                if response.status_code in (200, 201):
                    result.ok = True
                    result.duplicate = response.status_code == 200
                    result.error = ""
                    result.log.append(f"attempt {result.attempts}: HTTP {response.status_code}")
                    return result
                result.error = f"HTTP {response.status_code}{_detail(response)}"
                if response.status_code < 500 and response.status_code not in RETRY_STATUSES:
                    result.permanent = True
                    result.log.append(f"attempt {result.attempts}: {result.error}; not retried")
                    return result
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            wait = policy.backoff(result.attempts, rng)
            if retry_after is not None:
                wait = min(retry_after, policy.retry_after_cap)
            elapsed = monotonic() - start
            if elapsed + wait >= policy.max_time:
                result.log.append(f"attempt {result.attempts}: {result.error}; giving up after {elapsed:.1f}s (max-time {policy.max_time:g}s)")
                return result
            result.log.append(f"attempt {result.attempts}: {result.error}; retrying in {wait:.1f}s")
            sleep(wait)
    finally:
        if own_session:
            session.close()


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out", "Connection reset", "Remote end closed"):
        if marker.lower() in text.lower():
            return marker.lower()
    return exc.__class__.__name__


def _detail(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return ": " + oneline(data["error"][:200])
    return ""


def oneline(text: str) -> str:
    """Untrusted text (an endpoint's reply, a file name) made safe for one log line:
    no newline can start a workflow command."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


# --- spool --------------------------------------------------------------------------


def default_spool_dir() -> str:
    temp = os.environ.get("RUNNER_TEMP", "")
    return str(Path(temp) / "batchops-spool") if temp else ".batchops/spool"


def spool_name(payload: dict[str, Any], key: str) -> str:
    return f"{payload['batch_id']}-{payload['ecosystem']}-{key[:12]}.json"


def write_spool(directory: str, payload: dict[str, Any], key: str, endpoint: str, *, attempts: int, error: str, at: datetime) -> Path:
    """One file per idempotency key: spooling the same run again replaces its file."""
    from batchops.adapters.files import write_atomic

    document = {
        "spool_version": 1,
        "idempotency_key": key,
        "endpoint": endpoint,
        "spooled_at": timeutil.iso(at),
        "attempts": attempts,
        "last_error": error,
        "payload": payload,
    }
    schema.validate(document, "batch-metrics-spool", file="spool")
    path = Path(directory) / spool_name(payload, key)
    write_atomic(path, json.dumps(document, indent=2) + "\n")
    return path


# --- metrics-upload -----------------------------------------------------------------


def _configure_upload(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "results-file", "results file of the ecosystem run (schemas/batch-results.schema.json)", required=True)
    add_input(parser, "batch-id", "expected batch id; must match the results file (empty: the file's)")
    add_input(parser, "ecosystem", "expected ecosystem; must match the results file (empty: the file's)")
    add_input(parser, "endpoint", "telemetry base URL; POST {endpoint}/batch-metrics (empty: the embedded database)")
    add_input(parser, "token", "bearer token of the endpoint (pass a secret)")
    add_input(parser, "database", "embedded SQLite store used when endpoint is empty", default=DEFAULT_DATABASE)
    add_input(parser, "spool-dir", "where undeliverable payloads are kept for metrics-replay (default: $RUNNER_TEMP/batchops-spool, else .batchops/spool)")
    add_input(parser, "max-time", "seconds to keep retrying before spooling", default=str(int(DEFAULT_MAX_TIME)))
    add_input(parser, "request-timeout", "seconds to wait for one response", default=str(int(DEFAULT_REQUEST_TIMEOUT)))
    add_now(parser)


def _policy(args: argparse.Namespace) -> RetryPolicy:
    return RetryPolicy(
        max_time=parse_float(args.max_time, field="max-time", minimum=0),
        request_timeout=parse_float(args.request_timeout, field="request-timeout", minimum=0.1),
    )


def _run_upload(args: argparse.Namespace) -> int:
    token = args.token or ""
    runner.mask(token)
    now = clock(args)
    results = load_results(args.results_file, batch_id=args.batch_id, ecosystem=args.ecosystem)
    payload = build_payload(results)
    schema.validate(payload, "batch-metrics", file=f"payload built from {args.results_file}")
    key = idempotency_key(payload)
    policy = _policy(args)
    endpoint = (args.endpoint or "").strip()
    spool_dir = args.spool_dir or default_spool_dir()
    outputs: dict[str, Any] = {"uploaded": False, "spooled-file": "", "destination": "", "duplicate": False, "idempotency-key": key}

    if endpoint:
        check_endpoint(endpoint)
        _warn_plain_http(endpoint, token)
        with runner.group(f"POST {safe_url(target_url(endpoint))}"):
            delivery = post(endpoint, token, payload, key, policy)
            for line in delivery.log:
                runner.log(_scrub(line, token))
        if delivery.ok:
            outputs.update({"uploaded": True, "destination": "endpoint", "duplicate": delivery.duplicate})
            if delivery.duplicate:
                runner.notice(f"metrics of {payload['batch_id']}/{payload['ecosystem']} were already recorded (HTTP 200); counted once")
        else:
            path = write_spool(spool_dir, payload, key, endpoint, attempts=delivery.attempts, error=_scrub(delivery.error, token), at=now)
            outputs.update({"spooled-file": str(path), "destination": "spool"})
            runner.warning(_failure_message(delivery, token, path), title="metrics not uploaded")
    else:
        try:
            with Store(args.database) as db:
                recorded = db.record(payload, key, source="upload", received_at=now)
            outputs.update({"uploaded": True, "destination": "database", "duplicate": not recorded.created})
            delivery = Delivery(ok=True, attempts=1, duplicate=not recorded.created)
        except (BatchopsError, OSError, sqlite3.Error) as exc:
            error = exc.render() if isinstance(exc, BatchopsError) else str(exc)
            path = write_spool(spool_dir, payload, key, "", attempts=0, error=error, at=now)
            outputs.update({"spooled-file": str(path), "destination": "spool"})
            delivery = Delivery(ok=False, error=error)
            runner.warning(f"could not write the metrics database ({error}); payload spooled to {path}; replay with `batchops metrics-replay --spool-dir {spool_dir} --database …`")
    runner.set_outputs(outputs)
    runner.summary(_upload_summary(payload, outputs, delivery, args.database))
    return 0


def _warn_plain_http(endpoint: str, token: str) -> None:
    parts = urlsplit(endpoint)
    if token and parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        runner.warning(f"the endpoint {safe_url(endpoint)} is plain http: the token travels unencrypted; use https")


def _scrub(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def _failure_message(delivery: Delivery, token: str, path: Path) -> str:
    error = _scrub(delivery.error, token)
    if delivery.status in (401, 403):
        why = f"the endpoint refused the token ({error}); {TOKEN_HINT}"
    elif delivery.permanent:
        why = f"the endpoint rejected the payload ({error}); check the endpoint URL and the results file"
    else:
        why = f"the endpoint could not be reached after {delivery.attempts} attempt(s) ({error})"
    return f"{why}. The batch is not failed; payload spooled to {path}; send it later with `batchops metrics-replay --spool-dir {path.parent}`"


def _upload_summary(payload: dict[str, Any], outputs: dict[str, Any], delivery: Delivery, database: str) -> str:
    destination = outputs["destination"]
    if destination == "endpoint":
        status = "✅ uploaded" + (" (already recorded: counted once)" if delivery.duplicate else "")
    elif destination == "database":
        status = f"✅ stored in {database}" + (" (already recorded: counted once)" if delivery.duplicate else "")
    else:
        tried = f" after {delivery.attempts} attempt(s)" if delivery.attempts else ""
        status = f"⚠️ not delivered{tried} ({delivery.error}); spooled to {outputs['spooled-file']}; the batch is not failed"
    rate = payload["success_rate"]
    table = markdown.md_table(
        ["batch", "ecosystem", "recipes", "passed", "failed", "skipped", "success rate", "macOS min", "Linux min"],
        [[payload["batch_id"], payload["ecosystem"], payload["total_recipes"], payload["passed"], payload["failed"], payload["skipped"], f"{markdown.bar(rate)} {rate * 100:.1f}%", payload["macos_minutes"], payload["linux_minutes"]]],
    )
    if destination == "endpoint" and delivery.attempts > 1:
        status += f" after {delivery.attempts} attempts"
    return f"### 📈 batch metrics\n\n{markdown.md_escape(status)}\n\n{table}"


UPLOAD = Command(
    help="post the batch metrics (retries; spools what it cannot send; never fails the batch)",
    configure=_configure_upload,
    run=_run_upload,
)


# --- metrics-replay -----------------------------------------------------------------


def _configure_replay(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "spool-dir", "folder of spooled payloads", default=None)
    add_input(parser, "endpoint", "telemetry base URL (empty: the endpoint recorded in each spool file)")
    add_input(parser, "token", "bearer token of the endpoint")
    add_input(parser, "database", "embedded store for spool files without an endpoint", default=DEFAULT_DATABASE)
    add_input(parser, "max-time", "seconds to keep retrying each payload", default="30")
    add_input(parser, "request-timeout", "seconds to wait for one response", default=str(int(DEFAULT_REQUEST_TIMEOUT)))
    add_now(parser)


def _run_replay(args: argparse.Namespace) -> int:
    token = args.token or ""
    runner.mask(token)
    now = clock(args)
    directory = Path(args.spool_dir or default_spool_dir())
    policy = _policy(args)
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    rows: list[list[Any]] = []
    sent = failed = 0
    session = None
    for path in files:
        try:
            document = schema.load_json(path, "batch-metrics-spool")
        except BatchopsError as exc:
            failed += 1
            runner.error(exc.render(), title="unreadable spool file")
            rows.append([path.name, "-", "invalid spool file; left in place"])
            continue
        payload, key = document["payload"], document["idempotency_key"]
        endpoint = (args.endpoint or document.get("endpoint") or "").strip()
        label = f"{payload['batch_id']}/{payload['ecosystem']}"
        if endpoint:
            check_endpoint(endpoint)
            if session is None:
                import requests

                session = requests.Session()
            delivery = post(endpoint, token, payload, key, policy, session=session)
            for line in delivery.log:
                runner.log(f"{oneline(path.name)}: {_scrub(line, token)}")
        else:
            try:
                with Store(args.database) as db:
                    recorded = db.record(payload, key, source="replay", received_at=now)
                delivery = Delivery(ok=True, attempts=1, duplicate=not recorded.created)
            except (BatchopsError, sqlite3.Error) as exc:
                delivery = Delivery(ok=False, error=exc.render() if isinstance(exc, BatchopsError) else str(exc))
        if delivery.ok:
            path.unlink()
            sent += 1
            rows.append([path.name, label, "sent (already recorded: counted once)" if delivery.duplicate else "sent"])
            continue
        failed += 1
        from batchops.adapters.files import write_atomic

        document["attempts"] = int(document.get("attempts", 0)) + delivery.attempts
        document["last_error"] = _scrub(delivery.error, token)
        write_atomic(path, json.dumps(document, indent=2) + "\n")
        if delivery.status in (401, 403):
            runner.warning(f"{path.name}: the endpoint refused the token ({delivery.error}); {TOKEN_HINT}")
        else:
            runner.warning(f"{path.name}: not sent ({_scrub(delivery.error, token)}); left in the spool")
        rows.append([path.name, label, f"kept: {_scrub(delivery.error, token)}"])
    if session is not None:
        session.close()
    runner.set_outputs({"sent": sent, "remaining": failed})
    text = f"### 📤 metrics replay\n\n{sent} sent, {failed} left in {directory}\n\n"
    if rows:
        text += markdown.md_table(["spool file", "run", "result"], rows)
    elif not files:
        text += "Nothing to replay.\n"
    runner.summary(text)
    runner.log(f"metrics-replay: {sent} sent, {failed} left in {directory}")
    return 1 if failed else 0


REPLAY = Command(
    help="send the payloads metrics-upload spooled, each once; removes each on success",
    configure=_configure_replay,
    run=_run_replay,
)


# --- batchops metrics serve ---------------------------------------------------------


class MetricsHandler(BaseHTTPRequestHandler):
    """``POST /batch-metrics`` with the telemetry contract, stored in SQLite."""

    server: MetricsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # request lines carry untrusted paths; do_POST logs method and status

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if urlsplit(self.path).path.rstrip("/") == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not found; POST /batch-metrics"})

    def do_POST(self) -> None:
        status = self.handle_post()
        if self.server.verbose:
            runner.log(f"POST /batch-metrics -> {status}")

    def handle_post(self) -> int:
        if urlsplit(self.path).path.rstrip("/") != "/batch-metrics":
            self._drain()
            self._send(404, {"error": "not found; POST /batch-metrics"})
            return 404
        auth = self.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode("utf-8"), self.server.token.encode("utf-8")):
            self._drain()
            self._send(401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"})
            return 401
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if length < 0:
            self._send(411, {"error": "Content-Length required"}, {"Connection": "close"})
            return 411
        if length > MAX_BODY:
            self._send(413, {"error": f"body larger than {MAX_BODY} bytes"}, {"Connection": "close"})
            return 413
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._send(400, {"error": "body is not JSON"})
            return 400
        found = schema.problems(payload, "batch-metrics", file="payload")
        if found:
            self._send(422, {"error": f"{found[0].pointer or '/'}: {found[0].message}", "field": found[0].pointer})
            return 422
        key = (self.headers.get("Idempotency-Key") or "").strip() or idempotency_key(payload)
        if len(key) > 200 or not key.isprintable():
            self._send(400, {"error": "Idempotency-Key must be printable and at most 200 characters"})
            return 400
        with Store(self.server.database) as db:
            recorded = db.record(payload, key, source="serve")
        status = 201 if recorded.created else 200
        self.send_result(status, {"id": recorded.run_id, "idempotency_key": key, "duplicate": not recorded.created})
        return status

    def send_result(self, status: int, body: dict[str, Any]) -> None:
        """Reply after the run is stored (a seam for tests that inject a lost reply)."""
        self._send(status, body)

    def _drain(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if 0 < length <= MAX_BODY:
            self.rfile.read(length)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[MetricsHandler], *, database: str, token: str, verbose: bool = False) -> None:
        self.database = database
        self.token = token
        self.verbose = verbose
        Store(database).close()  # create the tables before the first request
        super().__init__(address, handler)

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{self.server_port}"

    def start(self) -> MetricsServer:
        """Serve in a daemon thread (tests, demos); ``shutdown()`` stops it."""
        threading.Thread(target=self.serve_forever, name="batchops-metrics-serve", daemon=True).start()
        return self


def make_server(database: str, token: str, *, host: str = "127.0.0.1", port: int = 0, handler: type[MetricsHandler] = MetricsHandler, verbose: bool = False) -> MetricsServer:
    if not token:
        raise UsageError("a token is required", field="token", hint="pass --token or set BATCHOPS_METRICS_TOKEN; clients send it as `Authorization: Bearer <token>`")
    return MetricsServer((host, port), handler, database=database, token=token, verbose=verbose)


# --- batchops metrics import --------------------------------------------------------


def legacy_payload(record: dict[str, Any]) -> dict[str, Any]:
    """Map one legacy batch-runs.jsonl record to a payload (pure; see docs/readme/60-metrics.md)."""
    completed = timeutil.parse_iso(record["timestamp"], field="timestamp")
    from datetime import timedelta

    started = completed - timedelta(seconds=float(record.get("duration_seconds", 0) or 0))
    platforms = record.get("platforms", {})
    passed = sum(int(p.get("passed", 0)) for p in platforms.values())
    failed = sum(int(p.get("failed", 0)) for p in platforms.values())
    skipped = sum(max(0, int(p.get("tested", 0)) - int(p.get("passed", 0)) - int(p.get("failed", 0))) for p in platforms.values())
    attempted = passed + failed
    return {
        "batch_id": record["batch_id"],
        "ecosystem": record["ecosystem"],
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


def read_legacy_jsonl(path: str) -> list[dict[str, Any]]:
    """Every record of the file as a payload; any bad line fails the whole import (nothing is written)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BatchopsError("file not found", file=path, hint="pass the path of a batch-runs JSONL file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchopsError(f"cannot read: {exc.__class__.__name__}", file=path, hint="check permissions and that it is UTF-8 text") from None
    payloads = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BatchopsError(f"not valid JSON: {exc.msg}", file=path, line=number, hint="each line must be one JSON object") from None
        found = schema.problems(record, "batch-runs-record", file=path)
        if found:
            first = found[0]
            raise BatchopsError(f"{first.pointer or '/'}: {first.message}", file=path, line=number, field=first.pointer or None, hint=first.hint)
        payloads.append(legacy_payload(record))
    return payloads


# --- batchops metrics ---------------------------------------------------------------


def _configure_metrics(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{serve,import}")
    serve = sub.add_parser("serve", help="run POST /batch-metrics (bearer token, SQLite storage) for self-hosting and demos")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    add_input(serve, "database", "SQLite store", default=DEFAULT_DATABASE)
    add_input(serve, "token", "bearer token clients must send (also BATCHOPS_METRICS_TOKEN)")
    importer = sub.add_parser("import", help="import a legacy batch-runs JSONL file into the store (idempotent)")
    importer.add_argument("file", help="JSONL file, one batch-run record per line")
    add_input(importer, "database", "SQLite store", default=DEFAULT_DATABASE)
    add_now(importer)


def _run_metrics(args: argparse.Namespace) -> int:
    if args.action == "serve":
        token = args.token or os.environ.get("BATCHOPS_METRICS_TOKEN", "")
        runner.mask(token)
        server = make_server(args.database, token, host=args.host, port=args.port, verbose=True)
        runner.log(f"batchops metrics: serving POST {server.url}/batch-metrics into {args.database} (Ctrl-C stops)")
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return 0
    payloads = read_legacy_jsonl(args.file)
    now = clock(args)
    created = 0
    with Store(args.database) as db:
        for payload in payloads:
            schema.validate(payload, "batch-metrics", file=args.file)
            created += db.record(payload, idempotency_key(payload), source="import", received_at=now).created
        total = db.count()
    duplicates = len(payloads) - created
    runner.log(
        f"imported {created} run(s) from {args.file} into {args.database}; {duplicates} duplicate(s) skipped "
        f"(already in the store, or repeated in the file); {total} run(s) in the store"
    )
    runner.set_outputs({"imported": created, "duplicates": duplicates})
    runner.summary(f"### 📥 metrics import\n\n{created} run(s) imported from `{markdown.md_escape(args.file)}`; {duplicates} duplicate(s) skipped (same idempotency key).")
    return 0


METRICS = Command(
    help="metrics store: `serve` the upload endpoint, `import` legacy batch-runs JSONL",
    configure=_configure_metrics,
    run=_run_metrics,
)

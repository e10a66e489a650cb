"""The embedded telemetry endpoint (``batchops metrics serve``): the production contract over SQLite.

``POST /batch-metrics`` takes the payload of the telemetry contract (``docs/telemetry.md``),
checks it like the production Worker, and stores one run per ``Idempotency-Key`` in the
embedded store (:mod:`batchops.adapters.store`); ``GET /batch-metrics/runs`` is the read
endpoint of batchops' own Worker, page by page. Bodies are capped at :data:`MAX_BODY`; a token,
when set, is compared in constant time.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from batchops.adapters import runner, schema, telemetry
from batchops.adapters.store import Store
from batchops.core import metrics, timeutil
from batchops.errors import BatchopsError, UsageError

MAX_BODY = 10 * 1024 * 1024
TOKEN_ENV = "BATCHOPS_METRICS_TOKEN"  # where the CLI reads the token of the endpoint


class MetricsHandler(BaseHTTPRequestHandler):
    """``POST /batch-metrics`` with the telemetry contract, stored in SQLite, one run per key."""

    server: MetricsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # request lines carry untrusted paths; do_POST logs method and status

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(telemetry.HONORED_HEADER, "honored")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path == "/batch-metrics/runs":
            self.handle_runs()
        else:
            self._send(404, {"error": "not found; POST /batch-metrics"})

    def handle_runs(self) -> None:
        """``GET /batch-metrics/runs``: the read endpoint of batchops' Worker (docs/telemetry.md), from the store."""
        if not self._authorized():
            self._send(401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"})
            return
        query = parse_qs(urlsplit(self.path).query)

        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        try:
            since = _time_param(one("since"), "since")
            until = _time_param(one("until"), "until")
            limit = _limit_param(one("limit"))
            after = _cursor_param(one("cursor"))
        except ValueError as exc:
            self._send(400, {"error": f"Bad request: {exc}"})
            return
        with Store(self.server.database) as db:
            rows = db.page(since=since, until=until, ecosystem=one("ecosystem"), after=after, limit=limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            for row in rows:
                row["results"] = [
                    {
                        key: item[key]
                        for key in (
                            "recipe_name",
                            "ecosystem",
                            "result",
                            "error_category",
                            "error_message",
                            "duration_seconds",
                        )
                    }
                    for item in db.recipe_results(int(row["id"]))
                ]
        cursor = _cursor(rows[-1]) if more and rows else None
        self._send(200, {"runs": rows, "next_cursor": cursor})

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else ""
        return hmac.compare_digest(given.encode("utf-8"), self.server.token.encode("utf-8"))

    def do_POST(self) -> None:
        status = self.handle_post()
        if self.server.verbose:
            runner.log(f"POST /batch-metrics -> {status}")

    def handle_post(self) -> int:
        if urlsplit(self.path).path.rstrip("/") != "/batch-metrics":
            self._drain()
            self._send(404, {"error": "not found; POST /batch-metrics"})
            return 404
        if not self._authorized():
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
            payload = schema.parse_json_text(raw.decode("utf-8"), "payload")
        except (BatchopsError, UnicodeDecodeError) as exc:
            self._send(
                400,
                {"error": f"body is not valid JSON: {exc.message if isinstance(exc, BatchopsError) else 'not UTF-8'}"},
            )
            return 400
        found = schema.problems(payload, "batch-metrics", file="payload")
        if found:
            self._send(422, {"error": f"{found[0].pointer or '/'}: {found[0].message}", "field": found[0].pointer})
            return 422
        key = (self.headers.get("Idempotency-Key") or "").strip() or metrics.idempotency_key(payload)
        if len(key) > 200 or not key.isprintable():
            self._send(400, {"error": "Idempotency-Key must be printable and at most 200 characters"})
            return 400
        with Store(self.server.database) as db:
            recorded = db.record(payload, key, source="serve")
        status = 201 if recorded.created else 200
        self.send_result(
            status,
            {
                "id": recorded.run_id,
                "batch_run_id": recorded.run_id,
                "idempotency_key": key,
                "duplicate": not recorded.created,
            },
        )
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


def _time_param(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return timeutil.parse_iso(value, field=name)
    except BatchopsError:
        raise ValueError(f"{name} must be an ISO 8601 time (e.g. 2026-06-01T00:00:00Z)") from None


def _limit_param(value: str | None) -> int:
    if value is None or value == "":
        return 100
    if not value.isdigit() or not 1 <= int(value) <= 500:
        raise ValueError("limit must be an integer from 1 to 500 (e.g. 100)")
    return int(value)


def _cursor(row: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([row["started_at"], row["id"]]).encode()).decode()


def _cursor_param(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    try:
        started, run_id = json.loads(base64.urlsafe_b64decode(value.encode()))
        if isinstance(started, str) and isinstance(run_id, int):
            return started, run_id
    except (ValueError, TypeError):
        pass
    raise ValueError("cursor is not one this endpoint returned (pass next_cursor from the previous page unchanged)")


ACCEPT_TIMEOUT = 1.0  # seconds


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[MetricsHandler],
        *,
        database: str,
        token: str,
        verbose: bool = False,
    ) -> None:
        self.database = database
        self.token = token
        self.verbose = verbose
        Store(database).close()  # create the tables before the first request
        super().__init__(address, handler)
        # accept() never waits for ever: a connection gone between the poll and the accept
        # would otherwise hold the loop (and shutdown()) until the next one arrives
        self.socket.settimeout(ACCEPT_TIMEOUT)

    @property
    def url(self) -> str:
        host = self.server_address[0]
        host = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host}:{self.server_port}"

    def start(self) -> MetricsServer:
        """Serve in a daemon thread (tests, demos); ``shutdown()`` stops it."""
        threading.Thread(target=self.serve_forever, name="batchops-metrics-serve", daemon=True).start()
        return self


def make_server(
    database: str,
    token: str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    handler: type[MetricsHandler] = MetricsHandler,
    verbose: bool = False,
) -> MetricsServer:
    if not token:
        raise UsageError(
            "a token is required",
            field="token",
            hint=f"pass --token or set {TOKEN_ENV}; clients send it as `Authorization: Bearer <token>`",
        )
    return MetricsServer((host, port), handler, database=database, token=token, verbose=verbose)

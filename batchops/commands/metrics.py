"""``batchops metrics-replay``, ``batchops metrics import`` and ``batchops metrics serve``.

metrics-replay exit status: **0** when everything that could be delivered was (what
the endpoint refused for good is a dead letter, listed, not a failure); **75**
(EX_TEMPFAIL) when at least one payload could not reach the endpoint and stays in the
spool for the next replay; **2** for a usage error (e.g. ``--token`` without
``--endpoint``).

metrics import exit status: 0 when every record was imported (or already there), 1
when some record could not be read (each is reported with file and line; the others
are imported all the same).
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from batchops.adapters import runner, schema, telemetry
from batchops.adapters.files import write_atomic
from batchops.adapters.store import DEFAULT_DATABASE, Store
from batchops.core import escape, metrics, timeutil
from batchops.core.metrics import RetryPolicy
from batchops.engines import metrics as delivering
from batchops.engines.metrics import (
    NOT_HONORED,
    REJECTED_DIR,
    default_spool_dir,
    spool_document,
    write_spool,
)
from batchops.errors import BatchopsError, UsageError
from batchops.flags import Command, add_input, add_now, clock, parse_float
from batchops.render import markdown

EXIT_UNREACHABLE = 75
TOKEN_ENV = "BATCHOPS_METRICS_TOKEN"
MAX_BODY = 10 * 1024 * 1024

# --- metrics-replay -----------------------------------------------------------------


def _configure_replay(parser: argparse.ArgumentParser) -> None:
    add_input(parser, "spool-dir", "folder of spooled payloads (dead letters in its rejected/ folder)", default=None)
    add_input(
        parser,
        "endpoint",
        "telemetry base URL; the token is sent to this endpoint only (empty: each file's endpoint, without a token)",
    )
    add_input(parser, "token", f"bearer token of --endpoint (also {TOKEN_ENV})")
    add_input(parser, "database", "embedded store for spool files without an endpoint", default=DEFAULT_DATABASE)
    add_input(parser, "max-time", "seconds to keep retrying each payload", default="30")
    add_input(parser, "request-timeout", "seconds one request may take, from connect to the last byte", default="10")
    parser.add_argument(
        "--retry-rejected",
        action="store_true",
        help="also re-send the dead letters (payloads the endpoint refused for good)",
    )
    add_now(parser)


def _run_replay(args: argparse.Namespace) -> int:
    token = args.token or runner.setting(TOKEN_ENV)
    runner.mask(token)
    now = clock(args)
    endpoint = (args.endpoint or "").strip()
    if token and not endpoint:
        raise UsageError(
            "a token is sent only to the endpoint given on the command line, never to the one a spool file names",
            field="endpoint",
            hint="pass --endpoint https://telemetry.example.com together with --token (spool files are artifacts anyone who wrote them could point elsewhere)",
        )
    if endpoint:
        telemetry.check_endpoint(endpoint)
    policy = RetryPolicy(
        max_time=parse_float(args.max_time, field="max-time", minimum=0),
        request_timeout=parse_float(args.request_timeout, field="request-timeout", minimum=0.1),
    )
    directory = Path(args.spool_dir or default_spool_dir())
    rejected_dir = directory / REJECTED_DIR
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    dead = sorted(rejected_dir.glob("*.json")) if rejected_dir.is_dir() else []

    loaded: list[tuple[Path, dict[str, Any], bool]] = []
    rows: list[list[Any]] = []
    unreadable = 0
    for path, is_dead in [(p, False) for p in files] + [(p, True) for p in dead]:
        try:
            document = schema.load_json(path, "batch-metrics-spool")
            # a dead letter is one by its recorded answer too: an artifact of rejected/x.json unpacks as x.json
            status = document.get("status")
            loaded.append((path, document, is_dead or (isinstance(status, int) and metrics.is_dead_letter(status))))
        except BatchopsError as exc:
            if not path.exists():  # another replay of this folder took it meanwhile
                runner.log(f"{path.name}: taken by another replay of {directory}; skipped")
                continue
            unreadable += 1
            runner.warning(exc.render(), title="unreadable spool file; left in place")
            rows.append([path.name, "-", "unreadable spool file; left in place"])
    plan = metrics.replay_plan(
        [(str(path), _recorded_endpoint(document), is_dead) for path, document, is_dead in loaded],
        endpoint=endpoint,
        token_given=bool(token),
        retry_rejected=args.retry_rejected,
    )
    sent = remaining = rejected = 0
    not_honored = False
    session = None
    for (path, document, _), item in zip(loaded, plan, strict=True):
        payload, key = metrics.upgrade_payload(document["payload"]), document["idempotency_key"]
        label = f"{payload['batch_id']}/{payload['ecosystem']}"
        if item.action == metrics.HOLD:
            rejected += 1
            runner.log(
                escape.flatten(
                    f"{path.name}: {label}: dead letter ({document.get('last_error', '')}), "
                    "not re-sent; --retry-rejected re-sends it",
                    600,
                )
            )
            rows.append([path.name, label, f"dead letter, not re-sent: {document.get('last_error', '')}"])
            continue
        if item.action == metrics.SEND:
            session = session or telemetry.new_session()
            delivery = delivering.send(
                item.endpoint, token if item.with_token else "", payload, key, policy, session=session
            )
            for line in delivery.log:
                runner.log(f"{path.name}: {line}")
            if item.note:
                runner.log(f"{path.name}: {item.note}")
        else:
            delivery = delivering.store(args.database, payload, key, at=now, source="replay")
        if delivery.ok:
            path.unlink(missing_ok=True)  # a concurrent replay of this folder may have sent and removed it
            sent += 1
            not_honored = not_honored or (item.action == metrics.SEND and not delivery.honored)
            rows.append([path.name, label, "sent (already recorded: counted once)" if delivery.duplicate else "sent"])
            continue
        attempts = int(document.get("attempts", 0)) + delivery.attempts
        updated = spool_document(
            payload, key, item.endpoint or str(document.get("endpoint", "")), delivery, at=now, attempts=attempts
        )
        updated["spooled_at"] = document.get("spooled_at", updated["spooled_at"])
        if delivery.kind == metrics.REJECTED:
            rejected += 1
            target = write_spool(directory, updated, rejected=True)
            if target != path:
                path.unlink(missing_ok=True)
            advice = metrics.hint(delivery.status, reason=delivery.reason)
            runner.warning(
                f"{path.name}: refused for good ({delivery.error}); {advice}; kept as a dead letter in {target}",
                title="metrics-replay",
            )
            rows.append([path.name, label, f"refused: {delivery.error}; dead letter"])
        else:
            remaining += 1
            if path.exists():  # not when a concurrent replay delivered it meanwhile: it would be sent again
                write_atomic(path, json.dumps(updated, indent=2) + "\n")
            runner.warning(f"{path.name}: not delivered ({delivery.error}); left in the spool", title="metrics-replay")
            rows.append([path.name, label, f"kept: {delivery.error}"])
    if session is not None:
        session.close()
    runner.set_outputs({"sent": sent, "remaining": remaining, "rejected": rejected})
    text = f"### 📤 metrics replay\n\n{sent} sent, {remaining} left in {markdown.md_escape(str(directory))}, {rejected} dead letter(s)"
    text += f", {unreadable} unreadable\n\n" if unreadable else "\n\n"
    if not_honored:
        text += f"ℹ️ {NOT_HONORED}.\n\n"
    if rows:
        text += markdown.md_table(["spool file", "run", "result"], rows)
    else:
        text += "Nothing to replay.\n"
    runner.summary(text)
    runner.log(
        f"metrics-replay: {sent} sent, {remaining} left in {directory}, {rejected} dead letter(s) in {rejected_dir}"
    )
    return EXIT_UNREACHABLE if remaining else 0


def _recorded_endpoint(document: dict[str, Any]) -> str:
    """The endpoint a spool file names, without anything that could carry credentials."""
    recorded = str(document.get("endpoint") or "").strip()
    if not recorded:
        return ""
    try:
        telemetry.check_endpoint(telemetry.safe_url(recorded))
    except UsageError:
        return ""
    return telemetry.safe_url(recorded)


REPLAY = Command(
    help="send the payloads metrics-upload spooled, each once; lists the dead letters (--retry-rejected re-sends them)",
    configure=_configure_replay,
    run=_run_replay,
)


# --- batchops metrics serve ---------------------------------------------------------


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


# --- batchops metrics import --------------------------------------------------------

LEGACY_SUFFIXES = (".jsonl", ".json", ".ndjson")


def legacy_files(paths: list[str]) -> list[Path]:
    """The files named, and the metrics files in the folders named (sorted, recursively)."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(LEGACY_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(
                "no such file or folder",
                file=name,
                hint="pass batch-runs files or a folder of them, e.g. data/metrics/",
            )
    return found


def read_legacy(path: Path) -> list[metrics.ImportedRecord]:
    """Every record of one legacy file (JSONL, pretty-printed objects one after another)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [
            metrics.ImportedRecord(
                name, 0, error=f"cannot read: {exc.__class__.__name__} (check permissions and that it is UTF-8 text)"
            )
        ]

    def problems(document: Any) -> list[tuple[str, str, str]]:
        return [(p.pointer, p.message, p.hint) for p in schema.problems(document, "batch-runs-record", file=name)]

    return metrics.read_records(text, name, schema.parse_json_text, problems)


def _run_import(args: argparse.Namespace) -> int:
    now = clock(args)
    files = legacy_files(args.paths)
    created = duplicates = bad = records = 0
    kinds: dict[str, int] = {}
    with Store(args.database) as db:
        for path in files:
            for record in read_legacy(path):
                if record.payload is None:
                    bad += 1
                    where = f"{record.file}:{record.line}" if record.line else record.file
                    runner.warning(
                        f"{where}: record not imported: {record.error}",
                        title="metrics import",
                        file=record.file,
                        line=record.line or None,
                    )
                    continue
                records += 1
                schema.validate(record.payload, "batch-metrics", file=f"{record.file}:{record.line}")
                shape = "ecosystems map" if record.ecosystems is not None else "ecosystem"
                kinds[shape] = kinds.get(shape, 0) + 1
                done = db.record(
                    record.payload,
                    metrics.idempotency_key(record.payload),
                    source="import",
                    received_at=now,
                    ecosystems=record.ecosystems,
                )
                created += done.created
                duplicates += not done.created
        total = db.count()
    shapes = ", ".join(f"{count} with an {shape}" for shape, count in sorted(kinds.items())) or "none"
    runner.log(
        f"imported {created} run(s) from {len(files)} file(s) into {args.database}; {duplicates} duplicate(s) skipped "
        f"(already in the store, or repeated); {bad} record(s) not readable; records read: {records} ({shapes}); {total} run(s) in the store"
    )
    runner.set_outputs({"imported": created, "duplicates": duplicates, "unreadable": bad, "files": len(files)})
    runner.summary(
        f"### 📥 metrics import\n\n{created} run(s) imported from {len(files)} file(s); {duplicates} duplicate(s) skipped (same idempotency key); "
        f"{bad} record(s) not readable (reported above with file and line)."
    )
    return 1 if bad else 0


# --- batchops metrics ---------------------------------------------------------------


def _configure_metrics(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="{serve,import}")
    serve = sub.add_parser(
        "serve", help="run POST /batch-metrics (bearer token, SQLite storage, one run per Idempotency-Key)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    add_input(serve, "database", "SQLite store", default=DEFAULT_DATABASE)
    add_input(serve, "token", f"bearer token clients must send (also {TOKEN_ENV})")
    importer = sub.add_parser(
        "import", help="import legacy batch-runs records (files or folders; every layout and shape; idempotent)"
    )
    importer.add_argument(
        "paths",
        nargs="+",
        metavar="FILE|DIR",
        help="batch-runs files (JSONL or pretty-printed objects) or folders of them",
    )
    add_input(importer, "database", "SQLite store", default=DEFAULT_DATABASE)
    add_now(importer)


def _run_metrics(args: argparse.Namespace) -> int:
    if args.action == "serve":
        token = args.token or runner.setting(TOKEN_ENV)
        runner.mask(token)
        server = make_server(args.database, token, host=args.host, port=args.port, verbose=True)
        runner.log(f"batchops metrics: serving POST {server.url}/batch-metrics into {args.database} (Ctrl-C stops)")
        try:
            server.serve_forever()
        finally:
            server.server_close()
        return 0
    return _run_import(args)


METRICS = Command(
    help="metrics store: `serve` the upload endpoint, `import` legacy batch-runs records",
    configure=_configure_metrics,
    run=_run_metrics,
)

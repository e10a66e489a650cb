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
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchops.adapters import runner, schema, telemetry
from batchops.adapters.files import write_atomic
from batchops.adapters.metrics_server import (  # noqa: F401 - tests build the server through this module
    TOKEN_ENV,
    MetricsHandler,
    MetricsServer,
    make_server,
)
from batchops.adapters.store import DEFAULT_DATABASE, Store
from batchops.core import escape, metrics
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
from batchops.flags import Command, add_dry_run, add_input, add_now, clock, parse_bool, parse_float
from batchops.render import markdown

EXIT_UNREACHABLE = 75

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


@dataclass
class _Tally:
    """What a replay did, file by file (the rows of its summary) and in all."""

    sent: int = 0
    remaining: int = 0
    rejected: int = 0
    unreadable: int = 0
    not_honored: bool = False
    rows: list[list[Any]] = field(default_factory=list)


def _run_replay(args: argparse.Namespace) -> int:
    token = args.token or runner.setting(TOKEN_ENV)
    runner.mask(token)
    now = clock(args)
    endpoint = (args.endpoint or "").strip()
    if token and not endpoint:
        raise UsageError(
            "a token is sent only to the endpoint given on the command line, never to the one a spool file names",
            field="endpoint",
            hint="pass --endpoint https://telemetry.example.com together with --token "
            "(spool files are artifacts anyone who wrote them could point elsewhere)",
        )
    if endpoint:
        telemetry.check_endpoint(endpoint)
    policy = RetryPolicy(
        max_time=parse_float(args.max_time, field="max-time", minimum=0),
        request_timeout=parse_float(args.request_timeout, field="request-timeout", minimum=0.1),
    )
    directory = Path(args.spool_dir or default_spool_dir())
    tally = _Tally()
    loaded = _read_spool(directory, tally)
    plan = metrics.replay_plan(
        [(str(path), _recorded_endpoint(document), is_dead) for path, document, is_dead in loaded],
        endpoint=endpoint,
        token_given=bool(token),
        retry_rejected=args.retry_rejected,
    )
    session = None
    try:
        for (path, document, _), item in zip(loaded, plan, strict=True):
            if item.action == metrics.SEND:
                session = session or telemetry.new_session()
            send = _Send(token if item.with_token else "", policy, session, args.database, now)
            _replay_one(path, document, item, send, directory, tally)
    finally:
        if session is not None:
            session.close()
    _report(tally, directory)
    return EXIT_UNREACHABLE if tally.remaining else 0


def _read_spool(directory: Path, tally: _Tally) -> list[tuple[Path, dict[str, Any], bool]]:
    """The spool files and the dead letters (``rejected/``), each with whether it is a dead letter."""
    rejected_dir = directory / REJECTED_DIR
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    dead = sorted(rejected_dir.glob("*.json")) if rejected_dir.is_dir() else []
    loaded: list[tuple[Path, dict[str, Any], bool]] = []
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
            tally.unreadable += 1
            runner.warning(exc.render(), title="unreadable spool file; left in place")
            tally.rows.append([path.name, "-", "unreadable spool file; left in place"])
    return loaded


@dataclass(frozen=True)
class _Send:
    """How one spooled payload is delivered: the token it may carry, the policy, the session, the store."""

    token: str
    policy: RetryPolicy
    session: Any
    database: str
    now: Any


def _replay_one(path: Path, document: dict[str, Any], item: Any, send: _Send, directory: Path, tally: _Tally) -> None:
    """Send, store or hold one spool file as the plan says, and keep, move or remove the file accordingly."""
    payload, key = metrics.upgrade_payload(document["payload"]), document["idempotency_key"]
    label = f"{payload['batch_id']}/{payload['ecosystem']}"
    last_error = document.get("last_error", "")
    if item.action == metrics.HOLD:
        tally.rejected += 1
        runner.log(
            escape.flatten(
                f"{path.name}: {label}: dead letter ({last_error}), not re-sent; --retry-rejected re-sends it", 600
            )
        )
        tally.rows.append([path.name, label, f"dead letter, not re-sent: {last_error}"])
        return
    if item.action == metrics.SEND:
        delivery = delivering.send(item.endpoint, send.token, payload, key, send.policy, session=send.session)
        for line in delivery.log:
            runner.log(f"{path.name}: {line}")
        if item.note:
            runner.log(f"{path.name}: {item.note}")
    else:
        delivery = delivering.store(send.database, payload, key, at=send.now, source="replay")
    if delivery.ok:
        path.unlink(missing_ok=True)  # a concurrent replay of this folder may have sent and removed it
        tally.sent += 1
        tally.not_honored = tally.not_honored or (item.action == metrics.SEND and not delivery.honored)
        tally.rows.append([path.name, label, "sent (already recorded: counted once)" if delivery.duplicate else "sent"])
        return
    attempts = int(document.get("attempts", 0)) + delivery.attempts
    where = item.endpoint or str(document.get("endpoint", ""))
    updated = spool_document(payload, key, where, delivery, at=send.now, attempts=attempts)
    updated["spooled_at"] = document.get("spooled_at", updated["spooled_at"])
    if delivery.kind == metrics.REJECTED:
        tally.rejected += 1
        target = write_spool(directory, updated, rejected=True)
        if target != path:
            path.unlink(missing_ok=True)
        advice = metrics.hint(delivery.status, reason=delivery.reason)
        runner.warning(
            f"{path.name}: refused for good ({delivery.error}); {advice}; kept as a dead letter in {target}",
            title="metrics-replay",
        )
        tally.rows.append([path.name, label, f"refused: {delivery.error}; dead letter"])
        return
    tally.remaining += 1
    if path.exists():  # not when a concurrent replay delivered it meanwhile: it would be sent again
        write_atomic(path, json.dumps(updated, indent=2) + "\n")
    runner.warning(f"{path.name}: not delivered ({delivery.error}); left in the spool", title="metrics-replay")
    tally.rows.append([path.name, label, f"kept: {delivery.error}"])


def _report(tally: _Tally, directory: Path) -> None:
    runner.set_outputs({"sent": tally.sent, "remaining": tally.remaining, "rejected": tally.rejected})
    where = markdown.md_escape(str(directory))
    text = f"### 📤 metrics replay\n\n{tally.sent} sent, {tally.remaining} left in {where}, "
    text += f"{tally.rejected} dead letter(s)"
    text += f", {tally.unreadable} unreadable\n\n" if tally.unreadable else "\n\n"
    if tally.not_honored:
        text += f"ℹ️ {NOT_HONORED}.\n\n"
    if tally.rows:
        text += markdown.md_table(["spool file", "run", "result"], tally.rows)
    else:
        text += "Nothing to replay.\n"
    runner.summary(text)
    runner.log(
        f"metrics-replay: {tally.sent} sent, {tally.remaining} left in {directory}, "
        f"{tally.rejected} dead letter(s) in {directory / REJECTED_DIR}"
    )


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
    if parse_bool(args.dry_run, field="--dry-run"):
        return _preview_import(files)
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
        f"(already in the store, or repeated); {bad} record(s) not readable; records read: {records} ({shapes}); "
        f"{total} run(s) in the store"
    )
    runner.set_outputs({"imported": created, "duplicates": duplicates, "unreadable": bad, "files": len(files)})
    runner.summary(
        f"### 📥 metrics import\n\n{created} run(s) imported from {len(files)} file(s); "
        f"{duplicates} duplicate(s) skipped (same idempotency key); "
        f"{bad} record(s) not readable (reported above with file and line)."
    )
    return 1 if bad else 0


# --- batchops metrics ---------------------------------------------------------------


def _preview_import(files: list[Path]) -> int:
    """``metrics import --dry-run``: every record read and checked, nothing written (no store is opened)."""
    good = bad = 0
    for path in files:
        for record in read_legacy(path):
            if record.payload is None:
                bad += 1
                where = f"{record.file}:{record.line}" if record.line else record.file
                runner.warning(f"{where}: record would not be imported: {record.error}", title="metrics import")
                continue
            schema.validate(record.payload, "batch-metrics", file=f"{record.file}:{record.line}")
            good += 1
    runner.out_block(
        f"dry run: {good} record(s) from {len(files)} file(s) would be imported (duplicates of runs already in the "
        f"store are skipped then); {bad} not readable; nothing written"
    )
    return 1 if bad else 0


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
    add_dry_run(importer, "read and check the records, say how many would be imported; write nothing")
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

"""Delivering batch metrics, shared by the ``metrics-upload`` step and ``batchops metrics-replay``.

- :func:`upload`: the metrics-upload step's delivery of one payload (:class:`Upload` in,
  :class:`Uploaded` out): to the endpoint or the embedded store, spooled or kept as a dead letter;
- :func:`send`: one payload to the telemetry endpoint (retried by the policy, see
  :mod:`batchops.adapters.telemetry`), the token scrubbed from everything the endpoint said;
- :func:`store`: one payload into the embedded SQLite store (what the contract refuses is refused
  for good, as an endpoint would);
- :func:`spool_document` / :func:`write_spool`: what could not be delivered is kept, one file per
  idempotency key; a dead letter (refused for good) under ``rejected/``, never re-sent unasked.

No argument parsing, no printing: the step and the command build the values and report the results.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from batchops.adapters import runner, schema, telemetry
from batchops.adapters.files import write_atomic
from batchops.adapters.store import Store
from batchops.core import metrics, timeutil
from batchops.core.metrics import Delivery, RetryPolicy
from batchops.errors import BatchopsError

REJECTED_DIR = "rejected"
NOT_HONORED = (
    "this endpoint does not say that it honours Idempotency-Key (no `Batchops-Idempotency: honored` header): "
    "a re-run of this job, or a replay of a payload that did arrive, will be counted again by it"
)


def default_spool_dir() -> str:
    job = runner.job_temp_dir()
    return str(job / "batchops-spool") if job else ".batchops/spool"


def scrub(text: str, token: str) -> str:
    """``text`` without the token (an endpoint may echo the Authorization header back)."""
    return text.replace(token, "***") if token and len(token) >= 4 else text


def send(
    endpoint: str, token: str, payload: dict[str, Any], key: str, policy: RetryPolicy, *, session: Any = None
) -> Delivery:
    """POST one payload until accepted, refused for good or ``policy.max_time`` is spent; the token scrubbed."""
    delivery = telemetry.post(endpoint, token, payload, key, policy, session=session)
    delivery.log = [scrub(line, token) for line in delivery.log]
    delivery.error, delivery.reason = scrub(delivery.error, token), scrub(delivery.reason, token)
    return delivery


def store(database: str, payload: dict[str, Any], key: str, *, at: Any, source: str) -> Delivery:
    """Record one payload in the embedded store; a payload off the contract is refused for good (422)."""
    found = schema.problems(payload, "batch-metrics", file="spooled payload")
    if found:  # the embedded store holds the contract's payloads only: refused for good
        reason = f"{found[0].pointer or '/'}: {found[0].message}"
        return Delivery(
            ok=False, status=422, attempts=1, error=f"refused by the embedded store: {reason}", reason=reason
        )
    try:
        with Store(database) as db:
            recorded = db.record(payload, key, source=source, received_at=at)
        return Delivery(ok=True, attempts=1, duplicate=not recorded.created, honored=True)
    except (BatchopsError, sqlite3.Error, OSError) as exc:
        return Delivery(
            ok=False, error=exc.render() if isinstance(exc, BatchopsError) else f"{exc.__class__.__name__}: {exc}"
        )


def spool_document(
    payload: dict[str, Any], key: str, endpoint: str, delivery: Delivery, *, at: Any, attempts: int | None = None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "spool_version": 1,
        "idempotency_key": key,
        "endpoint": telemetry.safe_url(endpoint) if endpoint else "",
        "spooled_at": timeutil.iso(at),
        "attempts": delivery.attempts if attempts is None else attempts,
        "last_error": delivery.error,
        "payload": payload,
    }
    if delivery.status is not None:
        document["status"] = delivery.status
    if delivery.reason:
        document["reason"] = delivery.reason
    return document


def write_spool(directory: str | Path, document: dict[str, Any], *, rejected: bool = False) -> Path:
    """One file per idempotency key (spooling the same run again replaces it); dead letters under ``rejected/``."""
    schema.validate(document, "batch-metrics-spool", file="spool")
    folder = Path(directory) / REJECTED_DIR if rejected else Path(directory)
    path = folder / metrics.spool_name(document["payload"], document["idempotency_key"])
    write_atomic(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    return path


# --- one upload (the metrics-upload step) ------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One validated payload to deliver: to ``endpoint`` (with ``token``), else into ``database``."""

    payload: dict[str, Any]
    key: str
    endpoint: str
    token: str
    policy: RetryPolicy
    spool_dir: str
    database: str
    at: Any
    dry_run: bool = False  # where it would go only: nothing sent, spooled or stored


@dataclass(frozen=True)
class Uploaded:
    """Where the payload went: ``endpoint``, ``database``, ``spool`` (to replay) or ``rejected`` (a dead letter)."""

    delivery: Delivery
    destination: str
    spooled: Path | None = None


def upload(options: Upload) -> Uploaded:
    """Deliver one payload; what could not be delivered is spooled, what was refused for good kept apart."""
    payload, key, at = options.payload, options.key, options.at
    if options.dry_run:
        return Uploaded(Delivery(ok=False), "endpoint" if options.endpoint else "database")
    if options.endpoint:
        delivery = send(options.endpoint, options.token, payload, key, options.policy)
        if delivery.ok:
            return Uploaded(delivery, "endpoint")
        dead = delivery.kind == metrics.REJECTED
        document = spool_document(payload, key, options.endpoint, delivery, at=at)
        return Uploaded(
            delivery, "rejected" if dead else "spool", write_spool(options.spool_dir, document, rejected=dead)
        )
    delivery = store(options.database, payload, key, at=at, source="upload")
    if delivery.ok:
        return Uploaded(delivery, "database")
    document = spool_document(payload, key, "", delivery, at=at, attempts=0)
    return Uploaded(delivery, "spool", write_spool(options.spool_dir, document))

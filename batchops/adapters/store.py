"""The embedded metrics store: SQLite with the production tables ``batch_runs`` and ``recipe_results``.

The columns of the telemetry service's D1 database are kept as they are, so a
query written for production runs here unchanged; batchops adds a few columns
(marked below) that production can ignore:

``batch_runs``
    id, batch_id, ecosystem, started_at, completed_at, total_recipes, passed,
    failed, skipped, success_rate (fraction 0..1), macos_minutes, linux_minutes
    -- production
    idempotency_key (UNIQUE), sampled (0/1), sample_rate, source
    (upload/serve/import/replay), received_at, ecosystems (JSON map of a legacy
    multi-ecosystem batch record, stored under the ecosystem ``mixed``) -- batchops
``recipe_results``
    id, batch_run_id, recipe_name, ecosystem, result, error_category,
    error_message, duration_seconds -- production
    platform -- batchops

The same idempotency key never creates a second run: the insert of the run and
of its recipe results is one transaction, guarded by the UNIQUE key.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from batchops.adapters import runner
from batchops.core import timeutil
from batchops.errors import BatchopsError

DEFAULT_DATABASE = ".batchops/metrics.db"
STATE_FOLDER = ".batchops"  # batchops' own folder beside a checkout: it ignores itself for git
SCHEMA_VERSION = 2

DDL = """
CREATE TABLE IF NOT EXISTS batch_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    started_at TEXT NOT NULL,
    completed_at TEXT,
    total_recipes INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    success_rate REAL NOT NULL DEFAULT 0.0,
    macos_minutes REAL NOT NULL DEFAULT 0.0,
    linux_minutes REAL NOT NULL DEFAULT 0.0,
    idempotency_key TEXT UNIQUE,
    sampled INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT 'upload',
    received_at TEXT,
    sample_rate REAL,
    ecosystems TEXT
);
CREATE TABLE IF NOT EXISTS recipe_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_run_id INTEGER NOT NULL,
    recipe_name TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    result TEXT NOT NULL,
    error_category TEXT,
    error_message TEXT,
    duration_seconds REAL NOT NULL DEFAULT 0.0,
    platform TEXT,
    FOREIGN KEY (batch_run_id) REFERENCES batch_runs(id)
);
CREATE INDEX IF NOT EXISTS idx_batch_runs_batch_id ON batch_runs(batch_id);
CREATE INDEX IF NOT EXISTS idx_batch_runs_ecosystem ON batch_runs(ecosystem);
CREATE INDEX IF NOT EXISTS idx_batch_runs_completed_at ON batch_runs(completed_at);
CREATE INDEX IF NOT EXISTS idx_recipe_results_batch_run_id ON recipe_results(batch_run_id);
CREATE INDEX IF NOT EXISTS idx_recipe_results_recipe_name ON recipe_results(recipe_name);
CREATE INDEX IF NOT EXISTS idx_recipe_results_result ON recipe_results(result);
"""

# What each schema version adds to a store written by an older batchops.
MIGRATIONS = {
    2: ["ALTER TABLE batch_runs ADD COLUMN sample_rate REAL", "ALTER TABLE batch_runs ADD COLUMN ecosystems TEXT"],
}

RUN_COLUMNS = (
    "batch_id",
    "ecosystem",
    "started_at",
    "completed_at",
    "total_recipes",
    "passed",
    "failed",
    "skipped",
    "success_rate",
    "macos_minutes",
    "linux_minutes",
)


@dataclass(frozen=True)
class Recorded:
    run_id: int
    created: bool  # False: the idempotency key was already stored (a retry or replay)


def ignored_folder(folder: Path) -> None:
    """Create ``folder``; a ``.batchops`` folder gets a ``.gitignore`` of ``*``, so a store written into a
    checkout never shows in ``git status`` and is never committed (the checkout's own .gitignore is the user's)."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / ".gitignore"
    if folder.name == STATE_FOLDER and not marker.exists():
        try:
            marker.write_text("# written by batchops: this folder holds local state (metrics store, journal)\n*\n")
        except OSError:
            pass  # a read-only folder: the store's own open reports what matters


class Store:
    """One SQLite connection; open one per thread (``metrics serve`` does, per request)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            ignored_folder(Path(self.path).parent)
        try:
            self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys = ON")
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            if version == 0:
                self.conn.executescript(DDL)
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version < SCHEMA_VERSION:
                self._migrate(version)
        except sqlite3.Error as exc:
            raise BatchopsError(
                f"cannot open the metrics database: {exc}",
                file=self.path,
                hint="check the path of the `database` input and that its folder is writable",
            ) from None

    def _migrate(self, version: int) -> None:
        with self._transaction() as conn:
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS.get(step, []):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def record(
        self,
        payload: dict[str, Any],
        key: str,
        *,
        source: str = "upload",
        received_at: datetime | None = None,
        ecosystems: dict[str, int] | None = None,
    ) -> Recorded:
        """Store one run and its recipe results, once per idempotency key."""
        received = timeutil.iso(received_at or runner.now())
        with self._transaction() as conn:
            row = conn.execute("SELECT id FROM batch_runs WHERE idempotency_key = ?", (key,)).fetchone()
            if row is not None:
                return Recorded(int(row["id"]), False)
            values = [payload.get(column, 0) for column in RUN_COLUMNS]
            for index, column in enumerate(RUN_COLUMNS):
                if column in ("started_at", "completed_at"):
                    # one format (…Z) so that text order is time order
                    values[index] = timeutil.iso(timeutil.parse_iso(str(values[index]), field=column))
            cursor = conn.execute(
                f"INSERT INTO batch_runs ({', '.join(RUN_COLUMNS)}, "
                "idempotency_key, sampled, sample_rate, source, received_at, ecosystems) "
                f"VALUES ({', '.join('?' for _ in RUN_COLUMNS)}, ?, ?, ?, ?, ?, ?)",
                [
                    *values,
                    key,
                    int(bool(payload.get("sampled", False))),
                    payload.get("sample_rate"),
                    source,
                    received,
                    json.dumps(ecosystems, sort_keys=True) if ecosystems is not None else None,
                ],
            )
            run_id = int(cursor.lastrowid or 0)
            conn.executemany(
                "INSERT INTO recipe_results (batch_run_id, recipe_name, ecosystem, result, error_category, "
                "error_message, duration_seconds, platform) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        item["recipe_name"],
                        item.get("ecosystem") or payload["ecosystem"],
                        item["result"],
                        item.get("error_category"),
                        item.get("error_message"),
                        float(item.get("duration_seconds", 0.0)),
                        item.get("platform"),
                    )
                    for item in payload.get("results", [])
                ],
            )
        return Recorded(run_id, True)

    def runs(self, *, since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
        """Runs ordered by completion time (ISO text sorts chronologically: all stored as …Z)."""
        query = "SELECT * FROM batch_runs"
        clauses, params = [], []
        if since is not None:
            clauses.append("completed_at > ?")
            params.append(timeutil.iso(since))
        if until is not None:
            clauses.append("completed_at <= ?")
            params.append(timeutil.iso(until))
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY completed_at, id"
        return [dict(row) for row in self.conn.execute(query, params)]

    def page(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ecosystem: str | None = None,
        after: tuple[str, int] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Runs by start (``since <= started_at < until``), then id, after a cursor: the read endpoint's order."""
        clauses: list[str] = []
        params: list[Any] = []
        if since is not None:
            clauses.append("started_at >= ?")
            params.append(timeutil.iso(since))
        if until is not None:
            clauses.append("started_at < ?")
            params.append(timeutil.iso(until))
        if ecosystem is not None:
            clauses.append("ecosystem = ?")
            params.append(ecosystem)
        if after is not None:
            clauses.append("(started_at > ? OR (started_at = ? AND id > ?))")
            params += [after[0], after[0], after[1]]
        query = "SELECT id, " + ", ".join(RUN_COLUMNS) + " FROM batch_runs"
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY started_at, id LIMIT ?"
        params.append(limit)
        return [dict(row) for row in self.conn.execute(query, params)]

    def recipe_results(self, run_id: int) -> list[dict[str, Any]]:
        return [
            dict(row)
            for row in self.conn.execute("SELECT * FROM recipe_results WHERE batch_run_id = ? ORDER BY id", (run_id,))
        ]

    def count(self, table: str = "batch_runs") -> int:
        if table not in ("batch_runs", "recipe_results"):
            raise ValueError(table)
        return int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

"""metrics-upload: the payload, the idempotency key, the embedded store, import, serve and replay.

Network faults and retries are in test_metrics_http.py; the act run in test_metrics_act.py.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from batchops.adapters import schema
from batchops.adapters.store import Store
from batchops.steps import metrics_upload as metrics
from tests.cli_helpers import run_cli

TOKEN = "tok-3f9a1c77e2-do-not-print"


def results_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "batch_id": "2026-02-06-homebrew",
        "ecosystem": "homebrew",
        "started_at": "2026-02-06T17:00:00Z",
        "completed_at": "2026-02-06T17:55:11Z",
        "macos_minutes": 12.5,
        "linux_minutes": 30,
        "results": [
            {"recipe_name": "cmake", "result": "passed", "platform": "linux-x86_64", "duration_seconds": 41.2},
            {"recipe_name": "cmake", "result": "failed", "platform": "darwin-arm64", "error_category": "checksum", "error_message": "sha256 mismatch"},
            {"recipe_name": "helm", "result": "passed", "platform": "linux-x86_64"},
            {"recipe_name": "ollama", "result": "skipped", "platform": "linux-arm64", "sampled": False},
        ],
    }
    doc.update(overrides)
    return doc


def write_results(folder: Path, doc: dict[str, Any] | str | None = None, name: str = "results.json") -> Path:
    path = folder / name
    value = results_doc() if doc is None else doc
    path.write_text(value if isinstance(value, str) else json.dumps(value, indent=2))
    return path


# --- the payload ----------------------------------------------------------------------


def test_payload_counts_results_and_rates_only_attempted_recipes() -> None:
    payload = metrics.build_payload(results_doc())
    assert payload["total_recipes"] == 3  # cmake, helm, ollama
    assert (payload["passed"], payload["failed"], payload["skipped"]) == (2, 1, 1)
    assert payload["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert payload["macos_minutes"] == 12.5 and payload["linux_minutes"] == 30
    assert payload["results"][1] == {
        "recipe_name": "cmake",
        "result": "failed",
        "platform": "darwin-arm64",
        "error_category": "checksum",
        "error_message": "sha256 mismatch",
    }
    schema.validate(payload, "batch-metrics", file="payload")


def test_run_where_nothing_was_attempted_has_rate_zero_and_no_minutes() -> None:
    doc = results_doc(results=[{"recipe_name": "a", "result": "skipped"}])
    del doc["macos_minutes"], doc["linux_minutes"]
    payload = metrics.build_payload(doc)
    assert payload["success_rate"] == 0.0
    assert payload["macos_minutes"] == 0 and payload["linux_minutes"] == 0


def test_idempotency_key_is_the_run_identity_not_the_counts() -> None:
    a = metrics.build_payload(results_doc())
    same_run_other_format = metrics.build_payload(results_doc(started_at="2026-02-06T17:00:00+00:00", results=[]))
    other_run = metrics.build_payload(results_doc(completed_at="2026-02-06T18:00:00Z"))
    assert metrics.idempotency_key(a) == metrics.idempotency_key(same_run_other_format)
    assert metrics.idempotency_key(a) != metrics.idempotency_key(other_run)
    assert len(metrics.idempotency_key(a)) == 64


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["passed", "failed", "skipped"])), max_size=30))
def test_counts_always_add_up_and_rate_stays_a_fraction(entries: list[tuple[str, str]]) -> None:
    payload = metrics.build_payload(results_doc(results=[{"recipe_name": n, "result": r} for n, r in entries]))
    assert payload["passed"] + payload["failed"] + payload["skipped"] == len(entries)
    assert payload["total_recipes"] == len({n for n, _ in entries})
    assert 0.0 <= payload["success_rate"] <= 1.0
    schema.validate(payload, "batch-metrics", file="payload")


# --- metrics-upload into the embedded store (no endpoint) -----------------------------


def test_without_endpoint_the_run_goes_to_the_embedded_database_once(tmp_path: Path) -> None:
    write_results(tmp_path)
    first = run_cli(["metrics-upload", "--results-file", "results.json"], tmp_path)
    assert first.returncode == 0, first.log
    assert first.outputs["uploaded"] == "true" and first.outputs["destination"] == "database"
    assert first.outputs["duplicate"] == "false"
    again = run_cli(["metrics-upload"], tmp_path, env={"INPUT_RESULTS_FILE": "results.json"})
    assert again.outputs["duplicate"] == "true"
    with Store(tmp_path / ".batchops" / "metrics.db") as db:
        runs = db.runs()
        assert len(runs) == 1
        assert runs[0]["idempotency_key"] == first.outputs["idempotency-key"]
        assert [r["recipe_name"] for r in db.recipe_results(runs[0]["id"])] == ["cmake", "cmake", "helm", "ollama"]
        assert db.recipe_results(runs[0]["id"])[1]["error_category"] == "checksum"
    assert "2026-02-06-homebrew" in first.summary and "stored in" in first.summary


def test_invalid_results_file_fails_the_step_naming_the_field(tmp_path: Path) -> None:
    doc = results_doc()
    doc["results"][2]["result"] = "ok"
    write_results(tmp_path, doc)
    run = run_cli(["metrics-upload", "--results-file", "results.json"], tmp_path)
    assert run.returncode != 0
    assert "results.json" in run.stdout and "/results/2/result" in run.stdout
    assert '"passed"' in run.stdout  # the fix lists the allowed values
    assert not (tmp_path / ".batchops").exists()


def test_missing_results_file_fails_the_step(tmp_path: Path) -> None:
    run = run_cli(["metrics-upload", "--results-file", "nope.json"], tmp_path)
    assert run.returncode != 0 and "nope.json" in run.stdout and "file not found" in run.stdout


def test_batch_id_input_that_contradicts_the_results_file_is_an_error(tmp_path: Path) -> None:
    write_results(tmp_path)
    run = run_cli(["metrics-upload", "--results-file", "results.json", "--batch-id", "2026-02-07-npm"], tmp_path)
    assert run.returncode == 2
    assert "batch-id" in run.stdout and "2026-02-06-homebrew" in run.stdout


# --- the store ------------------------------------------------------------------------


def test_store_has_the_production_columns(tmp_path: Path) -> None:
    Store(tmp_path / "m.db").close()
    conn = sqlite3.connect(tmp_path / "m.db")
    runs = {row[1] for row in conn.execute("PRAGMA table_info(batch_runs)")}
    results = {row[1] for row in conn.execute("PRAGMA table_info(recipe_results)")}
    production_runs = {"id", "batch_id", "ecosystem", "started_at", "completed_at", "total_recipes", "passed", "failed", "skipped", "success_rate", "macos_minutes", "linux_minutes"}
    production_results = {"id", "batch_run_id", "recipe_name", "ecosystem", "result", "error_category", "error_message", "duration_seconds"}
    assert production_runs | {"idempotency_key", "sampled"} <= runs
    assert production_results | {"platform"} <= results
    with pytest.raises(sqlite3.IntegrityError):
        conn.executemany(
            "INSERT INTO batch_runs (batch_id, ecosystem, started_at, idempotency_key) VALUES (?, ?, ?, ?)",
            [("b", "npm", "2026-01-01T00:00:00Z", "k"), ("b", "npm", "2026-01-01T00:00:00Z", "k")],
        )


# --- batchops metrics import ----------------------------------------------------------


def test_corpus_import_maps_platform_counts_and_skips_repeated_records(tmp_path: Path, corpus: Path) -> None:
    source = corpus / "metrics" / "batch-runs.sample.jsonl"
    lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    distinct = {json.dumps(r, sort_keys=True) for r in lines}
    run = run_cli(["metrics", "import", str(source), "--database", "m.db"], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert int(run.outputs["imported"]) == len(distinct)
    assert int(run.outputs["duplicates"]) == len(lines) - len(distinct)
    rerun = run_cli(["metrics", "import", str(source), "--database", "m.db"], tmp_path, actions=False)
    assert rerun.outputs["imported"] == "0"
    with Store(tmp_path / "m.db") as db:
        runs = db.runs()
    assert len(runs) == len(distinct)
    first = lines[0]
    row = next(r for r in runs if r["completed_at"] == first["timestamp"])
    assert row["passed"] == sum(p["passed"] for p in first["platforms"].values())
    assert row["failed"] == sum(p["failed"] for p in first["platforms"].values())
    assert row["total_recipes"] == first["total"]
    assert row["source"] == "import"


def test_import_with_a_bad_line_names_the_line_and_writes_nothing(tmp_path: Path) -> None:
    good = {"batch_id": "2026-02-03-homebrew", "ecosystem": "homebrew", "platforms": {}, "timestamp": "2026-02-03T04:58:07Z"}
    bad = dict(good, timestamp="yesterday")
    (tmp_path / "runs.jsonl").write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    run = run_cli(["metrics", "import", "runs.jsonl", "--database", "m.db"], tmp_path)
    assert run.returncode == 1
    assert "runs.jsonl:3" in run.stdout and "/timestamp" in run.stdout
    with Store(tmp_path / "m.db") as db:
        assert db.count() == 0


# --- batchops metrics serve -----------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    srv = metrics.make_server(str(tmp_path / "served.db"), TOKEN).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _post(url: str, payload: Any, *, token: str = TOKEN, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(url + "/batch-metrics", json=payload, headers=headers, timeout=5)


def test_serve_creates_once_per_idempotency_key(server: metrics.MetricsServer) -> None:
    payload = metrics.build_payload(results_doc())
    key = metrics.idempotency_key(payload)
    created = _post(server.url, payload, key=key)
    assert created.status_code == 201 and created.json()["duplicate"] is False
    duplicate = _post(server.url, payload, key=key)
    assert duplicate.status_code == 200 and duplicate.json()["id"] == created.json()["id"]
    with Store(server.database) as db:
        assert db.count() == 1 and db.count("recipe_results") == 4


def test_serve_rejects_a_wrong_token_and_an_invalid_payload(server: metrics.MetricsServer) -> None:
    payload = metrics.build_payload(results_doc())
    denied = _post(server.url, payload, token="wrong")
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"] == "Bearer"
    no_auth = requests.post(server.url + "/batch-metrics", json=payload, timeout=5)
    assert no_auth.status_code == 401
    broken = dict(payload, success_rate=3)
    invalid = _post(server.url, broken)
    assert invalid.status_code == 422 and invalid.json()["field"] == "/success_rate"
    assert requests.get(server.url + "/health", timeout=5).json() == {"status": "ok"}
    with Store(server.database) as db:
        assert db.count() == 0


def test_serve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    run = run_cli(["metrics", "serve", "--port", "0", "--database", "m.db"], tmp_path)
    assert run.returncode == 2 and "token" in run.stdout


# --- metrics-replay ---------------------------------------------------------------------


def spool(folder: Path, endpoint: str, **overrides: Any) -> Path:
    payload = metrics.build_payload(results_doc(**overrides))
    key = metrics.idempotency_key(payload)
    from datetime import UTC, datetime

    return metrics.write_spool(str(folder), payload, key, endpoint, attempts=3, error="HTTP 503", at=datetime(2026, 2, 6, tzinfo=UTC))


def test_replay_sends_each_spooled_payload_once_and_a_second_run_sends_nothing(tmp_path: Path, server: metrics.MetricsServer) -> None:
    spool_dir = tmp_path / "spool"
    spool(spool_dir, server.url)
    spool(spool_dir, server.url, ecosystem="npm", batch_id="2026-02-06-npm")
    first = run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--token", TOKEN], tmp_path)
    assert first.returncode == 0, first.log
    assert first.outputs == {"sent": "2", "remaining": "0"}
    assert not list(spool_dir.glob("*.json"))
    second = run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--token", TOKEN], tmp_path)
    assert second.returncode == 0 and second.outputs["sent"] == "0"
    assert "Nothing to replay" in second.summary
    with Store(server.database) as db:
        assert sorted(r["ecosystem"] for r in db.runs()) == ["homebrew", "npm"]


def test_replaying_a_copy_of_an_already_sent_payload_counts_it_once(tmp_path: Path, server: metrics.MetricsServer) -> None:
    spool_dir = tmp_path / "spool"
    path = spool(spool_dir, server.url)
    copy = path.read_text()
    assert run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--token", TOKEN], tmp_path).returncode == 0
    path.write_text(copy)  # e.g. the artifact was downloaded twice
    again = run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--token", TOKEN], tmp_path)
    assert again.returncode == 0 and "already recorded" in again.summary
    with Store(server.database) as db:
        assert db.count() == 1


def test_replay_with_a_wrong_token_keeps_the_file_and_says_which_secret(tmp_path: Path, server: metrics.MetricsServer) -> None:
    spool_dir = tmp_path / "spool"
    path = spool(spool_dir, server.url)
    run = run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--token", "expired-token-123"], tmp_path)
    assert run.returncode == 1
    assert path.exists()
    kept = json.loads(path.read_text())
    assert kept["attempts"] == 4 and kept["last_error"].startswith("HTTP 401")
    assert "`token` input" in run.stdout
    assert "expired-token-123" not in path.read_text()


def test_replay_without_endpoint_fills_the_embedded_database(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool(spool_dir, "")
    run = run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--database", "m.db"], tmp_path)
    assert run.returncode == 0, run.log
    with Store(tmp_path / "m.db") as db:
        assert [r["source"] for r in db.runs()] == ["replay"]

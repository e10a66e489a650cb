"""metrics-upload into the embedded store, `metrics import`, `metrics serve` and `metrics-replay`, through the CLI.

Network faults and retries are in test_metrics_http.py; the rules in tests/core/test_metrics.py;
the act run in tests/e2e/test_metrics_act.py; both Workers in test_metrics_workers.py.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from batchops.adapters.store import Store
from batchops.commands import metrics as commands
from batchops.core import metrics
from batchops.core.metrics import Delivery
from batchops.engines.metrics import spool_document, write_spool
from tests.cli_helpers import run_cli
from tests.support.metrics import RESULT_COLUMNS, RUN_COLUMNS, TOKEN, results_doc, write_results

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
    production_runs = {"id", *RUN_COLUMNS}
    production_results = {"id", "batch_run_id", *RESULT_COLUMNS}
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


def test_import_with_a_bad_record_names_file_and_line_and_still_imports_the_rest(tmp_path: Path) -> None:
    good = {
        "batch_id": "2026-02-03-homebrew",
        "ecosystem": "homebrew",
        "platforms": {},
        "timestamp": "2026-02-03T04:58:07Z",
    }
    bad = dict(good, timestamp="yesterday")
    later = dict(good, timestamp="2026-02-03T09:00:00Z")
    (tmp_path / "runs.jsonl").write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n" + json.dumps(later) + "\n")
    run = run_cli(["metrics", "import", "runs.jsonl", "--database", "m.db"], tmp_path)
    assert run.returncode == 1
    assert "runs.jsonl:3" in run.stdout and "/timestamp" in run.stdout
    assert (run.outputs["imported"], run.outputs["unreadable"]) == ("2", "1")
    with Store(tmp_path / "m.db") as db:
        assert [r["completed_at"] for r in db.runs()] == ["2026-02-03T04:58:07Z", "2026-02-03T09:00:00Z"]


def test_import_reads_every_real_batch_runs_file_and_folder_once(tmp_path: Path, corpus: Path) -> None:
    folder = corpus / "metrics" / "batch-runs"
    files = sorted(folder.iterdir())
    assert len(files) == 11
    run = run_cli(["metrics", "import", str(folder), "--database", "m.db"], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert (run.outputs["files"], run.outputs["unreadable"]) == ("11", "0")
    assert int(run.outputs["imported"]) == 50  # 40 pretty-printed records in batch-runs.jsonl + 10 single-record files
    again = run_cli(
        [
            "metrics",
            "import",
            *map(str, files),
            str(corpus / "metrics" / "batch-runs.sample.jsonl"),
            "--database",
            "m.db",
        ],
        tmp_path,
        actions=False,
    )
    assert again.returncode == 0 and again.outputs["imported"] == "0"  # the sample holds the same 40 runs, each twice
    with Store(tmp_path / "m.db") as db:
        runs = db.runs()
    assert len(runs) == 50
    by_ecosystem: dict[str, int] = {}
    for row in runs:
        by_ecosystem[row["ecosystem"]] = by_ecosystem.get(row["ecosystem"], 0) + 1
    assert by_ecosystem == {"homebrew": 45, "mixed": 5}
    [one] = [r for r in runs if r["completed_at"] == "2026-03-01T06:00:08Z"]
    assert (one["ecosystem"], json.loads(one["ecosystems"])) == ("homebrew", {"homebrew": 10})
    [many] = [r for r in runs if r["completed_at"] == "2026-03-01T02:09:27Z"]
    assert many["ecosystem"] == "mixed"
    assert sorted(json.loads(many["ecosystems"])) == ["crates.io", "github", "homebrew", "npm", "pypi", "rubygems"]


def test_import_of_a_truncated_pretty_printed_file_keeps_the_records_after_the_break(tmp_path: Path) -> None:
    record = {
        "batch_id": "2026-02-03-homebrew",
        "ecosystem": "homebrew",
        "platforms": {"linux-x86_64": {"tested": 2, "passed": 1, "failed": 1}},
        "timestamp": "2026-02-03T04:58:07Z",
    }
    cut = json.dumps(record, indent=2)[:-30]
    later = json.dumps(dict(record, timestamp="2026-02-04T00:00:00Z"), indent=2)
    (tmp_path / "runs.jsonl").write_text(cut + "\n" + later + "\n")
    run = run_cli(["metrics", "import", "runs.jsonl", "--database", "m.db"], tmp_path)
    assert run.returncode == 1
    assert "runs.jsonl:1" in run.stdout and "not closed" in run.stdout
    assert run.outputs["imported"] == "1"


# --- batchops metrics serve -----------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    srv = commands.make_server(str(tmp_path / "served.db"), TOKEN).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _post(url: str, payload: Any, *, token: str = TOKEN, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(url + "/batch-metrics", json=payload, headers=headers, timeout=5)


def test_serve_creates_once_per_idempotency_key(server: commands.MetricsServer) -> None:
    payload = metrics.build_payload(results_doc())
    key = metrics.idempotency_key(payload)
    created = _post(server.url, payload, key=key)
    assert created.status_code == 201 and created.json()["duplicate"] is False
    duplicate = _post(server.url, payload, key=key)
    assert duplicate.status_code == 200 and duplicate.json()["id"] == created.json()["id"]
    with Store(server.database) as db:
        assert db.count() == 1 and db.count("recipe_results") == 4


def test_serve_rejects_a_wrong_token_and_an_invalid_payload(server: commands.MetricsServer) -> None:
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

    delivery = Delivery(ok=False, attempts=3, error="HTTP 503", status=503)
    return write_spool(folder, spool_document(payload, key, endpoint, delivery, at=datetime(2026, 2, 6, tzinfo=UTC)))


def test_replay_sends_each_spooled_payload_once_and_a_second_run_sends_nothing(
    tmp_path: Path, server: commands.MetricsServer
) -> None:
    spool_dir = tmp_path / "spool"
    spool(spool_dir, server.url)
    spool(spool_dir, server.url, ecosystem="npm", batch_id="2026-02-06-npm")
    first = run_cli(
        ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", server.url, "--token", TOKEN], tmp_path
    )
    assert first.returncode == 0, first.log
    assert first.outputs == {"sent": "2", "remaining": "0", "rejected": "0"}
    assert not list(spool_dir.glob("*.json"))
    second = run_cli(
        ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", server.url, "--token", TOKEN], tmp_path
    )
    assert second.returncode == 0 and second.outputs["sent"] == "0"
    assert "Nothing to replay" in second.summary
    with Store(server.database) as db:
        assert sorted(r["ecosystem"] for r in db.runs()) == ["homebrew", "npm"]


def test_replaying_a_copy_of_an_already_sent_payload_counts_it_once(
    tmp_path: Path, server: commands.MetricsServer
) -> None:
    spool_dir = tmp_path / "spool"
    path = spool(spool_dir, server.url)
    copy = path.read_text()
    assert (
        run_cli(
            ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", server.url, "--token", TOKEN], tmp_path
        ).returncode
        == 0
    )
    path.write_text(copy)  # e.g. the artifact was downloaded twice
    again = run_cli(
        ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", server.url, "--token", TOKEN], tmp_path
    )
    assert again.returncode == 0 and "already recorded" in again.summary
    with Store(server.database) as db:
        assert db.count() == 1


def test_replay_refused_token_becomes_a_dead_letter_that_names_the_secret(
    tmp_path: Path, server: commands.MetricsServer
) -> None:
    spool_dir = tmp_path / "spool"
    path = spool(spool_dir, server.url)
    run = run_cli(
        ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", server.url, "--token", "expired-token-123"],
        tmp_path,
    )
    assert run.returncode == 0  # delivered what could be delivered; the refusal is kept, not retried for ever
    assert not path.exists()
    dead = spool_dir / "rejected" / path.name
    kept = json.loads(dead.read_text())
    assert kept["attempts"] == 4 and kept["last_error"].startswith("HTTP 401") and kept["status"] == 401
    assert "`token` input" in run.stdout
    assert "expired-token-123" not in dead.read_text()
    assert run.outputs == {"sent": "0", "remaining": "0", "rejected": "1"}
    again = run_cli(
        ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", server.url, "--token", TOKEN], tmp_path
    )
    assert again.outputs == {"sent": "0", "remaining": "0", "rejected": "1"}, "a dead letter is not re-sent unasked"
    fixed = run_cli(
        [
            "metrics-replay",
            "--spool-dir",
            str(spool_dir),
            "--endpoint",
            server.url,
            "--token",
            TOKEN,
            "--retry-rejected",
        ],
        tmp_path,
    )
    assert fixed.returncode == 0 and fixed.outputs["sent"] == "1" and not dead.exists()
    with Store(server.database) as db:
        assert db.count() == 1


def test_replay_never_sends_the_token_to_the_endpoint_a_spool_file_names(
    tmp_path: Path, server: commands.MetricsServer
) -> None:
    spool_dir = tmp_path / "spool"
    path = spool(spool_dir, server.url)
    run = run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--token", TOKEN], tmp_path)
    assert run.returncode == 2
    assert "--endpoint" in run.stdout
    assert TOKEN not in "".join(line for line in run.log.splitlines() if not line.startswith("::add-mask::"))
    assert path.exists()
    with Store(server.database) as db:
        assert db.count() == 0


def test_replay_of_an_unreachable_endpoint_exits_75_and_keeps_the_file(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    spool_dir = tmp_path / "spool"
    path = spool(spool_dir, closed)
    run = run_cli(
        ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", closed, "--token", TOKEN, "--max-time", "0"],
        tmp_path,
    )
    assert run.returncode == 75
    assert path.exists() and json.loads(path.read_text())["attempts"] == 4
    assert run.outputs == {"sent": "0", "remaining": "1", "rejected": "0"}


def test_the_command_a_dead_letter_warning_gives_delivers_it_once_the_token_is_fixed(
    tmp_path: Path, server: commands.MetricsServer
) -> None:
    write_results(tmp_path)
    spool_dir = tmp_path / "spool"
    upload = run_cli(
        [
            "metrics-upload",
            "--results-file",
            "results.json",
            "--endpoint",
            server.url,
            "--token",
            "expired-token-123",
            "--spool-dir",
            str(spool_dir),
        ],
        tmp_path,
    )
    assert upload.returncode == 0 and upload.outputs["destination"] == "rejected", upload.log
    (warning,) = [line for line in upload.stdout.splitlines() if line.startswith("::warning")]
    command = warning.split("`batchops ", 1)[1].split("`", 1)[0].split()
    assert command[:1] == ["metrics-replay"] and "--endpoint" in command, (
        warning
    )  # the token goes only to an endpoint given
    fixed = run_cli(command, tmp_path, env={"BATCHOPS_METRICS_TOKEN": TOKEN})
    assert fixed.returncode == 0 and fixed.outputs["sent"] == "1", fixed.log
    with Store(server.database) as db:
        assert db.count() == 1


def test_replay_at_a_terminal_lists_each_dead_letter_with_its_reason(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    payload = metrics.build_payload(results_doc())
    from datetime import UTC, datetime

    refused = Delivery(
        ok=False, attempts=1, error="HTTP 400: Bad request: results[0].ecosystem is required", status=400
    )
    write_spool(
        spool_dir,
        spool_document(
            payload,
            metrics.idempotency_key(payload),
            "https://telemetry.example.com",
            refused,
            at=datetime(2026, 2, 6, tzinfo=UTC),
        ),
        rejected=True,
    )
    run = run_cli(["metrics-replay", "--spool-dir", str(spool_dir)], tmp_path, actions=False)
    assert run.returncode == 0
    listed = [line for line in run.stderr.splitlines() if "dead letter (" in line]
    assert len(listed) == 1 and "2026-02-06-homebrew/homebrew" in listed[0], run.log
    assert "results[0].ecosystem is required" in listed[0] and "--retry-rejected" in listed[0]


def test_a_dead_letter_downloaded_from_its_artifact_outside_rejected_is_still_not_re_sent_unasked(
    tmp_path: Path, server: commands.MetricsServer
) -> None:
    write_results(tmp_path)
    upload = run_cli(
        [
            "metrics-upload",
            "--results-file",
            "results.json",
            "--endpoint",
            server.url,
            "--token",
            "expired-token-123",
            "--spool-dir",
            "spool",
        ],
        tmp_path,
    )
    dead = tmp_path / upload.outputs["spooled-file"]
    assert dead.parent.name == "rejected", upload.log
    downloaded = tmp_path / "artifact"  # upload-artifact of one file keeps the file, not its rejected/ folder
    downloaded.mkdir()
    (downloaded / dead.name).write_text(dead.read_text())
    args = ["metrics-replay", "--spool-dir", str(downloaded), "--endpoint", server.url, "--token", TOKEN]
    held = run_cli(args, tmp_path)
    assert held.returncode == 0 and held.outputs == {"sent": "0", "remaining": "0", "rejected": "1"}, held.log
    with Store(server.database) as db:
        assert db.count() == 0
    asked = run_cli([*args, "--retry-rejected"], tmp_path)
    assert asked.outputs["sent"] == "1" and not list(downloaded.rglob("*.json")), asked.log
    with Store(server.database) as db:
        assert db.count() == 1


def test_two_replays_of_one_spool_folder_at_once_both_succeed_and_count_each_run_once(
    tmp_path: Path, server: commands.MetricsServer
) -> None:
    import threading

    spool_dir = tmp_path / "spool"
    for day in range(10, 22):
        spool(spool_dir, server.url, batch_id=f"2026-02-{day}-homebrew")
    runs: list[Any] = [None, None]
    args = ["metrics-replay", "--spool-dir", str(spool_dir), "--endpoint", server.url, "--token", TOKEN]
    for place in (tmp_path / "a", tmp_path / "b"):
        place.mkdir()
    threads = [
        threading.Thread(target=lambda i=i, where=where: runs.__setitem__(i, run_cli(args, where)))
        for i, where in enumerate((tmp_path / "a", tmp_path / "b"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [run.returncode for run in runs] == [0, 0], [run.log for run in runs]
    assert not list(spool_dir.glob("*.json")), "nothing left behind, nothing written back"
    with Store(server.database) as db:
        assert db.count() == 12


def test_replay_without_endpoint_fills_the_embedded_database(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool(spool_dir, "")
    run = run_cli(["metrics-replay", "--spool-dir", str(spool_dir), "--database", "m.db"], tmp_path)
    assert run.returncode == 0, run.log
    with Store(tmp_path / "m.db") as db:
        assert [r["source"] for r in db.runs()] == ["replay"]


def test_serve_says_it_honours_the_key_on_every_response(server: commands.MetricsServer) -> None:
    payload = metrics.build_payload(results_doc())
    answers = [
        _post(server.url, payload, key="k-1"),
        _post(server.url, payload, key="k-1"),
        _post(server.url, payload, token="wrong"),
        requests.get(server.url + "/health", timeout=5),
        requests.get(server.url + "/nowhere", timeout=5),
    ]
    assert [a.status_code for a in answers] == [201, 200, 401, 200, 404]
    assert {a.headers.get("Batchops-Idempotency") for a in answers} == {"honored"}


def test_a_store_written_by_an_older_batchops_gains_the_new_columns_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE batch_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL, ecosystem TEXT NOT NULL,
            started_at TEXT NOT NULL, completed_at TEXT, total_recipes INTEGER NOT NULL DEFAULT 0,
            passed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
            success_rate REAL NOT NULL DEFAULT 0.0, macos_minutes REAL NOT NULL DEFAULT 0.0,
            linux_minutes REAL NOT NULL DEFAULT 0.0, idempotency_key TEXT UNIQUE,
            sampled INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL DEFAULT 'upload', received_at TEXT);
        CREATE TABLE recipe_results (id INTEGER PRIMARY KEY AUTOINCREMENT, batch_run_id INTEGER NOT NULL,
            recipe_name TEXT NOT NULL, ecosystem TEXT NOT NULL, result TEXT NOT NULL, error_category TEXT,
            error_message TEXT, duration_seconds REAL NOT NULL DEFAULT 0.0, platform TEXT);
        INSERT INTO batch_runs (batch_id, ecosystem, started_at, completed_at, idempotency_key)
            VALUES ('2026-01-01-npm', 'npm', '2026-01-01T00:00:00Z', '2026-01-01T00:10:00Z', 'old');
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    write_results(tmp_path, results_doc(sampled=True, sample_rate=0.5))
    run = run_cli(["metrics-upload", "--results-file", "results.json", "--database", str(path)], tmp_path)
    assert run.returncode == 0 and run.outputs["destination"] == "database", run.log
    with Store(path) as db:
        runs = db.runs()
    assert [r["batch_id"] for r in runs] == ["2026-01-01-npm", "2026-02-06-homebrew"]
    assert (runs[1]["sampled"], runs[1]["sample_rate"]) == (1, 0.5)

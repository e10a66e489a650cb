"""`batchops metrics-upload`, `metrics-replay` and `slo --endpoint` against both telemetry Workers
under ``wrangler dev --local`` with a local D1 (tests/support/wrangler.py).

The production Worker (the first user's, unchanged) must store a real batch's upload exactly;
ours must count a run once whatever is retried, re-run or replayed; a refusal must become a
dead letter with the endpoint's own words.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from batchops.core import metrics
from batchops.core.metrics import Delivery
from batchops.engines.metrics import spool_document, write_spool
from tests.cli_helpers import run_cli
from tests.support import wrangler
from tests.support.metrics import RESULT_COLUMNS, RUN_COLUMNS
from tests.support.wrangler import PRODUCTION, WorkerServer

pytestmark = pytest.mark.xdist_group("wrangler")

production_worker = wrangler.production_worker
batchops_worker = wrangler.batchops_worker

CORPUS = PRODUCTION.parent


def real_results(batch_id: str, ecosystem: str = "homebrew") -> dict[str, Any]:
    """A results file of a real homebrew validation: the corpus failures (names, categories,
    multi-line messages), registry recipes that passed on two platforms, one skipped."""
    failures_file = CORPUS / "failures" / "homebrew-2026-03-03T06-07-41Z.jsonl"
    if not failures_file.is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    failures = json.loads(failures_file.read_text().splitlines()[0])["failures"]
    passed = sorted(path.stem for path in (CORPUS / "recipes").glob("*.toml"))[:4]
    results: list[dict[str, Any]] = []
    for i, name in enumerate(passed):
        for platform in ("linux-x86_64", "darwin-arm64"):
            results.append(
                {"recipe_name": name, "result": "passed", "platform": platform, "duration_seconds": 10.5 + i}
            )
    for failure in failures:
        results.append(
            {
                "recipe_name": failure["package_id"].split(":", 1)[1],
                "result": "failed",
                "platform": "linux-glibc-x86_64",
                "error_category": failure["category"],
                "error_message": failure["message"],
                "duration_seconds": 30,
            }
        )
    results.append({"recipe_name": "ollama", "result": "skipped"})
    return {
        "batch_id": batch_id,
        "ecosystem": ecosystem,
        "started_at": "2026-03-03T06:01:12Z",
        "completed_at": "2026-03-03T06:07:41Z",
        "macos_minutes": 3.5,
        "linux_minutes": 41.25,
        "sampled": True,
        "sample_rate": 0.5,
        "results": results,
    }


def upload(
    tmp_path: Path, worker: WorkerServer | str, results: dict[str, Any], *extra: str, token: str | None = None
) -> Any:
    (tmp_path / "results.json").write_text(json.dumps(results, indent=2))
    endpoint = worker if isinstance(worker, str) else worker.base_url
    secret = token if token is not None else (worker.token if isinstance(worker, WorkerServer) else "unused-token")
    return run_cli(
        [
            "metrics-upload",
            "--results-file",
            "results.json",
            "--endpoint",
            endpoint,
            "--token",
            secret,
            "--spool-dir",
            "spool",
            *extra,
        ],
        tmp_path,
    )


def replay(tmp_path: Path, worker: WorkerServer, *extra: str) -> Any:
    return run_cli(
        ["metrics-replay", "--spool-dir", "spool", "--endpoint", worker.base_url, "--token", worker.token, *extra],
        tmp_path,
    )


def runs_of(worker: WorkerServer, batch_id: str) -> list[dict[str, Any]]:
    return worker.query("SELECT id FROM batch_runs WHERE batch_id = ? ORDER BY id", (batch_id,))


def closed_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_production_stores_a_real_batch_from_metrics_upload_field_by_field(
    tmp_path: Path, production_worker: WorkerServer
) -> None:
    batch_id = f"2026-03-03-homebrew-{uuid.uuid4().hex[:8]}"
    results = real_results(batch_id)

    run = upload(tmp_path, production_worker, results)

    assert run.returncode == 0, run.log
    assert (run.outputs["uploaded"], run.outputs["destination"], run.outputs["duplicate"]) == (
        "true",
        "endpoint",
        "false",
    )
    payload = metrics.build_payload(results)
    [row] = runs_of(production_worker, batch_id)
    [stored] = production_worker.query(f"SELECT {', '.join(RUN_COLUMNS)} FROM batch_runs WHERE id = ?", (row["id"],))
    assert stored == {column: payload[column] for column in RUN_COLUMNS}
    assert (stored["total_recipes"], stored["passed"], stored["failed"], stored["skipped"]) == (
        len(results["results"]),
        8,
        len(results["results"]) - 9,
        1,
    )
    rows = production_worker.query(
        f"SELECT {', '.join(RESULT_COLUMNS)} FROM recipe_results WHERE batch_run_id = ? ORDER BY id", (row["id"],)
    )
    assert rows == [
        {
            "recipe_name": sent["recipe_name"],
            "ecosystem": "homebrew",
            "result": sent["result"],
            "error_category": sent.get("error_category") or None,
            "error_message": sent.get("error_message") or None,  # "" is stored as NULL
            "duration_seconds": sent.get("duration_seconds", 0),
        }
        for sent in results["results"]
    ]
    # production ignores the key: the summary says once that a re-run is counted again
    assert run.summary.count("does not say that it honours Idempotency-Key") == 1


def test_production_refusal_is_a_dead_letter_with_its_plain_text_reason(
    tmp_path: Path, production_worker: WorkerServer
) -> None:
    payload = metrics.build_payload(real_results(f"2026-03-03-homebrew-{uuid.uuid4().hex[:8]}"))
    payload["results"][2]["recipe_name"] = ""  # e.g. a hand-edited spool file
    key = metrics.idempotency_key(payload)
    write_spool(
        tmp_path / "spool",
        spool_document(payload, key, "", Delivery(ok=False, error="HTTP 503"), at=datetime(2026, 3, 3, tzinfo=UTC)),
    )

    first = replay(tmp_path, production_worker)
    again = replay(tmp_path, production_worker)

    reason = "Bad request: results[2].recipe_name is required"
    assert first.returncode == 0, first.log  # delivered what could be delivered
    assert first.outputs == {"sent": "0", "remaining": "0", "rejected": "1"}
    assert f"HTTP 400: {reason}" in first.log and f"HTTP 400: {reason}" in first.summary
    [dead] = (tmp_path / "spool" / "rejected").glob("*.json")
    entry = json.loads(dead.read_text())
    assert (entry["status"], entry["reason"]) == (400, reason)
    assert not list((tmp_path / "spool").glob("*.json"))
    assert (again.returncode, again.outputs["rejected"], again.outputs["sent"]) == (0, "1", "0")
    assert "dead letter, not re-sent" in again.summary
    assert runs_of(production_worker, payload["batch_id"]) == []


def test_a_spool_written_before_results_carried_their_ecosystem_is_delivered(
    tmp_path: Path, production_worker: WorkerServer
) -> None:
    payload = metrics.build_payload(real_results(f"2026-03-03-homebrew-{uuid.uuid4().hex[:8]}"))
    for item in payload["results"]:
        del item["ecosystem"]  # what the earlier payload looked like
    document = spool_document(
        payload,
        metrics.idempotency_key(payload),
        "",
        Delivery(ok=False, error="HTTP 503"),
        at=datetime(2026, 3, 3, tzinfo=UTC),
    )
    folder = tmp_path / "spool"
    folder.mkdir()
    (folder / "old.json").write_text(json.dumps(document))

    run = replay(tmp_path, production_worker)

    assert run.returncode == 0 and run.outputs["sent"] == "1", run.log
    [row] = runs_of(production_worker, payload["batch_id"])
    stored = production_worker.query(
        "SELECT DISTINCT ecosystem FROM recipe_results WHERE batch_run_id = ?", (row["id"],)
    )
    assert stored == [{"ecosystem": "homebrew"}]


def test_ours_counts_a_run_once_through_reupload_outage_spool_and_two_replays(
    tmp_path: Path, batchops_worker: WorkerServer
) -> None:
    batch_id = f"2026-03-03-homebrew-{uuid.uuid4().hex[:8]}"
    results = real_results(batch_id)

    first = upload(tmp_path, batchops_worker, results)
    rerun = upload(tmp_path, batchops_worker, results)
    outage = upload(tmp_path, closed_endpoint(), results, "--max-time", "1", token=batchops_worker.token)
    spooled = Path(tmp_path / outage.outputs["spooled-file"])
    copy = spooled.read_text()
    replayed = replay(tmp_path, batchops_worker)
    spooled.write_text(copy)  # the spool artifact downloaded and replayed twice
    replayed_again = replay(tmp_path, batchops_worker)

    assert (first.outputs["duplicate"], rerun.outputs["duplicate"]) == ("false", "true")
    assert outage.outputs["destination"] == "spool" and outage.returncode == 0
    assert replayed.returncode == 0 and replayed_again.returncode == 0
    assert "already recorded" in replayed.summary and "already recorded" in replayed_again.summary
    assert len(runs_of(batchops_worker, batch_id)) == 1
    [run] = runs_of(batchops_worker, batch_id)
    assert batchops_worker.query("SELECT COUNT(*) AS n FROM recipe_results WHERE batch_run_id = ?", (run["id"],)) == [
        {"n": len(results["results"])}
    ]
    assert batchops_worker.query("SELECT idempotency_key FROM batch_runs WHERE id = ?", (run["id"],)) == [
        {"idempotency_key": first.outputs["idempotency-key"]}
    ]
    assert "honours Idempotency-Key" not in first.summary + rerun.summary


def test_slo_reads_the_runs_from_our_workers_read_endpoint(tmp_path: Path, batchops_worker: WorkerServer) -> None:
    ecosystem = f"eco-{uuid.uuid4().hex[:8]}"
    for day, (passed, failed) in enumerate([(9, 1), (7, 3)], start=1):
        results = real_results(f"2026-05-0{day}-{ecosystem}", ecosystem)
        results.update(started_at=f"2026-05-0{day}T06:00:00Z", completed_at=f"2026-05-0{day}T06:30:00Z")
        results["results"] = [
            {"recipe_name": f"r{i}", "result": "passed" if i < passed else "failed"} for i in range(passed + failed)
        ]
        assert upload(tmp_path, batchops_worker, results).outputs["uploaded"] == "true"

    run = run_cli(
        [
            "slo",
            "--endpoint",
            batchops_worker.base_url,
            "--now",
            "2026-05-03T00:00:00Z",
            "--window",
            "7d",
            "--json",
            "--output",
            "slo.json",
        ],
        tmp_path,
        env={"BATCHOPS_METRICS_TOKEN": batchops_worker.token},
    )

    assert run.returncode == 0, run.log
    report = json.loads((tmp_path / "slo.json").read_text())
    [mine] = [e for e in report["ecosystems"] if e["ecosystem"] == ecosystem]
    assert (mine["runs"], mine["passed"], mine["failed"], mine["success_rate"]) == (2, 16, 4, 80.0)
    assert [d["date"] for d in mine["daily"]] == ["2026-05-01", "2026-05-02"]
    assert report["source"] == batchops_worker.base_url
    assert batchops_worker.token not in run.log.replace(f"::add-mask::{batchops_worker.token}", "")


def test_slo_against_an_endpoint_without_the_read_api_says_which_worker_it_needs(
    tmp_path: Path, production_worker: WorkerServer
) -> None:
    run = run_cli(["slo", "--endpoint", production_worker.base_url, "--token", production_worker.token], tmp_path)

    assert run.returncode == 1
    assert "HTTP 404" in run.stdout and "telemetry Worker" in run.stdout


def test_slo_with_a_wrong_token_names_the_token(tmp_path: Path, batchops_worker: WorkerServer) -> None:
    run = run_cli(["slo", "--endpoint", batchops_worker.base_url, "--token", "wrong-token"], tmp_path)

    assert run.returncode == 1 and "HTTP 401" in run.stdout and "BATCHOPS_METRICS_TOKEN" in run.stdout

"""batchops' own upload (build_payload + post) against both Workers under wrangler dev."""

from __future__ import annotations

from typing import Any

import pytest

from batchops.adapters.telemetry import post
from batchops.core.metrics import RetryPolicy, build_payload, idempotency_key
from tests.support import wrangler
from tests.support.wrangler import WorkerServer

pytestmark = pytest.mark.xdist_group("wrangler")

production_worker = wrangler.production_worker
batchops_worker = wrangler.batchops_worker

POLICY = RetryPolicy(max_time=10, request_timeout=10)


@pytest.fixture(params=["production_worker", "batchops_worker"])
def worker(request: pytest.FixtureRequest) -> WorkerServer:
    return request.getfixturevalue(request.param)


def results_file(batch_id: str) -> dict[str, Any]:
    """A results file as a homebrew batch job writes it (schemas/batch-results.schema.json)."""
    return {
        "batch_id": batch_id,
        "ecosystem": "homebrew",
        "started_at": "2026-03-03T06:01:12Z",
        "completed_at": "2026-03-03T06:07:41Z",
        "linux_minutes": 41.25,
        "macos_minutes": 3.5,
        "results": [
            {"recipe_name": "cmake", "result": "passed", "platform": "linux-x86_64", "duration_seconds": 12.5},
            {
                "recipe_name": "tmux",
                "result": "failed",
                "platform": "linux-x86_64",
                "error_category": "install_failed",
                "error_message": "Error: recipe validation failed for 'libevent'",
            },
        ],
    }


def test_batchops_upload_is_stored_by_both_workers(worker: WorkerServer, request: pytest.FixtureRequest) -> None:
    payload = build_payload(results_file(f"client-{request.node.callspec.id}"))

    delivery = post(worker.base_url, worker.token, payload, idempotency_key(payload), POLICY)

    assert delivery.ok, delivery.error
    assert len(worker.query("SELECT id FROM batch_runs WHERE batch_id = ?", (payload["batch_id"],))) == 1


def test_batchops_upload_repeated_is_counted_once_by_ours(batchops_worker: WorkerServer) -> None:
    payload = build_payload(results_file("client-repeat"))
    key = idempotency_key(payload)

    first = post(batchops_worker.base_url, batchops_worker.token, payload, key, POLICY)
    again = post(batchops_worker.base_url, batchops_worker.token, payload, key, POLICY)

    assert (first.ok, first.status, first.duplicate) == (True, 201, False)
    assert (again.ok, again.status, again.duplicate) == (True, 200, True)
    [run] = batchops_worker.query("SELECT id, idempotency_key FROM batch_runs WHERE batch_id = 'client-repeat'")
    assert run["idempotency_key"] == key
    assert batchops_worker.query(
        "SELECT recipe_name, result FROM recipe_results WHERE batch_run_id = ? ORDER BY id", (run["id"],)
    ) == [
        {"recipe_name": "cmake", "result": "passed"},
        {"recipe_name": "tmux", "result": "failed"},
    ]


def test_refusal_by_either_worker_is_permanent_not_retried(worker: WorkerServer) -> None:
    payload = build_payload(results_file("client-refused"))

    delivery = post(worker.base_url, "wrong-token", payload, idempotency_key(payload), POLICY)

    assert (delivery.ok, delivery.status, delivery.permanent, delivery.attempts) == (False, 401, True, 1)


def test_refusal_reason_in_plain_text_is_kept_from_both_workers(worker: WorkerServer) -> None:
    payload = build_payload(results_file("client-reason"))
    payload["results"][1]["recipe_name"] = ""

    delivery = post(worker.base_url, worker.token, payload, idempotency_key(payload), POLICY)

    assert (delivery.status, delivery.kind) == (400, "rejected")
    assert delivery.reason == "Bad request: results[1].recipe_name is required"
    assert delivery.error == "HTTP 400: Bad request: results[1].recipe_name is required"


def test_only_ours_says_it_honours_the_key(worker: WorkerServer, request: pytest.FixtureRequest) -> None:
    payload = build_payload(results_file(f"client-honored-{request.node.callspec.id}"))

    delivery = post(worker.base_url, worker.token, payload, idempotency_key(payload), POLICY)

    assert delivery.ok
    assert delivery.honored is (request.node.callspec.id == "batchops_worker")

"""The telemetry contract, held against both Workers under wrangler dev with a local D1.

The same tests run against the first user's production Worker (unchanged, from the
shared corpus) and against ours (telemetry/): what batchops posts must be stored the
same way by both. Then what only ours does: Idempotency-Key, the
``Batchops-Idempotency`` header, the body cap, the read endpoint, and migrations that
apply onto a D1 the production Worker already uses.
"""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import wrangler
from tests.support.metrics import RESULT_COLUMNS, RUN_COLUMNS
from tests.support.wrangler import OURS, PRODUCTION, WorkerServer

pytestmark = pytest.mark.xdist_group("wrangler")

production_worker = wrangler.production_worker
batchops_worker = wrangler.batchops_worker

CORPUS = PRODUCTION.parent
WORKERS = ["production_worker", "batchops_worker"]


@pytest.fixture(params=WORKERS)
def worker(request: pytest.FixtureRequest) -> WorkerServer:
    return request.getfixturevalue(request.param)


def real_run(batch_id: str | None = None, ecosystem: str = "homebrew") -> dict[str, Any]:
    """A run shaped like the first user's: the failures of one homebrew validation
    (names, categories, multi-line messages as the corpus has them), recipes of the
    registry that passed, one skipped; plus fields production does not store."""
    failures_file = CORPUS / "failures" / "homebrew-2026-03-03T06-07-41Z.jsonl"
    if not failures_file.is_file():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    failures = json.loads(failures_file.read_text().splitlines()[0])["failures"]
    passed = sorted(path.stem for path in (CORPUS / "recipes").glob("*.toml"))[:6]
    results: list[dict[str, Any]] = [
        {
            "recipe_name": name,
            "ecosystem": ecosystem,
            "result": "passed",
            "platform": "linux-x86_64",
            "duration_seconds": 12.5 + i,
        }
        for i, name in enumerate(passed)
    ]
    results += [
        {
            "recipe_name": failure["package_id"].split(":", 1)[1],
            "ecosystem": ecosystem,
            "result": "failed",
            "platform": "linux-glibc-x86_64",
            "error_category": failure["category"],
            "error_message": failure["message"],
            "duration_seconds": 30,
        }
        for failure in failures
    ]
    results.append({"recipe_name": "ollama", "ecosystem": ecosystem, "result": "skipped"})
    counts = {kind: sum(1 for r in results if r["result"] == kind) for kind in ("passed", "failed", "skipped")}
    return {
        "batch_id": batch_id or f"2026-03-03-homebrew-{uuid.uuid4().hex[:8]}",
        "ecosystem": ecosystem,
        "started_at": "2026-03-03T06:01:12Z",
        "completed_at": "2026-03-03T06:07:41Z",
        "total_recipes": len(results),
        **counts,
        "success_rate": round(counts["passed"] / (counts["passed"] + counts["failed"]), 4),
        "macos_minutes": 3.5,
        "linux_minutes": 41.25,
        "sampled": True,
        "sample_rate": 0.5,
        "results": results,
    }


def stored_run(worker: WorkerServer, run_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    [run] = worker.query(f"SELECT {', '.join(RUN_COLUMNS)} FROM batch_runs WHERE id = ?", (run_id,))
    results = worker.query(
        f"SELECT {', '.join(RESULT_COLUMNS)} FROM recipe_results WHERE batch_run_id = ? ORDER BY id", (run_id,)
    )
    return run, results


def runs_of(worker: WorkerServer, batch_id: str) -> list[dict[str, Any]]:
    return worker.query("SELECT id FROM batch_runs WHERE batch_id = ?", (batch_id,))


# --- the contract, both workers ---------------------------------------------------------


def test_real_shaped_run_is_stored_field_by_field(worker: WorkerServer) -> None:
    payload = real_run()

    response = worker.post_metrics(payload)

    assert response.status_code == 201, response.text
    run_id = response.json()["batch_run_id"]
    run, results = stored_run(worker, run_id)
    assert run == {column: payload[column] for column in RUN_COLUMNS}
    assert len(results) == len(payload["results"]) == 25
    for stored, sent in zip(results, payload["results"], strict=True):
        assert stored == {
            "recipe_name": sent["recipe_name"],
            "ecosystem": sent["ecosystem"],
            "result": sent["result"],
            "error_category": sent.get("error_category"),
            "error_message": sent.get("error_message") or None,  # "" is stored as NULL
            "duration_seconds": sent.get("duration_seconds", 0),
        }
    assert any("\n" in (r["error_message"] or "") for r in results), "multi-line messages survive"


def test_run_without_completed_at_or_minutes_stores_null_and_zero(worker: WorkerServer) -> None:
    payload = real_run()
    del payload["completed_at"], payload["macos_minutes"], payload["linux_minutes"]

    response = worker.post_metrics(payload)

    assert response.status_code == 201, response.text
    run, _ = stored_run(worker, response.json()["batch_run_id"])
    assert (run["completed_at"], run["macos_minutes"], run["linux_minutes"]) == (None, 0, 0)


def test_numbers_sent_as_text_are_stored_as_production_stores_them(worker: WorkerServer) -> None:
    payload = real_run()
    payload.update(passed="6", linux_minutes="41.25", completed_at="")
    payload["results"][0].update(duration_seconds="12.5", error_category="")

    response = worker.post_metrics(payload)

    assert response.status_code == 201, response.text
    run, results = stored_run(worker, response.json()["batch_run_id"])
    assert (run["passed"], run["linux_minutes"], run["completed_at"]) == (6, 41.25, None)
    assert (results[0]["duration_seconds"], results[0]["error_category"]) == (12.5, None)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: p["results"][0].pop("ecosystem"), "results[0].ecosystem is required"),
        (lambda p: p["results"][3].update(recipe_name=""), "results[3].recipe_name is required"),
        (lambda p: p["results"][1].pop("result"), "results[1].result is required"),
        (lambda p: p.pop("batch_id"), "batch_id is required"),
        (lambda p: p.update(started_at=20260303), "started_at is required"),
        (lambda p: p.update(total_recipes="25"), "total_recipes is required"),
        (lambda p: p.pop("results"), "results array is required"),
    ],
    ids=[
        "result-ecosystem",
        "result-recipe-name",
        "result-result",
        "batch-id",
        "started-at",
        "total-recipes",
        "results",
    ],
)
def test_invalid_run_is_refused_with_the_plain_text_reason_and_nothing_stored(
    worker: WorkerServer, change: Any, reason: str
) -> None:
    payload = real_run()
    change(payload)

    response = worker.post_metrics(payload)

    assert (response.status_code, response.text) == (400, f"Bad request: {reason}")
    assert response.headers["Content-Type"].startswith("text/plain")
    assert runs_of(worker, payload.get("batch_id", "")) == []


def test_body_that_is_not_json_is_refused(worker: WorkerServer) -> None:
    response = worker.post_metrics("{not json")

    assert (response.status_code, response.text) == (400, "Bad request: invalid JSON")


@pytest.mark.parametrize("token", ["wrong-token", "", None], ids=["wrong", "empty", "missing"])
def test_post_without_the_right_token_is_unauthorized_and_stores_nothing(
    worker: WorkerServer, token: str | None
) -> None:
    payload = real_run()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"

    response = requests.post(worker.base_url + "/batch-metrics", data=json.dumps(payload), headers=headers, timeout=30)

    assert (response.status_code, response.text) == (401, "Unauthorized")
    assert runs_of(worker, payload["batch_id"]) == []


def test_unknown_path_is_not_found(worker: WorkerServer) -> None:
    response = requests.post(worker.base_url + "/batch-metric", headers=worker.auth(), data="{}", timeout=30)

    assert response.status_code == 404
    assert response.text == "Not found"


# --- where the workers differ -------------------------------------------------------------


def test_production_ignores_the_idempotency_key_and_stores_a_repeat_twice(production_worker: WorkerServer) -> None:
    payload = real_run()

    first = production_worker.post_metrics(payload, key="same-key")
    second = production_worker.post_metrics(payload, key="same-key")

    assert (first.status_code, second.status_code) == (201, 201)
    assert len(runs_of(production_worker, payload["batch_id"])) == 2
    assert "Batchops-Idempotency" not in second.headers


def test_production_fails_with_500_where_ours_refuses_or_defaults(
    production_worker: WorkerServer, batchops_worker: WorkerServer
) -> None:
    no_counters = real_run()
    del no_counters["passed"], no_counters["failed"], no_counters["skipped"], no_counters["success_rate"]
    not_an_object = {**real_run(), "results": [None]}
    unbindable = {**real_run(), "failed": {"linux": 3}}

    for payload in (no_counters, not_an_object, unbindable):
        assert production_worker.post_metrics(payload).status_code == 500

    stored = batchops_worker.post_metrics(no_counters)
    assert stored.status_code == 201
    run, _ = stored_run(batchops_worker, stored.json()["id"])
    assert (run["passed"], run["failed"], run["skipped"], run["success_rate"]) == (0, 0, 0, 0)
    refused = batchops_worker.post_metrics(not_an_object)
    assert (refused.status_code, refused.text) == (400, "Bad request: results[0] must be an object")
    refused = batchops_worker.post_metrics(unbindable)
    assert (refused.status_code, refused.text) == (400, "Bad request: failed must be a number")


# --- ours: idempotency --------------------------------------------------------------------


def test_repeated_idempotency_key_answers_200_with_the_first_id_and_stores_once(batchops_worker: WorkerServer) -> None:
    payload = real_run()
    key = uuid.uuid4().hex

    first = batchops_worker.post_metrics(payload, key=key)
    again = batchops_worker.post_metrics(payload, key=key)

    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == {
        "id": first.json()["id"],
        "batch_run_id": first.json()["id"],
        "idempotency_key": key,
        "duplicate": False,
    }
    assert again.json() == {**first.json(), "duplicate": True}
    [run] = runs_of(batchops_worker, payload["batch_id"])
    assert run["id"] == first.json()["id"]
    assert len(stored_run(batchops_worker, run["id"])[1]) == len(payload["results"])
    assert batchops_worker.query("SELECT idempotency_key FROM batch_runs WHERE id = ?", (run["id"],)) == [
        {"idempotency_key": key}
    ]


def test_concurrent_posts_with_one_key_store_one_run(batchops_worker: WorkerServer) -> None:
    payload = real_run()
    key = uuid.uuid4().hex
    start = threading.Barrier(6)
    answers: list[requests.Response] = []

    def post() -> None:
        start.wait()
        answers.append(batchops_worker.post_metrics(payload, key=key))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a.status_code for a in answers) == [200] * 5 + [201]
    assert len({a.json()["id"] for a in answers}) == 1
    [run] = runs_of(batchops_worker, payload["batch_id"])
    assert batchops_worker.query("SELECT COUNT(*) AS n FROM recipe_results WHERE batch_run_id = ?", (run["id"],)) == [
        {"n": len(payload["results"])}
    ]


def test_posts_without_a_key_are_each_stored(batchops_worker: WorkerServer) -> None:
    payload = real_run()

    answers = [batchops_worker.post_metrics(payload) for _ in range(2)]

    assert [a.status_code for a in answers] == [201, 201]
    assert [a.json()["idempotency_key"] for a in answers] == [None, None]
    assert len(runs_of(batchops_worker, payload["batch_id"])) == 2


def test_unprintable_idempotency_key_is_refused(batchops_worker: WorkerServer) -> None:
    payload = real_run()

    response = batchops_worker.post_metrics(payload, key="x" * 201)

    assert response.status_code == 400
    assert response.text.startswith("Bad request: Idempotency-Key must be 1 to 200 printable ASCII characters")
    assert runs_of(batchops_worker, payload["batch_id"]) == []


def test_every_response_says_the_key_is_honored(batchops_worker: WorkerServer) -> None:
    base, auth = batchops_worker.base_url, batchops_worker.auth()
    key = uuid.uuid4().hex
    payload = real_run()
    responses = {
        "created": batchops_worker.post_metrics(payload, key=key),
        "duplicate": batchops_worker.post_metrics(payload, key=key),
        "bad request": batchops_worker.post_metrics({"batch_id": "x"}),
        "unauthorized": batchops_worker.post_metrics(payload, token="nope"),
        "read": requests.get(base + "/batch-metrics/runs?limit=1", headers=auth, timeout=30),
        "not found": requests.get(base + "/nothing-here", timeout=30),
        "wrong method": requests.get(base + "/batch-metrics", headers=auth, timeout=30),
    }

    assert {name: r.status_code for name, r in responses.items()} == {
        "created": 201,
        "duplicate": 200,
        "bad request": 400,
        "unauthorized": 401,
        "read": 200,
        "not found": 404,
        "wrong method": 405,
    }
    assert {name: r.headers.get("Batchops-Idempotency") for name, r in responses.items()} == dict.fromkeys(
        responses, "honored"
    )


def test_wrong_method_is_405_naming_the_allowed_one(batchops_worker: WorkerServer) -> None:
    response = requests.delete(
        batchops_worker.base_url + "/batch-metrics/runs", headers=batchops_worker.auth(), timeout=30
    )

    assert (response.status_code, response.text, response.headers["Allow"]) == (
        405,
        "Method not allowed: use GET",
        "GET",
    )


def test_body_over_one_mebibyte_is_refused_with_413(batchops_worker: WorkerServer) -> None:
    payload = real_run()
    payload["results"][0]["error_message"] = "x" * (1024 * 1024)

    declared = batchops_worker.post_metrics(payload)
    body = json.dumps(payload).encode()
    chunked = batchops_worker.post_metrics(iter([body[i : i + 65536] for i in range(0, len(body), 65536)]))

    assert (declared.status_code, declared.text) == (413, "Payload too large: the body is limited to 1048576 bytes")
    assert chunked.status_code == 413
    assert runs_of(batchops_worker, payload["batch_id"]) == []
    assert batchops_worker.post_metrics(real_run()).status_code == 201, "the refused body was read to its end"


# --- ours: the read endpoint -----------------------------------------------------------------


def _seed_runs(worker: WorkerServer, ecosystem: str, starts: list[str]) -> list[int]:
    ids = []
    for i, started in enumerate(starts):
        payload = {
            "batch_id": f"read-{ecosystem}-{i}",
            "ecosystem": ecosystem,
            "started_at": started,
            "completed_at": started,
            "total_recipes": 1,
            "passed": 1,
            "failed": 0,
            "skipped": 0,
            "success_rate": 1.0,
            "linux_minutes": 2.0,
            "results": [
                {"recipe_name": f"recipe-{i}", "ecosystem": ecosystem, "result": "passed", "duration_seconds": 4.0}
            ],
        }
        response = worker.post_metrics(payload)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _get_runs(worker: WorkerServer, **params: Any) -> requests.Response:
    return requests.get(worker.base_url + "/batch-metrics/runs", params=params, headers=worker.auth(), timeout=30)


def test_runs_are_filtered_by_time_and_ecosystem_in_start_order(batchops_worker: WorkerServer) -> None:
    ecosystem = f"eco-{uuid.uuid4().hex[:8]}"
    # posted out of order, one with an offset and fractions: 2026-06-01T11:30:00Z
    ids = _seed_runs(
        batchops_worker,
        ecosystem,
        ["2026-06-02T00:00:00Z", "2026-06-01T13:30:00.250+02:00", "2026-05-31T23:59:59Z", "2026-06-03T00:00:00Z"],
    )
    _seed_runs(batchops_worker, f"other-{ecosystem}", ["2026-06-01T12:00:00Z"])

    response = _get_runs(
        batchops_worker, since="2026-06-01T00:00:00Z", until="2026-06-03T00:00:00Z", ecosystem=ecosystem
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [run["id"] for run in body["runs"]] == [ids[1], ids[0]]
    assert body["next_cursor"] is None
    first = body["runs"][0]
    assert first == {
        "id": ids[1],
        "batch_id": f"read-{ecosystem}-1",
        "ecosystem": ecosystem,
        "started_at": "2026-06-01T13:30:00.250+02:00",
        "completed_at": "2026-06-01T13:30:00.250+02:00",
        "total_recipes": 1,
        "passed": 1,
        "failed": 0,
        "skipped": 0,
        "success_rate": 1.0,
        "macos_minutes": 0,
        "linux_minutes": 2.0,
        "results": [
            {
                "recipe_name": "recipe-1",
                "ecosystem": ecosystem,
                "result": "passed",
                "error_category": None,
                "error_message": None,
                "duration_seconds": 4.0,
            }
        ],
    }


def test_runs_page_through_a_cursor_without_gaps_or_repeats(batchops_worker: WorkerServer) -> None:
    ecosystem = f"eco-{uuid.uuid4().hex[:8]}"
    same = "2026-07-01T00:00:00Z"  # equal start times are ordered by id across pages
    ids = _seed_runs(batchops_worker, ecosystem, [same, same, same, "2026-07-02T00:00:00Z", "2026-07-03T00:00:00Z"])

    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"ecosystem": ecosystem, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = _get_runs(batchops_worker, **params).json()
        pages += 1
        seen += [run["id"] for run in body["runs"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == ids
    assert pages == 3


def test_runs_need_the_token(batchops_worker: WorkerServer) -> None:
    url = batchops_worker.base_url + "/batch-metrics/runs"

    assert requests.get(url, timeout=30).status_code == 401
    wrong = requests.get(url, headers=batchops_worker.auth("wrong"), timeout=30)
    assert (wrong.status_code, wrong.text) == (401, "Unauthorized")


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"since": "yesterday"}, "since must be an ISO 8601 time (e.g. 2026-06-01T00:00:00Z)"),
        ({"until": "2026-13-45T00:00:00Z"}, "until must be an ISO 8601 time (e.g. 2026-06-01T00:00:00Z)"),
        ({"limit": "0"}, "limit must be an integer from 1 to 500 (e.g. 100)"),
        ({"limit": "ten"}, "limit must be an integer from 1 to 500 (e.g. 100)"),
        (
            {"cursor": "not-a-cursor"},
            "cursor is not one this endpoint returned (pass next_cursor from the previous page unchanged)",
        ),
    ],
    ids=["since", "until", "limit-zero", "limit-text", "cursor"],
)
def test_runs_refuse_a_bad_parameter_with_the_fix(
    batchops_worker: WorkerServer, params: dict[str, str], reason: str
) -> None:
    response = _get_runs(batchops_worker, **params)

    assert (response.status_code, response.text) == (400, f"Bad request: {reason}")


# --- ours: migrations onto the production D1 ---------------------------------------------------


def test_migrations_apply_onto_a_production_d1_and_keep_its_rows(tmp_path: Path) -> None:
    if not (PRODUCTION / "wrangler.toml").is_file():
        pytest.skip(f"the production telemetry Worker is not at {PRODUCTION}")
    persist = tmp_path / "d1"
    production = WorkerServer(PRODUCTION, tmp_path / "production", persist=persist)
    production.apply_migrations()
    old = real_run()
    with production:
        old_id = production.post_metrics(old).json()["batch_run_id"]

    ours = WorkerServer(OURS, tmp_path / "ours", persist=persist)
    output = ours.apply_migrations()

    assert "0002_idempotency_key.sql" in output and "0001_batch_metrics_schema.sql" not in output
    assert [row["name"] for row in ours.query("SELECT name FROM d1_migrations ORDER BY id")] == [
        "0001_batch_metrics_schema.sql",
        "0002_idempotency_key.sql",
    ]
    with ours:
        body = _get_runs(ours, ecosystem="homebrew").json()
        again = [ours.post_metrics(old, key="after-migration") for _ in range(2)]
    [run] = body["runs"]
    assert (run["id"], run["batch_id"], len(run["results"])) == (old_id, old["batch_id"], len(old["results"]))
    assert [a.status_code for a in again] == [201, 200]
    assert ours.query("SELECT id, idempotency_key FROM batch_runs ORDER BY id") == [
        {"id": old_id, "idempotency_key": None},
        {"id": again[0].json()["id"], "idempotency_key": "after-migration"},
    ]


def test_our_worker_bundles_for_wrangler_deploy(tmp_path: Path) -> None:
    worker = WorkerServer(OURS, tmp_path)

    output = worker.wrangler("deploy", "--dry-run", "--outdir", str(tmp_path / "bundle"))

    assert "BATCH_METRICS: batchops-batch-metrics" in output
    bundle = (tmp_path / "bundle" / "index.js").read_text()
    assert "Batchops-Idempotency" in bundle and "/batch-metrics/runs" in bundle


def test_our_first_migration_is_the_production_file_byte_for_byte() -> None:
    production = PRODUCTION / "migrations" / "0001_batch_metrics_schema.sql"
    if not production.is_file():
        pytest.skip(f"the production telemetry Worker is not at {PRODUCTION}")

    assert (OURS / "migrations" / production.name).read_bytes() == production.read_bytes()

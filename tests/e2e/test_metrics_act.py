"""End to end: metrics-upload in a workflow, against `batchops metrics serve` on 127.0.0.1
and against a closed port (the job still succeeds; the payload is spooled)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from batchops.adapters.store import Store
from batchops.commands import metrics
from tests.support.act import copy_repository, single_job
from tests.support.metrics import results_doc

pytestmark = [pytest.mark.act, pytest.mark.slow]

TOKEN = "act-telemetry-token-5521"

WORKFLOW = single_job(
    """      - id: live
        uses: ./actions/metrics-upload
        with:
          results-file: results.json
          ecosystem: homebrew
          endpoint: ${{ env.LIVE_ENDPOINT }}
          token: ${{ secrets.TELEMETRY_TOKEN }}
      - id: down
        uses: ./actions/metrics-upload
        with:
          results-file: results.json
          endpoint: ${{ env.DEAD_ENDPOINT }}
          token: ${{ secrets.TELEMETRY_TOKEN }}
          max-time: "3"
          request-timeout: "1"
      - name: save outputs
        env:
          LIVE: ${{ toJSON(steps.live.outputs) }}
          DOWN: ${{ toJSON(steps.down.outputs) }}
          SPOOLED: ${{ steps.down.outputs.spooled-file }}
        run: |
          printf '%s' "$LIVE" > "$RESULT_DIR/live.json"
          printf '%s' "$DOWN" > "$RESULT_DIR/down.json"
          cp "$SPOOLED" "$RESULT_DIR/spooled.json"
"""
)


def test_upload_reaches_the_served_store_and_an_unreachable_endpoint_does_not_fail_the_job(act, tmp_path: Path) -> None:
    server = metrics.make_server(str(tmp_path / "served.db"), TOKEN).start()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    try:
        src = copy_repository(tmp_path / "src")
        (src / "results.json").write_text(json.dumps(results_doc(), indent=2))
        run = act(
            WORKFLOW,
            src=src,
            env={"LIVE_ENDPOINT": server.url, "DEAD_ENDPOINT": f"http://127.0.0.1:{dead_port}"},
            secrets={"TELEMETRY_TOKEN": TOKEN},
        )
    finally:
        server.shutdown()
        server.server_close()
    assert run.ok, run.log
    live, down = run.result("live.json"), run.result("down.json")
    assert live["uploaded"] == "true" and live["destination"] == "endpoint"
    with Store(server.database) as db:
        (stored,) = db.runs()
    assert stored["idempotency_key"] == live["idempotency-key"]
    assert (stored["passed"], stored["failed"], stored["skipped"]) == (2, 1, 1)
    assert down["uploaded"] == "false" and down["spooled-file"]
    spooled = run.result("spooled.json")
    assert spooled["idempotency_key"] == live["idempotency-key"]
    assert spooled["payload"]["batch_id"] == "2026-02-06-homebrew"
    assert TOKEN not in run.log and TOKEN not in json.dumps(spooled)

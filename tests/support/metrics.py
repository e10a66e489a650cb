"""A results file as a batch job writes it, shared by the metrics tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOKEN = "tok-3f9a1c77e2-do-not-print"

# The columns of the first user's production Worker (corpus telemetry/ schema), as the tests expect them:
# written here, not taken from batchops, so that a test compares batchops with the Worker.
RUN_COLUMNS = [
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
]
RESULT_COLUMNS = ["recipe_name", "ecosystem", "result", "error_category", "error_message", "duration_seconds"]


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
            {
                "recipe_name": "cmake",
                "result": "failed",
                "platform": "darwin-arm64",
                "error_category": "checksum",
                "error_message": "sha256 mismatch",
            },
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

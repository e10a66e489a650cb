"""batchops slo through the CLI: the store, the window, severities, chart, JSON, text at a terminal, the corpus.

The pure rules (severity boundaries, pooling) are in tests/core/test_slo.py;
`slo --endpoint` in test_metrics_workers.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from batchops.adapters.store import Store
from batchops.core import metrics
from tests.cli_helpers import run_cli


def add_run(db: Store, ecosystem: str, completed_at: str, passed: int, failed: int, skipped: int = 0) -> None:
    payload = {
        "batch_id": completed_at[:10] + "-" + ecosystem,
        "ecosystem": ecosystem,
        "started_at": completed_at,
        "completed_at": completed_at,
        "total_recipes": passed + failed + skipped,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "success_rate": passed / (passed + failed) if passed + failed else 0.0,
        "macos_minutes": 0,
        "linux_minutes": 0,
        "results": [],
    }
    db.record(payload, metrics.idempotency_key(payload))


@pytest.mark.parametrize("bad", ["homebrew", "homebrew=fast", "npm=120"])
def test_bad_slo_flag_is_a_usage_error(tmp_path: Path, bad: str) -> None:
    run = run_cli(["slo", "--database", "m.db", "--slo", bad], tmp_path)
    assert run.returncode == 2 and "slo" in run.stdout


def test_window_keeps_only_runs_completed_in_it_and_last_n_counts_per_ecosystem(tmp_path: Path) -> None:
    db_path = tmp_path / "m.db"
    with Store(db_path) as db:
        add_run(db, "npm", "2026-01-20T00:00:00Z", passed=0, failed=10)  # outside 7 days
        for day in range(1, 6):
            add_run(db, "npm", f"2026-02-0{day}T00:00:00Z", passed=10, failed=0)
        add_run(db, "pypi", "2026-02-02T00:00:00Z", passed=5, failed=5)
        add_run(db, "pypi", "2026-02-08T00:00:00Z", passed=0, failed=5)  # after --now
    week = run_cli(
        ["slo", "--database", str(db_path), "--now", "2026-02-06T00:00:00Z", "--json"], tmp_path, actions=False
    )
    doc = json.loads(week.stdout)
    by_name = {e["ecosystem"]: e for e in doc["ecosystems"]}
    assert by_name["npm"]["runs"] == 5 and by_name["npm"]["severity"] == "ok"
    assert by_name["pypi"]["runs"] == 1 and by_name["pypi"]["success_rate"] == 50.0
    assert by_name["pypi"]["severity"] == "critical"
    assert doc["worst_severity"] == "critical"
    assert doc["window"] == {
        "kind": "window",
        "window": "7d",
        "from": "2026-01-30T00:00:00Z",
        "until": "2026-02-06T00:00:00Z",
    }
    last = run_cli(
        ["slo", "--database", str(db_path), "--now", "2026-02-06T00:00:00Z", "--last", "2", "--json"],
        tmp_path,
        actions=False,
    )
    counts = {e["ecosystem"]: e["runs"] for e in json.loads(last.stdout)["ecosystems"]}
    assert counts == {"npm": 2, "pypi": 1}


def test_ecosystem_without_runs_is_reported_as_no_data(tmp_path: Path) -> None:
    run = run_cli(["slo", "--database", "m.db", "--ecosystem", "rubygems", "--json"], tmp_path, actions=False)
    (entry,) = json.loads(run.stdout)["ecosystems"]
    assert entry["severity"] == "no-data" and entry["slo"] == 98


def test_fail_on_exits_3_at_or_above_the_severity(tmp_path: Path) -> None:
    with Store(tmp_path / "m.db") as db:
        add_run(db, "npm", "2026-02-05T00:00:00Z", passed=90, failed=10)  # 90% vs 98: medium
    args = ["slo", "--database", "m.db", "--now", "2026-02-06T00:00:00Z"]
    assert run_cli([*args, "--fail-on", "medium"], tmp_path).returncode == 3
    assert run_cli([*args, "--fail-on", "high"], tmp_path).returncode == 0


def corpus_store(tmp_path: Path, corpus: Path) -> Path:
    db = tmp_path / "corpus.db"
    run = run_cli(
        ["metrics", "import", str(corpus / "metrics" / "batch-runs.sample.jsonl"), "--database", str(db)],
        tmp_path,
        actions=False,
    )
    assert run.returncode == 0, run.log
    return db


def test_report_on_the_corpus_shows_homebrew_below_its_slo_with_a_daily_chart(tmp_path: Path, corpus: Path) -> None:
    db = corpus_store(tmp_path, corpus)
    run = run_cli(["slo", "--database", str(db), "--now", "2026-02-07T00:00:00Z"], tmp_path)
    assert run.returncode == 0, run.log
    with Store(db) as store:
        runs = store.runs()
    passed, failed = sum(r["passed"] for r in runs), sum(r["failed"] for r in runs)
    expected = f"{100 * passed / (passed + failed):.1f}%"
    assert f"| homebrew | {len(runs)} | {passed} | {failed} |" in run.stdout
    assert expected in run.stdout and "85%" in run.stdout
    assert "🟡 medium" in run.stdout  # 81.5% vs 85%: below the SLO, within 10 points
    chart = run.stdout.split("```mermaid", 1)[1].split("```", 1)[0]
    assert "xychart-beta" in chart
    assert 'x-axis ["02-03", "02-04", "02-05", "02-06"]' in chart
    assert chart.count("    line [") == 2 and "line [85, 85, 85, 85]" in chart
    assert run.summary.startswith("#### SLO report")
    assert "::warning title=SLO::homebrew" in run.stdout


def test_json_report_of_the_corpus_matches_the_markdown_numbers(tmp_path: Path, corpus: Path) -> None:
    db = corpus_store(tmp_path, corpus)
    out = tmp_path / "slo.json"
    run = run_cli(
        ["slo", "--database", str(db), "--now", "2026-02-07T00:00:00Z", "--json", "--output", str(out)], tmp_path
    )
    assert run.returncode == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    (homebrew,) = doc["ecosystems"]
    assert homebrew["severity"] == "medium" and homebrew["slo"] == 85.0
    assert homebrew["gap"] == pytest.approx(homebrew["success_rate"] - 85.0, abs=0.01)
    assert sum(day["runs"] for day in homebrew["daily"]) == homebrew["runs"]
    assert run.outputs["worst-severity"] == "medium"


def test_empty_store_reports_no_runs(tmp_path: Path) -> None:
    run = run_cli(["slo", "--database", "m.db"], tmp_path, actions=False)
    assert run.returncode == 0 and "No runs in this window" in run.stdout


def test_a_store_whose_runs_are_all_older_than_the_window_says_the_window_is_empty_not_the_store(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "m.db") as db:
        add_run(db, "homebrew", "2026-01-05T10:00:00Z", 8, 2)
    run = run_cli(
        ["slo", "--database", "m.db", "--window", "7d", "--now", "2026-06-01T00:00:00Z"], tmp_path, actions=False
    )
    assert run.returncode == 0 and "No runs in this window" in run.stdout
    assert "in the store" not in run.stdout


def test_the_docs_show_the_report_the_tool_prints_for_the_corpus(tmp_path: Path, corpus: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "slo.md"
    run_cli(["metrics", "import", str(corpus / "metrics" / "batch-runs.sample.jsonl")], tmp_path, actions=False)
    run = run_cli(["slo", "--now", "2026-02-07T00:00:00Z", "--format", "markdown"], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert run.stdout.strip() in doc.read_text(), (
        "regenerate the report in docs/slo.md (section: the report on the corpus)"
    )


def test_text_form_has_no_markdown_mermaid_or_html_escapes(tmp_path: Path) -> None:
    with Store(tmp_path / "m.db") as db:
        add_run(db, "npm", "2026-02-05T00:00:00Z", passed=90, failed=10)
    run = run_cli(
        ["slo", "--database", "m.db", "--now", "2026-02-06T00:00:00Z", "--format", "text"], tmp_path, actions=False
    )
    assert run.returncode == 0
    assert "npm" in run.stdout and "90.0%" in run.stdout and "medium" in run.stdout
    for mark in ("```", "mermaid", "&lt;", "<details>", "| ---"):
        assert mark not in run.stdout


def test_an_ecosystem_name_from_the_store_cannot_inject_a_command_or_html(tmp_path: Path) -> None:
    evil = "x\n::error::PWN\n<img src=x onerror=alert(1)>"
    with Store(tmp_path / "m.db") as db:
        add_run(db, "npm", "2026-02-05T00:00:00Z", passed=1, failed=1)
        db.conn.execute("UPDATE batch_runs SET ecosystem = ?", (evil,))
    for form in ("text", "markdown"):
        run = run_cli(["slo", "--database", "m.db", "--now", "2026-02-06T00:00:00Z", "--format", form], tmp_path)
        lines = run.stdout.splitlines()
        assert not any(line.lstrip().startswith("::error::PWN") for line in lines)
        assert "<img" not in run.summary
        report = "\n".join(
            line for line in lines if not line.startswith("::")
        )  # annotations are text, escaped to one line
        assert form == "text" or "<img" not in report
    chart = run.summary.split("```mermaid", 1)[1].split("```", 1)[0]
    [title] = [line for line in chart.splitlines() if line.strip().startswith("title")]
    assert re.fullmatch(r'    title "[a-z0-9._-]+: daily success rate vs SLO [0-9.]+%"', title), title


def test_slo_reads_every_page_of_the_runs_that_metrics_serve_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchops.adapters import telemetry
    from batchops.commands import metrics as commands

    token = "slo-read-token-1234"
    monkeypatch.setattr(telemetry, "RUNS_PAGE", 2)  # five runs: three pages
    server = commands.make_server(str(tmp_path / "served.db"), token).start()
    try:
        with Store(server.database) as db:
            for day in range(1, 6):
                add_run(db, "npm", f"2026-02-0{day}T12:00:00Z", passed=9, failed=1)
            add_run(db, "pypi", "2026-01-01T00:00:00Z", passed=0, failed=1)  # outside the window
        runs = telemetry.get_runs(server.url, token, since=None, until=None)
        assert [r["started_at"][:10] for r in runs] == [
            "2026-01-01",
            "2026-02-01",
            "2026-02-02",
            "2026-02-03",
            "2026-02-04",
            "2026-02-05",
        ]
        run = run_cli(
            ["slo", "--endpoint", server.url, "--now", "2026-02-06T00:00:00Z", "--json"],
            tmp_path,
            actions=False,
            env={"BATCHOPS_METRICS_TOKEN": token},
        )
        refused = run_cli(["slo", "--endpoint", server.url, "--token", "wrong"], tmp_path, actions=False)
    finally:
        server.shutdown()
        server.server_close()
    assert run.returncode == 0, run.log
    [npm] = json.loads(run.stdout)["ecosystems"]
    assert (npm["ecosystem"], npm["runs"], npm["success_rate"]) == ("npm", 5, 90.0)
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr


def _at_a_terminal(args: list[str], cwd: Path) -> str:
    """``batchops ARGS`` with stdout on a pseudo-terminal, as an operator runs it."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen(
        [sys.executable, "-m", "batchops", *args], cwd=cwd, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_at_a_terminal_slo_prints_aligned_plain_text(tmp_path: Path) -> None:
    with Store(tmp_path / "m.db") as db:
        add_run(db, "npm", "2026-02-05T00:00:00Z", passed=90, failed=10)
        add_run(db, "homebrew", "2026-02-05T00:00:00Z", passed=5, failed=5)
    out = _at_a_terminal(["slo", "--database", "m.db", "--now", "2026-02-06T00:00:00Z"], tmp_path)
    for mark in ("```", "mermaid", "&lt;", "<details>", "| ---", "####"):
        assert mark not in out
    header = next(line for line in out.splitlines() if line.startswith("ecosystem"))
    rows = [line for line in out.splitlines() if line.startswith(("npm ", "homebrew "))]
    assert len(rows) == 2 and all(len(row) == len(header) for row in rows), out


def test_after_importing_the_real_history_a_7_day_report_without_data_says_why(tmp_path: Path, corpus: Path) -> None:
    run_cli(["metrics", "import", str(corpus / "metrics")], tmp_path, actions=False)
    run = run_cli(
        ["slo", "--window", "7d", "--now", "2026-06-27T00:00:00Z", "--format", "text"], tmp_path, actions=False
    )
    assert run.returncode == 0, run.log
    assert "no-data" in run.stdout
    why = run.stdout.split("why no data:", 1)[1]
    assert "mixed: 4 run(s) in this window, none with an attempted recipe" in why
    assert (
        "No SLO can be computed for this window" in why and "The last run that attempted a recipe ended at 2026-" in why
    )
    assert "--last 10" in why


def test_metrics_import_in_a_checkout_leaves_git_status_clean(tmp_path: Path, corpus: Path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    run = run_cli(["metrics", "import", str(corpus / "metrics" / "batch-runs.sample.jsonl")], tmp_path, actions=False)
    assert run.returncode == 0, run.log
    assert (tmp_path / ".batchops" / "metrics.db").exists()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path, capture_output=True, text=True
    )
    assert [line for line in status.stdout.splitlines() if ".batchops" in line] == []

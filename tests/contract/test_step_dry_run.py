"""`dry-run` on the steps that change something: breaker-update, persist-with-retry, metrics-upload.

Each step runs as a workflow runs it (a subprocess, outputs through $GITHUB_OUTPUT, a job identity and
$RUNNER_TEMP), against real files, a real git clone and bare remote, a real HTTP server on 127.0.0.1.
The four ways to ask for a dry run (`--dry-run`, `--dry-run true`, `--dry-run=true`, the input
INPUT_DRY_RUN=true) change nothing a user would see and give the outputs a real run would (or, for
the steps that deliver, the outputs of a delivery that did not happen); `--dry-run false` is a real run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from batchops.core import control
from tests.cli_helpers import CliRun, run_cli
from tests.support.gitrepo import clone, commit_all, forget_git_identity, git, make_remote
from tests.support.metrics import TOKEN, write_results

NOW = "2026-06-26T20:41:00Z"
FORMS = {
    "bare": (["--dry-run"], {}),
    "spaced value": (["--dry-run", "true"], {}),
    "joined value": (["--dry-run=true"], {}),
    "input": ([], {"INPUT_DRY_RUN": "true"}),
}


@pytest.fixture(autouse=True)
def _no_git_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forget_git_identity(tmp_path, monkeypatch)


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, byte for byte (git's own folder aside, and the runner's output files,
    which the runner, not the step, creates afresh for each step)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(folder).parts and not path.name.startswith(".gh-")
    }


def job_env(tmp_path: Path) -> dict[str, str]:
    """A runner job: its identity and its own temp folder (where the journal and the job's records live)."""
    return {
        "GITHUB_RUN_ID": "7001",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "batch",
        "RUNNER_TEMP": str(tmp_path),
        "BATCHOPS_JOURNAL": str(tmp_path / "batchops" / "journal.jsonl"),
    }


def step(args: list[str], cwd: Path, form: str, env: dict[str, str]) -> CliRun:
    flags, more = FORMS[form]
    cwd.mkdir(exist_ok=True)
    return run_cli([*args, *flags], cwd, env={**env, **more})


# --- breaker-update -----------------------------------------------------------------------------


def breaker_job(tmp_path: Path) -> tuple[Path, list[str], dict[str, str]]:
    """A closed homebrew breaker and a batch that fails 4 of 6 recipes: it trips."""
    work = tmp_path / "job"
    work.mkdir()
    breakers = {"homebrew": {"state": "closed", "failures": 0}}
    (work / "batch-control.json").write_text(json.dumps({"enabled": True, "circuit_breaker": breakers}, indent=2))
    rows = [{"recipe_name": f"ok-{i}", "result": "passed"} for i in range(2)]
    rows += [{"recipe_name": f"bad-{i}", "result": "failed"} for i in range(4)]
    results = {
        "batch_id": "2026-06-26-homebrew",
        "ecosystem": "homebrew",
        "started_at": "2026-06-26T20:00:00Z",
        "completed_at": "2026-06-26T20:40:00Z",
        "macos_minutes": 2.5,
        "results": rows,
    }
    (work / "results.json").write_text(json.dumps(results))
    args = ["breaker-update", "--results-file", str(work / "results.json")]
    args += ["--control-file", str(work / "batch-control.json"), "--now", NOW]
    return work, args, job_env(work / "runner-temp")


@pytest.mark.parametrize("form", FORMS)
def test_breaker_update_dry_run_gives_the_real_outputs_and_writes_journals_and_notes_nothing(
    tmp_path: Path, form: str
) -> None:
    work, args, env = breaker_job(tmp_path)
    before = files_under(work)
    dry = step(args, tmp_path / "cwd", form, env)
    assert dry.returncode == 0, dry.log
    assert files_under(work) == before  # the control file byte for byte; no journal, no job record
    assert "dry run" in dry.log and "nothing written, nothing journaled" in dry.log.lower()
    assert "would record homebrew: 6 attempt(s): 2 succeeded, 4 failed" in dry.log
    assert "dry run" in dry.summary.lower() and "Would happen: homebrew: circuit breaker OPENED" in dry.summary
    assert "::warning" not in dry.stdout  # nothing tripped: no annotation says it did
    real = run_cli(args, tmp_path / "cwd", env=env)
    assert real.returncode == 0, real.log
    assert dry.outputs == real.outputs
    assert real.outputs["tripped"] == "true" and real.outputs["state"] == "open"
    assert files_under(work) != before  # the real run did write: the dry run's sameness is not for lack of a change


def test_breaker_update_dry_run_false_records_as_without_the_flag(tmp_path: Path) -> None:
    runs, written = [], []
    for name, flags in (("plain", []), ("false", ["--dry-run", "false"])):
        (tmp_path / name).mkdir()
        work, args, env = breaker_job(tmp_path / name)
        run = run_cli([*args, *flags], work, env=env)
        assert run.returncode == 0, run.log
        runs.append(run.outputs)
        written.append(
            (
                (work / "batch-control.json").read_bytes(),
                [json.loads(line)["op"] for line in (work / "runner-temp/batchops/journal.jsonl").open()],
            )
        )
    assert runs[0] == runs[1] and runs[0]["tripped"] == "true"
    assert written[0] == written[1] and written[0][1] == ["breaker.record", "budget.add_minutes"]


# --- persist-with-retry -------------------------------------------------------------------------


def persist_job(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A clone whose job recorded a batch (journaled), and a remote another job has pushed to since."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    bare, work = make_remote(tmp_path, {"batch-control.json": control.dumps(json.loads(control.TEMPLATE))})
    env = job_env(tmp_path / "runner-temp")
    with (work / ".git/info/exclude").open("a") as exclude:  # the runner's output files live outside the checkout
        exclude.write(".gh-output\n.gh-summary\n")
    run = run_cli(["breaker-update", "--ecosystem", "npm", "--outcome", "failure", "--now", NOW], work, env=env)
    assert run.returncode == 0, run.log
    other = clone(bare, tmp_path / "other")
    (other / "README.md").write_text("another job's change\n")
    commit_all(other, "another job")
    git(other, "push", "-q", "origin", "main")
    return bare, work, env


def repository_state(bare: Path, work: Path, env: dict[str, str]) -> dict[str, object]:
    return {
        "remote refs": git(bare, "for-each-ref"),
        "clone refs": git(work, "for-each-ref"),
        "head": git(work, "rev-parse", "HEAD"),
        "status": git(work, "status", "--porcelain"),
        "files": files_under(work),
        "job temp": files_under(Path(env["RUNNER_TEMP"])),
    }


@pytest.mark.parametrize("form", FORMS)
def test_persist_dry_run_says_what_it_would_push_and_commits_fetches_and_pushes_nothing(
    tmp_path: Path, form: str
) -> None:
    bare, work, env = persist_job(tmp_path)
    before = repository_state(bare, work, env)
    args = ["persist-with-retry"]
    dry = step(args, work, form, env)
    assert dry.returncode == 0, dry.log
    assert dry.outputs == {"pushed": "false", "attempts": "0", "commit-sha": ""}
    assert repository_state(bare, work, env) == before  # no commit, no fetch, no push, no posted ref, journal kept
    assert "would commit and push to branch main of origin" in dry.log and str(bare) in dry.log
    assert "1 operation(s); files: batch-control.json" in dry.log
    assert "breaker.record" in dry.summary and "batchops: update control state [skip ci]" in dry.log
    assert "Batchops-Operation-Id:" in dry.summary
    real = run_cli(args, work, env=env)
    assert real.returncode == 0, real.log
    assert real.outputs["pushed"] == "true" and real.outputs["commit-sha"] == git(bare, "rev-parse", "main")


def test_persist_dry_run_false_pushes_as_without_the_flag(tmp_path: Path) -> None:
    for name, flags in (("plain", []), ("false", ["--dry-run", "false"])):
        bare, work, env = persist_job(tmp_path / name)
        run = run_cli(["persist-with-retry", *flags], work, env=env)
        assert run.returncode == 0, run.log
        assert run.outputs == {"pushed": "true", "attempts": "1", "commit-sha": git(bare, "rev-parse", "main")}
        assert json.loads(git(bare, "show", "main:batch-control.json"))["circuit_breaker"]["npm"]["window"] == [
            "failure"
        ]
        assert git(work, "status", "--porcelain") == ""


# --- metrics-upload -----------------------------------------------------------------------------


def metrics_job(tmp_path: Path) -> tuple[Path, list[str], dict[str, str]]:
    work = tmp_path / "job"
    work.mkdir(parents=True)
    write_results(work)
    args = ["metrics-upload", "--results-file", str(work / "results.json"), "--spool-dir", str(work / "spool")]
    args += ["--database", str(work / "metrics.db")]
    return work, args, job_env(work / "runner-temp")


@pytest.mark.parametrize("form", FORMS)
def test_metrics_dry_run_validates_and_names_the_endpoint_and_key_and_sends_nothing(
    tmp_path: Path, httpserver: HTTPServer, form: str
) -> None:
    work, args, env = metrics_job(tmp_path)
    before = files_under(work)
    endpoint = ["--endpoint", httpserver.url_for("/api/"), "--token", TOKEN]
    dry = step([*args, *endpoint], tmp_path / "cwd", form, env)
    assert dry.returncode == 0, dry.log
    assert httpserver.log == []  # no request reached the server
    assert files_under(work) == before  # nothing spooled, nothing stored
    key = dry.outputs["idempotency-key"]
    assert len(key) == 64
    assert dry.outputs == {
        "uploaded": "false",
        "spooled-file": "",
        "destination": "endpoint",
        "duplicate": "false",
        "idempotency-key": key,
    }
    assert f"would go to POST {httpserver.url_for('/api/batch-metrics')} with Idempotency-Key {key}" in dry.log
    assert "dry run" in dry.summary and TOKEN not in dry.log.replace(f"::add-mask::{TOKEN}", "") + dry.summary
    httpserver.expect_oneshot_request("/api/batch-metrics", method="POST").respond_with_json({"id": 1}, status=201)
    real = run_cli([*args, *endpoint], tmp_path / "cwd", env=env)
    assert real.outputs["uploaded"] == "true" and real.outputs["idempotency-key"] == key, real.log
    assert len(httpserver.log) == 1, real.log


@pytest.mark.parametrize("form", FORMS)
def test_metrics_dry_run_without_an_endpoint_names_the_database_and_stores_nothing(tmp_path: Path, form: str) -> None:
    work, args, env = metrics_job(tmp_path)
    before = files_under(work)
    dry = step(args, tmp_path / "cwd", form, env)
    assert dry.returncode == 0, dry.log
    assert files_under(work) == before and not (work / "metrics.db").exists()
    assert dry.outputs["uploaded"] == "false" and dry.outputs["destination"] == "database"
    assert f"would go to the database {work / 'metrics.db'}" in dry.log


def test_metrics_dry_run_false_uploads_as_without_the_flag(tmp_path: Path, httpserver: HTTPServer) -> None:
    outputs = []
    for name, flags in (("plain", []), ("false", ["--dry-run", "false"])):
        work, args, env = metrics_job(tmp_path / name)
        httpserver.expect_oneshot_request("/api/batch-metrics", method="POST").respond_with_json({"id": 1}, status=201)
        run = run_cli([*args, "--endpoint", httpserver.url_for("/api/"), "--token", TOKEN, *flags], work, env=env)
        assert run.returncode == 0, run.log
        outputs.append(run.outputs)
    assert outputs[0] == outputs[1] and outputs[0]["uploaded"] == "true" and outputs[0]["destination"] == "endpoint"
    assert len(httpserver.log) == 2


def test_persist_dry_run_lists_the_further_paths_it_would_commit_and_leaves_the_index_alone(tmp_path: Path) -> None:
    bare, work, env = persist_job(tmp_path)
    (work / "data").mkdir()
    (work / "data" / "failures.json").write_text("[]\n")
    index = (work / ".git" / "index").read_bytes()
    before = repository_state(bare, work, env)
    dry = step(["persist-with-retry", "--paths", "data/"], work, "bare", env)
    assert dry.returncode == 0, dry.log
    assert "files: batch-control.json, data/failures.json" in dry.log
    assert repository_state(bare, work, env) == before and (work / ".git" / "index").read_bytes() == index
    assert not list((work / ".git").glob("batchops-index-*"))  # the temporary index is gone

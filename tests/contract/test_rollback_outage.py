"""rollback when GitHub is down, and the plan as a person reads it at a terminal.

Real git (a bare remote with PR refs), the GitHub stand-in answering 500 to every call, or
a closed port; the waits between retries are injected (no real sleeping) and added up.
"""

from __future__ import annotations

import json
import shlex
import socket
from pathlib import Path

import pytest

from batchops import cli
from tests.contract.test_rollback import batch_message, change, seed_remote
from tests.contract.test_rollback_pulls import BATCH, landings, open_pr, plan, squash
from tests.support.gitrepo import git


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    return seed_remote(tmp_path)


@pytest.fixture
def sleeps(mocker):  # type: ignore[no-untyped-def]
    """Every wait of the GitHub client, recorded instead of slept: the client's clock moves on by
    each wait as it would have (the real time of the requests included), so its deadlines hold."""
    import time

    slept = [0.0]

    def wait(seconds: float) -> None:
        slept[0] += seconds

    mocker.patch("batchops.adapters.github.monotonic", side_effect=lambda: time.monotonic() + slept[0])
    return mocker.patch("batchops.adapters.github.sleep", side_effect=wait)


def waited(sleeps) -> float:  # type: ignore[no-untyped-def]
    return sum(call.args[0] for call in sleeps.call_args_list)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def down(github_api, remote, monkeypatch):  # type: ignore[no-untyped-def]
    """The stand-in, for tsuku/registry, answering 500 to every request."""
    bare, _ = remote
    github_api.add_repo("tsuku/registry", git_dir=bare)
    for name, value in github_api.env("tsuku/registry").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BATCHOPS_GITHUB_WRITE_INTERVAL", "0")
    github_api.inject("*", "*", 500, times=10_000)
    return github_api


def shipped_batch(repo: Path) -> str:
    """BATCH through PR 7 (its ref fetched), squash-merged without a number: offline, content tells."""
    open_pr(repo, 7, [({"recipes/npm/left-pad.toml": "v1\n"}, batch_message(BATCH))])
    merged = squash(repo, 7, with_number=False)
    git(repo, "fetch", "-q", "origin", "+refs/pull/*/head:refs/remotes/origin/pull/*/head")
    return merged


def run_cli(capsys: pytest.CaptureFixture[str], repo: Path, *args: str) -> tuple[int, dict[str, str], str]:
    code = cli.main(["rollback", "--working-directory", str(repo), *args])
    captured = capsys.readouterr()
    return code, dict(line.split("=", 1) for line in captured.out.splitlines() if "=" in line), captured.err


def test_a_github_answering_500_falls_back_to_the_plan_by_content_within_30_seconds(remote, down, sleeps) -> None:
    _, repo = remote
    merged = shipped_batch(repo)

    document = plan(repo, token=down.token, repository="tsuku/registry")

    assert landings(document) == [(merged, "squash", [7])]  # the PR ref names it, offline
    assert document["github"]["available"] is False and "500" in document["github"]["error"]
    assert document["github"]["unconfirmed_landings"] == [merged]
    assert waited(sleeps) <= 30
    paths = {request.path for request in down.requests}
    assert len(paths) == 1, f"after the first outage no other call is made: {sorted(paths)}"


def test_a_closed_port_falls_back_too_and_the_dry_run_says_what_was_not_confirmed(
    remote, monkeypatch, sleeps, capsys
) -> None:
    _, repo = remote
    merged = shipped_batch(repo)
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("GITHUB_REPOSITORY", "tsuku/registry")
    summary = repo.parent / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--dry-run", "--github-token", "ghs_test")

    assert code == 0, err
    assert outputs["files-count"] == "1"
    assert "GitHub was unavailable" in err and merged[:10] in err
    assert waited(sleeps) <= 30
    assert "GitHub was unavailable" in summary.read_text() and merged[:10] in summary.read_text()
    saved = json.loads(Path(outputs["plan-file"]).read_text())
    assert saved["github"]["available"] is False and saved["github"]["unconfirmed_landings"] == [merged]


def test_a_rollback_that_cannot_open_its_pr_keeps_the_branch_and_prints_the_gh_line(
    remote, down, sleeps, capsys
) -> None:
    bare, repo = remote
    shipped_batch(repo)

    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--github-token", down.token)

    branch = f"rollback-batch-{BATCH}"
    assert code == 1 and outputs["branch"] == branch and outputs["pr-url"] == ""
    assert git(bare, "rev-parse", branch)  # pushed, kept
    line = next(part for part in err.split("open the pull request with: ")[1:])
    command = shlex.split(line.split(" (or re-run")[0])
    assert command[:3] == ["gh", "pr", "create"]
    assert command[command.index("--base") + 1] == "main" and command[command.index("--head") + 1] == branch
    assert command[command.index("--title") + 1] == f"Roll back batch {BATCH}"
    body = Path(command[command.index("--body-file") + 1]).read_text()
    assert body.rstrip().endswith(f"rollback-of: {BATCH}")
    assert waited(sleeps) <= 60  # the plan's bound, then the PR's own


def test_a_runner_temp_that_does_not_exist_is_created(remote, monkeypatch, capsys, tmp_path) -> None:
    _, repo = remote
    change(repo, {"recipes/new.toml": "n\n"}, batch_message(BATCH))
    missing = tmp_path / "runner" / "temp"
    monkeypatch.setenv("RUNNER_TEMP", str(missing))

    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--dry-run")

    assert code == 0, err
    assert Path(outputs["plan-file"]).parent == missing and Path(outputs["plan-file"]).is_file()

    elsewhere = tmp_path / "elsewhere" / "temp"  # with a plan-file of its own, the commit's index still goes there
    monkeypatch.setenv("RUNNER_TEMP", str(elsewhere))
    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--plan-file", str(tmp_path / "plan.json"))
    assert code == 0, err
    assert outputs["branch"] == f"rollback-batch-{BATCH}" and elsewhere.is_dir()


def test_the_dry_run_prints_each_landing_with_its_pr_and_date_and_each_files_action(remote, capsys) -> None:
    _, repo = remote
    open_pr(repo, 1427, [({"recipes/a/alpha.toml": "alpha\n", "recipes/b.toml": "b = 2\n"}, batch_message(BATCH))])
    first = squash(repo, 1427)
    open_pr(repo, 1429, [({"recipes/g/gamma.toml": "gamma\n"}, batch_message(BATCH))])
    second = squash(repo, 1429, with_number=False)
    change(repo, {"recipes/g/gamma.toml": None}, "fix(recipes): remove broken gamma")
    git(repo, "fetch", "-q", "origin", "+refs/pull/*/head:refs/remotes/origin/pull/*/head")

    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, "--dry-run")

    assert code == 0, err
    screen = err.splitlines()
    day = git(repo, "log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%d", first, env={"TZ": "UTC"})
    row = next(line for line in screen if first[:10] in line)
    assert "#1427" in row and "squash" in row and day in row
    assert "#1429" in next(line for line in screen if second[:10] in line)
    assert any(line.strip().startswith("remove") and "recipes/a/alpha.toml" in line for line in screen)
    assert any(line.strip().startswith("restore") and "recipes/b.toml" in line for line in screen)
    assert any(line.strip().startswith("already as before") and "recipes/g/gamma.toml" in line for line in screen), err
    assert "Totals: 1 to remove, 1 to restore, 0 conflict(s) left untouched, 1 already as before the batch." in err
    assert (
        f"Next: push the rollback branch and open its PR with: batchops rollback --batch-id {BATCH} --base-branch main"
        in err
    )
    assert "--dry-run false" not in err and "dry-run: false" not in err


@pytest.mark.parametrize("flag", [["--dry-run"], ["--dry-run", "true"], ["--dry-run=yes"]])
def test_a_bare_or_valued_dry_run_pushes_nothing(remote, capsys, flag) -> None:
    bare, repo = remote
    change(repo, {"recipes/new.toml": "n\n"}, batch_message(BATCH))
    git(repo, "push", "-q", "origin", "main")

    code, outputs, err = run_cli(capsys, repo, "--batch-id", BATCH, *flag)

    assert code == 0, err
    assert outputs["branch"] == "" and "rollback-batch" not in git(bare, "branch", "--list")
    assert "--dry-run false" not in err


def test_the_plan_on_screen_escapes_a_hostile_subject(remote, capsys) -> None:
    _, repo = remote
    change(repo, {"recipes/new.toml": "n\n"}, "feat: \x1b[31mred\x07 ::error::fake" + "\n\n" + f"batch_id: {BATCH}\n")

    code, _, err = run_cli(capsys, repo, "--batch-id", BATCH, "--dry-run")

    assert code == 0, err
    assert "\x1b" not in err and "\x07" not in err
    assert not any(line.startswith("::error::") for line in err.splitlines())

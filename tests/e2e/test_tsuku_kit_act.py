"""The migration kit of examples/tsuku/ runs end to end under act, on the first user's real control file.

As in test_examples_act.py, each workflow runs as the first user would have it, with local stand-ins:
`actions/checkout` becomes a clone of a bare remote on disk (plus a copy of batchops, which the
`batchops/batchops…@v1` references then point at), the telemetry endpoint is `batchops metrics serve`
on 127.0.0.1, the GitHub API is the stand-in of tests/support/github_api.py, and the artifact of the
generate job is a folder on disk. Two steps that only GitHub itself can serve are left out: the GitHub
App token (the job token of the stand-in is used instead) and GraphQL auto-merge.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from batchops.adapters.store import Store
from tests.support.act import CHECKOUT_STAND_IN, copy_repository, run_with_telemetry
from tests.support.gitrepo import git, make_remote

pytestmark = [pytest.mark.act, pytest.mark.slow]

KIT = Path(__file__).resolve().parents[2] / "examples" / "tsuku"
TOKEN = "kit-telemetry-token-5531"
LEGACY = "control-history/batch-control.20260626T205108.json"

ARTIFACT = """- name: artifact (local stand-in for actions/download-artifact)
{i}  run: cp -a "$ARTIFACTS" artifacts
"""


def _step_end(lines: list[str], index: int, indent: str) -> int:
    index += 1
    while index < len(lines) and (lines[index].startswith(indent + "  ") or not lines[index].strip()):
        index += 1
    return index


def localize(workflow: str) -> str:
    """The kit's workflow as it runs here (see the module docstring); nothing else changes."""
    lines = workflow.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        step = re.match(r"^(\s*)- (?:name: (.*)|uses: (\S+).*)$", line.rstrip("\n"))
        if step:
            indent, name, uses = step.group(1), step.group(2) or "", step.group(3) or ""
            body = lines[index + 1 : _step_end(lines, index, indent)]
            named = [part.split("uses:", 1)[1].split()[0] for part in body if part.strip().startswith("uses:")]
            uses = uses or (named[0] if named else "")
            if uses.startswith("actions/checkout@"):
                out.append(indent + CHECKOUT_STAND_IN.format(indent=indent))
                index = _step_end(lines, index, indent)
                continue
            if uses.startswith("actions/download-artifact@"):
                out.append(indent + ARTIFACT.format(i=indent))
                index = _step_end(lines, index, indent)
                continue
            if uses.startswith("actions/create-github-app-token@") or name == "Enable auto-merge":
                index = _step_end(lines, index, indent)
                continue
        line = re.sub(r"uses: batchops/batchops/(actions/[a-z-]+)@v1", r"uses: ./_batchops/\1", line)
        line = re.sub(r"uses: batchops/batchops@v1", "uses: ./_batchops", line)
        line = line.replace("${{ steps.app-token.outputs.token }}", "${{ secrets.GITHUB_TOKEN }}")
        out.append(line.replace("  workflow_call:", "  workflow_dispatch:"))
        index += 1
    return "".join(out)


def _batch_operations(act, tmp_path: Path, bare: Path):  # type: ignore[no-untyped-def]
    """The kit's batch-operations.yml under act against ``bare``, telemetry to a local endpoint; log kept."""
    run = run_with_telemetry(
        act,
        localize((KIT / "batch-operations.yml").read_text()),
        tmp_path,
        remote=bare,
        token=TOKEN,
        secret="BATCH_METRICS_TOKEN",
        variable="TELEMETRY_URL",
    )
    (tmp_path / "act.log").write_text(run.log)
    return run


def test_localize_changes_only_the_stand_ins() -> None:
    text = localize((KIT / "batch-merge.yml").read_text())
    for gone in ("uses: actions/checkout", "uses: actions/create-github-app-token", "uses: actions/download-artifact"):
        assert gone not in text
    assert "batchops/batchops" not in text and "uses: ./_batchops/actions/persist-with-retry" in text
    assert "Enable auto-merge" not in text and "batch_id: ${BATCH_ID}" in text


def _remote(tmp_path: Path, corpus: Path, files: dict[str, str] | None = None) -> Path:
    bare, _ = make_remote(tmp_path, {"batch-control.json": (corpus / LEGACY).read_text(), **(files or {})})
    return bare


def _show(tmp_path: Path, bare: Path, spec: str) -> str:
    return git(tmp_path, "--git-dir", str(bare), "show", spec)


def test_batch_operations_gates_runs_the_placeholder_records_persists_and_uploads(  # type: ignore[no-untyped-def]
    act, tmp_path: Path, corpus: Path
) -> None:
    bare = _remote(tmp_path, corpus)
    run = _batch_operations(act, tmp_path, bare)
    assert run.ok, run.log[-6000:]
    landed = json.loads(_show(tmp_path, bare, "main:batch-control.json"))
    before = json.loads((corpus / LEGACY).read_text())
    assert landed["circuit_breaker"]["default"]["state"] == "closed"
    # the legacy file's other breakers are untouched by this workflow
    for name, entry in before["circuit_breaker"].items():
        if name != "default":
            assert landed["circuit_breaker"][name]["state"] == entry["state"], name
    assert "chore: update circuit breaker state [skip ci]" in _show(tmp_path, bare, "main")
    with Store(str(tmp_path / "telemetry.db")) as db:
        (stored,) = db.runs()
    assert stored["ecosystem"] == "default" and stored["total_recipes"] == 0
    assert TOKEN not in run.log


def test_batch_operations_with_an_open_breaker_skips_and_writes_nothing(  # type: ignore[no-untyped-def]
    act, tmp_path: Path, corpus: Path
) -> None:
    control = json.loads((corpus / LEGACY).read_text())
    control["circuit_breaker"]["default"] = {"state": "open", "failures": 5, "opens_at": "2099-01-01T00:00:00Z"}
    bare, _ = make_remote(tmp_path, {"batch-control.json": json.dumps(control, indent=2) + "\n"})
    head = git(tmp_path, "--git-dir", str(bare), "rev-parse", "main")
    run = _batch_operations(act, tmp_path, bare)
    assert run.ok, run.log[-6000:]
    assert git(tmp_path, "--git-dir", str(bare), "rev-parse", "main") == head  # nothing persisted
    with Store(str(tmp_path / "telemetry.db")) as db:
        assert db.runs() == []


def test_batch_merge_records_each_ecosystem_then_opens_a_pr_carrying_the_batch_id(  # type: ignore[no-untyped-def]
    act, tmp_path: Path, corpus: Path, github_api
) -> None:
    bare = _remote(tmp_path, corpus, {"recipes/a/aaa.toml": "name = 'aaa'\n"})
    github_api.add_repo("tsukumogami/tsuku", git_dir=bare)
    artifacts = tmp_path / "passing-recipes"
    (artifacts / "recipes" / "j").mkdir(parents=True)
    (artifacts / "recipes" / "j" / "jq.toml").write_text("name = 'jq'\n")
    (artifacts / "data" / "queues").mkdir(parents=True)
    per_ecosystem = {"homebrew": {"succeeded": 1, "failed": 0}, "npm": {"succeeded": 0, "failed": 2}}
    (artifacts / "data" / "queues" / "batch-results.json").write_text(json.dumps({"per_ecosystem": per_ecosystem}))
    run = act(
        localize((KIT / "batch-merge.yml").read_text()),
        src=copy_repository(tmp_path / "src"),
        event="workflow_dispatch",
        env={
            "REMOTE": str(bare),
            "ARTIFACTS": str(artifacts),
            "GITHUB_API_URL": github_api.base_url,
            "GITHUB_REPOSITORY": "tsukumogami/tsuku",
        },
        secrets={"GITHUB_TOKEN": github_api.token},
        timeout=600,
    )
    (tmp_path / "act.log").write_text(run.log)
    assert run.ok, run.log[-6000:]
    landed = json.loads(_show(tmp_path, bare, "main:batch-control.json"))
    before = json.loads((corpus / LEGACY).read_text())
    assert landed["circuit_breaker"]["npm"] != before["circuit_breaker"]["npm"]  # the failure was recorded
    assert landed["circuit_breaker"]["homebrew"]["state"] in ("closed", "half-open", "open")
    assert "Batchops-Operation: breaker.record" in _show(tmp_path, bare, "main")
    (pull,) = github_api.pulls("tsukumogami/tsuku")
    batch_id = re.search(r"^batch_id: (\S+)$", pull["body"], re.M).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-\d{3})?", batch_id)
    head = pull["head"]["ref"]
    assert f"batch_id: {batch_id}" in _show(tmp_path, bare, head)
    files = git(tmp_path, "--git-dir", str(bare), "ls-tree", "-r", "--name-only", head)
    assert "recipes/j/jq.toml" in files.splitlines()


def test_checksum_drift_keeps_the_baseline_in_the_repository(  # type: ignore[no-untyped-def]
    act, tmp_path: Path, corpus: Path, github_api
) -> None:
    from tests.support.upstream import Upstream

    github_api.add_repo("tsukumogami/tsuku")
    upstream = Upstream().start()
    try:
        url = upstream.put("/jq/1.7.1/SHA256SUMS", "a" * 64 + "  jq.tar.gz\n")
        recipe = (
            f'[metadata]\nname = "jq"\n\n[version]\nversion = "1.7.1"\n\n[[steps]]\naction = "download"\n'
            f'url = "{url}.tar.gz"\nchecksum_url = "{url}"\n'
        )
        bare = _remote(tmp_path, corpus, {"internal/recipe/recipes/jq.toml": recipe})
        run = act(
            localize((KIT / "checksum-drift.yml").read_text()),
            src=copy_repository(tmp_path / "src"),
            event="workflow_dispatch",
            env={
                "REMOTE": str(bare),
                "GITHUB_API_URL": github_api.base_url,
                "GITHUB_REPOSITORY": "tsukumogami/tsuku",
                "BATCHOPS_GITHUB_WRITE_INTERVAL": "0",
            },
            secrets={"GITHUB_TOKEN": github_api.token},
        )
    finally:
        upstream.stop()
    (tmp_path / "act.log").write_text(run.log)
    assert run.ok, run.log[-6000:]
    baseline = json.loads(_show(tmp_path, bare, "main:data/checksums/baseline.json"))
    assert "jq" in baseline["recipes"]
    assert github_api.issues("tsukumogami/tsuku") == []

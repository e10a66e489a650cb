"""The three consumer workflows of examples/workflows/ run end to end under act.

Each example is run as a consumer would have it, with local stand-ins: the
`actions/checkout` step becomes a clone of a bare remote on disk (plus a copy of
batchops, which the `batchops/batchops/actions/<step>@v1` references then point
at), the telemetry endpoint is `batchops metrics serve` on 127.0.0.1, and the
GitHub API is the stand-in of tests/support/github_api.py on 127.0.0.1.
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

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workflows"
TOKEN = "example-telemetry-token-8812"


def localize(workflow: str) -> str:
    """The example as it runs here: local checkout, local batchops actions."""
    lines = workflow.splitlines(keepends=True)
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = re.match(r"^(\s*)- uses: actions/checkout@", line)
        if match:
            indent = match.group(1)
            index += 1
            while index < len(lines) and (lines[index].startswith(indent + "  ") or not lines[index].strip()):
                index += 1
            out.append(indent + CHECKOUT_STAND_IN.format(indent=indent))
            continue
        out.append(re.sub(r"uses: batchops/batchops/(actions/[a-z-]+)@v1", r"uses: ./_batchops/\1", line))
        index += 1
    return "".join(out)


def test_localize_rewrites_only_checkout_and_batchops_references() -> None:
    text = localize((EXAMPLES / "rollback.yml").read_text())
    assert "uses: actions/checkout" not in text and "batchops/batchops" not in text
    assert "uses: ./_batchops/actions/rollback" in text
    assert "batch-id: ${{ inputs.batch-id }}" in text


RUN_BATCH = """#!/usr/bin/env bash
# Stand-in for the user's batch: ship one recipe for the ecosystem, write results.
set -euo pipefail
eco="$1"; out="$2"
batch_id="2026-06-22-${eco//./-}"
mkdir -p "recipes/$eco"
echo "name = \\"$eco-tool\\"" > "recipes/$eco/$eco-tool.toml"
result=passed
[ "$eco" = "npm" ] && result=failed
cat > "$out" <<EOF
{"batch_id": "$batch_id", "ecosystem": "$eco", "started_at": "2026-06-22T06:00:00Z",
 "completed_at": "2026-06-22T06:20:00Z", "macos_minutes": 12, "linux_minutes": 30,
 "results": [{"recipe_name": "$eco-tool", "result": "$result", "platform": "linux-x86_64"}]}
EOF
"""


def test_batch_operations_runs_the_matrix_and_lands_every_update(act, tmp_path: Path) -> None:
    control = {"enabled": True, "disabled_ecosystems": ["rubygems", "github"], "circuit_breaker": {}, "budget": {}}
    bare, _ = make_remote(
        tmp_path, {"batch-control.json": json.dumps(control, indent=2) + "\n", "scripts/run-batch.sh": RUN_BATCH}
    )
    seed = tmp_path / "remote.git-seed"
    git(seed, "update-index", "--chmod=+x", "scripts/run-batch.sh")
    git(seed, "commit", "-q", "-m", "make the batch script executable")
    git(seed, "push", "-q", "origin", "main")
    run = run_with_telemetry(
        act,
        localize((EXAMPLES / "batch-operations.yml").read_text()),
        tmp_path,
        remote=bare,
        token=TOKEN,
        secret="BATCHOPS_TELEMETRY_TOKEN",
        variable="BATCHOPS_TELEMETRY_URL",
    )
    assert run.ok, run.log[-6000:]
    landed = json.loads(git(tmp_path, "--git-dir", str(bare), "show", "main:batch-control.json"))
    # four parallel jobs (two ecosystems disabled), every outcome recorded once
    assert sorted(landed["circuit_breaker"]) == ["crates.io", "homebrew", "npm", "pypi"]
    assert landed["circuit_breaker"]["npm"]["failures"] == 1
    assert landed["budget"]["macos_minutes_used"] == 48 and landed["budget"]["linux_minutes_used"] == 120
    with Store(str(tmp_path / "telemetry.db")) as db:
        runs = db.runs()
    assert sorted(r["ecosystem"] for r in runs) == ["crates.io", "homebrew", "npm", "pypi"]
    assert TOKEN not in run.log


def _recipe(name: str, version: str, upstream: str) -> str:
    return (
        f'[metadata]\nname = "{name}"\n\n[version]\nversion = "{version}"\n\n[[steps]]\naction = "download"\n'
        f'url = "{upstream}/{name}/{{version}}/{name}.tar.gz"\n'
        f'checksum_url = "{upstream}/{name}/{{version}}/SHA256SUMS"\n'
    )


def test_drift_monitor_records_the_baseline_then_opens_one_issue(act, tmp_path: Path, github_api) -> None:  # type: ignore[no-untyped-def]
    from tests.support.upstream import Upstream

    github_api.add_repo("registry/recipes")
    upstream = Upstream().start()
    try:
        upstream.put("/jq/1.7.1/SHA256SUMS", "a" * 64 + "  jq.tar.gz\n")
        bare, _ = make_remote(
            tmp_path,
            {"recipes/jq.toml": _recipe("jq", "1.7.1", upstream.url), "batch-control.json": '{"enabled": true}\n'},
        )
        workflow = localize((EXAMPLES / "drift-monitor.yml").read_text())
        common = {
            "src": copy_repository(tmp_path / "src"),
            "event": "workflow_dispatch",
            "env": {
                "REMOTE": str(bare),
                "GITHUB_API_URL": github_api.base_url,
                "GITHUB_REPOSITORY": "registry/recipes",
                "BATCHOPS_GITHUB_WRITE_INTERVAL": "0",
            },
            "secrets": {"GITHUB_TOKEN": github_api.token},
        }
        first = act(workflow, **{**common, "env": {**common["env"], "BATCHOPS_NOW": "2026-06-22T05:41:00Z"}})
        assert first.ok, first.log[-6000:]
        baseline = json.loads(git(tmp_path, "--git-dir", str(bare), "show", "main:checksum-baseline.json"))
        assert "jq" in json.dumps(baseline)
        assert github_api.issues("registry/recipes") == []
        upstream.put("/jq/1.7.1/SHA256SUMS", "b" * 64 + "  jq.tar.gz\n")  # same version, new bytes
        # two days later: past the example's 24h grace period
        second = act(workflow, **{**common, "env": {**common["env"], "BATCHOPS_NOW": "2026-06-24T05:41:00Z"}})
    finally:
        upstream.stop()
    assert second.ok, second.log[-6000:]
    (issue,) = github_api.issues("registry/recipes")
    import hashlib

    new_sha = hashlib.sha256(("b" * 64 + "  jq.tar.gz\n").encode()).hexdigest()
    assert "jq" in issue["title"] and new_sha in issue["body"]


def test_rollback_dispatch_pushes_a_branch_and_opens_a_pull_request(act, tmp_path: Path, github_api) -> None:  # type: ignore[no-untyped-def]
    bare, clone = make_remote(tmp_path, {"recipes/jq.toml": "version = 1\n", "README.md": "registry\n"})
    github_api.add_repo("registry/recipes", git_dir=bare)  # the pushed rollback branch is the pull request's head
    (clone / "recipes" / "new-tool.toml").write_text("version = 1\n")
    (clone / "recipes" / "jq.toml").write_text("version = 2\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "feat: batch\n\nbatch_id: 2026-06-22-homebrew")
    git(clone, "push", "-q", "origin", "main")
    workflow = localize((EXAMPLES / "rollback.yml").read_text())
    common = {
        "src": copy_repository(tmp_path / "src"),
        "event": "workflow_dispatch",
        "env": {
            "REMOTE": str(bare),
            "GITHUB_API_URL": github_api.base_url,
            "GITHUB_REPOSITORY": "registry/recipes",
            "BATCHOPS_GITHUB_WRITE_INTERVAL": "0",
        },
        "secrets": {"GITHUB_TOKEN": github_api.token},
    }
    dry = act(workflow, inputs={"batch-id": "2026-06-22-homebrew", "dry-run": "true"}, **common)
    assert dry.ok, dry.log[-6000:]
    assert "rollback-batch-" not in git(tmp_path, "--git-dir", str(bare), "branch", "--list")
    real = act(workflow, inputs={"batch-id": "2026-06-22-homebrew", "dry-run": "false"}, **common)
    assert real.ok, real.log[-6000:]
    branch = "rollback-batch-2026-06-22-homebrew"
    files = git(tmp_path, "--git-dir", str(bare), "ls-tree", "-r", "--name-only", branch)
    assert "recipes/new-tool.toml" not in files.splitlines()
    assert git(tmp_path, "--git-dir", str(bare), "show", f"{branch}:recipes/jq.toml") == "version = 1"
    (pull,) = github_api.pulls("registry/recipes")
    assert pull["head"]["ref"] == branch and "recipes/jq.toml" in pull["body"]

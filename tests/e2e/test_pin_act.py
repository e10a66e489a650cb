"""Pinning `@v1`: the `uses:` lines of the docs name actions and tags a release has, and a
consumer repository runs `batchops/batchops/actions/<step>@v1` (the major tag of a release,
served to act from a local clone) on a fresh runner."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_vendored_act import _release

ROOT = Path(__file__).resolve().parents[2]
USES = re.compile(r"uses:\s*batchops/batchops((?:/[A-Za-z0-9._-]+)*)@([^\s#`)'\"]+)")


def _released_versions() -> list[str]:
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "examples").rglob("*.yml"))]


def test_every_documented_uses_line_names_an_action_of_the_tree_and_a_tag_a_release_creates() -> None:
    versions = _released_versions()
    assert versions, "CHANGELOG.md has a released version section"
    tags = {f"v{v}" for v in versions} | {f"v{v.split('.')[0]}" for v in versions}
    seen = 0
    for doc in _documents():
        for sub, ref in USES.findall(doc.read_text(encoding="utf-8")):
            seen += 1
            where = f"{doc.relative_to(ROOT)}: batchops/batchops{sub}@{ref}"
            assert (ROOT / sub.lstrip("/") / "action.yml").is_file(), f"{where}: no action.yml there"
            assert ref in tags, f"{where}: {ref} is not a tag the release of {versions[0]} creates ({sorted(tags)})"
    assert seen >= 10


def test_the_pre_commit_rev_of_the_docs_is_a_released_version_with_the_hook() -> None:
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: batchops-validate" in hooks
    revs = {
        rev
        for doc in _documents()
        for rev in re.findall(r"^\s*rev:\s*(\S+)", doc.read_text(encoding="utf-8"), flags=re.M)
    }
    assert revs, "the docs show a pre-commit config"
    assert revs <= {f"v{v}" for v in _released_versions()}, revs


WORKFLOW = """
on: push
jobs:
  batch:
    runs-on: ubuntu-latest
    steps:
      - name: the consumer repository
        run: cp -a "$SRC"/. .
      - id: preflight
        uses: batchops/batchops/actions/preflight@v1
        with:
          ecosystems: homebrew, npm
      - uses: batchops/batchops@v1
      - name: results
        env:
          PREFLIGHT: ${{ toJSON(steps.preflight.outputs) }}
        run: |
          printf '%s' "$PREFLIGHT" > "$RESULT_DIR/preflight.json"
          batchops --version > "$RESULT_DIR/version.txt"
          cat "$RUNNER_TEMP/batchops-venv/.batchops-setup" > "$RESULT_DIR/setup.txt"
"""


@pytest.mark.act
@pytest.mark.slow
def test_a_consumer_pinning_v1_runs_the_release_that_v1_points_at(act, tmp_path: Path) -> None:
    upstream = _release(tmp_path)  # this tree, committed and tagged v1.0.0
    subprocess.run(["git", "tag", "v1", "v1.0.0"], cwd=upstream, check=True)  # what the release workflow does
    served = tmp_path / "batchops-at-v1"
    subprocess.run(
        ["git", "clone", "-q", "--branch", "v1", upstream.as_uri(), str(served)], check=True, capture_output=True
    )
    home = tmp_path / "act-home"  # act reads its options from $HOME/.actrc
    home.mkdir(exist_ok=True)
    (home / ".actrc").write_text(f"--local-repository batchops/batchops@v1={served}\n")
    consumer = tmp_path / "registry"
    consumer.mkdir()
    (consumer / "batch-control.json").write_text(json.dumps({"enabled": True, "disabled_ecosystems": ["npm"]}))

    run = act(WORKFLOW, src=consumer, env={"BATCHOPS_VENV": ""}, timeout=600)

    assert run.ok, run.log
    preflight = run.result("preflight.json")
    assert preflight["can-proceed"] == "true"
    assert json.loads(preflight["ecosystems"]) == ["homebrew"]
    assert (run.result_dir / "version.txt").read_text().startswith("batchops ")
    assert re.match(r"environment built in \d+\.\d\d s with uv", (run.result_dir / "setup.txt").read_text())

"""The pre-commit hook repositories use to validate batch-control.json on commit."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from tests.cli_helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]


def hook() -> dict:
    (entry,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return entry


def test_hook_selects_control_files_anywhere_in_the_repository() -> None:
    pattern = re.compile(hook()["files"])
    assert pattern.search("batch-control.json") and pattern.search("ops/batch-control.json")
    assert not pattern.search("batch-control.json.bak") and not pattern.search("my-batch-control.json")


def test_hook_entry_passes_a_valid_file_and_blocks_an_invalid_one(tmp_path: Path) -> None:
    argv = shlex.split(hook()["entry"])
    assert argv[0] == "batchops"
    good = tmp_path / "batch-control.json"
    good.write_text(json.dumps({"enabled": True}))
    bad = tmp_path / "ops" / "batch-control.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps({"enabled": True, "disabled_ecosystems": "npm"}))
    assert run_cli([*argv[1:], str(good)], tmp_path, actions=False).returncode == 0
    blocked = run_cli([*argv[1:], str(good), str(bad)], tmp_path, actions=False)
    assert blocked.returncode == 1
    assert f"{bad}:1: /disabled_ecosystems" in blocked.stdout

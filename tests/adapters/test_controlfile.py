"""The control file: atomic writes, no half-written files, journaled operations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from batchops.adapters import controlfile, journal
from batchops.errors import BatchopsError, OperationConflict
from tests.support.operations import operation

AT = "2026-06-26T21:00:00Z"


@operation("control.test_conflict")
def _conflict(doc: dict, args: dict) -> None:
    raise OperationConflict("no longer applies", hint="re-run the step")


def seed(tmp_path: Path) -> Path:
    path = tmp_path / "batch-control.json"
    path.write_text(json.dumps({"enabled": True, "zz_unknown": 1, "disabled_ecosystems": []}, indent=2))
    return path


def test_a_crash_while_writing_leaves_the_old_file_and_no_temp_file(tmp_path: Path, mocker) -> None:  # type: ignore[no-untyped-def]
    path = seed(tmp_path)
    before = path.read_text()
    mocker.patch("batchops.adapters.files.os.replace", side_effect=OSError("disk full"))
    with pytest.raises(OSError):
        controlfile.mutate(path, "control.disable", {"ecosystem": "npm"}, at=AT)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name != "journal"] == [
        "batch-control.json"
    ]  # journal: the test's own
    assert journal.read() == []  # nothing recorded for a change that did not land


def test_an_operation_that_no_longer_applies_writes_nothing(tmp_path: Path) -> None:
    path = seed(tmp_path)
    before = path.read_text()
    with pytest.raises(OperationConflict):
        controlfile.mutate(path, "control.test_conflict", {}, at=AT)
    assert path.read_text() == before and journal.read() == []


def test_a_result_that_breaks_the_schema_is_refused(tmp_path: Path) -> None:
    path = seed(tmp_path)
    with pytest.raises(BatchopsError) as caught:
        controlfile.mutate(path, "control.disable", {"ecosystem": "Not An Ecosystem"}, at=AT)
    assert "/disabled_ecosystems/0" in caught.value.message
    assert json.loads(path.read_text())["disabled_ecosystems"] == []


def test_mutations_keep_key_order_and_unknown_keys_and_are_journaled(tmp_path: Path) -> None:
    path = seed(tmp_path)
    controlfile.mutate(path, "control.disable", {"ecosystem": "npm"}, at=AT, actor="ci")
    assert list(json.loads(path.read_text())) == ["enabled", "zz_unknown", "disabled_ecosystems"]
    (entry,) = journal.read()
    assert entry["op"] == "control.disable" and entry["args"] == {"ecosystem": "npm"} and entry["actor"] == "ci"
    assert entry["file"] == str(path.resolve())  # outside the working directory: absolute


def test_journal_names_files_relative_to_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(tmp_path)
    monkeypatch.chdir(tmp_path)
    controlfile.mutate("batch-control.json", "control.disable", {"ecosystem": "npm"}, at=AT)
    assert journal.read("batch-control.json")[0]["file"] == "batch-control.json"


def test_journal_lives_under_runner_temp_in_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHOPS_JOURNAL")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "rt"))
    assert journal.path() == tmp_path / "rt" / "batchops" / "journal.jsonl"


def test_clearing_one_file_keeps_the_others(tmp_path: Path) -> None:
    control_path = seed(tmp_path)
    other = tmp_path / "other" / "batch-control.json"
    other.parent.mkdir()
    other.write_text(control_path.read_text())
    controlfile.mutate(control_path, "control.disable", {"ecosystem": "npm"}, at=AT)
    controlfile.mutate(other, "control.disable", {"ecosystem": "pypi"}, at=AT)
    journal.clear(str(control_path.resolve()))
    assert [e["args"]["ecosystem"] for e in journal.read()] == ["pypi"]


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_append_many, range(4))
    entries = journal.read()
    assert len(entries) == 200 and len({e["id"] for e in entries}) == 200


def _append_many(worker: int) -> None:
    for i in range(50):
        journal.record(
            journal.new_operation("control.disable", "batch-control.json", {"ecosystem": f"e{worker}-{i}"}, AT)
        )


def test_written_files_keep_their_permissions(tmp_path: Path) -> None:
    path = seed(tmp_path)
    os.chmod(path, 0o640)
    controlfile.mutate(path, "control.disable", {"ecosystem": "npm"}, at=AT)
    assert path.stat().st_mode & 0o777 == 0o640

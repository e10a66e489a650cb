"""Writing files: a full disk, a quota, a size limit, a read-only disk or a refused permission is a user error
naming the file; never a half-written file; stale temp files of killed writers are cleaned.

Real files and real processes (a real file-size limit, a real SIGKILL); pytest-mock
only to inject the errors a test machine cannot produce (ENOSPC, EDQUOT, EROFS, EACCES as root).
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from batchops.adapters import controlfile, files, journal
from batchops.core import control
from batchops.errors import BatchopsError
from tests.cli_helpers import REPO_ROOT, run_cli

AT = "2026-06-29T10:00:00Z"
RESOURCE = [errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES]


def control_file(folder: Path) -> Path:
    path = folder / "batch-control.json"
    path.write_text(control.dumps(json.loads(control.TEMPLATE)))
    return path


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("code", RESOURCE, ids=[errno.errorcode[c] for c in RESOURCE])
@pytest.mark.parametrize("where", ["os.write", "os.fsync", "os.replace", "os.open"])  # os.open creates the temp file
def test_a_resource_error_names_the_file_and_leaves_it_intact(tmp_path: Path, mocker, code: int, where: str) -> None:  # type: ignore[no-untyped-def]
    path = control_file(tmp_path)
    before = path.read_text()
    module, name = where.split(".")
    mocker.patch.object({"os": os}[module], name, side_effect=OSError(code, os.strerror(code)))
    with pytest.raises(BatchopsError) as raised:
        files.write_atomic(path, "{}\n")
    assert raised.value.file == str(path)
    assert errno.errorcode[code] in raised.value.message and raised.value.hint
    assert path.read_text() == before
    assert leftovers(tmp_path) == []


def test_a_full_disk_during_an_operation_leaves_the_file_and_the_journal_as_they_were(tmp_path: Path, mocker) -> None:  # type: ignore[no-untyped-def]
    path = control_file(tmp_path)
    before = path.read_text()
    mocker.patch("batchops.adapters.files.os.fsync", side_effect=OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(BatchopsError, match="no space left"):
        controlfile.mutate(path, "control.disable", {"ecosystem": "npm", "at": AT}, at=AT)
    assert path.read_text() == before and journal.read() == []


def test_a_full_disk_while_journaling_leaves_no_half_line(tmp_path: Path, mocker) -> None:  # type: ignore[no-untyped-def]
    path = control_file(tmp_path)
    controlfile.mutate(path, "control.disable", {"ecosystem": "npm", "at": AT}, at=AT)
    real_write = os.write

    def short(fd: int, data: bytes) -> int:  # the disk fills up in the middle of the line
        return real_write(fd, bytes(data)[:10])

    mocker.patch("batchops.adapters.journal.os.write", side_effect=short)
    with pytest.raises(BatchopsError) as raised:
        controlfile.mutate(path, "control.disable", {"ecosystem": "go", "at": AT}, at=AT)
    assert raised.value.file == str(journal.path())
    mocker.stopall()
    assert [e["args"]["ecosystem"] for e in journal.read()] == ["npm"]  # readable, the failed one not in it
    assert json.loads(path.read_text())["disabled_ecosystems"] == ["npm"]


def test_a_real_file_size_limit_is_a_user_error_naming_the_file(tmp_path: Path) -> None:
    """The issue's `OSError: [Errno 27] File too large ... report it`, with a real RLIMIT_FSIZE."""
    path = control_file(tmp_path)
    document = json.loads(path.read_text())
    document["x_padding"] = "p" * 3000  # the rewritten file is larger than the limit, the journal line is not
    path.write_text(control.dumps(document))
    before = path.read_text()

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))}
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "BATCHOPS_JOURNAL": str(tmp_path / "j" / "journal.jsonl"),
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "batchops", "disable", "npm", "--new"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "batch-control.json" in proc.stderr and "file-size limit" in proc.stderr and "EFBIG" in proc.stderr
    assert "unexpectedly" not in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_text() == before and leftovers(tmp_path) == []
    assert not (tmp_path / "j" / "journal.jsonl").exists() or (tmp_path / "j" / "journal.jsonl").read_text() == ""


def test_an_unwritable_output_file_is_a_user_error_naming_it_not_a_crash(tmp_path: Path) -> None:
    """The CLI's last resort: an OSError naming a file anywhere (here $GITHUB_OUTPUT is a folder)."""
    control_file(tmp_path)
    folder = tmp_path / "outputs"
    folder.mkdir()
    run = run_cli(["preflight"], tmp_path, env={"GITHUB_OUTPUT": str(folder)}, actions=False)
    assert run.returncode == 1
    assert str(folder) in run.stderr and "unexpectedly" not in run.stderr and "Traceback" not in run.stderr


def stuck_writer(path: Path) -> subprocess.Popen[str]:
    """Another process in ``write_atomic(path)``, stopped before its fsync (it prints ``writing`` when there)."""
    script = (
        "import sys, time\n"
        "from batchops.adapters import files\n"
        "files.os.fsync = lambda fd: (print('writing', flush=True), time.sleep(60))\n"
        "files.write_atomic(sys.argv[1], '{}')\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_temp_file_left_by_a_killed_writer_is_cleaned_at_the_next_write(tmp_path: Path) -> None:
    path = control_file(tmp_path)
    before = path.read_text()
    writer = stuck_writer(path)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    (stale,) = leftovers(tmp_path)
    os.kill(writer.pid, signal.SIGKILL)  # SIGKILL mid-write: no cleanup handler runs
    writer.wait()
    assert path.read_text() == before and leftovers(tmp_path) == [stale]
    old = time.time() - 60
    os.utime(tmp_path / stale, (old, old))
    controlfile.mutate(path, "control.disable", {"ecosystem": "npm", "at": AT}, at=AT)
    assert leftovers(tmp_path) == []
    assert json.loads(path.read_text())["disabled_ecosystems"] == ["npm"]


def test_a_temp_file_a_live_writer_holds_is_never_removed(tmp_path: Path) -> None:
    path = control_file(tmp_path)
    writer = stuck_writer(path)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        (held,) = leftovers(tmp_path)
        old = time.time() - 60
        os.utime(tmp_path / held, (old, old))
        files.write_atomic(path, control.dumps(json.loads(control.TEMPLATE)))
        assert leftovers(tmp_path) == [held]
    finally:
        writer.kill()
        writer.wait()


def test_only_temp_files_of_the_written_file_are_judged(tmp_path: Path) -> None:
    path = control_file(tmp_path)
    others = [".batch-control.json.bak", ".other.json.abcd1234.tmp", "batch-control.json.abcd1234.tmp"]
    for name in others:
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (0, 0))
    files.write_atomic(path, "{}\n")
    assert sorted(n for n in others if (tmp_path / n).exists()) == sorted(others)


def test_a_young_temp_file_is_left_alone(tmp_path: Path) -> None:
    """A writer may have created its temp file a moment ago and not locked it yet."""
    path = control_file(tmp_path)
    (tmp_path / ".batch-control.json.abcd1234.tmp").write_text("")
    files.write_atomic(path, "{}\n")
    assert leftovers(tmp_path) == [".batch-control.json.abcd1234.tmp"]

"""The control file: load (fail closed), write atomically, mutate through operations.

The format is the legacy ``batch-control.json``: every file the old scripts wrote
loads as it is. Key order and unknown keys are kept on write. Each change goes
through :func:`mutate`, which validates before and after, writes through a temp
file and a rename, and records the operation in the job's journal.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from . import journal, schema
from .errors import BatchopsError, ControlFileError, OperationConflict
from .ops import apply, operation

DEFAULT_FILE = "batch-control.json"

# Defaults of the legacy top-level fields, used when a field is absent.
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "disabled_ecosystems": [],
    "reason": "",
    "incident_url": "",
    "disabled_by": "",
    "disabled_at": "",
    "expected_resume": "",
    "circuit_breaker": {},
    "budget": {},
}

def new_document() -> dict[str, Any]:
    """A new control file in the legacy layout (every legacy field, at its default)."""
    document = copy.deepcopy(DEFAULTS)
    document["budget"] = {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": False}
    return document


TEMPLATE = json.dumps(new_document())


def load(path: str | Path, *, schema_name: str = "batch-control") -> dict[str, Any]:
    """Read and validate the control file; any problem is a ControlFileError."""
    name = str(path)
    try:
        document = schema.load_json(path, schema_name)
    except BatchopsError as exc:
        hint = exc.hint
        if exc.message == "file not found" and schema_name == "batch-control":
            hint = (
                f"commit a control file at {name} (minimal content: {TEMPLATE}) "
                "or set the action input control-file to its path"
            )
        raise ControlFileError(exc.message, hint=hint, file=exc.file, line=exc.line) from None
    if not isinstance(document, dict):
        raise ControlFileError("the top level must be a JSON object", file=name, hint="start the file with {")
    return document


def get(document: dict[str, Any], key: str) -> Any:
    return document.get(key, copy.deepcopy(DEFAULTS.get(key)))


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: str | Path, text: str) -> None:
    """Write through a temp file in the same folder and rename: never a half-written file."""
    import tempfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def journal_name(path: str | Path) -> str:
    """How an operation names its file: relative to the working directory when inside it."""
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(absolute)


def mutate(
    path: str | Path,
    op: str,
    args: dict[str, Any],
    *,
    at: str,
    schema_name: str = "batch-control",
    actor: str | None = None,
    document: dict[str, Any] | None = None,
    record: bool = True,
) -> tuple[dict[str, Any], Any]:
    """Apply operation ``op`` to the file at ``path``, validate, write, journal.

    Returns (new document, operation result). Nothing is written when the
    operation or the validation fails.
    """
    before = document if document is not None else load(path, schema_name=schema_name)
    after = copy.deepcopy(before)
    result = apply(after, op, args)
    schema.validate(after, schema_name, file=str(path))
    if after != before or not Path(path).exists():
        write_atomic(path, dumps(after))
    if record:
        journal.record(journal.new_operation(op, journal_name(path), args, at, actor, schema=schema_name))
    return after, result


def actor() -> str:
    """Who is acting: $GITHUB_ACTOR in Actions, else git config user.name/email, else $USER."""
    if os.environ.get("GITHUB_ACTOR"):
        return os.environ["GITHUB_ACTOR"]
    import subprocess

    try:
        name = subprocess.run(
            ["git", "config", "user.name"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        name = email = ""
    if name and email:
        return f"{name} <{email}>"
    return name or email or os.environ.get("USER", "unknown")


# --- operator operations ------------------------------------------------------------


@operation("control.stop")
def _stop(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    doc["enabled"] = False
    doc["reason"] = args["reason"]
    doc["incident_url"] = args.get("incident_url", "")
    doc["expected_resume"] = args.get("expected_resume", "")
    doc["disabled_by"] = args.get("disabled_by", "")
    doc["disabled_at"] = args["at"]
    return {"enabled": False}


@operation("control.resume")
def _resume(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    doc["enabled"] = True
    for key in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume"):
        if key in doc or key in DEFAULTS:
            doc[key] = ""
    return {"enabled": True}


@operation("control.disable")
def _disable(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystems = doc.setdefault("disabled_ecosystems", [])
    changed = args["ecosystem"] not in ecosystems
    if changed:
        ecosystems.append(args["ecosystem"])
    return {"changed": changed}


@operation("control.enable")
def _enable(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystems = doc.setdefault("disabled_ecosystems", [])
    changed = args["ecosystem"] in ecosystems
    doc["disabled_ecosystems"] = [e for e in ecosystems if e != args["ecosystem"]]
    return {"changed": changed}


__all__ = [
    "DEFAULT_FILE",
    "ControlFileError",
    "OperationConflict",
    "actor",
    "dumps",
    "get",
    "load",
    "mutate",
    "write_atomic",
]

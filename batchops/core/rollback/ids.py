"""Rollback selectors and names: batch ids, PR numbers, commits, the batch line, path prefixes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from batchops.core.walk_refs import BRANCH_PREFIX
from batchops.errors import UsageError

BATCH_KEY = "batch_id"
ROLLBACK_KEY = "rollback-of"
DEFAULT_PATHS = ["recipes/"]
ZERO = "0" * 40

# the batch-id rule of schemas/defs.schema.json (a test holds the two together)
BATCH_ID_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(-[A-Za-z0-9._][A-Za-z0-9._-]{0,99})?")
_ID_CHARS = re.compile(r"[A-Za-z0-9._-]")
SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_PR_SUBJECT = re.compile(r"\(#([0-9]{1,9})\)\s*$")
_PR_MERGE = re.compile(r"^Merge pull request #([0-9]{1,9}) from ")

# --- selectors ---------------------------------------------------------------------------


def validate_batch_id(value: Any, *, field: str = "batch-id") -> str:
    """The batch id, or a UsageError saying exactly what is wrong with it."""
    text = value if isinstance(value, str) else ""
    example = "write it as YYYY-MM-DD or YYYY-MM-DD-token, e.g. 2026-05-01 or 2026-05-01-npm"
    if not text.strip():
        raise UsageError("is empty", field=field, hint="pass the batch id to roll back; " + example)
    if any(char.isspace() for char in text):
        what = "a newline" if any(c in text for c in "\n\r\x85\u2028\u2029") else "whitespace"
        raise UsageError(f"{text!r} contains {what}", field=field, hint=example)
    if text.startswith("-"):
        raise UsageError(f"{text!r} starts with '-' (it would be read as an option)", field=field, hint=example)
    bad = sorted({char for char in text if not _ID_CHARS.fullmatch(char)})
    if bad:
        raise UsageError(
            f"{text!r} contains {' '.join(repr(c) for c in bad)}; a batch id is matched as a fixed string, "
            "so regex or shell characters are not allowed",
            field=field,
            hint=example,
        )
    if len(text) > 110 or not BATCH_ID_PATTERN.fullmatch(text):
        raise UsageError(f"{text!r} is not a batch id", field=field, hint=example)
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        raise UsageError(f"{text!r} does not start with a real date", field=field, hint=example) from None
    return text


def validate_pr(value: Any, *, field: str = "pr") -> int:
    text = str(value if value is not None else "").strip().removeprefix("#")
    if not text.isascii() or not text.isdigit() or not 0 < len(text) <= 9 or int(text) < 1:
        raise UsageError(
            f"{value!r} is not a pull request number", field=field, hint="pass the number, e.g. 2174 or #2174"
        )
    return int(text)


def validate_commit(value: Any, *, field: str = "commit") -> str:
    text = str(value if value is not None else "").strip()
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", text):
        raise UsageError(
            f"{value!r} is not a commit id",
            field=field,
            hint="pass a commit of the base branch as hex, e.g. 1e5f0710b or the full 40-character id",
        )
    return text.lower()


@dataclass(frozen=True)
class Selector:
    """What to roll back: one batch id, one pull request, or one commit of the base branch."""

    kind: str  # batch-id | pr | commit
    value: str

    @property
    def label(self) -> str:
        return {"batch-id": f"batch {self.value}", "pr": f"PR #{self.value}", "commit": f"commit {self.value[:12]}"}[
            self.kind
        ]

    @property
    def slug(self) -> str:
        """The part of names (branch, plan file) that says what is rolled back."""
        return {"batch-id": f"batch-{self.value}", "pr": f"pr-{self.value}", "commit": f"commit-{self.value[:12]}"}[
            self.kind
        ]


def choose_selector(batch_id: str, pr: str, commit: str) -> Selector:
    """Exactly one of batch-id, pr, commit."""
    given = [
        (name, value.strip())
        for name, value in (("batch-id", batch_id), ("pr", pr), ("commit", commit))
        if (value or "").strip()
    ]
    if not given:
        raise UsageError(
            "is empty, and neither pr nor commit is given: nothing to roll back",
            field="batch-id",
            hint="pass batch-id as YYYY-MM-DD or YYYY-MM-DD-token (e.g. 2026-05-01-npm), or pr (e.g. 2174), "
            "or commit (a commit of the base branch)",
        )
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(name for name, _ in given)} given together",
            field=given[1][0],
            hint="pass exactly one of batch-id, pr, commit",
        )
    name, value = given[0]
    if name == "batch-id":
        return Selector(name, validate_batch_id(value))
    if name == "pr":
        return Selector(name, str(validate_pr(value)))
    return Selector(name, validate_commit(value))


def batch_line(batch_id: str) -> str:
    """The trailer line that marks a commit (or a PR body, hence its squash) as part of a batch."""
    return f"{BATCH_KEY}: {batch_id}"


def has_line(message: bytes | str, line: str) -> bool:
    """True when a line of ``message`` is exactly ``line`` (surrounding spaces and tabs ignored).

    Lines as git reads them: split on ``\n`` only (a ``\r`` before it dropped), so a
    U+2028, U+0085 or ``\x1c`` inside a PR body or a commit message cannot make a batch
    line that git does not see; bytes and text give the same answer.
    """
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    if line not in text:
        return False
    return any(part.removesuffix("\r").strip(" \t") == line for part in text.split("\n"))


def message_names_batch(message: bytes | str, batch_id: str) -> bool:
    return has_line(message, batch_line(batch_id))


def branch_name(selector: Selector) -> str:
    return BRANCH_PREFIX + selector.slug


def pr_number_in_subject(subject: str) -> int | None:
    """``(#N)`` at the end of a squash subject, or GitHub's ``Merge pull request #N from``."""
    match = _PR_SUBJECT.search(subject) or _PR_MERGE.match(subject)
    return int(match[1]) if match else None


# --- paths -----------------------------------------------------------------------------


def normalize_paths(values: Sequence[str]) -> list[str]:
    """Path prefixes relative to the repository root ('' = everything)."""
    result: list[str] = []
    for raw in values or DEFAULT_PATHS:
        text = raw.strip().replace("\\", "/")
        while text.startswith("./"):
            text = text[2:]
        text = text.rstrip("/")
        if text == ".":
            text = ""
        if text.startswith("/") or ".." in text.split("/") or any(c in text for c in "\n\r\0"):
            raise UsageError(
                f"{raw!r} is not a path inside the repository",
                field="paths",
                hint="use paths relative to the repository root, e.g. recipes/",
            )
        if text not in result:
            result.append(text)
    return result


def under(path: str, prefixes: Sequence[str]) -> bool:
    return any(p == "" or path == p or path.startswith(p + "/") for p in prefixes)


def quote_path(path: str) -> str:
    """A path on one line: control characters, quotes and backslashes escaped as git does."""
    if path.isprintable() and '"' not in path and "\\" not in path:
        return path
    out = []
    for char in path:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif char == "\r":
            out.append("\\r")
        elif not char.isprintable():
            out.append("".join(f"\\{byte:03o}" for byte in char.encode("utf-8", "surrogateescape")))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'

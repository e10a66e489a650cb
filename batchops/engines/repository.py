"""What the repository's history says about the pipeline: the control file's versions, the batches that shipped.

Shared by alert (``stale-after``, ``alert replay --git``) and the status page. Read with git
(:mod:`batchops.adapters.git`), in two processes at most: one ``git log``, one ``cat-file --batch``.

- A *batch run* leaves a commit that changes the control file (the pipeline persists its breaker
  and budget state after every batch); every such commit counts, an operator's included.
- A batch *shipped* when a first-parent commit of ``HEAD`` carries a ``batch_id:`` line (a batch
  merged as it was committed) or its subject says ``add batch recipes`` (the first user's squash
  merges: ``feat(recipes): add batch recipes (1 recipes) (#2382)``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from batchops.adapters import git, schema
from batchops.core import stale, timeutil

SHIPPED_PATTERNS = ("^batch_id: ", "add batch recipes")
_SEP = "\x1f"


@dataclass(frozen=True)
class Version:
    """One committed version of the control file."""

    at: datetime
    sha: str
    subject: str
    author: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Shipped:
    at: datetime
    sha: str
    subject: str
    batch_ids: tuple[str, ...] = ()


def _log(repo: str | Path, args: list[str], hint: str) -> list[list[str]]:
    text = git.text(repo, ["log", f"--format=%H{_SEP}%cI{_SEP}%an{_SEP}%s", *args], hint=hint)
    return [line.split(_SEP, 3) for line in text.splitlines() if line.strip()]


def control_versions(
    repo: str | Path, path: str, *, since: datetime | None = None, validate: bool = True
) -> list[Version]:
    """Every commit of ``HEAD`` that changed ``path`` (oldest first), with the file as it was then.

    A version git cannot read (the commit deleted the file) is left out; one that is not valid
    JSON fails with the commit named, unless ``validate`` is false, then it is left out too.
    """
    window = [f"--since={timeutil.iso(since)}"] if since is not None else []
    hint = f"run in a git checkout that has {path} (actions/checkout with fetch-depth: 0), or give --repo DIR"
    commits = _log(repo, ["--reverse", *window, "--", path], hint)
    if not commits:
        return []
    request = "".join(f"{sha}:{path}\n" for sha, *_ in commits).encode()
    data = git.run(repo, ["cat-file", "--batch"], input=request).stdout
    versions: list[Version] = []
    offset = 0
    for sha, stamp, author, subject in commits:
        end = data.index(b"\n", offset)
        header = data[offset:end].decode()
        offset = end + 1
        if header.endswith("missing"):
            continue
        size = int(header.rsplit(" ", 1)[1])
        text = data[offset : offset + size].decode("utf-8", "replace")
        offset += size + 1
        label = f"{sha[:12]}:{path}"
        if validate:
            document = schema.parse_json_text(text, label)
            schema.validate(document, "batch-control", file=label, text=text)
        else:  # history for a picture: a version that is not a JSON object is left out
            try:
                document = json.loads(text)
            except ValueError:
                continue
            if not isinstance(document, dict):
                continue
        versions.append(Version(timeutil.parse_iso(stamp, field="commit time"), sha, subject, author, document))
    return versions


def shipped(repo: str | Path, *, since: datetime | None = None) -> list[Shipped]:
    """The batches that shipped on ``HEAD``'s first-parent history, oldest first."""
    window = [f"--since={timeutil.iso(since)}"] if since is not None else []
    greps = [f"--grep={pattern}" for pattern in SHIPPED_PATTERNS]
    text = git.text(
        repo,
        ["log", "--first-parent", "--reverse", *window, "-E", *greps, f"--format=%H{_SEP}%cI{_SEP}%s{_SEP}%b%x1e"],
        hint="run in a git checkout (actions/checkout with fetch-depth: 0)",
    )
    found = []
    for record in text.split("\x1e"):
        parts = record.strip("\n").split(_SEP, 3)
        if len(parts) < 4:
            continue
        sha, stamp, subject, body = parts
        ids = tuple(line.split(":", 1)[1].strip() for line in body.splitlines() if line.startswith("batch_id:"))
        found.append(Shipped(timeutil.parse_iso(stamp, field="commit time"), sha, subject, ids))
    return found


def history_depth(repo: str | Path) -> str:
    """ "" for a full history; else why the history cannot be read (not a checkout, a shallow one)."""
    proc = git.run(repo, ["rev-parse", "--is-shallow-repository"], check=False)
    if proc.returncode != 0:
        return "the workspace is not a git checkout"
    if proc.stdout.strip() == b"true":
        return "the checkout is shallow (actions/checkout with fetch-depth: 0 gives the history)"
    return ""


def activity(repo: str | Path, path: str) -> stale.Activity:
    """When a batch last ran (the control file's last commit) and last shipped, from ``HEAD``.

    Ask :func:`history_depth` first: in a shallow checkout the answer would be the clone's tip.
    """
    hint = f"run in a git checkout that has {path}"
    last = _log(repo, ["-1", "--", path], hint)
    ship = _log(repo, ["-1", "--first-parent", "-E", *(f"--grep={p}" for p in SHIPPED_PATTERNS)], hint)
    return stale.Activity(
        timeutil.parse_iso(last[0][1], field="commit time") if last else None,
        timeutil.parse_iso(ship[0][1], field="commit time") if ship else None,
        f"{last[0][0][:12]} {last[0][3]}" if last else "",
        f"{ship[0][0][:12]} {ship[0][3]}" if ship else "",
    )

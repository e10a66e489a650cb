"""The first user's pipeline as a git history: its control-file versions as commits, its batches as landings.

The corpus holds 23 of the 1,226 committed versions of tsuku's ``batch-control.json``
(``control-history/batch-control.<UTC stamp>.json``, the stamp being the commit time). A history
of the first user's size is made of them with ``git fast-import``: each corpus file is a commit at
its own time, and the commits in between (the batch runs whose versions the corpus does not keep)
carry the latest corpus version with the run's minutes added, so that every commit changes the
file as a run does. Batches ship as squash merges on ``main``: the last one is the real one
(``feat(recipes): add batch recipes (1 recipes) (#2382)`` on 2026-05-08); the earlier landing
dates (daily from February) stand in for the rest.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
LAST_SHIPPED = (datetime(2026, 5, 8, 14, 12, 31, tzinfo=UTC), "feat(recipes): add batch recipes (1 recipes) (#2382)")
VERSIONS = 1226


@dataclass(frozen=True)
class Version:
    at: datetime
    document: dict[str, Any]
    source: str


def corpus_versions(folder: Path) -> list[Version]:
    found = []
    for path in sorted(folder.glob("batch-control.*.json")):
        stamp = path.name.split(".")[1]
        at = datetime.strptime(stamp.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        found.append(Version(at, json.loads(path.read_text(encoding="utf-8")), path.name))
    return found


def dense(folder: Path, total: int = VERSIONS) -> list[Version]:
    """``total`` versions from the corpus files: theirs at their times, runs in between at even steps."""
    corpus = corpus_versions(folder)
    first, last = corpus[0].at, corpus[-1].at
    extra = max(0, total - len(corpus))
    step = (last - first) / (extra + 1)
    versions = list(corpus)
    index = 0
    for n in range(1, extra + 1):
        at = first + step * n
        while index + 1 < len(corpus) and corpus[index + 1].at <= at:
            index += 1
        base = corpus[index]
        document = json.loads(json.dumps(base.document))
        budget = document.setdefault("budget", {})
        budget["linux_minutes_used"] = round(float(budget.get("linux_minutes_used") or 0) + 0.5 * (n % 40), 1)
        versions.append(Version(at.replace(microsecond=0), document, f"run after {base.source}"))
    return sorted(versions, key=lambda v: v.at)


def landings(until: datetime = LAST_SHIPPED[0]) -> list[tuple[datetime, str]]:
    """Daily batch landings from February, and the real last one."""
    found = []
    at = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
    number = 1900
    while at < until - timedelta(days=1):
        found.append((at, f"feat(recipes): add batch recipes (3 recipes) (#{number})"))
        at += timedelta(days=1)
        number += 5
    found.append(LAST_SHIPPED)
    return found


def build(
    repo: Path,
    folder: Path,
    *,
    total: int = VERSIONS,
    path: str = "batch-control.json",
    extra: list[tuple[datetime, str, dict[str, Any], str]] | None = None,
) -> int:
    """Create ``repo`` (branch ``main``) with the pipeline's history; returns the number of commits.

    ``extra``: more commits of the control file (time, subject, document, author "Name <mail>").
    """
    commits: list[tuple[datetime, str, str, dict[str, bytes]]] = []
    for version in dense(folder, total):
        text = json.dumps(version.document, indent=2) + "\n"
        subject = "chore(batch): update circuit breaker and budget state"
        commits.append((version.at, BOT, subject, {path: text.encode()}))
    for n, (at, subject) in enumerate(landings()):
        commits.append((at, "Operator <operator@example.org>", subject, {f"recipes/b/batch-{n}.toml": b'name = "x"\n'}))
    for at, subject, document, author in extra or []:
        commits.append((at, author, subject, {path: (json.dumps(document, indent=2) + "\n").encode()}))
    commits.sort(key=lambda c: c[0])
    stream = bytearray()
    for mark, (at, who, subject, files) in enumerate(commits, 1):
        when = f"{int(at.timestamp())} +0000"
        message = subject.encode()
        stream += f"commit refs/heads/main\nmark :{mark}\nauthor {who} {when}\ncommitter {who} {when}\n".encode()
        stream += f"data {len(message)}\n".encode() + message + b"\n"
        if mark > 1:
            stream += f"from :{mark - 1}\n".encode()
        for name, data in files.items():
            stream += f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n"
        stream += b"\n"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=bytes(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=repo, check=True)
    return len(commits)

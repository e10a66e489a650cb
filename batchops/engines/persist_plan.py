"""persist's dry run: what :func:`batchops.engines.persist.persist` would commit and push, doing none of it.

The same preparation as a real run (:func:`batchops.engines.persist.prepare`: the repository, its
remote and branch, the journaled files and their operations, the further ``paths`` as ``git add``
would stage them in a temporary index), then it stops before the loop: no fetch, no commit, no
push, no posted ref; the journal and the checkout are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from batchops.engines import persist
from batchops.engines.carried import REMOTE


@dataclass(frozen=True)
class Plan:
    """What a real run would carry: files, operations, the commit message, the branch and the remote."""

    files: list[str]
    operations: list[dict[str, Any]]
    message: str
    branch: str
    remote: str  # the remote's name
    url: str  # its URL without credentials
    notes: list[str] = field(default_factory=list)


def _quiet(_: str) -> None:
    pass


def plan(options: persist.Options, *, log: persist.Log = _quiet) -> Plan:
    """What ``persist(options)`` would commit and push; nothing is fetched, committed or pushed."""
    job = persist.prepare(options, log)
    operations = [entry for item in job.tracked for entry in item.operations]
    files = [item.path for item in job.tracked] + [extra.path for extra in job.extra]
    message = options.message.text(operations)
    return Plan(files, operations, message, job.branch, REMOTE, job.url, list(job.notes))

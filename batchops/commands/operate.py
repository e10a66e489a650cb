"""What every operator command shares: apply one audited operation, prepare its commit message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchops.adapters import controlfile, files, journal, runner
from batchops.adapters import git as gitcmd
from batchops.core import timeutil
from batchops.errors import UsageError


def commit_message(title: str, body: list[str], entry: dict[str, Any]) -> str:
    lines = [f"{title} [skip ci]", ""]
    if body:
        lines += body + [""]
    lines += [
        f"Batchops-Operation: {entry['op']}",
        f"Batchops-Operation-Id: {entry['id']}",
        f"Batchops-Actor: {entry.get('actor', '')}",
        f"Batchops-At: {entry['at']}",
    ]
    return "\n".join(lines) + "\n"


def single_line(value: str, field: str) -> str:
    if "\n" in value or "\r" in value:
        raise UsageError("must be a single line", field=field, hint="put the details in the incident, link it with --incident-url")
    return value.strip()


def apply_operator(path: str, op: str, args: dict[str, Any], now: datetime, title: str, body: list[str]) -> tuple[dict[str, Any], Any]:
    """Apply an operator operation and print the audited commit message."""
    at = timeutil.iso(now)
    who = gitcmd.actor()
    document, result = controlfile.mutate(path, op, {**args, "at": at}, at=at, actor=who)
    entry = journal.read(controlfile.journal_name(path))[-1]
    message = commit_message(title, body, entry)
    message_file = journal.path().parent / "commit-message.txt"
    files.write_atomic(message_file, message)
    runner.log(f"Wrote {path}. Land it with this message (saved in {message_file}), safe while batch jobs push too:")
    runner.log(f'  batchops persist-with-retry --control-file {path} --commit-message "$(cat {message_file})"')
    runner.log(f"or commit it yourself: git commit -F {message_file} {path} && git push")
    print(message, end="")
    return document, result

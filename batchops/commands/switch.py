"""Operator commands: status, stop, resume, disable, enable, validate.

They replace the runbook's hand-written jq edits. Each one validates the control
file before and after, writes atomically, keeps key order and unknown keys,
records the operation in the journal, and prints the commit message to use,
with audit trailers.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, files, journal, runner, schema
from batchops.cli.args import Command, add_control_file, add_now, clock
from batchops.core import control, timeutil
from batchops.errors import BatchopsError, UsageError
from batchops.render import budget as render_budget
from batchops.render import markdown

# --- status -------------------------------------------------------------------------


def status_markdown(document: dict[str, Any], now: datetime, path: str) -> str:
    enabled = control.get(document, "enabled")
    switch = "🟢 enabled" if enabled else "🔴 stopped"
    rows = [["pipeline", switch], ["disabled ecosystems", ", ".join(control.get(document, "disabled_ecosystems")) or "(none)"]]
    if not enabled:
        for key in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume"):
            if document.get(key):
                rows.append([key.replace("_", " "), document[key]])
    text = f"### batchops status — {path}\n\n" + markdown.md_table(["", ""], rows)
    text += "\n" + _breaker_section(document, now)
    text += "\n" + _budget_section(document, now)
    return text


def _breaker_section(document: dict[str, Any], now: datetime) -> str:
    from batchops.core import breaker

    rows = breaker.table_rows(document, now)  # the legacy template entry 'default' is left out
    if not rows:
        return "#### Circuit breakers\n\nNo breaker has recorded anything yet.\n"
    return "#### Circuit breakers\n\n" + markdown.md_table(breaker.TABLE_HEADERS, rows)


def _budget_section(document: dict[str, Any], now: datetime) -> str:
    from batchops.core import budget

    return render_budget.gauge_markdown(budget.view(document, now), heading="####", with_history=True)


def _status_configure(parser: argparse.ArgumentParser) -> None:
    add_control_file(parser)
    add_now(parser)
    parser.add_argument("--json", action="store_true", help="print the control file as JSON instead of tables")


def _status_run(args: argparse.Namespace) -> int:
    document = controlfile.load(args.control_file)
    if args.json:
        print(control.dumps(document), end="")
        return 0
    text = status_markdown(document, clock(args), args.control_file)
    print(text)
    runner.summary(text)
    return 0


STATUS = Command("show the switch, disabled ecosystems, breakers and budget as tables", _status_configure, _status_run)

# --- mutating operator commands -----------------------------------------------------


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


def _single_line(value: str, field: str) -> str:
    if "\n" in value or "\r" in value:
        raise UsageError("must be a single line", field=field, hint="put the details in the incident, link it with --incident-url")
    return value.strip()


def apply_operator(path: str, op: str, args: dict[str, Any], now: datetime, title: str, body: list[str]) -> tuple[dict[str, Any], Any]:
    """Apply an operator operation and print the audited commit message."""
    at = timeutil.iso(now)
    who = runner.actor()
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


def _stop_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why the pipeline stops (one line)")
    parser.add_argument("--incident-url", default="", help="link to the incident")
    parser.add_argument("--expected-resume", default="", help="when you expect to resume (ISO 8601 or free text)")
    add_control_file(parser)
    add_now(parser)


def _stop_run(args: argparse.Namespace) -> int:
    reason = _single_line(args.reason, "--reason")
    if not reason:
        raise UsageError("is empty", field="--reason", hint='say why, e.g. --reason "homebrew bottles failing checksum"')
    incident = _single_line(args.incident_url, "--incident-url")
    resume = _single_line(args.expected_resume, "--expected-resume")
    controlfile.load(args.control_file)
    body = [f"Reason: {reason}"] + ([f"Incident: {incident}"] if incident else []) + ([f"Expected-Resume: {resume}"] if resume else [])
    apply_operator(
        args.control_file,
        "control.stop",
        {"reason": reason, "incident_url": incident, "expected_resume": resume, "disabled_by": runner.actor()},
        clock(args),
        "batchops: stop the batch pipeline",
        body,
    )
    return 0


STOP = Command("emergency stop: set enabled=false with the incident fields", _stop_configure, _stop_run)


def _plain_configure(parser: argparse.ArgumentParser) -> None:
    add_control_file(parser)
    add_now(parser)


def _resume_run(args: argparse.Namespace) -> int:
    document = controlfile.load(args.control_file)
    body = [f"Was stopped: {document.get('reason') or '(no reason recorded)'}"] if not control.get(document, "enabled") else []
    apply_operator(args.control_file, "control.resume", {}, clock(args), "batchops: resume the batch pipeline", body)
    return 0


RESUME = Command("resume: set enabled=true and clear the incident fields", _plain_configure, _resume_run)


def _eco_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ecosystem", help="ecosystem name, e.g. homebrew")
    _plain_configure(parser)


def _check_ecosystem(name: str) -> str:
    problems = schema.problems({"enabled": True, "disabled_ecosystems": [name]}, "batch-control", file="ECOSYSTEM")
    if problems:
        raise UsageError(f"{name!r} is not an ecosystem name", field="ECOSYSTEM", hint="use the lowercase name, e.g. homebrew or crates.io")
    return name


def _disable_run(args: argparse.Namespace) -> int:
    name = _check_ecosystem(args.ecosystem)
    apply_operator(args.control_file, "control.disable", {"ecosystem": name}, clock(args), f"batchops: disable ecosystem {name}", [])
    return 0


def _enable_run(args: argparse.Namespace) -> int:
    name = _check_ecosystem(args.ecosystem)
    apply_operator(args.control_file, "control.enable", {"ecosystem": name}, clock(args), f"batchops: enable ecosystem {name}", [])
    return 0


DISABLE = Command("take one ecosystem out of the batch runs", _eco_configure, _disable_run)
ENABLE = Command("put a disabled ecosystem back into the batch runs", _eco_configure, _enable_run)

# --- validate -----------------------------------------------------------------------


def guess_schema(path: Path, document: Any) -> str:
    if path.name in schema.BY_FILENAME:
        return schema.BY_FILENAME[path.name]
    if isinstance(document, dict):
        # the schema whose required fields the document carries, most specific first
        best, best_count = "batch-control", 0
        for name in schema.schema_names():
            required = schema.required_fields(name)
            if required and all(key in document for key in required) and len(required) > best_count:
                best, best_count = name, len(required)
        return best
    return "batch-control"


def validate_file(path: Path, schema_name: str | None) -> list[str]:
    """Problems of one file as one-line messages (empty when it is valid)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        document = schema.parse_json_text(text, name)
    except BatchopsError as exc:
        return [exc.render()]
    except FileNotFoundError:
        return [f"{name}: file not found (fix: check the path)"]
    except IsADirectoryError:
        return [f"{name}: is a directory (fix: name a JSON file)"]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{name}: cannot read ({exc.__class__.__name__}) (fix: check permissions and that it is UTF-8 JSON)"]
    chosen = schema_name or guess_schema(path, document)
    return [problem.render() for problem in schema.problems(document, chosen, file=name, text=text)]


def _validate_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", default=["batch-control.json"], help="JSON files (default: batch-control.json)")
    parser.add_argument("--schema", choices=schema.schema_names(), help="schema to use (default: by file name or content)")


def _validate_run(args: argparse.Namespace) -> int:
    failed = 0
    for name in args.files:
        lines = validate_file(Path(name), args.schema)
        if not lines:
            print(f"{name}: ok")
            continue
        failed += 1
        for line in lines:
            print(line)
            if runner.in_actions():
                runner.error(line, title="batchops validate", file=name)
    if failed:
        runner.summary(f"### batchops validate: {failed} invalid file(s)")
    return 1 if failed else 0


VALIDATE = Command("check control, results and other batchops files against their schemas", _validate_configure, _validate_run)

__all__ = ["DISABLE", "ENABLE", "RESUME", "STATUS", "STOP", "VALIDATE", "json"]

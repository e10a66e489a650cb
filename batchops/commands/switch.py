"""Operator commands for the switches: ``stop``, ``resume``, ``disable``, ``enable``.

They replace the runbook's hand-written jq edits. Each one validates the control
file before and after, writes atomically, keeps key order and unknown keys,
records the operation in the journal, and prepares the audited commit message;
``--dry-run`` shows the change, ``--push`` lands it (see :mod:`batchops.commands.operate`).
"""

from __future__ import annotations

import argparse

from batchops.adapters import controlfile
from batchops.adapters import git as gitcmd
from batchops.commands.operate import add_operator_flags, check_ecosystem, run_change
from batchops.core import control, escape
from batchops.errors import UsageError
from batchops.flags import Command, add_reason


def _stop_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why the pipeline stops (one line)")
    parser.add_argument("--incident-url", default="", help="link to the incident")
    parser.add_argument("--expected-resume", default="", help="when you expect to resume (ISO 8601 or free text)")
    parser.add_argument(
        "--replace-reason",
        action="store_true",
        help="when already stopped, replace the first incident's reason (default: keep it)",
    )
    add_operator_flags(parser)


def _stop_run(args: argparse.Namespace) -> int:
    reason = control.check_text(args.reason, "--reason", example='"homebrew bottles failing checksum"')
    if not reason:
        raise UsageError(
            "is empty", field="--reason", hint='say why, e.g. --reason "homebrew bottles failing checksum"'
        )
    incident = _incident_url(args.incident_url)
    resume = control.check_text(args.expected_resume, "--expected-resume", example='"2026-06-26 09:00 UTC"')
    document = controlfile.load(args.control_file)
    stopped = not control.get(document, "enabled") and bool(document.get("reason"))
    kept = stopped and not args.replace_reason
    notes = []
    if kept:
        first = escape.one_line(document.get("reason"))
        by = escape.one_line(document.get("disabled_by") or "?")
        since = escape.one_line(document.get("disabled_at") or "?")
        notes.append(
            f"already stopped since {since} by {by}: the reason {first!r} is kept (--replace-reason replaces it)"
        )
    body = [f"Reason: {document.get('reason') if kept else reason}"]
    if kept and reason != document.get("reason"):
        body.append(f"Also: {reason}")
    body += ([f"Incident: {incident}"] if incident else []) + ([f"Expected-Resume: {resume}"] if resume else [])
    title = "update the stop of the batch pipeline" if kept else "stop the batch pipeline"
    return run_change(
        args,
        "control.stop",
        {
            "reason": reason,
            "incident_url": incident,
            "expected_resume": resume,
            "disabled_by": gitcmd.actor(),
            "replace_reason": bool(args.replace_reason),
        },
        title=title,
        body=body,
        nothing="already stopped with this incident"
        + (" (the first reason is kept; --replace-reason replaces it)" if kept else ""),
        notes=notes,
    )


def _incident_url(value: str) -> str:
    """The ``--incident-url``: empty, or an http(s) URL with a host (the status page and alerts link it)."""
    example = "https://github.com/OWNER/REPO/issues/1"
    text = control.check_text(value, "--incident-url", example=example)
    if not text:
        return text
    scheme, _, rest = text.partition("://")
    host = rest.split("/", 1)[0]
    if scheme.lower() not in ("http", "https") or not host or " " in text:
        raise UsageError(
            f"{escape.one_line(text)!r} is not an http(s) URL",
            field="--incident-url",
            hint=f"link the incident, e.g. --incident-url {example}",
        )
    return text


STOP = Command("emergency stop: set enabled=false with the incident fields", _stop_configure, _stop_run)


def reason_of(args: argparse.Namespace) -> str:
    """The optional ``--reason``, checked as one line (empty when not given)."""
    return control.check_text(getattr(args, "reason", "") or "", "--reason", example='"npm registry recovered, INC-42"')


def _resume_run(args: argparse.Namespace) -> int:
    document = controlfile.load(args.control_file)
    reason = reason_of(args)
    body = [f"Reason: {reason}"] if reason else []
    if not control.get(document, "enabled"):
        body.append(f"Was stopped: {document.get('reason') or '(no reason recorded)'}")
    op_args = {"reason": reason} if reason else {}
    return run_change(
        args, "control.resume", op_args, title="resume the batch pipeline", body=body, nothing="the pipeline is running"
    )


def _resume_configure(parser: argparse.ArgumentParser) -> None:
    add_reason(parser)
    add_operator_flags(parser)


RESUME = Command("resume: set enabled=true and clear the incident fields", _resume_configure, _resume_run)


def _eco_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ecosystem", help="ecosystem name, e.g. homebrew")
    parser.add_argument("--new", action="store_true", help="the ecosystem is new: the control file has never seen it")
    add_reason(parser)
    add_operator_flags(parser)


def _disable_run(args: argparse.Namespace) -> int:
    name = check_ecosystem(controlfile.load(args.control_file), args.ecosystem, args.control_file, new=args.new)
    return run_change(
        args,
        "control.disable",
        _with_reason({"ecosystem": name}, args),
        title=f"disable ecosystem {name}",
        body=_reason_body(args),
        nothing=f"{name} is already disabled",
    )


def _enable_run(args: argparse.Namespace) -> int:
    name = check_ecosystem(controlfile.load(args.control_file), args.ecosystem, args.control_file, new=args.new)
    return run_change(
        args,
        "control.enable",
        _with_reason({"ecosystem": name}, args),
        title=f"enable ecosystem {name}",
        body=_reason_body(args),
        nothing=f"{name} is not disabled",
    )


def _with_reason(op_args: dict[str, object], args: argparse.Namespace) -> dict[str, object]:
    reason = reason_of(args)
    return {**op_args, "reason": reason} if reason else op_args


def _reason_body(args: argparse.Namespace) -> list[str]:
    reason = reason_of(args)
    return [f"Reason: {reason}"] if reason else []


DISABLE = Command("take one ecosystem out of the batch runs", _eco_configure, _disable_run)
ENABLE = Command("put a disabled ecosystem back into the batch runs", _eco_configure, _enable_run)

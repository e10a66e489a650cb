"""Operator commands for the switches: ``stop``, ``resume``, ``disable``, ``enable``.

They replace the runbook's hand-written jq edits. Each one validates the control
file before and after, writes atomically, keeps key order and unknown keys,
records the operation in the journal, and prints the commit message to use,
with audit trailers.
"""

from __future__ import annotations

import argparse

from batchops.adapters import controlfile, schema
from batchops.adapters import git as gitcmd
from batchops.cli.args import Command, add_control_file, add_now, clock
from batchops.commands.operate import apply_operator, single_line
from batchops.core import control
from batchops.errors import UsageError


def _stop_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", required=True, help="why the pipeline stops (one line)")
    parser.add_argument("--incident-url", default="", help="link to the incident")
    parser.add_argument("--expected-resume", default="", help="when you expect to resume (ISO 8601 or free text)")
    add_control_file(parser)
    add_now(parser)


def _stop_run(args: argparse.Namespace) -> int:
    reason = single_line(args.reason, "--reason")
    if not reason:
        raise UsageError("is empty", field="--reason", hint='say why, e.g. --reason "homebrew bottles failing checksum"')
    incident = single_line(args.incident_url, "--incident-url")
    resume = single_line(args.expected_resume, "--expected-resume")
    controlfile.load(args.control_file)
    body = [f"Reason: {reason}"] + ([f"Incident: {incident}"] if incident else []) + ([f"Expected-Resume: {resume}"] if resume else [])
    apply_operator(
        args.control_file,
        "control.stop",
        {"reason": reason, "incident_url": incident, "expected_resume": resume, "disabled_by": gitcmd.actor()},
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

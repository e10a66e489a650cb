"""persist-with-retry: commit the control state and push it without ever losing an update.

The step reads its inputs into :class:`batchops.engines.persist.Options`, runs the engine
(:func:`batchops.engines.persist.persist`: fetch, re-apply this job's operations on the remote's
copy, push, retry on a race) and turns what it did into outputs and a summary.

``paths`` takes files, folders and globs as ``git add`` would (:func:`batchops.engines.carried.stage`).

The commit message: ``commit-message`` when given, else the message an operator command
prepared (``commit-message.txt`` beside the journal) when it belongs to the operations carried,
else the default; in every case a line per carried operation and its trailers are added
(:class:`batchops.core.persist.Message`).
"""

from __future__ import annotations

import argparse

from batchops.adapters import journal, runner
from batchops.core import escape
from batchops.core import persist as rules
from batchops.core.persist import DEFAULT_MESSAGE, Message
from batchops.engines import persist as engine
from batchops.engines import persist_plan
from batchops.errors import BatchopsError
from batchops.flags import add_control_file, add_dry_run, add_input, parse_bool, parse_int, parse_list
from batchops.render import markdown
from batchops.steps import Step, StepResult

DEFAULT_MAX_ATTEMPTS = engine.DEFAULT_MAX_ATTEMPTS


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(
        parser,
        "commit-message",
        "commit message; empty: the message an operator command prepared (commit-message.txt beside the journal), "
        f"else {DEFAULT_MESSAGE!r}; a line and trailers per carried operation are added",
        default="",
    )
    add_input(
        parser,
        "max-attempts",
        "how many times to fetch, re-apply and push before giving up",
        default=str(DEFAULT_MAX_ATTEMPTS),
    )
    add_input(parser, "branch", "branch to push to (default: the current branch)", default="")
    add_input(
        parser,
        "paths",
        "further files, folders or globs to commit, as git add takes them (newline or comma separated)",
        default="",
    )
    add_control_file(parser)
    add_dry_run(parser, "say what would be committed and pushed, and do nothing: no commit, no fetch, no push")


def options(args: argparse.Namespace) -> engine.Options:
    """The engine's options from the step's inputs (and the message an operator command prepared)."""
    return engine.Options(
        backoff=engine.backoff_from_env(),
        control_file=args.control_file,
        message=Message(given=args.commit_message or "", prepared=journal.read_message()),
        max_attempts=parse_int(args.max_attempts, field="max-attempts", minimum=1),
        branch=args.branch or "",
        paths=parse_list(args.paths, field="paths"),
        mask=runner.mask,
    )


def run(args: argparse.Namespace) -> StepResult:
    result = StepResult()
    if parse_bool(args.dry_run, field="dry-run"):
        return _dry_run(result, persist_plan.plan(options(args), log=result.say))
    try:
        outcome = engine.persist(options(args), log=result.say)
    except BatchopsError as exc:
        exc.log = list(result.log)  # the attempts so far, written before the error
        raise
    result.log = [line for line in result.log if line not in outcome.notes]  # said once, as a warning
    for note in outcome.notes:
        result.warning(note, title="batchops persist-with-retry")
    result.outputs = {"pushed": outcome.pushed, "attempts": outcome.attempts, "commit-sha": outcome.commit_sha}
    result.section(summary(outcome))
    return result


def _dry_run(result: StepResult, plan: persist_plan.Plan) -> StepResult:
    """What a real run would commit and push; the outputs of a run that pushed nothing."""
    for note in plan.notes:
        result.log = [line for line in result.log if line != note]
        result.warning(note, title="batchops persist-with-retry")
    result.outputs = {"pushed": False, "attempts": 0, "commit-sha": ""}
    files = ", ".join(escape.short_line(name) for name in plan.files) or "(none changed)"
    target = f"branch {escape.short_line(plan.branch)} of {plan.remote} ({escape.short_line(plan.url)})"
    result.say(f"dry run: would commit and push to {target}: {len(plan.operations)} operation(s); files: {files}")
    for entry in plan.operations:
        result.say("dry run: would carry " + " ".join(rules.describe(entry)).removeprefix("- "))
    result.say("dry run: commit message: " + escape.short_line(plan.message, 2000))
    result.say("dry run: nothing committed, fetched or pushed")
    head = f"### persist-with-retry — dry run: would push to `{plan.branch}` of `{plan.remote}`\n\n"
    said = f"Nothing committed, fetched or pushed. Remote: {plan.url}. Files: {files}"
    rows = [
        [entry["file"], entry["op"], " ".join(rules.describe(entry)).removeprefix("- "), entry["id"]]
        for entry in plan.operations
    ]
    table = markdown.md_table(["file", "operation", "what", "id"], rows) + "\n" if rows else ""
    message = "Commit message:\n\n" + "".join(f"    {line}\n" for line in plan.message.splitlines())
    result.section(head + markdown.md_escape(said) + "\n\n" + table + "\n" + message)
    return result


def summary(outcome: engine.Persisted) -> str:
    if outcome.pushed:
        head = f"### ✅ persist-with-retry: pushed `{outcome.commit_sha[:12]}` after {outcome.attempts} attempt(s)\n\n"
    else:
        head = "### persist-with-retry: nothing to commit (the remote already has this state)\n\n"
    rows = [
        [entry["file"], entry["op"], " ".join(rules.describe(entry)).removeprefix("- "), entry["id"]]
        for entry in outcome.applied
    ]
    listed = markdown.md_escape(f"Files: {', '.join(outcome.files) or '(none changed)'}") + "\n"
    if not rows:
        return head + listed
    return head + markdown.md_table(["file", "operation", "what", "id"], rows) + "\n" + listed


STEP = Step(
    name="persist-with-retry",
    help="commit and push the control state (and paths: files, folders, globs); "
    "on a rejected push re-apply this job's operations and retry",
    configure=_configure,
    run=run,
)

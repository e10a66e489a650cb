"""rollback: remove or restore exactly what one batch (or one PR, or one commit) shipped, on a branch, with a PR.

Options from the inputs -> :mod:`batchops.engines.rollback` (plan, then apply) -> a :class:`StepResult`.
The step writes the plan file and, unless ``dry-run``, one commit on
``rollback-<batch-ID|pr-N|commit-SHA>`` pushed to the remote, and opens the PR. A re-run finds the
branch it pushed before (its own commit on the same base with the same content) and opens the PR
instead of refusing. The plan is printed for a person (each landing with its PRs and date, each
file's action and why, the totals, the next command); the JSON plan file is for machines.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from batchops.adapters import history, runner, schema
from batchops.core import rollback as core
from batchops.core import timeutil
from batchops.core.rollback import DEFAULT_PATHS, Selector
from batchops.engines import rollback as engine
from batchops.engines.rollback import Options, Outcome, plan_rollback
from batchops.errors import BatchopsError, UsageError
from batchops.flags import add_dry_run, add_input, add_now, clock, parse_bool, parse_list
from batchops.render import rollback as render
from batchops.steps import Step, StepResult

__all__ = ["STEP", "BatchopsError", "Outcome", "UsageError", "default_plan_file", "plan_rollback", "run"]

TITLE = "batchops rollback"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_input(
        parser, "batch-id", "the batch to roll back: YYYY-MM-DD or YYYY-MM-DD-token (or give pr or commit)", default=""
    )
    add_input(parser, "pr", "roll back what this pull request's merge shipped (its number)", default="")
    add_input(parser, "commit", "roll back what this commit of the base branch shipped", default="")
    add_dry_run(parser, "only compute and report the plan: no branch, no commit, no push")
    add_input(parser, "paths", "path prefixes to roll back (JSON array or comma/newline list)", default="recipes/")
    add_input(parser, "base-branch", "branch whose history counts (default: the current branch, else main)", default="")
    add_input(parser, "github-token", "token to confirm and trace pull requests and open the rollback PR", default="")
    add_input(parser, "force", "also restore files changed after the batch (conflicts)", default="false")
    add_input(
        parser,
        "plan-file",
        "where to write the plan JSON (default: a new file under RUNNER_TEMP or the temp dir)",
        default="",
    )
    add_input(
        parser, "repository", "owner/name on GitHub (default: GITHUB_REPOSITORY, else the remote's URL)", default=""
    )
    add_input(parser, "remote", "remote to push the rollback branch to (and fetch PR refs from)", default="origin")
    add_input(parser, "working-directory", "the git checkout to work in", default=".")
    add_now(parser)


def default_plan_file(selector: Selector) -> Path:
    """A new file per run under the one temp folder (created when missing; parallel runs never share one)."""
    folder = runner.temp_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchopsError(
            f"{folder}: the temp folder cannot be created ({exc.strerror or exc.__class__.__name__})",
            field="RUNNER_TEMP",
            hint="point RUNNER_TEMP at a writable folder, e.g. /tmp, or pass plan-file",
        ) from None
    return folder / f"batchops-rollback-{selector.slug}-{os.urandom(6).hex()}.json"


def options(args: argparse.Namespace) -> Options:
    """The engine's options from the step's inputs."""
    token = (args.github_token or "").strip()
    runner.mask(token)
    cwd = Path(args.working_directory or ".")
    remote = (args.remote or "origin").strip()
    repository = (args.repository or runner.repository()).strip()
    if token and not repository:
        repository = history.remote_repository(cwd, remote)
    return Options(
        cwd=cwd,
        selector=core.choose_selector(args.batch_id or "", args.pr or "", args.commit or ""),
        paths=parse_list(args.paths, field="paths") or DEFAULT_PATHS,
        base_branch=args.base_branch or "",
        token=token,
        repository=repository,
        remote=remote,
        force=parse_bool(args.force, field="force"),
        dry_run=parse_bool(args.dry_run, field="dry-run"),
        generated_at=timeutil.iso(clock(args)),
    )


def run(args: argparse.Namespace) -> StepResult:
    wanted = options(args)
    plan_file = Path(args.plan_file) if args.plan_file else default_plan_file(wanted.selector)
    schema.warm_in_background("rollback-plan")  # while git walks the history
    outcome = engine.plan(wanted)
    document, plans = outcome.document, outcome.plans
    result = StepResult()
    _report_plan(result, outcome)
    changed = [p for p in plans if p.changes_tree]
    branch = core.branch_name(outcome.selection.selector)
    result.outputs = {"branch": "", "pr-url": "", "files-count": len(changed), "plan-file": str(plan_file)}
    notes: list[str] = []
    if not changed:
        notes.append(render.nothing_to_do(document))
        result.notice(notes[-1], title=TITLE)
    elif wanted.dry_run:
        notes.append(
            f"Dry run: nothing changed. Without --dry-run, branch `{branch}` would get one commit changing "
            f"{len(changed)} file(s)."
        )
        result.notice(notes[-1], title=TITLE)
    else:
        body_file = plan_file.with_suffix(".pr-body.md")
        applied = engine.apply(wanted, outcome, render.pr_body(document), body_file)
        _report_applied(result, applied, document, notes)
    _write_plan(plan_file, document)
    for line in render.render_text(document, next_steps=render.next_steps(document, plan_file, wanted.dry_run)):
        result.say(line)
    result.section(render.render_markdown(document) + ("\n" + "\n\n".join(notes) + "\n" if notes else ""))
    return result


def _report_plan(result: StepResult, outcome: Outcome) -> None:
    document = outcome.document
    for warning in outcome.warnings:
        result.warning(warning, title=TITLE)
    for item in document["not_acted_on"]:
        result.notice(item["note"], title=TITLE)
    for item in document["dependents"]:
        result.warning(render.dependent_warning(item), title=TITLE)
    conflicts = [p for p in outcome.plans if p.action == "conflict"]
    if conflicts:
        result.warning(
            f"{len(conflicts)} file(s) changed after {render.label(document)} shipped, by other commits, were left "
            "untouched: "
            + ", ".join(core.quote_path(p.path) for p in conflicts[:10])
            + ("" if len(conflicts) <= 10 else ", …")
            + f". Review them, or re-run with {runner.field_fix('force', 'true')} to restore them anyway.",
            title=TITLE,
        )


def _report_applied(result: StepResult, applied: engine.Applied, document: dict[str, Any], notes: list[str]) -> None:
    result.outputs["branch"] = applied.branch
    document["result"].update(branch=applied.branch, commit=applied.commit)
    short = applied.commit[:10]
    if applied.reused:
        notes.append(f"Found `{applied.branch}` pushed by an earlier run for the same plan ({short}): kept it.")
        result.notice(notes[-1], title=TITLE)
    if applied.pr_url:
        result.outputs["pr-url"] = applied.pr_url
        document["result"]["pr_url"] = applied.pr_url
        notes.append(
            f"{'Opened' if applied.opened else 'Found the open'} pull request {applied.pr_url} "
            f"from `{applied.branch}` ({short})."
        )
        result.notice(notes[-1], title=TITLE)
        return
    command = applied.gh_command
    if applied.pr_error is None:
        notes.append(f"Pushed `{applied.branch}` ({short}). No github-token: open the PR with\n\n```sh\n{command}\n```")
        result.notice(f"pushed {applied.branch}; open the pull request with: {command}", title=TITLE)
        return
    error = applied.pr_error
    notes.append(
        f"Pushed `{applied.branch}` ({short}), but the pull request could not be opened: {error.message}. "
        f"The branch is kept; open the PR with\n\n```sh\n{command}\n```\n\nor re-run the rollback."
    )
    result.error(
        f"{error.message}. The branch {applied.branch} is pushed and kept; open the pull request with: {command} "
        "(or re-run the rollback: it opens the PR for the branch it pushed)",
        title=TITLE,
    )
    result.exit_code = 1


def _write_plan(path: Path, document: dict[str, Any]) -> None:
    from batchops.adapters.files import write_atomic

    schema.validate(document, "rollback-plan", file=str(path))
    write_atomic(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n", durable=False)


STEP = Step(
    name="rollback",
    help="remove or restore exactly what one batch (or PR, or commit) shipped, on a new branch, and open a PR",
    configure=_configure,
    run=run,
    fail_closed={"branch": "", "pr-url": "", "files-count": 0, "plan-file": ""},
)

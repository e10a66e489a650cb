"""``batchops batches``: the batches that shipped, each with its landings (commit, PR, date, files).

Offline from the history and the PR refs of the checkout; with a token (``--github-token`` or
``GITHUB_TOKEN``) the pull requests are confirmed through the GitHub API. ``--fetch-refs ID``
fetches only the PR refs a batch needs (the refs whose head carries its id) and prints the
exact ``git fetch``; with ``--dry-run`` it only prints it.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from batchops.adapters import runner
from batchops.core import rollback as core
from batchops.core import timeutil
from batchops.engines import batches as engine
from batchops.errors import UsageError
from batchops.flags import Command, add_dry_run, add_now, clock, parse_bool
from batchops.render import terminal


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        default="30d",
        help="only batches with a commit since a duration ago or a date (30d, 2026-06-01; default 30d)",
    )
    parser.add_argument(
        "--ecosystem", default="", help="only batches of this ecosystem (the id's token, e.g. homebrew)"
    )
    parser.add_argument("--json", action="store_true", help="print the batches as JSON (for scripts)")
    parser.add_argument(
        "--base-branch", default="", help="branch whose history counts (default: the current branch, else main)"
    )
    parser.add_argument("--remote", default="origin", help="remote of the PR refs (default: origin)")
    parser.add_argument(
        "--github-token", default="", help="token to confirm the pull requests (default: GITHUB_TOKEN; none: offline)"
    )
    parser.add_argument("--repository", default="", help="owner/name on GitHub (default: GITHUB_REPOSITORY)")
    parser.add_argument(
        "--fetch-refs",
        default="",
        metavar="BATCH_ID",
        help="fetch only the PR refs whose head carries this batch id (into refs/remotes/ORIGIN/pull/N/head)",
    )
    add_dry_run(parser, "with --fetch-refs: print the git fetch, write no ref")
    parser.add_argument("--working-directory", default=".", help="the git checkout (default: .)")
    add_now(parser)


def _since(text: str, now: datetime) -> datetime | None:
    value = (text or "").strip()
    if not value or value == "0":
        return None
    if re.fullmatch(r"\d+\s*[smhdw]", value):
        return now - timeutil.parse_duration(value, field="--since")
    moment = timeutil.parse_iso_or_none(value) or timeutil.parse_iso_or_none(value + "T00:00:00Z")
    if moment is None:
        raise UsageError(
            f"{value!r} is not a time",
            field="--since",
            hint="give a duration or a date, e.g. --since 30d or --since 2026-06-01",
        )
    return moment


def _run(args: argparse.Namespace) -> int:
    token = (args.github_token or runner.setting("GITHUB_TOKEN")).strip()
    runner.mask(token)
    repository = (args.repository or runner.repository()).strip()
    cwd = Path(args.working_directory or ".")
    if args.fetch_refs:
        return _fetch_refs(args, cwd, token, repository)
    options = engine.Options(
        cwd,
        _since(args.since, clock(args)),
        (args.ecosystem or "").strip(),
        args.base_branch or "",
        token,
        repository,
        (args.remote or "origin").strip(),
    )
    listing = engine.list_batches(options)
    if args.json:
        runner.out_json(asdict(listing))
        return 0
    for line in render(listing, since=args.since, ecosystem=options.ecosystem):
        runner.out(line)
    return 0


def render(listing: engine.Listing, *, since: str, ecosystem: str) -> list[str]:
    """The batches for a person at a terminal: one block per batch, its landings aligned."""
    scope = (f" of {ecosystem}" if ecosystem else "") + (f" since {since}" if since and since != "0" else "")
    lines = [f"Batches that shipped on {listing.base_branch}{scope}: {len(listing.batches)}"]
    if listing.github:
        lines.append(f"GitHub: {listing.github}")
    for batch in listing.batches:
        files = sorted({path for landing in batch.landings for path in landing.files})
        lines += ["", f"{batch.batch_id}: {len(batch.landings)} landing(s), {len(files)} file(s)"]
        rows = [
            [
                landing.date[:16].replace("T", " "),
                ", ".join(f"#{n}" for n in landing.pull_requests)
                or (
                    "one of " + ", ".join(f"#{n}" for n in landing.candidate_pull_requests)
                    if landing.candidate_pull_requests
                    else "-"
                ),
                landing.sha[:10],
                landing.kind,
                len(landing.files),
                landing.subject,
            ]
            for landing in batch.landings
        ]
        table = terminal.table(["date (UTC)", "PR", "commit", "kind", "files", "subject"], rows, indent="  ", wrap=[5])
        lines += table.rstrip("\n").split("\n")
        if batch.unconfirmed:
            lines.append(
                "  not confirmed by GitHub (it was unavailable): " + ", ".join(sha[:10] for sha in batch.unconfirmed)
            )
        lines.append(
            "  plan its rollback: " + shlex.join(["batchops", "rollback", "--batch-id", batch.batch_id, "--dry-run"])
        )
    if listing.not_shipped:
        lines += ["", "Found in commits but never shipped on the base branch: " + ", ".join(listing.not_shipped)]
    if not listing.batches:
        lines += [
            "",
            "No batch found: fetch the PR refs of a batch first (batchops batches --fetch-refs ID), or widen --since.",
        ]
    return lines


def _fetch_refs(args: argparse.Namespace, cwd: Path, token: str, repository: str) -> int:
    from batchops.adapters import git as gitcmd

    batch_id = core.validate_batch_id(args.fetch_refs, field="--fetch-refs")
    remote = (args.remote or "origin").strip()
    found = engine.pull_refs_of(cwd, batch_id, remote=remote, token=token, repository=repository)
    dry_run = parse_bool(args.dry_run, field="--dry-run")
    how = (
        "named by the GitHub API"
        if found.how == "api"
        else f"found by reading {found.scanned} PR head(s), newest first"
    )
    if args.json:
        runner.out_json(
            {
                "batch_id": batch_id,
                "pull_requests": found.numbers,
                "how": found.how,
                "fetch": found.fetch_command,
                "fetched": bool(found.fetch_command) and not dry_run,
            }
        )
    if not found.numbers:
        if not args.json:
            runner.out(f"No PR ref carries batch {batch_id} ({how}).")
        return 0
    if not dry_run:
        gitcmd.Git(cwd).run(*found.fetch_command[1:])
    if not args.json:
        verb = "Would fetch" if dry_run else "Fetched"
        runner.out(f"{verb} the refs of PR {', '.join(f'#{n}' for n in found.numbers)} ({how}):")
        runner.out(shlex.join(found.fetch_command))
    return 0


BATCHES = Command(
    help="the batches that shipped, each with its landings (commit, PR, date, files); "
    "--fetch-refs ID fetches only a batch's PR refs",
    configure=_configure,
    run=_run,
)

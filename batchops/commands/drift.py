"""``batchops drift``: operate on the checksum baseline and read drift reports.

- ``batchops drift accept RECIPE VERSION --reason ... [--sha256 SHA --url URL]``: accept a
  benign re-publication; the baseline takes the new checksum with an audit entry (the
  ``drift.accept`` operation, journaled, so persist-with-retry can re-apply it).
- ``batchops drift report [REPORT_FILE] [--verbose]``: a drift report in the terminal:
  one line per finding that needs a look, one line for the skipped recipes (each of them
  with ``--verbose``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, runner, schema
from batchops.adapters import git as gitcmd
from batchops.adapters.http import DEFAULT_TIMEOUT, Fetcher
from batchops.core import control, escape, timeutil
from batchops.engines.drift import DEFAULT_BASELINE, default_report_file, load_baseline
from batchops.errors import BatchopsError, UsageError
from batchops.flags import Command, add_dry_run, add_input, add_now, clock, parse_bool, parse_float
from batchops.render import drift as render
from batchops.render import markdown

_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="accept|report")
    accept = sub.add_parser(
        "accept", help="accept a benign re-publication: set the baseline checksum, with an audit entry"
    )
    accept.add_argument("recipe", help="recipe name")
    accept.add_argument("version", help="version whose checksum changed")
    accept.add_argument(
        "--reason", required=True, help="why the new bytes are benign (one line, kept in the audit entry)"
    )
    accept.add_argument(
        "--sha256", default=None, help="the checksum to accept (from the drift issue); default: fetch the URL now"
    )
    accept.add_argument("--url", default=None, help="the checksum URL (needed when the version has several)")
    add_input(accept, "baseline-file", "checksum baseline", default=DEFAULT_BASELINE)
    accept.add_argument(
        "--timeout", default=str(int(DEFAULT_TIMEOUT)), help="seconds per checksum file when fetching, in total"
    )
    add_dry_run(accept, "say which checksum would be accepted; write and journal nothing")
    add_now(accept)
    report = sub.add_parser("report", help="show a drift report (the report-file output) in the terminal")
    report.add_argument(
        "report_file",
        nargs="?",
        default="",
        help="the report (default: $RUNNER_TEMP/batchops/drift-report.json, else ./drift-report.json)",
    )
    report.add_argument(
        "--verbose",
        action="store_true",
        help="every finding, skipped recipes and unchanged files included, with its reason",
    )


def _run(args: argparse.Namespace) -> int:
    if args.action == "report":
        return _report(args)
    return _accept(args)


def _report(args: argparse.Namespace) -> int:
    path = args.report_file or default_report_file()
    if not Path(path).exists():
        raise UsageError(
            "file not found",
            file=path,
            hint="give the report-file output of drift-monitor, e.g. batchops drift report drift-report.json",
        )
    report = schema.load_json(path, "drift-report")
    for line in render.report_lines(report, verbose=args.verbose):
        runner.out(line)
    return 1 if report.get("drift") else 0


def _accept(args: argparse.Namespace) -> int:
    reason, recipe, version, sha = _accept_request(args)
    path, known, urls = _accept_targets(args, recipe, version, sha)
    wanted = _accept_checksums(args, urls, known, sha)
    if wanted is None:
        runner.log(
            escape.one_line(
                f"nothing to accept: upstream serves the recorded bytes for every checksum URL of {recipe} {version}"
            )
        )
        runner.set_outputs({"accepted": 0})
        return 0
    return _accept_record(args, path, known, wanted, reason=reason, recipe=recipe, version=version)


def _accept_request(args: argparse.Namespace) -> tuple[str, str, str, str | None]:
    """The reason, recipe, version and (optional) SHA-256 of ``drift accept``, checked."""
    reason = control.check_text(args.reason or "", "--reason", example='"upstream rebuilt the archive, see <link>"')
    if not reason:
        raise UsageError(
            "is empty",
            field="--reason",
            hint='say why the new bytes are benign, e.g. --reason "upstream rebuilt the archive, see <link>"',
        )
    recipe = control.check_text(args.recipe, "RECIPE", example="terraform")
    version = control.check_text(args.version, "VERSION", example="1.11.0")
    sha = (args.sha256 or "").strip().lower() or None
    if sha and not _SHA256.match(sha):
        raise UsageError(
            f"{escape.one_line(args.sha256)!r} is not a SHA-256",
            field="--sha256",
            hint="copy the 64 hex digits of the 'actual' column of the drift issue",
        )
    return reason, recipe, version, sha


def _accept_targets(
    args: argparse.Namespace, recipe: str, version: str, sha: str | None
) -> tuple[str, dict[str, Any], list[str]]:
    """The baseline file, what it records for the version and the checksum URLs to accept."""
    path = args.baseline_file
    if not Path(path).exists():
        raise BatchopsError(
            "file not found",
            file=path,
            hint="run drift-monitor first, or pass --baseline-file with the baseline's path",
        )
    baseline = load_baseline(path)
    known = baseline["recipes"].get(recipe, {}).get(version, {})
    url_arg = (
        control.check_text(args.url, "--url", example="https://example.org/tool/1.0.0/SHA256SUMS") if args.url else None
    )
    urls = [url_arg] if url_arg else list(known)
    if url_arg and url_arg not in known and not sha:
        raise UsageError(
            f"{url_arg} is not recorded for {recipe} {version}",
            field="--url",
            hint="pass --sha256 too, or one of: " + (", ".join(known) or "(none recorded)"),
        )
    if not urls:
        versions = ", ".join(baseline["recipes"].get(recipe, {})) or "none"
        raise UsageError(
            f"{recipe} {version} is not in the baseline",
            file=path,
            hint=(
                f"check the recipe and version (recorded versions of {recipe}: {versions}), or pass --url and --sha256"
            ),
        )
    if sha and len(urls) > 1:
        raise UsageError(
            f"{recipe} {version} has {len(urls)} checksum URLs",
            field="--url",
            hint="add --url with one of: " + ", ".join(urls),
        )
    return path, known, urls


def _accept_checksums(
    args: argparse.Namespace, urls: list[str], known: dict[str, Any], sha: str | None
) -> dict[str, str] | None:
    """URL -> the SHA-256 to record: the one given, or what upstream serves now; None when nothing changed."""
    if sha:
        wanted = {urls[0]: sha}
    else:
        fetcher = Fetcher(timeout=parse_float(args.timeout, field="--timeout", minimum=0.1))
        try:
            fetched = fetcher.fetch_all(urls)
        finally:
            fetcher.close()
        broken = [r for r in fetched.values() if r.error]
        if broken:
            raise BatchopsError(
                f"cannot fetch {broken[0].url}: {broken[0].error}",
                hint="retry later, or pass --url and --sha256 copied from the drift issue",
            )
        wanted = {
            url: r.sha256 for url, r in fetched.items() if r.sha256 and r.sha256 != known.get(url, {}).get("sha256")
        }
        if not wanted:
            return None
    return wanted


def _accept_record(
    args: argparse.Namespace,
    path: str,
    known: dict[str, Any],
    wanted: dict[str, str],
    *,
    reason: str,
    recipe: str,
    version: str,
) -> int:
    at = timeutil.iso(clock(args))
    who = gitcmd.actor()
    if parse_bool(args.dry_run, field="--dry-run"):
        for url, new_sha in wanted.items():
            was = known.get(url, {}).get("sha256") or "-"
            runner.out_block(
                escape.one_line(f"would accept {recipe} {version} {url}: {was} -> {new_sha} (reason: {reason})")
            )
        runner.out_block(f"dry run: {path} not written, nothing journaled")
        runner.set_outputs({"accepted": 0})
        return 0
    rows = []
    for url, new_sha in wanted.items():
        _, result = controlfile.mutate(
            path,
            "drift.accept",
            {
                "recipe": recipe,
                "version": version,
                "url": url,
                "sha256": new_sha,
                "reason": reason,
                "actor": who,
                "at": at,
            },
            at=at,
            schema_name="drift-baseline",
            actor=who,
        )
        rows.append([recipe, version, url, result["from"] or "-", new_sha])
        runner.log(
            escape.one_line(
                f"accepted {recipe} {version} {url}: {result['from'] or '-'} -> {new_sha} (reason: {reason})"
            )
        )
    runner.set_outputs({"accepted": len(rows)})
    runner.summary(
        "### drift accept\n\n"
        + markdown.md_table(["recipe", "version", "URL", "from", "to"], rows)
        + f"\nReason: {markdown.md_escape(reason)} (by {markdown.md_escape(who)}). "
        f"Commit {markdown.md_escape(path)} and close the drift issue."
    )
    runner.log(escape.one_line(f"commit {path} (audit: drift-accept {recipe} {version}) and close the drift issue"))
    return 0


DRIFT = Command(
    help=(
        "the checksum baseline and drift reports: "
        "`batchops drift accept RECIPE VERSION --reason ...`, `batchops drift report`"
    ),
    configure=_configure,
    run=_run,
)

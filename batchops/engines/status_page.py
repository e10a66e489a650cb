"""The status page: read the repository, the metrics and the drift report; write ``index.html`` and ``feed.xml``.

Typed options in (:class:`Options`), a typed result out (:class:`Built`); no argument parsing, no
printing. The model is :mod:`batchops.core.status_page`; the forms :mod:`batchops.render.html`
(the page, its charts in :mod:`batchops.render.html_charts`) and :mod:`batchops.render.feed`.

Sources:

- the control file (now, as checked out) and its versions in ``HEAD``'s history (git);
- the batches that shipped (:func:`_landings`: the one place that knows how a landing is found);
- the runs of the metrics store (``database``, when the file exists) or of the telemetry read
  endpoint (``endpoint`` + ``token``): the SLO of the last 7 days;
- the drift report, when present (``drift-report.json`` here, or the drift monitor's default in
  ``$RUNNER_TEMP/batchops/``): the findings that need a look.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from batchops.adapters import controlfile, git, telemetry
from batchops.adapters.files import write_atomic
from batchops.core import alert, control, slo, stale
from batchops.core import status_page as model
from batchops.engines import repository
from batchops.errors import BatchopsError
from batchops.render.feed import feed_xml
from batchops.render.html import page_html

MAX_BYTES = 2 * 1024 * 1024
SLO_WINDOW = "7d"
DRIFT_LOOK = ("drift", "unverifiable", "pending")


@dataclass(frozen=True)
class Options:
    out: Path
    now: datetime
    control_file: str = "batch-control.json"
    days: int = 30
    database: str = ""
    endpoint: str = ""
    token: str = ""
    workspace: str = "."
    repository: str = ""  # owner/name, for links to GitHub
    drift_reports: tuple[str, ...] = ("drift-report.json",)
    stale_after: timedelta | None = stale.DEFAULT_STALE_AFTER
    page_url: str = ""
    slo: tuple[str, ...] = ()  # NAME=PCT overrides, as ``batchops slo --slo``


@dataclass
class Built:
    page_dir: Path
    open_incidents: int
    bytes: int
    page: model.Page
    notes: list[str] = field(default_factory=list)


def _trailers(options: Options) -> dict[str, tuple[dict[str, str], ...]]:
    """Per commit of the control file, its audit trailer groups (what ``batchops log`` reads)."""
    text = git.text(
        options.workspace,
        ["log", "--format=%H%x1f%B%x1e", "--", options.control_file],
        hint="run in a git checkout (actions/checkout with fetch-depth: 0)",
    )
    found: dict[str, tuple[dict[str, str], ...]] = {}
    for record in text.split("\x1e"):
        sha, sep, body = record.strip("\n").partition("\x1f")
        if sep and "Batchops-" in body:
            found[sha] = tuple(control.parse_trailers(body))
    return found


def _snapshots(options: Options, notes: list[str]) -> list[model.Snapshot]:
    versions = repository.control_versions(options.workspace, options.control_file, validate=False)
    trailers = _trailers(options) if versions else {}
    return [
        model.Snapshot(v.at, v.sha, v.subject, v.author, v.document, trailers.get(v.sha, ()))
        for v in versions
        if v.at <= options.now
    ]


def _landings(options: Options, notes: list[str]) -> list[model.Landing]:
    """The batches that shipped, oldest first: the one place coupled to how a landing is found."""
    try:
        found = repository.shipped(options.workspace)
    except BatchopsError as exc:
        notes.append(f"the landings could not be read: {exc.message}")
        return []
    return [model.Landing(s.at, s.sha, s.subject, s.batch_ids) for s in found if s.at <= options.now]


def _runs(options: Options, notes: list[str]) -> tuple[list[dict[str, Any]], str]:
    endpoint = options.endpoint.strip()
    since = options.now - timedelta(days=8)
    if endpoint:
        telemetry.check_endpoint(endpoint, field="endpoint")
        try:
            runs = telemetry.get_runs(endpoint, options.token, since=since, until=options.now + timedelta(seconds=1))
        except telemetry.ReadError as exc:
            raise BatchopsError(
                f"cannot read runs from {telemetry.safe_url(telemetry.runs_url(endpoint))}: {exc}",
                field="endpoint",
                hint="check the endpoint URL and the token (the Worker's BATCH_METRICS_TOKEN)",
            ) from None
        return runs, telemetry.safe_url(endpoint)
    if not options.database or not Path(options.database).is_file():
        notes.append("no metrics store: the SLO section is empty (give database or endpoint)")
        return [], ""
    from batchops.adapters.store import Store

    with Store(options.database) as db:
        return db.runs(until=options.now), options.database


def _drift(options: Options, notes: list[str]) -> tuple[list[dict[str, Any]], str]:
    for name in options.drift_reports:
        path = Path(name)
        if not path.is_file():
            continue
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            notes.append(
                f"the drift report {name} could not be read ({exc.__class__.__name__}); its findings are not shown"
            )
            return [], ""
        findings = [f for f in report.get("findings") or [] if isinstance(f, dict) and f.get("status") in DRIFT_LOOK]
        return findings, str(report.get("generated_at") or name)
    return [], ""


def build_page(options: Options) -> model.Page:
    """The page's model from every source (nothing written)."""
    notes: list[str] = []
    document = controlfile.load(options.control_file)
    why = repository.history_depth(options.workspace)
    if why:
        notes.append(f"no breaker history and no landings: {why}")
    versions = [] if why else _snapshots(options, notes)
    landings = [] if why else _landings(options, notes)
    activity = model.activity_of(versions, landings)
    incidents = alert.incidents(document, options.now, activity=activity, stale_after=options.stale_after)
    breakers, events = model.breaker_rows(versions, options.now, options.days)
    model.breaker_now(breakers, document, options.now)
    budget_rows, week = model.budget_rows(versions, options.now, document)
    runs, source = _runs(options, notes)
    reports: list[slo.EcosystemSLO] = []
    if runs:
        selected, _ = slo.select(runs, options.now, window=SLO_WINDOW, last=None)
        reports = slo.evaluate(selected, slo.parse_slos(list(options.slo)))
    findings, checked = _drift(options, notes)
    quiet = any(i.kind == "quiet" for i in incidents)
    start = options.now - timedelta(days=options.days)
    return model.Page(
        now=options.now,
        days=options.days,
        state=model.pipeline_state(document, quiet),
        incidents=incidents,
        breakers=breakers,
        events=events,
        budget=budget_rows,
        week_start=week,
        activity=activity,
        repository=options.repository,
        slo=reports,
        slo_source=f"{source}, last {SLO_WINDOW}" if source else "",
        landings=[landing for landing in landings if landing.at >= start],
        drift=findings,
        drift_checked=checked,
        versions=len(versions),
        notes=notes,
        disabled=sorted(model.disabled_of(document)),
    )


def run(options: Options) -> Built:
    page = build_page(options)
    index = page_html(page)
    feed = feed_xml(page, options.page_url)
    size = len(index.encode("utf-8"))
    if size > MAX_BYTES:
        page.notes.append(f"the page is {size} bytes, over {MAX_BYTES}: shorten days")
    options.out.mkdir(parents=True, exist_ok=True)
    write_atomic(options.out / "index.html", index)
    write_atomic(options.out / "feed.xml", feed)
    return Built(options.out, len(page.incidents), size, page, page.notes)

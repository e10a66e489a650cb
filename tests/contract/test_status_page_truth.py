"""The status page tells the truth at a glance: what the operator commands and `batchops slo` / `status` say.

A registry (bare remote + clone) holds the first user's newest control file; an operator drives it with the
audited commands (`--push`), then builds the page. The page must agree with `batchops status` on what the
next batch meets, with `batchops log` on the reasons, and with `batchops slo` on targets and severities.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batchops.commands.status import next_rows
from tests.cli_helpers import run_cli
from tests.conftest import corpus_dir
from tests.contract.test_slo_cli import add_run
from tests.contract.test_status_page import Dom
from tests.support.browser import PageServer, render
from tests.support.gitrepo import git, make_remote

REASONS = {
    "npm": "npm probe by hand after the registry fix",
    "pypi": "pypi generator broken, see #9",
    "homebrew": "legacy breaker left open; generator fixed",
    "rubygems": "test race",
}


def banner(html: str) -> str:
    match = re.search(r'<div class="banner ([^"]*)" id="pipeline-state" data-tone="(\w+)">(.*?)</div>', html)
    assert match, "the page has a banner"
    return f"{match.group(1)} {match.group(2)} {re.sub('<[^>]+>', '', match.group(3))}"


def card(html: str, key: str) -> str:
    match = re.search(rf'<div class=k>{re.escape(key)}</div><div class="v (\w+)">([^<]*)</div>', html)
    assert match, key
    return f"{match.group(1)}: {match.group(2)}"


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    newest = sorted((corpus_dir() / "tsuku" / "control-history").glob("*.json"))[-1]
    _, work = make_remote(tmp_path, {"batch-control.json": newest.read_text(encoding="utf-8")})
    git(work, "config", "user.name", "Nell Newcomer")
    git(work, "config", "user.email", "nell@example.org")
    return work


def operate(work: Path, *args: str) -> None:
    run = run_cli([*args, "--push"], work, env={"BATCHOPS_JOURNAL": str(work.parent / "journal.jsonl")}, actions=False)
    assert run.returncode == 0, run.log


def page_now() -> datetime:
    return (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)


def test_operator_actions_show_their_reasons_breakers_say_since_when_and_what_the_next_batch_meets(
    registry: Path,
) -> None:
    operate(registry, "breaker", "probe", "npm", "--reason", REASONS["npm"])
    operate(registry, "breaker", "open", "pypi", "--reason", REASONS["pypi"], "--wait", "12h")
    operate(registry, "breaker", "reset", "homebrew", "--reason", REASONS["homebrew"])
    operate(registry, "disable", "rubygems", "--reason", REASONS["rubygems"])
    now = page_now()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    run = run_cli(["status-page", "--out", "site", "--now", stamp], registry)
    assert run.returncode == 0, run.log
    index = (registry / "site" / "index.html").read_text(encoding="utf-8")
    feed = (registry / "site" / "feed.xml").read_text(encoding="utf-8")
    with PageServer(registry / "site") as server:
        page = render(f"{server.url}/index.html")
    assert page.console == []
    text = " ".join(Dom(page.dom).text)

    for ecosystem, reason in REASONS.items():  # as `batchops log` shows them
        assert reason in text and reason in feed, ecosystem
    document = json.loads((registry / "batch-control.json").read_text(encoding="utf-8"))
    for ecosystem, said, _, _ in next_rows(document, now):  # the very sentence `batchops status` prints
        if ecosystem in ("github", "crates.io", "pypi", "npm"):
            assert said in text, (ecosystem, said)
    assert "runs as the probe" in text and "skipped until " in text
    assert "open since at least 2026-06-26T20:51:01Z" in text  # legacy entries have no opened_at
    assert f"open since {document['circuit_breaker']['pypi']['opened_at']}" in text

    assert "Circuit breaker half-open: npm" in text and "Circuit breaker open: npm" not in text
    assert "Incident: Circuit breaker half-open: npm" in feed and "Circuit breaker open: npm" not in feed
    assert card(index, "Breakers open") == "bad: 4 of 6 (+1 half-open)"  # github, rubygems, crates.io, pypi
    top = banner(index)
    assert top.startswith("b-stopped bad Running")  # red frame while breakers are open, not green
    assert "ecosystems disabled: rubygems" in top and "half-open (probing): npm" in top
    assert "nothing needs a person" not in top
    assert card(index, "Last batch run") == "warn: no batch has run"  # every commit was an operator's
    assert "no batch has run" in text


def test_a_stop_is_no_batch_run_and_the_last_batch_run_is_the_last_batch_jobs_commit(registry: Path) -> None:
    control = registry / "batch-control.json"
    document = json.loads(control.read_text(encoding="utf-8"))
    document["circuit_breaker"]["npm"]["failures"] += 1  # what a legacy batch job commits: breaker state
    control.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    git(registry, "commit", "-q", "-am", "chore(batch): update circuit breaker and budget state")
    git(registry, "push", "-q", "origin", "HEAD:main")
    ran_at = git(registry, "log", "-1", "--format=%cI").strip()
    operate(registry, "stop", "--reason", "registry down, see the incident")
    run = run_cli(["status-page", "--out", "site", "--now", page_now().isoformat()], registry)
    assert run.returncode == 0, run.log
    index = (registry / "site" / "index.html").read_text(encoding="utf-8")
    ran = datetime.fromisoformat(ran_at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f"last batch run {ran}" in index
    assert "registry down, see the incident" in (registry / "site" / "feed.xml").read_text(encoding="utf-8")
    assert banner(index).startswith("b-stopped bad Stopped")


def slo_site(tmp_path: Path) -> tuple[Path, Path]:
    from batchops.adapters.store import Store

    newest = sorted((corpus_dir() / "tsuku" / "control-history").glob("*.json"))[-1]
    _, work = make_remote(tmp_path, {"batch-control.json": newest.read_text(encoding="utf-8")})
    database = tmp_path / "metrics.db"
    with Store(database) as db:
        for day, (passed, failed) in enumerate([(5, 2), (5, 2), (5, 2)], start=20):  # 71.4%: high against 85
            add_run(db, "homebrew", f"2026-06-{day}T12:00:00Z", passed=passed, failed=failed)
        add_run(db, "npm", "2026-06-21T12:00:00Z", passed=97, failed=3)  # 97%: medium against 98
        add_run(db, "mixed", "2026-06-21T13:00:00Z", passed=1, failed=9)
    return work, database


def slo_rows(html: str) -> dict[str, list[str]]:
    section = html[html.index('id="slo"') : html.index('id="shipped"')]
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", section)
    return {cells.split("</td><td>")[0]: [re.sub("<[^>]+>", "", c) for c in cells.split("</td><td>")] for cells in rows}


@pytest.mark.parametrize("overrides", [[], ["--slo", "homebrew=60 default=90"]])
def test_the_slo_section_has_the_targets_and_severities_of_batchops_slo(tmp_path: Path, overrides: list[str]) -> None:
    work, database = slo_site(tmp_path)
    now = "2026-06-22T22:00:00Z"
    common = ["--database", str(database), "--now", now]
    report = run_cli(["slo", *common, "--json", *overrides], work, actions=False)
    assert report.returncode == 0, report.log
    expected = {r["ecosystem"]: r for r in json.loads(report.stdout)["ecosystems"]}
    page = run_cli(["status-page", "--out", "site", *common, *overrides], work)
    assert page.returncode == 0, page.log
    rows = slo_rows((work / "site" / "index.html").read_text(encoding="utf-8"))
    for name in ("homebrew", "npm"):
        assert rows[name][2] == f"{expected[name]['slo']:g}%" and rows[name][3] == expected[name]["severity"], name
    if not overrides:
        assert rows["homebrew"][2:4] == ["85%", "high"]
    assert rows["mixed"][2].startswith("none") and rows["mixed"][3] == "-"  # mixed counts toward no SLO


def test_a_bad_slo_value_is_one_error_naming_the_input(tmp_path: Path) -> None:
    work, database = slo_site(tmp_path)
    run = run_cli(["status-page", "--out", "site", "--database", str(database), "--slo", "homebrew=lots"], work)
    assert run.returncode != 0 and not (work / "site").exists()
    (error,) = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert "slo" in error and "Traceback" not in run.log

"""The status page, built from the first user's history and read in a real browser (Debian's chromium, headless).

The history is the corpus control files as 1,226 commits and the batches as squash merges
(:mod:`tests.support.control_history`). The page is served from 127.0.0.1 by a server that records
every request: the page may ask for nothing but itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import corpus_dir
from tests.support import control_history
from tests.support.browser import PageServer, render

NOW = "2026-06-29T12:00:00Z"  # two and a half days after the pipeline's last run
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("tsuku") / "tsuku"
    control_history.build(repo, corpus_dir() / "tsuku" / "control-history")
    return repo


class Dom(HTMLParser):
    """Elements and attributes of the DOM chromium built."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def by_id(self, ident: str) -> dict[str, str] | None:
        return next((attrs for _, attrs in self.tags if attrs.get("id") == ident), None)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]


def build(history: Path, out: Path, *extra: str) -> Any:
    run = run_cli(["status-page", "--out", str(out), "--now", NOW, *extra], history)
    assert run.returncode == 0, run.log
    return run


def test_the_first_users_stall_is_plain_on_a_page_the_browser_renders_offline(history: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    run = build(history, out, "--days", "160")
    assert run.outputs["page-dir"] == str(out) and run.outputs["open-incidents"] == "8"
    index = (out / "index.html").read_bytes()
    assert len(index) <= 2 * 1024 * 1024
    with PageServer(out) as server:
        page = render(f"{server.url}/index.html", screenshot=tmp_path / "page.png")
        assert server.requests == ["/index.html", "/index.html"]  # the dump and the screenshot, nothing else
    assert page.console == []
    dom = Dom(page.dom)
    text = " ".join(dom.text)
    assert dom.by_id("pipeline-state") is not None and "Quiet" in text
    assert "no batch has run since 2026-06-26T20:51:08Z" in text
    assert "no batch has shipped recipes since 2026-05-08T14:12:31Z" in text
    for section in ("incidents", "breakers", "budget", "slo", "shipped", "drift", "summary"):
        assert dom.by_id(section) is not None, section
    charts = [attrs for attrs in dom.all("svg") if attrs.get("role") == "img"]
    assert len(charts) == 3 and all(attrs.get("aria-labelledby") for attrs in charts)  # breakers and two budgets
    assert len(dom.all("table")) >= 4
    assert "batchops rollback --pr 2382" in text
    assert dom.all("script") == []


def test_the_feed_is_atom_with_the_incidents_and_the_transitions(history: Path, tmp_path: Path) -> None:
    build(history, tmp_path / "site", "--days", "160")
    feed = ET.parse(tmp_path / "site" / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    titles = [e.findtext(f"{ATOM}title") or "" for e in feed.findall(f"{ATOM}entry")]
    assert "Incident: Batch pipeline quiet: no batch has run since 2026-06-26T20:51:08Z" in titles
    assert any(t.startswith("homebrew: trip") for t in titles) and any(t.startswith("pypi: trip") for t in titles)
    assert len({e.findtext(f"{ATOM}id") for e in feed.findall(f"{ATOM}entry")}) == len(titles)


HOSTILE_REASON = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"
HOSTILE_BY = '" onmouseover="alert(1)'
HOSTILE_URL = "javascript:alert(1)"


def hostile_site(tmp_path: Path) -> Path:
    """A checkout whose history holds hostile text: an older version with a hostile ecosystem name (the schema
    refuses it now, history keeps it), then a stop with a hostile reason, link and author, by a hostile committer."""
    site = tmp_path / "registry"
    site.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=site, check=True)
    document = json.loads(sorted((corpus_dir() / "tsuku" / "control-history").glob("*.json"))[-1].read_text())
    older = json.loads(json.dumps(document))
    older["circuit_breaker"]['"><svg onload=alert(1)>'] = {"state": "closed", "failures": 0}
    stopped = {
        **document,
        "enabled": False,
        "reason": HOSTILE_REASON,
        "incident_url": HOSTILE_URL,
        "disabled_by": HOSTILE_BY,
        "disabled_at": "2026-06-27T09:00:00Z",
        "expected_resume": "<b>soon</b>",
    }
    stopped["circuit_breaker"] = {**document["circuit_breaker"], '"><svg onload=alert(1)>': {"state": "open"}}
    for stamp, version, subject in (
        ("2026-06-26T09:00:00Z", older, "state"),
        ("2026-06-27T09:00:00Z", stopped, "stop: <script>alert(3)</script> javascript:x"),
    ):
        (site / "batch-control.json").write_text(json.dumps(version, indent=2))
        env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        subprocess.run(["git", "add", "-A"], cwd=site, check=True)
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=<script>alert(2)</script>",
                "-c",
                "user.email=x@example.org",
                "commit",
                "-q",
                "-m",
                subject,
            ],
            cwd=site,
            check=True,
            env=env,
        )
    (site / "batch-control.json").write_text(json.dumps({**stopped, "circuit_breaker": document["circuit_breaker"]}))
    return site


def test_hostile_control_file_text_is_shown_as_text_and_the_browser_runs_none_of_it(tmp_path: Path) -> None:
    site = hostile_site(tmp_path)
    out = tmp_path / "site-out"
    run = run_cli(["status-page", "--out", str(out), "--now", "2026-06-28T00:00:00Z"], site)
    assert run.returncode == 0, run.log
    with PageServer(out) as server:
        page = render(f"{server.url}/index.html", screenshot=tmp_path / "hostile.png")
        assert server.requests == ["/index.html", "/index.html"]
    assert page.console == []
    dom = Dom(page.dom)
    text = " ".join(dom.text)
    assert dom.all("script") == [] and dom.all("img") == []
    assert all(not name.startswith("on") for _, attrs in dom.tags for name in attrs)
    assert all(not attrs.get("href", "").lower().startswith("javascript") for attrs in dom.all("a"))
    assert "<title>Stopped · Batch pipeline status</title>" in page.dom  # the script that would retitle it never ran
    assert HOSTILE_REASON in text and HOSTILE_BY in text and HOSTILE_URL in text and "<b>soon</b>" in text
    assert '"><svg onload=alert(1)>' in text and "stop: <script>alert(3)</script> javascript:x" in text
    assert "Stopped" in text


def test_a_bad_days_value_is_one_error_naming_the_input(history: Path, tmp_path: Path) -> None:
    run = run_cli(["status-page", "--out", str(tmp_path / "x"), "--days", "a month"], history)
    assert run.returncode != 0
    (error,) = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert "days" in error and not (tmp_path / "x").exists()


def test_the_example_workflow_deploys_with_pinned_actions_and_minimal_permissions() -> None:
    import re

    import yaml

    path = Path(__file__).resolve().parents[2] / "examples" / "workflows" / "status-page.yml"
    text = path.read_text(encoding="utf-8")
    flow = yaml.safe_load(text)
    assert flow["permissions"] == {}
    assert flow["jobs"]["build"]["permissions"] == {"contents": "read"}
    assert flow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert flow["jobs"]["deploy"]["environment"]["name"] == "github-pages"
    pins = re.findall(r"uses: (actions/[a-z-]+)@(\S+) # (v[\d.]+)", text)
    assert {name for name, _, _ in pins} == {
        "actions/checkout",
        "actions/upload-pages-artifact",
        "actions/deploy-pages",
    }
    assert all(re.fullmatch(r"[0-9a-f]{40}", sha) for _, sha, _ in pins)
    checkout = next(s for s in flow["jobs"]["build"]["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0 and checkout["with"]["persist-credentials"] is False


def metrics_site(tmp_path: Path) -> Path:
    """A checkout (one control-file commit) beside a metrics store holding npm's runs and a hostile ecosystem name."""
    from batchops.adapters.store import Store
    from tests.contract.test_slo_cli import add_run

    site = tmp_path / "registry"
    site.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=site, check=True)
    document = json.loads(sorted((corpus_dir() / "tsuku" / "control-history").glob("*.json"))[-1].read_text())
    (site / "batch-control.json").write_text(json.dumps(document))
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-06-26T20:00:00Z", "GIT_COMMITTER_DATE": "2026-06-26T20:00:00Z"}
    subprocess.run(["git", "add", "-A"], cwd=site, check=True)
    subprocess.run(
        ["git", "-c", "user.name=bot", "-c", "user.email=b@example.org", "commit", "-q", "-m", "state"],
        cwd=site,
        check=True,
        env=env,
    )
    with Store(tmp_path / "metrics.db") as db:
        for day in range(20, 27):
            add_run(db, "npm", f"2026-06-{day}T12:00:00Z", passed=7, failed=3)
        add_run(db, "evil", "2026-06-26T13:00:00Z", passed=1, failed=1)
        db.conn.execute(
            "UPDATE batch_runs SET ecosystem = ? WHERE ecosystem = 'evil'", ("<img src=x onerror=alert(1)>",)
        )
    return site


def test_the_slo_section_reads_the_store_or_the_read_endpoint_and_escapes_its_names(tmp_path: Path) -> None:
    from batchops.commands import metrics as commands

    site = metrics_site(tmp_path)
    by_store = run_cli(
        [
            "status-page",
            "--out",
            "by-store",
            "--now",
            "2026-06-27T00:00:00Z",
            "--database",
            str(tmp_path / "metrics.db"),
        ],
        site,
    )
    assert by_store.returncode == 0, by_store.log
    token = "page-read-token-5678"
    server = commands.make_server(str(tmp_path / "metrics.db"), token).start()
    try:
        by_endpoint = run_cli(
            [
                "status-page",
                "--out",
                "by-endpoint",
                "--now",
                "2026-06-27T00:00:00Z",
                "--endpoint",
                server.url,
                "--token",
                token,
            ],
            site,
        )
        refused = run_cli(
            [
                "status-page",
                "--out",
                "refused",
                "--now",
                "2026-06-27T00:00:00Z",
                "--endpoint",
                server.url,
                "--token",
                "not-the-token-9f2",
            ],
            site,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert by_endpoint.returncode == 0, by_endpoint.log
    for out in ("by-store", "by-endpoint"):
        with PageServer(site / out) as pages:
            page = render(f"{pages.url}/index.html")
            assert pages.requests == ["/index.html"]
        dom = Dom(page.dom)
        text = " ".join(dom.text)
        assert "70%" in text and "critical" in text  # npm: 70% against its 98% SLO
        assert "<img src=x onerror=alert(1)>" in text and dom.all("img") == []
    assert [line for line in by_endpoint.log.splitlines() if token in line] == [f"::add-mask::{token}"]
    assert refused.returncode != 0 and not (site / "refused").exists()
    (error,) = [line for line in refused.stdout.splitlines() if line.startswith("::error")]
    assert "endpoint" in error and "HTTP 401" in error and "not-the-token-9f2" not in error

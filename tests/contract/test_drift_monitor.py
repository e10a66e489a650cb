"""drift-monitor end to end in-process: a real HTTP upstream, the GitHub stand-in (GitHub's description)
through PyGithub."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batchops import cli
from batchops.adapters import journal, schema
from batchops.adapters.runner import parse_output_file
from tests.support.drift_registry import wire
from tests.support.github_api import GitHubStandIn
from tests.support.upstream import Upstream

NOW = "2026-03-01T12:00:00Z"
LATER = "2026-03-02T12:00:00Z"
REPO = "tsuku/registry"
SUMS_V1 = "aaaa  tool_1.0.0_linux_amd64.zip\n"
SUMS_V2 = "bbbb  tool_1.0.0_linux_amd64.zip\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Run:
    code: int
    outputs: dict[str, str]
    summary: str
    log: str
    report: dict[str, Any]

    def findings(self, status: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.report.get("findings", []) if status is None or f["status"] == status]


@pytest.fixture
def gh(github_api: GitHubStandIn, monkeypatch: pytest.MonkeyPatch) -> GitHubStandIn:
    """The GitHub stand-in with the registry repository; the client's waits move its clock instead of sleeping."""
    return wire(github_api, monkeypatch, REPO)


def issues(gh: GitHubStandIn) -> list[dict[str, Any]]:
    return gh.issues(REPO)


def labels_of(issue: dict[str, Any]) -> list[str]:
    return [label["name"] for label in issue["labels"]]


def add_release(gh: GitHubStandIn, repo: str, tag: str, published_at: str = "2026-01-01T00:00:00Z") -> None:
    if repo not in gh.repos:
        gh.add_repo(repo)
    gh.add_release(repo, tag, published_at=published_at)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "recipes").mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("BATCHOPS_GITHUB_WRITE_INTERVAL", "0")
    return root


def write_recipe(
    root: Path, name: str, checksum_url: str, version: str = 'version = "1.0.0"', *, folder: str = "recipes"
) -> Path:
    path = root / folder / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"""[metadata]
name = "{name}"

[version]
{version}

[[steps]]
action = "download"
url = "{checksum_url}.zip"
checksum_url = "{checksum_url}"
"""
    )
    return path


def run(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
    now: str = NOW,
    token: str | None = None,
) -> Run:
    out = root.parent / "gh-output"
    summary = root.parent / "gh-summary"
    out.write_text("")
    summary.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report_file = root.parent / "report.json"
    argv = ["drift-monitor", "--now", now, "--report-file", str(report_file), "--timeout", "2", *args]
    if token:
        argv += ["--github-token", token]
    capsys.readouterr()
    code = cli.main(argv)
    captured = capsys.readouterr()
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    if report_file.exists():
        report_file.unlink()
    return Run(code, parse_output_file(out.read_text()), summary.read_text(), captured.out + captured.err, report)


def baseline(root: Path) -> dict[str, Any]:
    return json.loads((root / "checksum-baseline.json").read_text())


# --- baseline lifecycle -------------------------------------------------------------------


def test_first_run_records_the_baseline_and_reports_no_drift(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    result = run(work, monkeypatch, capsys)
    assert result.code == 0, result.log
    assert result.outputs["drift"] == "false"
    assert result.outputs["drifted-count"] == "0"
    assert result.outputs["unverifiable-count"] == "0"
    entry = baseline(work)["recipes"]["tool"]["1.0.0"][upstream.url + "/tool/1.0.0/SHA256SUMS"]
    assert entry == {"sha256": sha(SUMS_V1), "first_seen": NOW, "last_verified": NOW}
    assert [f["status"] for f in result.findings()] == ["new"]
    schema.validate(baseline(work), "drift-baseline", file="checksum-baseline.json")


def test_unchanged_bytes_are_ok_and_move_last_verified(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    run(work, monkeypatch, capsys)
    result = run(work, monkeypatch, capsys, now=LATER)
    assert result.outputs["drift"] == "false"
    assert [f["status"] for f in result.findings()] == ["ok"]
    entry = baseline(work)["recipes"]["tool"]["1.0.0"][upstream.url + "/tool/1.0.0/SHA256SUMS"]
    assert (entry["first_seen"], entry["last_verified"]) == (NOW, LATER)


def test_every_baseline_change_is_a_journaled_operation(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    run(work, monkeypatch, capsys)
    ops = journal.read("checksum-baseline.json")
    assert [op["op"] for op in ops] == ["drift.record"]
    assert ops[0]["args"]["entries"][0]["kind"] == "new"


def test_changed_bytes_without_a_token_report_drift_but_open_no_issue(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    run(work, monkeypatch, capsys)
    upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V2)
    result = run(work, monkeypatch, capsys, now=LATER)
    assert result.code == 0  # fail-on-drift defaults to false
    assert result.outputs["drift"] == "true"
    assert result.outputs["drifted-count"] == "1"
    assert result.outputs["issue-url"] == ""
    assert "no issue was opened" in result.log
    drift = result.findings("drift")[0]
    assert (drift["expected"], drift["actual"]) == (sha(SUMS_V1), sha(SUMS_V2))
    # the baseline keeps the recorded bytes: drift never overwrites it
    assert baseline(work)["recipes"]["tool"]["1.0.0"][drift["url"]]["sha256"] == sha(SUMS_V1)
    assert "🚨" in result.summary and "tool" in result.summary


def test_fail_on_drift_fails_the_step(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    run(work, monkeypatch, capsys)
    upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V2)
    result = run(work, monkeypatch, capsys, "--fail-on-drift", "true", now=LATER)
    assert result.code == 1
    assert "error: " in result.log and "checksum drift: tool 1.0.0" in result.log


# --- issues -------------------------------------------------------------------------------


def _drift_once(work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys) -> Run:
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    run(work, monkeypatch, capsys, token=gh.token)
    upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V2)
    return run(work, monkeypatch, capsys, now=LATER, token=gh.token)


def test_drift_opens_one_labelled_issue_with_table_and_runbook(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    result = _drift_once(work, upstream, gh, monkeypatch, capsys)
    assert result.code == 0, result.log
    opened = issues(gh)
    assert len(opened) == 1
    issue = opened[0]
    assert result.outputs["issue-url"] == f"https://github.com/{REPO}/issues/1"
    assert labels_of(issue) == ["security", "checksum-drift"]
    assert {label["name"]: label["color"] for label in gh.labels(REPO)} == {
        "security": "d73a4a",
        "checksum-drift": "fbca04",
    }
    body = issue["body"]
    fp = result.findings("drift")[0]["fingerprint"]
    assert f"<!-- batchops-drift: {fp} -->" in body
    assert "| recipe | version | URL | expected | actual | first seen |" in body
    assert f"| tool | 1.0.0 | {upstream.url}/tool/1.0.0/SHA256SUMS | {sha(SUMS_V1)} | {sha(SUMS_V2)} | {NOW} |" in body
    assert "Do not install" in body
    assert (
        f"batchops drift accept tool 1.0.0 --url {upstream.url}/tool/1.0.0/SHA256SUMS --sha256 {sha(SUMS_V2)}" in body
    )
    assert "batchops stop --reason" in body and "rollback" in body
    assert result.report["issues"] == [
        {"fingerprint": fp, "action": "created", "url": result.outputs["issue-url"], "number": 1}
    ]


def test_same_drift_found_again_comments_and_never_opens_a_second_issue(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    first = _drift_once(work, upstream, gh, monkeypatch, capsys)
    second = run(work, monkeypatch, capsys, now="2026-03-03T12:00:00Z", token=gh.token)
    third = run(work, monkeypatch, capsys, now="2026-03-04T12:00:00Z", token=gh.token)
    assert len(issues(gh)) == 1
    comments = gh.comments(REPO, 1)
    assert len(comments) == 2
    assert "Still drifting at 2026-03-03T12:00:00Z" in comments[0]["body"]
    assert first.outputs["issue-url"] == second.outputs["issue-url"] == third.outputs["issue-url"]
    assert second.report["issues"][0]["action"] == "commented"


def test_open_issue_is_found_by_search_when_its_labels_were_removed(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    _drift_once(work, upstream, gh, monkeypatch, capsys)
    gh.repos[REPO].issues[1].labels = []
    searches_before = len(gh.requests_to("GET", "/search/issues"))
    again = run(work, monkeypatch, capsys, now="2026-03-03T12:00:00Z", token=gh.token)
    assert len(issues(gh)) == 1
    assert again.report["issues"][0]["action"] == "commented"
    queries = [r.query["q"][0] for r in gh.requests_to("GET", "/search/issues")][searches_before:]
    assert len(queries) == 1  # one search for the marker, not one per fingerprint
    assert '"batchops-drift"' in queries[0] and "is:issue" in queries[0]


def test_a_different_new_checksum_is_a_new_fingerprint_and_a_new_issue(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    first = _drift_once(work, upstream, gh, monkeypatch, capsys)
    upstream.put("/tool/1.0.0/SHA256SUMS", "cccc  something else\n")
    second = run(work, monkeypatch, capsys, now="2026-03-03T12:00:00Z", token=gh.token)
    assert len(issues(gh)) == 2
    assert first.findings("drift")[0]["fingerprint"] != second.findings("drift")[0]["fingerprint"]


def test_issue_that_cannot_be_opened_fails_the_step(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    gh.inject(
        "POST",
        f"/repos/{REPO}/issues",
        403,
        body={
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue",
        },
    )
    result = _drift_once(work, upstream, gh, monkeypatch, capsys)
    assert result.code == 1
    assert "could not be opened" in result.log
    assert "403 Resource not accessible by integration" in result.log  # GitHub's reason, not just the status
    assert "permissions: issues: write" in result.log
    assert result.report["issues"][0]["action"] == "failed"


def test_token_is_masked_before_anything_is_printed(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    result = run(work, monkeypatch, capsys, token=gh.token)
    lines = result.log.splitlines()
    assert lines[0] == f"::add-mask::{gh.token}"
    assert sum(gh.token in line for line in lines) == 1


# --- accept -------------------------------------------------------------------------------


def test_accept_updates_the_baseline_with_an_audit_entry_and_the_next_run_is_clean(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    _drift_once(work, upstream, gh, monkeypatch, capsys)
    monkeypatch.setenv("GITHUB_ACTOR", "octo-operator")
    code = cli.main(
        [
            "drift",
            "accept",
            "tool",
            "1.0.0",
            "--reason",
            "upstream rebuilt the zip (see their announcement)",
            "--now",
            "2026-03-02T13:00:00Z",
        ]
    )
    assert code == 0
    entry = baseline(work)["recipes"]["tool"]["1.0.0"][upstream.url + "/tool/1.0.0/SHA256SUMS"]
    assert entry["sha256"] == sha(SUMS_V2)
    assert entry["audit"] == [
        {
            "action": "accept",
            "at": "2026-03-02T13:00:00Z",
            "from": sha(SUMS_V1),
            "to": sha(SUMS_V2),
            "actor": "octo-operator",
            "reason": "upstream rebuilt the zip (see their announcement)",
        }
    ]
    assert journal.read("checksum-baseline.json")[-1]["op"] == "drift.accept"
    after = run(work, monkeypatch, capsys, now="2026-03-03T12:00:00Z", token=gh.token)
    assert after.outputs["drift"] == "false"
    assert len(issues(gh)) == 1 and not gh.comments(REPO, 1)


def test_accept_takes_the_checksum_from_the_issue(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    url = upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1)
    write_recipe(work, "tool", url)
    run(work, monkeypatch, capsys)
    upstream.put("/tool/1.0.0/SHA256SUMS", b"", status=500)  # accept with --sha256 needs no network
    new = "c" * 64
    code = cli.main(["drift", "accept", "tool", "1.0.0", "--sha256", new, "--reason", "rebuilt", "--now", LATER])
    assert code == 0
    assert baseline(work)["recipes"]["tool"]["1.0.0"][url]["sha256"] == new


def test_accept_of_an_unknown_version_says_what_is_recorded(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1))
    run(work, monkeypatch, capsys)
    capsys.readouterr()
    code = cli.main(["drift", "accept", "tool", "9.9.9", "--reason", "x"])
    err = capsys.readouterr()
    assert code == 2
    assert "recorded versions of tool: 1.0.0" in err.out + err.err


def test_accept_requires_a_reason(work: Path, monkeypatch, capsys) -> None:
    assert cli.main(["drift", "accept", "tool", "1.0.0", "--reason", "  "]) == 2


# --- unverifiable -------------------------------------------------------------------------


def test_network_and_http_failures_are_unverifiable_never_drift_never_ok(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "server-error", upstream.put("/a/SHA256SUMS", "x", status=500))
    write_recipe(work, "missing", upstream.url + "/nothing/here")
    write_recipe(work, "slow", upstream.put("/slow/SHA256SUMS", "x", delay=3.5))
    write_recipe(work, "huge", upstream.put("/huge/SHA256SUMS", b"0" * (4 * 1024 * 1024 + 1)))
    write_recipe(work, "refused", "http://127.0.0.1:9/SHA256SUMS")
    write_recipe(work, "ftp", "ftp://example.test/SHA256SUMS")
    result = run(work, monkeypatch, capsys)
    assert result.outputs["drift"] == "false"
    assert result.outputs["unverifiable-count"] == "6"
    reasons = {f["recipe"]: f["reason"] for f in result.findings("unverifiable")}
    assert "HTTP 500" in reasons["server-error"]
    assert "HTTP 404" in reasons["missing"]
    assert "timed out" in reasons["slow"]
    assert "byte cap" in reasons["huge"]
    assert "connection refused" in reasons["refused"]
    assert "only http and https" in reasons["ftp"]
    assert not (work / "checksum-baseline.json").exists()  # nothing was recorded


def test_an_unreachable_github_api_is_a_short_reason_in_the_log_and_the_whole_one_in_the_report(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/t/SHA256SUMS", SUMS_V1), 'github_repo = "acme/tool"')
    write_recipe(work, "refused", "http://127.0.0.1:9/SHA256SUMS")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    result = run(work, monkeypatch, capsys)
    lines = {line.split()[1]: line for line in result.log.splitlines() if line.startswith("unverifiable")}
    assert lines["tool"].endswith(
        "version unresolvable: release lookup for acme/tool: GitHub API unreachable: could not connect"
    )
    assert lines["refused"].endswith("network error: connection refused")
    assert all(len(line) < 200 and "HTTPConnectionPool" not in line for line in lines.values())
    assert "HTTPConnectionPool" not in result.summary
    [kept] = [f["reason"] for f in result.findings("unverifiable") if f["recipe"] == "tool"]
    assert "HTTPConnectionPool(host='127.0.0.1', port=9)" in kept  # the detail stays in the report file


def test_the_skipped_line_points_at_the_command_that_shows_the_details(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/SUMS", SUMS_V1))
    (work / "recipes" / "bare.toml").write_text('[metadata]\nname = "bare"\n')
    result = run(work, monkeypatch, capsys)
    report_file = work.parent / "report.json"
    [line] = [line for line in result.log.splitlines() if line.startswith("skipped")]
    assert line.endswith(f"bare (details: batchops drift report --verbose {report_file})")
    assert "--verbose)" not in line


def test_a_failure_after_recording_keeps_the_baseline_and_is_not_drift(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    url = upstream.put("/tool/SHA256SUMS", SUMS_V1)
    write_recipe(work, "tool", url)
    run(work, monkeypatch, capsys)
    upstream.put("/tool/SHA256SUMS", "oops", status=503)
    result = run(work, monkeypatch, capsys, now=LATER)
    assert result.outputs["drift"] == "false"
    assert [f["status"] for f in result.findings()] == ["unverifiable"]
    assert result.findings()[0]["expected"] == sha(SUMS_V1)
    assert baseline(work)["recipes"]["tool"]["1.0.0"][url]["last_verified"] == NOW


def test_unresolvable_versions_are_unverifiable_with_the_reason(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    url = upstream.put("/x/SHA256SUMS", SUMS_V1)
    write_recipe(work, "no-release", url, 'github_repo = "acme/no-release"')
    write_recipe(work, "npm-source", url, 'source = "npm_registry"')
    write_recipe(work, "no-version", url, "")
    write_recipe(work, "bad-prefix", url, 'github_repo = "acme/tool"\ntag_prefix = "v"')
    add_release(gh, "acme/tool", "release-1.0")
    result = run(work, monkeypatch, capsys, token=gh.token)
    reasons = {f["recipe"]: f["reason"] for f in result.findings("unverifiable")}
    assert result.outputs["unverifiable-count"] == "4"
    assert "no published release for acme/no-release" in reasons["no-release"]
    assert "'npm_registry' is not supported" in reasons["npm-source"]
    assert "no [version]" in reasons["no-version"]
    assert "does not start with tag_prefix 'v'" in reasons["bad-prefix"]


def test_broken_recipe_is_unverifiable_and_annotated_not_fatal(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "good", upstream.put("/g/SHA256SUMS", SUMS_V1))
    (work / "recipes" / "broken.toml").write_text("[metadata\n")
    result = run(work, monkeypatch, capsys)
    assert result.code == 0
    statuses = {f["recipe"]: f["status"] for f in result.findings()}
    assert statuses == {"good": "new", "broken": "unverifiable"}
    assert "broken.toml" in result.log


# --- versions -----------------------------------------------------------------------------


def test_github_latest_release_gives_version_and_version_tag(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    upstream.put("/kubectl/v1.32.2/SHA256", SUMS_V1)
    write_recipe(
        work,
        "kubectl",
        upstream.url + "/kubectl/{version_tag}/SHA256",
        'github_repo = "kubernetes/kubernetes"\ntag_prefix = "v"',
    )
    add_release(gh, "kubernetes/kubernetes", "v1.32.2")
    result = run(work, monkeypatch, capsys, token=gh.token)
    finding = result.findings()[0]
    assert (finding["status"], finding["version"], finding["version_tag"]) == ("new", "1.32.2", "v1.32.2")
    assert finding["published_at"] == "2026-01-01T00:00:00Z"


def test_nodejs_dist_index_gives_the_newest_version(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    dist = upstream.nodejs_index([("v23.9.0", "2026-02-20"), ("v22.14.0", "2026-02-11")])
    upstream.put("/dist/v23.9.0/SHASUMS256.txt", SUMS_V1)
    write_recipe(work, "nodejs", upstream.url + "/dist/v{version}/SHASUMS256.txt", 'source = "nodejs_dist"')
    monkeypatch.setenv("BATCHOPS_NODEJS_DIST_URL", dist)
    result = run(work, monkeypatch, capsys)
    finding = result.findings()[0]
    assert (finding["status"], finding["version"], finding["published_at"]) == ("new", "23.9.0", "2026-02-20T00:00:00Z")


def test_the_17_corpus_recipes_resolve_versions_from_github_and_render_urls(corpus: Path, gh: GitHubStandIn) -> None:
    from batchops.adapters import recipes as recipe_files
    from batchops.adapters.http import Fetcher
    from batchops.core import drift, recipes
    from batchops.steps.drift_monitor import Resolver

    items, errors = recipe_files.load_dir(corpus / "recipes")
    assert not errors and len(items) == 17
    for recipe in items:
        if recipe.version.github_repo:
            add_release(gh, recipe.version.github_repo, recipe.version.tag_prefix + "9.8.7")
    fetcher = Fetcher()
    resolver = Resolver(
        token=gh.token, api_url=gh.base_url, nodejs_url="http://127.0.0.1:9", timeout=5, fetcher=fetcher
    )
    versions = resolver.resolve_all(items)
    platforms = recipes.parse_platforms("linux/amd64,darwin/arm64")
    checks, early = drift.plan(items, versions, platforms)
    assert {f.recipe: f.status for f in early} == {
        "zig": "skipped",
        "cargo-nextest": "unverifiable",
        "pcre2": "unverifiable",
    }
    urls = {(c.recipe.name, c.target.url) for c in checks}
    assert ("helm", "https://get.helm.sh/helm-v9.8.7-darwin-arm64.tar.gz.sha256sum") in urls
    assert ("nodejs", "https://nodejs.org/dist/v9.8.7/SHASUMS256.txt") in urls
    assert ("vagrant", "https://releases.hashicorp.com/vagrant/9.8.7/vagrant_9.8.7_SHA256SUMS") in urls
    assert {c.recipe.name for c in checks} == {r.name for r in items} - {"zig", "cargo-nextest", "pcre2"}
    assert all("{" not in url for _, url in urls)


# --- grace period -------------------------------------------------------------------------


def test_change_within_the_grace_period_is_pending_and_the_baseline_follows(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    upstream.put("/tool/v2.0.0/SUMS", SUMS_V1)
    write_recipe(work, "tool", upstream.url + "/tool/{version_tag}/SUMS", 'github_repo = "acme/tool"\ntag_prefix = "v"')
    add_release(gh, "acme/tool", "v2.0.0", published_at="2026-03-01T10:00:00Z")
    run(work, monkeypatch, capsys, now="2026-03-01T11:00:00Z", token=gh.token)
    upstream.put("/tool/v2.0.0/SUMS", SUMS_V2)  # upstream fixes its checksum file an hour later
    pending = run(work, monkeypatch, capsys, "--grace-period", "24h", now="2026-03-01T12:00:00Z", token=gh.token)
    assert pending.outputs["drift"] == "false"
    assert [f["status"] for f in pending.findings()] == ["pending"]
    assert issues(gh) == []
    entry = baseline(work)["recipes"]["tool"]["2.0.0"][upstream.url + "/tool/v2.0.0/SUMS"]
    assert entry["sha256"] == sha(SUMS_V2)
    assert entry["audit"] == [
        {"action": "grace-update", "at": "2026-03-01T12:00:00Z", "from": sha(SUMS_V1), "to": sha(SUMS_V2)}
    ]
    # once the release is older than the grace period, a change is drift
    upstream.put("/tool/v2.0.0/SUMS", "tampered\n")
    late = run(work, monkeypatch, capsys, "--grace-period", "24h", now="2026-03-03T12:00:00Z", token=gh.token)
    assert late.outputs["drift"] == "true"
    assert len(issues(gh)) == 1


def test_grace_period_zero_alarms_at_once(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys
) -> None:
    upstream.put("/tool/v2.0.0/SUMS", SUMS_V1)
    write_recipe(work, "tool", upstream.url + "/tool/{version_tag}/SUMS", 'github_repo = "acme/tool"\ntag_prefix = "v"')
    add_release(gh, "acme/tool", "v2.0.0", published_at="2026-03-01T10:00:00Z")
    run(work, monkeypatch, capsys, "--grace-period", "0", now="2026-03-01T11:00:00Z", token=gh.token)
    upstream.put("/tool/v2.0.0/SUMS", SUMS_V2)
    result = run(work, monkeypatch, capsys, "--grace-period", "0", now="2026-03-01T11:05:00Z", token=gh.token)
    assert result.outputs["drift"] == "true"


def test_without_a_publish_date_the_grace_period_counts_from_first_seen(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/SUMS", SUMS_V1))  # pinned version: no release date
    run(work, monkeypatch, capsys, "--grace-period", "7d", now=NOW)
    upstream.put("/tool/SUMS", SUMS_V2)
    assert (
        run(work, monkeypatch, capsys, "--grace-period", "7d", now="2026-03-05T12:00:00Z").findings()[0]["status"]
        == "pending"
    )
    upstream.put("/tool/SUMS", "third\n")
    assert (
        run(work, monkeypatch, capsys, "--grace-period", "7d", now="2026-03-09T12:00:00Z").findings()[0]["status"]
        == "drift"
    )


def test_bad_grace_period_is_a_usage_error(work: Path, monkeypatch, capsys) -> None:
    result = run(work, monkeypatch, capsys, "--grace-period", "soon")
    assert result.code == 2
    assert "grace-period" in result.log and "24h" in result.log


# --- fetching -----------------------------------------------------------------------------


def test_downloads_are_concurrent_bounded_and_reuse_connections(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    upstream.latency = 0.02
    for n in range(60):
        write_recipe(work, f"tool{n}", upstream.put(f"/t{n}/SUMS", f"{n}\n"))
    result = run(work, monkeypatch, capsys, "--concurrency", "8")
    assert result.report["counts"]["new"] == 60
    assert 1 < upstream.peak_active <= 8
    assert upstream.connections <= 8 + 2  # keep-alive: one connection per worker, not per file


def test_redirects_are_followed_but_only_to_http_and_https(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    upstream.put("/cdn/real-SHA256SUMS", SUMS_V1)
    write_recipe(work, "moved", upstream.redirect("/moved/SHA256SUMS", "/cdn/real-SHA256SUMS"))
    write_recipe(work, "sideways", upstream.redirect("/sideways/SHA256SUMS", "file:///etc/passwd"))
    write_recipe(work, "loop", upstream.redirect("/loop/SHA256SUMS", "/loop/SHA256SUMS", status=301))
    result = run(work, monkeypatch, capsys)
    by_recipe = {f["recipe"]: f for f in result.findings()}
    assert by_recipe["moved"]["status"] == "new" and by_recipe["moved"]["actual"] == sha(SUMS_V1)
    assert by_recipe["sideways"]["status"] == "unverifiable" and "not http or https" in by_recipe["sideways"]["reason"]
    assert by_recipe["loop"]["status"] == "unverifiable" and "too many redirects" in by_recipe["loop"]["reason"]


def test_http_proxy_from_the_environment_is_used(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    upstream.put("/via-proxy/SHA256SUMS", SUMS_V1)  # the upstream doubles as the proxy: it serves by path
    write_recipe(work, "tool", "http://checksums.invalid/via-proxy/SHA256SUMS")
    for key in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("http_proxy", upstream.url)
    result = run(work, monkeypatch, capsys)
    assert result.findings()[0]["status"] == "new", result.findings()
    assert upstream.hits["/via-proxy/SHA256SUMS"] == 1


def test_a_checksum_file_shared_by_platforms_is_fetched_once(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/SHA256SUMS", SUMS_V1))
    result = run(work, monkeypatch, capsys, "--platforms", "linux/amd64,linux/arm64,darwin/arm64")
    assert upstream.hits["/tool/SHA256SUMS"] == 1
    assert result.findings()[0]["platforms"] == ["linux/amd64", "linux/arm64", "darwin/arm64"]


# --- since --------------------------------------------------------------------------------


def test_since_checks_only_recipes_changed_recently_on_the_branch(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    from tests.support.gitrepo import git

    git(work, "init", "-q", "-b", "main")
    write_recipe(work, "old", upstream.put("/old/SUMS", SUMS_V1))
    git(work, "add", "-A")
    git(
        work,
        "commit",
        "-q",
        "-m",
        "old",
        env={"GIT_COMMITTER_DATE": "2026-02-01T00:00:00Z", "GIT_AUTHOR_DATE": "2026-02-01T00:00:00Z"},
    )
    git(work, "checkout", "-q", "-b", "feature")
    write_recipe(work, "merged", upstream.put("/merged/SUMS", SUMS_V1), folder="recipes/m")
    git(work, "add", "-A")
    git(
        work,
        "commit",
        "-q",
        "-m",
        "written long ago",
        env={"GIT_COMMITTER_DATE": "2026-02-02T00:00:00Z", "GIT_AUTHOR_DATE": "2026-02-02T00:00:00Z"},
    )
    git(work, "checkout", "-q", "main")
    git(
        work,
        "merge",
        "-q",
        "--no-ff",
        "feature",
        "-m",
        "merge",
        env={"GIT_COMMITTER_DATE": "2026-03-01T06:00:00Z", "GIT_AUTHOR_DATE": "2026-03-01T06:00:00Z"},
    )
    write_recipe(work, "fresh", upstream.put("/fresh/SUMS", SUMS_V1))
    git(work, "add", "-A")
    git(
        work,
        "commit",
        "-q",
        "-m",
        "fresh",
        env={"GIT_COMMITTER_DATE": "2026-03-01T10:00:00Z", "GIT_AUTHOR_DATE": "2026-03-01T10:00:00Z"},
    )
    result = run(work, monkeypatch, capsys, "--since", "1d")
    assert sorted(f["recipe"] for f in result.findings()) == ["fresh", "merged"]
    everything = run(work, monkeypatch, capsys)
    assert sorted(f["recipe"] for f in everything.findings()) == ["fresh", "merged", "old"]


def test_since_outside_a_git_checkout_says_how_to_fix_it(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    write_recipe(work, "tool", upstream.put("/tool/SUMS", SUMS_V1))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(work.parent))
    result = run(work, monkeypatch, capsys, "--since", "1d")
    assert result.code == 2
    assert "fetch-depth: 0" in result.log


# --- report -------------------------------------------------------------------------------


def test_report_file_is_schema_valid_and_named_in_the_outputs(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/SUMS", SUMS_V1))
    write_recipe(work, "down", upstream.put("/down/SUMS", "x", status=502))
    out = work.parent / "custom-report.json"
    run(work, monkeypatch, capsys, "--report-file", str(out))
    # the helper passes its own --report-file first; the last one wins
    report = schema.load_json(out, "drift-report")
    assert report["counts"] == {
        "recipes": 2,
        "checked": 2,
        "ok": 0,
        "new": 1,
        "pending": 0,
        "drift": 0,
        "unverifiable": 1,
        "skipped": 0,
    }
    assert report["findings"][0]["status"] == "unverifiable"


def test_summary_has_a_counts_table_and_a_row_per_finding(work: Path, upstream: Upstream, monkeypatch, capsys) -> None:
    write_recipe(work, "tool", upstream.put("/tool/SUMS", SUMS_V1))
    result = run(work, monkeypatch, capsys)
    assert "| recipes | checksum files | ok | new | pending | drift | unverifiable | skipped |" in result.summary
    assert "🆕 new" in result.summary


def test_baseline_default_path_and_corpus_copy_work_offline(work: Path, corpus: Path, monkeypatch, capsys) -> None:
    shutil.copy(corpus / "recipes" / "zig.toml", work / "recipes" / "zig.toml")
    result = run(work, monkeypatch, capsys)
    assert result.code == 0
    assert [f["status"] for f in result.findings()] == ["skipped"]
    assert not (work / "checksum-baseline.json").exists()


def test_drift_report_shows_a_run_in_the_terminal_one_line_for_skipped_recipes(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "tool", upstream.put("/tool/SUMS", SUMS_V1))
    for n in range(3):
        (work / "recipes" / f"bare{n}.toml").write_text(f'[metadata]\nname = "bare{n}"\n')
    report_file = work.parent / "kept-report.json"
    run(work, monkeypatch, capsys, "--report-file", str(report_file))

    assert cli.main(["drift", "report", str(report_file)]) == 0
    quiet = capsys.readouterr().out.splitlines()
    assert cli.main(["drift", "report", str(report_file), "--verbose"]) == 0
    loud = capsys.readouterr().out.splitlines()

    assert quiet[0].startswith("drift report 2026-03-01T12:00:00Z: 0 drift, 0 unverifiable, 0 pending, 1 new")
    assert [line for line in quiet if line.startswith("skipped")] == [
        "skipped      3 recipe(s) with no checksum step for these platforms: bare0, bare1, bare2 (details: --verbose)"
    ]
    assert sum(line.startswith("skipped") for line in loud) == 3
    assert any("bare1 (bare1.toml): no step with a checksum_url for linux/amd64" in line for line in loud)


def test_drift_report_of_a_missing_file_says_which_file_to_give(work: Path, capsys) -> None:
    assert cli.main(["drift", "report", "nope.json"]) == 2
    assert "drift-report" in capsys.readouterr().err


def test_a_recipe_nested_2000_deep_is_reported_and_skipped_and_the_others_are_checked(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "good", upstream.put("/g/SHA256SUMS", SUMS_V1))
    (work / "recipes" / "deep.toml").write_text('[metadata]\nname = "deep"\n[x]\ny = ' + "[" * 2000 + "]" * 2000 + "\n")
    result = run(work, monkeypatch, capsys)
    assert result.code == 0, result.log
    statuses = {f["recipe"]: (f["status"], f.get("reason", "")) for f in result.findings()}
    assert statuses["good"][0] == "new"
    assert statuses["deep"][0] == "unverifiable" and "nested too deeply" in statuses["deep"][1]
    assert "deep.toml" in result.log  # annotated with its file


# --- a run that verified nothing ------------------------------------------------------------


def test_a_run_that_verified_nothing_is_a_warning_not_a_notice(work: Path, monkeypatch, capsys) -> None:
    write_recipe(work, "one", "http://127.0.0.1:9/one/SHA256SUMS")
    write_recipe(work, "two", "http://127.0.0.1:9/two/SHA256SUMS")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run(work, monkeypatch, capsys)
    assert result.code == 0
    [warning] = [line for line in result.log.splitlines() if "nothing was verified" in line]
    assert warning.startswith("::warning title=drift-monitor::")
    assert "all 2 checksum file(s)" in warning and "fail-on-unverifiable: true" in warning
    assert not [line for line in result.log.splitlines() if line.startswith("::notice title=drift-monitor::")]


def test_a_run_that_verified_some_says_what_it_could_not_verify_as_a_notice(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "good", upstream.put("/good/SHA256SUMS", SUMS_V1))
    write_recipe(work, "down", "http://127.0.0.1:9/down/SHA256SUMS")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run(work, monkeypatch, capsys)
    assert result.code == 0
    [notice] = [line for line in result.log.splitlines() if "could not be verified" in line]
    assert notice.startswith("::notice title=drift-monitor::") and "down:" in notice
    assert "nothing was verified" not in result.log


def test_fail_on_unverifiable_fails_the_step_when_something_was_unverifiable(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "good", upstream.put("/good/SHA256SUMS", SUMS_V1))
    write_recipe(work, "down", "http://127.0.0.1:9/down/SHA256SUMS")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run(work, monkeypatch, capsys, "--fail-on-unverifiable", "true")
    assert result.code == 1
    [error] = [line for line in result.log.splitlines() if line.startswith("::error title=drift-monitor::")]
    assert "fail-on-unverifiable is true" in error
    assert result.outputs["unverifiable-count"] == "1"
    assert baseline(work)["recipes"]["good"]  # what was verified is still recorded


def test_fail_on_unverifiable_passes_when_everything_was_verified(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    write_recipe(work, "good", upstream.put("/good/SHA256SUMS", SUMS_V1))
    monkeypatch.setenv("INPUT_FAIL_ON_UNVERIFIABLE", "true")
    result = run(work, monkeypatch, capsys)
    assert result.code == 0, result.log


@pytest.mark.parametrize("dry", [["--dry-run"], ["--dry-run", "true"]])
def test_a_dry_run_classifies_and_reports_but_writes_no_baseline_and_opens_no_issue(
    work: Path, upstream: Upstream, gh: GitHubStandIn, monkeypatch, capsys, dry: list[str]
) -> None:
    url = upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1)
    write_recipe(work, "tool", url)
    first = run(work, monkeypatch, capsys, *dry)
    assert first.code == 0 and [f["status"] for f in first.findings()] == ["new"]
    assert not (work / "checksum-baseline.json").exists() and journal.read() == []
    run(work, monkeypatch, capsys)  # the real first run records the baseline
    recorded = (work / "checksum-baseline.json").read_text()
    upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V2)
    result = run(work, monkeypatch, capsys, *dry, now=LATER, token=gh.token)
    assert result.outputs["drift"] == "true" and "dry run:" in result.log
    assert issues(gh) == [] and (work / "checksum-baseline.json").read_text() == recorded


def test_drift_accept_dry_run_says_what_it_would_accept_and_changes_nothing(
    work: Path, upstream: Upstream, monkeypatch, capsys
) -> None:
    url = upstream.put("/tool/1.0.0/SHA256SUMS", SUMS_V1)
    write_recipe(work, "tool", url)
    run(work, monkeypatch, capsys)
    recorded = (work / "checksum-baseline.json").read_text()
    entries = len(journal.read())
    capsys.readouterr()
    code = cli.main(["drift", "accept", "tool", "1.0.0", "--reason", "rebuilt", "--sha256", sha(SUMS_V2), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0 and f"would accept tool 1.0.0 {url}: {sha(SUMS_V1)} -> {sha(SUMS_V2)}" in out
    assert (work / "checksum-baseline.json").read_text() == recorded and len(journal.read()) == entries

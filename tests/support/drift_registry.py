"""A registry with drifting checksum files, the GitHub stand-in wired for drift-monitor, and one run of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batchops import cli
from batchops.adapters import github as gh_adapter
from batchops.adapters.runner import parse_output_file
from tests.support.github_api import GitHubStandIn
from tests.support.upstream import Upstream

RECORDED = "0" * 64
FIRST_SEEN = "2026-01-01T00:00:00Z"
NOW = "2026-03-02T12:00:00Z"


def wire(github_api: GitHubStandIn, monkeypatch: pytest.MonkeyPatch, repo: str) -> GitHubStandIn:
    """The stand-in with ``repo``; the client's waits move its clock (and GitHub's quotas) instead of sleeping.

    The waits are kept in ``github_api.waits``.
    """
    github_api.add_repo(repo)
    monkeypatch.setenv("GITHUB_API_URL", github_api.base_url)
    monkeypatch.setenv("GITHUB_REPOSITORY", repo)
    monkeypatch.setenv("BATCHOPS_GITHUB_WRITE_INTERVAL", "0")
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        github_api.advance(seconds)

    monkeypatch.setattr(gh_adapter, "sleep", wait)
    github_api.waits = waits  # type: ignore[attr-defined]
    return github_api


def sums(n: int) -> str:
    return f"{n:064x}  tool{n:03d}.zip\n"


def drifting(root: Path, upstream: Upstream, numbers: range, *, releases: str | None = None) -> None:
    """Recipes ``tool<n>`` whose checksum files no longer have the recorded bytes.

    ``releases``: the version comes from the latest GitHub release of that repository (tag v1.0.0).
    """
    folder = root / "recipes"
    folder.mkdir(parents=True, exist_ok=True)
    path = root / "checksum-baseline.json"
    baseline: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"version": 1, "recipes": {}}
    for n in numbers:
        name = f"tool{n:03d}"
        url = upstream.put(f"/{name}/1.0.0/SHA256SUMS", sums(n))
        version = f'github_repo = "{releases}"\ntag_prefix = "v"' if releases else 'version = "1.0.0"'
        (folder / f"{name}.toml").write_text(
            f'[metadata]\nname = "{name}"\n[version]\n{version}\n'
            f'[[steps]]\naction = "download"\nchecksum_url = "{url}"\n'
        )
        baseline["recipes"][name] = {
            "1.0.0": {url: {"sha256": RECORDED, "first_seen": FIRST_SEEN, "last_verified": FIRST_SEEN}}
        }
    path.write_text(json.dumps(baseline))


def run_monitor(
    root: Path,
    gh: GitHubStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    now: str = NOW,
) -> dict[str, Any]:
    """drift-monitor through the CLI in ``root``: exit code, outputs, log and report."""
    monkeypatch.chdir(root)
    out = root / "gh-output"
    out.write_text("")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    report = root / "report.json"
    capsys.readouterr()
    code = cli.main(
        ["drift-monitor", "--now", now, "--report-file", str(report), "--github-token", gh.token, "--timeout", "5"]
    )
    captured = capsys.readouterr()
    return {
        "code": code,
        "outputs": parse_output_file(out.read_text()),
        "log": captured.out + captured.err,
        "report": json.loads(report.read_text()),
    }

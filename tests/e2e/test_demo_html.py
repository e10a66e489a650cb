"""`batchops demo --html`: the demo's day as the status page, said where, readable in chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract.test_status_page import Dom
from tests.support.browser import PageServer, render

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_demo_html_writes_the_days_page_and_says_where(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_", "BATCHOPS_"))}
    env["PYTHONPATH"] = str(ROOT)
    page = tmp_path / "page"
    command = [sys.executable, "-m", "batchops", "demo", "--workdir", str(tmp_path / "w"), "--html", str(page)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"status page of the day (open it in a browser): {page / 'index.html'}" in proc.stdout
    assert (page / "feed.xml").is_file()
    with PageServer(page) as server:
        rendered = render(f"{server.url}/index.html")
        assert server.requests == ["/index.html"]
    assert rendered.console == []
    text = " ".join(Dom(rendered.dom).text)
    assert "Running" in text and "homebrew" in text
    assert "batchops rollback --batch-id 2026-06-22-homebrew-r0" in text  # the day's batches, with their rollback
    assert "sampling" in text  # the macOS budget crossed 80%
    assert "critical" in text  # homebrew's SLO after its failure burst
    assert "jq" in text and "drift" in text  # the checksum upstream re-published under jq 1.8.0

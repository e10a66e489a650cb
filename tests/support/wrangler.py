"""Run a Cloudflare Worker folder under ``wrangler dev --local`` with a local D1, for tests.

``WorkerServer(folder, workdir)`` copies the folder into ``workdir`` (the source stays
untouched), writes ``.dev.vars`` with a test token, applies the D1 migrations into a
persist directory, starts ``wrangler dev --local`` on a free 127.0.0.1 port in its own
process group and waits until the Worker answers. ``query(sql)`` reads the local D1's
SQLite file directly (a few milliseconds, where ``wrangler d1 execute`` takes about a
second); ``execute(sql)`` goes through ``wrangler d1 execute``. ``stop()`` kills the whole
process group (wrangler, esbuild, workerd). No network is needed: the ``Request.cf``
cache is pre-seeded, metrics and the update check are off.

Fixtures: ``production_worker`` (the first user's Worker, from
``../shared/corpus/tsuku/telemetry`` next to the repository, skipped when absent) and
``batchops_worker`` (``telemetry/``): one server each per test process, shared by the
modules that use them. Tests that use them carry ``pytest.mark.xdist_group("wrangler")``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.tools import wrangler_bin

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS = REPO_ROOT / "telemetry"
PRODUCTION = REPO_ROOT.parent / "shared" / "corpus" / "tsuku" / "telemetry"
BINDING = "BATCH_METRICS"
START_TIMEOUT = 60.0


class WranglerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_wrangler() -> Path:
    binary = wrangler_bin()
    if not binary.exists():
        pytest.skip(f"wrangler is not installed at {binary} (run: bash scripts/test-tools.sh)")
    return binary


def _writable_copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("node_modules", ".wrangler", ".dev.vars"))
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


class WorkerServer:
    """One Worker folder served by ``wrangler dev --local`` (see the module docstring)."""

    def __init__(
        self, source: Path, workdir: Path, *, token: str = "test-batch-metrics-token", persist: Path | None = None
    ) -> None:
        self.source = source
        self.workdir = workdir
        self.project = workdir / "worker"
        self.persist = persist or workdir / "state"
        self.token = token
        self.port = 0
        self.log_path = workdir / "wrangler-dev.log"
        self.start_seconds = 0.0
        self._process: subprocess.Popen[bytes] | None = None
        _writable_copy(source, self.project)
        (self.project / ".dev.vars").write_text(f"BATCH_METRICS_TOKEN={token}\n")
        # Miniflare fetches Request.cf from workers.cloudflare.com unless this cache is fresh.
        cf = self.project / "node_modules" / ".mf" / "cf.json"
        cf.parent.mkdir(parents=True, exist_ok=True)
        cf.write_text("{}")
        self.database = self._database_name()

    # -- wrangler ---------------------------------------------------------------------
    def _database_name(self) -> str:
        config = tomllib.loads((self.project / "wrangler.toml").read_text())
        for database in config.get("d1_databases", []):
            if database.get("binding") == BINDING:
                return str(database["database_name"])
        raise WranglerError(f"{self.source}/wrangler.toml binds no D1 database as {BINDING}")

    def _env(self) -> dict[str, str]:
        logs = self.workdir / "wrangler-logs"
        logs.mkdir(exist_ok=True)
        return {
            **os.environ,
            "WRANGLER_SEND_METRICS": "false",
            "CI": "true",
            "WRANGLER_LOG_PATH": str(logs),
            # Not the user's dev registry (~/.config/.wrangler/registry), which every
            # wrangler dev on the machine writes and watches: one per test server.
            "WRANGLER_REGISTRY_PATH": str(self.workdir / "wrangler-registry"),
            "NO_UPDATE_NOTIFIER": "1",
            "FORCE_COLOR": "0",
        }

    def wrangler(self, *args: str, timeout: float = 120) -> str:
        """Run one wrangler command in the copied project; its output, or WranglerError."""
        done = subprocess.run(
            [str(require_wrangler()), *args],
            cwd=self.project,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise WranglerError(f"wrangler {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout + done.stderr

    def apply_migrations(self) -> str:
        return self.wrangler("d1", "migrations", "apply", self.database, "--local", "--persist-to", str(self.persist))

    def execute(self, sql: str) -> list[dict[str, Any]]:
        """Run SQL through ``wrangler d1 execute --local`` (about a second; query() is faster)."""
        out = self.wrangler(
            "d1", "execute", self.database, "--local", "--persist-to", str(self.persist), "--json", "--command", sql
        )
        start = out.index("[")
        return [row for block in json.loads(out[start:]) for row in block.get("results", [])]

    # -- the server -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerServer:
        """Start ``wrangler dev``; a port taken between choosing and binding it is retried."""
        for attempt in range(3):
            offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            try:
                return self._start_once()
            except WranglerError:
                if attempt == 2 or "Address already in use" not in self.log()[offset:]:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self) -> WorkerServer:
        binary = require_wrangler()
        self.port = free_port()
        command = [
            str(binary), "dev", "--local", "--ip", "127.0.0.1", "--port", str(self.port),
            "--inspector-port", str(free_port()), "--persist-to", str(self.persist),
            "--show-interactive-dev-session=false", "--log-level", "info",
        ]  # fmt: skip
        began = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.project,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        """Until wrangler says it is ready on our port (not some other server's) and answers."""
        assert self._process is not None
        ready = f"Ready on {self.base_url}"
        while time.monotonic() - began < START_TIMEOUT:
            if self._process.poll() is not None:
                raise WranglerError(
                    f"wrangler dev exited with {self._process.returncode} before answering:\n{self.log()}"
                )
            if ready in self.log():
                try:
                    requests.get(self.base_url + "/health", timeout=5)
                    return
                except (requests.ConnectionError, requests.Timeout):
                    pass
            time.sleep(0.05)
        raise WranglerError(
            f"wrangler dev did not answer on {self.base_url} within {START_TIMEOUT:.0f}s:\n{self.log()}"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:  # workerd and esbuild share the group; make sure nothing outlives the test
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)

    def __enter__(self) -> WorkerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the local D1 -----------------------------------------------------------------
    def sqlite_file(self) -> Path:
        files = sorted((self.persist / "v3" / "d1").glob("*/*.sqlite"))
        if len(files) != 1:
            raise WranglerError(f"expected one local D1 file under {self.persist}, found {[str(f) for f in files]}")
        return files[0]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query on the local D1, as dicts."""
        connection = sqlite3.connect(self.sqlite_file(), timeout=10)
        try:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql, params)]
        finally:
            connection.close()

    # -- HTTP -------------------------------------------------------------------------
    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token if token is None else token}"}

    def post_metrics(
        self, payload: Any, *, key: str | None = None, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = {"Content-Type": "application/json", **self.auth(token), **kwargs.pop("headers", {})}
        if key is not None:
            headers["Idempotency-Key"] = key
        body = json.dumps(payload) if isinstance(payload, (dict, list)) else payload  # else bytes, text or chunks
        return requests.post(self.base_url + "/batch-metrics", data=body, headers=headers, timeout=30, **kwargs)


_RUNNING: dict[Path, WorkerServer] = {}


def shared(source: Path, config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> WorkerServer:
    """One server per Worker folder for the whole test process (several test modules use
    it; each test writes its own batch ids), stopped when pytest ends, even on failure."""
    server = _RUNNING.get(source)
    if server is None:
        server = WorkerServer(source, tmp_path_factory.mktemp(f"{source.name}-worker"))
        server.apply_migrations()
        server.start()
        _RUNNING[source] = server

        def stop() -> None:
            _RUNNING.pop(source, None)
            server.stop()

        config.add_cleanup(stop)
    return server


@pytest.fixture(scope="session")
def production_worker(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> WorkerServer:
    """The first user's production telemetry Worker, unchanged, on a fresh local D1."""
    if not (PRODUCTION / "wrangler.toml").is_file():
        pytest.skip(
            f"the production telemetry Worker is not at {PRODUCTION} (the shared corpus next to the repository)"
        )
    require_wrangler()
    return shared(PRODUCTION, pytestconfig, tmp_path_factory)


@pytest.fixture(scope="session")
def batchops_worker(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> WorkerServer:
    """batchops' own telemetry Worker (telemetry/) on a fresh local D1."""
    require_wrangler()
    return shared(OURS, pytestconfig, tmp_path_factory)

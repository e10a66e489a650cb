"""The world ``batchops demo`` plays in: a temporary registry and what runs against it.

A registry clone with a bare remote and its first recipe, a local upstream serving the
recipes' checksum files, and the harness that runs a step in the clone the way an
action does (its environment, output file and step summary). The day's story is
``batchops.commands.demo``.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from batchops.adapters import git as gitcmd
from batchops.adapters import runner
from batchops.core.control import dumps, new_document
from batchops.core.timeutil import iso

BOT_ENV = {
    "GIT_AUTHOR_NAME": "registry-bot",
    "GIT_AUTHOR_EMAIL": "bot@registry.invalid",
    "GIT_COMMITTER_NAME": "registry-bot",
    "GIT_COMMITTER_EMAIL": "bot@registry.invalid",
}


# --- a local upstream for checksum files ---------------------------------------------


class Upstream:
    """Serves ``/<name>/<version>/SHA256SUMS`` from memory on 127.0.0.1."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = upstream.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket.settimeout(1.0)  # accept() never waits for ever (see adapters/metrics_server)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- running a step the way an action does --------------------------------------------


@dataclass
class Step:
    name: str
    code: int
    outputs: dict[str, str]
    log: str


@dataclass
class Demo:
    work: Path
    repo: Path
    summary: Path
    upstream: Upstream
    entry: Callable[[list[str]], int]  # the CLI's entry (argv -> exit code), handed down by the CLI
    steps: list[Step] = field(default_factory=list)
    timeline: list[list[str]] = field(default_factory=list)

    def run(self, *argv: str, now: datetime | None = None, stdin: str | None = None) -> Step:
        """Run ``batchops ARGV`` in-process in the registry clone, as a workflow step.

        Through the entry the CLI handed to this command (``args.entry``): a command never imports the CLI.
        """
        output = self.work / "step-output"
        output.write_text("")
        step_summary = self.work / "step-summary.part"
        step_summary.write_text("")
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(step_summary),
            "RUNNER_TEMP": str(self.work / "runner-temp"),
            "BATCHOPS_JOURNAL": str(self.work / "runner-temp" / "journal.jsonl"),
            "GITHUB_ACTOR": "registry-bot",
            **BOT_ENV,
        }
        if now is not None:
            env["BATCHOPS_NOW"] = iso(now)
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = iso(now)  # commits at the story's time
        buffer = io.StringIO()
        with (
            runner.scoped_environment(env),
            _cwd(self.repo),
            contextlib.redirect_stdout(buffer),
            contextlib.redirect_stderr(buffer),
        ):
            if stdin is not None:
                import sys

                saved, sys.stdin = sys.stdin, io.StringIO(stdin)
            try:
                code = self.entry(list(argv))
            finally:
                if stdin is not None:
                    sys.stdin = saved
        outputs = runner.parse_output_file(output.read_text())
        part = step_summary.read_text()
        if part.strip():
            with self.summary.open("a", encoding="utf-8") as handle:
                handle.write(part.rstrip() + "\n\n")
        step = Step(argv[0], code, outputs, buffer.getvalue())
        self.steps.append(step)
        return step

    def git(self, *args: str) -> str:
        return gitcmd.text(self.repo, list(args), env=BOT_ENV).strip()


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    saved = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


# --- the registry ------------------------------------------------------------------------


def recipe(name: str, version: str, upstream: str) -> str:
    return (
        f'[metadata]\nname = "{name}"\ndescription = "{name}, generated by the demo batch"\n\n'
        f'[version]\nversion = "{version}"\n\n'
        '[[steps]]\naction = "download"\n'
        f'url = "{upstream}/{name}/{{version}}/{name}-{{version}}-{{os}}-{{arch}}.tar.gz"\n'
        f'checksum_url = "{upstream}/{name}/{{version}}/SHA256SUMS"\n'
    )


def publish(upstream: Upstream, name: str, version: str, marker: str = "") -> None:
    import hashlib

    digest = hashlib.sha256(f"{name}-{version}{marker}".encode()).hexdigest()
    upstream.files[f"/{name}/{version}/SHA256SUMS"] = f"{digest}  {name}-{version}-linux-amd64.tar.gz\n".encode()


def build_registry(work: Path, upstream: Upstream) -> Path:
    bare = work / "registry.git"
    repo = work / "registry"
    gitcmd.run(work, ["init", "-q", "--bare", "-b", "main", str(bare)], env=BOT_ENV)
    gitcmd.run(work, ["init", "-q", "-b", "main", str(repo)], env=BOT_ENV)
    (repo / "recipes").mkdir()
    (repo / "recipes" / "jq.toml").write_text(recipe("jq", "1.7.1", upstream.url))
    publish(upstream, "jq", "1.7.1")
    (repo / "batch-control.json").write_text(dumps(new_document()))
    for args in (
        ["add", "-A"],
        ["commit", "-q", "-m", "registry: initial recipes"],
        ["remote", "add", "origin", str(bare)],
        ["push", "-q", "origin", "main"],
    ):
        gitcmd.run(repo, args, env=BOT_ENV)
    return repo

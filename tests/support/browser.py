"""Debian's chromium, headless, as the status page's reader: the DOM it built, its console, what it fetched.

The page is served from a folder by a server on 127.0.0.1 that records every path asked for, so a
request the page should never make (a script, a style, a font, an image, a beacon) is seen; the
console (CSP refusals, script errors) comes from chromium's log on stderr.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Self

import pytest

from tests.support.local_server import LocalServer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
]


def need_chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        pytest.skip("chromium is not installed (scripts/test-tools.sh installs it)")
    return path


class PageServer(LocalServer):
    """Serves ``folder``; ``requests`` lists every path asked for, in order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: list[str] = []

    def start(self) -> Self:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append(self.path)
                target = server.folder / self.path.lstrip("/").split("?", 1)[0]
                if not target.is_file() or server.folder not in target.resolve().parents:
                    self.send_error(404)
                    return
                data = target.read_bytes()
                kind = "text/html; charset=utf-8" if target.suffix == ".html" else "application/atom+xml"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return self.serve(Handler)


@dataclass
class Rendered:
    dom: str
    console: list[str]  # chromium's log lines about the page: console messages, CSP refusals, errors


def _console(stderr: str) -> list[str]:
    words = ("CONSOLE", "Content Security Policy", "Uncaught", "Refused")
    return [line for line in stderr.splitlines() if any(word in line for word in words)]


def render(url: str, *, screenshot: Path | None = None, size: str = "1200,2600") -> Rendered:
    chromium = need_chromium()
    with tempfile.TemporaryDirectory() as profile:
        base = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size}"]
        dumped = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=False)
        assert dumped.returncode == 0, dumped.stderr[-2000:]
        console = _console(dumped.stderr)
        if screenshot is not None:
            shot = subprocess.run(
                [*base, f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=120, check=False
            )
            assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
            console += _console(shot.stderr)
    return Rendered(dumped.stdout, console)

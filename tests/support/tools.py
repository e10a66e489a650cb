"""Where the test suite finds the node tools that scripts/test-tools.sh installed."""

from __future__ import annotations

import os
from pathlib import Path


def tools_dir() -> Path:
    base = os.environ.get("BATCHOPS_TEST_TOOLS") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "batchops" / "test-tools"
    )
    return Path(base) / "current" / "node_modules"


def wrangler_bin() -> Path:
    return tools_dir() / ".bin" / "wrangler"


def github_openapi_file() -> Path:
    """GitHub's official REST description (npm package @octokit/openapi), dereferenced."""
    return tools_dir() / "@octokit" / "openapi" / "generated" / "api.github.com.deref.json"

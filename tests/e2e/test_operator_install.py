"""The operator's install, as documented: one pipx command in a fresh clone with an empty HOME, then
`batchops --version` in a new login shell, from a checkout and from a release tag.

The account is as fresh as after `python3 -m pip install --user pipx`: `python3` can run pipx as a module,
but no `pipx` command is on PATH (it sits in ~/.local/bin until `ensurepath` and a new shell)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "operators.md", ROOT / "README.md"]
GITHUB = "https://github.com/batchops/batchops"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

pytestmark = pytest.mark.slow


def documented_commands(doc: Path) -> list[str]:
    """The commands of the fenced block after the ``<!-- install-command -->`` marker, comments stripped."""
    text = doc.read_text()
    found = re.search(r"<!-- install-command -->\n```\w*\n(.*?)```", text, re.S)
    assert found, f"{doc.name} has no install command block"
    return [line.split("  #")[0].strip() for line in found.group(1).splitlines() if line.strip()]


def _pipx() -> str:
    found = shutil.which("pipx") or str(Path(sys.executable).parent / "pipx")
    if not Path(found).exists():
        pytest.skip("pipx is not installed (it comes with the test extra: pip install -e '.[test]')")
    return found


def _fresh_clone(tmp_path: Path) -> Path:
    clone = tmp_path / "batchops"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):  # what this checkout has, committed or not
        shutil.copy(ROOT / name, clone / name)
    return clone


def _operator_env(home: Path, pipx: str) -> dict[str, str]:
    """HOME empty; on PATH a `python3` that has pipx as a module, and no `pipx` command."""
    home.mkdir()
    tools = home.parent / "operator-bin"
    tools.mkdir()
    python3 = tools / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{Path(pipx).parent / "python"}" "$@"\n')
    python3.chmod(0o755)
    keep = ("PIP_", "SSL_", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    env.update(HOME=str(home), PATH=f"{tools}:/usr/local/bin:/usr/bin:/bin", LANG="C.UTF-8")
    assert shutil.which("pipx", path=env["PATH"]) is None, "the operator's PATH must not have a pipx command"
    return env


def _run(command: str, cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(
        command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"`{command}` failed:\n{proc.stdout}\n{proc.stderr}"


def _new_login_shell(home: Path, command: str) -> subprocess.CompletedProcess[str]:
    """A new shell as the operator opens one: nothing but HOME and the system PATH, login profile read."""
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(["bash", "-lc", command], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_both_guides_document_the_same_pipx_install() -> None:
    commands = [documented_commands(doc) for doc in DOCS]
    assert commands[0] == commands[1]
    assert commands[0] == [f"python3 -m pipx install git+{GITHUB}@v{VERSION}", "python3 -m pipx ensurepath"]
    for doc in [*DOCS, ROOT / "docs" / "install.md", ROOT / "docs" / "migration.md"]:
        text = doc.read_text()
        assert not re.search(r"(?<!-m )\bpipx (install|ensurepath)", text), f"{doc.name}: call pipx as python3 -m pipx"
    for doc in DOCS:
        text = doc.read_text()
        assert (
            "`python3 -m pipx install .`" in text
            and "pip install batchops" not in text
            and "scripts/install.sh`" not in text
        )


def test_the_documented_checkout_install_puts_batchops_on_path_in_a_new_shell(tmp_path: Path) -> None:
    pipx = _pipx()
    clone = _fresh_clone(tmp_path)
    home = tmp_path / "home"
    env = _operator_env(home, pipx)
    for command in documented_commands(DOCS[0]):
        _run("python3 -m pipx install ." if command.startswith("python3 -m pipx install git+") else command, clone, env)
    shell = _new_login_shell(home, f"batchops --version && batchops validate {clone / 'batch-control.json'}")
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert shell.stdout.splitlines()[0] == f"batchops {VERSION}"
    assert "ok" in shell.stdout  # the schemas ship inside the package


def test_the_documented_tag_install_works_from_the_tag(tmp_path: Path) -> None:
    pipx = _pipx()
    clone = _fresh_clone(tmp_path)
    subprocess.run(["git", "-C", str(clone), "add", "-A"], check=True)
    commit = [
        "git",
        "-C",
        str(clone),
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "release",
        "--allow-empty",
    ]
    subprocess.run(commit, check=True)
    subprocess.run(["git", "-C", str(clone), "tag", f"v{VERSION}"], check=True)
    home = tmp_path / "home"
    env = _operator_env(home, pipx)
    for command in documented_commands(DOCS[0]):
        _run(command.replace(GITHUB, f"file://{clone}"), tmp_path, env)
    shell = _new_login_shell(home, "batchops --version")
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert shell.stdout.strip() == f"batchops {VERSION}"

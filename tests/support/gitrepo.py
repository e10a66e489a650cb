"""Real git repositories and bare remotes on disk, driven through the git CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.test",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.test",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=full_env, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr}")
    return proc.stdout.strip()


def make_remote(
    tmp_path: Path, files: dict[str, str], *, name: str = "remote.git", branch: str = "main"
) -> tuple[Path, Path]:
    """A bare remote seeded with ``files`` and a clone of it. Returns (bare, clone)."""
    bare = tmp_path / name
    git(tmp_path, "init", "-q", "--bare", "-b", branch, str(bare))
    seed = tmp_path / f"{name}-seed"
    git(tmp_path, "init", "-q", "-b", branch, str(seed))
    for rel, text in files.items():
        target = seed / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "-q", "origin", branch)
    clone = tmp_path / f"{name}-clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    return bare, clone


def clone(bare: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", str(bare), str(dest))
    return dest


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


IDENTITY_VARIABLES = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL")


def forget_git_identity(tmp_path: Path, monkeypatch: Any) -> None:
    """Like a fresh runner: no global or system git config and no identity in the environment."""
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for key in IDENTITY_VARIABLES:
        monkeypatch.delenv(key, raising=False)


def race_first_push(mocker: Any, git_class: Any, other: Path, branch: str = "main") -> None:
    """Patch ``git_class.run`` so that ``other`` pushes ``branch`` just before the first push through it."""
    original = git_class.run
    raced: list[bool] = []

    def run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if args and args[0] == "push" and not raced:
            raced.append(True)
            git(other, "push", "-q", "origin", branch)
        return original(self, *args, **kwargs)

    mocker.patch.object(git_class, "run", run)


def operator_checkout(tmp_path: Path, control_text: str) -> Path:
    """An operator's clone of a bare remote holding ``control_text`` as batch-control.json, with a git identity."""
    _, work = make_remote(tmp_path, {"batch-control.json": control_text})
    git(work, "config", "user.name", "Ada Operator")
    git(work, "config", "user.email", "ada@example.org")
    return work

"""The release and CI workflows: lint clean, and the release notes are the tag's CHANGELOG section."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        pytest.fail(f"{name} is not installed; `pip install -e .[test]` installs it")
    return path


def test_release_and_ci_workflows_pass_actionlint_and_zizmor() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "release.yml"}
    lint = subprocess.run(
        [_tool("actionlint"), "-no-color", *map(str, WORKFLOWS)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", *map(str, WORKFLOWS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0 and "No findings to report" in audit.stdout + audit.stderr, audit.stdout + audit.stderr


def _release_steps() -> dict[str, dict]:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    return {step.get("name", ""): step for step in workflow["jobs"]["release"]["steps"]}


def test_every_job_has_minimal_permissions_and_only_release_may_write() -> None:
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {}, path.name
        for name, job in workflow["jobs"].items():
            special = {
                ("release.yml", "release"): {"contents": "write"},
                ("release.yml", "pypi"): {"id-token": "write"},
            }
            allowed = special.get((path.name, name), {"contents": "read"})
            assert job["permissions"] == allowed, f"{path.name}: {name}"


def test_the_package_is_published_with_trusted_publishing_from_the_pypi_environment_only() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    jobs = workflow["jobs"]
    publishing = [name for name, job in jobs.items() if "id-token" in job.get("permissions", {})]
    assert publishing == ["pypi"]
    pypi = jobs["pypi"]
    assert pypi["environment"]["name"] == "pypi"
    assert "release" in pypi["needs"] and "build" in pypi["needs"]
    [publish] = [step["uses"] for step in pypi["steps"] if "gh-action-pypi-publish" in step.get("uses", "")]
    assert re.fullmatch(r"pypa/gh-action-pypi-publish@[0-9a-f]{40}", publish), "pinned by commit SHA"
    assert not any("with" in step and "password" in step["with"] for step in pypi["steps"]), "no API token"
    build = "\n".join(step.get("run", "") for step in jobs["build"]["steps"])
    assert "python -m build" in build and "batchops/schemas/" in build


def _notes(tmp_path: Path, tag: str, changelog: str | None = None) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "checkout"
    work.mkdir(exist_ok=True)
    (work / "CHANGELOG.md").write_text(changelog if changelog is not None else (ROOT / "CHANGELOG.md").read_text())
    script = _release_steps()["release notes from CHANGELOG.md"]["run"]
    env = {"PATH": os.environ["PATH"], "TAG": tag, "RUNNER_TEMP": str(tmp_path)}
    return subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True, check=False)


def test_release_notes_are_the_changelog_section_of_the_tag(tmp_path: Path) -> None:
    changelog = (
        "# Changelog\n\n## [Unreleased]\n\n- next\n\n"
        "## [1.1.0] - 2027-01-04\n\n### Fixed\n\n- b\n\n"
        "## [1.0.0] - 2026-12-01\n\n- a\n\n[1.0.0]: x\n"
    )
    run = _notes(tmp_path, "v1.1.0", changelog)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "notes.md").read_text() == "\n### Fixed\n\n- b\n\n"


def test_the_1_0_0_section_of_the_changelog_makes_release_notes(tmp_path: Path) -> None:
    run = _notes(tmp_path, "v1.0.0")
    assert run.returncode == 0, run.stdout + run.stderr
    notes = (tmp_path / "notes.md").read_text()
    assert "actions/preflight" in notes and "## [" not in notes
    assert "[1.0.0]:" not in notes  # the link references at the end are not part of the section


def test_a_tag_without_a_changelog_section_fails_the_release(tmp_path: Path) -> None:
    run = _notes(tmp_path, "v9.9.9")
    assert run.returncode == 1
    assert "::error file=CHANGELOG.md" in run.stdout and "## [9.9.9]" in run.stdout


def test_a_tag_that_is_not_a_version_fails_the_release(tmp_path: Path) -> None:
    run = _notes(tmp_path, "v1.0.0;echo")
    assert run.returncode == 1
    assert "is not a version tag" in run.stdout


def _version_check(
    tmp_path: Path, tag: str, pyproject_version: str, module_version: str
) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "checkout"
    (work / "batchops").mkdir(parents=True, exist_ok=True)
    (work / "pyproject.toml").write_text(f'[project]\nname = "batchops"\nversion = "{pyproject_version}"\n')
    (work / "batchops" / "__init__.py").write_text(f'"""batchops."""\n\n__version__ = "{module_version}"\n')
    script = _release_steps()["the tag is the version of the package"]["run"]
    env = {"PATH": os.environ["PATH"], "TAG": tag}
    return subprocess.run(["bash", "-e", "-c", script], cwd=work, env=env, capture_output=True, text=True, check=False)


def test_a_release_needs_the_tag_to_be_the_package_version(tmp_path: Path) -> None:
    assert _version_check(tmp_path, "v1.2.0", "1.2.0", "1.2.0").returncode == 0
    stale = _version_check(tmp_path, "v1.2.0", "1.1.0", "1.2.0")
    assert stale.returncode == 1
    assert "pyproject.toml says '1.1.0'" in stale.stdout and "set both to 1.2.0" in stale.stdout
    assert _version_check(tmp_path, "v1.2.0", "1.2.0", "0.1.0").returncode == 1


# --- the major tag: v1 follows the newest 1.x release ----------------------------------------------

FAKE_GH = r'''#!/usr/bin/env python3
"""gh api for git refs, as GitHub answers, on a bare repository; every call is logged."""
import json, os, re, subprocess, sys

repo = os.environ["FAKE_GH_REPO"]
args = sys.argv[1:]
assert args[0] == "api", args
args = args[1:]
method, fields, path = "GET", {}, None
while args:
    a = args.pop(0)
    if a == "--method":
        method = args.pop(0)
    elif a in ("-f", "-F"):
        key, _, value = args.pop(0).partition("=")
        fields[key] = value
    else:
        path = a
with open(os.environ["FAKE_GH_LOG"], "a") as log:
    log.write(json.dumps({"method": method, "path": path, "fields": fields}) + "\n")

def refs():
    out = subprocess.run(
        ["git", "-C", repo, "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.split(" ") for line in out.splitlines())

def fail(status, message):
    print(json.dumps({"message": message, "status": str(status)}))
    print(f"gh: {message} (HTTP {status})", file=sys.stderr)
    sys.exit(1)

prefix = "repos/" + os.environ["GITHUB_REPOSITORY"] + "/git/"
assert path.startswith(prefix), path
rest = path[len(prefix):]
known = refs()
if method == "GET" and rest.startswith("ref/"):  # git/get-ref: exact match only
    ref = "refs/" + rest[len("ref/"):]
    if ref in known:
        print(json.dumps({"ref": ref, "object": {"sha": known[ref], "type": "commit"}}))
        sys.exit(0)
    fail(404, "Not Found")
if method == "GET" and rest.startswith("refs/"):  # undocumented: GitHub answers the refs that start with it
    ref = "refs/" + rest[len("refs/"):]
    if ref in known:
        print(json.dumps({"ref": ref, "object": {"sha": known[ref]}}))
        sys.exit(0)
    matching = [r for r in known if r.startswith(ref)]
    if matching:
        print(json.dumps([{"ref": r, "object": {"sha": known[r]}} for r in matching]))
        sys.exit(0)
    fail(404, "Not Found")
if method == "PATCH" and rest.startswith("refs/"):  # git/update-ref
    ref = "refs/" + rest[len("refs/"):]
    if ref not in known:
        fail(422, "Reference does not exist")
    subprocess.run(["git", "-C", repo, "update-ref", ref, fields["sha"]], check=True)
    sys.exit(0)
if method == "POST" and rest == "refs":  # git/create-ref
    if fields["ref"] in known:
        fail(422, "Reference already exists")
    subprocess.run(["git", "-C", repo, "update-ref", fields["ref"], fields["sha"]], check=True)
    sys.exit(0)
fail(404, "Not Found")
'''
DOCUMENTED = {("GET", "ref/"): "git/get-ref", ("PATCH", "refs/"): "git/update-ref", ("POST", "refs"): "git/create-ref"}


class Published:
    """The published repository (bare) and a maintainer's clone that pushes tags to it."""

    def __init__(self, tmp_path: Path) -> None:
        self.bare = tmp_path / "published.git"
        self.work = tmp_path / "maintainer"
        self.tmp = tmp_path
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], check=True)
        subprocess.run(["git", "clone", "-q", str(self.bare), str(self.work)], check=True, capture_output=True)
        subprocess.run(
            ["git", "symbolic-ref", "HEAD", "refs/heads/main"], cwd=self.work, check=True
        )  # whatever git's default
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        (self.bin / "gh").write_text(FAKE_GH)
        (self.bin / "gh").chmod(0o755)
        self.log = tmp_path / "gh.log"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "m",
            "GIT_AUTHOR_EMAIL": "m@example.invalid",
            "GIT_COMMITTER_NAME": "m",
            "GIT_COMMITTER_EMAIL": "m@example.invalid",
        }
        return subprocess.run(
            ["git", *args], cwd=cwd or self.work, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def tag(self, tag: str) -> str:
        """Commit on the current branch, tag it (annotated), push both; the commit's SHA."""
        self.git("commit", "-q", "--allow-empty", "-m", f"release {tag}")
        self.git("tag", "-a", tag, "-m", f"batchops {tag}")
        self.git("push", "-q", "origin", "HEAD", tag)
        return self.git("rev-parse", "HEAD")

    def major(self, name: str) -> str | None:
        out = subprocess.run(
            ["git", "-C", str(self.bare), "rev-parse", "--verify", "-q", f"refs/tags/{name}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip() or None

    def release(self, tag: str, sha: str) -> dict[str, str]:
        """The release job's last steps for ``tag``, in a fresh checkout with every tag (fetch-depth: 0)."""
        checkout = self.tmp / f"checkout-{tag}"
        subprocess.run(["git", "clone", "-q", str(self.bare), str(checkout)], check=True, capture_output=True)
        subprocess.run(["git", "checkout", "-q", tag], cwd=checkout, check=True, capture_output=True)
        steps = _release_steps()
        output = self.tmp / f"output-{tag}"
        output.write_text("")
        summary = self.tmp / f"summary-{tag}"
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "TAG": tag,
            "SHA": sha,
            "GH_TOKEN": "t",
            "GITHUB_REPOSITORY": "batchops/batchops",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "FAKE_GH_REPO": str(self.bare),
            "FAKE_GH_LOG": str(self.log),
        }
        newest = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", steps["the newest release of its major version"]["run"]],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert newest.returncode == 0, newest.stdout + newest.stderr
        outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
        move = steps["move the major tag"]
        assert move["if"] == "${{ steps.newest.outputs.move == 'true' }}"
        if outputs["move"] == "true":
            moved = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", move["run"]],
                cwd=checkout,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert moved.returncode == 0, moved.stdout + moved.stderr
        return {**outputs, "notice": newest.stdout}


def test_the_major_tag_follows_the_newest_release_of_its_major_and_nothing_older(tmp_path: Path) -> None:
    published = Published(tmp_path)

    first = published.tag("v1.0.0")
    assert published.release("v1.0.0", first) == {"move": "true", "latest": "true", "notice": ""}
    assert published.major("v1") == first  # created on the first release

    minor = published.tag("v1.1.0")
    published.release("v1.1.0", minor)
    assert published.major("v1") == minor  # moved

    published.git("switch", "-q", "-c", "maint-1.0", "v1.0.0")
    patch = published.tag("v1.0.1")  # a fix of the older minor, tagged later
    outcome = published.release("v1.0.1", patch)
    assert (outcome["move"], outcome["latest"]) == ("false", "false")
    assert "v1.0.1 is not the newest v1 release (v1.1.0)" in outcome["notice"]
    assert published.major("v1") == minor  # v1 did not go back

    published.git("switch", "-q", "main")
    candidate = published.tag("v1.2.0-rc.1")
    assert published.release("v1.2.0-rc.1", candidate)["move"] == "false"
    assert published.major("v1") == minor

    for minor_number in (9, 10):  # v1.10.0 is newer than v1.9.0
        sha = published.tag(f"v1.{minor_number}.0")
        published.release(f"v1.{minor_number}.0", sha)
    assert published.major("v1") == sha

    two = published.tag("v2.0.0")
    assert published.release("v2.0.0", two)["latest"] == "true"
    assert (published.major("v2"), published.major("v1")) == (two, sha)

    published.git("switch", "-q", "-c", "maint-1.x", "v1.10.0")
    late = published.tag("v1.10.1")
    late_outcome = published.release("v1.10.1", late)
    assert (late_outcome["move"], late_outcome["latest"]) == ("true", "false")  # v1 moves; Latest stays on v2.0.0
    assert published.major("v1") == late


def test_the_major_tag_is_moved_only_through_operations_in_githubs_description(tmp_path: Path) -> None:
    from tests.support.tools import github_openapi_file

    published = Published(tmp_path)
    for tag in ("v1.0.0", "v1.1.0"):
        published.release(tag, published.tag(tag))

    calls = [json.loads(line) for line in published.log.read_text().splitlines()]
    prefix = "repos/batchops/batchops/git/"
    used = set()
    for call in calls:
        rest = call["path"][len(prefix) :]
        kind = next(
            (
                op
                for (method, start), op in DOCUMENTED.items()
                if call["method"] == method and (rest == start or (start.endswith("/") and rest.startswith(start)))
            ),
            None,
        )
        assert kind, f"{call['method']} {call['path']} is not an operation of GitHub's REST description"
        used.add(kind)
    assert used == {"git/get-ref", "git/create-ref", "git/update-ref"}
    description = github_openapi_file()
    if description.exists():
        text = description.read_text(encoding="utf-8")
        assert all(re.search(rf'"operationId":\s*"{re.escape(op)}"', text) for op in used)

"""The operators' guide (docs/operators.md, the runbook) is executed: its commands and their outputs are the tool's.

Block convention (also described at the top of the runbook):

* A fenced block whose info string is ``console`` is executed. Each line starting
  with ``$ `` is a command (a line ending in ``\\`` continues on the next line);
  the lines after it, up to the next command, are its expected output (stdout and
  stderr together, as a terminal shows them). A last output line ``[exit N]``
  means the command exits with status N; otherwise it must exit 0.
* ``console github`` blocks need a GitHub repository (the ``gh`` CLI, an issue, a
  workflow run): they are not executed here, and their output is illustrative.
  Any other word after ``console`` names a tool the block needs (``console sqlite3``):
  without it installed the block is not run and the test ends as skipped.
* Blocks run in file order against one registry: a clone of a bare remote (on disk),
  built by ``build_registry`` below, with the clock fixed at ``NOW``, git's user set
  to the operator, no ``GITHUB_*`` variables, and ``batchops`` on ``PATH`` running
  this checkout. Upstream checksum files are served by a local HTTP server that acts
  as the HTTP proxy, so recipe URLs stay the real-looking ``http://releases.example.org/…``.
* Volatile parts are normalised before comparing: ``<repo>`` (the registry checkout),
  ``<remote>`` (its bare remote), ``<tmp>`` (the temp folder), ``<op-id>`` (operation
  ids), ``<sha>`` (commit ids, full or abbreviated).

``RUNBOOK_RECORD=1 pytest tests/e2e/test_operators_doc.py`` rewrites the expected outputs in
docs/operators.md from a fresh run; review the diff before committing it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from batchops.cli import COMMANDS
from batchops.core import control
from tests.support.gitrepo import git
from tests.support.upstream import Upstream

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = REPO_ROOT / "docs" / "operators.md"
README_SECTION = REPO_ROOT / "README.md"
NOW = "2026-06-26T03:00:00Z"
OPERATOR = ("Ada Operator", "ada@example.org")
BOT = ("batch-bot", "batch-bot@example.org")
UPSTREAM_HOST = "http://releases.example.org"

# --- the block format --------------------------------------------------------------------

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,})console(?P<info>[^`]*)$")
EXIT = re.compile(r"^\[exit (?P<code>\d+)\]$")


@dataclass
class Step:
    command: str  # as written (continuation lines joined with newlines)
    expected: list[str]
    exit_code: int = 0
    line: int = 0  # 1-based line of the command in the runbook


@dataclass
class Block:
    start: int  # index of the opening fence line
    end: int  # index of the closing fence line
    indent: str
    fence: str
    flags: list[str]
    steps: list[Step] = field(default_factory=list)

    @property
    def needs_github(self) -> bool:
        return "github" in self.flags

    @property
    def missing_tools(self) -> list[str]:
        """Other flags name the CLI tools the block needs besides batchops and git (e.g. sqlite3)."""
        return [tool for tool in self.flags if tool != "github" and shutil.which(tool) is None]


def parse_blocks(lines: list[str]) -> list[Block]:
    """The ```console blocks (indented ones inside lists too; a longer fence may hold ``` in outputs)."""
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, indent, fence = i, match["indent"], match["fence"]
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i] != indent + fence:
            line = lines[i]
            if line.strip() and not line.startswith(indent):
                raise AssertionError(f"docs/operators.md:{i + 1}: line is less indented than its console block")
            body.append(line[len(indent) :])
            i += 1
        if i == len(lines):
            raise AssertionError(f"docs/operators.md:{start + 1}: console block is not closed by {indent + fence!r}")
        block = Block(start, i, indent, fence, match["info"].split())
        block.steps = parse_steps(body, start)
        blocks.append(block)
        i += 1
    return blocks


def parse_steps(body: list[str], start: int) -> list[Step]:
    steps: list[Step] = []
    j = 0
    while j < len(body):
        line = body[j]
        if not line.startswith("$ "):
            raise AssertionError(
                f"docs/operators.md:{start + 2 + j}: a console block must start with a `$ ` command, found {line!r}"
            )
        command, first = [line[2:]], start + 2 + j
        while command[-1].endswith("\\") and j + 1 < len(body):
            j += 1
            command.append(body[j])
        j += 1
        expected: list[str] = []
        while j < len(body) and not body[j].startswith("$ "):
            expected.append(body[j])
            j += 1
        code = 0
        if expected and EXIT.match(expected[-1]):
            code = int(EXIT.match(expected[-1])["code"])  # type: ignore[index]
            expected = expected[:-1]
        steps.append(Step("\n".join(command), expected, code, first))
    return steps


def render_block(block: Block) -> list[str]:
    """The block with its recorded outputs; the fence grows when an output holds a fence."""
    body: list[str] = []
    for step in block.steps:
        body.append("$ " + step.command)
        body.extend(step.expected)
        if step.exit_code:
            body.append(f"[exit {step.exit_code}]")
    longest = max([len(m.group(0)) for line in body if (m := re.match(r"^\s*(`{3,})", line))] or [0])
    fence = "`" * max(3, longest + 1) if longest else block.fence
    opening = block.indent + fence + " ".join(["console", *block.flags])
    return [opening] + [(block.indent + line) if line else "" for line in body] + [block.indent + fence]


# --- the registry the runbook runs against -----------------------------------------------


def recipe(name: str, version: str, *, checksum: bool = True, ecosystem: str = "homebrew", extra: str = "") -> str:
    text = (
        f'[metadata]\nname = "{name}"\ndescription = "{name} (generated by the {ecosystem} batch)"\n\n'
        f'[version]\nversion = "{version}"\n\n'
    )
    text += '[[steps]]\naction = "download"\n'
    text += f'url = "{UPSTREAM_HOST}/{name}/{version}/{name}_{version}_{{os}}_{{arch}}.tar.gz"\n'
    if checksum:
        text += f'checksum_url = "{UPSTREAM_HOST}/{name}/{version}/{name}_{version}_SHA256SUMS"\n'
    text += f'\n[verify]\ncommand = "{name} --version"\n{extra}'
    return text


def sums(name: str, version: str, salt: str = "") -> str:
    digest = hashlib.sha256(f"{name}-{version}{salt}".encode()).hexdigest()
    return f"{digest}  {name}_{version}_linux_amd64.tar.gz\n"


UPSTREAM_RECIPES = {"boundary": "0.19.2", "nomad": "1.10.1", "k9s": "0.50.6"}
SEED_RECIPES = {
    "recipes/boundary.toml": recipe("boundary", "0.19.2"),
    "recipes/nomad.toml": recipe("nomad", "1.10.1"),
    "recipes/typescript.toml": recipe("typescript", "5.8.3", checksum=False, ecosystem="npm"),
    "recipes/ripgrep.toml": recipe("ripgrep", "14.1.1", checksum=False, ecosystem="crates.io"),
}
CONTROL = control.new_document()

# (ecosystem, day, passed, failed, macOS minutes, Linux minutes), one batch a day at 20:00
# except the npm probe at 02:00 on the 26th. The week of the budget starts Monday 2026-06-22.
HISTORY: list[tuple[str, str, int, int, float, float]] = []
for _day in range(19, 26):
    HISTORY.append(("homebrew", f"2026-06-{_day:02d}T20:00:00Z", 18 if _day % 2 else 17, 2 if _day % 2 else 3, 210, 35))
    HISTORY.append(
        ("crates.io", f"2026-06-{_day:02d}T20:30:00Z", 9 if _day == 25 else 10, 1 if _day == 25 else 0, 0, 22)
    )
    if _day < 25:
        HISTORY.append(("npm", f"2026-06-{_day:02d}T21:00:00Z", 10, 0, 0, 18))
HISTORY.append(("npm", "2026-06-25T21:00:00Z", 2, 8, 0, 18))
HISTORY.append(("npm", "2026-06-26T02:00:00Z", 0, 10, 0, 18))


def results_file(ecosystem: str, completed: str, passed: int, failed: int, macos: float, linux: float) -> dict:
    from datetime import timedelta

    from batchops.core import timeutil

    end = timeutil.parse_iso(completed)
    names = [f"{ecosystem.replace('.', '-')}-pkg-{i:02d}" for i in range(passed + failed)]
    results = []
    for i, name in enumerate(names):
        entry = {"recipe_name": name, "result": "passed" if i < passed else "failed", "platform": "linux"}
        if i >= passed:
            entry["error_category"] = "registry_timeout" if ecosystem == "npm" else "checksum_mismatch"
            entry["error_message"] = "GET https://registry.npmjs.org: 503" if ecosystem == "npm" else "sha256 mismatch"
        results.append(entry)
    return {
        "batch_id": f"{completed[:10]}-{ecosystem.replace('.', '-')}",
        "ecosystem": ecosystem,
        "started_at": timeutil.iso(end - timedelta(minutes=40)),
        "completed_at": completed,
        "macos_minutes": macos,
        "linux_minutes": linux,
        "results": results,
    }


@dataclass
class Registry:
    root: Path
    work: Path
    remote: Path
    tmp: Path
    bin: Path
    env: dict[str, str]
    upstream: Upstream

    def batchops(self, *args: str, now: str, journal: Path) -> str:
        env = {
            **self.env,
            "BATCHOPS_NOW": now,
            "BATCHOPS_JOURNAL": str(journal),
            "GIT_AUTHOR_DATE": now,
            "GIT_COMMITTER_DATE": now,
        }
        proc = subprocess.run(["batchops", *args], cwd=self.work, env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"setup: batchops {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}"
        return proc.stdout

    def commit(self, message: str, at: str, who: tuple[str, str] = BOT) -> None:
        env = {
            "GIT_AUTHOR_NAME": who[0],
            "GIT_AUTHOR_EMAIL": who[1],
            "GIT_COMMITTER_NAME": who[0],
            "GIT_COMMITTER_EMAIL": who[1],
            "GIT_AUTHOR_DATE": at,
            "GIT_COMMITTER_DATE": at,
        }
        git(self.work, "add", "-A", env=env)
        git(self.work, "commit", "-q", "-m", message, env=env)

    def write(self, files: dict[str, str]) -> None:
        for rel, text in files.items():
            target = self.work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


def command_env(root: Path, bin_dir: Path, tmp: Path, upstream: Upstream) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "SYSTEMROOT")}
    home = root / "home"
    home.mkdir(exist_ok=True)
    return {
        **keep,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "TZ": "UTC",
        "LANG": "C.UTF-8",
        "COLUMNS": "100",
        "PYTHONPATH": str(REPO_ROOT),
        "PYTHONUNBUFFERED": "1",  # stdout and stderr interleave as on a terminal
        "PYTHONDONTWRITEBYTECODE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PAGER": "cat",
        "PAGER": "cat",
        "http_proxy": upstream.url,
        "HTTP_PROXY": upstream.url,
        "BATCHOPS_PERSIST_BACKOFF": "0.01,0.05",
    }


def build_registry(root: Path, upstream: Upstream) -> Registry:
    """A recipe registry with a week of batches behind it, at NOW = Friday 03:00 UTC.

    homebrew, crates.io and npm run one batch a day; npm's registry started failing on
    Thursday evening (its breaker tripped, the 02:00 probe failed, it is open until 04:00);
    macOS minutes are at 84% of the week's budget (sampling); batch 2026-06-24-homebrew
    shipped k9s, whose upstream checksum file has changed since; batch 2026-06-25-npm
    added prettier and eslint and changed typescript, and a maintainer fixed eslint after.
    The metrics of every batch are in the embedded store .batchops/metrics.db.
    """
    tmp = root / "tmp"
    tmp.mkdir()
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "batchops"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m batchops "$@"\n')
    shim.chmod(0o755)
    env = command_env(root, bin_dir, tmp, upstream)

    remote = root / "registry.git"
    work = root / "registry"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(remote))
    git(work, "config", "user.name", OPERATOR[0])
    git(work, "config", "user.email", OPERATOR[1])
    reg = Registry(root, work, remote, tmp, bin_dir, env, upstream)
    setup_journal = root / "setup-journal" / "journal.jsonl"
    results_dir = root / "results"
    results_dir.mkdir()

    for name, version in UPSTREAM_RECIPES.items():
        upstream.put(f"/{name}/{version}/{name}_{version}_SHA256SUMS", sums(name, version))

    reg.write(
        {
            **SEED_RECIPES,
            "batch-control.json": json.dumps(CONTROL, indent=2) + "\n",
            ".gitignore": ".batchops/\ndrift-report.json\n",
        }
    )
    reg.commit("registry: seed recipes and batch-control.json", "2026-06-15T09:00:00Z", OPERATOR)
    git(work, "push", "-q", "-u", "origin", "main")

    def control_commit(at: str, what: str) -> None:
        reg.commit(f"batchops: update control state ({what}) [skip ci]", at)

    batches = {
        "2026-06-24T01:00:00Z": ("2026-06-24-homebrew", {"recipes/k9s.toml": recipe("k9s", "0.50.6")}),
        "2026-06-25T21:30:00Z": (
            "2026-06-25-npm",
            {
                "recipes/prettier.toml": recipe("prettier", "3.6.0", checksum=False, ecosystem="npm"),
                "recipes/eslint.toml": recipe("eslint", "9.30.0", checksum=False, ecosystem="npm"),
                "recipes/typescript.toml": recipe("typescript", "5.8.4", checksum=False, ecosystem="npm"),
            },
        ),
    }
    for ecosystem, completed, passed, failed, macos, linux in HISTORY:
        for at, (batch_id, files) in list(batches.items()):
            if at <= completed:
                reg.write(files)
                reg.commit(
                    f"feat(recipes): batch {batch_id}\n\n"
                    f"Recipes generated by the batch pipeline.\n\nbatch_id: {batch_id}\n",
                    at,
                )
                del batches[at]
                if batch_id == "2026-06-24-homebrew":
                    reg.batchops(
                        "drift-monitor",
                        "--report-file",
                        str(tmp / "setup-drift.json"),
                        now="2026-06-24T05:41:00Z",
                        journal=setup_journal,
                    )
                    reg.commit("chore(drift): update checksum baseline [skip ci]", "2026-06-24T05:41:00Z")
        document = results_file(ecosystem, completed, passed, failed, macos, linux)
        path = results_dir / f"{document['batch_id']}-{completed[11:13]}.json"
        path.write_text(json.dumps(document, indent=2))
        start = document["started_at"]
        if ecosystem == "npm":  # the gate matters once: it grants the 02:00 probe
            reg.batchops("breaker-gate", "--ecosystem", ecosystem, now=start, journal=setup_journal)
        reg.batchops("breaker-update", "--results-file", str(path), now=completed, journal=setup_journal)
        reg.batchops("metrics-upload", "--results-file", str(path), now=completed, journal=setup_journal)
        control_commit(completed, ecosystem)
    assert not batches, f"batches not written: {batches}"
    reg.write(
        {
            "recipes/eslint.toml": recipe(
                "eslint", "9.30.0", checksum=False, ecosystem="npm", extra='\n[metadata.requires]\nnode = ">=20"\n'
            )
        }
    )
    reg.commit(
        "fix(recipes): eslint needs node >= 20", "2026-06-26T01:15:00Z", ("Maintainer", "maintainer@example.org")
    )
    git(work, "gc", "-q")  # first: gc expires reflog entries older than 90 days of the real clock
    # the remote-tracking ref's reflog dates the checkout's view of the remote (batchops status)
    git(work, "push", "-q", "origin", "main", env={"GIT_COMMITTER_DATE": "2026-06-26T01:15:00Z"})
    # upstream re-published k9s 0.50.6 with other bytes: the security incident
    upstream.put("/k9s/0.50.6/k9s_0.50.6_SHA256SUMS", sums("k9s", "0.50.6", salt="-republished"))
    assert git(work, "status", "--porcelain") == ""
    return reg


# --- running the blocks ------------------------------------------------------------------


def known_commits(reg: Registry) -> set[str]:
    found: set[str] = set()
    for repo in (reg.work, reg.remote):
        out = (
            git(repo, "rev-list", "--all", "--reflog", check=False)
            if repo == reg.work
            else git(repo, "rev-list", "--all", check=False)
        )
        found.update(line for line in out.split() if line)
    return found


def operation_ids(reg: Registry) -> set[str]:
    """Every operation id the runbook's journal and the remote's commits have seen (shown shortened by `pending`)."""
    found: set[str] = set(
        re.findall(
            r"Batchops-Operation-Id: ([0-9a-f]{32})", git(reg.remote, "log", "--all", "--format=%B", check=False)
        )
    )
    journal_file = reg.work / ".git" / "batchops" / "journal.jsonl"
    if journal_file.exists():
        found.update(re.findall(r'"id":"([0-9a-f]{32})"', journal_file.read_text()))
    found.update(SEEN_IDS)
    SEEN_IDS.update(found)
    return found


SEEN_IDS: set[str] = set()  # ids discarded from the journal are still shown by the command that discards them


def normalise(text: str, reg: Registry) -> list[str]:
    text = text.replace(str(reg.remote), "<remote>").replace(str(reg.work), "<repo>").replace(str(reg.tmp), "<tmp>")
    text = text.replace(str(reg.root), "<tmp>")
    text = re.sub(r"(<tmp>/[^\s]*?)-[0-9a-f]{12}(?=\.)", r"\1-<random>", text)  # unique temp file names
    text = re.sub(r"\b[0-9a-f]{32}\b", "<op-id>", text)
    text = re.sub(r"\b[0-9a-f]{40}\b", "<sha>", text)
    commits = known_commits(reg)

    ids = operation_ids(reg)

    def short(match: re.Match[str]) -> str:
        word = match.group(0)
        if any(c.startswith(word) for c in commits):
            return "<sha>"
        return "<op-id>" if any(i.startswith(word) for i in ids) else word

    text = re.sub(r"\b[0-9a-f]{7,39}\b", short, text)
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_step(step: Step, reg: Registry) -> tuple[list[str], int]:
    env = {**reg.env, "BATCHOPS_NOW": NOW, "GIT_AUTHOR_DATE": NOW, "GIT_COMMITTER_DATE": NOW}
    proc = subprocess.run(
        ["bash", "-o", "pipefail", "-c", step.command],
        cwd=reg.work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    return normalise(proc.stdout, reg), proc.returncode


@pytest.fixture
def registry(tmp_path: Path, upstream: Upstream) -> Registry:
    return build_registry(tmp_path, upstream)


def test_operators_guide_commands_print_what_the_guide_says(registry: Registry) -> None:
    lines = RUNBOOK.read_text(encoding="utf-8").split("\n")
    blocks = parse_blocks(lines)
    record = os.environ.get("RUNBOOK_RECORD") == "1"
    failures: list[str] = []
    skipped = 0
    missing: set[str] = set()
    for block in blocks:
        if block.needs_github:
            skipped += 1
            continue
        if block.missing_tools:
            missing.update(block.missing_tools)
            continue
        for step in block.steps:
            actual, code = run_step(step, registry)
            if record:
                step.expected, step.exit_code = actual, code
                continue
            if actual != step.expected or code != step.exit_code:
                diff = "\n".join(
                    difflib.unified_diff(
                        step.expected + [f"[exit {step.exit_code}]"],
                        actual + [f"[exit {code}]"],
                        "runbook (expected)",
                        "batchops (actual)",
                        lineterm="",
                    )
                )
                failures.append(f"docs/operators.md:{step.line}: $ {step.command}\n{diff}")
    if record:
        assert not missing, f"cannot record without {sorted(missing)}"
        for block in reversed(blocks):
            if not block.needs_github:
                lines[block.start : block.end + 1] = render_block(block)
        RUNBOOK.write_text("\n".join(lines), encoding="utf-8")
        return
    assert blocks and skipped < len(blocks), "the runbook has no executable console block"
    if failures:
        pytest.fail(
            f"{len(failures)} runbook command(s) differ from the tool:\n\n" + "\n\n".join(failures), pytrace=False
        )
    if missing:
        pytest.skip(
            f"every other block matched; blocks needing {', '.join(sorted(missing))} (not installed) were not run"
        )


# --- the shape of the manual -------------------------------------------------------------

PROCEDURES = ["Success-rate drop", "Emergency stop", "Batch rollback", "Budget alert", "Security incident"]
PARTS = ["Decision tree", "Investigation", "Resolution", "Escalation", "Severity"]


def sections(text: str) -> dict[str, str]:
    """Level-2 sections of the runbook by title."""
    found: dict[str, str] = {}
    for chunk in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = chunk.partition("\n")
        found[title.strip()] = body
    return found


def test_every_procedure_has_decision_tree_investigation_resolution_escalation_and_severities() -> None:
    found = sections(RUNBOOK.read_text(encoding="utf-8"))
    for name in PROCEDURES:
        title = next((t for t in found if t.split(". ", 1)[-1].startswith(name)), None)
        assert title, f"docs/operators.md has no procedure '## … {name}'"
        headings = re.findall(r"^### (.+)$", found[title], flags=re.M)
        for part in PARTS:
            assert any(h.startswith(part) for h in headings), f"procedure {title!r} lacks a '### {part}' section"
        assert "```console" in found[title], f"procedure {title!r} has no executed command block"


def test_severity_tables_use_the_severities_of_batchops_slo() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    for severity in ("critical", "high", "medium", "low"):
        assert re.search(rf"^\| \S* ?{severity} \|", text, flags=re.M), f"no severity row for {severity!r}"


# every question and action of the console is shown, executed, in the guide
CONSOLE = [
    r"batchops status\b",
    r"batchops breaker-gate .*--dry-run true",
    r"batchops pending$",
    r"batchops pending --discard",
    r"batchops log\b",
    r"batchops stop .*--push",
    r"batchops resume .*--push|batchops resume --push",
    r"batchops disable \S+ --dry-run",
    r"batchops disable \S+ .*--push|batchops disable \S+ --push",
    r"batchops enable \S+ .*--push",
    r"batchops budget reset .*--push",
    r"batchops breaker reset ",
    r"batchops breaker probe ",
    r"batchops breaker open ",
    r"batchops log .*--ecosystem",
]


def test_the_guide_executes_every_console_command() -> None:
    blocks = parse_blocks(RUNBOOK.read_text(encoding="utf-8").split("\n"))
    commands = [step.command for block in blocks if not block.needs_github for step in block.steps]
    missing = [pattern for pattern in CONSOLE if not any(re.search(pattern, command) for command in commands)]
    assert not missing, f"docs/operators.md runs no command matching {missing}"


def test_every_batchops_command_named_in_the_runbook_and_readme_exists() -> None:
    for path in (RUNBOOK, README_SECTION):
        for name in re.findall(r"`batchops ([a-z][a-z-]*)", path.read_text(encoding="utf-8")):
            assert name in COMMANDS, f"{path.name} names `batchops {name}`, which is not a command"


def test_github_blocks_are_a_small_subset() -> None:
    blocks = parse_blocks(RUNBOOK.read_text(encoding="utf-8").split("\n"))
    github = [b for b in blocks if b.needs_github]
    assert len(github) * 4 <= len(blocks), f"{len(github)} of {len(blocks)} blocks need GitHub: keep them few"


def test_console_blocks_show_what_a_terminal_shows_no_markdown_mermaid_or_html_escapes() -> None:
    blocks = parse_blocks(RUNBOOK.read_text(encoding="utf-8").split("\n"))
    markup = ("```mermaid", "&lt;", "&gt;", "&amp;", "<details>", "|---|", "#### ")
    found = [
        f"docs/operators.md:{step.line}: $ {step.command}: {line.strip()}"
        for block in blocks
        for step in block.steps
        for line in step.expected
        if any(mark in line for mark in markup)
    ]
    assert not found, "a console block shows Markdown a terminal never prints:\n" + "\n".join(found)

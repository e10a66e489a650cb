"""The first user's Go readers of the control file, built at test time from the shared corpus.

``corpus/tsuku/consumers/batch-generate.main.go`` (its batch generator) and ``dashboard.go`` (its
dashboard) are the code that reads ``batch-control.json`` besides batchops. Their control-file parts
need only Go's standard library, so the tests extract them **verbatim** (the generator's
``batchControlFile``, ``circuitBreakerEntry`` and ``budgetEntry`` types and its
``transitionOpenBreakers``; the dashboard's ``batchControlFile`` and ``circuitBreakerState``), add a
small ``main`` of ours and build them with Debian's ``golang-go`` (``GO111MODULE=off go build``), once
per test session, in a temp folder:

* ``generator decode FILE``: exit 3 when the generator's ``json.Unmarshal`` fails (it would then
  ignore the file and treat every breaker as closed); else print what it decoded and the breaker
  states it sees, as JSON;
* ``generator transition FILE NOW``: decode, then ``transitionOpenBreakers(&ctrl, NOW)`` and rewrite
  the file exactly as the generator does when it moved a breaker (``json.MarshalIndent`` with two
  spaces and a newline, dropping every field its struct does not know);
* ``dashboard FILE``: the dashboard's decode (``loadHealth``'s ``json.Unmarshal``), printing the
  breakers it reads.

Without the corpus the tests skip with a reason; without ``go`` they fail (``scripts/test-tools.sh``
installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

GENERATOR_DECLARATIONS = (
    "type batchControlFile",
    "type circuitBreakerEntry",
    "type budgetEntry",
    "func transitionOpenBreakers",
)
DASHBOARD_DECLARATIONS = ("type batchControlFile", "type circuitBreakerState")

GENERATOR_MAIN = """package main

// Ours: a command line around the generator's control-file code (extracted.go, verbatim).

import (
\t"encoding/json"
\t"fmt"
\t"os"
\t"time"
)

func main() {
\tif len(os.Args) < 3 {
\t\tfmt.Fprintln(os.Stderr, "usage: generator decode FILE | generator transition FILE NOW")
\t\tos.Exit(2)
\t}
\tdata, err := os.ReadFile(os.Args[2])
\tif err != nil {
\t\tfmt.Fprintf(os.Stderr, "read: %v\\n", err)
\t\tos.Exit(2)
\t}
\tvar ctrl batchControlFile
\tif err := json.Unmarshal(data, &ctrl); err != nil {
\t\tfmt.Fprintf(os.Stderr, "decode: %v\\n", err)
\t\tos.Exit(3)
\t}
\tout := map[string]interface{}{}
\tswitch os.Args[1] {
\tcase "decode":
\t\tstates := map[string]string{}
\t\tfor eco, cb := range ctrl.CircuitBreaker {
\t\t\tstates[eco] = cb.State
\t\t}
\t\tout["states"] = states
\tcase "transition":
\t\tnow, err := time.Parse(time.RFC3339, os.Args[3])
\t\tif err != nil {
\t\t\tfmt.Fprintf(os.Stderr, "now: %v\\n", err)
\t\t\tos.Exit(2)
\t\t}
\t\tstates, modified := transitionOpenBreakers(&ctrl, now.UTC())
\t\tif modified { // as the generator's main does
\t\t\tif updated, err := json.MarshalIndent(ctrl, "", "  "); err == nil {
\t\t\t\tupdated = append(updated, '\\n')
\t\t\t\tif err := os.WriteFile(os.Args[2], updated, 0644); err != nil {
\t\t\t\t\tfmt.Fprintf(os.Stderr, "warning: could not update control file: %v\\n", err)
\t\t\t\t}
\t\t\t}
\t\t}
\t\tout["states"] = states
\t\tout["modified"] = modified
\tdefault:
\t\tfmt.Fprintf(os.Stderr, "unknown command %q\\n", os.Args[1])
\t\tos.Exit(2)
\t}
\tout["decoded"] = ctrl
\tencoded, _ := json.Marshal(out)
\tfmt.Println(string(encoded))
}
"""

DASHBOARD_MAIN = """package main

// Ours: the dashboard's decode of the control file (loadHealth's), around its types (extracted.go, verbatim).

import (
\t"encoding/json"
\t"fmt"
\t"os"
)

func main() {
\tdata, err := os.ReadFile(os.Args[1])
\tif err != nil {
\t\tfmt.Fprintf(os.Stderr, "read control file: %v\\n", err)
\t\tos.Exit(2)
\t}
\tvar control batchControlFile
\tif err := json.Unmarshal(data, &control); err != nil {
\t\tfmt.Fprintf(os.Stderr, "parse control file: %v\\n", err)
\t\tos.Exit(3)
\t}
\tencoded, _ := json.Marshal(control.CircuitBreaker)
\tfmt.Println(string(encoded))
}
"""


def extract(source: str, declaration: str) -> str:
    """One top-level declaration (``type X`` or ``func X``) with its doc comment, verbatim."""
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(rf"^{re.escape(declaration)}\b", line)]
    if len(starts) != 1:
        raise AssertionError(f"{declaration!r} found {len(starts)} times in the corpus file: has the Go code changed?")
    start = end = starts[0]
    while start > 0 and lines[start - 1].startswith("//"):
        start -= 1
    while lines[end] != "}":
        end += 1
    return "\n".join(lines[start : end + 1])


def _program(source: Path, declarations: tuple[str, ...], imports: tuple[str, ...]) -> str:
    text = source.read_text(encoding="utf-8")
    header = f"// Extracted verbatim from {source.name} (the first user's code, MIT licence).\n\npackage main\n\n"
    header += "import (\n" + "".join(f'\t"{name}"\n' for name in imports) + ")\n\n"
    return header + "\n\n".join(extract(text, d) for d in declarations) + "\n"


def go_tool() -> str:
    found = shutil.which("go") or next((p for p in ("/usr/lib/go/bin/go", "/usr/bin/go") if Path(p).exists()), None)
    if found is None:
        pytest.fail("go is not installed: run scripts/test-tools.sh (it installs Debian's golang-go)")
    return found


def build(consumers: Path, workdir: Path) -> GoReaders:
    """Build both readers from ``consumers`` (the corpus folder) into ``workdir``."""
    go = go_tool()
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(workdir / "gopath"),
        "GOCACHE": str(workdir / "gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    }
    programs = {
        "generator": (
            _program(consumers / "batch-generate.main.go", GENERATOR_DECLARATIONS, ("fmt", "os", "time")),
            GENERATOR_MAIN,
        ),
        "dashboard": (_program(consumers / "dashboard.go", DASHBOARD_DECLARATIONS, ()), DASHBOARD_MAIN),
    }
    binaries = {}
    for name, (extracted, main) in programs.items():
        folder = workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "extracted.go").write_text(extracted, encoding="utf-8")
        (folder / "main.go").write_text(main, encoding="utf-8")
        binary = workdir / "bin" / name
        run = subprocess.run(
            [go, "build", "-o", str(binary), "."],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if run.returncode != 0:
            raise AssertionError(f"go build of the {name}'s extracted code failed:\n{run.stderr}")
        binaries[name] = binary
    return GoReaders(binaries["generator"], binaries["dashboard"])


@dataclass(frozen=True)
class Decoded:
    ok: bool
    error: str
    states: dict[str, str]
    document: dict[str, Any]  # what the Go struct holds (as it would write it back)
    modified: bool = False


@dataclass(frozen=True)
class GoReaders:
    generator: Path
    dashboard_binary: Path

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60, check=False)

    def _decoded(self, run: subprocess.CompletedProcess[str]) -> Decoded:
        if run.returncode != 0:
            return Decoded(False, run.stderr.strip(), {}, {})
        out = json.loads(run.stdout)
        return Decoded(True, "", out["states"], out["decoded"], bool(out.get("modified")))

    def decode(self, path: Path) -> Decoded:
        """What the generator sees in ``path`` (``ok`` False: it would ignore the file)."""
        return self._decoded(self._run(self.generator, "decode", path))

    def transition(self, path: Path, now: str) -> Decoded:
        """The generator's turn at ``now``: open breakers past ``opens_at`` to half-open, the file rewritten."""
        return self._decoded(self._run(self.generator, "transition", path, now))

    def dashboard(self, path: Path) -> dict[str, dict[str, Any]]:
        """The breakers the dashboard reads; an AssertionError naming the dashboard's error when it cannot."""
        run = self._run(self.dashboard_binary, path)
        if run.returncode != 0:
            raise AssertionError(f"the first user's dashboard cannot read {path}: {run.stderr.strip()}")
        return json.loads(run.stdout) or {}


def built_once(tmp_path_factory: pytest.TempPathFactory) -> GoReaders:
    """The first user's generator and dashboard (their control-file code), for a session-scoped fixture."""
    from tests.conftest import corpus_dir

    consumers = corpus_dir() / "tsuku" / "consumers"
    if not consumers.is_dir():
        pytest.skip(f"the corpus has no consumers folder ({consumers})")
    return build(consumers, tmp_path_factory.mktemp("tsuku-go"))


# --- every control file a test had batchops write -------------------------------------------------

CONTROL_FILE_FAMILIES = ("breaker", "budget", "control")
_BUILT: dict[str, GoReaders] = {}


def readers_once(tmp_path_factory: pytest.TempPathFactory) -> GoReaders | None:
    """The Go readers, built once per test process; None without the corpus (the check is then left out)."""
    from tests.conftest import REPO_ROOT

    for candidate in (REPO_ROOT.parent / "shared" / "corpus", REPO_ROOT / "tests" / "data" / "corpus"):
        consumers = candidate / "tsuku" / "consumers"
        if consumers.is_dir():
            break
    else:
        return None
    if "readers" not in _BUILT:
        _BUILT["readers"] = build(consumers, tmp_path_factory.mktemp("tsuku-go"))
    return _BUILT["readers"]


def files_batchops_wrote(journal: Path, folders: list[Path]) -> list[Path]:
    """The control files the operations in ``journal`` changed (that still exist), each once."""
    if not journal.is_file():
        return []
    found: dict[Path, None] = {}
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if str(entry.get("op", "")).split(".", 1)[0] not in CONTROL_FILE_FAMILIES:
            continue
        name = Path(str(entry.get("file", "")))
        if name.is_absolute():
            candidates = [name]
        else:  # relative to the folder batchops ran in: any folder of the test's
            candidates = [
                p for folder in folders for p in folder.rglob(name.name) if p.as_posix().endswith(name.as_posix())
            ]
        for path in candidates:
            if path.is_file() and ".git" not in path.parts:
                found[path.resolve()] = None
    return list(found)


def unreadable(readers: GoReaders, paths: list[Path]) -> list[str]:
    """What the generator or the dashboard could not decode among ``paths`` (empty: every one decodes)."""
    problems = []
    for path in paths:
        decoded = readers.decode(path)
        if not decoded.ok:
            problems.append(f"{path}: the generator cannot decode it: {decoded.error}")
            continue
        try:
            states = {name: entry["state"] for name, entry in readers.dashboard(path).items()}
        except AssertionError as exc:
            problems.append(str(exc))
            continue
        if states != decoded.states:
            problems.append(f"{path}: the dashboard sees {states}, the generator {decoded.states}")
    return problems


def check_after_test(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """After a test: every control file it had batchops change decodes for the generator and the dashboard."""
    readers = readers_once(tmp_path_factory)
    journal = os.environ.get("BATCHOPS_JOURNAL", "")
    if readers is None or not journal:
        return
    problems = unreadable(readers, files_batchops_wrote(Path(journal), [tmp_path]))
    assert problems == [], "\n".join(problems)

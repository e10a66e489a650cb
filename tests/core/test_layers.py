"""The layers hold: a pure core, adapters that alone touch the world, no import cycles.

Read from the source with ``ast`` (function-level imports included), so a rule
cannot be dodged by importing late.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "batchops"

FORBIDDEN_IN_CORE = {
    "os",
    "subprocess",
    "socket",
    "http",
    "urllib",
    "requests",
    "github",
    "sqlite3",
    "argparse",
    "shutil",
    "tempfile",
    "io",
    "pathlib",
    "threading",
    "concurrent",
    "time",
}
# modules of the core may import each other and batchops.errors, nothing else of batchops
ALLOWED_OUTSIDE_CORE = {"batchops.errors"}
# batchops.__main__: the CLI entry (python -m batchops), whose lean breaker-gate path reads the inputs itself
ENVIRONMENT_READERS = {"batchops.adapters.runner", "batchops.cli", "batchops.__main__"}


def modules() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported(name: str, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every module a file imports (absolute names), with the line, at any depth."""
    package = name if (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").exists() else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:  # `from batchops.core import breaker` imports a module
                candidate = f"{module}.{alias.name}"
                if (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*candidate.split(".")) / "__init__.py"
                ).exists():
                    yield candidate, node.lineno
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                yield node.args[0].value, node.lineno


ALL = list(modules())
CORE = [(name, path, tree) for name, path, tree in ALL if name.startswith("batchops.core")]


def test_the_core_exists_and_holds_the_rules() -> None:
    names = {name for name, _, _ in CORE}
    for rule in ("breaker", "budget", "control", "operations", "drift", "preflight"):
        assert f"batchops.core.{rule}" in names


@pytest.mark.parametrize("name,path,tree", CORE, ids=[name for name, _, _ in CORE])
def test_core_modules_import_no_io_and_nothing_outside_the_core(name: str, path: Path, tree: ast.Module) -> None:
    bad = []
    for module, line in imported(name, tree):
        top = module.split(".")[0]
        if top in FORBIDDEN_IN_CORE:
            bad.append(f"{path.name}:{line} imports {module}")
        if (
            top == "batchops"
            and not module.startswith("batchops.core")
            and module not in ALLOWED_OUTSIDE_CORE
            and module != "batchops"
        ):
            bad.append(f"{path.name}:{line} imports {module} (outside the core)")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name,path,tree", CORE, ids=[name for name, _, _ in CORE])
def test_core_modules_open_no_file(name: str, path: Path, tree: ast.Module) -> None:
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("open", "print", "input")
    ]
    assert not calls, f"{path.name}: open()/print()/input() on lines {calls}"


def test_only_the_runner_and_the_cli_entry_read_the_environment() -> None:
    readers = []
    for name, path, tree in ALL:
        if name in ENVIRONMENT_READERS:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv", "environb"):
                readers.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and any(a.name in ("environ", "getenv") for a in node.names)
            ):
                readers.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not readers, "the environment is read outside adapters/runner and the CLI entry:\n" + "\n".join(readers)


def test_only_adapters_start_processes() -> None:
    users = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for name, path, tree in ALL
        if not name.startswith("batchops.adapters")
        for module, line in imported(name, tree)
        if module.split(".")[0] == "subprocess"
    ]
    assert not users, "subprocess outside batchops/adapters:\n" + "\n".join(users)


def test_there_is_no_import_cycle_even_through_late_imports() -> None:
    known = {name for name, _, _ in ALL}
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, _, tree in ALL:
        for module, _ in imported(name, tree):
            if module in known and module != name:
                graph[name].add(module)
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            # a package importing its own submodule is not a cycle of code
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_each_action_has_its_step_module_named_after_it() -> None:
    actions = sorted(p.parent.name for p in (PACKAGE.parent / "actions").glob("*/action.yml"))
    assert actions
    missing = [a for a in actions if not (PACKAGE / "steps" / f"{a.replace('-', '_')}.py").exists()]
    assert not missing, f"actions without batchops/steps/<step>.py: {missing}"


# The floors, top to bottom. A module imports only modules on lower floors (or its own
# package); two packages on one floor never import each other.
FLOORS: list[tuple[str, ...]] = [
    ("batchops.__main__",),
    ("batchops.cli",),
    ("batchops.steps", "batchops.commands"),
    ("batchops.flags",),
    ("batchops.engines",),
    ("batchops.adapters", "batchops.render"),
    ("batchops.core",),
    ("batchops.errors",),
]


def _floor(module: str) -> tuple[int, str] | None:
    for level, packages in enumerate(FLOORS):
        for package in packages:
            if module == package or module.startswith(package + "."):
                return level, package
    return None


def test_imports_go_down_the_floors_only_even_late_ones() -> None:
    wrong = []
    for name, path, tree in ALL:
        here = _floor(name)
        if here is None:
            continue
        for module, line in imported(name, tree):
            there = _floor(module)
            if there is None or there[1] == here[1]:
                continue
            if there[0] <= here[0]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name} imports {module}")
    assert not wrong, (
        "imports that do not go down the floors (cli > steps|commands > flags > engines > "
        "adapters|render > core > errors):\n" + "\n".join(wrong)
    )

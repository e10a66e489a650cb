"""The docs are held to the code: links resolve, each action's reference matches its action.yml."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
ACTIONS = sorted(p.parent.name for p in (ROOT / "actions").glob("*/action.yml"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if not in_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return [target for target in LINK.findall(text) if not re.match(r"^[a-z]+:", target)]


def test_the_readme_is_a_front_page() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"README.md has {lines} lines; move detail to docs/"


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in links(path):
        file_part, _, anchor = target.partition("#")
        destination = (path.parent / file_part).resolve() if file_part else path
        if not destination.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}:\n" + "\n".join(broken)


@pytest.mark.parametrize("name", ACTIONS)
def test_each_action_has_a_reference_that_names_exactly_its_inputs_and_outputs(name: str) -> None:
    doc = ROOT / "docs" / "actions" / f"{name}.md"
    assert doc.exists(), f"docs/actions/{name}.md is missing"
    spec = yaml.safe_load((ROOT / "actions" / name / "action.yml").read_text(encoding="utf-8"))
    names = set(spec.get("inputs") or {}) | set(spec.get("outputs") or {})
    text = doc.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|", text, flags=re.M))
    missing = sorted(names - rows)
    unknown = sorted(rows - names)
    assert not missing, f"docs/actions/{name}.md has no reference row for {missing}"
    assert not unknown, f"docs/actions/{name}.md documents {unknown}, which action.yml does not have"


@pytest.mark.parametrize("name", ACTIONS)
def test_documented_defaults_are_the_action_defaults(name: str) -> None:
    doc = ROOT / "docs" / "actions" / f"{name}.md"
    if not doc.exists():
        pytest.fail(f"docs/actions/{name}.md is missing")
    spec = yaml.safe_load((ROOT / "actions" / name / "action.yml").read_text(encoding="utf-8"))
    wrong = []
    inputs_table = doc.read_text(encoding="utf-8").split("| output |")[0]  # a name can be an input and an output
    for row in re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|\s*([^|]*)\|", inputs_table, flags=re.M):
        input_name, cell = row
        declared = (spec.get("inputs") or {}).get(input_name)
        if not declared or "default" not in declared:
            continue
        default = (
            str(declared["default"]).lower() if isinstance(declared["default"], bool) else str(declared["default"])
        )
        shown = cell.strip().strip("`")
        if shown not in (default, f'"{default}"') and not (default == "" and shown in ('""', "(empty)", "-")):
            wrong.append(f"{input_name}: docs say {cell.strip()!r}, action.yml {default!r}")
    assert not wrong, "\n".join(wrong)

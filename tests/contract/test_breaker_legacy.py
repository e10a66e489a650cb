"""Every control file the tsuku pipeline committed gets the gate decision the old
check_breaker.sh gave at the same instant (where that was right)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from batchops.adapters import controlfile
from batchops.core import breaker, timeutil
from batchops.core.operations import apply


def legacy_check_breaker(entry: dict | None, now: datetime) -> tuple[bool, str]:
    """scripts/check_breaker.sh of the legacy pipeline, transcribed: (skip, state)."""
    state = (entry or {}).get("state") or "closed"
    if state == "closed":
        return False, "closed"
    if state == "open":
        opens_at = (entry or {}).get("opens_at") or ""
        if not opens_at:
            return True, "open"  # stuck until edited by hand: batchops probes instead (README)
        if now < timeutil.parse_iso(opens_at):
            return True, "open"
        return False, "half-open"
    if state == "half-open":
        return False, "half-open"
    return False, "closed"


def history(corpus: Path) -> list[Path]:
    files = sorted((corpus / "control-history").glob("batch-control.*.json"))
    assert len(files) >= 20
    return files


def instants(path: Path, entry: dict | None) -> list[datetime]:
    committed = datetime.strptime(path.name.split(".")[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    moments = [
        committed,
        committed + timedelta(minutes=30),
        committed + timedelta(hours=3),
        committed + timedelta(days=2),
    ]
    for key in ("opens_at", "last_failure"):
        value = timeutil.parse_iso_or_none((entry or {}).get(key))
        if value is not None:
            moments += [value - timedelta(seconds=1), value, value + timedelta(seconds=1)]
    return moments


def test_every_committed_control_file_validates(corpus: Path) -> None:
    for path in history(corpus):
        controlfile.load(path)


def test_gate_decision_matches_the_legacy_rule_on_every_committed_file(corpus: Path) -> None:
    checked = 0
    for path in history(corpus):
        document = controlfile.load(path)
        names = breaker.ecosystems(document) + ["never-seen"]
        for name in names:
            entry = document.get("circuit_breaker", {}).get(name)
            if entry and entry.get("state") == "open":
                assert entry.get("opens_at"), f"{path.name}: {name} is open with no opens_at"
            for now in instants(path, entry):
                state, config = breaker.load(document, name)
                _, decision = breaker.gate(state, now, config)
                assert (decision.skip, decision.state) == legacy_check_breaker(entry, now), (path.name, name, now)
                checked += 1
    assert checked > 500


def test_gate_operation_on_legacy_files_only_touches_the_gated_ecosystem(corpus: Path) -> None:
    for path in history(corpus):
        document = json.loads(path.read_text())
        for name in breaker.ecosystems(document):
            entry = document["circuit_breaker"][name]
            late = timeutil.parse_iso(
                entry.get("opens_at") or entry.get("last_failure") or "2026-01-01T00:00:00Z"
            ) + timedelta(hours=1)
            after = json.loads(path.read_text())
            result = apply(after, "breaker.gate", {"ecosystem": name, "at": timeutil.iso(late)})
            assert (result["skip"], result["state"]) == legacy_check_breaker(entry, late)
            others = {k: v for k, v in after["circuit_breaker"].items() if k != name}
            assert others == {k: v for k, v in document["circuit_breaker"].items() if k != name}
            assert {k: v for k, v in after.items() if k != "circuit_breaker"} == {
                k: v for k, v in document.items() if k != "circuit_breaker"
            }
            written = after["circuit_breaker"][name]
            for key in ("failures", "last_failure", "opens_at"):
                assert written.get(key) == entry.get(key)


@pytest.mark.parametrize("name", ["batch-control.20260313T094138.json", "batch-control.20260626T205108.json"])
def test_default_template_entry_is_kept_untouched(corpus: Path, name: str) -> None:
    document = json.loads((corpus / "control-history" / name).read_text())
    template = dict(document["circuit_breaker"]["default"])
    for eco in breaker.ecosystems(document):
        apply(document, "breaker.gate", {"ecosystem": eco, "at": "2026-12-31T00:00:00Z"})
        apply(document, "breaker.record", {"ecosystem": eco, "outcomes": ["success"], "at": "2026-12-31T00:01:00Z"})
    assert document["circuit_breaker"]["default"] == template
    assert "default" not in breaker.ecosystems(document)

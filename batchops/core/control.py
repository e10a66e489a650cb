"""The control file's rules: its legacy defaults and the operator operations (pure).

The format is the legacy ``batch-control.json``: every file the old scripts wrote
loads as it is. Key order and unknown keys are kept on write. Each change goes
through :func:`mutate`, which validates before and after, writes through a temp
file and a rename, and records the operation in the job's journal.
"""

from __future__ import annotations

import copy
import json
from typing import Any

DEFAULT_FILE = "batch-control.json"

# Defaults of the legacy top-level fields, used when a field is absent.
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "disabled_ecosystems": [],
    "reason": "",
    "incident_url": "",
    "disabled_by": "",
    "disabled_at": "",
    "expected_resume": "",
    "circuit_breaker": {},
    "budget": {},
}

def new_document() -> dict[str, Any]:
    """A new control file in the legacy layout (every legacy field, at its default)."""
    document = copy.deepcopy(DEFAULTS)
    document["budget"] = {"macos_minutes_used": 0, "linux_minutes_used": 0, "week_start": "", "sampling_active": False}
    return document


TEMPLATE = json.dumps(new_document())


def get(document: dict[str, Any], key: str) -> Any:
    return document.get(key, copy.deepcopy(DEFAULTS.get(key)))


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --- operator operations ------------------------------------------------------------


def stop_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    doc["enabled"] = False
    doc["reason"] = args["reason"]
    doc["incident_url"] = args.get("incident_url", "")
    doc["expected_resume"] = args.get("expected_resume", "")
    doc["disabled_by"] = args.get("disabled_by", "")
    doc["disabled_at"] = args["at"]
    return {"enabled": False}


def resume_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    doc["enabled"] = True
    for key in ("reason", "incident_url", "disabled_by", "disabled_at", "expected_resume"):
        if key in doc or key in DEFAULTS:
            doc[key] = ""
    return {"enabled": True}


def disable_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystems = doc.setdefault("disabled_ecosystems", [])
    changed = args["ecosystem"] not in ecosystems
    if changed:
        ecosystems.append(args["ecosystem"])
    return {"changed": changed}


def enable_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    ecosystems = doc.setdefault("disabled_ecosystems", [])
    changed = args["ecosystem"] in ecosystems
    doc["disabled_ecosystems"] = [e for e in ecosystems if e != args["ecosystem"]]
    return {"changed": changed}

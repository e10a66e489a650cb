"""The preflight decision: what may run, from the control file alone (pure)."""

from __future__ import annotations

from typing import Any

from batchops.core import breaker, control


def decide(document: dict[str, Any], candidates: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The preflight outputs (without the budget's) and the candidates left out as disabled."""
    disabled = list(control.get(document, "disabled_ecosystems"))
    if not candidates:
        candidates = breaker.ecosystems(document)
    allowed = [name for name in candidates if name not in disabled]
    skipped = [name for name in candidates if name in disabled]
    outputs: dict[str, Any] = {
        "can-proceed": True,
        "ecosystems": allowed,
        "disabled-ecosystems": disabled,
        "reason": "",
    }
    if not control.get(document, "enabled"):
        outputs["can-proceed"] = False
        outputs["ecosystems"] = []
        outputs["reason"] = control.get(document, "reason") or "the pipeline is disabled (enabled=false)"
    elif candidates and not allowed:
        outputs["can-proceed"] = False
        outputs["reason"] = "every candidate ecosystem is disabled: " + ", ".join(skipped)
    return outputs, skipped

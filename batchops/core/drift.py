"""Drift rules on the checksum baseline: the baseline operations, re-applicable by persist-with-retry."""

from __future__ import annotations

from typing import Any

from batchops.core import timeutil

STATUSES = ("ok", "new", "pending", "drift", "unverifiable", "skipped")


def empty_baseline() -> dict[str, Any]:
    return {"version": 1, "recipes": {}}


# --- operations on the baseline ----------------------------------------------------------


def _entry(doc: dict[str, Any], recipe: str, version: str, url: str) -> dict[str, Any] | None:
    return doc.get("recipes", {}).get(recipe, {}).get(version, {}).get(url)


def _put(doc: dict[str, Any], recipe: str, version: str, url: str, entry: dict[str, Any]) -> None:
    doc.setdefault("version", 1)
    doc.setdefault("recipes", {}).setdefault(recipe, {}).setdefault(version, {})[url] = entry


def _later(a: str, b: str) -> str:
    return a if timeutil.parse_iso(a) >= timeutil.parse_iso(b) else b


def record_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Record what one monitor run saw. Re-applicable on another job's baseline.

    ``entries``: ``{recipe, version, url, sha256, kind}`` with kind ``new``
    (first sight), ``verified`` (same bytes) or ``grace`` (bytes changed while
    the release was younger than the grace period; ``previous`` is the sha256
    it replaces). A recorded checksum is never overwritten by a different one
    here: such an entry is skipped (the next run reports it).
    """
    at = args["at"]
    doc.setdefault("version", 1)
    doc.setdefault("recipes", {})
    applied = skipped = 0
    for item in args.get("entries", []):
        recipe, version, url, sha = item["recipe"], item["version"], item["url"], item["sha256"]
        entry = _entry(doc, recipe, version, url)
        if entry is None:
            if item["kind"] == "grace":
                skipped += 1
                continue
            _put(doc, recipe, version, url, {"sha256": sha, "first_seen": at, "last_verified": at})
            applied += 1
            continue
        if entry["sha256"] == sha:
            entry["last_verified"] = _later(entry["last_verified"], at)
            applied += 1
        elif item["kind"] == "grace" and entry["sha256"] == item.get("previous"):
            entry.setdefault("audit", []).append({"action": "grace-update", "at": at, "from": entry["sha256"], "to": sha})
            entry["sha256"] = sha
            entry["last_verified"] = _later(entry["last_verified"], at)
            applied += 1
        else:
            skipped += 1
    return {"applied": applied, "skipped": skipped}


def accept_op(doc: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """Accept ``sha256`` as the content of ``url`` for ``recipe`` ``version``, with an audit entry."""
    at = args["at"]
    entry = _entry(doc, args["recipe"], args["version"], args["url"])
    previous = entry["sha256"] if entry else None
    if entry is None:
        entry = {"sha256": args["sha256"], "first_seen": at, "last_verified": at}
        _put(doc, args["recipe"], args["version"], args["url"], entry)
    audit: dict[str, Any] = {"action": "accept", "at": at, "from": previous, "to": args["sha256"]}
    if args.get("actor"):
        audit["actor"] = args["actor"]
    audit["reason"] = args["reason"]
    entry.setdefault("audit", []).append(audit)
    entry["sha256"] = args["sha256"]
    entry["last_verified"] = _later(entry["last_verified"], at)
    return {"from": previous, "to": args["sha256"]}

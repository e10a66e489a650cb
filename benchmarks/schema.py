"""Schema engine: batchops' fastschema against jsonschema-rs (and the Python jsonschema), same file.

    python benchmarks/schema.py [--runs N] [--calls N]

On the first user's control file (``control-history/batch-control.20260626T205108.json``
of the corpus, or --file), each engine in a fresh interpreter per run, interleaved:

* import      ``import`` of the engine (wall, in-process), after what every step loads
              anyway (json, re, dataclasses, pathlib, batchops.errors)
* first       building the validator for ``batch-control`` (with its ``$ref`` registry)
              plus the first validation: what one step pays, as it validates once or twice
* per call    median of --calls validations of the same document in one process

Then error quality: the instance path and message each engine gives for the same
broken documents, and the one-line error batchops prints (file, pointer, fix).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, table  # noqa: E402

CORPUS = (
    Path(os.environ.get("BATCHOPS_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
    / "tsuku"
    / "control-history"
    / "batch-control.20260626T205108.json"
)

# One fresh process per engine and run: prints {"import": s, "first": s, "per_call": s}.
PROBE = r"""
import json, sys, time
# what every batchops step has loaded before it validates: the engine's own cost is the rest
import collections.abc, dataclasses, functools, math, pathlib, re, typing, batchops.errors, batchops.adapters
engine, path, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
document = json.loads(open(path, encoding="utf-8").read())
start = time.perf_counter()
if engine == "fastschema":
    from batchops.adapters import fastschema
    imported = time.perf_counter()
    from batchops.adapters import schema
    checker = fastschema.Checker(schema._load("batch-control"), schema._load)
    validate = lambda d: list(checker.iter_errors(d))
elif engine == "jsonschema-rs":
    import jsonschema_rs
    imported = time.perf_counter()
    from batchops.adapters import schema
    names = schema.schema_names()
    registry = jsonschema_rs.Registry([(schema._load(n)["$id"], schema._load(n)) for n in names])
    validator = jsonschema_rs.validator_for(schema._load("batch-control"), registry=registry)
    validate = lambda d: list(validator.iter_errors(d))
else:
    import jsonschema, referencing
    imported = time.perf_counter()
    from batchops.adapters import schema
    validator = schema._jsonschema_validator("batch-control")
    validate = lambda d: list(validator.iter_errors(d))
assert validate(document) == []
first = time.perf_counter()
samples = []
for _ in range(calls):
    t = time.perf_counter(); validate(document); samples.append(time.perf_counter() - t)
samples.sort()
print(json.dumps({"import": imported - start, "first": first - imported, "per_call": samples[len(samples) // 2]}))
"""

BROKEN = [
    ("wrong type", {"enabled": "yes"}),
    ("trailing newline", {"enabled": True, "disabled_ecosystems": ["npm\n"]}),
    ("unknown state", {"enabled": True, "circuit_breaker": {"npm": {"state": "ajar"}}}),
    ("misspelt key", {"enabled": True, "breaker_config": {"windw_size": 10}}),
    ("negative minutes", {"enabled": True, "budget": {"macos_minutes_used": -1}}),
    ("bad week start", {"enabled": True, "budget": {"week_start": "monday"}}),
    ("hostile key", {"enabled": True, "breaker_config": {"ecosystems": {"y\n::error::PWN": {}}}}),
]

ENGINES = ["fastschema", "jsonschema-rs", "jsonschema (Python)"]


def _probe(engine: str, path: Path, calls: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, engine.split()[0], str(path), str(calls)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def _errors(engine: str, document: object) -> list[str]:
    from batchops.adapters import fastschema, schema

    if engine == "fastschema":
        errors = fastschema.Checker(schema._load("batch-control"), schema._load).iter_errors(document)
        return [f"{schema._pointer(e.absolute_path) or '/'}: {e.message}" for e in errors]
    if engine == "jsonschema-rs":
        import jsonschema_rs

        names = schema.schema_names()
        registry = jsonschema_rs.Registry([(schema._load(n)["$id"], schema._load(n)) for n in names])
        validator = jsonschema_rs.validator_for(schema._load("batch-control"), registry=registry)
        return [f"{schema._pointer(e.instance_path) or '/'}: {e.message}" for e in validator.iter_errors(document)]
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    registry = Registry().with_resources(
        [(schema._load(n)["$id"], Resource.from_contents(schema._load(n))) for n in schema.schema_names()]
    )
    plain = Draft202012Validator(schema._load("batch-control"), registry=registry)  # stock, as shipped
    return [f"{schema._pointer(e.absolute_path) or '/'}: {e.message}" for e in plain.iter_errors(document)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per engine (default 15)")
    parser.add_argument("--calls", type=int, default=2000, help="validations per process for the per-call median")
    parser.add_argument("--file", type=Path, default=CORPUS, help="control file to validate")
    args = parser.parse_args()
    samples: dict[str, list[dict[str, float]]] = {engine: [] for engine in ENGINES}
    for engine in ENGINES:
        _probe(engine, args.file, 10)  # warm: .pyc files and the OS cache
    for _ in range(args.runs):
        for engine in ENGINES:
            samples[engine].append(_probe(engine, args.file, args.calls))
    rows = []
    for engine in ENGINES:
        med = {
            key: statistics.median(s[key] for s in samples[engine]) * 1000 for key in ("import", "first", "per_call")
        }
        rows.append(
            [
                engine,
                f"{med['import']:.2f}",
                f"{med['first']:.2f}",
                f"{med['import'] + med['first']:.2f}",
                f"{med['per_call'] * 1000:.1f}",
            ]
        )
    print(f"schema engines on {args.file.name}, median of {args.runs} fresh processes ({sys.version.split()[0]})")
    print(table(["engine", "import ms", "first ms", "import+first ms", "per call µs"], rows))
    print()
    print("error quality: instance path and message per engine")
    for label, document in BROKEN:
        print(f"\n## {label}: {json.dumps(document)}")
        for engine in ENGINES:
            found = _errors(engine, document)
            print(f"  {engine:<20} " + ("\n  " + " " * 21).join(found or ["(no error: accepted)"]))
        from batchops.adapters import schema
        from batchops.errors import BatchopsError

        try:
            schema.validate(document, "batch-control", file="batch-control.json", text=json.dumps(document, indent=2))
        except BatchopsError as exc:
            print(f"  {'batchops prints':<20} {exc.render()}")


if __name__ == "__main__":
    main()

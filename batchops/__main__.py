"""``python -m batchops``: the CLI entry (``batchops.cli.main``), with breaker-gate's lean path in front.

breaker-gate on a closed breaker is the question every batch of a healthy pipeline asks,
and its answer changes nothing. :func:`run` answers it from the raw control file
(:mod:`batchops.core.gate_glance`) before argparse and the step are imported: the same
flags and ``INPUT_*`` fallbacks, the same outputs, log line and step summary. Anything
else (another state, a flag it does not know, a file it cannot prove valid, dry-run)
goes to the full CLI, which answers it and reports every error.

A rollback by batch id starts its history walk here, before the CLI loads
(:mod:`batchops.adapters.walk_ahead`): the planner takes it over only when it is exactly the walk
it needs.

``scripts/batchops.sh`` calls :func:`main` with ``python -P -c`` (no runpy, no working
directory on ``sys.path``; ``-S`` too for the hot-path steps: no site-packages scan).
"""

from __future__ import annotations

import os
import sys

# flag -> the name of its value; as batchops.flags / the step declare them
_GATE_FLAGS = {"--ecosystem": "ecosystem", "--control-file": "control-file", "--now": "now", "--dry-run": "dry-run"}
_BOOLEAN_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")  # batchops.flags.BOOLEAN_WORDS


def _setting(name: str) -> str:
    """As ``runner.setting``: empty (or blank) counts as unset."""
    value = os.environ.get(name, "")
    return value if value.strip() != "" else ""


def _gate_flags(args: list[str]) -> dict[str, str] | None:
    """breaker-gate's flags as argparse and ``join_flag_values`` read them, or None for anything unusual."""
    given: dict[str, str] = {}
    index = 0
    while index < len(args):
        flag, equals, value = args[index].partition("=")
        if flag not in _GATE_FLAGS:
            return None
        if flag == "--dry-run" and not equals:  # bare, or followed by its word
            following = args[index + 1].lower() if index + 1 < len(args) else ""
            value = following if following in _BOOLEAN_WORDS else "true"
            index += 2 if following in _BOOLEAN_WORDS else 1
        elif not equals:
            if index + 1 >= len(args) or args[index + 1].startswith("-"):
                return None
            value = args[index + 1]
            index += 2
        else:
            index += 1
        if flag == "--dry-run" and value not in _BOOLEAN_WORDS:
            return None
        given[_GATE_FLAGS[flag]] = value
    return given


def gate_glance(args: list[str]) -> int | None:
    """breaker-gate's answer on a closed breaker, written as the full step writes it; None: ask the full step."""
    given = _gate_flags(args)
    if given is None:
        return None
    dry_run = given.get("dry-run", _setting("INPUT_DRY_RUN") or "false").strip().lower()
    if dry_run not in ("false", "0", "no", "off", ""):
        return None
    try:
        from batchops.core import gate_glance as lean
    except ImportError:  # an interpreter without CPython's _json: the full step
        return None

    ecosystem = given.get("ecosystem", _setting("INPUT_ECOSYSTEM")).strip()
    path = given.get("control-file", _setting("INPUT_CONTROL_FILE") or "batch-control.json")
    fixed = given.get("now") or _setting("BATCHOPS_NOW")
    now = lean.parse_iso(fixed) if fixed else lean.datetime.now(lean.UTC)
    if now is None or not lean.is_ecosystem(ecosystem):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    answer = lean.glance(text, ecosystem, now)
    if answer is None:
        return None
    output_file = os.environ.get("GITHUB_OUTPUT")
    try:
        if output_file:
            blocks = []
            for name, value in answer.outputs:
                delimiter = f"ghadelimiter_{os.urandom(16).hex()}"
                blocks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
            with open(output_file, "a", encoding="utf-8") as handle:
                handle.write("".join(blocks))
    except OSError:  # the full step reports it, naming the file
        return None
    in_actions = os.environ.get("GITHUB_ACTIONS") == "true"
    try:
        print(answer.log, file=sys.stdout if in_actions else sys.stderr, flush=True)
        if not output_file:
            sys.stdout.write("".join(f"{name}={value}\n" for name, value in answer.outputs))
            sys.stdout.flush()
    except BrokenPipeError:
        return 1
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(answer.summary.rstrip("\n") + "\n\n")
        except OSError:  # as the runner adapter says it: one warning, the result stands
            from batchops.adapters import runner

            runner.summary(answer.summary)
    return 0


def run(argv: list[str]) -> int:
    if argv[:1] == ["breaker-gate"]:
        code = gate_glance(argv[1:])
        if code is not None:
            return code
    elif argv[:1] == ["rollback"]:
        import atexit
        import gc

        from batchops.adapters import walk_ahead

        walk_ahead.start(argv[1:], os.environ)  # the history walk of a plan by batch id runs while the CLI loads

        # The last exit handler: the interpreter's final collection then skips the objects of every
        # module imported (a rollback imports the most), ~10 ms of a plan; files are closed by then.
        atexit.register(gc.freeze)
    from batchops.cli import main

    return main(argv)


# Steps that every batch runs, short-lived and small: the cyclic garbage collector is
# off for them (it would only walk the objects of every module imported; the process
# ends within milliseconds and frees everything).
SHORT_LIVED = ("preflight", "breaker-gate", "breaker-update")


def main(argv: list[str]) -> int:
    """The process entry (``python -m batchops``, ``scripts/batchops.sh``)."""
    if argv[:1] and argv[0] in SHORT_LIVED:
        import gc

        gc.disable()
    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

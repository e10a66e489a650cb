#!/usr/bin/env bash
# Entry of every step action: make sure the environment exists, then run
# batchops from this checkout of the action (no build step).
#
# The warm path (every step after the job's first) starts no process but the
# interpreter: the environment is ready when its copy of requirements.lock is the
# lock of this checkout. The interpreter compares the two (two reads in C, where
# bash would take milliseconds to read 40 KB twice); when they differ, or the copy
# is missing, it runs this script again with BATCHOPS_INSTALL_FIRST=1, which
# builds the environment (scripts/install.sh) and runs the step on it.
#
# The steps on a batch's hot path (preflight, breaker-gate, breaker-update) import
# only the standard library and batchops, so they run with -S (no site-packages
# scan at start-up). Every step runs with -P (the workspace never shadows a module:
# no working directory on sys.path) and through -c rather than -m (no runpy);
# breaker-gate answers a closed breaker before argparse is imported (batchops/__main__.py).
set -euo pipefail
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
case "$here" in /*) ;; *) here="$PWD/$here" ;; esac
root="${here%/scripts}"
[ "$root" != "$here" ] || root="$here/.."
venv="${BATCHOPS_VENV:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/batchops-venv}"
python="$venv/bin/python"
stamp="$venv/.batchops-lock"
if [ -n "${BATCHOPS_INSTALL_FIRST:-}" ] || [ ! -x "$python" ]; then
  unset BATCHOPS_INSTALL_FIRST
  python="$(bash "$root/scripts/install.sh")"
  stamp=""  # just made sure of it
fi
flags=(-P)
case "${1:-}" in preflight | breaker-gate | breaker-update) flags=(-S -P) ;; esac
# argv: the lock, the environment's copy of it ('' when just installed), this script, the command line
entry='import sys
lock, stamp, script = sys.argv[1:4]
if stamp:
    try:
        with open(lock, "rb") as want, open(stamp, "rb") as have:
            ready = want.read() == have.read()
    except OSError:
        ready = False
    if not ready:
        import os
        os.environ["BATCHOPS_INSTALL_FIRST"] = "1"
        os.execvp("bash", ["bash", script, *sys.argv[4:]])
from batchops.__main__ import main
sys.exit(main(sys.argv[4:]))'
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$python" "${flags[@]}" -c "$entry" \
  "$root/requirements.lock" "$stamp" "$here/batchops.sh" "$@"

#!/usr/bin/env bash
# Entry of every step action: make sure the environment exists, then run
# batchops from this checkout of the action (no build step).
#
# The warm path (every step after the job's first) starts no process but the
# interpreter: the environment is ready when its copy of requirements.lock is the
# lock of this checkout, compared with bash builtins. The steps on a batch's hot
# path (preflight, breaker-gate, breaker-update) import only the standard library
# and batchops, so they run with -S (no site-packages scan at start-up).
set -euo pipefail
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
case "$here" in /*) ;; *) here="$PWD/$here" ;; esac
root="${here%/scripts}"
[ "$root" != "$here" ] || root="$here/.."
venv="${BATCHOPS_VENV:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/batchops-venv}"
python=""
if [ -x "$venv/bin/python" ] && [ -f "$venv/.batchops-lock" ] && [ -f "$root/requirements.lock" ]; then
  IFS= read -r -d '' want < "$root/requirements.lock" || true
  IFS= read -r -d '' have < "$venv/.batchops-lock" || true
  [ "$want" = "$have" ] && python="$venv/bin/python"
fi
[ -n "$python" ] || python="$(bash "$root/scripts/install.sh")"
# -P: the workspace never shadows a module (no working directory on sys.path);
# -c rather than -m: no runpy. breaker-gate answers a closed breaker before argparse
# is imported (batchops/__main__.py).
flags=(-P)
case "${1:-}" in preflight | breaker-gate | breaker-update) flags=(-S -P) ;; esac
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$python" "${flags[@]}" -c \
  'import sys; from batchops.__main__ import run; sys.exit(run(sys.argv[1:]))' "$@"

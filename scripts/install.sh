#!/usr/bin/env bash
# Make sure the isolated environment with batchops' pinned runtime dependencies
# exists (once per job; every step action calls this and only the first one
# pays), then print the path of its Python interpreter.
#
#   BATCHOPS_VENV   where the environment lives (default: $RUNNER_TEMP/batchops-venv)
#   BATCHOPS_PYTHON interpreter to build it with (default: python3; 3.11 or newer)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BATCHOPS_VENV:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/batchops-venv}"
python="${BATCHOPS_PYTHON:-python3}"
want="$(sha256sum < "$root/requirements.lock" | cut -c1-16)"

ready() { [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.batchops-stamp" 2>/dev/null)" = "$want" ]; }

if ready; then
  echo "$venv/bin/python"
  exit 0
fi

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "::error title=batchops setup::batchops needs Python 3.11 or newer as '$python'. Add a step 'uses: actions/setup-python@v5' with 'python-version: \"3.12\"' before this action, or set BATCHOPS_PYTHON." >&2
  exit 1
fi

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9 2>/dev/null || true   # two steps of one job never install at the same time
if ready; then
  echo "$venv/bin/python"
  exit 0
fi

rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  -r "$root/requirements.lock" >&2
printf '%s' "$want" > "$venv/.batchops-stamp"
echo "$venv/bin/python"

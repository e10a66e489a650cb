#!/usr/bin/env bash
# Create (once) the development environment .venv with batchops and its test tools.
# Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BATCHOPS_DEV_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
extra="${1:-}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "batchops needs Python 3.11 or newer as '$python' (set PYTHON=python3.12 to choose another)." >&2
  exit 1
fi
stamp="$venv/.stamp$extra"
want="$(cat "$root/pyproject.toml" "$root/requirements.lock" | sha256sum | cut -c1-16)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -c <(sed -e '/--hash=/d' -e 's/ *\\$//' "$root/requirements.lock") -e "$root$extra"
  printf '%s' "$want" > "$stamp"
  printf '%s' "$want" > "$venv/.stamp"   # the base install is part of every install
fi

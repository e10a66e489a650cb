#!/usr/bin/env bash
# Quick start, first command: the offline demo of the whole control plane.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/dev-env.sh" >&2
venv="${BATCHOPS_DEV_VENV:-$root/.venv}"
status=0
"$venv/bin/batchops" demo "$@" || status=$?
if ! command -v batchops > /dev/null 2>&1; then
  echo "  (\`batchops\` is $venv/bin/batchops here; to put it on your PATH: pipx install \"$root\", see docs/install.md)"
fi
exit "$status"

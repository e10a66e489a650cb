#!/usr/bin/env bash
# Quick start, first command: the offline demo of the whole control plane.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/dev-env.sh" >&2
exec "${BATCHOPS_DEV_VENV:-$root/.venv}/bin/batchops" demo "$@"

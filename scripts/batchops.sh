#!/usr/bin/env bash
# Entry of every step action: make sure the environment exists, then run
# batchops from this checkout of the action (no build step).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="$(bash "$root/scripts/install.sh")"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m batchops "$@"

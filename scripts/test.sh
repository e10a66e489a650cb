#!/usr/bin/env bash
# Quick start, second command: install the test tools and run the whole test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/dev-env.sh" "[test]" >&2
bash "$root/scripts/test-tools.sh"
venv="${BATCHOPS_DEV_VENV:-$root/.venv}"
export PATH="$venv/bin:$PATH"
cd "$root"
exec "$venv/bin/python" -m pytest -n 2 --dist loadgroup -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Install the non-Python tools the test suite runs, once per machine:
#   - node packages pinned in tests/tools/package-lock.json (wrangler 3, @octokit/openapi)
#     into a cache folder keyed by the lock's hash; prints nothing on reuse;
#   - from Debian when missing: jq and sqlite3 (the legacy runbook's procedures), golang-go (the first
#     user's Go readers of the control file are built from its source) and chromium (the status page
#     is rendered in a real browser).
# Exports nothing; tests find the node tools through BATCHOPS_TEST_TOOLS (see tests/support/tools.py).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${BATCHOPS_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/batchops/test-tools}"
want="$(cat "$root/tests/tools/package.json" "$root/tests/tools/package-lock.json" | sha256sum | cut -c1-16)"
dir="$cache/$want"
if [ ! -f "$dir/.ready" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "test-tools: npm is needed (install Node.js 20 or newer)" >&2
    exit 1
  fi
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  cp "$root/tests/tools/package.json" "$root/tests/tools/package-lock.json" "$dir.tmp/"
  (cd "$dir.tmp" && npm ci --no-audit --no-fund --loglevel=error >&2)
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  touch "$dir/.ready"
fi
ln -sfn "$dir" "$cache/current"
missing=()
command -v jq >/dev/null 2>&1 || missing+=(jq)
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "test-tools: please install ${missing[*]} (e.g. sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

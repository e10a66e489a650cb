#!/usr/bin/env bash
# Make sure the isolated environment with batchops' pinned runtime dependencies
# exists (once per job; every step action calls this and only the first one
# pays), then print the path of its Python interpreter.
#
# The environment is built with uv from requirements.lock (every file
# hash-pinned, installed with --require-hashes). uv is taken from PATH, or from
# the tool cache where an earlier job put it, or put there first: the wheel of
# this platform fetched from the index, or else `pip install --target` (either
# way checked against the hashes of uv pinned below). When uv cannot be had,
# python -m venv + pip install the same pinned files (one warning).
#
#   BATCHOPS_VENV      where the environment lives (default: $RUNNER_TEMP/batchops-venv)
#   BATCHOPS_PYTHON    interpreter to build it with (default: python3; 3.11 or newer)
#   BATCHOPS_INSTALLER uv (default) or pip (skip uv)
#   RUNNER_TOOL_CACHE  where uv is kept between jobs (batchops-uv/ in it; default: ~/.cache/batchops/uv)
#   UV_CACHE_DIR       uv's download cache (uv's default when unset)
#
# Works from any copy of the whole repository tree (release tag, checkout,
# vendored folder): everything is found from this file's own location.
set -euo pipefail

UV_VERSION=0.13.9
# UV_HASHES: sha256 of every file of that uv release. Regenerate when UV_VERSION changes:
#   echo uv==X.Y.Z | uv pip compile --generate-hashes --universal --no-header --no-annotate -
UV_HASHES="
16963d19594e18d746a70c7fce82237bde4f2cac4cfcf0ca2b84796fe9d0c6e9 2c45530751517d6c3bbc69a19473f6effe47cce047bede01ffd8af7ea7b36b25
3eeeb51a267a2144640fcd8f38d4a2f63439b39bc47445fd84727c3fc462c843 5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe
56ec37616c00220032fc7b8c9d0ef51367fd0d70d9cd6ddd841660f949f84fed 66c512266d633bef48384a1f53003f41f2a8e7b36fe6e7fbfd3e0fd52d96fa63
6a44b2ed8111d2f60d2b92627c5dccda3f7ed7570b18ce115e569cd68c28246b 6b0c7b9f47a5d011939d61e324d3fe18a8bc155d8dd53add738709a92f290a7c
6d5114bba238adddacb32fb11904f2b3ff4e988f8e9ff0d8d3b5e9822cf836b8 7ec1e1dd9b6cb335c301afdf877989df384227313981850755a59561f75e4ab8
a2ee66fe8b6608e1482ab1bde5799da04705c1cb40324c7f66054ecf46ae6e40 a6e845f387e4ed55bb59342957a9179e24a631fcc7668bda3426ae1cef8ed4b9
c16ed11e013557536b3e60065f1b912f6407bd6518e041b961e23ef9e6b4fbf5 c5dbdb7c8737cd183a9dce95b39cfd1f3d54ec2a27a1bb58f160293f9ba2c805
d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19 db5c8df7145c21ffea9c0f74e38823bac3af60cbadf0e26b8633f08627b17bab
dd6f4f93ddf8a668c73f0945f3638444b2140a4e15a3912067493fc6335543e4 ecb6028d79dc96fbeafffe5c8af62a7099487ebc05a701e76714eebcffd06375
eeb92051c2123b9730c46b04cc843cfa4bc7d7b0aec56df431a2215ef4cb0273
"

# Python (stdlib only) that fetches uv's wheel for this platform from a simple index (PEP 691).
# argv: version, target folder, index URL, pinned sha256 hashes.
FETCH_UV='
import hashlib, io, json, os, platform, sys, urllib.parse, urllib.request, zipfile
version, target, index, pinned = sys.argv[1], sys.argv[2], sys.argv[3], set(sys.argv[4].split())
system, machine = platform.system(), platform.machine().lower()
machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "Linux" else "arm64"}.get(machine, machine)
if system == "Linux":
    wanted = ["manylinux_2_17_" + machine, "manylinux_2_28_" + machine] if platform.libc_ver()[0] else ["musllinux_1_1_" + machine]
elif system == "Darwin":
    wanted = ["macosx_11_0_arm64" if machine == "arm64" else "macosx_10_12_x86_64"]
else:
    sys.exit(2)
page = index.rstrip("/") + "/uv/"
request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
with urllib.request.urlopen(request, timeout=15) as answer:
    files = json.load(answer)["files"]
def fits(f, tag):
    name = f["filename"]
    return name.startswith("uv-" + version + "-") and name.endswith(".whl") and tag in name[:-4].rsplit("-", 1)[-1].split(".")
chosen = next(f for tag in wanted for f in files if fits(f, tag) and f.get("hashes", {}).get("sha256") in pinned)
with urllib.request.urlopen(urllib.parse.urljoin(page, chosen["url"]), timeout=60) as answer:
    data = answer.read()
if hashlib.sha256(data).hexdigest() not in pinned:
    sys.exit("uv wheel: hash mismatch")
os.makedirs(os.path.join(target, "bin"), exist_ok=True)
binary = os.path.join(target, "bin", "uv")
with zipfile.ZipFile(io.BytesIO(data)) as wheel, open(binary, "wb") as out:
    out.write(wheel.read("uv-" + version + ".data/scripts/uv"))
os.chmod(binary, 0o755)
'

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$root/requirements.lock"

# A workflow command's value on one line (% CR LF escaped as the runner expects).
esc() { local s="${1//%/%25}"; s="${s//$'\r'/%0D}"; printf '%s' "${s//$'\n'/%0A}"; }

missing=""
[ -f "$lock" ] || missing="$missing, requirements.lock"
[ -f "$root/batchops/__main__.py" ] || missing="$missing, batchops/"
[ -f "$root/schemas/batch-control.schema.json" ] || missing="$missing, schemas/"
if [ -n "$missing" ]; then
  echo "::error title=batchops setup::$(esc "$root") is an incomplete copy of batchops (missing ${missing#, }). The actions need the whole repository tree, not only actions/ and scripts/. Copy all of it, e.g. git clone --depth 1 --branch v1 https://github.com/batchops/batchops.git vendor/batchops && rm -rf vendor/batchops/.git (see docs/install.md)." >&2
  exit 1
fi

venv="${BATCHOPS_VENV:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/batchops-venv}"
python="${BATCHOPS_PYTHON:-python3}"
if command -v sha256sum > /dev/null 2>&1; then
  want="$(sha256sum < "$lock" | cut -c1-16)"
else
  want="$(shasum -a 256 < "$lock" | cut -c1-16)"   # macOS
fi

ready() { [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.batchops-stamp" 2>/dev/null)" = "$want" ]; }

if ready; then
  echo "$venv/bin/python"
  exit 0
fi

if ! interpreter="$("$python" -c 'import sys; print(sys.executable) if sys.version_info >= (3, 11) else sys.exit(1)' 2>/dev/null)"; then
  echo "::error title=batchops setup::batchops needs Python 3.11 or newer as '$(esc "$python")'. Add a step 'uses: actions/setup-python@v5' with 'python-version: \"3.12\"' before this action, or set BATCHOPS_PYTHON." >&2
  exit 1
fi

# Two steps of one job never install at the same time: the second waits, then reuses.
mkdir -p "$(dirname "$venv")"
if command -v flock > /dev/null 2>&1; then
  exec 9> "$venv.lock"
  flock 9
else   # macOS has no flock: a lock directory, taken over after 10 minutes
  waited=0
  until mkdir "$venv.lockdir" 2> /dev/null; do
    waited=$((waited + 1))
    if [ "$waited" -gt 3000 ]; then rm -rf "$venv.lockdir"; fi
    sleep 0.2
  done
  trap 'rmdir "$venv.lockdir" 2> /dev/null || true' EXIT
fi
if ready; then
  echo "$venv/bin/python"
  exit 0
fi

now_us() {
  if [ -n "${EPOCHREALTIME:-}" ]; then local t="${EPOCHREALTIME/[.,]/}"; echo "$((10#$t))"; else echo "$(($(date +%s) * 1000000))"; fi
}
started="$(now_us)"

# The uv to use: on PATH, kept in the tool cache, or put there first.
uv_home="${RUNNER_TOOL_CACHE:+$RUNNER_TOOL_CACHE/batchops-uv}"
uv_home="${uv_home:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/batchops/uv}"
uv_dir="$uv_home/$UV_VERSION"
uv_how=""
find_uv() {
  if command -v uv > /dev/null 2>&1; then
    uv="$(command -v uv)"; uv_how="$("$uv" --version 2> /dev/null | cut -d" " -f1-2) from PATH"; return 0
  fi
  uv="$uv_dir/bin/uv"
  if [ -x "$uv" ]; then uv_how="uv $UV_VERSION from the tool cache"; return 0; fi
  local tmp="$uv_dir.tmp.$$" hashes="" h
  for h in $UV_HASHES; do hashes="$hashes --hash=sha256:$h"; done
  mkdir -p "$uv_home" 2> /dev/null || return 1
  if command -v flock > /dev/null 2>&1; then   # jobs sharing the tool cache fetch uv once
    exec 8> "$uv_home/$UV_VERSION.lock" && flock 8
    if [ -x "$uv" ]; then uv_how="uv $UV_VERSION from the tool cache"; return 0; fi
  fi
  rm -rf "$tmp"
  mkdir -p "$tmp" 2> /dev/null || return 1
  # Fast path: the one wheel of this platform straight from the index, checked against
  # the pinned hashes, only its uv binary unpacked. Otherwise pip does it.
  if ! "$interpreter" - "$UV_VERSION" "$tmp" "${UV_INDEX_URL:-${PIP_INDEX_URL:-https://pypi.org/simple}}" "$UV_HASHES" \
      <<< "$FETCH_UV" 2> /dev/null || [ ! -x "$tmp/bin/uv" ]; then
    rm -rf "$tmp"
    mkdir -p "$tmp"
    printf 'uv==%s%s\n' "$UV_VERSION" "$hashes" > "$tmp.txt"
    if ! PIP_ROOT_USER_ACTION=ignore "$interpreter" -m pip install --quiet --disable-pip-version-check --no-input \
        --no-cache-dir --no-compile --no-deps --only-binary :all: --require-hashes --target "$tmp" -r "$tmp.txt" >&2 \
        || [ ! -x "$tmp/bin/uv" ]; then
      rm -rf "$tmp" "$tmp.txt"
      return 1
    fi
    rm -f "$tmp.txt"
  fi
  if [ ! -x "$uv" ]; then
    rm -rf "$uv_dir"   # a broken leftover
    mv "$tmp" "$uv_dir" 2> /dev/null || true
  fi
  rm -rf "$tmp" "${uv_dir:?}/${tmp##*/}"
  [ -x "$uv" ] || return 1
  uv_how="uv $UV_VERSION (installed into the tool cache first)"
}

with_uv() {
  "$uv" --quiet --no-config venv --no-python-downloads --python "$interpreter" "$venv" >&2 \
    && "$uv" --quiet --no-config pip install --no-python-downloads --python "$venv/bin/python" \
      --require-hashes -r "$lock" >&2
}

with_pip() {
  rm -rf "$venv"
  "$interpreter" -m venv "$venv" >&2 \
    && PIP_ROOT_USER_ACTION=ignore "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
      --require-hashes -r "$lock" >&2
}

rm -rf "$venv"
built=""
if [ "${BATCHOPS_INSTALLER:-uv}" = pip ]; then
  with_pip && built="pip"
elif find_uv; then
  exec 8>&-   # the tool cache lock, if taken
  if with_uv; then
    built="$uv_how"
  else
    echo "::warning title=batchops setup::uv could not install requirements.lock into $(esc "$venv"); installing it with pip instead (slower)." >&2
    with_pip && built="pip (uv failed)"
  fi
else
  exec 8>&-
  echo "::warning title=batchops setup::uv $UV_VERSION could not be installed into $(esc "$uv_home"); installing requirements.lock with pip instead (slower). Put uv on PATH or make RUNNER_TOOL_CACHE writable to get the fast setup." >&2
  with_pip && built="pip (uv unavailable)"
fi
if [ -z "$built" ]; then
  rm -rf "$venv"
  echo "::error title=batchops setup::could not install the pinned dependencies (requirements.lock) into $(esc "$venv"); see the messages above. A package index must be reachable (PyPI, or the one set by UV_INDEX_URL / PIP_INDEX_URL)." >&2
  exit 1
fi

elapsed_ms=$((($(now_us) - started) / 1000))
report="environment built in $((elapsed_ms / 1000)).$(printf '%02d' $((elapsed_ms % 1000 / 10))) s with $built"
printf '%s\n' "$report" > "$venv/.batchops-setup"
echo "batchops setup: $report" >&2
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  printf '_batchops setup: %s._\n\n' "$report" >> "$GITHUB_STEP_SUMMARY" 2> /dev/null || true
fi
# Byte-compile this copy of batchops once, so no later step of the job compiles on import.
"$venv/bin/python" -m compileall -q "$root/batchops" > /dev/null 2>&1 || true
cp "$lock" "$venv/.batchops-lock"   # scripts/batchops.sh compares it with the lock without a subprocess
printf '%s' "$want" > "$venv/.batchops-stamp"
echo "$venv/bin/python"

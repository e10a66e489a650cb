"""scripts/install.sh, the install entry of every action: uv from a cold start, reuse, the pip
fallback, and a clear error for an incomplete copy of the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install.sh"
UV_VERSION = re.search(r"^UV_VERSION=(\S+)$", INSTALL.read_text(), re.M).group(1)  # type: ignore[union-attr]

pytestmark = pytest.mark.slow


def _path_without_uv() -> str:
    """PATH as it is, less every folder that holds a `uv` (a fresh runner has none)."""
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "uv").exists()]
    return os.pathsep.join(dirs)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_", "UV_", "BATCHOPS_"))}
    env.update(
        PATH=_path_without_uv(),
        RUNNER_TOOL_CACHE=str(tmp_path / "tool-cache"),
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
        BATCHOPS_VENV=str(tmp_path / "venv"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
    )
    env.update(extra)
    return env


def _install(env: dict[str, str], script: Path = INSTALL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300, check=False)


def _lock_pins() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text()
    return {m[0].lower().replace("_", "-"): m[1] for m in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def _installed(python: str) -> dict[str, str]:
    code = "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version)"
    out = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    pairs = (line.split(" ", 1) for line in out.splitlines() if line.strip())
    return {
        name.lower().replace("_", "-"): version for name, version in pairs if name.lower() not in ("pip", "setuptools")
    }


def test_every_locked_requirement_is_pinned_and_hash_pinned() -> None:
    text = (ROOT / "requirements.lock").read_text()
    assert "uv pip compile" in text.splitlines()[1], "the header says how to regenerate the lock"
    blocks = re.split(r"\n(?=[A-Za-z])", text.split("\n", 2)[2])
    assert len(blocks) == len(_lock_pins()) >= 10
    for block in blocks:
        assert re.match(r"[A-Za-z0-9_.-]+==", block), block
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"no hash for {block.splitlines()[0]}"
    wanted = {
        line.strip().lower()
        for line in (ROOT / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert wanted == {"pygithub", "jsonschema", "requests"}
    assert wanted <= set(_lock_pins())


def test_cold_install_bootstraps_pinned_uv_into_the_tool_cache_and_installs_the_lock(tmp_path: Path) -> None:
    env = _env(tmp_path)
    run = _install(env)
    assert run.returncode == 0, run.stderr
    python = run.stdout.strip()
    assert python == str(tmp_path / "venv" / "bin" / "python")
    assert "::warning" not in run.stderr and "::error" not in run.stderr
    uv = tmp_path / "tool-cache" / "batchops-uv" / UV_VERSION / "bin" / "uv"
    assert not list(uv.parent.parent.glob("*.dist-info")), (
        "the wheel of this platform was fetched directly, not through pip"
    )
    assert subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True).stdout.startswith(
        f"uv {UV_VERSION}"
    )
    assert any((tmp_path / "uv-cache").iterdir()), "uv downloads into UV_CACHE_DIR"
    assert _installed(python) == _lock_pins()
    setup = (tmp_path / "venv" / ".batchops-setup").read_text()
    assert re.fullmatch(
        rf"environment built in \d+\.\d\d s with uv {re.escape(UV_VERSION)} \(installed into the tool cache first\)\n",
        setup,
    )
    assert re.search(r"batchops setup: environment built in \d+\.\d\d s", (tmp_path / "summary.md").read_text())

    # a later job (new environment, same tool cache) takes uv from the cache; an existing one is reused as is
    again = _install(_env(tmp_path, BATCHOPS_VENV=str(tmp_path / "venv-2")))
    assert again.returncode == 0, again.stderr
    assert f"with uv {UV_VERSION} from the tool cache" in (tmp_path / "venv-2" / ".batchops-setup").read_text()
    reuse = _install(env)
    assert reuse.returncode == 0 and reuse.stdout.strip() == python
    assert reuse.stderr == ""

    # a uv already on PATH (setup-uv, a runner image) is used as it is; nothing goes to the tool cache
    on_path = _env(tmp_path, BATCHOPS_VENV=str(tmp_path / "venv-3"), RUNNER_TOOL_CACHE=str(tmp_path / "other-cache"))
    on_path["PATH"] = f"{uv.parent}{os.pathsep}{on_path['PATH']}"
    third = _install(on_path)
    assert third.returncode == 0, third.stderr
    assert f"with uv {UV_VERSION} from PATH" in (tmp_path / "venv-3" / ".batchops-setup").read_text()
    assert not (tmp_path / "other-cache").exists()


def test_parallel_steps_of_one_job_install_once(tmp_path: Path) -> None:
    env = _env(tmp_path)
    procs = [
        subprocess.Popen(["bash", str(INSTALL)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    assert {out.strip() for out, _, _ in results} == {str(tmp_path / "venv" / "bin" / "python")}
    built = [err for _, err, _ in results if "batchops setup: environment built" in err]
    assert len(built) == 1, results
    assert (tmp_path / "summary.md").read_text().count("batchops setup:") == 1


def test_jobs_sharing_a_tool_cache_fetch_uv_once(tmp_path: Path) -> None:
    envs = [_env(tmp_path, BATCHOPS_VENV=str(tmp_path / f"job-{i}")) for i in range(2)]
    procs = [
        subprocess.Popen(["bash", str(INSTALL)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for env in envs
    ]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert all(code == 0 and "::warning" not in err for _, err, code in results), results
    how = sorted(
        (tmp_path / f"job-{i}" / ".batchops-setup").read_text().split(" with ", 1)[1].strip() for i in range(2)
    )
    assert how == [f"uv {UV_VERSION} (installed into the tool cache first)", f"uv {UV_VERSION} from the tool cache"]
    assert sorted(p.name for p in (tmp_path / "tool-cache" / "batchops-uv").iterdir()) == [
        UV_VERSION,
        f"{UV_VERSION}.lock",
    ]


def test_without_uv_it_warns_once_and_installs_the_same_pins_with_pip(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    env = _env(tmp_path, RUNNER_TOOL_CACHE=str(blocked))
    run = _install(env)
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("::warning")]
    assert len(warnings) == 1 and f"uv {UV_VERSION} could not be installed" in warnings[0] and "pip" in warnings[0]
    assert _installed(run.stdout.strip()) == _lock_pins()
    assert "with pip (uv unavailable)" in (tmp_path / "venv" / ".batchops-setup").read_text()
    later = _install(env)  # the next step of the job reuses it, without a second warning
    assert later.returncode == 0 and later.stderr == ""


def _partial_copy(tmp_path: Path, *parts: str) -> Path:
    copy = tmp_path / "vendor" / "batchops"
    copy.mkdir(parents=True)
    for part in parts:
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, copy / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, copy / part)
    return copy


def test_a_copy_of_only_actions_and_scripts_fails_with_one_error_naming_what_is_missing(tmp_path: Path) -> None:
    copy = _partial_copy(tmp_path, "actions", "scripts")
    run = subprocess.run(
        ["bash", str(copy / "scripts" / "batchops.sh"), "preflight"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith("::error title=batchops setup::")
    assert "missing requirements.lock, batchops/, schemas/" in line
    assert "git clone" in line and "docs/install.md" in line
    assert not (tmp_path / "venv").exists()


def test_a_copy_without_the_schemas_names_only_the_schemas(tmp_path: Path) -> None:
    copy = _partial_copy(tmp_path, "actions", "scripts", "batchops", "requirements.lock")
    run = _install(_env(tmp_path), copy / "scripts" / "install.sh")
    assert run.returncode == 1
    assert "(missing schemas/)" in run.stderr and len(run.stderr.splitlines()) == 1


def test_an_old_python_is_refused_with_the_fix(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\nexit 1\n")
    old.chmod(0o755)
    run = _install(_env(tmp_path, BATCHOPS_PYTHON=str(old)))
    assert run.returncode == 1
    (line,) = run.stderr.splitlines()
    assert "needs Python 3.11 or newer" in line and "actions/setup-python" in line
    assert not (tmp_path / "venv").exists()


def test_the_benchmark_runs_in_its_quick_form() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "setup.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "setup, warm (reuse)" in run.stdout


def test_behind_an_html_only_index_uv_is_bootstrapped_with_pip(tmp_path: Path) -> None:
    """A mirror that serves only the HTML simple API (PEP 503): the direct wheel fetch cannot
    read it, so pip installs the same pinned uv."""
    import json
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    request = urllib.request.Request(
        "https://pypi.org/simple/uv/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        files = [f for f in json.load(answer)["files"] if f["filename"].startswith(f"uv-{UV_VERSION}-")]
    links = "".join(f'<a href="{f["url"]}#sha256={f["hashes"]["sha256"]}">{f["filename"]}</a>\n' for f in files)
    page = f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode()

    class Mirror(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            ok = self.path.rstrip("/") == "/simple/uv"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page if ok else b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Mirror)

    server.socket.settimeout(0.5)  # accept() never waits for ever
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run = _install(_env(tmp_path, PIP_INDEX_URL=f"http://127.0.0.1:{server.server_port}/simple/"))
    finally:
        server.shutdown()
    assert run.returncode == 0, run.stderr
    assert "::warning" not in run.stderr
    kept = tmp_path / "tool-cache" / "batchops-uv" / UV_VERSION
    assert (kept / "bin" / "uv").exists() and (kept / f"uv-{UV_VERSION}.dist-info").is_dir()  # pip's doing
    assert (
        f"with uv {UV_VERSION} (installed into the tool cache first)"
        in (tmp_path / "venv" / ".batchops-setup").read_text()
    )
    assert _installed(run.stdout.strip()) == _lock_pins()


def test_the_package_installs_the_way_pre_commit_installs_the_hook(tmp_path: Path) -> None:
    """pre-commit builds the hook from a clone of a release (`pip install .`, no editable
    install, no PYTHONPATH): every subpackage and the schemas must be in it."""
    setup = _install(_env(tmp_path))  # also brings the pinned uv into the tool cache
    assert setup.returncode == 0, setup.stderr
    uv = str(tmp_path / "tool-cache" / "batchops-uv" / UV_VERSION / "bin" / "uv")
    clone = tmp_path / "clone"
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file() and not (ROOT / name).is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
        elif (ROOT / name).is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).symlink_to((ROOT / name).readlink())
    env = {**_env(tmp_path), "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    hook_env = tmp_path / "hook-env"
    subprocess.run(
        [uv, "--quiet", "--no-config", "venv", "--python", sys.executable, str(hook_env)],
        env=env,
        check=True,
        capture_output=True,
    )
    built = subprocess.run(
        [
            uv,
            "--quiet",
            "--no-config",
            "pip",
            "install",
            "--python",
            str(hook_env / "bin" / "python"),
            "-c",
            str(ROOT / "requirements.lock"),
            str(clone),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (tmp_path / "batch-control.json").write_text('{"enabled": true}')
    hook = subprocess.run(
        [str(hook_env / "bin" / "batchops"), "validate", "batch-control.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert hook.returncode == 0, hook.stdout + hook.stderr
    assert "batch-control.json: ok" in hook.stdout

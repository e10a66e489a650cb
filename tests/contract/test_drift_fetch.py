"""The upstream fetcher (batchops.adapters.http) against a hostile or broken server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from batchops import cli
from batchops.adapters.http import Fetcher
from tests.support.upstream import Upstream

SUMS = "a" * 64 + "  tool_1.0.0_linux_amd64.zip\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def fetcher():  # type: ignore[no-untyped-def]
    made: list[Fetcher] = []

    def make(**kwargs: object) -> Fetcher:
        item = Fetcher(**kwargs)  # type: ignore[arg-type]
        made.append(item)
        return item

    yield make
    for item in made:
        item.close()


def test_a_body_shorter_than_its_content_length_is_truncated_never_hashed(upstream: Upstream, fetcher) -> None:  # type: ignore[no-untyped-def]
    url = upstream.put("/short/SHA256SUMS", SUMS * 4, fault="short")

    result = fetcher(timeout=5).fetch(url)

    assert result.sha256 is None
    assert result.error.startswith("truncated:")
    assert f"of the {len(SUMS * 4)} bytes announced" in result.error


def test_a_chunked_body_cut_off_is_truncated(upstream: Upstream, fetcher) -> None:  # type: ignore[no-untyped-def]
    url = upstream.put("/chunked/SHA256SUMS", SUMS * 4, fault="chunked-cut")

    result = fetcher(timeout=5).fetch(url)

    assert result.sha256 is None
    assert "truncated" in result.error or "network error" in result.error


def test_a_body_without_a_length_is_complete_when_the_server_closes(upstream: Upstream, fetcher) -> None:  # type: ignore[no-untyped-def]
    url = upstream.put("/nolength/SHA256SUMS", SUMS, fault="no-length")

    result = fetcher(timeout=5).fetch(url)

    assert result.error == "" and result.sha256 == sha(SUMS)


@pytest.mark.parametrize("fault", ["drip-headers", "drip-body"])
def test_a_slow_loris_server_is_cut_off_at_the_timeout_not_reset_by_each_byte(
    upstream: Upstream, fetcher, fault: str
) -> None:  # type: ignore[no-untyped-def]
    url = upstream.put(f"/{fault}/SHA256SUMS", SUMS, fault=fault, drip=0.1)  # ~10 s to send it all

    start = time.monotonic()
    result = fetcher(timeout=1).fetch(url)
    took = time.monotonic() - start

    assert result.sha256 is None
    assert "timed out" in result.error
    assert took < 2.5, f"the 1 s deadline took {took:.1f} s"


def test_the_step_deadline_stops_every_download_at_once(upstream: Upstream, fetcher) -> None:  # type: ignore[no-untyped-def]
    urls = [upstream.put(f"/slow{n}/SUMS", SUMS, fault="drip-body", drip=0.2) for n in range(6)]
    deadline = time.monotonic() + 1.0

    start = time.monotonic()
    results = fetcher(timeout=30, workers=3, step_deadline=deadline).fetch_all(urls)
    took = time.monotonic() - start

    assert all(r.sha256 is None for r in results.values())
    assert all("deadline" in r.error for r in results.values()), [r.error for r in results.values()]
    assert took < 2.5, f"the 1 s step deadline took {took:.1f} s"


def test_a_download_after_the_step_deadline_is_not_started(upstream: Upstream, fetcher) -> None:  # type: ignore[no-untyped-def]
    url = upstream.put("/late/SUMS", SUMS)

    result = fetcher(step_deadline=time.monotonic() - 1).fetch(url)

    assert "deadline" in result.error
    assert upstream.hits.get("/late/SUMS", 0) == 0


def test_the_size_cap_holds_with_and_without_a_content_length(upstream: Upstream, fetcher) -> None:  # type: ignore[no-untyped-def]
    declared = upstream.put("/big/SUMS", b"0" * 2048)
    streamed = upstream.put("/bigstream/SUMS", b"0" * 2048, fault="no-length")

    results = fetcher(max_bytes=1024).fetch_all([declared, streamed])

    assert all("byte cap" in r.error and r.sha256 is None for r in results.values())


def test_a_keep_alive_connection_is_reused_after_a_complete_body(upstream: Upstream, fetcher) -> None:  # type: ignore[no-untyped-def]
    urls = [upstream.put(f"/k{n}/SUMS", f"{n}\n") for n in range(5)]
    one = fetcher(workers=1)

    for url in urls:
        assert one.fetch(url).sha256

    assert upstream.connections == 1


# --- through the step ------------------------------------------------------------------------------


def _recipe(root: Path, url: str) -> None:
    (root / "recipes").mkdir(parents=True, exist_ok=True)
    (root / "recipes" / "tool.toml").write_text(
        '[metadata]\nname = "tool"\n[version]\nversion = "1.0.0"\n'
        f'[[steps]]\naction = "download"\nchecksum_url = "{url}"\n'
    )


def _run(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:
    report = root / "report.json"
    capsys.readouterr()
    code = cli.main(
        [
            "drift-monitor",
            "--recipes-dir",
            str(root / "recipes"),
            "--baseline-file",
            str(root / "baseline.json"),
            "--report-file",
            str(report),
            "--now",
            "2026-03-02T12:00:00Z",
            *extra,
        ]
    )
    return code, json.loads(report.read_text())


def test_a_truncated_download_with_a_baseline_is_unverifiable_not_drift(
    tmp_path: Path, upstream: Upstream, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    url = upstream.put("/tool/SUMS", SUMS)
    _recipe(tmp_path, url)
    _run(tmp_path, capsys, "--grace-period", "0")
    upstream.put("/tool/SUMS", SUMS, fault="short")

    code, report = _run(tmp_path, capsys, "--grace-period", "0")

    assert code == 0
    assert report["counts"]["drift"] == 0 and report["counts"]["unverifiable"] == 1
    assert report["findings"][0]["reason"].startswith("truncated:")
    baseline = json.loads((tmp_path / "baseline.json").read_text())
    assert baseline["recipes"]["tool"]["1.0.0"][url]["sha256"] == sha(SUMS)


def test_a_truncated_first_download_records_no_baseline(
    tmp_path: Path, upstream: Upstream, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    _recipe(tmp_path, upstream.put("/tool/SUMS", SUMS, fault="short"))

    code, report = _run(tmp_path, capsys)

    assert code == 0
    assert report["counts"]["new"] == 0 and report["counts"]["unverifiable"] == 1
    assert not (tmp_path / "baseline.json").exists()


def test_a_slow_loris_upstream_cannot_hold_the_step_past_its_timeout(
    tmp_path: Path, upstream: Upstream, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    _recipe(tmp_path, upstream.put("/tool/SUMS", SUMS, fault="drip-headers", drip=0.2))

    start = time.monotonic()
    code, report = _run(tmp_path, capsys, "--timeout", "1")
    took = time.monotonic() - start

    assert code == 0
    assert report["findings"][0]["status"] == "unverifiable" and "timed out" in report["findings"][0]["reason"]
    assert took < 4, f"drift-monitor with --timeout 1 took {took:.1f} s"

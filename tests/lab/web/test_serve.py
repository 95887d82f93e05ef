"""``lab serve``: the results folder over HTTP. What it lists, that it never writes into the
folder, and that no request reaches a file outside what its scan listed (path traversal)."""

from __future__ import annotations

import http.client
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from lab.web.serve import make_app
from lab.web.server import BackgroundServer
from tests.lab.conftest import REPO

EXAMPLES = REPO / "results" / "examples"


def files_under(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A results folder: the example run, a run of the example sweep, a folder that is no
    result, and a symbolic link to a run outside the folder."""
    root = tmp_path / "results"
    shutil.copytree(EXAMPLES / "fault_run", root / "fault_run")
    shutil.copytree(EXAMPLES / "tiny_sweep" / "cells" / "workers=2_r1", root / "nested" / "w2")
    (root / "notes").mkdir()
    (root / "notes" / "x.txt").write_text("not a result")
    outside = tmp_path / "outside" / "secret_run"
    shutil.copytree(EXAMPLES / "fault_run", outside)
    (root / "linked").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture
def base_url(results: Path, tmp_path: Path) -> Iterator[str]:
    with BackgroundServer(make_app(results, tmp_path / "cache")) as server:
        yield server.url


def raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """A GET with the path sent exactly as written (no client-side normalisation of ..)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_lists_the_runs_found_and_nothing_else(base_url: str) -> None:
    listing = httpx.get(f"{base_url}/api/results", timeout=30).json()
    keys = {r["key"]: r for r in listing["results"]}
    assert set(keys) == {"fault_run", "nested/w2"}  # not notes/, not the link leaving
    assert keys["fault_run"]["passed"] is True
    assert keys["fault_run"]["accepted"] == 803


def test_a_report_has_its_figures_and_the_folder_stays_untouched(
    base_url: str, results: Path
) -> None:
    before = files_under(results)
    r = httpx.get(f"{base_url}/api/report", params={"key": "fault_run"}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "Run of scenario `worker_kill`: PASS" in r.text
    assert r.text.count("<img alt=") == 5  # throughput, latency, depth, workers, CDF
    assert r.text.count("src='data:image/png;base64,") == 5
    assert files_under(results) == before  # derived in the server's cache, not here
    again = httpx.get(
        f"{base_url}/api/report",
        params={"key": "fault_run"},
        headers={"If-None-Match": r.headers["etag"]},
        timeout=30,
    )
    assert again.status_code == 304


def test_compare_is_lab_compare(base_url: str) -> None:
    keys = [("key", "fault_run"), ("key", "nested/w2")]
    r = httpx.get(f"{base_url}/api/compare", params=keys, timeout=120)
    assert r.status_code == 200, r.text
    assert "Comparison of 2 result folder(s)" in r.text
    assert "fault_run, w2" in r.text  # the labels lab compare gives: folder names
    assert r.text.count("src='data:image/png;base64,") == 2  # throughput and CDF overlaid


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ([("key", "fault_run")], 400, "compare 2 to"),
        ([("key", "fault_run"), ("key", "fault_run")], 400, "twice"),
        ([("key", "fault_run"), ("key", "nope")], 404, "'nope'"),
    ],
)
def test_compare_refuses_bad_requests_by_name(
    base_url: str, params: list[tuple[str, str]], status: int, says: str
) -> None:
    r = httpx.get(f"{base_url}/api/compare", params=params, timeout=30)
    assert r.status_code == status
    assert says in r.json()["detail"]


@pytest.mark.parametrize(
    "key",
    [
        "../fault_run",
        "../../../../etc/passwd",
        "/etc",
        "fault_run/../../outside/secret_run",
        "linked",
        "nested/w2/..",
        "notes",
        ".",
        "",
    ],
)
def test_no_key_leaves_what_the_scan_listed(base_url: str, key: str) -> None:
    status, body = raw_get(base_url, f"/api/report?key={quote(key, safe='')}")
    assert status == 404, body
    assert b"no run or sweep named" in body


@pytest.mark.parametrize(
    "path",
    [
        "/static/../serve.py",
        "/static/..%2fserve.py",
        "/static/%2e%2e%2fserve.py",
        "/static/%2e%2e/%2e%2e/browse.py",
        "/static//etc/passwd",
        "/static/..\\serve.py",
        "/../../../../etc/passwd",
        "/static/dom.js/../../assets.py",
    ],
)
def test_no_static_path_leaves_the_asset_table(base_url: str, path: str) -> None:
    status, body = raw_get(base_url, path)
    assert status == 404, (path, body[:200])
    assert b"import" not in body and b"root:" not in body


def test_the_pages_files_load(base_url: str) -> None:
    for path in ("/", "/static/browse.js", "/static/dom.js", "/static/console.css"):
        status, body = raw_get(base_url, path)
        assert status == 200 and body, path

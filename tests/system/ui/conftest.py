"""Browser tests of the console at /ui: Playwright for Python driving Debian's Chromium,
against a real API, a real Redis and real worker processes.

Skipped with the reason when Playwright or Chromium is missing, and a failure instead
with CI=true (``.ci/run`` installs Chromium; Playwright is in the ``test`` extra).
Screenshots of every page go to ``tests/artifacts/console/`` (ignored by git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from system.redis_server import RedisServer
from tests.system.api.conftest import running_api

HERE = Path(__file__).resolve().parent
SYSTEM_TESTS = HERE.parent  # worker_handlers (the test handlers) is importable from here
ARTIFACTS = HERE.parents[1] / "artifacts" / "console"
KEY = "console-test-key"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Waits for what the page shows: wide, the machine is shared (a poll is 1 s at most).
WAIT_MS = 20_000


def _missing(reason: str, module_level: bool = False) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason, allow_module_level=module_level)


def need_playwright() -> None:
    """Call at the top of a browser test module, before importing Playwright."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("Python playwright is not installed (pip install -e '.[test]')", True)


def need_chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        _missing("chromium not on PATH (Debian package chromium)")
    assert path is not None
    return path


@pytest.fixture(scope="package")
def ui_redis() -> Iterator[RedisServer]:
    """The console tests' own Redis: the overview lists every queue, so its screenshots
    show these tests' queues only."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(ui_redis: RedisServer) -> str:
    return ui_redis.url  # start_worker's workers and redis_client use it too


def _api(redis: RedisServer, log: Path, env: dict[str, str] | None = None) -> Any:
    pythonpath = os.pathsep.join(filter(None, [str(SYSTEM_TESTS), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": pythonpath, "TEST_REDIS_URL": redis.url, **(env or {})}
    return running_api(redis.url, log, env, ["--import", "worker_handlers"])


@pytest.fixture(scope="package")
def console_url(ui_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API without keys (loopback), which accepts the test handlers' task types."""
    with _api(ui_redis, tmp_path_factory.mktemp("console-api") / "api.log") as url:
        yield url


@pytest.fixture(scope="package")
def keyed_url(ui_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same with API keys."""
    log = tmp_path_factory.mktemp("keyed-api") / "api.log"
    with _api(ui_redis, log, {"TASKQ_API_KEYS": KEY}) as url:
        yield url


@pytest.fixture
def http(console_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium, headless, with a fresh profile (Playwright makes a temporary one)."""
    chromium = need_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page at 1280 x 800 in its own context (no storage shared between tests). After the
    test: no uncaught script error, and every request went to one loopback origin (the API
    that served the page: no CDN, no other host)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    urls: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: urls.append(request.url))
    try:
        yield page
        assert not context.cookies(), "the console must not set cookies"
    finally:
        context.close()
    assert not errors, errors
    origins = {f"{u.scheme}://{u.netloc}" for u in map(urlsplit, urls) if u.scheme != "data"}
    assert len(origins) == 1, origins
    assert origins.pop().startswith("http://127.0.0.1:")


def shot(page: Any, name: str) -> Path:
    """Write a screenshot of the whole page to tests/artifacts/console/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def submit(
    http: httpx.Client, queue: str, task_type: str, payload: Any = None, **options: Any
) -> str:
    """Submit through the API; the new task's id."""
    body = {"task_type": task_type, "payload": payload, "queue": queue, **options}
    r = http.post("/tasks/", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def finished(http: httpx.Client, task_id: str) -> dict[str, Any]:
    """The task's record once it ended (long poll, up to 20 s)."""
    record: dict[str, Any] = http.get(f"/tasks/{task_id}/result", params={"wait": 20}).json()
    assert record["status"] in ("succeeded", "failed", "cancelled"), record
    return record

"""The console's files at /ui over real HTTP: they load without an API key (they hold no
data), the data calls need one, and no file names another host."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from system.api.routes.console import ASSETS
from system.redis_server import RedisServer

from .conftest import running_api
from .test_tasks import assert_problem

KEY = "console-key-0123456789"


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def keyed(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("console-api") / "api.log"
    with running_api(redis_server.url, log, {"TASKQ_API_KEYS": KEY}) as url:
        yield url


def test_console_files_load_without_a_key_and_data_does_not(keyed: str) -> None:
    r = httpx.get(f"{keyed}/ui")
    assert r.status_code == 308 and r.headers["location"] == "ui/"
    index = httpx.get(f"{keyed}/ui/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    csp = index.headers["content-security-policy"]
    for directive in ("default-src 'none'", "connect-src 'self'", "script-src 'self'"):
        assert directive in csp, csp
    assert index.headers["cache-control"] == "no-cache" and index.headers["etag"]
    for name, (content, media_type) in ASSETS.items():
        r = httpx.get(f"{keyed}/ui/{name}")
        assert r.status_code == 200, name
        assert (r.content, r.headers["content-type"]) == (content, media_type), name
    assert {"index.html", "console.css", "js/app.js"} <= set(ASSETS)
    # Data needs the key; so does anything under /ui that is not one of the files.
    assert_problem(httpx.get(f"{keyed}/queues"), 401)
    assert_problem(httpx.get(f"{keyed}/ui/secret.json"), 401)
    assert_problem(httpx.get(f"{keyed}/ui/secret.json", headers=auth()), 404)
    assert_problem(httpx.get(f"{keyed}/ui/..%2Fpyproject.toml", headers=auth()), 404)
    # A conditional request with a refused key is refused, before any validator is compared.
    etag = httpx.get(f"{keyed}/queues", headers=auth()).headers["etag"]
    assert_problem(httpx.get(f"{keyed}/queues", headers={"If-None-Match": etag}), 401)


def test_console_files_name_no_other_host() -> None:
    """Everything the page loads comes from the API itself: no CDN, no font service."""
    for name, (content, _) in ASSETS.items():
        urls = set(re.findall(rb"[a-z][a-z0-9+.-]*://[^\s\"'`)]*", content))
        assert urls <= {b"http://www.w3.org/2000/svg"}, (name, urls)  # a namespace, not a fetch

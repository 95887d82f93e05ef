"""With Redis gone the API answers 503 + Retry-After at once, never 500 or a hang."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from system.redis_server import RedisServer

from .conftest import running_api


def test_redis_down_gives_fast_503(tmp_path: Path) -> None:
    with RedisServer() as server, running_api(server.url, tmp_path / "api.log") as base:
        task_id = httpx.post(f"{base}/tasks/", json={"task_type": "echo"}).json()["id"]
        server.stop()
        for method, path in [("GET", f"/tasks/{task_id}"), ("POST", "/tasks/"),
                             ("GET", "/readyz"), ("GET", "/queues")]:  # fmt: skip
            t0 = time.monotonic()
            r = httpx.request(method, base + path, json={"task_type": "echo"}, timeout=10)
            elapsed = time.monotonic() - t0
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["retry-after"] == "1"
            assert r.headers["content-type"].startswith("application/problem+json")
            assert elapsed < 1.0, (path, elapsed)
        assert httpx.get(f"{base}/healthz").status_code == 200  # the process is alive

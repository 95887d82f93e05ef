"""With Redis gone the API answers 503 + Retry-After at once, never 500 or a hang."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from system.redis_server import RedisServer

from .conftest import running_api


def test_redis_down_gives_fast_503(tmp_path: Path) -> None:
    with RedisServer() as server, running_api(server.url, tmp_path / "api.log") as base:
        task_id = httpx.post(f"{base}/tasks/", json={"task_type": "echo"}).json()["id"]
        server.stop()
        for method, path in [
            ("GET", f"/tasks/{task_id}"),
            ("POST", "/tasks/"),
            ("GET", "/readyz"),
            ("GET", "/queues"),
        ]:
            t0 = time.monotonic()
            r = httpx.request(method, base + path, json={"task_type": "echo"}, timeout=10)
            elapsed = time.monotonic() - t0
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["retry-after"] == "1"
            assert r.headers["content-type"].startswith("application/problem+json")
            assert elapsed < 1.0, (path, elapsed)
        assert httpx.get(f"{base}/healthz").status_code == 200  # the process is alive


def test_redis_that_hangs_gives_503_within_the_reply_timeout(tmp_path: Path) -> None:
    """A stopped Redis (SIGSTOP) still accepts connections but never answers: without a
    reply timeout every request would hang until it came back."""
    env = {"TASKQ_API__REDIS_REPLY_TIMEOUT_SECONDS": "1"}
    with RedisServer() as server, running_api(server.url, tmp_path / "api.log", env) as base:
        task_id = httpx.post(f"{base}/tasks/", json={"task_type": "echo"}).json()["id"]
        os.kill(server.pid, signal.SIGSTOP)
        try:
            for method, path in [("POST", "/tasks/"), ("GET", f"/tasks/{task_id}")]:
                t0 = time.monotonic()
                r = httpx.request(method, base + path, json={"task_type": "echo"}, timeout=10)
                elapsed = time.monotonic() - t0
                assert r.status_code == 503, (path, r.status_code, r.text)
                assert r.headers["retry-after"] == "1"
                assert elapsed < 1.5, (path, elapsed)
        finally:
            os.kill(server.pid, signal.SIGCONT)
        # Back: requests succeed again, and a long poll may block longer than the reply
        # timeout (it has its own connections).
        assert httpx.get(f"{base}/tasks/{task_id}").status_code == 200
        t0 = time.monotonic()
        r = httpx.get(f"{base}/tasks/{task_id}/result", params={"wait": 2}, timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "queued"
        assert time.monotonic() - t0 >= 1.9

"""With Redis gone the API answers 503 + Retry-After at once, never 500 or a hang."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from system.redis_server import RedisServer, free_port


def test_redis_down_gives_fast_503(tmp_path: object) -> None:
    with RedisServer() as server:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "system", "api", "--redis-url", server.url, "--port",
             str(port), "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and proc.poll() is None
                    time.sleep(0.05)
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
        finally:
            proc.terminate()
            proc.wait(10)

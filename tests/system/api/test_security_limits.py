"""API keys, the body size limit, back pressure, /metrics, and the loopback rule."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from system.redis_server import RedisServer

from .conftest import running_api
from .test_tasks import assert_problem

KEY = "s3cret-key-0123456789"
ENV = {
    "TASKQ_API_KEYS": f"other-key-0123456789, {KEY}",
    "TASKQ_API__MAX_BODY_BYTES": "2000",
    "TASKQ_API__MAX_QUEUE_DEPTH": "3",
}


@pytest.fixture(scope="module")
def guarded(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("guarded") / "api.log"
    with running_api(redis_server.url, log, ENV) as url:
        yield url


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_api_keys(guarded: str, queue_name: str) -> None:
    task = {"task_type": "echo", "queue": queue_name}
    r = httpx.post(f"{guarded}/tasks/", json=task)
    assert_problem(r, 401, "Authorization: Bearer")
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert_problem(httpx.post(f"{guarded}/tasks/", json=task, headers=auth("wrong")), 401)
    assert_problem(httpx.get(f"{guarded}/queues", headers={"Authorization": KEY}), 401)
    assert httpx.post(f"{guarded}/tasks/", json=task, headers=auth()).status_code == 202
    assert httpx.get(f"{guarded}/queues", headers=auth("other-key-0123456789")).status_code == 200
    for open_path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert httpx.get(guarded + open_path).status_code == 200, open_path


def test_body_limit_with_and_without_content_length(guarded: str) -> None:
    big = b'{"task_type": "echo", "payload": "' + b"x" * 5000 + b'"}'
    r = httpx.post(
        f"{guarded}/tasks/", content=big, headers={**auth(), "content-type": "application/json"}
    )
    assert_problem(r, 413, "over the limit of 2000 bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        for i in range(0, len(big), 500):
            yield big[i : i + 500]

    r = httpx.post(
        f"{guarded}/tasks/",
        content=chunks(),
        headers={**auth(), "content-type": "application/json"},
    )
    assert_problem(r, 413, "over the limit")


def test_back_pressure_answers_429_with_retry_after(guarded: str, queue_name: str) -> None:
    task = {"task_type": "echo", "queue": queue_name}
    codes = [
        httpx.post(f"{guarded}/tasks/", json=task, headers=auth()).status_code for _ in range(5)
    ]
    assert codes == [202, 202, 202, 429, 429]
    r = httpx.post(f"{guarded}/tasks/batch", json={"tasks": [task]}, headers=auth())
    body = assert_problem(r, 429, queue_name, "limit 3")
    assert r.headers["retry-after"] == "1" and body["status"] == 429


def test_metrics_count_requests_by_route_template(guarded: str) -> None:
    httpx.get(f"{guarded}/tasks/default.nothere", headers=auth())
    text = httpx.get(f"{guarded}/metrics").text
    assert 'taskq_http_requests_total{method="GET",route="/tasks/{task_id}",status="404"}' in text
    assert "default.nothere" not in text  # never a task id as a label
    assert "taskq_http_request_duration_seconds_bucket" in text


def test_refuses_public_bind_without_keys(redis_server: RedisServer) -> None:
    cmd = [sys.executable, "-m", "system", "api", "--redis-url", redis_server.url]
    out = subprocess.run(
        [*cmd, "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 2 and "TASKQ_API_KEYS" in out.stderr

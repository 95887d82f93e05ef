"""Back pressure in a real API process: high / low watermarks with hysteresis on depth and
on the oldest task's wait, low-priority shedding, and Retry-After from the drain rate."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from system.api.admission import Admission, _View
from system.client import Client
from system.config import ApiSettings
from system.redis_server import RedisServer

from .conftest import running_api
from .test_tasks import assert_problem


@contextmanager
def api(redis_server: RedisServer, tmp_path: Path, **settings: str) -> Iterator[httpx.Client]:
    env = {f"TASKQ_API__{k.upper()}": v for k, v in settings.items()}
    env["TASKQ_API__ADMISSION_REFRESH_SECONDS"] = "0.01"  # read Redis on every submit
    with (
        running_api(redis_server.url, tmp_path / "api.log", env) as url,
        httpx.Client(base_url=url, timeout=10) as http,
    ):
        yield http


def submit(http: httpx.Client, queue: str, priority: int = 0) -> httpx.Response:
    time.sleep(0.02)  # past the refresh interval
    return http.post("/tasks/", json={"task_type": "echo", "queue": queue, "priority": priority})


def test_depth_watermarks_refuse_until_under_the_low_one(
    redis_server: RedisServer, client: Client, queue_name: str, tmp_path: Path
) -> None:
    client.pause(queue_name)  # nothing drains unless the test cancels
    with api(redis_server, tmp_path, max_queue_depth="5", resume_queue_depth="2") as http:
        ids = [submit(http, queue_name).json()["id"] for _ in range(5)]
        r = submit(http, queue_name)
        assert_problem(r, 429, queue_name, "5 waiting tasks, limit 5", "under 2 waiting tasks")
        assert r.headers["retry-after"] == "1"  # nothing drains: the minimum
        client.cancel(ids.pop())
        client.cancel(ids.pop())  # 3 waiting: under the high watermark, not the low one
        assert submit(http, queue_name).status_code == 429
        client.cancel(ids.pop())  # 2: not under 2 yet
        assert submit(http, queue_name).status_code == 429
        client.cancel(ids.pop())  # 1: admitted again
        assert submit(http, queue_name).status_code == 202
        assert submit(http, queue_name).status_code == 202  # 3 < 5: admitting
        # Batches count every task, and are refused as a whole.
        batch = {"tasks": [{"task_type": "echo", "queue": queue_name}] * 2}
        assert http.post("/tasks/batch", json=batch).status_code == 202  # 3 -> 5
        assert http.post("/tasks/batch", json=batch).status_code == 429
    assert client.stats(queue_name).queued == 5


def test_oldest_wait_watermarks(
    redis_server: RedisServer, client: Client, queue_name: str, tmp_path: Path
) -> None:
    client.pause(queue_name)
    env = {"max_queue_age_seconds": "0.5", "resume_queue_age_seconds": "0.2"}
    with api(redis_server, tmp_path, **env) as http:
        first = submit(http, queue_name).json()["id"]
        second = submit(http, queue_name).json()["id"]  # admitted: nothing has waited yet
        time.sleep(0.6)
        assert_problem(submit(http, queue_name), 429, "oldest waited", "limit 0.5 s")
        client.cancel(first)  # the other one has waited as long: still refusing
        assert submit(http, queue_name).status_code == 429
        client.cancel(second)  # nothing waits: admitted again
        assert submit(http, queue_name).status_code == 202


def test_low_priority_work_is_shed_first(
    redis_server: RedisServer, client: Client, queue_name: str, tmp_path: Path
) -> None:
    client.pause(queue_name)
    env = {"max_queue_depth": "4", "resume_queue_depth": "2", "shed_priority_below": "5"}
    with api(redis_server, tmp_path, **env) as http:
        assert submit(http, queue_name).status_code == 202
        assert submit(http, queue_name).status_code == 202
        # 2 waiting: busy. Priority 0 is shed, priority 9 still admitted.
        assert_problem(submit(http, queue_name, 0), 429, "priority under 5")
        assert submit(http, queue_name, 9).status_code == 202
        assert submit(http, queue_name, 9).status_code == 202
        assert submit(http, queue_name, 9).status_code == 429  # 4: refusing everything


def test_retry_after_is_the_time_to_drain_to_the_low_watermark() -> None:
    admission = Admission(ApiSettings(max_queue_depth=1000, resume_queue_depth=200))
    view = _View(depth=1000, oldest_age_seconds=None, drain_per_second=100.0, read_at=0.0)
    assert admission._retry_after(view) == 8  # 800 tasks at 100/s
    view.drain_per_second = 1.0
    assert admission._retry_after(view) == 60  # capped
    view.drain_per_second = 0.0
    assert admission._retry_after(view) == 1  # nothing drains: try again soon


def test_watermarks_must_be_in_order() -> None:
    with pytest.raises(ValidationError, match="resume 10, maximum 5"):
        ApiSettings(max_queue_depth=5, resume_queue_depth=10)
    with pytest.raises(ValidationError, match="needs a maximum"):
        ApiSettings(resume_queue_age_seconds=1)

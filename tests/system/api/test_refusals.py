"""Input the API must refuse with a 4xx naming what is wrong, not act on or fail with a 500
(issue 18, section 2)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from system.config import QueueSettings
from system.core.errors import InvalidSubmission
from system.core.submission import TaskRequest, build_task
from system.redis_server import RedisServer

from .conftest import running_api
from .test_tasks import assert_problem

JSON = {"content-type": "application/json"}


def test_requeue_forbids_unknown_fields_and_coerces_nothing(
    http: httpx.Client, queue_name: str
) -> None:
    http.post("/tasks/", json={"task_type": "echo", "queue": queue_name})  # the queue exists
    url = f"/queues/{queue_name}/dead-letter/requeue"
    # "id" is a typo for "ids": acting on it would requeue the whole dead-letter queue.
    assert_problem(http.post(url, json={"id": ["x"]}), 422, "id")
    assert_problem(http.post(url, json={"limit": "5"}), 422, "limit")
    assert_problem(http.post(url, json={"limit": True}), 422, "limit")
    assert http.post(url, json={"limit": 5}).json() == {"requeued": []}


def test_lone_surrogates_are_422_not_500(http: httpx.Client, queue_name: str) -> None:
    http.post("/tasks/", json={"task_type": "echo", "queue": queue_name})  # the queue exists
    url = f"/queues/{queue_name}/dead-letter/requeue"
    assert_problem(http.post(url, content='{"ids": ["\\ud800"]}', headers=JSON), 422, "surrogate")
    task = '{"task_type": "echo", "queue": "QUEUE", "idempotency_key": "k\\udfff"}'
    task = task.replace("QUEUE", queue_name)
    assert_problem(http.post("/tasks/", content=task, headers=JSON), 422, "idempotency_key")


def test_timeouts_under_a_millisecond_are_refused(http: httpx.Client, queue_name: str) -> None:
    task = {"task_type": "echo", "queue": queue_name, "timeout_seconds": 0.0004}
    assert_problem(http.post("/tasks/", json=task), 422, "timeout_seconds")
    with pytest.raises(InvalidSubmission, match="timeout_seconds"):
        build_task(TaskRequest("echo", timeout_seconds=0.0004), QueueSettings())
    # 1 ms is the shortest, and it is kept as 1 ms (0 would mean "no timeout").
    assert build_task(TaskRequest("echo", timeout_seconds=0.001), QueueSettings()).timeout_ms == 1


def test_queue_names_with_a_trailing_newline_are_refused(http: httpx.Client) -> None:
    with pytest.raises(InvalidSubmission, match="queue"):
        build_task(TaskRequest("echo", queue="nl\n"), QueueSettings())
    assert_problem(http.post("/tasks/", json={"task_type": "echo", "queue": "nl\n"}), 422, "queue")
    assert_problem(http.get("/queues/nl%0A"), 422)


def test_eta_is_bounded_like_delay_seconds(http: httpx.Client, queue_name: str) -> None:
    far = {"task_type": "echo", "queue": queue_name, "eta": "9999-01-01T00:00:00Z"}
    assert_problem(http.post("/tasks/", json=far), 422, "eta", "366 days")
    near = {**far, "eta": "2000-01-01T00:00:00Z"}  # in the past: runs now
    assert http.post("/tasks/", json=near).status_code == 202


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_in_payloads_are_refused(
    http: httpx.Client, queue_name: str, number: str
) -> None:
    body = '{"task_type": "echo", "queue": "QUEUE", "payload": {"x": [1, NUMBER]}}'
    body = body.replace("QUEUE", queue_name).replace("NUMBER", number)
    assert_problem(http.post("/tasks/", content=body, headers=JSON), 422, "NaN or an infinity")
    batch = '{"tasks": [' + body + "]}"
    assert_problem(http.post("/tasks/batch", content=batch, headers=JSON), 422, "NaN")
    # null itself is a fine payload value
    fine = body.replace(number, "null")
    assert http.post("/tasks/", content=fine, headers=JSON).status_code == 202


def test_batch_count_is_checked_before_any_task(http: httpx.Client, queue_name: str) -> None:
    # One over the limit (1000), the first task invalid: the answer is about the count
    # alone, so no task was validated before it.
    tasks = [{"task_type": "echo", "queue": queue_name}] * 1001
    tasks[0] = {"task_type": "echo", "priority": "high"}
    body = assert_problem(http.post("/tasks/batch", json={"tasks": tasks}), 422, "batch limit")
    assert "priority" not in str(body["detail"])


def test_redis_out_of_memory_is_507_not_500(tmp_path: Path, queue_name: str) -> None:
    with RedisServer() as server, running_api(server.url, tmp_path / "api.log") as url:
        task = {"task_type": "echo", "queue": queue_name}
        assert httpx.post(f"{url}/tasks/", json=task).status_code == 202
        r = redis.Redis.from_url(server.url)
        r.config_set("maxmemory", 1)  # anything stored is over it: writes are refused
        try:
            for body in (task, {"tasks": [task, task]}):
                path = "/tasks/" if "task_type" in body else "/tasks/batch"
                resp = httpx.post(url + path, json=body)
                assert_problem(resp, 507, "out of memory")
                assert resp.headers["retry-after"]
            assert httpx.get(f"{url}/queues/{queue_name}").status_code == 200  # reads work
        finally:
            r.config_set("maxmemory", 0)
            r.close()

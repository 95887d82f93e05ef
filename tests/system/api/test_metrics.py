"""The API's ``/metrics``: its own counters plus the queues as Redis has them now."""

from __future__ import annotations

import time

import httpx

from system.client import Client
from system.core import ops
from system.core.submission import TaskRequest
from tests.system.test_worker_metrics import scrape, value


def test_metrics_export_queue_state_read_from_redis(
    http: httpx.Client, api_url: str, client: Client, queue_name: str
) -> None:
    client.pause(queue_name)  # nothing claims: the depth stays put
    before = time.time()
    body = {"tasks": [{"task_type": "echo", "payload": i, "queue": queue_name} for i in range(3)]}
    assert http.post("/tasks/batch", json=body).status_code == 202
    after = time.time()
    delayed = {"task_type": "echo", "queue": queue_name, "delay_seconds": 60}
    assert http.post("/tasks/", json=delayed).status_code == 202
    # An idempotent repeat is not a new task.
    assert http.post("/tasks/", json={**delayed, "idempotency_key": "k"}).status_code == 202
    assert http.post("/tasks/", json={**delayed, "idempotency_key": "k"}).status_code == 200

    m = scrape(f"{api_url}/metrics")
    q = queue_name
    assert value(m, "taskq_tasks_submitted_total", queue=q, task_type="echo") == 5
    assert value(m, "taskq_queue_depth", queue=q, state="queued") == 3
    assert value(m, "taskq_queue_depth", queue=q, state="scheduled") == 2
    assert value(m, "taskq_queue_depth", queue=q, state="running") == 0
    assert value(m, "taskq_queue_depth", queue=q, state="failed") == 0
    assert value(m, "taskq_queue_paused", queue=q) == 1
    oldest = value(m, "taskq_queue_oldest_queued_timestamp_seconds", queue=q)
    assert before - 0.05 <= oldest <= after + 0.05  # ms clock, recomputed from an age
    assert value(m, "taskq_lease_expirations_total", queue=q) == 0
    assert value(m, "taskq_stale_completions_rejected_total", queue=q) == 0
    assert value(m, "taskq_dead_lettered_total", queue=q) == 0
    assert value(m, "taskq_redis_up") == 1
    assert ("taskq_workers_live", frozenset()) in m
    assert value(m, "taskq_http_requests_total", route="/tasks/batch", status="202") >= 1
    # What retention bounds: nothing finished yet; Redis's memory, and its (absent) limit.
    assert value(m, "taskq_queue_finished_records", queue=q) == 0
    assert value(m, "taskq_redis_memory_used_bytes") > 100_000
    assert value(m, "taskq_redis_memory_max_bytes") == 0


def test_circuit_breakers_are_listed_and_exported(
    http: httpx.Client, api_url: str, client: Client, queue_name: str
) -> None:
    client.pause(queue_name)
    client.submit("echo", 1, queue=queue_name)  # /metrics covers queues that have tasks
    assert http.get(f"/queues/{queue_name}/breakers").json() == []
    rules = ops.BreakerRules(
        window_ms=10_000, min_calls=2, failure_ratio=0.5, probes=1, open_ms=60_000
    )
    now = int(time.time() * 1000)
    for ok in (True, False):  # closed: 1 of 2 failed opens it (ratio 0.5)
        client.run(ops.breaker_record(queue_name, "payments", now, ok, rules))
    client.run(ops.breaker_record(queue_name, "mail", now, True, rules))

    listed = {b["task_type"]: b for b in http.get(f"/queues/{queue_name}/breakers").json()}
    assert listed["payments"]["state"] == "open" and listed["payments"]["opens"] == 1
    assert listed["payments"]["opened_at"] is not None
    assert listed["mail"] == {
        "task_type": "mail",
        "state": "closed",
        "opened_at": None,
        "opens": 0,
        "window_calls": 1,
        "window_failures": 0,
    }

    m = scrape(f"{api_url}/metrics")
    q = queue_name
    assert value(m, "taskq_circuit_breaker_state", queue=q, task_type="payments", state="open") == 1
    assert (
        value(m, "taskq_circuit_breaker_state", queue=q, task_type="payments", state="closed") == 0
    )
    assert value(m, "taskq_circuit_breaker_state", queue=q, task_type="mail", state="closed") == 1
    assert value(m, "taskq_circuit_breaker_opens_total", queue=q, task_type="payments") == 1
    assert value(m, "taskq_tasks_deferred_total", queue=q) == 0


def test_finished_records_are_counted(api_url: str, client: Client, queue_name: str) -> None:
    subs = client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(4)])
    now = int(time.time() * 1000)
    claimed = client.run(ops.claim(queue_name, now, 10_000, 4, "w-test"))
    done = [ops.Completion(t.id, t.token, "succeeded", b"1") for t in claimed]
    client.run(ops.complete(queue_name, now, client.retention, done))
    assert len(subs) == 4
    m = scrape(f"{api_url}/metrics")
    assert value(m, "taskq_queue_finished_records", queue=queue_name) == 4

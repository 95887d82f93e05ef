"""Batch submit, queues, dead-letter queue, workers and task types over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from system.supervisor import TaskqProcess

from .test_tasks import assert_problem


def test_batch_submit(http: httpx.Client, queue_name: str) -> None:
    tasks = [{"task_type": "echo", "payload": i, "queue": queue_name} for i in range(50)]
    r = http.post("/tasks/batch", json={"tasks": tasks})
    assert r.status_code == 202, r.text
    ids = [t["id"] for t in r.json()["tasks"]]
    assert len(set(ids)) == 50
    assert http.get(f"/tasks/{ids[7]}").json()["payload"] == 7
    assert http.get(f"/queues/{queue_name}").json()["depth"]["queued"] == 50


def test_batch_is_all_or_nothing(http: httpx.Client, queue_name: str) -> None:
    tasks = [
        {"task_type": "echo", "queue": queue_name},
        {"task_type": "sleep", "payload": {"seconds": -1}, "queue": queue_name},
    ]
    assert_problem(http.post("/tasks/batch", json={"tasks": tasks}), 422, "tasks.1", "seconds")
    assert_problem(http.post("/tasks/batch", json={"tasks": []}), 422, "tasks")
    too_many = [{"task_type": "echo", "queue": queue_name}] * 1001
    assert_problem(http.post("/tasks/batch", json={"tasks": too_many}), 422, "batch limit")
    assert_problem(http.get(f"/queues/{queue_name}"), 404)  # nothing written, not even it


def test_queue_pause_resume_and_listing(http: httpx.Client, queue_name: str) -> None:
    http.post("/tasks/", json={"task_type": "echo", "queue": queue_name})
    assert http.post(f"/queues/{queue_name}/pause").json()["paused"] is True
    listed = {q["name"]: q for q in http.get("/queues").json()}
    assert listed[queue_name]["paused"] and listed[queue_name]["depth"]["queued"] == 1
    assert listed[queue_name]["oldest_queued_age_seconds"] >= 0
    assert http.post(f"/queues/{queue_name}/resume").json()["paused"] is False
    assert_problem(http.get("/queues/bad.name"), 422, "queue")


def test_dead_letter_list_and_requeue(
    http: httpx.Client, queue_name: str, start_worker: Callable[..., TaskqProcess]
) -> None:
    ids = [
        http.post(
            "/tasks/",
            json={
                "task_type": "flaky",
                "payload": {"probability": 1},
                "max_retries": 0,
                "queue": queue_name,
            },
        ).json()["id"]
        for _ in range(3)
    ]
    worker = start_worker("-Q", queue_name)
    deadline = time.monotonic() + 20
    while http.get(f"/queues/{queue_name}").json()["depth"]["failed"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.stop()  # so that requeued tasks stay queued while we look
    # 3 tasks ended within the last minute's window (50 to 60 s long).
    assert 3 / 60 <= http.get(f"/queues/{queue_name}").json()["throughput_per_second"] <= 3 / 50
    dead = http.get(f"/queues/{queue_name}/dead-letter").json()
    assert sorted(t["id"] for t in dead) == sorted(ids)
    assert "FlakyError" in dead[0]["error"] and "Traceback" in dead[0]["traceback"]
    one = http.post(f"/queues/{queue_name}/dead-letter/requeue", json={"ids": [ids[0]]}).json()
    assert one["requeued"] == [ids[0]]
    rest = http.post(f"/queues/{queue_name}/dead-letter/requeue").json()
    assert sorted(rest["requeued"]) == sorted(ids[1:])
    depth = http.get(f"/queues/{queue_name}").json()["depth"]
    assert (depth["queued"], depth["failed"]) == (3, 0)


def test_workers_and_task_types(
    http: httpx.Client, queue_name: str, start_worker: Callable[..., TaskqProcess]
) -> None:
    w = start_worker("-Q", queue_name, "-c", "9")
    deadline = time.monotonic() + 20
    mine: list[dict[str, object]] = []
    while not mine:
        assert time.monotonic() < deadline
        mine = [x for x in http.get("/workers").json() if x["pid"] == w.pid]
        time.sleep(0.05)
    assert mine[0]["queues"] == [queue_name] and mine[0]["concurrency"] == 9
    types = {t["name"]: t for t in http.get("/task-types").json()}
    assert {"echo", "matrix_multiply", "sleep", "cpu", "io", "flaky"} <= set(types)
    assert types["matrix_multiply"]["mode"] == "process"
    assert "size" in types["matrix_multiply"]["payload_schema"]["properties"]


def test_list_tasks_paginated(http: httpx.Client, queue_name: str) -> None:
    tasks = [
        {"task_type": "echo", "payload": i, "queue": queue_name, "priority": i % 3}
        for i in range(7)
    ]
    http.post("/tasks/batch", json={"tasks": tasks})
    seen: list[dict[str, object]] = []
    cursor: str | None = "0"
    pages = 0
    while cursor is not None:
        page = http.get(
            "/tasks", params={"queue": queue_name, "status": "queued", "limit": 3, "cursor": cursor}
        ).json()
        seen += page["tasks"]
        cursor = page["next_cursor"]
        pages += 1
    assert pages == 3 and len(seen) == 7
    assert [t["priority"] for t in seen] == [2, 2, 1, 1, 0, 0, 0]  # the order workers take
    assert_problem(
        http.get("/tasks", params={"queue": queue_name, "status": "succeeded"}), 422, "status"
    )
    assert_problem(http.get("/tasks", params={"cursor": "-1"}), 422, "cursor")

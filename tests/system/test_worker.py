"""Real worker processes against a real Redis: built-in handlers, failures, retries with
backoff, timeouts, delays, priorities, cancellation and graceful shutdown."""

from __future__ import annotations

import itertools
import signal
import time
from collections.abc import Callable

import numpy as np
import pytest

from system.client import Client
from system.core.submission import TaskRequest
from system.core.task import TaskState
from system.supervisor import TaskqProcess

from .conftest import wait_until_finished

StartWorker = Callable[..., TaskqProcess]


def test_builtin_handlers_run(client: Client, queue_name: str, start_worker: StartWorker) -> None:
    reqs = [
        TaskRequest("echo", {"a": [1, 2]}, queue=queue_name),
        TaskRequest("sleep", {"seconds": 0.05}, queue=queue_name),
        TaskRequest("cpu", {"ms": 5}, queue=queue_name),
        TaskRequest("io", {"ms": 5, "jitter_ms": 2}, queue=queue_name),
        TaskRequest("matrix_multiply", {"size": 10, "seed": 3}, queue=queue_name),
        TaskRequest("flaky", {"probability": 0.0}, queue=queue_name),
    ]
    ids = [s.id for s in client.submit_many(reqs)]
    start_worker("-Q", queue_name)
    records = wait_until_finished(client, ids)
    assert [r.state for r in records] == [TaskState.SUCCEEDED] * len(reqs)
    assert records[0].result == {"a": [1, 2]}
    product = np.array(records[4].result["product"])
    assert product.shape == (10, 10)
    assert records[4].result["checksum"] == pytest.approx(float(product.sum()))


def test_unknown_type_is_failed_with_reason_not_lost(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    sub = client.submit("no_such_type", {}, queue=queue_name, max_retries=3)
    start_worker("-Q", queue_name)
    (rec,) = wait_until_finished(client, [sub.id])
    assert rec.state is TaskState.FAILED and rec.attempts == 1
    assert "unknown task type 'no_such_type'" in (rec.error or "")
    assert "echo" in (rec.error or "")  # it names the known types
    assert client.stats(queue_name).dead == 1


def test_invalid_payload_fails_without_retry(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    sub = client.submit("matrix_multiply", {"size": -1}, queue=queue_name, max_retries=3)
    start_worker("-Q", queue_name)
    (rec,) = wait_until_finished(client, [sub.id])
    assert rec.state is TaskState.FAILED and rec.attempts == 1
    assert "size" in (rec.error or "")


def test_retries_back_off_then_dead_letter_with_traceback(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    sub = client.submit("fail_times", {"n": 99}, queue=queue_name, max_retries=2)
    start_worker("-Q", queue_name)
    (rec,) = wait_until_finished(client, [sub.id])
    assert rec.state is TaskState.FAILED and rec.attempts == 3
    assert "planned failure on attempt 3" in (rec.error or "")
    assert "Traceback" in (rec.traceback or "") and "fail_times" in (rec.traceback or "")
    times = [float(t) for t in client.redis.lrange(f"test:{queue_name}:attempts:{sub.id}", 0, -1)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Base 0.2 s, equal jitter: the k-th delay lies in [0.2 * 2^(k-1) / 2, 0.2 * 2^(k-1)],
    # plus promotion (<= 0.05 s) and claim latency.
    assert 0.1 <= gaps[0] <= 0.2 + 0.25, gaps
    assert 0.2 <= gaps[1] <= 0.4 + 0.25, gaps
    assert client.dead_letters(queue_name)[0].id == sub.id


def test_retry_then_success(client: Client, queue_name: str, start_worker: StartWorker) -> None:
    sub = client.submit("fail_times", {"n": 2}, queue=queue_name, max_retries=3)
    start_worker("-Q", queue_name, TASKQ_QUEUE__RETRY_BACKOFF_SECONDS="0")
    (rec,) = wait_until_finished(client, [sub.id])
    assert rec.state is TaskState.SUCCEEDED and rec.attempts == 3
    assert rec.result == "ok on attempt 3"


def test_timeout_fails_the_attempt(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    sub = client.submit(
        "sleep", {"seconds": 30}, queue=queue_name, timeout_seconds=0.3, max_retries=0
    )
    start_worker("-Q", queue_name)
    (rec,) = wait_until_finished(client, [sub.id], timeout_seconds=10)
    assert rec.state is TaskState.FAILED
    assert "TaskTimeout" in (rec.error or "")


def test_delay_is_respected(client: Client, queue_name: str, start_worker: StartWorker) -> None:
    start_worker("-Q", queue_name)
    sub = client.submit("echo", 1, queue=queue_name, delay_seconds=0.6)
    (rec,) = wait_until_finished(client, [sub.id])
    assert rec.started_ms is not None and rec.created_ms is not None
    assert rec.started_ms - rec.created_ms >= 600


def test_priorities_order_execution(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    client.pause(queue_name)
    prios = [0, 5, 1, 9, 5, 0]
    reqs = [
        TaskRequest("record_start", f"{p}-{i}", queue=queue_name, priority=p)
        for i, p in enumerate(prios)
    ]
    ids = [s.id for s in client.submit_many(reqs)]
    start_worker("-Q", queue_name, "-c", "1")
    client.resume(queue_name)
    wait_until_finished(client, ids)
    order = client.redis.lrange(f"test:{queue_name}:order", 0, -1)
    assert order == ["9-3", "5-1", "5-4", "1-2", "0-0", "0-5"]


@pytest.mark.parametrize("task_type", ["sleep", "blocking_sleep"])
def test_cancel_running_task(
    client: Client, queue_name: str, start_worker: StartWorker, task_type: str
) -> None:
    start_worker("-Q", queue_name)
    sub = client.submit(task_type, {"seconds": 30}, queue=queue_name)
    deadline = time.monotonic() + 10
    while client.get(sub.id).state is not TaskState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.cancel(sub.id).code == 2
    (rec,) = wait_until_finished(client, [sub.id], timeout_seconds=5)
    assert rec.state is TaskState.CANCELLED


def test_cancel_queued_task_never_runs(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    sub = client.submit("count_exec", {}, queue=queue_name)
    assert client.cancel(sub.id).code == 1
    other = client.submit("echo", 1, queue=queue_name)
    start_worker("-Q", queue_name)
    wait_until_finished(client, [other.id])
    assert client.get(sub.id).state is TaskState.CANCELLED
    assert client.redis.hget(f"test:{queue_name}:execs", sub.id) is None


def test_burst_worker_exits_when_empty(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    ids = [
        s.id
        for s in client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(50)])
    ]
    w = start_worker("-Q", queue_name, "--burst")
    assert w.wait(30) == 0
    assert all(r.state is TaskState.SUCCEEDED for r in wait_until_finished(client, ids, 1))


def test_sigterm_finishes_in_flight_and_loses_nothing(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    reqs = [TaskRequest("count_exec", {"sleep": 0.02}, queue=queue_name) for _ in range(600)]
    ids = [s.id for s in client.submit_many(reqs)]
    first = start_worker("-Q", queue_name, "-c", "20")
    while client.stats(queue_name).counters.get("succeeded", 0) < 100:
        time.sleep(0.02)
    first.signal(signal.SIGTERM)
    assert first.wait(15) == 0
    assert client.stats(queue_name).running == 0  # nothing left holding a lease
    start_worker("-Q", queue_name, "-c", "20")
    records = wait_until_finished(client, ids)
    assert all(r.state is TaskState.SUCCEEDED for r in records)
    execs = client.redis.hgetall(f"test:{queue_name}:execs")
    assert len(execs) == 600 and set(execs.values()) == {"1"}  # no duplicates


def test_sigterm_releases_unfinished_without_counting_attempt(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    sub = client.submit("sleep", {"seconds": 1.5}, queue=queue_name)
    first = start_worker("-Q", queue_name, "--shutdown-timeout", "0.2")
    while client.get(sub.id).state is not TaskState.RUNNING:
        time.sleep(0.02)
    first.signal(signal.SIGTERM)
    assert first.wait(10) == 0
    rec = client.get(sub.id)
    assert rec.state is TaskState.QUEUED and rec.attempts == 0
    start_worker("-Q", queue_name)
    (rec,) = wait_until_finished(client, [sub.id])
    assert rec.state is TaskState.SUCCEEDED and rec.attempts == 1


def test_worker_registers_and_deregisters(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    w = start_worker("-Q", queue_name, "-c", "7")
    deadline = time.monotonic() + 10
    found: dict[str, str] = {}
    while not found and time.monotonic() < deadline:
        for wid in client.redis.zrange("taskq:workers", 0, -1):
            info = client.redis.hgetall(f"taskq:worker:{wid}")
            if info.get("pid") == str(w.pid):
                found = info
        time.sleep(0.05)
    assert found["queues"] == queue_name and found["concurrency"] == "7"
    w.stop()
    assert client.redis.zscore("taskq:workers", found["id"]) is None


def test_result_over_the_size_limit_fails_without_retry(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    sub = client.submit("echo", "x" * 500, queue=queue_name, max_retries=3)
    start_worker("-Q", queue_name, TASKQ_QUEUE__MAX_RESULT_BYTES="100")
    (rec,) = wait_until_finished(client, [sub.id])
    assert rec.state is TaskState.FAILED and rec.attempts == 1
    assert "over the limit of 100" in (rec.error or "")


def test_sigterm_right_after_start_exits_promptly(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    """A stop that lands while the worker's background loops are mid-call must not hang
    (it did, about one start in three, when those loops were cancelled)."""
    for _ in range(8):
        w = start_worker("-Q", queue_name)
        deadline = time.monotonic() + 20
        while not client.redis.zrange("taskq:workers", 0, -1):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        w.signal(signal.SIGTERM)
        assert w.wait(5) == 0
        assert client.redis.zrange("taskq:workers", 0, -1) == []

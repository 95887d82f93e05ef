"""A dead worker is noticed in seconds while long leases are kept: workers beat from a
thread (``system.worker.liveness``), and the leader redelivers the tasks of a worker
silent for ``dead_after_seconds`` however long their leases. Every test here uses leases
far longer than it runs (60 s), so only the liveness signal can explain a redelivery.

Real Redis, real worker processes. Times are measured in the test and printed; the
bounds allow for a loaded machine (the default bound is 2 s + 0.5 s)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import pytest

from system.client import Client
from system.core.keys import WORKERS
from system.core.task import TaskRecord, TaskState
from system.supervisor import TaskqProcess

from .conftest import wait_until_finished

StartWorker = Callable[..., TaskqProcess]
LONG_LEASE = {"TASKQ_QUEUE__LEASE_SECONDS": "60"}
# The defaults whose bound is promised (FAST_ENV shortens the reap interval).
DEFAULT_DETECTION = {
    "TASKQ_WORKER__DEAD_AFTER_SECONDS": "2",
    "TASKQ_WORKER__REAP_INTERVAL_SECONDS": "0.5",
    "TASKQ_WORKER__LIVENESS_BEAT_SECONDS": "0.5",
}
BOUND_SECONDS = 2.5  # dead_after + reap interval
SLACK_SECONDS = 3.0  # a loaded machine (load average up to 10 on 2 cores)


def _wait_for(what: str, check: Callable[[], bool], timeout_seconds: float) -> float:
    """Poll ``check`` until true; the monotonic time it became true."""
    deadline = time.monotonic() + timeout_seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic()


def _held_by(rec: TaskRecord, worker: TaskqProcess) -> bool:
    return rec.state is TaskState.RUNNING and f"-{worker.pid}-" in (rec.worker or "")


def _start_pair(
    client: Client, queue: str, start_worker: StartWorker, task_type: str, payload: object
) -> tuple[TaskqProcess, TaskqProcess, str]:
    """Worker ``a`` takes one task; then a second worker ``b`` joins, ready to take it over."""
    env = {**LONG_LEASE, **DEFAULT_DETECTION}
    a = start_worker("-Q", queue, **env)
    task_id = client.submit(task_type, payload, queue=queue).id
    _wait_for("worker a to run the task", lambda: _held_by(client.get(task_id), a), 30)
    b = start_worker("-Q", queue, **env)
    _wait_for(
        "worker b to register",
        lambda: any(f"-{b.pid}-" in w for w in client.redis.zrange(WORKERS, 0, -1)),
        30,
    )
    return a, b, task_id


def test_sigkill_is_noticed_within_the_bound_despite_a_long_lease(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    a, b, task_id = _start_pair(client, queue_name, start_worker, "count_exec", {"sleep": 30})
    a.signal(signal.SIGKILL)
    killed = time.monotonic()
    taken = _wait_for("the task on worker b", lambda: _held_by(client.get(task_id), b), 30)
    recovery = taken - killed
    print(f"SIGKILL -> redelivered and running on the other worker: {recovery:.2f} s")
    assert recovery < BOUND_SECONDS + SLACK_SECONDS
    rec = client.get(task_id)
    assert rec.attempts == 2
    assert client.stats(queue_name).counters.get("workers_lost", 0) >= 1


def test_stopped_worker_is_declared_dead_and_its_late_completion_refused(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    # The handler sleeps 4 s: when the worker resumes 5 s after it was stopped, its sleep
    # is over, and it reports a result with the token it was given before the task went
    # to the other worker.
    a, b, task_id = _start_pair(client, queue_name, start_worker, "count_exec", {"sleep": 4})
    a.signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        assert _held_by(client.get(task_id), a), "the task ended before the worker was stopped"
        taken = _wait_for(
            "the task on worker b",
            lambda: _held_by(client.get(task_id), b) or client.get(task_id).terminal,
            30,
        )
        print(f"SIGSTOP -> redelivered to the other worker: {taken - stopped:.2f} s")
        assert taken - stopped < BOUND_SECONDS + SLACK_SECONDS
        time.sleep(max(0.0, 5.0 - (time.monotonic() - stopped)))
    finally:
        a.signal(signal.SIGCONT)
    _wait_for(
        "the late completion to be refused",
        lambda: client.stats(queue_name).counters.get("stale_rejected", 0) >= 1,
        30,
    )
    (rec,) = wait_until_finished(client, [task_id], 30)
    assert rec.state is TaskState.SUCCEEDED
    assert f"-{b.pid}-" in (rec.worker or "")
    assert rec.result == 2  # the second attempt's result, not the refused first one
    assert a.alive()  # it came back and carries on


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_live_worker_blocking_its_loop_keeps_a_long_task(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    """20 s of ``time.sleep`` in an async handler: the worker's event loop renews no lease
    (they are 1 s here) and takes no part in leadership, but its beat thread goes on."""
    env = {"TASKQ_QUEUE__LEASE_SECONDS": "1", **DEFAULT_DETECTION}
    a = start_worker("-Q", queue_name, **env)
    task_id = client.submit("block_loop", {"seconds": 20}, queue=queue_name).id
    _wait_for("worker a to run the task", lambda: _held_by(client.get(task_id), a), 30)
    b = start_worker("-Q", queue_name, **env)  # would take the task if it were redelivered
    started = time.monotonic()
    (rec,) = wait_until_finished(client, [task_id], 60)
    print(f"the blocking task ended after {time.monotonic() - started:.1f} s on its worker")
    assert rec.state is TaskState.SUCCEEDED
    assert rec.attempts == 1 and rec.result == 1
    assert f"-{a.pid}-" in (rec.worker or "")
    execs = client.redis.hgetall(f"test:{queue_name}:execs")
    assert execs == {task_id: "1"}
    counters = client.stats(queue_name).counters
    assert counters.get("lease_expired", 0) == 0
    assert counters.get("workers_lost", 0) == 0
    assert b.alive()

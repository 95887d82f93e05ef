"""A circuit breaker in real worker processes: a guarded task type whose dependency is
down stops being called, its tasks wait (deferred, no attempt used) while other types run
on, and once the dependency is back the breaker closes and every task succeeds."""

from __future__ import annotations

import time
from collections.abc import Callable

from system.client import Client
from system.core.submission import TaskRequest
from system.core.task import TaskState
from system.supervisor import TaskqProcess

from .conftest import wait_until_finished

StartWorker = Callable[..., TaskqProcess]
BREAKER_ENV = {
    "TASKQ_BREAKER__MIN_CALLS": "4",
    "TASKQ_BREAKER__WINDOW_SECONDS": "30",
    "TASKQ_BREAKER__OPEN_SECONDS": "2",
    "TASKQ_BREAKER__PROBES": "1",
}


def wait_for(predicate: Callable[[], bool], timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_open_breaker_defers_its_type_and_closes_after_recovery(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    calls_key, down_key = f"test:{queue_name}:calls", f"test:{queue_name}:down"
    client.redis.set(down_key, 1)
    guarded = [
        s.id
        for s in client.submit_many(
            [TaskRequest("guarded_call", i, queue=queue_name, max_retries=20) for i in range(30)]
        )
    ]
    for _ in range(2):
        start_worker("-Q", queue_name, "-c", "4", **BREAKER_ENV)

    def state() -> str | None:
        found = client.breakers(queue_name)
        return found[0].state if found else None

    wait_for(lambda: state() == "open", 15, "the breaker to open")
    # Open: the type's calls stop (at most one probe once the 2 s open period ends)...
    calls_at_open = int(client.redis.get(calls_key) or 0)
    others = [
        s.id
        for s in client.submit_many(
            [TaskRequest("count_exec", {}, queue=queue_name) for _ in range(20)]
        )
    ]
    # ...other types keep running...
    assert {r.state for r in wait_until_finished(client, others, 10)} == {TaskState.SUCCEEDED}
    time.sleep(1.5)
    assert int(client.redis.get(calls_key) or 0) <= calls_at_open + 1
    # ...and its tasks wait: deferred, none failed or dead-lettered.
    assert client.stats(queue_name).counters.get("deferred", 0) > 0
    assert client.stats(queue_name).dead == 0
    assert not any(client.get(i).state is TaskState.FAILED for i in guarded)

    client.redis.delete(down_key)
    records = wait_until_finished(client, guarded, 30)
    assert {r.state for r in records} == {TaskState.SUCCEEDED}
    (breaker,) = client.breakers(queue_name)
    assert breaker.state == "closed" and breaker.opens >= 1
    # Deferral never used up an attempt: every attempt was a real call.
    assert sum(r.attempts for r in records) == int(client.redis.get(calls_key) or 0)

"""The worker's metrics, updated in memory when a task starts, ends and is recorded.

Nothing here talks to Redis: outcomes come from the replies of the batched ``complete``
call and of ``fail``, which the worker makes anyway. A completion Redis rejected as stale
is not an execution of this worker's (Redis counts it, and the API exports that count).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from system.core.ops import ClaimedTask, FailReply
from system.metrics import (
    CAPACITY,
    EXECUTION_SECONDS,
    EXECUTIONS,
    IN_PROGRESS,
    OUTCOMES,
    QUEUE_WAIT_SECONDS,
)

# What a failure recorded by fail.lua counts as (a stale lease is not an outcome).
FAIL_OUTCOMES = {
    FailReply.RETRIED: "retried",
    FailReply.DEAD_LETTERED: "failed",
    FailReply.CANCELLED: "cancelled",
}


class WorkerMetrics:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency

    def open(self, queues: Iterable[str], task_types: Iterable[str]) -> None:
        # inc/dec rather than set: several workers in one process add up.
        CAPACITY.inc(self.concurrency)
        # Series that exist at 0 from the start: a counter first seen at 5 would hide
        # those 5 from rate() and increase(), and a panel of a quiet queue shows 0, not
        # "no data". Only the counters: histograms would cost ~20 series per type.
        types = list(task_types)
        for queue in queues:
            IN_PROGRESS.labels(queue)
            for task_type in types:
                for outcome in OUTCOMES:
                    EXECUTIONS.labels(queue, task_type, outcome)

    def close(self) -> None:
        CAPACITY.dec(self.concurrency)

    def started(self, queue: str, claimed: ClaimedTask) -> float:
        """Count the task as in progress and observe its queue wait; returns a start
        time for ``ended``."""
        IN_PROGRESS.labels(queue).inc()
        wait = time.time() - claimed.eligible_ms / 1000
        QUEUE_WAIT_SECONDS.labels(queue, claimed.task_type).observe(max(0.0, wait))
        return time.perf_counter()

    def ended(self, queue: str, task_type: str, started: float) -> None:
        IN_PROGRESS.labels(queue).dec()
        EXECUTION_SECONDS.labels(queue, task_type).observe(time.perf_counter() - started)

    def recorded(self, queue: str, task_type: str, outcome: str) -> None:
        EXECUTIONS.labels(queue, task_type, outcome).inc()

    def failed(self, queue: str, task_type: str, reply: FailReply, *, timed_out: bool) -> None:
        """Count the outcome of a ``fail`` call from its reply."""
        outcome = FAIL_OUTCOMES.get(reply)
        if outcome is None:
            return
        if timed_out and outcome != "cancelled":
            outcome = "timed_out"
        self.recorded(queue, task_type, outcome)

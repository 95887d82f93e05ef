"""The worker's metrics, a hook updated in memory when a task starts, ends and is recorded.

Nothing here talks to Redis: outcomes come from the replies of the batched ``complete``
call and of ``fail``, which the worker makes anyway. A completion Redis rejected as stale
is not an execution of this worker's (Redis counts it, and the API exports that count).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from system.core.errors import TaskTimeout
from system.core.ops import ClaimedTask
from system.metrics import (
    CAPACITY,
    EXECUTION_SECONDS,
    EXECUTIONS,
    IN_PROGRESS,
    OUTCOMES,
    QUEUE_WAIT_SECONDS,
)
from system.worker.hooks import WorkerHook
from system.worker.job import Ending, Job, Outcome

if TYPE_CHECKING:
    from system.worker.worker import Worker


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

    def started(self, queue: str, claimed: ClaimedTask) -> None:
        """Count the task as in progress and observe its queue wait."""
        IN_PROGRESS.labels(queue).inc()
        wait = time.time() - claimed.eligible_ms / 1000
        QUEUE_WAIT_SECONDS.labels(queue, claimed.task_type).observe(max(0.0, wait))

    def ended(self, queue: str, task_type: str, started: float) -> None:
        """``started``: the perf_counter when the handler started."""
        IN_PROGRESS.labels(queue).dec()
        EXECUTION_SECONDS.labels(queue, task_type).observe(time.perf_counter() - started)

    def recorded(self, queue: str, task_type: str, outcome: str) -> None:
        EXECUTIONS.labels(queue, task_type, outcome).inc()


def outcome_label(outcome: Outcome, ending: Ending | None) -> str | None:
    """The ``outcome`` label of an execution (None: not one, the lease was stale). A
    failed attempt that overran its time limit counts as timed_out, retried or not."""
    if outcome is Outcome.STALE:
        return None
    failed = outcome is Outcome.RETRIED or outcome is Outcome.FAILED
    if failed and ending is not None and isinstance(ending.error, TaskTimeout):
        return "timed_out"
    return outcome  # a StrEnum: the member is its value


class MetricsHook(WorkerHook):
    def __init__(self, concurrency: int) -> None:
        self.metrics = WorkerMetrics(concurrency)

    def on_worker_start(self, worker: Worker) -> None:
        self.metrics.open(worker.queues, worker.registry.names())

    def on_worker_stop(self, worker: Worker) -> None:
        self.metrics.close()

    def before_execute(self, job: Job) -> None:
        self.metrics.started(job.queue, job.claimed)

    async def after_execute(self, job: Job, ending: Ending) -> None:
        self.metrics.ended(job.queue, job.claimed.task_type, job.started)

    def after_recorded(self, job: Job, outcome: Outcome) -> None:
        label = outcome_label(outcome, job.ending)
        if label is not None:
            self.metrics.recorded(job.queue, job.claimed.task_type, label)

"""The worker's side of its leases: heartbeats renew them, and tell which were lost and
which tasks were asked to stop; at shutdown, unfinished tasks are handed back.

A lost lease (it expired and the task was reclaimed, or the task was cancelled) means
another worker may run the task now: its handler is cancelled here and its outcome would
be rejected anyway (fencing). A cancel request stops an async handler at once; thread and
process handlers see ``cancel_requested()`` and stop when they look.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from system.client import AsyncClient
from system.core import ops
from system.worker.job import Job

log = logging.getLogger("taskq.worker")


def _now_ms() -> int:
    return int(time.time() * 1000)


class Leases:
    def __init__(self, client: AsyncClient, jobs: dict[str, Job], lease_ms: int) -> None:
        self.client = client
        self.jobs = jobs  # the worker's, shared: task id -> Job
        self.lease_ms = lease_ms

    async def renew(self) -> None:
        """Extend every lease held; drop the tasks whose lease was lost or whose cancel was
        requested."""
        by_queue: dict[str, list[tuple[str, str]]] = {}
        for job in self.jobs.values():
            by_queue.setdefault(job.queue, []).append((job.claimed.id, job.claimed.token))
        for queue, leases in by_queue.items():
            beat = await self.client.run(ops.extend(queue, _now_ms(), self.lease_ms, leases))
            for task_id in beat.lost:
                self.drop(task_id, "lost")
            for task_id in beat.cancel_requested:
                self.drop(task_id, "cancel")

    def drop(self, task_id: str, reason: str) -> None:
        job = self.jobs.get(task_id)
        if job is None or job.task is None or job.task.done():
            return
        if reason == "lost":
            log.warning("lease on %s was lost; abandoning it", task_id)
            self.jobs.pop(task_id, None)
        if reason == "cancel":
            job.ctx.cancel_event.set()  # thread handlers may poll it
            if job.mode != "async":
                return  # cooperative: they stop when they look
        job.stop_reason = reason
        job.task.cancel()

    async def release(self, jobs: Sequence[Job]) -> None:
        """Hand tasks back to their queues unrun, without counting the attempt."""
        by_queue: dict[str, list[tuple[str, str]]] = {}
        for job in jobs:
            by_queue.setdefault(job.queue, []).append((job.claimed.id, job.claimed.token))
            self.jobs.pop(job.claimed.id, None)
        for queue, leases in by_queue.items():
            n = await self.client.run(ops.release(queue, _now_ms(), leases))
            log.info("released %d unfinished task(s) back to %s", n, queue)

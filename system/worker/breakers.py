"""Circuit breakers, the worker's side: ask before running a guarded task, report how it
ended (``BreakerHook``, for task types registered with ``breaker=True``). A claimed task
whose breaker is open is deferred, handed back unrun without counting an attempt, until
the breaker lets probes through; every outcome of such a task is counted, except
permanent failures (the task's own fault, not its dependency's).

The state of each (queue, task type) breaker lives in Redis (``breaker_acquire.lua``,
``breaker_record.lua``), so every worker sees the same one. A short local memory saves a
round trip per task: a denial is remembered until the time Redis named, an admission by a
closed breaker for ``CLOSED_MEMORY_MS`` (so a breaker another worker opened is seen within
that). Half-open admissions are never remembered: each probe is counted in Redis.
"""

from __future__ import annotations

import logging
import time

import redis

from system.client import AsyncClient
from system.config import BreakerSettings
from system.core import ops
from system.core.errors import is_permanent
from system.worker.hooks import WorkerHook
from system.worker.job import Ending, Job

log = logging.getLogger("taskq.worker")
CLOSED_MEMORY_MS = 500


class Breakers:
    def __init__(self, client: AsyncClient, settings: BreakerSettings) -> None:
        self.client = client
        self.rules = ops.BreakerRules(
            window_ms=int(settings.window_seconds * 1000),
            min_calls=settings.min_calls,
            failure_ratio=settings.failure_ratio,
            probes=settings.probes,
            open_ms=int(settings.open_seconds * 1000),
        )
        # (queue, task type) -> (admitted, valid until epoch ms)
        self._memory: dict[tuple[str, str], tuple[bool, int]] = {}

    async def admit(self, queue: str, task_type: str) -> ops.Admission:
        now = int(time.time() * 1000)
        key = (queue, task_type)
        remembered = self._memory.get(key)
        if remembered is not None and now < remembered[1]:
            admitted, until = remembered
            return (
                ops.Admission(True, ops.BreakerState.CLOSED, 0)
                if admitted
                else ops.Admission(False, ops.BreakerState.OPEN, until)
            )
        r = self.rules
        admission = await self.client.run(
            ops.breaker_acquire(queue, task_type, now, r.open_ms, r.probes)
        )
        if not admission.allowed:
            self._memory[key] = (False, admission.retry_at_ms)
        elif admission.state is ops.BreakerState.CLOSED:
            self._memory[key] = (True, now + CLOSED_MEMORY_MS)
        else:
            self._memory.pop(key, None)
        return admission

    async def record(self, queue: str, task_type: str, *, succeeded: bool) -> ops.BreakerState:
        """Count one outcome; returns the breaker's state after it."""
        now = int(time.time() * 1000)
        state = await self.client.run(
            ops.breaker_record(queue, task_type, now, succeeded, self.rules)
        )
        key = (queue, task_type)
        if state is ops.BreakerState.OPEN:
            if self._memory.get(key, (True, 0))[0]:
                log.warning("circuit breaker of %s in %s opened", task_type, queue)
            self._memory[key] = (False, now + self.rules.open_ms)
        elif state is ops.BreakerState.HALF_OPEN:
            self._memory.pop(key, None)
        return state


class BreakerHook(WorkerHook):
    def __init__(self, breakers: Breakers) -> None:
        self.breakers = breakers

    @staticmethod
    def _guarded(job: Job) -> bool:
        return job.spec is not None and job.spec.breaker

    async def admit(self, job: Job) -> int | None:
        """A Redis error propagates: the claim loop waits for Redis, and the tasks not yet
        started or deferred return when their leases expire."""
        if not self._guarded(job):
            return None
        admission = await self.breakers.admit(job.queue, job.claimed.task_type)
        return None if admission.allowed else admission.retry_at_ms

    async def after_execute(self, job: Job, ending: Ending) -> None:
        if not self._guarded(job):
            return
        if ending.succeeded:
            succeeded = True
        elif ending.error is not None and not is_permanent(ending.error):
            succeeded = False
        else:
            return  # stopped from outside, or the task's own fault
        try:
            await self.breakers.record(job.queue, job.claimed.task_type, succeeded=succeeded)
        except redis.RedisError as exc:  # advisory: the task's own outcome matters more
            log.warning("circuit breaker of %s: outcome not counted (%s)", job.claimed.id, exc)

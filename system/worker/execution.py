"""Running claimed tasks: start a handler per task, record how it ended.

A success (or a cancellation while running) joins the completion buffer, which records
outcomes in batches (``completions``); a failure is recorded at once with ``fail``, retried
through a Redis outage (the fencing token makes a repeat harmless).
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Sequence

import orjson
import redis

from system.client import AsyncClient
from system.config import Settings
from system.core import ops
from system.core.errors import PermanentFailure, RemoteTaskError, TaskTimeout, is_permanent
from system.core.ops import ClaimedTask, CompleteReply, Completion, FailReply
from system.registry import HandlerSpec, Registry
from system.worker.breakers import Breakers
from system.worker.completions import CompletionBuffer
from system.worker.context import TaskContext
from system.worker.executor import Executor
from system.worker.exposition import process_died
from system.worker.instruments import WorkerMetrics
from system.worker.job import Job
from system.worker.retry import Reconnect, retry_delay_ms

log = logging.getLogger("taskq.worker")


def _now_ms() -> int:
    return int(time.time() * 1000)


class TaskRunner:
    """Runs the tasks the worker claimed, each as an asyncio task, and records outcomes.

    ``jobs`` (task id -> Job) holds every task whose lease this worker holds; the worker's
    other parts read it (heartbeats, shutdown)."""

    def __init__(
        self,
        client: AsyncClient,
        settings: Settings,
        registry: Registry,
        *,
        metrics: WorkerMetrics,
        breakers: Breakers,
        stop_now: asyncio.Event,
    ) -> None:
        self.client = client
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.breakers = breakers
        self._stop_now = stop_now  # set: give up recording a failure while Redis is away
        self.jobs: dict[str, Job] = {}
        self.active = 0  # handlers running now: the slots in use
        self.processed = 0
        self.failed = 0
        self.stale_rejected = 0
        self.slot_free = asyncio.Event()
        self.completions = CompletionBuffer(client, self._recorded)
        self._executor: Executor | None = None

    def open(self) -> None:
        ws = self.settings.worker
        self._executor = Executor(
            self.registry,
            max_threads=ws.threads,
            max_processes=ws.processes,
            on_child_exit=process_died,
        )

    def close(self) -> None:
        if self._executor:
            self._executor.close()

    def start(self, queue: str, claimed: ClaimedTask) -> None:
        ctx = TaskContext(
            task_id=claimed.id,
            queue=queue,
            task_type=claimed.task_type,
            attempt=claimed.attempt,
        )
        spec = self.registry.get(claimed.task_type)
        job = Job(queue, claimed, ctx, spec.mode if spec else "async")
        self.jobs[claimed.id] = job
        self.active += 1
        job.started = self.metrics.started(queue, claimed)
        job.task = asyncio.create_task(self._execute(job, spec))

    async def _record_breaker(self, job: Job, *, succeeded: bool) -> None:
        try:
            await self.breakers.record(job.queue, job.claimed.task_type, succeeded=succeeded)
        except redis.RedisError as exc:  # advisory: the task's own outcome matters more
            log.warning("circuit breaker of %s: outcome not counted (%s)", job.claimed.id, exc)

    async def _execute(self, job: Job, spec: HandlerSpec | None) -> None:
        c = job.claimed
        try:
            if spec is None:
                known = ", ".join(sorted(self.registry.names()))
                raise PermanentFailure(
                    f"unknown task type {c.task_type!r}: no handler registered in this "
                    f"worker (known: {known})"
                )
            timeout = c.timeout_ms / 1000 if c.timeout_ms > 0 else None
            assert self._executor is not None
            result = await self._executor.run(
                spec, orjson.loads(c.payload_json), ctx=job.ctx, timeout_seconds=timeout
            )
            text = orjson.dumps(result)
            limit = self.settings.queue.max_result_bytes
            if len(text) > limit:
                raise PermanentFailure(f"result is {len(text)} bytes, over the limit of {limit}")
        except asyncio.CancelledError:
            if job.stop_reason == "cancel":
                self.completions.add(
                    job.queue, Completion(c.id, c.token, "cancelled", "cancelled while running")
                )
            # lost: another worker owns it now; shutdown: released by the worker.
        except Exception as exc:
            if spec is not None and spec.breaker and not is_permanent(exc):
                await self._record_breaker(job, succeeded=False)
            await self._fail(job, exc)
        else:
            self.completions.add(job.queue, Completion(c.id, c.token, "succeeded", text))
            if spec.breaker:
                await self._record_breaker(job, succeeded=True)
        finally:
            self.metrics.ended(job.queue, c.task_type, job.started)
            self.active -= 1
            self.slot_free.set()

    async def _fail(self, job: Job, exc: BaseException) -> None:
        c = job.claimed
        permanent = is_permanent(exc)
        qs = self.settings.queue
        delay = (
            None
            if permanent
            else retry_delay_ms(c.attempt, qs.retry_backoff_seconds, qs.retry_backoff_max_seconds)
        )
        if isinstance(exc, TaskTimeout):
            error = f"TaskTimeout: no result within {c.timeout_ms / 1000:g} s"
        else:
            error = f"{type(exc).__name__}: {exc}"
        tb = exc.traceback_text if isinstance(exc, RemoteTaskError) else traceback.format_exc()
        call = ops.fail(c.id, c.token, _now_ms(), error, tb, delay, self.client.result_ttl_ms)
        reconnect = Reconnect()
        while True:
            try:
                reply = await self.client.run(call)
                break
            except redis.RedisError as err:
                # Redis away: keep trying (the fencing token makes a repeat harmless). A
                # lease lost meanwhile cancels this task; a stop-now gives up, and then
                # the lease expires and the task is redelivered: nothing is lost.
                if self._stop_now.is_set():
                    log.warning("could not record the failure of %s: %s", c.id, err)
                    self.jobs.pop(c.id, None)
                    return
                await asyncio.sleep(reconnect.next_delay())
        self.jobs.pop(c.id, None)
        self.failed += 1
        self.metrics.failed(job.queue, c.task_type, reply, timed_out=isinstance(exc, TaskTimeout))
        if reply is FailReply.STALE_LEASE:
            self.stale_rejected += 1

    def _recorded(
        self, queue: str, batch: Sequence[Completion], replies: Sequence[CompleteReply]
    ) -> None:
        for completion, reply in zip(batch, replies, strict=True):
            job = self.jobs.pop(completion.id, None)
            if reply is CompleteReply.STALE_LEASE:
                self.stale_rejected += 1
            else:
                self.processed += 1
                if job is not None:
                    self.metrics.recorded(queue, job.claimed.task_type, completion.state)

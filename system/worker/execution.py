"""Running claimed tasks: start a handler per task, record how it ended.

A success (or a cancellation while running) joins the completion buffer, which records
outcomes in batches (``completions``); a failure is recorded at once with ``fail``, retried
through a Redis outage (the fencing token makes a repeat harmless). The worker's hooks
(``hooks``) are called around each: metrics, circuit breakers, retries and time limits
are hooks, not code here.
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
from system.config import QueueSettings, WorkerSettings
from system.core import ops
from system.core.errors import PermanentFailure, RemoteTaskError
from system.core.ops import ClaimedTask, CompleteReply, Completion, FailReply
from system.registry import Registry
from system.worker.completions import CompletionBuffer
from system.worker.context import TaskContext
from system.worker.executor import Executor
from system.worker.exposition import process_died
from system.worker.hooks import Hooks
from system.worker.job import Ending, Failure, Job, Outcome
from system.worker.retry import Reconnect

log = logging.getLogger("taskq.worker")
FAIL_OUTCOMES = {
    FailReply.RETRIED: Outcome.RETRIED,
    FailReply.DEAD_LETTERED: Outcome.FAILED,
    FailReply.CANCELLED: Outcome.CANCELLED,
    FailReply.STALE_LEASE: Outcome.STALE,
}
COMPLETION_OUTCOMES = {"succeeded": Outcome.SUCCEEDED, "cancelled": Outcome.CANCELLED}


def _now_ms() -> int:
    return int(time.time() * 1000)


class TaskRunner:
    """Runs the tasks the worker claimed, each as an asyncio task, and records outcomes.

    ``jobs`` (task id -> Job) holds every task whose lease this worker holds; the worker's
    other parts read it (heartbeats, shutdown)."""

    def __init__(
        self,
        client: AsyncClient,
        queue_settings: QueueSettings,
        worker_settings: WorkerSettings,
        registry: Registry,
        hooks: Hooks,
        *,
        stop_now: asyncio.Event,
    ) -> None:
        self.client = client
        self.qs = queue_settings
        self.ws = worker_settings
        self.registry = registry
        self.hooks = hooks
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
        self._executor = Executor(
            self.registry,
            max_threads=self.ws.threads,
            max_processes=self.ws.processes,
            on_child_exit=process_died,
        )

    def close(self) -> None:
        if self._executor:
            self._executor.close()

    def job(self, queue: str, claimed: ClaimedTask) -> Job:
        """A claimed task as a Job, not yet started (``start``)."""
        ctx = TaskContext(
            task_id=claimed.id,
            queue=queue,
            task_type=claimed.task_type,
            attempt=claimed.attempt,
        )
        spec = self.registry.get(claimed.task_type)
        return Job(queue, claimed, ctx, spec, spec.mode if spec else "async")

    def start(self, job: Job) -> None:
        self.jobs[job.claimed.id] = job
        self.active += 1
        job.started = time.perf_counter()
        self.hooks.before_execute(job)
        job.task = asyncio.create_task(self._execute(job))

    async def _run(self, job: Job) -> bytes:
        """Run the handler; its result as JSON."""
        c, spec = job.claimed, job.spec
        if spec is None:
            known = ", ".join(sorted(self.registry.names()))
            raise PermanentFailure(
                f"unknown task type {c.task_type!r}: no handler registered in this "
                f"worker (known: {known})"
            )
        assert self._executor is not None
        result = await self._executor.run(
            spec, orjson.loads(c.payload_json), ctx=job.ctx, timeout_seconds=job.timeout_seconds
        )
        text = orjson.dumps(result)
        if len(text) > self.qs.max_result_bytes:
            limit = self.qs.max_result_bytes
            raise PermanentFailure(f"result is {len(text)} bytes, over the limit of {limit}")
        return text

    async def _execute(self, job: Job) -> None:
        c = job.claimed
        try:
            text = await self._run(job)
        except asyncio.CancelledError:
            job.ending = Ending(stopped=job.stop_reason or "shutdown")
            if job.stop_reason == "cancel":
                self.completions.add(
                    job.queue, Completion(c.id, c.token, "cancelled", "cancelled while running")
                )
            # lost: another worker owns it now; shutdown: released by the worker.
            await self.hooks.after_execute(job, job.ending)
        except Exception as exc:
            job.ending = Ending(error=exc)
            message = f"{type(exc).__name__}: {exc}"
            tb = exc.traceback_text if isinstance(exc, RemoteTaskError) else traceback.format_exc()
            await self.hooks.after_execute(job, job.ending)
            failure = Failure(exc, message, tb)
            self.hooks.on_failure(job, failure)
            await self._fail(job, failure)
        else:
            job.ending = Ending(result_json=text)
            self.completions.add(job.queue, Completion(c.id, c.token, "succeeded", text))
            await self.hooks.after_execute(job, job.ending)
        finally:
            self.active -= 1
            self.slot_free.set()

    async def _fail(self, job: Job, failure: Failure) -> None:
        c = job.claimed
        call = ops.fail(
            c.id,
            c.token,
            _now_ms(),
            failure.message,
            failure.traceback,
            failure.retry_delay_ms,
            self.client.retention,
        )
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
        if reply is FailReply.STALE_LEASE:
            self.stale_rejected += 1
        self.hooks.after_recorded(job, FAIL_OUTCOMES[reply])

    def _recorded(
        self, queue: str, batch: Sequence[Completion], replies: Sequence[CompleteReply]
    ) -> None:
        for completion, reply in zip(batch, replies, strict=True):
            job = self.jobs.pop(completion.id, None)
            if reply is CompleteReply.STALE_LEASE:
                self.stale_rejected += 1
                outcome = Outcome.STALE
            else:
                self.processed += 1
                outcome = COMPLETION_OUTCOMES[completion.state]
            if job is not None:
                self.hooks.after_recorded(job, outcome)

"""The worker process: claims batches of tasks, runs them, records outcomes.

Concurrency model: one asyncio loop. Each claimed task becomes an asyncio task that runs its
handler (async handlers on the loop, thread handlers in a thread pool, process handlers in
a process pool, see ``executor``). This module is the claim loop and the lifecycle; its
parts are ``execution`` (running a task and recording its outcome), ``leases``
(heartbeats, lost leases, cancel requests, release at shutdown), ``liveness`` (a thread
that says the worker is alive while it holds tasks, whatever its event loop is doing) and
``maintenance``.
Beside the claim loop run three background loops: the completion flusher
(``completions``), the heartbeat (renews leases, refreshes the worker registry) and
maintenance (promotes due delayed tasks, reclaims expired leases; one worker per queue at
a time, its leader).

Cross-cutting concerns plug in as hooks (``hooks``), called around every task; the
built-in ones (``concerns``) are metrics (``instruments``), time limits (``time_limits``),
retries (``retry``) and circuit breakers (``breakers``: a claimed task whose breaker is
open is handed back unrun until the breaker lets probes through).

Shutdown (SIGTERM or the first Ctrl-C): stop claiming, let in-flight tasks finish within
``shutdown_timeout_seconds``, then release the rest back to the queue without counting an
attempt. A second signal skips the wait.

Redis unreachable (restarting, partitioned, paused): the worker does not exit. It stops
claiming, lets in-flight tasks finish, keeps their outcomes (at most ``concurrency`` of
them, since nothing new is claimed) and retries with backoff and jitter until Redis
answers, then records them and claims again. Leases and fencing keep this safe: if the
outage outlasted a lease, the task was redelivered elsewhere and the late outcome is
rejected and counted, never applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import redis.asyncio.cluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from system.client import AsyncClient
from system.config import Settings
from system.core import ops
from system.core.keys import queue_keys
from system.core.ops import ClaimedTask, DeferReply
from system.metrics import RedisMemory
from system.registry import REGISTRY, Registry
from system.retention import footprint_warning
from system.worker.concerns import default_hooks
from system.worker.execution import TaskRunner
from system.worker.exposition import MetricsServer
from system.worker.hooks import Hooks, WorkerHook
from system.worker.job import Job
from system.worker.leases import Leases
from system.worker.liveness import LivenessBeat
from system.worker.maintenance import Maintenance
from system.worker.registration import Registration
from system.worker.retry import OutageLog, Reconnect
from system.worker.waiting import blpop_or_stop

log = logging.getLogger("taskq.worker")
REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
# An idle worker is woken by tokens (every script that makes a task claimable pushes one);
# it claims without one only this often, a safety net that costs nothing meanwhile.
UNWOKEN_CLAIM_SECONDS = 30.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class Worker:
    def __init__(
        self,
        redis: str,
        settings: Settings | None = None,
        *,
        registry: Registry = REGISTRY,
        worker_id: str | None = None,
        hooks: Iterable[WorkerHook] = (),
    ) -> None:
        """``redis``: a URL (the liveness beat opens a connection of its own, from a
        thread). ``hooks`` are added after (inside) the default ones."""
        if not isinstance(redis, str):
            raise TypeError(
                "Worker needs a Redis URL: its liveness beat opens a connection of its "
                "own, from a thread"
            )
        self.settings = settings or Settings()
        self.ws = self.settings.worker
        self.queues = [queue_keys(q).name for q in self.ws.queues]
        self.registry = registry
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"
        # A command that gets no answer (Redis paused, packets dropped) must fail rather
        # than hang: the timeout allows the idle BLPOP plus a margin. One immediate retry
        # covers a pooled connection left stale by a Redis restart; the worker's own
        # backoff does the rest (redis-py's default retries would add tens of seconds).
        self.client = AsyncClient(
            redis,
            self.settings.queue,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
            socket_timeout=self.ws.poll_interval_seconds
            + max(2.0, self.settings.queue.lease_seconds / 2),
            retry=Retry(NoBackoff(), 1),
        )
        self.lease_ms = int(self.settings.queue.lease_seconds * 1000)
        self._stop_requested = asyncio.Event()
        self._stop_now = asyncio.Event()
        self._loops_stop = asyncio.Event()  # ends the heartbeat and maintenance loops
        self.deferred = 0
        self._started_ms = _now_ms()
        self._metrics_server: MetricsServer | None = None
        self.hooks = Hooks([*default_hooks(self.client, self.settings), *hooks])
        self.runner = TaskRunner(
            self.client,
            self.settings.queue,
            self.ws,
            registry,
            self.hooks,
            stop_now=self._stop_now,
        )
        self.jobs = self.runner.jobs  # task id -> Job, for every lease held
        self.leases = Leases(self.client, self.jobs, self.lease_ms)
        self.maintenance = Maintenance(self.client, self.queues, self.id, self.ws, self._loops_stop)
        self.liveness = LivenessBeat(
            redis, self.id, self._held_queues, self.ws.liveness_beat_seconds
        )
        self._joined: set[str] = set()  # queues whose alive set a claim put this worker in
        self.registration = Registration(self.client.redis, self.id, self._describe, self.lease_ms)

    def _held_queues(self) -> set[str]:
        """The queues this worker holds tasks of (called from the liveness thread too:
        ``list()`` copies the dict's values in one step under the GIL)."""
        return {job.queue for job in list(self.jobs.values())}

    # ---- lifecycle -------------------------------------------------------------------

    def request_stop(self) -> None:
        """First call: graceful stop. Second call: stop at once."""
        if self._stop_requested.is_set():
            log.warning("second stop request: releasing in-flight tasks now")
            self._stop_now.set()
        else:
            log.info("stopping: no new claims, finishing in-flight tasks")
            self._stop_requested.set()
        self.runner.slot_free.set()

    async def _check_retention(self) -> None:
        memory = RedisMemory.from_info(await self.client.redis.info("memory"))
        warning = footprint_warning(self.client.settings, len(self.queues), memory)
        if warning:
            log.warning("%s", warning)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def run(self) -> None:
        await self.client.connect()
        await self._check_retention()
        self.runner.open()
        self.hooks.on_worker_start(self)
        if self.ws.metrics_port:
            self._metrics_server = MetricsServer(self.ws.metrics_host, self.ws.metrics_port)
            self._metrics_server.start()
        background = [
            asyncio.create_task(self.runner.completions.run(), name="completions"),
            asyncio.create_task(self._every(self.lease_ms / 4000, self._heartbeat), name="hb"),
            asyncio.create_task(self.maintenance.run(), name="maintenance"),
        ]
        await self._heartbeat()
        self.liveness.start()
        log.info("worker %s serving %s (concurrency %d)", self.id, self.queues, self.ws.concurrency)
        try:
            await self._claim_loop()
        finally:
            await self._shutdown(background)

    async def _shutdown(self, background: list[asyncio.Task[Any]]) -> None:
        running = [j.task for j in self.jobs.values() if j.task and not j.task.done()]
        if running and not self._stop_now.is_set():
            # Wait for every in-flight task, but no longer than the grace period, and not at
            # all once a second signal arrives.
            all_done = asyncio.ensure_future(asyncio.wait(running))
            stop_now = asyncio.ensure_future(self._stop_now.wait())
            await asyncio.wait(
                [all_done, stop_now],
                timeout=self.ws.shutdown_timeout_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for fut in (all_done, stop_now):
                fut.cancel()
        leftover = [j for j in self.jobs.values() if j.task and not j.task.done()]
        for job in leftover:
            job.stop_reason = "shutdown"
            job.task.cancel()  # type: ignore[union-attr]
        await asyncio.gather(*(j.task for j in leftover if j.task), return_exceptions=True)
        try:
            await self.leases.release(leftover)
        except redis.RedisError as exc:  # their leases expire and they are redelivered
            log.warning("could not release %d task(s): %s", len(leftover), exc)
        self.runner.completions.close()
        # The flusher ends once everything is recorded, or gives up when Redis stays away.
        grace = 0.0 if self._stop_now.is_set() else self.ws.shutdown_timeout_seconds
        try:
            await asyncio.wait_for(asyncio.shield(background[0]), max(grace, 1.0))
        except TimeoutError:
            background[0].cancel()
            log.error(
                "%d outcome(s) could not be recorded (Redis unreachable); their tasks "
                "will be redelivered when their leases expire",
                len(self.runner.completions),
            )
        # The loops stop between rounds rather than being cancelled: cancelling a redis-py
        # asyncio command midway could leave the loop waiting forever (seen with
        # redis-py 8 when SIGTERM arrived during start-up).
        self._loops_stop.set()
        await asyncio.gather(*background[1:], return_exceptions=True)
        self.liveness.stop()
        with contextlib.suppress(Exception):
            await self._leave(self.queues)
            await self.registration.remove()
        self.runner.close()
        await self.client.close()
        self.hooks.on_worker_stop(self)
        if self._metrics_server:
            self._metrics_server.stop()
        r = self.runner
        log.info("worker %s stopped (%d processed, %d failed)", self.id, r.processed, r.failed)

    # ---- claiming --------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        reconnect = Reconnect()
        while not self._stop_requested.is_set():
            try:
                if await self._claim_round():
                    return
            except redis.RedisError as exc:
                delay = reconnect.next_delay()
                if reconnect.failures == 1:
                    log.warning("Redis unavailable (%s): not claiming, retrying", exc)
                await self._sleep_unless_stopping(delay)
                continue
            if reconnect.failures:
                log.info("Redis answers again: claiming")
                reconnect.reset()

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), seconds)

    async def _claim_round(self) -> bool:
        """Claim what fits and start it, or wait for work; True when burst mode is done."""
        free = self.ws.concurrency - self.runner.active
        if free <= 0:
            self.runner.slot_free.clear()
            await self.runner.slot_free.wait()
            return False
        started, claimed = 0, 0
        for queue in self.queues:
            n = min(free - started, self.ws.claim_batch)
            if n <= 0:
                break
            tasks = await self.client.run(ops.claim(queue, _now_ms(), self.lease_ms, n, self.id))
            if tasks:
                self._joined.add(queue)
            claimed += len(tasks)
            for job in await self._admitted(queue, tasks):
                self.runner.start(job)
                started += 1
        if claimed == 0:
            if self.ws.burst and await self._nothing_left():
                log.info("burst mode: queues are empty, exiting")
                return True
            await self._wait_for_work()
        return False

    async def _leave(self, queues: Iterable[str]) -> None:
        """Leave the alive sets of queues this worker holds nothing of: the reaper then
        has no silent worker to look for when it stops beating there."""
        queues = list(queues)
        if not queues:
            return
        pipe = self.client.redis.pipeline(transaction=False)
        for queue in queues:
            pipe.zrem(queue_keys(queue).alive, self.id)
        await pipe.execute()
        self._joined.difference_update(queues)

    async def _nothing_left(self) -> bool:
        if self.jobs:
            return False
        for q in self.queues:
            stats = await self.client.stats(q)
            if stats.queued or stats.scheduled:
                return False
        return True

    async def _wait_for_work(self) -> None:
        """Block on the queues' wake lists until a token arrives (a submit, a retry come
        due, a claim that left work behind, a resume) or a stop is requested. One BLPOP
        lasts the poll interval at most, so a hung Redis is noticed; with no token the
        worker blocks again, and claims anyway after ``UNWOKEN_CLAIM_SECONDS`` (a safety
        net). In burst mode, and on a cluster (one BLPOP cannot span slots: the queues
        after the first are polled), it waits one poll interval."""
        wake_keys = [queue_keys(q).wake for q in self.queues]
        cluster = isinstance(self.client.redis, redis.asyncio.cluster.RedisCluster)
        if cluster:
            wake_keys = wake_keys[:1]
        once = cluster or self.ws.burst
        give_up = time.monotonic() + UNWOKEN_CLAIM_SECONDS
        while True:
            await self._leave(self._joined - self._held_queues())  # tasks ended meanwhile
            if await self._blpop_or_stop(wake_keys):
                return
            if once or time.monotonic() >= give_up:
                return

    async def _blpop_or_stop(self, keys: list[str]) -> bool:
        """One blocking wait for a wake-up token; True when one came or a stop was
        requested. A Redis error is raised (the claim loop backs off)."""
        timeout = self.ws.poll_interval_seconds
        key = await blpop_or_stop(self.client.redis, keys, timeout, self._stop_requested)
        return key is not None or self._stop_requested.is_set()

    async def _admitted(self, queue: str, tasks: list[ClaimedTask]) -> list[Job]:
        """The tasks that may run now. A task a hook holds back (its circuit breaker is
        open) is deferred until the time the hook named. A Redis error here propagates
        to the claim loop: the tasks not yet started or deferred return when their leases
        expire."""
        admitted = []
        for task in tasks:
            job = self.runner.job(queue, task)
            until = await self.hooks.admit(job)
            if until is None:
                admitted.append(job)
                continue
            if await self.client.run(ops.defer(task.id, task.token, until)) is DeferReply.DEFERRED:
                self.deferred += 1
        return admitted

    # ---- background loops ------------------------------------------------------------

    async def _pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when the background loops should stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._loops_stop.wait(), seconds)
        return self._loops_stop.is_set()

    async def _every(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        name = getattr(action, "__name__", str(action)).lstrip("_")
        outage = OutageLog(log, name)
        while not await self._pause(seconds):
            try:
                await action()
                outage.ok()
            except redis.RedisError as exc:  # Redis away: the next round tries again
                outage.failed(exc)
            except Exception:
                log.exception("%s failed; will retry", name)

    async def _heartbeat(self) -> None:
        await self.leases.renew()
        await self.registration.refresh()

    def _describe(self) -> dict[str, str | int]:
        """This worker as the registry shows it (``registration``)."""
        return {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": ",".join(self.queues),
            "concurrency": self.ws.concurrency,
            "in_flight": self.runner.active,
            "processed": self.runner.processed,
            "failed": self.runner.failed,
            "started_ms": self._started_ms,
        }

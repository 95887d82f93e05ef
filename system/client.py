"""Python clients: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

Both run the same operation descriptions from ``system.core.ops``; only the I/O differs.

    from system.client import Client
    with Client("redis://127.0.0.1:6379/0") as c:
        sub = c.submit("echo", {"hello": "world"})
        record = c.wait(sub.id, timeout_seconds=5)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from system.config import QueueSettings
from system.core import ops
from system.core.connection import (
    AsyncRedis,
    SyncRedis,
    check_redis,
    check_redis_async,
    connect,
    connect_async,
)
from system.core.constants import RATE_BUCKET_MS, RATE_BUCKETS
from system.core.errors import InvalidSubmission, TaskNotFound
from system.core.keys import QUEUES, WORKERS, queue_keys, queue_of, worker_key
from system.core.ops import Call, CancelOutcome, Submitted
from system.core.scripts import register_all
from system.core.submission import TaskRequest, build_task
from system.core.task import TaskRecord
from system.metrics import TASKS_SUBMITTED

T = TypeVar("T")
# Tasks per submit_bulk call: large enough to amortise the round trip, small enough that
# one script call does not hold Redis for long (a few ms).
BULK_CHUNK = 1000
CANCEL_REASON = "cancelled by request"
# A wait blocks in steps this long, well under any reply timeout in use (the API's 1 s,
# redis-py's default 5 s, which the API's long polls get), so a wait longer than the
# timeout is not taken for a dead connection.
WAIT_STEP_MS = 500


def _wait_steps(timeout_seconds: float) -> Iterable[int]:
    """The XREAD block of each step (ms) until the deadline; at least one step."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        yield max(1, min(left_ms, WAIT_STEP_MS))
        if left_ms <= WAIT_STEP_MS:
            return


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    queued: int
    scheduled: int
    running: int
    dead: int
    paused: bool
    counters: dict[str, int]  # succeeded, failed, retried, cancelled, lease_expired, ...
    # How long the longest-waiting queued task has waited; only with stats(with_age=True).
    oldest_queued_age_seconds: float | None = None
    # Tasks that ended (any terminal state) per second over about the last minute.
    finished_per_second: float = 0.0


def finished_rate(buckets: dict[str, str], at_ms: int) -> float:
    """Tasks ended per second over the last RATE_BUCKETS buckets before ``at_ms``."""
    current = at_ms // RATE_BUCKET_MS
    ended = sum(int(n) for b, n in buckets.items() if current - RATE_BUCKETS < int(b) <= current)
    span_ms = (RATE_BUCKETS - 1) * RATE_BUCKET_MS + at_ms % RATE_BUCKET_MS
    return ended * 1000 / span_ms


def _stats_commands(pipe: Any, queue: str) -> None:
    k = queue_keys(queue)
    for key in (k.queued, k.scheduled, k.running, k.dead):
        pipe.zcard(key)
    pipe.hgetall(k.meta)
    pipe.hgetall(k.rate)


# Fields of the meta hash that are not counters of tasks.
_NOT_COUNTERS = ("seq", "token", "leader_token", "paused")


def _stats(queue: str, replies: list[Any], oldest: dict[str, str] | None) -> QueueStats:
    queued, scheduled, running, dead, meta, rate = replies
    counters = {k: int(v) for k, v in meta.items() if k not in _NOT_COUNTERS}
    at = now_ms()
    since = (oldest or {}).get("eligible_ms") or (oldest or {}).get("created_ms")
    age = max(0.0, at / 1000 - int(since) / 1000) if since else None
    paused = "paused" in meta
    return QueueStats(queue, queued, scheduled, running, dead, paused, counters, age,
                      finished_rate(rate, at))  # fmt: skip


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    in_flight: int
    processed: int
    failed: int
    started_ms: int
    heartbeat_ms: int

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> WorkerInfo:
        return cls(
            id=h["id"], host=h.get("host", ""), pid=int(h.get("pid", 0)),
            queues=[q for q in h.get("queues", "").split(",") if q],
            concurrency=int(h.get("concurrency", 0)), in_flight=int(h.get("in_flight", 0)),
            processed=int(h.get("processed", 0)), failed=int(h.get("failed", 0)),
            started_ms=int(h.get("started_ms", 0)), heartbeat_ms=int(h.get("heartbeat_ms", 0)),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A task type's circuit breaker as stored. An open breaker stays 'open' here until
    a worker asks for it after its open period (then it turns half-open)."""

    task_type: str
    state: str  # closed, open, half_open
    opened_ms: int | None  # when it last opened
    opens: int  # times it opened
    window_calls: int  # outcomes counted in the current window (closed)
    window_failures: int

    @classmethod
    def from_hash(cls, task_type: str, h: dict[str, str]) -> BreakerStatus:
        opened = h.get("opened_ms")
        return cls(
            task_type, h.get("state", "closed"), int(opened) if opened else None,
            int(h.get("opens", 0)), int(h.get("calls", 0)), int(h.get("failures", 0)),
        )  # fmt: skip


# States kept in a sorted set, which is what makes them listable: queued (priority order),
# scheduled (due time), running (lease deadline), failed (time dead-lettered). Succeeded
# and cancelled tasks are only their own expiring records, with no index.
LISTABLE_STATES = ("queued", "scheduled", "running", "failed")


def _state_index(queue: str, state: str) -> str:
    k = queue_keys(queue)
    index = {"queued": k.queued, "scheduled": k.scheduled, "running": k.running, "failed": k.dead}
    if state not in index:
        raise InvalidSubmission(
            f"status: {state!r} cannot be listed; listable: {', '.join(LISTABLE_STATES)} "
            "(finished tasks are kept only as records; look them up by id)"
        )
    return index[state]


def _record(task_id: str, h: dict[str, str]) -> TaskRecord:
    if not h:
        raise TaskNotFound(task_id)
    return TaskRecord.from_hash(task_id, queue_of(task_id), h)


class _Common:
    """What both clients share: settings, validation, grouping into script calls."""

    def __init__(self, settings: QueueSettings | None) -> None:
        self.settings = settings or QueueSettings()
        self._known_queues: set[str] = set()

    @property
    def result_ttl_ms(self) -> int:
        return int(self.settings.result_ttl_seconds * 1000)

    @property
    def idem_ttl_ms(self) -> int:
        return int(self.settings.idempotency_ttl_seconds * 1000)

    def _submit_calls(
        self, requests: Iterable[TaskRequest]
    ) -> list[tuple[list[int], Call[list[Submitted]]]]:
        """Validate all requests first (nothing is written if one is bad), then group them
        by queue into chunks of one script call each. Returns (input positions, call)."""
        t = now_ms()
        by_queue: dict[str, list[tuple[int, ops.NewTask]]] = {}
        for i, req in enumerate(requests):
            task = build_task(req, self.settings, t)
            by_queue.setdefault(task.queue, []).append((i, task))
        calls = []
        for queue, items in by_queue.items():
            for start in range(0, len(items), BULK_CHUNK):
                chunk = items[start : start + BULK_CHUNK]
                call = ops.submit_bulk(queue, [task for _, task in chunk], t, self.idem_ttl_ms)
                calls.append(([i for i, _ in chunk], call))
        return calls

    @staticmethod
    def _count_created(requests: Sequence[TaskRequest], subs: Sequence[Submitted]) -> None:
        # Grouped: one labelled increment per (queue, type) rather than one per task.
        created = Counter(
            (r.queue, r.task_type) for r, s in zip(requests, subs, strict=True) if s.created
        )
        for (queue, task_type), n in created.items():
            TASKS_SUBMITTED.labels(queue, task_type).inc(n)

    def _unknown_queues(self, queues: Iterable[str]) -> list[str]:
        new = [q for q in set(queues) if q not in self._known_queues]
        self._known_queues.update(new)
        return new


class Client(_Common):
    """Blocking client. ``redis`` is a URL or an existing redis-py client (decoded strings)."""

    def __init__(
        self, redis: str | SyncRedis, settings: QueueSettings | None = None, *, check: bool = True
    ) -> None:
        super().__init__(settings)
        self._owns = isinstance(redis, str)
        # Any: redis-py's command types do not know that replies are decoded to str.
        self.redis: Any = connect(redis) if isinstance(redis, str) else redis
        if check:
            try:
                check_redis(self.redis)
            except BaseException:
                self.close()
                raise
        self._scripts = register_all(self.redis)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns:
            self.redis.close()

    def run(self, call: Call[T]) -> T:
        return call.parse(self._scripts[call.script](keys=call.keys, args=call.args))

    def _remember_queues(self, queues: Iterable[str]) -> None:
        new = self._unknown_queues(queues)
        if new:
            self.redis.sadd(QUEUES, *new)

    def submit(self, task_type: str, payload: Any = None, **options: Any) -> Submitted:
        """Submit one task. Options: queue, priority, max_retries, timeout_seconds,
        delay_seconds, eta, idempotency_key."""
        req = TaskRequest(task_type, payload, **options)
        task = build_task(req, self.settings)
        self._remember_queues([task.queue])
        sub = self.run(ops.submit(task, self.idem_ttl_ms))
        self._count_created([req], [sub])
        return sub

    def submit_many(self, requests: Sequence[TaskRequest]) -> list[Submitted]:
        """Submit many tasks, one round trip per queue and chunk; results in input order."""
        calls = self._submit_calls(requests)
        self._remember_queues(r.queue for r in requests)
        out: list[Submitted] = [None] * len(requests)  # type: ignore[list-item]
        for positions, call in calls:
            for pos, sub in zip(positions, self.run(call), strict=True):
                out[pos] = sub
        self._count_created(requests, out)
        return out

    def get(self, task_id: str) -> TaskRecord:
        return _record(task_id, self.redis.hgetall(ops.keys_for_task(task_id).task(task_id)))

    def wait(self, task_id: str, timeout_seconds: float) -> TaskRecord:
        """Block until the task ends or the timeout passes; return its record either way."""
        state = self.run(ops.register_waiter(task_id))
        if state == "":
            raise TaskNotFound(task_id)
        if state not in ("succeeded", "failed", "cancelled"):
            done = ops.keys_for_task(task_id).done(task_id)
            for block_ms in _wait_steps(timeout_seconds):
                if self.redis.xread({done: "0-0"}, count=1, block=block_ms):
                    break
        return self.get(task_id)

    def cancel(self, task_id: str, reason: str = CANCEL_REASON) -> CancelOutcome:
        call = ops.cancel(task_id, now_ms(), self.result_ttl_ms, reason)
        return self.run(call)

    def pause(self, queue: str) -> None:
        self.redis.hset(queue_keys(queue).meta, "paused", "1")

    def resume(self, queue: str) -> None:
        self.redis.hdel(queue_keys(queue).meta, "paused")

    def stats(self, queue: str, *, with_age: bool = False) -> QueueStats:
        """Depth by state and counters; ``with_age`` adds the longest wait (two more
        round trips, so callers that only need counts leave it off)."""
        pipe = self.redis.pipeline(transaction=False)
        _stats_commands(pipe, queue)
        replies = pipe.execute()
        oldest_id = self.run(ops.oldest_queued(queue)) if with_age and replies[0] else None
        oldest = self.redis.hgetall(queue_keys(queue).task(oldest_id)) if oldest_id else None
        return _stats(queue, replies, oldest)

    def queues(self) -> list[str]:
        return sorted(self.redis.smembers(QUEUES))

    def workers(self) -> list[WorkerInfo]:
        """Live workers (their registry entry expires when they stop heartbeating)."""
        hashes = [self.redis.hgetall(worker_key(i)) for i in self.redis.zrange(WORKERS, 0, -1)]
        return [WorkerInfo.from_hash(h) for h in hashes if h]

    def breakers(self, queue: str) -> list[BreakerStatus]:
        """Circuit breakers of the queue's task types, by task type (a breaker appears
        once it counted an outcome)."""
        k = queue_keys(queue)
        types = sorted(self.redis.smembers(k.breakers))
        pipe = self.redis.pipeline(transaction=False)
        for task_type in types:
            pipe.hgetall(k.breaker(task_type))
        return [BreakerStatus.from_hash(t, h) for t, h in zip(types, pipe.execute(), strict=True)]

    def dead_letters(self, queue: str, limit: int = 100) -> list[TaskRecord]:
        ids = self.redis.zrange(queue_keys(queue).dead, 0, limit - 1)
        return [self.get(i) for i in ids]

    def requeue_dead(self, queue: str, ids: Sequence[str] = (), limit: int = 1000) -> list[str]:
        return self.run(ops.requeue_dead(queue, now_ms(), limit, ids))


class AsyncClient(_Common):
    """asyncio client; the same methods as ``Client``, awaited. Call ``await connect()``
    (or use ``async with``) before the first operation: it checks the server."""

    def __init__(
        self,
        redis: str | AsyncRedis,
        settings: QueueSettings | None = None,
        *,
        check: bool = True,
        **redis_options: Any,
    ) -> None:
        """``redis``: a URL (``redis_options`` go to the connection) or a client."""
        super().__init__(settings)
        self._owns = isinstance(redis, str)
        self.redis: Any = connect_async(redis, **redis_options) if isinstance(redis, str) else redis
        self._check = check
        self._scripts = register_all(self.redis)

    async def connect(self) -> AsyncClient:
        if self._check:
            try:
                await check_redis_async(self.redis)
            except BaseException:
                await self.close()
                raise
            self._check = False
        return self

    async def __aenter__(self) -> AsyncClient:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns:
            await self.redis.aclose()

    async def run(self, call: Call[T]) -> T:
        return call.parse(await self._scripts[call.script](keys=call.keys, args=call.args))

    async def _remember_queues(self, queues: Iterable[str]) -> None:
        new = self._unknown_queues(queues)
        if new:
            await self.redis.sadd(QUEUES, *new)

    async def submit(self, task_type: str, payload: Any = None, **options: Any) -> Submitted:
        req = TaskRequest(task_type, payload, **options)
        task = build_task(req, self.settings)
        await self._remember_queues([task.queue])
        sub = await self.run(ops.submit(task, self.idem_ttl_ms))
        self._count_created([req], [sub])
        return sub

    async def submit_many(self, requests: Sequence[TaskRequest]) -> list[Submitted]:
        calls = self._submit_calls(requests)
        await self._remember_queues(r.queue for r in requests)
        out: list[Submitted] = [None] * len(requests)  # type: ignore[list-item]
        for positions, call in calls:
            for pos, sub in zip(positions, await self.run(call), strict=True):
                out[pos] = sub
        self._count_created(requests, out)
        return out

    async def get(self, task_id: str) -> TaskRecord:
        key = ops.keys_for_task(task_id).task(task_id)
        return _record(task_id, await self.redis.hgetall(key))

    async def wait(self, task_id: str, timeout_seconds: float) -> TaskRecord:
        state = await self.run(ops.register_waiter(task_id))
        if state == "":
            raise TaskNotFound(task_id)
        if state not in ("succeeded", "failed", "cancelled"):
            done = ops.keys_for_task(task_id).done(task_id)
            for block_ms in _wait_steps(timeout_seconds):
                if await self.redis.xread({done: "0-0"}, count=1, block=block_ms):
                    break
        return await self.get(task_id)

    async def cancel(self, task_id: str, reason: str = CANCEL_REASON) -> CancelOutcome:
        call = ops.cancel(task_id, now_ms(), self.result_ttl_ms, reason)
        return await self.run(call)

    async def pause(self, queue: str) -> None:
        await self.redis.hset(queue_keys(queue).meta, "paused", "1")

    async def resume(self, queue: str) -> None:
        await self.redis.hdel(queue_keys(queue).meta, "paused")

    async def stats(self, queue: str, *, with_age: bool = False) -> QueueStats:
        pipe = self.redis.pipeline(transaction=False)
        _stats_commands(pipe, queue)
        replies = await pipe.execute()
        wanted = with_age and replies[0]
        oldest_id = await self.run(ops.oldest_queued(queue)) if wanted else None
        key = queue_keys(queue).task(oldest_id) if oldest_id else None
        oldest = await self.redis.hgetall(key) if key else None
        return _stats(queue, replies, oldest)

    async def queues(self) -> list[str]:
        return sorted(await self.redis.smembers(QUEUES))

    async def list_tasks(
        self, queue: str, state: str, offset: int = 0, limit: int = 100
    ) -> list[TaskRecord]:
        """Tasks of one queue in a state that has an index (see ``LISTABLE_STATES``), in
        that index's order; tasks that end while being read are skipped."""
        ids = await self.redis.zrange(_state_index(queue, state), offset, offset + limit - 1)
        pipe = self.redis.pipeline(transaction=False)
        for task_id in ids:
            pipe.hgetall(queue_keys(queue).task(task_id))
        return [_record(i, h) for i, h in zip(ids, await pipe.execute(), strict=True) if h]

    async def workers(self) -> list[WorkerInfo]:
        """Live workers (their registry entry expires when they stop heartbeating)."""
        ids = await self.redis.zrange(WORKERS, 0, -1)
        hashes = [await self.redis.hgetall(worker_key(i)) for i in ids]
        return [WorkerInfo.from_hash(h) for h in hashes if h]

    async def breakers(self, queue: str) -> list[BreakerStatus]:
        """Circuit breakers of the queue's task types, by task type (a breaker appears
        once it counted an outcome)."""
        k = queue_keys(queue)
        types = sorted(await self.redis.smembers(k.breakers))
        pipe = self.redis.pipeline(transaction=False)
        for task_type in types:
            pipe.hgetall(k.breaker(task_type))
        hashes = await pipe.execute()
        return [BreakerStatus.from_hash(t, h) for t, h in zip(types, hashes, strict=True)]

    async def dead_letters(self, queue: str, limit: int = 100) -> list[TaskRecord]:
        ids = await self.redis.zrange(queue_keys(queue).dead, 0, limit - 1)
        return [await self.get(i) for i in ids]

    async def requeue_dead(
        self, queue: str, ids: Sequence[str] = (), limit: int = 1000
    ) -> list[str]:
        return await self.run(ops.requeue_dead(queue, now_ms(), limit, ids))

"""``Client`` (blocking) and ``AsyncClient`` (asyncio): each drives the plans of
``system.client.plans`` over its connection, one step a round trip. Apart from the
connection's life (open, check, close), a method is one line, the same in both."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from system.client.async_lane import AsyncScriptLane
from system.client.async_lane import usable as lane_usable
from system.client.lane import ScriptLane
from system.client.models import BreakerStatus, QueueStats, WorkerInfo
from system.client.plans import CANCEL_REASON, Plan, Plans, Scripts, Step, Streamed
from system.client.streaming import stream_async
from system.config import QueueSettings
from system.core.connection import (
    CLUSTER_TYPES,
    AsyncRedis,
    SyncRedis,
    check_redis,
    check_redis_async,
    connect,
    connect_async,
)
from system.core.ops import Call, CancelOutcome, Retention, Submitted
from system.core.scripts import register_all
from system.core.submission import TaskRequest
from system.core.task import TaskRecord

T = TypeVar("T")
C = TypeVar("C", bound=type)


def _documented(cls: C) -> C:
    """Give each operation of the client its plan's docstring (written once, there)."""
    for name, plan in vars(Plans).items():
        if not name.startswith("_") and callable(plan):
            vars(cls)[name].__doc__ = plan.__doc__
    return cls


class _Base:
    """What both clients hold: the connection, its scripts, and the plans (with settings)."""

    def __init__(self, redis: Any, owns: bool, settings: QueueSettings | None, check: bool) -> None:
        self.redis = redis
        self._owns = owns  # opened from a URL: closed by close()
        self._check = check  # the server's configuration is yet to be checked
        self._scripts = register_all(redis)
        self._plans = Plans(settings)
        # A cluster pipeline does not take script calls: they are sent one by one there.
        self._cluster = isinstance(redis, CLUSTER_TYPES)

    @property
    def settings(self) -> QueueSettings:
        return self._plans.settings

    @property
    def result_ttl_ms(self) -> int:
        return self._plans.result_ttl_ms

    @property
    def retention(self) -> Retention:
        return self._plans.retention

    @property
    def idem_ttl_ms(self) -> int:
        return self._plans.idem_ttl_ms


@_documented
class Client(_Base):
    """Blocking client. ``redis``: a URL (``redis_options`` go to the connection) or an
    existing redis-py client (decoded strings). The server is checked at once (see
    ``connect``) unless ``check`` is False."""

    def __init__(
        self,
        redis: str | SyncRedis,
        settings: QueueSettings | None = None,
        *,
        check: bool = True,
        **redis_options: Any,
    ) -> None:
        handle = connect(redis, **redis_options) if isinstance(redis, str) else redis
        super().__init__(handle, isinstance(redis, str), settings, check)
        # Script calls keep one connection of the pool (see system.client.lane); close()
        # gives it back. Not on a cluster, nor on a client that has a single connection.
        plain = not self._cluster and getattr(handle, "connection", None) is None
        self._lane = ScriptLane(handle) if plain else None
        self.connect()

    def connect(self) -> Client:
        """Check the server's configuration (once) and return the client; closes it and
        raises if Redis could evict task keys."""
        if self._check:
            try:
                check_redis(self.redis)
            except BaseException:
                self.close()
                raise
            self._check = False
        return self

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection if the client opened it (from a URL); give back the one
        its script calls kept, in any case."""
        if self._lane is not None:
            self._lane.close()
        if self._owns:
            self.redis.close()

    def run(self, call: Call[T]) -> T:
        """Run one script call of ``system.core.ops``; its parsed reply."""
        if self._lane is None:
            return call.parse(self._scripts[call.script](keys=call.keys, args=call.args))
        return call.parse(self._lane.run(self._scripts[call.script], call))

    def _drive(self, plan: Plan[T]) -> T:
        reply: Any = None
        try:
            while True:
                try:
                    step = plan.send(reply)
                except StopIteration as end:
                    result: T = end.value
                    return result
                reply = self._send(step)
        finally:
            plan.close()

    def _send(self, step: Step) -> Any:
        if isinstance(step, Scripts):
            return self._run_all(step.calls)
        if isinstance(step, Streamed):
            if self._lane is None:
                return [self.run(c) for c in step.calls]
            return self._lane.stream(self._scripts, step.calls)
        return self.run(step) if isinstance(step, Call) else step.issue(self.redis)

    def _run_all(self, calls: Sequence[Call[Any]]) -> list[Any]:
        if len(calls) < 2 or self._cluster:
            return [self.run(c) for c in calls]
        pipe = self.redis.pipeline(transaction=False)
        for c in calls:
            self._scripts[c.script](keys=c.keys, args=c.args, client=pipe)
        return [c.parse(r) for c, r in zip(calls, pipe.execute(), strict=True)]

    def submit(self, task_type: str, payload: Any = None, **options: Any) -> Submitted:
        return self._drive(self._plans.submit(task_type, payload, **options))

    def submit_many(self, requests: Sequence[TaskRequest]) -> list[Submitted]:
        return self._drive(self._plans.submit_many(requests))

    def get(self, task_id: str) -> TaskRecord:
        return self._drive(self._plans.get(task_id))

    def wait(self, task_id: str, timeout_seconds: float) -> TaskRecord:
        return self._drive(self._plans.wait(task_id, timeout_seconds))

    def cancel(self, task_id: str, reason: str = CANCEL_REASON) -> CancelOutcome:
        return self._drive(self._plans.cancel(task_id, reason))

    def pause(self, queue: str) -> None:
        return self._drive(self._plans.pause(queue))

    def resume(self, queue: str) -> None:
        return self._drive(self._plans.resume(queue))

    def stats(self, queue: str, *, with_age: bool = False) -> QueueStats:
        return self._drive(self._plans.stats(queue, with_age=with_age))

    def stats_many(self, queues: Sequence[str], *, with_age: bool = False) -> list[QueueStats]:
        return self._drive(self._plans.stats_many(queues, with_age=with_age))

    def breakers_many(self, queues: Sequence[str]) -> list[list[BreakerStatus]]:
        return self._drive(self._plans.breakers_many(queues))

    def known_queues(self, queues: Sequence[str]) -> tuple[list[bool], int]:
        return self._drive(self._plans.known_queues(queues))

    def queues(self) -> list[str]:
        return self._drive(self._plans.queues())

    def list_tasks(
        self, queue: str, state: str, offset: int = 0, limit: int = 100
    ) -> list[TaskRecord]:
        return self._drive(self._plans.list_tasks(queue, state, offset, limit))

    def workers(self) -> list[WorkerInfo]:
        return self._drive(self._plans.workers())

    def breakers(self, queue: str) -> list[BreakerStatus]:
        return self._drive(self._plans.breakers(queue))

    def dead_letters(self, queue: str, limit: int = 100) -> list[TaskRecord]:
        return self._drive(self._plans.dead_letters(queue, limit))

    def requeue_dead(self, queue: str, ids: Sequence[str] = (), limit: int = 1000) -> list[str]:
        return self._drive(self._plans.requeue_dead(queue, ids, limit))


@_documented
class AsyncClient(_Base):
    """asyncio client; the same methods as ``Client``, awaited. ``redis``: a URL
    (``redis_options`` go to the connection) or an existing redis-py asyncio client.
    Call ``await connect()`` (or use ``async with``) before the first operation: it
    checks the server, unless ``check`` is False."""

    def __init__(
        self,
        redis: str | AsyncRedis,
        settings: QueueSettings | None = None,
        *,
        check: bool = True,
        **redis_options: Any,
    ) -> None:
        handle = connect_async(redis, **redis_options) if isinstance(redis, str) else redis
        super().__init__(handle, isinstance(redis, str), settings, check)
        # Script calls share one pipelined connection (see system.client.async_lane);
        # close() gives it back. Not on a cluster, nor on a single-connection client.
        self._lane = AsyncScriptLane(handle) if lane_usable(handle) else None
        # Streamed calls (a bulk's chunks) take one connection of the pool for the stream,
        # as the blocking client's lane does; under the same conditions.
        self._streams = not self._cluster and getattr(handle, "connection", None) is None

    async def connect(self) -> AsyncClient:
        """Check the server's configuration (once) and return the client; closes it and
        raises if Redis could evict task keys."""
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
        """Give the lane's connection back, and close the connection if the client
        opened it (from a URL)."""
        if self._lane is not None:
            await self._lane.close()
        if self._owns:
            await self.redis.aclose()

    async def run(self, call: Call[T]) -> T:
        """Run one script call of ``system.core.ops``; its parsed reply."""
        script = self._scripts[call.script]
        if self._lane is None:
            return call.parse(await script(keys=call.keys, args=call.args))
        return call.parse(await self._lane.run(script, call))

    async def _drive(self, plan: Plan[T]) -> T:
        reply: Any = None
        try:
            while True:
                try:
                    step = plan.send(reply)
                except StopIteration as end:
                    result: T = end.value
                    return result
                reply = await self._send(step)
        finally:
            plan.close()

    async def _send(self, step: Step) -> Any:
        if isinstance(step, Scripts):
            return await self._run_all(step.calls)
        if isinstance(step, Streamed):
            if not self._streams:
                return [await self.run(c) for c in step.calls]
            return await stream_async(self.redis, self._scripts, step.calls)
        return await (self.run(step) if isinstance(step, Call) else step.issue(self.redis))

    async def _run_all(self, calls: Sequence[Call[Any]]) -> list[Any]:
        if len(calls) < 2 or self._cluster:
            return [await self.run(c) for c in calls]
        pipe = self.redis.pipeline(transaction=False)
        for c in calls:
            await self._scripts[c.script](keys=c.keys, args=c.args, client=pipe)
        return [c.parse(r) for c, r in zip(calls, await pipe.execute(), strict=True)]

    async def submit(self, task_type: str, payload: Any = None, **options: Any) -> Submitted:
        return await self._drive(self._plans.submit(task_type, payload, **options))

    async def submit_many(self, requests: Sequence[TaskRequest]) -> list[Submitted]:
        return await self._drive(self._plans.submit_many(requests))

    async def get(self, task_id: str) -> TaskRecord:
        return await self._drive(self._plans.get(task_id))

    async def wait(self, task_id: str, timeout_seconds: float) -> TaskRecord:
        return await self._drive(self._plans.wait(task_id, timeout_seconds))

    async def cancel(self, task_id: str, reason: str = CANCEL_REASON) -> CancelOutcome:
        return await self._drive(self._plans.cancel(task_id, reason))

    async def pause(self, queue: str) -> None:
        return await self._drive(self._plans.pause(queue))

    async def resume(self, queue: str) -> None:
        return await self._drive(self._plans.resume(queue))

    async def stats(self, queue: str, *, with_age: bool = False) -> QueueStats:
        return await self._drive(self._plans.stats(queue, with_age=with_age))

    async def stats_many(
        self, queues: Sequence[str], *, with_age: bool = False
    ) -> list[QueueStats]:
        return await self._drive(self._plans.stats_many(queues, with_age=with_age))

    async def breakers_many(self, queues: Sequence[str]) -> list[list[BreakerStatus]]:
        return await self._drive(self._plans.breakers_many(queues))

    async def known_queues(self, queues: Sequence[str]) -> tuple[list[bool], int]:
        return await self._drive(self._plans.known_queues(queues))

    async def queues(self) -> list[str]:
        return await self._drive(self._plans.queues())

    async def list_tasks(
        self, queue: str, state: str, offset: int = 0, limit: int = 100
    ) -> list[TaskRecord]:
        return await self._drive(self._plans.list_tasks(queue, state, offset, limit))

    async def workers(self) -> list[WorkerInfo]:
        return await self._drive(self._plans.workers())

    async def breakers(self, queue: str) -> list[BreakerStatus]:
        return await self._drive(self._plans.breakers(queue))

    async def dead_letters(self, queue: str, limit: int = 100) -> list[TaskRecord]:
        return await self._drive(self._plans.dead_letters(queue, limit))

    async def requeue_dead(
        self, queue: str, ids: Sequence[str] = (), limit: int = 1000
    ) -> list[str]:
        return await self._drive(self._plans.requeue_dead(queue, ids, limit))

"""Queues: depth and totals, pause / resume, the dead-letter queue."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from system.api.deps import ClientDep, GrantDep, KnownQueuesDep
from system.api.models import BreakerView, QueueView, Requeued, RequeueRequest, TaskView, time_of
from system.client import QueueStats
from system.core.keys import QUEUE_NAME_PATTERN

QueuePath = Annotated[str, Path(pattern=QUEUE_NAME_PATTERN.pattern)]


def _queue_for(scope: str) -> Callable[..., Awaitable[str]]:
    async def existing(
        queue: QueuePath, client: ClientDep, known: KnownQueuesDep, grant: GrantDep
    ) -> str:
        """The queue of the path, if the key may use it for ``scope`` (403) and it exists
        (404; nothing is created for it)."""
        grant.require(scope, [queue])
        await known.require(client, queue)
        return queue

    return existing


router = APIRouter(prefix="/queues", tags=["queues"])
QueueName = Annotated[str, Depends(_queue_for("read"))]
OperatedQueue = Annotated[str, Depends(_queue_for("operate"))]


def _view(s: QueueStats) -> QueueView:
    depth = {"queued": s.queued, "scheduled": s.scheduled, "running": s.running, "failed": s.dead}
    return QueueView(
        name=s.name,
        paused=s.paused,
        depth=depth,
        totals=s.counters,
        oldest_queued_age_seconds=s.oldest_queued_age_seconds,
        throughput_per_second=round(s.finished_per_second, 3),
    )


@router.get("", operation_id="list_queues")
async def list_queues(client: ClientDep, grant: GrantDep) -> list[QueueView]:
    """Every queue that has received a task (that the key may see), with its depth by
    state (a few round trips to Redis whatever their number)."""
    grant.require("read")
    names = [q for q in await client.queues() if grant.sees(q)]
    return [_view(s) for s in await client.stats_many(names, with_age=True)]


@router.get("/{queue}", operation_id="get_queue")
async def get_queue(queue: QueueName, client: ClientDep) -> QueueView:
    return _view(await client.stats(queue, with_age=True))


@router.post("/{queue}/pause", operation_id="pause_queue")
async def pause_queue(queue: OperatedQueue, client: ClientDep) -> QueueView:
    """Workers stop claiming from this queue (running tasks finish)."""
    await client.pause(queue)
    return _view(await client.stats(queue, with_age=True))


@router.post("/{queue}/resume", operation_id="resume_queue")
async def resume_queue(queue: OperatedQueue, client: ClientDep) -> QueueView:
    await client.resume(queue)
    return _view(await client.stats(queue, with_age=True))


@router.get("/{queue}/breakers", operation_id="list_breakers")
async def list_breakers(queue: QueueName, client: ClientDep) -> list[BreakerView]:
    """Circuit breakers of the queue's task types that have one (``@task(breaker=True)``),
    once they counted an outcome."""
    return [
        BreakerView(
            task_type=b.task_type,
            state=b.state,
            opened_at=time_of(b.opened_ms),
            opens=b.opens,
            window_calls=b.window_calls,
            window_failures=b.window_failures,
        )
        for b in await client.breakers(queue)
    ]


@router.get("/{queue}/dead-letter", operation_id="list_dead_letters")
async def list_dead_letters(
    queue: QueueName, client: ClientDep, limit: Annotated[int, Query(gt=0, le=1000)] = 100
) -> list[TaskView]:
    """Dead-lettered tasks, oldest first, with their error and traceback."""
    return [TaskView.of(r) for r in await client.dead_letters(queue, limit)]


@router.post("/{queue}/dead-letter/requeue", operation_id="requeue_dead_letters")
async def requeue_dead_letters(
    queue: OperatedQueue, client: ClientDep, body: RequeueRequest | None = None
) -> Requeued:
    """Move dead-lettered tasks back to the queue with a fresh retry budget: the given
    ids, or (no body / no ids) the oldest up to ``limit``."""
    body = body or RequeueRequest()
    return Requeued(requeued=await client.requeue_dead(queue, body.ids, body.limit))

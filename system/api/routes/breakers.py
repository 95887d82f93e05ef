"""Circuit breakers of every queue in one answer (the console's overview polls it, instead
of one ``/queues/{q}/breakers`` request per queue)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import Field

from system.api.deps import ClientDep
from system.api.models import BreakerView, time_of
from system.client import AsyncClient, BreakerStatus

router = APIRouter(tags=["queues"])


class QueueBreakerView(BreakerView):
    queue: str = Field(description="The queue whose tasks of this type it guards.")


def _view(queue: str, b: BreakerStatus) -> QueueBreakerView:
    return QueueBreakerView(
        queue=queue,
        task_type=b.task_type,
        state=b.state,
        opened_at=time_of(b.opened_ms),
        opens=b.opens,
        window_calls=b.window_calls,
        window_failures=b.window_failures,
    )


async def _of(client: AsyncClient, queue: str) -> list[QueueBreakerView]:
    return [_view(queue, b) for b in await client.breakers(queue)]


@router.get("/breakers", operation_id="list_all_breakers")
async def list_all_breakers(client: ClientDep) -> list[QueueBreakerView]:
    """Circuit breakers of every queue, by queue then task type (a breaker appears once it
    counted an outcome)."""
    per_queue = await asyncio.gather(*(_of(client, q) for q in await client.queues()))
    return [view for views in per_queue for view in views]

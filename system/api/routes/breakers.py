"""Circuit breakers of every queue in one answer (the console's overview polls it, instead
of one ``/queues/{q}/breakers`` request per queue)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field

from system.api.deps import ClientDep, GrantDep
from system.api.models import BreakerView, time_of
from system.client import BreakerStatus

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


@router.get("/breakers", operation_id="list_all_breakers")
async def list_all_breakers(client: ClientDep, grant: GrantDep) -> list[QueueBreakerView]:
    """Circuit breakers of every queue (that the key may see), by queue then task type (a
    breaker appears once it counted an outcome); two round trips per 250 queues."""
    grant.require("read")
    names = [q for q in await client.queues() if grant.sees(q)]
    per_queue = await client.breakers_many(names)
    return [_view(q, b) for q, bs in zip(names, per_queue, strict=True) for b in bs]

"""Live workers and the task types this API accepts."""

from __future__ import annotations

from fastapi import APIRouter

from system.api.deps import ClientDep, GrantDep, RegistryDep
from system.api.models import TaskTypeView, WorkerView, time_of

router = APIRouter(tags=["workers"])


@router.get("/workers", operation_id="list_workers")
async def list_workers(client: ClientDep, grant: GrantDep) -> list[WorkerView]:
    """Workers that heartbeated recently."""
    grant.require("read")
    return [
        WorkerView(
            id=w.id,
            host=w.host,
            pid=w.pid,
            queues=w.queues,
            concurrency=w.concurrency,
            in_flight=w.in_flight,
            processed=w.processed,
            failed=w.failed,
            started_at=time_of(w.started_ms),
            last_heartbeat=time_of(w.heartbeat_ms),
        )
        for w in await client.workers()
    ]


@router.get("/task-types", operation_id="list_task_types", tags=["tasks"])
async def list_task_types(registry: RegistryDep) -> list[TaskTypeView]:
    """Registered handlers with the JSON schema of their payload; a submit is checked
    against it. (Any key may read them: they are what a submit needs.)"""
    return [
        TaskTypeView(
            name=n,
            mode=registry[n].mode,
            description=registry[n].description,
            payload_schema=registry.payload_schema(n),
            circuit_breaker=registry[n].breaker,
        )
        for n in registry.names()
    ]

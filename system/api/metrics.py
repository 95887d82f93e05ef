"""The API's ``/metrics`` endpoint and the HTTP request metrics (definitions in
``system.metrics``).

Labels are bounded: the route *template* (``/tasks/{task_id}``), never the raw path.
Besides this process's metrics, ``/metrics`` reads the queues and the worker registry
from Redis at scrape time (``RedisCollector``): the API exports them, the workers do not.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from system.api.deps import ClientDep
from system.api.security import ApiKeys
from system.client import AsyncClient
from system.core.keys import queue_keys
from system.metrics import (
    HTTP_REQUESTS,
    HTTP_SECONDS,
    QueueSnapshot,
    RedisCollector,
    RedisMemory,
    RedisSnapshot,
)

log = logging.getLogger("taskq.api")
router = APIRouter(tags=["health"])


async def _queue(client: AsyncClient, name: str) -> QueueSnapshot:
    s = await client.stats(name, with_age=True)
    breakers = {b.task_type: (b.state, b.opens) for b in await client.breakers(name)}
    due = await client.redis.zcount(queue_keys(name).scheduled, "-inf", int(time.time() * 1000))
    age = s.oldest_queued_age_seconds
    return QueueSnapshot(
        name=name,
        depth={
            "queued": s.queued,
            "scheduled": s.scheduled,
            "running": s.running,
            "failed": s.dead,
        },
        oldest_queued_timestamp_seconds=None if age is None else time.time() - age,
        paused=s.paused,
        counters=s.counters,
        breakers=breakers,
        ready=s.queued + due,
        finished_records=s.finished,
    )


async def read_snapshot(client: AsyncClient) -> RedisSnapshot:
    """Queues and workers as Redis has them now; ``up=False`` when Redis cannot be read."""
    try:
        names = await client.queues()
        queues = await asyncio.gather(*(_queue(client, q) for q in names))
        workers = await client.workers()
        memory = RedisMemory.from_info(await client.redis.info("memory"))
    except Exception as exc:  # a scrape must still answer (with taskq_redis_up 0)
        log.warning("metrics: cannot read Redis: %s", exc)
        return RedisSnapshot([], 0, up=False)
    return RedisSnapshot(queues, len(workers), memory=memory)


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics(client: ClientDep) -> Response:
    """Prometheus metrics: this API process's, and the queues' as read from Redis now."""
    from_redis = CollectorRegistry(auto_describe=False)
    from_redis.register(RedisCollector(await read_snapshot(client)))
    body = generate_latest() + generate_latest(from_redis)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class Gate:
    """Pure ASGI middleware (no per-request task group, unlike ``@app.middleware``): checks
    the API key, then times the request and counts it by route template and status."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, open_paths: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.keys.enabled and scope["path"] not in self.open_paths:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            refused = self.keys.check(header)
            if refused is not None:
                await refused(scope, receive, send)
                return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_SECONDS.labels(route, method).observe(time.perf_counter() - start)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()

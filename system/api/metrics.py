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

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from system.api.deps import ClientDep
from system.api.grants import Grant
from system.api.security import ApiKeys, FailureThrottle
from system.client import AsyncClient, BreakerStatus, QueueStats
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


def _snapshot(s: QueueStats, breakers: list[BreakerStatus], due: int) -> QueueSnapshot:
    age = s.oldest_queued_age_seconds
    return QueueSnapshot(
        name=s.name,
        depth={
            "queued": s.queued,
            "scheduled": s.scheduled,
            "running": s.running,
            "failed": s.dead,
        },
        oldest_queued_timestamp_seconds=None if age is None else time.time() - age,
        paused=s.paused,
        counters=s.counters,
        breakers={b.task_type: (b.state, b.opens) for b in breakers},
        ready=s.queued + due,
        finished_records=s.finished,
    )


async def _due(client: AsyncClient, names: list[str]) -> list[int]:
    """Scheduled tasks already due, per queue, in one round trip."""
    now_ms = int(time.time() * 1000)
    pipe = client.redis.pipeline(transaction=False)
    for name in names:
        pipe.zcount(queue_keys(name).scheduled, "-inf", now_ms)
    return [int(n) for n in await pipe.execute()] if names else []


async def read_snapshot(client: AsyncClient) -> RedisSnapshot:
    """Queues and workers as Redis has them now; ``up=False`` when Redis cannot be read.
    A handful of round trips whatever the number of queues (each reads all of them)."""
    try:
        names = await client.queues()
        stats = await client.stats_many(names, with_age=True)
        breakers = await client.breakers_many(names)
        due = await _due(client, names)
        workers = await client.workers()
        memory = RedisMemory.from_info(await client.redis.info("memory"))
    except Exception as exc:  # a scrape must still answer (with taskq_redis_up 0)
        log.warning("metrics: cannot read Redis: %s", exc)
        return RedisSnapshot([], 0, up=False)
    queues = [_snapshot(*row) for row in zip(stats, breakers, due, strict=True)]
    return RedisSnapshot(queues, len(workers), memory=memory)


# A read of thousands of queues costs the API's event loop real time: however often
# /metrics is scraped, it spends at most about 1 / READ_SPACING of its time reading.
READ_SPACING = 5


class SnapshotCache:
    """What /metrics read from Redis, kept ``max_age_seconds`` (or READ_SPACING times as
    long as the read took, if longer): scrapes within it, and scrapes that arrive while a
    read is under way, share one read (one reader at a time)."""

    def __init__(self, max_age_seconds: float) -> None:
        self.max_age_seconds = max_age_seconds
        self._lock = asyncio.Lock()
        self._read_at = -float("inf")
        self._keep_seconds = max_age_seconds
        self._body = b""

    def _fresh(self) -> bool:
        return time.monotonic() - self._read_at < self._keep_seconds

    async def body(self, client: AsyncClient) -> bytes:
        """The Redis part of the exposition, read now or not long ago."""
        if self._fresh():
            return self._body
        async with self._lock:
            if not self._fresh():  # another scrape may have read it while this one waited
                start = time.monotonic()
                from_redis = CollectorRegistry(auto_describe=False)
                from_redis.register(RedisCollector(await read_snapshot(client)))
                # Thousands of queues take a while to write out: in a thread, so requests
                # keep being served meanwhile.
                self._body = await asyncio.to_thread(generate_latest, from_redis)
                self._read_at = time.monotonic()
                took = self._read_at - start
                if self.max_age_seconds > 0:  # 0: read on every scrape, as configured
                    self._keep_seconds = max(self.max_age_seconds, READ_SPACING * took)
        return self._body


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics(client: ClientDep, request: Request) -> Response:
    """Prometheus metrics: this API process's, and the queues' as read from Redis (at most
    ``metrics_cache_seconds`` ago)."""
    cache: SnapshotCache = request.app.state.metrics_cache
    body = generate_latest() + await cache.body(client)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class Gate:
    """Pure ASGI middleware (no per-request task group, unlike ``@app.middleware``), the
    outermost: times every request and counts it by route template and status, refusals
    included (401 and the rest; "unmatched" when it never reached a route), and checks
    the API key before anything reads the body."""

    def __init__(
        self,
        app: ASGIApp,
        keys: ApiKeys,
        open_paths: frozenset[str],
        throttle: FailureThrottle | None = None,
    ) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = open_paths
        self.throttle = throttle or FailureThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refused = self._refusal(scope)
            if refused is not None:
                await refused(scope, receive, recording_send)
            else:
                await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            HTTP_SECONDS.labels(route, method).observe(time.perf_counter() - start)
            HTTP_REQUESTS.labels(route, method, str(status)).inc()

    def _refusal(self, scope: Scope) -> Response | None:
        """None when the request may go on (its key's grant then in the request state),
        else the answer: 401, or 429 for an address that presented wrong keys too often."""
        if not self.keys.enabled or scope["path"] in self.open_paths:
            return None
        client = (scope.get("client") or ("unknown", 0))[0]
        slowed = self.throttle.refusal(client)
        if slowed is not None:
            return slowed
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        checked = self.keys.check(header)
        if isinstance(checked, Grant):
            scope.setdefault("state", {})["grant"] = checked
            return None
        if header:  # a key was presented and is wrong: a guess (a missing key is not)
            self.throttle.failed(client)
        return checked

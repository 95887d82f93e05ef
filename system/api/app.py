"""The FastAPI application: ``create_app(settings)``; ``taskq api`` serves it with uvicorn."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from system import __version__
from system.api import metrics, openapi, problems
from system.api.admission import Admission
from system.api.browsers import BrowserGuard
from system.api.conditional import ConditionalGet
from system.api.known_queues import KnownQueues
from system.api.limits import BodyLimit, LongPolls
from system.api.metrics import Gate, SnapshotCache
from system.api.routes import breakers, console, health, queues, tasks, workers
from system.api.security import ApiKeys
from system.client import AsyncClient
from system.config import Settings
from system.core.connection import connect_async
from system.registry import REGISTRY, Registry

# Reachable without an API key: liveness, readiness, scraping, the docs and the console's
# static files (its data calls need the key).
OPEN_PATHS = (
    frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"}) | console.OPEN_PATHS
)
# A request must not hang when Redis is gone or hangs: connecting and each reply give up
# after api.redis_reply_timeout_seconds (the problem handler turns it into 503 +
# Retry-After). Long polls block
# on purpose, so they use their own connections without a reply timeout. Both pools are
# bounded (settings.api): a request waits for a free connection rather than failing.


# FastAPI's built-in OpenTelemetry hooks (newer versions) ask the global providers on
# every request whether to record (profiled: 6 % of a submit); taskq exports Prometheus
# metrics of its own and sets no OpenTelemetry provider.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(settings: Settings, registry: Registry = REGISTRY) -> FastAPI:
    if not settings.redis_url:
        raise ValueError("the API needs a Redis URL (TASKQ_REDIS_URL or --redis-url)")
    url = settings.redis_url

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One immediate retry when a connection fails (a pooled connection may be stale
        # after a Redis restart), then fail: newer redis-py defaults back off for seconds.
        # A reply that times out is not retried: the answer is 503 within the timeout.
        retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        api = settings.api
        redis = connect_async(
            url,
            max_connections=api.redis_connections,
            wait_seconds=api.redis_connection_wait_seconds,
            socket_connect_timeout=api.redis_reply_timeout_seconds,
            socket_timeout=api.redis_reply_timeout_seconds,
            retry=retry,
        )
        waiting = connect_async(
            url,
            max_connections=api.max_long_polls,
            wait_seconds=api.redis_connection_wait_seconds,
            socket_connect_timeout=api.redis_reply_timeout_seconds,
            retry=retry,
        )
        client = AsyncClient(redis, settings.queue)
        waiter = AsyncClient(waiting, settings.queue)
        try:
            await client.connect()
            app.state.client = client
            app.state.waiter = waiter
            app.state.registry = registry
            app.state.settings = settings
            app.state.admission = Admission(settings.api)
            app.state.long_polls = LongPolls(api.max_long_polls)
            app.state.known_queues = KnownQueues(api.max_queues)
            app.state.metrics_cache = SnapshotCache(api.metrics_cache_seconds)
            yield
        finally:
            await client.close()  # their script lanes' connections (see AsyncClient)
            await waiter.close()
            await redis.aclose()
            await waiting.aclose()

    app = FastAPI(
        title="taskq",
        version=__version__,
        description="A distributed task queue on Redis: submit, inspect and operate it.",
        lifespan=lifespan,
        responses=problems.RESPONSES,
        **_NO_TELEMETRY,
    )
    problems.install(app)
    # The last added is the outermost. The Gate checks the key before the body is read,
    # and counts every answer (304s, 401s, 413s ...); the BrowserGuard refuses what other
    # sites' pages send; BodyLimit refuses an oversized or trickling body before anything
    # else reads it.
    app.add_middleware(ConditionalGet)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.api.max_body_bytes,
        timeout_seconds=settings.api.body_timeout_seconds,
    )
    app.add_middleware(BrowserGuard, allowed_hosts=settings.api.allowed_hosts)
    app.add_middleware(Gate, keys=ApiKeys(settings.api_keys), open_paths=OPEN_PATHS)
    app.include_router(tasks.router)
    app.include_router(queues.router)
    app.include_router(workers.router)
    app.include_router(breakers.router)
    app.include_router(console.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    openapi.install(app, registry)
    return app

"""The benchmark's no-op handlers for taskq, loaded by its workers with ``--import``."""

from __future__ import annotations

from typing import Any

import redis.asyncio

from bench import counter
from system.registry import task

_client: redis.asyncio.Redis | None = None


def _redis() -> redis.asyncio.Redis:
    # One bounded pool per worker process: with many tasks in flight, an unbounded pool
    # would open one connection per task.
    global _client
    if _client is None:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            counter.bench_url(), max_connections=64
        )
        _client = redis.asyncio.Redis(connection_pool=pool)
    return _client


@task("bench_noop")
async def bench_noop(x: Any) -> Any:
    """The shared no-op: one EVALSHA to the completion counter, then return the argument."""
    await counter.mark_done_async(_redis())
    return x

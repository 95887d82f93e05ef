"""The task of ``bench.recovery``, loaded by its workers with ``--import recovery_handlers``.

A top-level module in a directory of its own (not ``bench.*``): the benchmark puts this
directory on the workers' ``PYTHONPATH`` after the checkout under test, and an older
checkout's own ``bench`` package, first on the path, does not have it. It imports only
what taskq had at 8cd74ee (``system.registry.task``, ``system.worker.context``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis.asyncio

from system.registry import task
from system.worker.context import current_task

URL_ENV = "BENCH_REDIS_URL"
_client: redis.asyncio.Redis | None = None


def _redis() -> redis.asyncio.Redis:
    global _client
    if _client is None:
        _client = redis.asyncio.Redis.from_url(os.environ[URL_ENV])
    return _client


def counter_keys(queue: str) -> tuple[str, str]:
    """Hashes task id -> executions started, and -> executions that reached their end."""
    return f"bench:recovery:{queue}:starts", f"bench:recovery:{queue}:ends"


@task("bench_recovery_sleep")
async def recovery_sleep(payload: Any) -> None:
    """Count the start, sleep ``payload["sleep"]`` seconds, count the end."""
    ctx = current_task()
    assert ctx is not None
    starts, ends = counter_keys(ctx.queue)
    await _redis().hincrby(starts, ctx.task_id, 1)
    await asyncio.sleep(payload["sleep"])
    await _redis().hincrby(ends, ctx.task_id, 1)

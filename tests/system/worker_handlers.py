"""Handlers used by the worker tests, loaded into real worker processes with
``--import worker_handlers``. They record what happened in the test's Redis
(``TEST_REDIS_URL``) under keys named after the queue, so tests stay isolated."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import redis.asyncio

from system.registry import task
from system.worker.context import current_task

_redis: redis.asyncio.Redis | None = None


def _r() -> redis.asyncio.Redis:
    global _redis
    if _redis is None:
        _redis = redis.asyncio.Redis.from_url(os.environ["TEST_REDIS_URL"], decode_responses=True)
    return _redis


def _ctx() -> Any:
    ctx = current_task()
    assert ctx is not None
    return ctx


@task("count_exec")
async def count_exec(payload: Any) -> int:
    """Counts executions per task id (a side effect outside the queue), then sleeps."""
    ctx = _ctx()
    await _r().hincrby(f"test:{ctx.queue}:execs", ctx.task_id, 1)
    await asyncio.sleep((payload or {}).get("sleep", 0))
    return int(ctx.attempt)


@task("fail_times")
async def fail_times(payload: Any) -> str:
    """Fails until attempt number payload['n'] + 1; records each attempt's time."""
    ctx = _ctx()
    await _r().rpush(f"test:{ctx.queue}:attempts:{ctx.task_id}", time.time())
    if ctx.attempt <= payload["n"]:
        raise RuntimeError(f"planned failure on attempt {ctx.attempt}")
    return f"ok on attempt {ctx.attempt}"


@task("record_start")
async def record_start(payload: Any) -> None:
    """Appends its payload to a list: the order in which tasks started."""
    await _r().rpush(f"test:{_ctx().queue}:order", str(payload))


@task("blocking_sleep", mode="thread")
def blocking_sleep(payload: Any) -> float:
    """A thread handler that stops early when cancellation is requested."""
    ctx = _ctx()
    deadline = time.monotonic() + payload["seconds"]
    while time.monotonic() < deadline:
        if ctx.cancel_event.is_set():
            raise RuntimeError("stopped on request")
        time.sleep(0.01)
    return float(payload["seconds"])


@task("guarded_call", breaker=True)
async def guarded_call(payload: Any) -> str:
    """Calls a dependency that is down while the key ``test:QUEUE:down`` exists; a circuit
    breaker guards it. Counts its calls."""
    ctx = _ctx()
    await _r().incr(f"test:{ctx.queue}:calls")
    if await _r().exists(f"test:{ctx.queue}:down"):
        raise ConnectionError("dependency unavailable")
    return "ok"


@task("block_loop")
async def block_loop(payload: Any) -> int:
    """An async handler that blocks the worker's event loop (``time.sleep``) for
    payload['seconds']: no lease renewal runs meanwhile. Counts executions."""
    ctx = _ctx()
    await _r().hincrby(f"test:{ctx.queue}:execs", ctx.task_id, 1)
    time.sleep(payload["seconds"])  # blocking on purpose
    return int(ctx.attempt)

"""Handlers for the executor tests, in their own registry (the global one stays clean).

Importable as ``tests.system.handlers_for_tests`` (the repository root is on sys.path,
and forkserver/spawn children inherit sys.path), so process-mode handlers resolve in
the child process by module and qualname.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from pydantic import BaseModel

from system.registry import Registry, task
from system.worker.context import cancel_requested, current_task

TEST_REGISTRY = Registry()


class Pair(BaseModel):
    a: int
    b: int


@task("pid", mode="process", registry=TEST_REGISTRY)
def pid(payload: Any) -> int:
    """The process id of the process that ran it."""
    return os.getpid()


@task("add_in_process", mode="process", registry=TEST_REGISTRY)
def add_in_process(p: Pair) -> dict[str, Any]:
    """Adds a and b in a child; shows the child got a validated model."""
    return {"sum": p.a + p.b, "model": type(p).__name__, "ctx": current_task() is not None}


@task("boom_in_process", mode="process", registry=TEST_REGISTRY)
def boom_in_process(payload: Any) -> None:
    """Raises in the child."""
    raise ValueError(f"boom from child with {payload!r}")


@task("not_json_in_process", mode="process", registry=TEST_REGISTRY)
def not_json_in_process(payload: Any) -> Any:
    """Returns a value JSON cannot carry."""
    return {1, 2}


@task("die_in_process", mode="process", registry=TEST_REGISTRY)
def die_in_process(payload: Any) -> None:
    """Kills its own process, as the OOM killer would."""
    os._exit(1)


@task("sleep_in_process", mode="process", registry=TEST_REGISTRY)
def sleep_in_process(seconds: float) -> float:
    """Blocks the child for a while."""
    time.sleep(seconds)
    return seconds


@task("add_in_thread", registry=TEST_REGISTRY)
def add_in_thread(p: Pair) -> int:
    """Thread handler with a model."""
    return p.a + p.b


@task("ctx_in_thread", registry=TEST_REGISTRY)
def ctx_in_thread(payload: Any) -> dict[str, Any]:
    """Reports the context a thread handler sees."""
    ctx = current_task()
    assert ctx is not None
    return {"task_id": ctx.task_id, "attempt": ctx.attempt, "pid": os.getpid()}


@task("ctx_in_async", registry=TEST_REGISTRY)
async def ctx_in_async(payload: Any) -> dict[str, Any]:
    """Reports the context an async handler sees."""
    ctx = current_task()
    assert ctx is not None
    return {"task_id": ctx.task_id, "queue": ctx.queue, "type": ctx.task_type}


@task("raise_in_thread", registry=TEST_REGISTRY)
def raise_in_thread(payload: Any) -> None:
    """Raises a KeyError in the pool thread."""
    raise KeyError("missing-in-thread")


@task("raise_in_async", registry=TEST_REGISTRY)
async def raise_in_async(payload: Any) -> None:
    """Raises its own TimeoutError, which must not be mistaken for the task deadline."""
    raise TimeoutError("upstream timed out")


@task("wait_for_cancel", registry=TEST_REGISTRY)
def wait_for_cancel(seconds: float) -> str:
    """Polls cancel_requested() for up to ``seconds``; says whether it was asked to stop."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancel_requested():
            return "stopped"
        time.sleep(0.005)
    return "ran to the end"


@task("sleep_in_async", registry=TEST_REGISTRY)
async def sleep_in_async(seconds: float) -> float:
    """Sleeps on the loop."""
    await asyncio.sleep(seconds)
    return seconds

"""The executor: each mode, validation, context, timeouts, errors and cancellation."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

from system.registry import InvalidPayload
from system.worker.context import TaskContext, current_task
from system.worker.executor import Executor, RemoteTaskError, TaskTimeout
from tests.system.handlers_for_tests import TEST_REGISTRY


def make_ctx(task_type: str = "t") -> TaskContext:
    return TaskContext(task_id="id-1", queue="q1", task_type=task_type, attempt=2)


def run(
    executor: Executor,
    task_type: str,
    payload: Any,
    *,
    ctx: TaskContext | None = None,
    timeout_seconds: float | None = None,
) -> Any:
    spec = TEST_REGISTRY[task_type]
    coro = executor.run(
        spec, payload, ctx=ctx or make_ctx(task_type), timeout_seconds=timeout_seconds
    )
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    ex = Executor(TEST_REGISTRY, max_threads=4, max_processes=1)
    yield ex
    ex.close()


def test_async_handler_sees_its_context(executor: Executor) -> None:
    result = run(executor, "ctx_in_async", None)
    assert result == {"task_id": "id-1", "queue": "q1", "type": "ctx_in_async"}
    assert current_task() is None  # reset afterwards


def test_thread_handler_runs_in_a_pool_thread_with_its_context(executor: Executor) -> None:
    result = run(executor, "ctx_in_thread", None)
    assert result == {"task_id": "id-1", "attempt": 2, "pid": os.getpid()}
    assert run(executor, "add_in_thread", {"a": 2, "b": 3}) == 5


def test_process_handler_runs_in_another_process(executor: Executor) -> None:
    child = run(executor, "pid", None)
    assert isinstance(child, int) and child != os.getpid()
    assert run(executor, "pid", None) == child  # the pool keeps its process
    result = run(executor, "add_in_process", {"a": 2, "b": "3"})
    assert result == {"sum": 5, "model": "Pair", "ctx": False}  # no context in a child


@pytest.mark.parametrize("task_type", ["add_in_thread", "add_in_process"])
def test_invalid_payload_is_refused_before_running(executor: Executor, task_type: str) -> None:
    with pytest.raises(InvalidPayload, match="b: Field required"):
        run(executor, task_type, {"a": 1})


def test_handler_exceptions_propagate_unchanged(executor: Executor) -> None:
    with pytest.raises(KeyError, match="missing-in-thread"):
        run(executor, "raise_in_thread", None)
    # With a deadline set, the handler's own TimeoutError stays what it is.
    with pytest.raises(TimeoutError, match="upstream timed out") as info:
        run(executor, "raise_in_async", None, timeout_seconds=5)
    assert not isinstance(info.value, TaskTimeout)


def test_process_exceptions_carry_the_child_traceback(executor: Executor) -> None:
    with pytest.raises(RemoteTaskError) as info:
        run(executor, "boom_in_process", [1])
    err = info.value
    assert (err.type_name, err.message) == ("ValueError", "boom from child with [1]")
    assert str(err) == "ValueError: boom from child with [1]"
    assert "Traceback" in err.traceback_text
    assert "handlers_for_tests.py" in err.traceback_text and "boom_in_process" in err.traceback_text
    with pytest.raises(RemoteTaskError, match="TypeError"):
        run(executor, "not_json_in_process", None)  # a set is not JSON


def test_async_timeout() -> None:
    ex = Executor(TEST_REGISTRY, max_threads=1, max_processes=1)
    started = time.monotonic()
    ctx = make_ctx()
    with pytest.raises(TaskTimeout, match=r"no result within 0\.1 s"):
        run(ex, "sleep_in_async", 5, ctx=ctx, timeout_seconds=0.1)
    assert time.monotonic() - started < 2
    assert ctx.cancel_event.is_set()
    ex.close()


def test_thread_timeout_asks_the_handler_to_stop() -> None:
    ex = Executor(TEST_REGISTRY, max_threads=1, max_processes=1)
    try:
        ctx = make_ctx()
        started = time.monotonic()
        with pytest.raises(TaskTimeout):
            run(ex, "wait_for_cancel", 10, ctx=ctx, timeout_seconds=0.1)
        assert time.monotonic() - started < 2
        assert ctx.cancel_event.is_set()
        # The only pool thread is free again soon: the handler saw the request and stopped.
        assert run(ex, "add_in_thread", {"a": 1, "b": 1}, timeout_seconds=2) == 2
        assert time.monotonic() - started < 3
    finally:
        ex.close()


def test_process_timeout_and_close_terminates_the_child() -> None:
    ex = Executor(TEST_REGISTRY, max_threads=1, max_processes=1)
    child = run(ex, "pid", None)
    with pytest.raises(TaskTimeout):
        run(ex, "sleep_in_process", 30, timeout_seconds=0.2)
    started = time.monotonic()
    ex.close()
    while _alive(child) and time.monotonic() - started < 5:
        time.sleep(0.02)
    assert not _alive(child)


def test_cancel_event_is_visible_to_a_thread_handler(executor: Executor) -> None:
    ctx = make_ctx()

    async def main() -> str:
        job = asyncio.create_task(
            executor.run(TEST_REGISTRY["wait_for_cancel"], 10, ctx=ctx, timeout_seconds=None)
        )
        await asyncio.sleep(0.05)
        ctx.cancel_event.set()  # what the worker does on a cancel request
        return await asyncio.wait_for(job, 2)

    assert asyncio.run(main()) == "stopped"


def test_cancelling_the_job_sets_the_cancel_event(executor: Executor) -> None:
    ctx = make_ctx()
    seen = threading.Event()

    async def main() -> None:
        job = asyncio.create_task(
            executor.run(TEST_REGISTRY["wait_for_cancel"], 10, ctx=ctx, timeout_seconds=None)
        )
        await asyncio.sleep(0.05)
        job.cancel()  # what the worker does when the lease is lost
        with pytest.raises(asyncio.CancelledError):
            await job
        if ctx.cancel_event.is_set():
            seen.set()

    asyncio.run(main())
    assert seen.is_set()


def test_a_dead_child_fails_its_job_and_the_pool_recovers() -> None:
    ex = Executor(TEST_REGISTRY, max_threads=1, max_processes=1)
    try:
        with pytest.raises(BrokenProcessPool):
            run(ex, "die_in_process", None)
        assert run(ex, "pid", None) != os.getpid()
    finally:
        ex.close()


def test_pool_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Executor(TEST_REGISTRY, max_threads=0, max_processes=1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A terminated but not yet reaped child is a zombie: count it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped since the kill(0): gone
        return False

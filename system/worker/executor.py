"""Runs one handler call in the way its mode asks, with an optional time limit.

- ``async``: awaited on the worker's loop; the cheap path (no thread, no process, and no
  validation when the handler has no payload model).
- ``thread``: a shared ThreadPoolExecutor, for blocking I/O or libraries without asyncio.
- ``process``: a ProcessPoolExecutor (forkserver, else spawn: forking a process that runs
  an event loop and threads is unsafe). Only JSON text crosses the boundary: the child
  imports the handler by module and qualname, validates, runs, and answers with
  ``{"result": ...}`` or ``{"error": {...}}``, so neither payloads, results nor user
  exception classes are pickled.

A timed-out or cancelled thread/process job cannot be stopped from outside: it keeps
running until it returns, and its pool thread/process stays busy meanwhile (later jobs of
that mode queue behind it), although the worker counts the task's slot as free at once.
``cancel_event`` is set so cooperative thread handlers stop; ``close()`` terminates the
pool's child processes.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import multiprocessing
import signal
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from system.core.errors import RemoteTaskError as RemoteTaskError
from system.core.errors import TaskTimeout as TaskTimeout
from system.registry import (
    PAYLOAD_MODEL_ATTR,
    HandlerSpec,
    Registry,
    infer_payload_model,
    parse_payload,
)
from system.worker.context import TaskContext, current_task_var

T = TypeVar("T")


class Executor:
    def __init__(
        self,
        registry: Registry,
        *,
        max_threads: int,
        max_processes: int,
        on_child_exit: Callable[[int], None] | None = None,
    ) -> None:
        if max_threads < 1 or max_processes < 1:
            raise ValueError("max_threads and max_processes must be at least 1")
        self.registry = registry
        self._on_child_exit = on_child_exit  # told the pid of each pool child that ended
        self._max_threads = max_threads
        self._max_processes = max_processes
        self._threads: ThreadPoolExecutor | None = None
        self._processes: ProcessPoolExecutor | None = None

    async def run(
        self, spec: HandlerSpec, payload: Any, *, ctx: TaskContext, timeout_seconds: float | None
    ) -> Any:
        """Validate ``payload``, run the handler, return its result.

        Raises InvalidPayload, TaskTimeout, the handler's own exception (async and
        thread), or RemoteTaskError (process).
        """
        model = spec.payload_model
        # Process handlers are validated here too, so a bad payload is an InvalidPayload
        # (permanent) rather than a remote error; the child validates its own copy.
        arg = payload if model is None else parse_payload(spec.name, model, payload)
        token = current_task_var.set(ctx)
        try:
            call: Awaitable[Any]
            if spec.mode == "async":
                call = spec.func(arg)
            elif spec.mode == "thread":
                call = self._in_thread(spec.func, arg)
            else:
                call = self._in_process(spec.func, payload)
            if timeout_seconds is None:
                return await call
            return await _with_deadline(call, timeout_seconds, ctx)
        except asyncio.CancelledError:
            ctx.cancel_event.set()  # lost lease or shutdown: let a thread handler know
            raise
        finally:
            current_task_var.reset(token)

    async def _in_thread(self, func: Callable[[Any], T], arg: Any) -> T:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self._max_threads, thread_name_prefix="taskq")
        # run_in_executor does not carry context variables; copy them so the handler
        # sees current_task().
        run = contextvars.copy_context().run
        return await asyncio.get_running_loop().run_in_executor(self._threads, run, func, arg)

    async def _in_process(self, func: Callable[..., Any], payload: Any) -> Any:
        pool = self._process_pool()
        text = orjson.dumps(payload).decode()
        loop = asyncio.get_running_loop()
        try:
            reply = await loop.run_in_executor(
                pool, _run_in_child, func.__module__, func.__qualname__, text
            )
        except BrokenProcessPool:
            # A child died (killed, segfault, out of memory). Every job in that pool
            # fails; start a fresh pool for the next call instead of failing forever.
            if self._processes is pool:
                self._processes = None
                self._discard(pool)
            raise
        decoded = orjson.loads(reply)
        if "error" in decoded:
            err = decoded["error"]
            raise RemoteTaskError(err["type"], err["message"], err["traceback"])
        return decoded["result"]

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._processes is None:
            methods = multiprocessing.get_all_start_methods()
            method = "forkserver" if "forkserver" in methods else "spawn"
            self._processes = ProcessPoolExecutor(
                self._max_processes,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_child,
            )
        return self._processes

    def close(self) -> None:
        """Shut the pools down without waiting. Child processes are terminated: by now
        the worker has finished or released their tasks, and a running child would
        otherwise hold up interpreter exit. Threads cannot be killed."""
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None
        if self._processes is not None:
            pool, self._processes = self._processes, None
            self._discard(pool)

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        # No public accessor before Python 3.14 (terminate_workers).
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            if self._on_child_exit is not None and proc.pid is not None:
                self._on_child_exit(proc.pid)


async def _with_deadline(call: Awaitable[T], timeout_seconds: float, ctx: TaskContext) -> T:
    try:
        async with asyncio.timeout(timeout_seconds) as scope:
            return await call
    except TimeoutError:
        if not scope.expired():
            raise  # the handler's own TimeoutError, not our deadline
        ctx.cancel_event.set()
        raise TaskTimeout(timeout_seconds) from None


def _init_child() -> None:
    # Ctrl-C reaches the whole process group; the worker decides how to shut down, so a
    # child must not die mid-task with KeyboardInterrupt (that would break the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_in_child(module: str, qualname: str, payload_json: str) -> str:
    """Process-pool entry point: JSON text in, JSON text out (never raises)."""
    try:
        func: Any = importlib.import_module(module)
        for part in qualname.split("."):
            func = getattr(func, part)
        model: type[BaseModel] | None = getattr(func, PAYLOAD_MODEL_ATTR, None)
        if model is None and not hasattr(func, PAYLOAD_MODEL_ATTR):
            model = infer_payload_model(func)  # registered without the decorator
        arg = orjson.loads(payload_json)
        if model is not None:
            arg = parse_payload(qualname, model, arg)
        return orjson.dumps({"result": func(arg)}).decode()
    except BaseException as exc:  # everything goes back as text, nothing is pickled
        error = {"type": type(exc).__name__, "message": str(exc)}
        return orjson.dumps({"error": {**error, "traceback": traceback.format_exc()}}).decode()

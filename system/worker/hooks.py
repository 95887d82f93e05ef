"""Hooks: how cross-cutting concerns (metrics, circuit breakers, retries, time limits) plug
into the worker, as dramatiq's middleware does.

A hook subclasses ``WorkerHook`` and overrides the methods it needs; the others are
no-ops. The worker calls them at fixed points of a task's life::

    admit           claimed: may it run now? A time (epoch ms) hands it back unrun until
                    then, without counting the attempt; the first hook to answer wins
    before_execute  about to start its handler (a hook may set ``job.timeout_seconds``)
    after_execute   the handler returned, raised or was stopped (``Ending``); a failure
                    is recorded only after these ran
    on_failure      a failure is about to be recorded: set its retry delay, its message
    after_recorded  Redis recorded the outcome, or rejected it as stale (``Outcome``)

and once per worker ``on_worker_start`` (before the first claim) and ``on_worker_stop``.

``admit``, ``before_execute``, ``on_failure`` and ``on_worker_start`` run in the order the
hooks were given; ``after_*`` and ``on_worker_stop`` in reverse, so the first hook wraps
all the others. A hook that raises is logged and the
others still run; the task goes on as if the hook had done nothing. The one exception is a
Redis error in ``admit``: it reaches the claim loop, which waits for Redis, as it does for
any other call there.

A concern is a module with a hook; ``system.worker.concerns`` lists the built-in ones and
``Worker(hooks=...)`` adds more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import redis

from system.worker.job import Ending, Failure, Job, Outcome

if TYPE_CHECKING:
    from system.worker.worker import Worker

log = logging.getLogger("taskq.worker")


class WorkerHook:
    """Base of every hook; every method is a no-op."""

    def on_worker_start(self, worker: Worker) -> None:
        """The worker connected and is about to claim."""

    def on_worker_stop(self, worker: Worker) -> None:
        """The worker has stopped: nothing runs any more."""

    async def admit(self, job: Job) -> int | None:
        """None: the task may run now. An epoch ms: hand it back unrun until then."""
        return None

    def before_execute(self, job: Job) -> None:
        """The task's handler is about to start."""

    async def after_execute(self, job: Job, ending: Ending) -> None:
        """The task's handler ended (``job.ending`` is ``ending``)."""

    def on_failure(self, job: Job, failure: Failure) -> None:
        """The handler failed; change ``failure`` to change what is recorded."""

    def after_recorded(self, job: Job, outcome: Outcome) -> None:
        """Redis recorded the task's outcome (``Outcome.STALE``: it rejected it)."""


def _overrides(hook: WorkerHook, name: str) -> bool:
    return getattr(type(hook), name) is not getattr(WorkerHook, name)


def _name(method: Callable[..., object]) -> str:
    return f"{type(getattr(method, '__self__', None)).__name__}.{method.__name__}"


class Hooks:
    """Calls a list of hooks in order (``after_*`` in reverse), logging those that fail.
    Only the hooks that override a method are called for it, so a no-op costs nothing."""

    def __init__(self, hooks: Iterable[WorkerHook]) -> None:
        self.hooks = list(hooks)

        def having(name: str, *, reverse: bool = False) -> list[Any]:
            """The bound methods ``name`` of the hooks that override it."""
            chosen = [getattr(h, name) for h in self.hooks if _overrides(h, name)]
            return chosen[::-1] if reverse else chosen

        self._start: list[Callable[[Worker], None]] = having("on_worker_start")
        self._stop: list[Callable[[Worker], None]] = having("on_worker_stop", reverse=True)
        self._admit: list[Callable[[Job], Awaitable[int | None]]] = having("admit")
        self._before: list[Callable[[Job], None]] = having("before_execute")
        self._after: list[Callable[[Job, Ending], Awaitable[None]]] = having(
            "after_execute", reverse=True
        )
        self._failure: list[Callable[[Job, Failure], None]] = having("on_failure")
        self._recorded: list[Callable[[Job, Outcome], None]] = having(
            "after_recorded", reverse=True
        )

    @staticmethod
    def _failed(method: Callable[..., object], job: Job | None) -> None:
        task = f" (task {job.claimed.id})" if job is not None else ""
        log.exception("hook %s failed%s; going on", _name(method), task)

    def on_worker_start(self, worker: Worker) -> None:
        for method in self._start:
            try:
                method(worker)
            except Exception:
                self._failed(method, None)

    def on_worker_stop(self, worker: Worker) -> None:
        for method in self._stop:
            try:
                method(worker)
            except Exception:
                self._failed(method, None)

    async def admit(self, job: Job) -> int | None:
        for method in self._admit:
            try:
                until = await method(job)
            except redis.RedisError:
                raise
            except Exception:
                self._failed(method, job)
                continue
            if until is not None:
                return until
        return None

    def before_execute(self, job: Job) -> None:
        for method in self._before:
            try:
                method(job)
            except Exception:
                self._failed(method, job)

    async def after_execute(self, job: Job, ending: Ending) -> None:
        # Every hook runs even when the task is cancelled meanwhile (its lease lost): the
        # cancellation is passed on once they all have.
        cancelled: asyncio.CancelledError | None = None
        for method in self._after:
            try:
                await method(job, ending)
            except asyncio.CancelledError as exc:
                cancelled = exc
            except Exception:
                self._failed(method, job)
        if cancelled is not None:
            raise cancelled

    def on_failure(self, job: Job, failure: Failure) -> None:
        for method in self._failure:
            try:
                method(job, failure)
            except Exception:
                self._failed(method, job)

    def after_recorded(self, job: Job, outcome: Outcome) -> None:
        for method in self._recorded:
            try:
                method(job, outcome)
            except Exception:
                self._failed(method, job)

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

``before_*``, ``on_*`` and ``admit`` run in the order the hooks were given, ``after_*`` in
reverse, so the first hook wraps all the others. A hook that raises is logged and the
others still run; the task goes on as if the hook had done nothing. The one exception is a
Redis error in ``admit``: it reaches the claim loop, which waits for Redis, as it does for
any other call there.

A concern is a module with a hook; ``system.worker.concerns`` lists the built-in ones and
``Worker(hooks=...)`` adds more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
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


class Hooks:
    """Calls a list of hooks in order (``after_*`` in reverse), logging those that fail.
    Only the hooks that override a method are called for it, so a no-op costs nothing."""

    def __init__(self, hooks: Iterable[WorkerHook]) -> None:
        self.hooks = list(hooks)

        def having(name: str, *, reverse: bool = False) -> list[WorkerHook]:
            chosen = [h for h in self.hooks if _overrides(h, name)]
            return chosen[::-1] if reverse else chosen

        self._start = having("on_worker_start")
        self._stop = having("on_worker_stop", reverse=True)
        self._admit = having("admit")
        self._before = having("before_execute")
        self._after = having("after_execute", reverse=True)
        self._failure = having("on_failure")
        self._recorded = having("after_recorded", reverse=True)

    @staticmethod
    def _failed(hook: WorkerHook, method: str, job: Job | None) -> None:
        task = f" (task {job.claimed.id})" if job is not None else ""
        log.exception("hook %s.%s failed%s; going on", type(hook).__name__, method, task)

    def _each(self, hooks: list[WorkerHook], method: str, job: Job | None, *args: Any) -> None:
        for hook in hooks:
            try:
                call: Callable[..., None] = getattr(hook, method)
                call(*args)
            except Exception:
                self._failed(hook, method, job)

    def on_worker_start(self, worker: Worker) -> None:
        self._each(self._start, "on_worker_start", None, worker)

    def on_worker_stop(self, worker: Worker) -> None:
        self._each(self._stop, "on_worker_stop", None, worker)

    async def admit(self, job: Job) -> int | None:
        for hook in self._admit:
            try:
                until = await hook.admit(job)
            except redis.RedisError:
                raise
            except Exception:
                self._failed(hook, "admit", job)
                continue
            if until is not None:
                return until
        return None

    def before_execute(self, job: Job) -> None:
        self._each(self._before, "before_execute", job, job)

    async def after_execute(self, job: Job, ending: Ending) -> None:
        # Every hook runs even when the task is cancelled meanwhile (its lease lost): the
        # cancellation is passed on once they all have.
        cancelled: asyncio.CancelledError | None = None
        for hook in self._after:
            try:
                await hook.after_execute(job, ending)
            except asyncio.CancelledError as exc:
                cancelled = exc
            except Exception:
                self._failed(hook, "after_execute", job)
        if cancelled is not None:
            raise cancelled

    def on_failure(self, job: Job, failure: Failure) -> None:
        self._each(self._failure, "on_failure", job, job, failure)

    def after_recorded(self, job: Job, outcome: Outcome) -> None:
        self._each(self._recorded, "after_recorded", job, job, outcome)

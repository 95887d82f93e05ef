"""The worker's built-in cross-cutting concerns, each a hook from its own module (see
``hooks``). A new concern is a module with a ``WorkerHook`` and a line here, or a hook
given to ``Worker(hooks=...)``; the worker's loop does not change."""

from __future__ import annotations

from system.client import AsyncClient
from system.config import Settings
from system.worker.breakers import BreakerHook, Breakers
from system.worker.hooks import WorkerHook
from system.worker.instruments import MetricsHook
from system.worker.retry import RetryHook
from system.worker.time_limits import TimeLimitHook


def default_hooks(client: AsyncClient, settings: Settings) -> list[WorkerHook]:
    """The built-in hooks, outermost first: metrics see a task's whole run; time limits,
    retries and circuit breakers act inside it."""
    return [
        MetricsHook(settings.worker.concurrency),
        TimeLimitHook(),
        RetryHook(settings.queue),
        BreakerHook(Breakers(client, settings.breaker)),
    ]

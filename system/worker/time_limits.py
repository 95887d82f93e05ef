"""Time limits: a task submitted with a timeout has its handler stopped when it overruns.

The executor enforces the limit a hook set on the job (``Job.timeout_seconds``) and raises
``TaskTimeout``, recorded as the attempt's failure (retried like any other). A thread or
process handler cannot be stopped from outside: it is told (``cancel_requested()``) and
its slot is freed, see ``system.worker.executor``.
"""

from __future__ import annotations

from system.worker.hooks import WorkerHook
from system.worker.job import Job


class TimeLimitHook(WorkerHook):
    """The task's own limit, ``timeout_ms`` from its submission (0: none)."""

    def before_execute(self, job: Job) -> None:
        ms = job.claimed.timeout_ms
        job.timeout_seconds = ms / 1000 if ms > 0 else None

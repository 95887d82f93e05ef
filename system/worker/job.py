"""A task the worker holds a lease on, and what the worker's hooks see of its end."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from system.core.errors import is_permanent
from system.core.ops import ClaimedTask
from system.registry import HandlerSpec
from system.worker.context import TaskContext


@dataclass(frozen=True, slots=True)
class Ending:
    """How a handler run ended: it returned, it raised, or it was stopped from outside."""

    result_json: bytes | None = None  # it returned: the result as JSON
    error: Exception | None = None  # it raised, or overran its time limit (TaskTimeout)
    stopped: str = ""  # it was stopped: "cancel" (requested), "lost" (lease), "shutdown"

    @property
    def succeeded(self) -> bool:
        return self.result_json is not None


@dataclass(slots=True)
class Failure:
    """A failure about to be recorded with ``fail``; ``on_failure`` hooks decide how."""

    error: Exception
    message: str  # stored as the task's error
    traceback: str
    retry_delay_ms: int | None = None  # None: no retry, dead-letter now

    @property
    def permanent(self) -> bool:
        """Retrying cannot fix it (``system.core.errors.is_permanent``)."""
        return is_permanent(self.error)


class Outcome(StrEnum):
    """What Redis recorded for a task this worker ran."""

    SUCCEEDED = "succeeded"
    RETRIED = "retried"  # it failed and will run again (queued, or after its backoff)
    FAILED = "failed"  # it failed for good: dead-lettered
    CANCELLED = "cancelled"
    STALE = "stale"  # rejected: the lease was no longer this worker's (fencing)


@dataclass(eq=False)
class Job:
    """A task this worker holds a lease on."""

    queue: str
    claimed: ClaimedTask
    ctx: TaskContext
    spec: HandlerSpec | None  # its handler; None: no handler of its type in this worker
    mode: str = "async"
    task: asyncio.Task[None] | None = None
    stop_reason: str = ""  # why its asyncio task was cancelled: lost, cancel, shutdown
    started: float = 0.0  # perf_counter when its handler started
    timeout_seconds: float | None = None  # its time limit (set by a hook), None: none
    ending: Ending | None = None  # how its handler run ended, once it has

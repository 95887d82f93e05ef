"""A task the worker holds a lease on, as the worker's parts pass it around."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from system.core.ops import ClaimedTask
from system.worker.context import TaskContext


@dataclass(eq=False)
class Job:
    """A task this worker holds a lease on."""

    queue: str
    claimed: ClaimedTask
    ctx: TaskContext
    mode: str = "async"
    task: asyncio.Task[None] | None = None
    stop_reason: str = ""  # why its asyncio task was cancelled: lost, cancel, shutdown
    started: float = 0.0  # perf_counter when its handler started

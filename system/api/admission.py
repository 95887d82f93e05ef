"""Back pressure: admission control of submits, per queue, from the queue's depth (queued +
scheduled) and the age of its oldest queued task.

High and low watermarks give hysteresis. A queue at or over a high watermark (depth or
age) is *refusing*: every submit to it gets 429 with a Retry-After, until it is below both
low watermarks again, so admission does not flap around one threshold. Between the low and
the high watermarks a queue is *busy*: tasks with a priority under ``shed_priority_below``
are refused already, so low-priority work is shed first.

Each API process reads a queue's state from Redis at most every ``admission_refresh_seconds``
and counts what it admits in between, so most submits cost no extra round trip. Several API
processes each keep their own view; together they can overshoot a high watermark by what
they admit within one refresh interval.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from system.client import AsyncClient
from system.config import ApiSettings
from system.core.errors import QueueFull

MIN_RETRY_AFTER_SECONDS = 1
MAX_RETRY_AFTER_SECONDS = 60


@dataclass
class _View:
    depth: int  # as read, plus what this process admitted since
    oldest_age_seconds: float | None
    drain_per_second: float
    read_at: float  # monotonic
    refusing: bool = False


class Admission:
    def __init__(self, settings: ApiSettings) -> None:
        s = settings
        self.high_depth = s.max_queue_depth
        self.low_depth = (
            s.resume_queue_depth
            if s.resume_queue_depth is not None
            else (None if s.max_queue_depth is None else int(s.max_queue_depth * 0.8))
        )
        self.high_age = s.max_queue_age_seconds
        self.low_age = (
            s.resume_queue_age_seconds
            if s.resume_queue_age_seconds is not None
            else (None if s.max_queue_age_seconds is None else s.max_queue_age_seconds * 0.8)
        )
        self.shed_below = s.shed_priority_below
        self.refresh_seconds = s.admission_refresh_seconds
        self._views: dict[str, _View] = {}

    @property
    def enabled(self) -> bool:
        return self.high_depth is not None or self.high_age is not None

    async def admit(self, client: AsyncClient, queue: str, priorities: Iterable[int]) -> None:
        """Return when the tasks (their priorities) may be written to ``queue``; raise
        QueueFull otherwise."""
        if not self.enabled:
            return
        priorities = list(priorities)
        view = await self._view(client, queue)
        if self._over_high(view):
            view.refusing = True
        elif view.refusing and self._under_low(view):
            view.refusing = False
        if view.refusing:
            raise QueueFull(
                f"queue {queue!r} is over its back-pressure limit ({self._describe(view)}); "
                f"submits resume once it is back under {self._low_text()}",
                self._retry_after(view),
            )
        if self.shed_below is not None and not self._under_low(view):
            low = [p for p in priorities if p < self.shed_below]
            if low:
                raise QueueFull(
                    f"queue {queue!r} is busy ({self._describe(view)}): tasks with a priority "
                    f"under {self.shed_below} are refused until it is back under "
                    f"{self._low_text()} ({len(low)} in this request)",
                    self._retry_after(view),
                )
        view.depth += len(priorities)

    async def _view(self, client: AsyncClient, queue: str) -> _View:
        now = time.monotonic()
        view = self._views.get(queue)
        if view is None or now - view.read_at >= self.refresh_seconds:
            stats = await client.stats(queue, with_age=self.high_age is not None)
            fresh = _View(
                stats.queued + stats.scheduled,
                stats.oldest_queued_age_seconds,
                stats.finished_per_second,
                now,
                view.refusing if view else False,
            )
            self._views[queue] = view = fresh
        return view

    def _over_high(self, v: _View) -> bool:
        by_depth = self.high_depth is not None and v.depth >= self.high_depth
        age = v.oldest_age_seconds
        by_age = self.high_age is not None and age is not None and age >= self.high_age
        return by_depth or by_age

    def _under_low(self, v: _View) -> bool:
        by_depth = self.low_depth is None or v.depth < self.low_depth
        age = v.oldest_age_seconds
        by_age = self.low_age is None or age is None or age < self.low_age
        return by_depth and by_age

    def _describe(self, v: _View) -> str:
        parts = []
        if self.high_depth is not None:
            parts.append(f"{v.depth} waiting tasks, limit {self.high_depth}")
        if self.high_age is not None and v.oldest_age_seconds is not None:
            parts.append(f"oldest waited {v.oldest_age_seconds:.1f} s, limit {self.high_age:g} s")
        return "; ".join(parts)

    def _low_text(self) -> str:
        parts = []
        if self.low_depth is not None:
            parts.append(f"{self.low_depth} waiting tasks")
        if self.low_age is not None:
            parts.append(f"a {self.low_age:g} s oldest wait")
        return " and ".join(parts)

    def _retry_after(self, v: _View) -> int:
        """Seconds until the queue drains to its low watermark at its recent throughput."""
        excess = v.depth - (self.low_depth or 0)
        if v.drain_per_second <= 0 or excess <= 0:
            return MIN_RETRY_AFTER_SECONDS
        seconds = math.ceil(excess / v.drain_per_second)
        return max(MIN_RETRY_AFTER_SECONDS, min(MAX_RETRY_AFTER_SECONDS, seconds))

"""Dynamic worker allocation: how many workers a queue needs, from what waits in it.

``Autoscaler.decide`` is pure: given an ``Observation`` of the queue (tasks ready to run,
how long the oldest has waited, how many tasks ended per second) and the current number
of workers, it returns the number wanted. Whoever owns the workers applies it: ``taskq
up --autoscale MIN:MAX`` (``system.supervisor.Stack``) and the lab (``autoscale:`` in a
scenario).

The rule, in the spirit of Kubernetes' HPA / KEDA (desired = ceil(metric / target)):

- *capacity*: each worker's recent throughput; the workers needed to drain what is ready
  within the target wait are ``ceil(ready / (per_worker_rate * target_wait))``.
- *wait*: if the oldest task has waited longer than the target, at least one more worker
  (this also starts scaling when no throughput has been seen yet).
- nothing ready: as few workers as allowed.
- *scale down* only when the oldest wait is under half the target and capacity says so,
  one worker at a time.
- at most double per step; ``scale_up_cooldown`` between increases and
  ``scale_down_cooldown`` after any change before a decrease; always within min / max.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from system.client import Client
from system.config import AutoscaleSettings
from system.core.keys import queue_keys

ENDED_COUNTERS = ("succeeded", "failed", "cancelled", "retried")


def parse_range(text: str) -> tuple[int, int]:
    """``"MIN:MAX"`` (e.g. ``1:8``) into (MIN, MAX)."""
    low, sep, high = text.partition(":")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ValueError(f"autoscale range must be MIN:MAX, e.g. 1:8, not {text!r}")
    return int(low), int(high)


@dataclass(frozen=True, slots=True)
class Observation:
    ready: int  # queued + scheduled tasks already due
    oldest_wait_seconds: float  # 0 when nothing is queued
    ended_per_second: float  # tasks that ended (or were retried) per second, recently


class Autoscaler:
    def __init__(self, policy: AutoscaleSettings) -> None:
        self.policy = policy
        self._last_up = -math.inf
        self._last_change = -math.inf

    def decide(self, obs: Observation, workers: int, now: float) -> int:
        """The worker count wanted now (the caller applies it)."""
        p = self.policy
        want = workers
        if obs.ready == 0:
            want = 0  # nothing waits: as few as allowed (still one step at a time)
        elif workers > 0 and obs.ended_per_second > 0:
            per_worker = obs.ended_per_second / workers
            want = math.ceil(obs.ready / (per_worker * p.target_wait_seconds))
        if obs.oldest_wait_seconds > p.target_wait_seconds:
            want = max(want, workers + 1)
        if want > workers:
            want = min(want, max(1, 2 * workers))
            if now - self._last_up < p.scale_up_cooldown_seconds:
                want = workers
        elif want < workers:
            calm = obs.oldest_wait_seconds < p.target_wait_seconds / 2
            if not calm or now - self._last_change < p.scale_down_cooldown_seconds:
                want = workers
            else:
                want = workers - 1
        want = max(p.min_workers, min(p.max_workers, want))
        if want > workers:
            self._last_up = self._last_change = now
        elif want < workers:
            self._last_change = now
        return want


class QueueWatch:
    """Reads ``Observation``s of one queue from Redis; the rate of ended tasks comes from
    the queue's counters between two reads."""

    def __init__(self, client: Client, queue: str) -> None:
        self.client = client
        self.queue = queue
        self._last: tuple[float, int] | None = None

    def observe(self) -> Observation:
        k = queue_keys(self.queue)
        stats = self.client.stats(self.queue, with_age=True)
        due = self.client.redis.zcount(k.scheduled, "-inf", int(time.time() * 1000))
        ended = sum(stats.counters.get(c, 0) for c in ENDED_COUNTERS)
        now = time.monotonic()
        rate = 0.0
        if self._last is not None and now > self._last[0]:
            rate = max(0.0, (ended - self._last[1]) / (now - self._last[0]))
        self._last = (now, ended)
        return Observation(stats.queued + due, stats.oldest_queued_age_seconds or 0.0, rate)

"""Retry backoff: exponential, capped, with "equal jitter"; the hook that gives a failed
task its retry delay, and the backoff of the worker's own reconnects.

Half of the capped exponential delay is fixed and half is random, so delays still grow with
each attempt (a retry storm spreads out) while retries of many tasks that failed together
do not land at the same instant. Whether a retry is left is the task's: ``fail.lua``
dead-letters a task that used up its ``max_retries``, whatever the delay.
"""

from __future__ import annotations

import logging
import random

from system.config import QueueSettings
from system.worker.hooks import WorkerHook
from system.worker.job import Failure, Job


def retry_delay_ms(
    attempt: int, base_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> int:
    """Delay before retrying after failed attempt number ``attempt`` (1 = first run)."""
    if base_seconds <= 0:
        return 0
    cap = min(max_seconds, base_seconds * 2 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(0, cap / 2)
    return int((cap / 2 + jitter) * 1000)


class RetryHook(WorkerHook):
    """A failure is retried after ``retry_delay_ms`` of its attempt, unless retrying
    cannot fix it (``Failure.permanent``)."""

    def __init__(self, settings: QueueSettings) -> None:
        self.base_seconds = settings.retry_backoff_seconds
        self.max_seconds = settings.retry_backoff_max_seconds

    def on_failure(self, job: Job, failure: Failure) -> None:
        if not failure.permanent:
            attempt = job.claimed.attempt
            failure.retry_delay_ms = retry_delay_ms(attempt, self.base_seconds, self.max_seconds)


class Reconnect:
    """Backoff while Redis is unreachable: 0.1 s doubling to 5 s, equal jitter, so a fleet
    of workers that lost Redis together does not reconnect in lockstep."""

    BASE_SECONDS = 0.1
    MAX_SECONDS = 5.0

    def __init__(self) -> None:
        self.failures = 0

    def next_delay(self) -> float:
        self.failures += 1
        return retry_delay_ms(self.failures, self.BASE_SECONDS, self.MAX_SECONDS) / 1000

    def reset(self) -> None:
        self.failures = 0


class OutageLog:
    """One warning when a background loop first finds Redis away and one line when it
    answers again, instead of a warning every round (loops that run every 0.1 s would
    otherwise fill the log during an outage)."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.logger = logger
        self.what = what
        self.failures = 0

    def failed(self, exc: Exception) -> None:
        self.failures += 1
        if self.failures == 1:
            self.logger.warning("%s: Redis unavailable (%s); retrying quietly", self.what, exc)

    def ok(self) -> None:
        if self.failures:
            self.logger.info("%s: Redis answers again (%d failed rounds)", self.what, self.failures)
            self.failures = 0

"""Retry backoff: exponential, capped, with "equal jitter".

Half of the capped exponential delay is fixed and half is random, so delays still grow with
each attempt (a retry storm spreads out) while retries of many tasks that failed together
do not land at the same instant.
"""

from __future__ import annotations

import random


def retry_delay_ms(
    attempt: int, base_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> int:
    """Delay before retrying after failed attempt number ``attempt`` (1 = first run)."""
    if base_seconds <= 0:
        return 0
    cap = min(max_seconds, base_seconds * 2 ** max(0, attempt - 1))
    jitter = (rng or random).uniform(0, cap / 2)
    return int((cap / 2 + jitter) * 1000)


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

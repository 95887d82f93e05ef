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

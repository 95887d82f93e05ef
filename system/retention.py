"""What a queue's retention of ended tasks costs in Redis, and the start-up warning when the
configured rate x retention cannot fit (docs/guarantees.md, "What is bounded").

Retention itself is applied by the scripts (``trim_retained`` in ``core/lua/_lib.lua``):
per queue, succeeded and cancelled records are kept at most ``result_ttl_seconds`` and at
most ``max_finished_records`` of them, whichever comes first; dead-lettered ones have
their own ``dead_letter_ttl_seconds`` and ``dead_letter_max_records``.
"""

from __future__ import annotations

from system.config import QueueSettings
from system.metrics import RedisMemory

# Measured (bench/retention_soak.py's method): 20,000 `echo` tasks with a payload and a
# result of about 10 bytes each, run to the end, Redis 7.0.15, 2 cores, Debian 12,
# 2026-12-06: 584 bytes of used_memory per succeeded record, its entry in the finished
# index (145 bytes) included. A record grows by its payload's and result's JSON length.
BYTES_PER_FINISHED_RECORD = 584
# Room left for everything else (queued tasks, the dead-letter queue, Redis itself).
FIT_SHARE = 0.5


def kept_records(settings: QueueSettings, tasks_per_second: float | None) -> float | None:
    """Finished records one queue keeps at most (None: no bound, or none known without a
    rate): the fewest of max_finished_records and rate x result_ttl_seconds."""
    bounds: list[float] = []
    if settings.max_finished_records:
        bounds.append(settings.max_finished_records)
    if tasks_per_second is not None and settings.result_ttl_seconds:
        bounds.append(tasks_per_second * settings.result_ttl_seconds)
    return min(bounds) if bounds else None


def footprint_warning(settings: QueueSettings, queues: int, memory: RedisMemory) -> str | None:
    """A sentence to log at start-up when the records the queues may keep need more than
    FIT_SHARE of the memory Redis may use (maxmemory, else the machine's); else None."""
    rate = settings.expected_tasks_per_second
    limit = memory.max_bytes or memory.system_bytes
    if not limit:
        return None
    kept = kept_records(settings, rate)
    if kept is None:
        if rate is None:
            return None
        return (
            f"retention is unbounded (result_ttl_seconds 0 and max_finished_records 0): at "
            f"{rate:g} tasks/s finished records grow by "
            f"{_mb(rate * BYTES_PER_FINISHED_RECORD * 3600)} an hour until Redis is full"
        )
    needed = kept * queues * BYTES_PER_FINISHED_RECORD
    if needed <= FIT_SHARE * limit:
        return None
    return (
        f"retention may not fit: {queues} queue(s) x {kept:,.0f} finished records x "
        f"{BYTES_PER_FINISHED_RECORD} bytes = {_mb(needed)}, over {FIT_SHARE:.0%} of the "
        f"{_mb(limit)} Redis may use; lower TASKQ_QUEUE__RESULT_TTL_SECONDS or "
        "TASKQ_QUEUE__MAX_FINISHED_RECORDS (with noeviction a full Redis refuses every submit)"
    )


def _mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"

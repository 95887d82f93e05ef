"""What the clients answer besides ``system.core`` types: a queue's statistics, a live
worker, a circuit breaker; each read from the hash Redis keeps it in."""

from __future__ import annotations

from dataclasses import dataclass

from system.core.constants import RATE_BUCKET_MS, RATE_BUCKETS


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    queued: int
    scheduled: int
    running: int
    dead: int
    paused: bool
    counters: dict[str, int]  # succeeded, failed, retried, cancelled, lease_expired, ...
    # How long the longest-waiting queued task has waited; only with stats(with_age=True).
    oldest_queued_age_seconds: float | None = None
    # Tasks that ended (any terminal state) per second over about the last minute.
    finished_per_second: float = 0.0
    # Succeeded and cancelled records stored (within retention; dead-lettered: ``dead``).
    finished: int = 0


def finished_rate(buckets: dict[str, str], at_ms: int) -> float:
    """Tasks ended per second over the last RATE_BUCKETS buckets before ``at_ms``."""
    current = at_ms // RATE_BUCKET_MS
    ended = sum(int(n) for b, n in buckets.items() if current - RATE_BUCKETS < int(b) <= current)
    span_ms = (RATE_BUCKETS - 1) * RATE_BUCKET_MS + at_ms % RATE_BUCKET_MS
    return ended * 1000 / span_ms


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    in_flight: int
    processed: int
    failed: int
    started_ms: int
    heartbeat_ms: int

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> WorkerInfo:
        return cls(
            id=h["id"],
            host=h.get("host", ""),
            pid=int(h.get("pid", 0)),
            queues=[q for q in h.get("queues", "").split(",") if q],
            concurrency=int(h.get("concurrency", 0)),
            in_flight=int(h.get("in_flight", 0)),
            processed=int(h.get("processed", 0)),
            failed=int(h.get("failed", 0)),
            started_ms=int(h.get("started_ms", 0)),
            heartbeat_ms=int(h.get("heartbeat_ms", 0)),
        )


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A task type's circuit breaker as stored. An open breaker stays 'open' here until
    a worker asks for it after its open period (then it turns half-open)."""

    task_type: str
    state: str  # closed, open, half_open
    opened_ms: int | None  # when it last opened
    opens: int  # times it opened
    window_calls: int  # outcomes counted in the current window (closed)
    window_failures: int

    @classmethod
    def from_hash(cls, task_type: str, h: dict[str, str]) -> BreakerStatus:
        opened = h.get("opened_ms")
        return cls(
            task_type=task_type,
            state=h.get("state", "closed"),
            opened_ms=int(opened) if opened else None,
            opens=int(h.get("opens", 0)),
            window_calls=int(h.get("calls", 0)),
            window_failures=int(h.get("failures", 0)),
        )

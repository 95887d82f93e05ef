"""Every Prometheus metric of taskq, defined once (docs/monitoring.md lists them with meanings).

Two kinds:

- **In-process** metrics, updated where the event happens: the client counts submissions,
  the worker counts executions and times them (per task, in memory: no Redis round trip),
  the API counts HTTP requests.
- **Redis-derived** metrics (queue depth, oldest queued task, live workers, counters the
  scripts keep in each queue's meta hash), read from Redis at scrape time by the API only
  (``RedisCollector``), so they are exported once and not by every worker.

Labels are bounded: queue, task type, outcome, state, route, method, status. Never a task
id, worker id or pid. Gauges name their multiprocess mode explicitly: the default ("all")
would add a pid label when a worker runs in multiprocess mode (see ``system.worker.exposition``).
"""

from __future__ import annotations

import platform
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from system import __version__

# Handlers range from sub-millisecond no-ops to minutes of CPU work.
TASK_SECONDS_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
HTTP_SECONDS_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
)  # fmt: skip
# Execution outcomes, as recorded in Redis: "retried" and "failed" (dead-lettered) are
# failures other than time limits; "timed_out" attempts may still be retried.
OUTCOMES = ("succeeded", "retried", "failed", "timed_out", "cancelled")
DEPTH_STATES = ("queued", "scheduled", "running", "failed")

BUILD_INFO = Gauge(
    "taskq_build_info",
    "Always 1; the labels say which taskq and Python this process runs.",
    ["version", "python"],
    multiprocess_mode="max",
)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)

TASKS_SUBMITTED = Counter(
    "taskq_tasks_submitted_total",
    "Tasks created by submissions through this process (idempotent repeats not counted).",
    ["queue", "task_type"],
)
EXECUTIONS = Counter(
    "taskq_task_executions_total",
    "Task executions this worker finished and Redis accepted, by outcome.",
    ["queue", "task_type", "outcome"],
)
EXECUTION_SECONDS = Histogram(
    "taskq_task_execution_duration_seconds",
    "Time a handler ran, from start to result or error.",
    ["queue", "task_type"],
    buckets=TASK_SECONDS_BUCKETS,
)
QUEUE_WAIT_SECONDS = Histogram(
    "taskq_task_queue_wait_seconds",
    "Time from when a task became eligible to run (submitted, delay over, retry due) "
    "until a worker started it.",
    ["queue", "task_type"],
    buckets=TASK_SECONDS_BUCKETS,
)
IN_PROGRESS = Gauge(
    "taskq_tasks_in_progress",
    "Tasks whose handler is running in this worker now.",
    ["queue"],
    multiprocess_mode="livesum",
)
CAPACITY = Gauge(
    "taskq_worker_capacity_tasks",
    "Tasks this worker may run at once (its concurrency).",
    multiprocess_mode="livesum",
)
HTTP_REQUESTS = Counter(
    "taskq_http_requests_total",
    "HTTP requests answered by the API, by route template.",
    ["route", "method", "status"],
)
HTTP_SECONDS = Histogram(
    "taskq_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    buckets=HTTP_SECONDS_BUCKETS,
)


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """What the API reads from Redis for one queue at scrape time."""

    name: str
    depth: dict[str, int]  # by DEPTH_STATES
    oldest_queued_timestamp_seconds: float | None  # None: nothing queued
    paused: bool
    counters: dict[str, int]  # the queue's meta hash counters
    breakers: dict[str, tuple[str, int]] = field(default_factory=dict)  # type -> state, opens
    ready: int = 0  # queued + scheduled tasks already due: all that a worker could run now
    finished_records: int = 0  # succeeded / cancelled records stored (within retention)


@dataclass(frozen=True, slots=True)
class RedisSnapshot:
    queues: Sequence[QueueSnapshot]
    live_workers: int
    up: bool = True
    memory: RedisMemory | None = None


@dataclass(frozen=True, slots=True)
class RedisMemory:
    """Redis's ``INFO memory`` (summed over the nodes of a cluster)."""

    used_bytes: int
    max_bytes: int  # maxmemory; 0: no limit set
    system_bytes: int = 0  # the machine's memory (total_system_memory)

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> RedisMemory:
        nodes = (
            [info] if "used_memory" in info else [v for v in info.values() if isinstance(v, dict)]
        )
        return cls(
            sum(int(n.get("used_memory", 0)) for n in nodes),
            sum(int(n.get("maxmemory", 0)) for n in nodes),
            sum(int(n.get("total_system_memory", 0)) for n in nodes),
        )


# meta hash counter -> (metric name without _total, help)
REDIS_COUNTERS = {
    "lease_expired": (
        "taskq_lease_expirations",
        "Running tasks reclaimed from their worker: it was declared dead (its liveness beat "
        "stopped: killed, stopped or cut off) or, for a worker that does not beat, the lease "
        "expired.",
    ),
    "workers_lost": (
        "taskq_workers_declared_dead",
        "Workers holding tasks whose liveness beat stopped for dead_after_seconds; their "
        "tasks were redelivered.",
    ),
    "stale_rejected": (
        "taskq_stale_completions_rejected",
        "Completions refused because they carried a stale lease token (fencing).",
    ),
    "failed": (
        "taskq_dead_lettered",
        "Tasks moved to the dead-letter set (retries exhausted, permanent error, or lease "
        "expired with no retries left).",
    ),
    "deferred": (
        "taskq_tasks_deferred",
        "Claimed tasks handed back unrun because their task type's circuit breaker was open.",
    ),
}
BREAKER_STATES = ("closed", "open", "half_open")


class RedisCollector(Collector):
    """Turns one ``RedisSnapshot`` into metric families (registered per scrape)."""

    def __init__(self, snapshot: RedisSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        yield GaugeMetricFamily("taskq_redis_up", "1 if the API could read Redis.", s.up)
        if not s.up:
            return
        depth = GaugeMetricFamily(
            "taskq_queue_depth",
            "Tasks in a queue by state (failed: dead-lettered).",
            labels=["queue", "state"],
        )
        oldest = GaugeMetricFamily(
            "taskq_queue_oldest_queued_timestamp_seconds",
            "When the longest-waiting queued task became eligible (absent: none queued).",
            labels=["queue"],
        )
        ready = GaugeMetricFamily(
            "taskq_queue_ready_tasks",
            "Tasks a worker could start now: queued (every priority) and delayed ones due. "
            "What an autoscaler should count.",
            labels=["queue"],
        )
        paused = GaugeMetricFamily(
            "taskq_queue_paused", "1 if claiming from the queue is paused.", labels=["queue"]
        )
        finished = GaugeMetricFamily(
            "taskq_queue_finished_records",
            "Succeeded and cancelled task records stored, within the queue's retention "
            "(result_ttl_seconds, max_finished_records); dead-lettered ones: "
            "taskq_queue_depth{state=failed}.",
            labels=["queue"],
        )
        counters = {
            counter: CounterMetricFamily(name, text, labels=["queue"])
            for counter, (name, text) in REDIS_COUNTERS.items()
        }
        breaker = GaugeMetricFamily(
            "taskq_circuit_breaker_state",
            "1 for the state a task type's circuit breaker is in, 0 for the others.",
            labels=["queue", "task_type", "state"],
        )
        breaker_opens = CounterMetricFamily(
            "taskq_circuit_breaker_opens",
            "Times a task type's circuit breaker opened.",
            labels=["queue", "task_type"],
        )
        for q in s.queues:
            for task_type, (current, opens) in q.breakers.items():
                for state in BREAKER_STATES:
                    breaker.add_metric([q.name, task_type, state], int(state == current))
                breaker_opens.add_metric([q.name, task_type], opens)
            for state in DEPTH_STATES:
                depth.add_metric([q.name, state], q.depth.get(state, 0))
            if q.oldest_queued_timestamp_seconds is not None:
                oldest.add_metric([q.name], q.oldest_queued_timestamp_seconds)
            paused.add_metric([q.name], int(q.paused))
            ready.add_metric([q.name], q.ready)
            finished.add_metric([q.name], q.finished_records)
            for counter, family in counters.items():
                family.add_metric([q.name], q.counters.get(counter, 0))
        yield from (depth, oldest, ready, paused, finished, *counters.values())
        yield from (breaker, breaker_opens)
        if s.memory is not None:
            yield GaugeMetricFamily(
                "taskq_redis_memory_used_bytes",
                "Memory Redis uses (INFO memory used_memory).",
                value=s.memory.used_bytes,
            )
            yield GaugeMetricFamily(
                "taskq_redis_memory_max_bytes",
                "Redis's maxmemory (0: none set; then the machine's memory is the limit).",
                value=s.memory.max_bytes,
            )
        yield GaugeMetricFamily(
            "taskq_workers_live",
            "Workers whose registry entry is fresh (heartbeating).",
            value=s.live_workers,
        )

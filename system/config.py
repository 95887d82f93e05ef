"""One Settings object for every process. Environment prefix ``TASKQ_``, groups nested
with ``__`` (``TASKQ_WORKER__CONCURRENCY=64``); command-line flags override it.
"""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from system.core.constants import MAX_PRIORITY, MAX_WAIT_SECONDS


class QueueSettings(BaseModel):
    """Behaviour of the queue itself, shared by clients and workers."""

    lease_seconds: float = Field(
        10.0,
        gt=0,
        description="A claimed task's lease, renewed by the worker's event loop. A worker's "
        "death is noticed sooner, by its liveness beat (worker.dead_after_seconds); the "
        "lease decides alone only for a worker that does not beat.",
    )
    result_ttl_seconds: float = Field(
        86400.0,
        ge=0,
        description="How long a finished task "
        "and its result are kept (0 = forever; see also max_finished_records). Dead-lettered "
        "tasks have their own retention (dead_letter_*).",
    )
    max_finished_records: int = Field(
        100_000,
        ge=0,
        description="Per queue, the most succeeded and cancelled records kept: beyond it "
        "the oldest are deleted, whichever comes first of this and result_ttl_seconds "
        "(0 = no limit; BullMQ's removeOnComplete count).",
    )
    dead_letter_max_records: int = Field(
        100_000,
        ge=0,
        description="Per queue, the most dead-lettered records kept: beyond it the oldest "
        "are deleted (0 = no limit).",
    )
    dead_letter_ttl_seconds: float = Field(
        0.0,
        ge=0,
        description="Dead-lettered records older than this are deleted (0 = kept until "
        "requeued or pushed out by dead_letter_max_records).",
    )
    expected_tasks_per_second: float | None = Field(
        None,
        gt=0,
        description="Tasks a queue is expected to finish per second: only for the "
        "start-up warning when rate x retention would not fit in Redis's memory.",
    )
    idempotency_ttl_seconds: float = Field(
        86400.0, gt=0, description="How long an idempotency key maps to its first task."
    )
    max_payload_bytes: int = Field(1_048_576, gt=0, description="Largest payload (JSON bytes).")
    max_result_bytes: int = Field(
        1_048_576,
        gt=0,
        description="Largest result (JSON bytes); a bigger result fails the task without retry.",
    )
    default_max_retries: int = Field(3, ge=0, description="Retries after the first attempt.")
    retry_backoff_seconds: float = Field(
        1.0,
        ge=0,
        description="Base of the exponential retry backoff: base * 2^(attempt-1), equal jitter.",
    )
    retry_backoff_max_seconds: float = Field(300.0, ge=0, description="Cap of the backoff.")


class WorkerSettings(BaseModel):
    concurrency: int = Field(32, gt=0, description="Tasks in flight per worker process.")
    queues: list[str] = Field(
        default_factory=lambda: ["default"], description="Queues to serve, in order of preference."
    )
    imports: list[str] = Field(default_factory=list, description="Modules with @task handlers.")
    burst: bool = Field(False, description="Exit when the queues are empty.")
    shutdown_timeout_seconds: float = Field(
        30.0,
        ge=0,
        description="On SIGTERM, how long in-flight tasks may run before being released.",
    )
    claim_batch: int = Field(200, gt=0, description="Most tasks claimed per round trip.")
    processes: int = Field(
        os.cpu_count() or 1,
        gt=0,
        description="Process pool size for CPU-bound ('process' mode) handlers.",
    )
    threads: int = Field(32, gt=0, description="Thread pool size for 'thread' handlers.")
    poll_interval_seconds: float = Field(
        1.0,
        gt=0,
        description="Longest one blocking wait of an idle worker for a wake-up token lasts "
        "(it then blocks again; on a cluster, and in burst mode, it claims).",
    )
    scheduler_interval_seconds: float = Field(
        0.1,
        gt=0,
        description="On a Redis Cluster only: how often the leader looks for due delayed "
        "tasks (elsewhere it sleeps until the earliest is due, and a submit of an earlier "
        "one wakes it).",
    )
    reap_interval_seconds: float = Field(
        0.5,
        gt=0,
        description="How often the leader looks for silent workers and expired leases.",
    )
    liveness_beat_seconds: float = Field(
        0.5,
        gt=0,
        description="How often a worker holding tasks says it is alive (from a thread, so "
        "it beats while a handler blocks the event loop).",
    )
    dead_after_seconds: float = Field(
        2.0,
        gt=0,
        description="A worker whose last liveness beat is older is declared dead and its "
        "tasks are redelivered, however long their leases (within this plus "
        "reap_interval_seconds). A live worker keeps its tasks past their lease.",
    )
    leader_lease_seconds: float = Field(
        2.0,
        gt=0,
        description="One worker per queue (the leader) promotes delayed tasks and redelivers "
        "the tasks of dead workers; it renews this lease at half of it, and when it dies "
        "another takes over within 1.25 times this (the others ask once per lease).",
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of the worker's Prometheus /metrics (0: none)."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address /metrics listens on (0.0.0.0 in a container, to be scraped).",
    )

    @model_validator(mode="after")
    def _beats_fit_the_window(self) -> WorkerSettings:
        if self.dead_after_seconds <= 2 * self.liveness_beat_seconds:
            raise ValueError(
                f"dead_after_seconds ({self.dead_after_seconds}) must exceed twice "
                f"liveness_beat_seconds ({self.liveness_beat_seconds}): a live worker "
                "would be declared dead when one beat is late"
            )
        return self


class BreakerSettings(BaseModel):
    """Circuit breakers of task types registered with ``breaker=True``: one per (queue,
    task type), kept in Redis and shared by every worker. While one is open, tasks of its
    type are deferred (handed back unrun, no attempt counted), not failed or retried."""

    failure_ratio: float = Field(
        0.5, gt=0, le=1, description="Failed share of the outcomes in a window that opens it."
    )
    min_calls: int = Field(10, gt=0, description="Outcomes a window needs before it may open.")
    window_seconds: float = Field(10.0, gt=0, description="Length of the counting window.")
    open_seconds: float = Field(
        10.0, gt=0, description="How long it stays open before letting probes through."
    )
    probes: int = Field(
        3,
        gt=0,
        description="Tasks let through at once when half-open; that many successes "
        "close it, one failure reopens it.",
    )


class AutoscaleSettings(BaseModel):
    """``taskq up --autoscale MIN:MAX`` and the lab's ``autoscale:`` (``system.autoscaler``)."""

    min_workers: int = Field(1, ge=0, description="Fewest workers.")
    max_workers: int = Field(8, ge=1, description="Most workers.")
    target_wait_seconds: float = Field(
        1.0, gt=0, description="The queue wait to hold: more workers when tasks wait longer."
    )
    scale_up_cooldown_seconds: float = Field(5.0, ge=0, description="Between two increases.")
    scale_down_cooldown_seconds: float = Field(
        30.0, ge=0, description="After any change, before a decrease."
    )
    interval_seconds: float = Field(1.0, gt=0, description="How often it decides.")

    @model_validator(mode="after")
    def _bounds_in_order(self) -> AutoscaleSettings:
        if self.min_workers > self.max_workers:
            raise ValueError(
                f"autoscale bounds need MIN <= MAX, got {self.min_workers}:{self.max_workers}"
            )
        return self


class ApiSettings(BaseModel):
    max_batch: int = Field(1000, gt=0, description="Most tasks in one POST /tasks/batch.")
    max_wait_seconds: float = Field(
        MAX_WAIT_SECONDS,
        gt=0,
        description="Longest long poll of GET /tasks/{id}/result; a longer ?wait= is capped "
        f"(and no ?wait= may exceed {MAX_WAIT_SECONDS:g} s).",
    )
    max_body_bytes: int = Field(2_097_152, gt=0, description="Largest request body; 413 above.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names (comma-separated) the API answers to besides IP addresses "
        "and localhost, e.g. the name of its container or its DNS name ('*': any). Other "
        "names are refused (421): a web page that points its own name at this address "
        "(DNS rebinding) must not reach the API.",
    )
    # Deadlines on what a client may hold open (``system.api.server``, ``limits``).
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="A request's headers must arrive within this long of the connection "
        "opening or the previous response; else 408 and the connection is closed.",
    )
    body_timeout_seconds: float = Field(
        15.0, gt=0, description="A request's body must arrive within this long; else 408."
    )
    idle_timeout_seconds: float = Field(
        5.0,
        ge=1,
        description="A keep-alive connection idle this long between requests is closed "
        "(whole seconds).",
    )
    # Back pressure (``system.api.admission``): high watermarks start refusing submits,
    # low watermarks end it.
    max_queue_depth: int | None = Field(
        None,
        gt=0,
        description="Back pressure: at this many queued + scheduled tasks a queue refuses "
        "submits (429 + Retry-After) until it is under resume_queue_depth (None: no limit).",
    )
    resume_queue_depth: int | None = Field(
        None, ge=0, description="Low watermark of the depth (None: 80 % of max_queue_depth)."
    )
    max_queue_age_seconds: float | None = Field(
        None,
        gt=0,
        description="Back pressure: when the oldest queued task has waited this long, the "
        "queue refuses submits until the wait is under resume_queue_age_seconds.",
    )
    resume_queue_age_seconds: float | None = Field(
        None, ge=0, description="Low watermark of the wait (None: 80 % of the maximum)."
    )
    shed_priority_below: int | None = Field(
        None,
        ge=0,
        le=MAX_PRIORITY,
        description="Between the low and high watermarks, refuse tasks with a priority under "
        "this (low-priority work is shed first). None: no shedding.",
    )
    admission_refresh_seconds: float = Field(
        0.2, gt=0, description="How often the API re-reads a queue's depth for admission."
    )
    max_queues: int = Field(
        1000,
        gt=0,
        description="Most queues the API lets submits create (each keeps keys and metric "
        "series for good); a submit that would create one more is refused with 409.",
    )
    # Connections (``system.api.app``): bounded, so that load on the API cannot turn into
    # thousands of Redis clients, and waited for, so that a burst is queued, not refused.
    redis_connections: int = Field(
        64,
        gt=0,
        description="Connections to Redis the API's requests share (long polls have their "
        "own, max_long_polls).",
    )
    redis_connection_wait_seconds: float = Field(
        5.0,
        gt=0,
        description="How long a request waits for a free connection when all are in use "
        "before it is answered 503 (naming the cause: the API is busy, not Redis gone).",
    )
    redis_reply_timeout_seconds: float = Field(
        2.0,
        gt=0,
        description="How long a request waits for Redis to accept a connection or answer a "
        "command before it is answered 503 (a Redis that hangs; one that refuses "
        "connections is answered at once). On an overloaded host the API's own event loop "
        "can lag this long: raise it there.",
    )
    max_long_polls: int = Field(
        200,
        gt=0,
        description="Long polls (GET /tasks/{id}/result?wait=) waiting at once, each on a "
        "connection of its own; past it, 429 + Retry-After.",
    )
    metrics_cache_seconds: float = Field(
        1.0,
        ge=0,
        description="How long GET /metrics reuses what it read from Redis (scrapes within "
        "it share one read; 0: read on every scrape).",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @model_validator(mode="after")
    def _watermarks_in_order(self) -> ApiSettings:
        pairs = [
            ("depth", self.resume_queue_depth, self.max_queue_depth),
            ("age", self.resume_queue_age_seconds, self.max_queue_age_seconds),
        ]
        for what, low, high in pairs:
            if low is not None and (high is None or low > high):
                raise ValueError(
                    f"the resume (low) watermark of the queue {what} needs a maximum at or "
                    f"above it (got resume {low}, maximum {high})"
                )
        return self


class Settings(BaseSettings):
    # Errors name the setting, never its value: it may be a key or a URL with a password.
    model_config = SettingsConfigDict(
        env_prefix="TASKQ_", env_nested_delimiter="__", extra="ignore", hide_input_in_errors=True
    )

    redis_url: str | None = Field(
        None,
        description="redis://, rediss:// (TLS), or "
        "redis+cluster:// URL. None: start an embedded private Redis.",
    )
    queue: QueueSettings = Field(default_factory=QueueSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    autoscale: AutoscaleSettings = Field(default_factory=AutoscaleSettings)
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated API keys, each KEY[:SCOPES[:QUEUES]] (scopes read, "
        "submit, operate joined by +; queues joined by +; a plain KEY may do everything); "
        "keys of at least 16 characters. None: no authentication, and the API refuses to "
        "listen on anything but loopback.",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _valid_keys(cls, entries: list[str]) -> list[str]:
        from system.api.grants import parse_entry  # the format is the API's

        for entry in entries:
            parse_entry(entry)  # ValueError: too short, unknown scope ...
        return entries

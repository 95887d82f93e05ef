"""Request and response models of the REST API."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from system.config import ApiSettings
from system.core.constants import MAX_PRIORITY, MIN_PRIORITY
from system.core.keys import QUEUE_NAME_PATTERN
from system.core.submission import MAX_DELAY_SECONDS, MAX_TIMEOUT_SECONDS, MIN_TIMEOUT_SECONDS
from system.core.task import TaskRecord


def _storable(text: str) -> str:
    """Redis takes UTF-8: a lone surrogate (JSON "\\ud800") cannot be encoded."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("holds a lone surrogate (\\ud800-\\udfff), which is not text") from None
    return text


# A string that can be stored (sent to Redis) as it is.
Text = Annotated[str, AfterValidator(_storable)]


def _json_number(value: object) -> object:
    """JSON types as the schema says them: pydantic alone would also read "1" or true as a
    number (and a number as a date-time, epoch seconds)."""
    if isinstance(value, bool) or not isinstance(value, int | float | None):
        raise ValueError("must be a number")
    return value


class TaskSubmission(BaseModel):
    """The original project's request (task_type, payload, priority, max_retries) works
    unchanged; the other fields are optional."""

    # A misspelt field is an error, not silently ignored. delay_seconds and eta are two
    # ways to say one thing: the schema allows only one.
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"not": {"required": ["delay_seconds", "eta"]}}
    )

    task_type: Text = Field(min_length=1, max_length=200, examples=["matrix_multiply"])
    payload: Any = Field(None, examples=[{"size": 10}])
    priority: int = Field(0, ge=MIN_PRIORITY, le=MAX_PRIORITY, description="Higher runs first.")
    max_retries: int | None = Field(None, ge=0, le=1000)
    queue: str = Field("default", pattern=QUEUE_NAME_PATTERN.pattern)
    delay_seconds: float | None = Field(None, ge=0, le=MAX_DELAY_SECONDS)
    eta: AwareDatetime | None = Field(
        None, description="Earliest start: an RFC 3339 date-time with a timezone."
    )
    timeout_seconds: float | None = Field(
        None, ge=MIN_TIMEOUT_SECONDS, le=MAX_TIMEOUT_SECONDS, description="At least 1 ms."
    )
    idempotency_key: Text | None = Field(None, min_length=1, max_length=200)

    _json_number = field_validator(
        "priority", "max_retries", "delay_seconds", "timeout_seconds", mode="before"
    )(_json_number)

    @field_validator("eta", mode="before")
    @classmethod
    def _date_time_text(cls, value: object) -> object:
        if not isinstance(value, str | datetime | None):
            raise ValueError("must be an RFC 3339 date-time string, e.g. 2030-01-01T12:00:00Z")
        return value


class TaskAccepted(BaseModel):
    id: str
    status: str
    created: bool = Field(description="False: an earlier task with this idempotency key.")


def time_of(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms is not None else None


class TaskView(BaseModel):
    id: str
    task_type: str
    queue: str
    status: str
    priority: int
    attempts: int
    max_retries: int
    payload: Any
    result: Any
    error: str | None
    traceback: str | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    cancel_requested: bool

    @classmethod
    def of(cls, r: TaskRecord) -> TaskView:
        return cls(
            id=r.id,
            task_type=r.task_type,
            queue=r.queue,
            status=r.state.value,
            priority=r.priority,
            attempts=r.attempts,
            max_retries=r.max_retries,
            payload=r.payload,
            result=r.result,
            error=r.error,
            traceback=r.traceback,
            created_at=time_of(r.created_ms),
            started_at=time_of(r.started_ms),
            finished_at=time_of(r.finished_ms),
            worker=r.worker,
            cancel_requested=r.cancel_requested,
        )


class CancelResult(BaseModel):
    id: str
    status: str
    detail: str


class Health(BaseModel):
    status: str


# The batch limit of the application serving the request (set by a dependency of the
# batch route from its settings), read before any task of the batch is validated.
batch_limit: ContextVar[int] = ContextVar(
    "batch_limit", default=ApiSettings.model_fields["max_batch"].default
)


class BatchSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskSubmission] = Field(min_length=1)

    # Counted first: validating tens of thousands of tasks only to refuse them costs CPU
    # that every other request waits for.
    @field_validator("tasks", mode="before")
    @classmethod
    def _count_first(cls, value: object) -> object:
        limit = batch_limit.get()
        if isinstance(value, list) and len(value) > limit:
            raise ValueError(f"{len(value)} tasks, over the batch limit of {limit}")
        return value


class BatchAccepted(BaseModel):
    tasks: list[TaskAccepted]


class QueueView(BaseModel):
    name: str
    paused: bool
    depth: dict[str, int] = Field(
        description="Tasks by state: queued, scheduled, running, failed (dead-lettered)."
    )
    totals: dict[str, int] = Field(
        description="Counters since the queue was created: "
        "succeeded, failed, retried, cancelled, lease_expired, "
        "stale_rejected."
    )
    oldest_queued_age_seconds: float | None = Field(
        description="How long the longest-waiting queued task has waited (null: none)."
    )
    throughput_per_second: float = Field(
        description="Tasks that ended (succeeded, failed or cancelled) per second over "
        "about the last minute."
    )


class BreakerView(BaseModel):
    task_type: str
    state: Literal["closed", "open", "half_open"] = Field(
        description="closed: tasks run; open: tasks are deferred, not run; half_open: a "
        "few probe tasks run and decide. An open breaker reads 'open' until a worker "
        "asks after its open period."
    )
    opened_at: datetime | None = Field(description="When it last opened (null: never).")
    opens: int = Field(description="Times it opened.")
    window_calls: int = Field(description="Outcomes counted in the current window.")
    window_failures: int = Field(description="Failures among them.")


class RequeueRequest(BaseModel):
    # As for submissions: a misspelt field ("id") must not widen the request to the whole
    # dead-letter queue, and "5" or true is not a number.
    model_config = ConfigDict(extra="forbid")

    ids: list[Text] = Field(
        default_factory=list, max_length=10_000, description="Empty: the oldest up to limit."
    )
    limit: int = Field(1000, gt=0, le=10_000)

    _json_number = field_validator("limit", mode="before")(_json_number)


class Requeued(BaseModel):
    requeued: list[str]


class WorkerView(BaseModel):
    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    in_flight: int
    processed: int
    failed: int
    started_at: datetime | None
    last_heartbeat: datetime | None


class TaskTypeView(BaseModel):
    name: str
    mode: str
    description: str
    payload_schema: dict[str, Any]
    circuit_breaker: bool = Field(
        description="A circuit breaker guards it: while open, its tasks wait unrun."
    )


class TaskPage(BaseModel):
    tasks: list[TaskView]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )

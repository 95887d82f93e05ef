"""The task record as stored in its Redis hash, and the states it moves through.

Hash fields (``taskq:{Q}:task:ID``)::

    type, payload (JSON text), priority (0..255), state, attempts (claims so far),
    max_retries, timeout_ms (0 = none), created_ms, eligible_ms (when it became runnable),
    started_ms, finished_ms, worker, token (fencing token of the current lease),
    result (JSON text), error, traceback, idem (idempotency key),
    cancel (set when cancellation of a running task is requested), waiters

An absent field means its default (attempts 0, timeout_ms 0, eligible_ms = created_ms), so
a submit writes only what it must.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson


class TaskState(StrEnum):
    QUEUED = "queued"
    SCHEDULED = "scheduled"  # delayed, or waiting for a retry's backoff
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # terminal: in the dead-letter queue
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


# The scripts get this set too (``TERMINAL`` in Lua, injected by ``system.core.scripts``).
TERMINAL_STATES = frozenset({TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED})


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task as read back from Redis. Times are epoch milliseconds."""

    id: str
    queue: str
    task_type: str
    state: TaskState
    payload: Any
    priority: int
    attempts: int
    max_retries: int
    timeout_ms: int
    created_ms: int | None
    eligible_ms: int | None
    started_ms: int | None
    finished_ms: int | None
    worker: str | None
    result: Any
    error: str | None
    traceback: str | None
    idempotency_key: str | None
    cancel_requested: bool

    @classmethod
    def from_hash(cls, task_id: str, queue: str, h: dict[str, str]) -> TaskRecord:
        result = h.get("result")
        return cls(
            id=task_id,
            queue=queue,
            task_type=h["type"],
            state=TaskState(h["state"]),
            payload=orjson.loads(h["payload"]),
            priority=int(h.get("priority", 0)),
            attempts=int(h.get("attempts", 0)),
            max_retries=int(h.get("max_retries", 0)),
            timeout_ms=int(h.get("timeout_ms", 0)),
            created_ms=_int(h.get("created_ms")),
            eligible_ms=_int(h.get("eligible_ms") or h.get("created_ms")),
            started_ms=_int(h.get("started_ms")),
            finished_ms=_int(h.get("finished_ms")),
            worker=h.get("worker"),
            result=orjson.loads(result) if result is not None else None,
            error=h.get("error"),
            traceback=h.get("traceback") or None,
            idempotency_key=h.get("idem"),
            cancel_requested="cancel" in h,
        )

    @property
    def terminal(self) -> bool:
        return self.state.terminal

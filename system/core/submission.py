"""Turns what a user submits into a validated ``NewTask`` for the scripts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from system.config import QueueSettings
from system.core.constants import MAX_PRIORITY, MIN_PRIORITY
from system.core.errors import InvalidSubmission
from system.core.keys import new_task_id, validate_queue_name
from system.core.ops import NewTask

DEFAULT_QUEUE = "default"
_valid_queues: set[str] = set()  # names already checked: skips the regex on the hot path


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """One task as a user describes it; ``None`` fields take the queue settings' defaults."""

    task_type: str
    payload: Any = None
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    max_retries: int | None = None
    timeout_seconds: float | None = None
    delay_seconds: float | None = None
    eta: datetime | float | None = None  # a datetime, or epoch seconds
    idempotency_key: str | None = None


def _eta_ms(req: TaskRequest, now_ms: int) -> int:
    if req.delay_seconds is not None and req.eta is not None:
        raise InvalidSubmission("give delay_seconds or eta, not both")
    if req.delay_seconds is not None:
        if req.delay_seconds < 0:
            raise InvalidSubmission("delay_seconds must be >= 0")
        return now_ms + int(req.delay_seconds * 1000)
    if req.eta is None:
        return 0
    if isinstance(req.eta, datetime):
        if req.eta.tzinfo is None:
            raise InvalidSubmission("eta must carry a timezone (e.g. 2026-01-01T12:00:00Z)")
        return int(req.eta.timestamp() * 1000)
    return int(float(req.eta) * 1000)


def build_task(req: TaskRequest, settings: QueueSettings, now_ms: int | None = None) -> NewTask:
    """Validate one request; raise ``InvalidSubmission`` naming the offending field.
    ``now_ms`` (default: the clock now) is read once: the id, the eta and the record's
    created_ms all come from it."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if not req.task_type or len(req.task_type) > 200:
        raise InvalidSubmission("task_type must be 1-200 characters")
    if req.queue not in _valid_queues:
        try:
            validate_queue_name(req.queue)
        except ValueError as exc:
            raise InvalidSubmission(f"queue: {exc}") from None
        _valid_queues.add(req.queue)
    if not MIN_PRIORITY <= req.priority <= MAX_PRIORITY:
        raise InvalidSubmission(f"priority must be {MIN_PRIORITY}..{MAX_PRIORITY} (higher first)")
    max_retries = settings.default_max_retries if req.max_retries is None else req.max_retries
    if not 0 <= max_retries <= 1000:
        raise InvalidSubmission("max_retries must be 0..1000")
    if req.timeout_seconds is not None and req.timeout_seconds <= 0:
        raise InvalidSubmission("timeout_seconds must be > 0")
    if req.idempotency_key is not None and not 1 <= len(req.idempotency_key) <= 200:
        raise InvalidSubmission("idempotency_key must be 1-200 characters")
    try:
        payload_json = orjson.dumps(req.payload)
    except TypeError as exc:
        raise InvalidSubmission(f"payload is not JSON-serialisable: {exc}") from None
    if len(payload_json) > settings.max_payload_bytes:
        raise InvalidSubmission(
            f"payload is {len(payload_json)} bytes, over the limit of {settings.max_payload_bytes}"
        )
    return NewTask(
        id=new_task_id(req.queue, now_ms),
        queue=req.queue,
        task_type=req.task_type,
        payload_json=payload_json,
        priority=req.priority,
        max_retries=max_retries,
        timeout_ms=int((req.timeout_seconds or 0) * 1000),
        eta_ms=_eta_ms(req, now_ms),
        idempotency_key=req.idempotency_key or "",
        created_ms=now_ms,
    )

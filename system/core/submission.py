"""Turns what a user submits into a validated ``NewTask`` for the scripts."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson

from system.config import QueueSettings
from system.core.constants import MAX_PRIORITY, MIN_PRIORITY
from system.core.errors import InvalidSubmission
from system.core.keys import new_task_id, validate_queue_name
from system.core.ops import NewTask

DEFAULT_QUEUE = "default"
# How far ahead a task may be scheduled, by delay_seconds or by eta alike.
MAX_DELAY_SECONDS = 366 * 86400
# Timeouts are kept in whole ms and 0 ms means "none": a shorter one would silently vanish.
MIN_TIMEOUT_SECONDS = 0.001
MAX_TIMEOUT_SECONDS = 7 * 86400
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
        if not 0 <= req.delay_seconds <= MAX_DELAY_SECONDS:
            raise InvalidSubmission(f"delay_seconds must be 0..{MAX_DELAY_SECONDS} (366 days)")
        return now_ms + int(req.delay_seconds * 1000)
    if req.eta is None:
        return 0
    if isinstance(req.eta, datetime):
        if req.eta.tzinfo is None:
            raise InvalidSubmission("eta must carry a timezone (e.g. 2026-01-01T12:00:00Z)")
        eta_seconds = req.eta.timestamp()
    else:
        eta_seconds = float(req.eta)
    if not math.isfinite(eta_seconds) or eta_seconds > now_ms / 1000 + MAX_DELAY_SECONDS:
        raise InvalidSubmission("eta must be at most 366 days from now (as delay_seconds)")
    return int(eta_seconds * 1000)


def _has_non_finite(value: Any) -> bool:
    """NaN or an infinity anywhere in a JSON-like value (JSON has neither)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_non_finite(v) for v in value)
    return False


class Checked(NamedTuple):
    """``check_many``'s answer: per request, its payload's JSON text or its ``NewTask``;
    and the positions of the latter."""

    payloads: list[str | NewTask]
    built: set[int]


def check_many(requests: Sequence[TaskRequest], settings: QueueSettings, now_ms: int) -> Checked:
    """Validate every request as ``build_task`` does, with the same errors, before any is
    sent; for each, its payload's JSON text when it has the usual options (priority 0,
    ``max_retries``, ``timeout_seconds``, ``delay_seconds``, ``eta`` and
    ``idempotency_key`` all left to their defaults), else its ``NewTask``. The usual
    case is checked here, inline: ``build_task`` and a ``NewTask`` per task cost more than
    the script's work on it. Its id is made later, as its chunk is sent (``new_ids``)."""
    out: list[str | NewTask] = []
    built: set[int] = set()
    append, dumps, limit = out.append, orjson.dumps, settings.max_payload_bytes
    usual_ok = 0 <= settings.default_max_retries <= 1000
    for i, req in enumerate(requests):
        if (
            usual_ok
            and req.priority == 0
            and req.max_retries is None
            and req.timeout_seconds is None
            and req.delay_seconds is None
            and req.eta is None
            and req.idempotency_key is None
            and req.queue in _valid_queues
            and type(req.task_type) is str
            and 0 < len(req.task_type) <= 200
        ):
            try:
                payload_json: bytes | None = dumps(req.payload)
            except TypeError:
                payload_json = None  # build_task below raises the error
            if (
                payload_json is not None
                and len(payload_json) <= limit
                and (b"null" not in payload_json or not _has_non_finite(req.payload))
            ):
                # Decoded at once, so orjson's buffer (1 KiB each) is freed and reused:
                # 50,000 of them kept cost 4 us a task in page faults.
                append(payload_json.decode())
                continue
        append(build_task(req, settings, now_ms))
        built.add(i)
    return Checked(out, built)


def new_ids(queue: str, now_ms: int, n: int) -> list[str]:
    """``n`` ids as ``new_task_id`` makes them, from one read of random bytes."""
    random_hex = os.urandom(10 * n).hex()
    prefix = f"{queue}.{now_ms:012x}"
    return [prefix + random_hex[i : i + 20] for i in range(0, 20 * n, 20)]


def build_task(
    req: TaskRequest, settings: QueueSettings, now_ms: int | None = None, task_id: str = ""
) -> NewTask:
    """Validate one request; raise ``InvalidSubmission`` naming the offending field.
    ``now_ms`` (default: the clock now) is read once: the id, the eta and the record's
    created_ms all come from it. ``task_id``: one made by ``new_task_id`` with the same
    ``now_ms`` (default: a new one)."""
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
    timeout = req.timeout_seconds
    if timeout is not None and not MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS:
        raise InvalidSubmission(
            f"timeout_seconds must be {MIN_TIMEOUT_SECONDS}..{MAX_TIMEOUT_SECONDS} (1 ms to 7 days)"
        )
    if req.idempotency_key is not None and not 1 <= len(req.idempotency_key) <= 200:
        raise InvalidSubmission("idempotency_key must be 1-200 characters")
    try:
        payload_json = orjson.dumps(req.payload)
    except TypeError as exc:
        raise InvalidSubmission(f"payload is not JSON-serialisable: {exc}") from None
    # orjson writes NaN and infinities as null: refuse them instead of changing the payload
    # (only a payload whose JSON has a null can hold one, so most skip the walk).
    if b"null" in payload_json and _has_non_finite(req.payload):
        raise InvalidSubmission("payload holds NaN or an infinity, which JSON cannot carry")
    if len(payload_json) > settings.max_payload_bytes:
        raise InvalidSubmission(
            f"payload is {len(payload_json)} bytes, over the limit of {settings.max_payload_bytes}"
        )
    no_eta = req.delay_seconds is None and req.eta is None
    return NewTask(
        id=task_id or new_task_id(req.queue, now_ms),
        queue=req.queue,
        task_type=req.task_type,
        payload_json=payload_json,
        priority=req.priority,
        max_retries=max_retries,
        timeout_ms=max(1, int(timeout * 1000)) if timeout else 0,
        eta_ms=0 if no_eta else _eta_ms(req, now_ms),
        idempotency_key=req.idempotency_key or "",
        created_ms=now_ms,
    )

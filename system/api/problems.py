"""Every error as an RFC 9457 ``application/problem+json`` response.

Client input never yields a 500: validation errors name the field path, unknown ids are
404, a Redis that cannot be reached is 503 with Retry-After.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from system.api.grants import Forbidden
from system.core.connection import PoolExhausted
from system.core.errors import (
    InvalidPayload,
    InvalidSubmission,
    InvalidTaskId,
    QueueFull,
    TaskNotFound,
    UnknownTaskType,
)

PROBLEM = "application/problem+json"
RETRY_AFTER_SECONDS = 1


class TooManyLongPolls(Exception):
    def __init__(self, cap: int) -> None:
        super().__init__(
            f"{cap} long polls are already waiting, the most this API holds at once "
            "(TASKQ_API__MAX_LONG_POLLS); retry shortly, or ask without ?wait="
        )


class QueueNotFound(Exception):
    def __init__(self, queue: str) -> None:
        super().__init__(
            f"no queue named {queue!r}: a queue exists once a task was submitted to it"
        )


class TooManyQueues(Exception):
    def __init__(self, new: list[str], existing: int, cap: int) -> None:
        super().__init__(
            f"submitting to {', '.join(map(repr, sorted(new)))} would create a queue beyond "
            f"the {cap} this deployment allows ({existing} exist; TASKQ_API__MAX_QUEUES): "
            "use an existing queue"
        )


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


def _documented(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM: {"schema": Problem.model_json_schema()}},
    }


# Declared on every operation, so the OpenAPI document says what errors look like.
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("Malformed JSON"),
    401: _documented("Missing or wrong API key (when keys are configured)"),
    403: _documented("The API key's scopes or queues do not allow this, or a cross-site request"),
    404: _documented("No such task, queue or route"),
    405: _documented("Method not allowed"),
    409: _documented("The request would create a queue beyond max_queues"),
    413: _documented("Request body over the limit"),
    422: _documented("Invalid request; the problem names the field"),
    429: _documented("Queue full (back pressure), or too many long polls; see Retry-After"),
    503: _documented(
        "Redis unreachable or refusing the command, or the API's connections all busy; "
        "see Retry-After"
    ),
    507: _documented("Redis is out of memory; see Retry-After"),
}


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _queue_full(request: Request, exc: QueueFull) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_seconds)}
    return problem(429, "Queue full", str(exc), headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        msg = next(e for e in errors if e.get("type") == "json_invalid").get("msg", "")
        return problem(400, "Malformed JSON", f"the request body is not valid JSON: {msg}")
    fields = [{"field": _field(e.get("loc", ())), "message": e.get("msg", "")} for e in errors]
    detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return problem(422, "Invalid request", detail, errors=fields)


async def _unknown_type(request: Request, exc: UnknownTaskType) -> JSONResponse:
    return problem(422, "Unknown task type", str(exc), known_task_types=exc.known)


async def _invalid_payload(request: Request, exc: InvalidPayload) -> JSONResponse:
    fields = [
        {"field": ".".join(["payload", *map(str, e.get("loc", ()))]), "message": e.get("msg", "")}
        for e in exc.errors
    ]
    return problem(422, "Invalid payload", str(exc), errors=fields)


async def _invalid_submission(request: Request, exc: InvalidSubmission) -> JSONResponse:
    return problem(422, "Invalid task", str(exc))


async def _not_found(request: Request, exc: TaskNotFound | InvalidTaskId) -> JSONResponse:
    return problem(404, "Task not found", str(exc))


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    detail = f"Redis cannot be reached ({type(exc).__name__}); retry shortly"
    return problem(503, "Service unavailable", detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _redis_slow(request: Request, exc: Exception) -> JSONResponse:
    """No answer in time: Redis hangs, or this process was too busy to read the answer."""
    detail = f"Redis did not answer in time ({exc}); retry shortly"
    return problem(503, "Service unavailable", detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _too_many_long_polls(request: Request, exc: TooManyLongPolls) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem(429, "Too many long polls", str(exc), headers)


async def _busy(request: Request, exc: PoolExhausted) -> JSONResponse:
    detail = f"the API is busy: {exc} (Redis itself is reachable); retry shortly"
    return problem(503, "Service busy", detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
    return problem(403, "Forbidden", str(exc))


async def _queue_not_found(request: Request, exc: QueueNotFound) -> JSONResponse:
    return problem(404, "Queue not found", str(exc))


async def _too_many_queues(request: Request, exc: TooManyQueues) -> JSONResponse:
    return problem(409, "Too many queues", str(exc))


async def _redis_full(request: Request, exc: Exception) -> JSONResponse:
    detail = (
        "Redis is out of memory and refuses writes (maxmemory reached); nothing was "
        "stored. Retry once tasks have drained or results expired."
    )
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return problem(507, "Insufficient storage", detail, headers)


async def _redis_refused(request: Request, exc: Exception) -> JSONResponse:
    """Redis answered with a refusal: a read-only replica, a missing ACL permission."""
    detail = f"Redis refused the command ({type(exc).__name__}: {exc}); retry shortly"
    return problem(503, "Service unavailable", detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _not_text(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
    """A string the models did not check reached Redis with a lone surrogate: the
    command was never sent."""
    return problem(422, "Invalid request", f"a value is not storable text: {exc.reason}")


def _allowed_methods(request: Request) -> str:
    """Every method any route on this path accepts (Starlette's own Allow header names only
    the first route that matched the path, and /tasks has two)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(request.url.path):
            methods |= route_methods
    return ", ".join(sorted(methods))


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return problem(exc.status_code, str(exc.detail), str(exc.detail), headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownTaskType, _unknown_type)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidPayload, _invalid_payload)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidSubmission, _invalid_submission)  # type: ignore[arg-type]
    app.add_exception_handler(TaskNotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidTaskId, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(redis.exceptions.ConnectionError, _redis_down)
    app.add_exception_handler(redis.exceptions.TimeoutError, _redis_slow)
    app.add_exception_handler(PoolExhausted, _busy)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyLongPolls, _too_many_long_polls)  # type: ignore[arg-type]
    app.add_exception_handler(QueueNotFound, _queue_not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, _forbidden)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyQueues, _too_many_queues)  # type: ignore[arg-type]
    app.add_exception_handler(redis.exceptions.OutOfMemoryError, _redis_full)
    app.add_exception_handler(redis.exceptions.ReadOnlyError, _redis_refused)
    app.add_exception_handler(redis.exceptions.NoPermissionError, _redis_refused)
    app.add_exception_handler(UnicodeEncodeError, _not_text)  # type: ignore[arg-type]
    app.add_exception_handler(QueueFull, _queue_full)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]

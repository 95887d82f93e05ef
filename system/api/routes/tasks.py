"""Submit, inspect and cancel tasks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.routing import APIRoute
from starlette.types import Message, Receive, Scope, Send

from system.api.browsers import is_json
from system.api.deps import (
    AdmissionDep,
    ClientDep,
    GrantDep,
    KnownQueuesDep,
    LongPollsDep,
    RegistryDep,
    SettingsDep,
    WaiterDep,
)
from system.api.grants import EVERYTHING, Grant
from system.api.models import (
    BatchAccepted,
    BatchSubmission,
    CancelResult,
    TaskAccepted,
    TaskPage,
    TaskSubmission,
    TaskView,
    batch_limit,
)
from system.client import AsyncClient
from system.core.constants import MAX_WAIT_SECONDS
from system.core.errors import InvalidPayload, InvalidSubmission, UnknownTaskType
from system.core.keys import QUEUE_NAME_PATTERN
from system.core.ops import CancelReply, keys_for_task
from system.core.submission import TaskRequest

router = APIRouter(prefix="/tasks", tags=["tasks"])
_CANCEL_DETAIL = {
    CancelReply.CANCELLED: "cancelled",
    CancelReply.REQUESTED: "cancellation requested; the running task stops cooperatively",
    CancelReply.ALREADY_FINISHED: "already finished; nothing to cancel",
}


async def _accept(request: Request, body: TaskSubmission, idempotency_key: str | None) -> Response:
    """Submit one task (validated) and answer."""
    state = request.app.state
    client: AsyncClient = state.client
    grant: Grant = request.scope.get("state", {}).get("grant", EVERYTHING)
    grant.require("submit", [body.queue])
    state.registry.validate_payload(body.task_type, body.payload)
    await state.known_queues.admit(client, [body.queue])
    await state.admission.admit(client, body.queue, [body.priority])
    sub = await client.submit(body.task_type, body.payload, **_options(body, idempotency_key))
    return Response(
        orjson.dumps({"id": sub.id, "status": sub.state, "created": sub.created}),
        status_code=status.HTTP_202_ACCEPTED if sub.created else status.HTTP_200_OK,
        headers={"Location": f"/tasks/{sub.id}"},
        media_type="application/json",
    )


async def submit_task(
    body: TaskSubmission,
    request: Request,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Response:
    """Submit a task: 202 with its id and a Location header (200 for a known
    idempotency key, with the first task). Unknown task types and payloads that fail the
    handler's schema are refused with 422; a new queue beyond ``max_queues`` with 409."""
    return await _accept(request, body, idempotency_key)


class SubmitRoute(APIRoute):
    """``POST /tasks/``, the hot path, without FastAPI's per-request machinery when the
    request is valid: the body is validated straight from its bytes into the model, the
    app's parts are read from its state (not six dependencies), the answer is written
    directly (not validated again as a model), and the task goes through the single
    submit, not the bulk one. Profiled, these cost more than the Redis call. A request
    that does not validate here goes to FastAPI's own handler (with the same body, so
    the same 422 with the same details); FastAPI's handler also documents the route.
    Errors raised here (403, 409, 422 of a payload, 429) reach the app's exception
    handlers as any route's do."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":  # FastAPI's 405
            await super().handle(scope, receive, send)
            return
        request = Request(scope, receive, send)
        key = request.headers.get("idempotency-key")
        body = await request.body()
        if (key is None or 1 <= len(key) <= 200) and is_json(
            request.headers.get("content-type", "")
        ):
            try:
                submission = TaskSubmission.model_validate_json(body)
            except ValueError:  # pydantic's ValidationError: FastAPI's handler says why
                pass
            else:
                response = await _accept(request, submission, key)
                await response(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await super().handle(scope, replay, send)


_SUBMIT_OPTIONS: dict[str, Any] = {
    "methods": ["POST"],
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": TaskAccepted,
    "responses": {200: {"description": "Repeat of an idempotency key: the first task"}},
    "route_class_override": SubmitRoute,
}
router.add_api_route("/", submit_task, operation_id="submit_task", **_SUBMIT_OPTIONS)
# The original project documented POST /tasks/; POST /tasks works too (no redirect).
router.add_api_route(
    "",
    submit_task,
    operation_id="submit_task_no_slash",
    summary="Submit Task (same as POST /tasks/)",
    **_SUBMIT_OPTIONS,
)


async def _batch_limit(settings: SettingsDep) -> None:
    """Runs before the body is validated (FastAPI resolves dependencies first)."""
    batch_limit.set(settings.api.max_batch)


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="submit_batch",
    dependencies=[Depends(_batch_limit)],
)
async def submit_batch(
    body: BatchSubmission,
    client: ClientDep,
    registry: RegistryDep,
    admission: AdmissionDep,
    known: KnownQueuesDep,
    grant: GrantDep,
) -> BatchAccepted:
    """Submit many tasks in one request (one Redis round trip per queue and 1,000 tasks).
    The count is checked first (over ``max_batch``: 422), then every task: one bad task
    refuses the whole batch (422 naming it)."""
    grant.require("submit", {t.queue for t in body.tasks})
    for i, t in enumerate(body.tasks):
        try:
            registry.validate_payload(t.task_type, t.payload)
        except (UnknownTaskType, InvalidPayload) as exc:
            raise InvalidSubmission(f"tasks.{i}: {exc}") from None
    by_queue: dict[str, list[int]] = {}
    for t in body.tasks:
        by_queue.setdefault(t.queue, []).append(t.priority)
    await known.admit(client, by_queue)
    for queue, priorities in by_queue.items():
        await admission.admit(client, queue, priorities)
    subs = await client.submit_many([_request(t) for t in body.tasks])
    return BatchAccepted(
        tasks=[TaskAccepted(id=s.id, status=s.state, created=s.created) for s in subs]
    )


def _options(t: TaskSubmission, idempotency_key: str | None = None) -> dict[str, Any]:
    """A submission's options as the client takes them (the header's key when the body
    names none)."""
    return {
        "queue": t.queue,
        "priority": t.priority,
        "max_retries": t.max_retries,
        "timeout_seconds": t.timeout_seconds,
        "delay_seconds": t.delay_seconds,
        "eta": t.eta,
        "idempotency_key": t.idempotency_key or idempotency_key,
    }


def _request(t: TaskSubmission, idempotency_key: str | None = None) -> TaskRequest:
    return TaskRequest(t.task_type, t.payload, **_options(t, idempotency_key))


@router.get("", operation_id="list_tasks")
async def list_tasks(
    client: ClientDep,
    known: KnownQueuesDep,
    grant: GrantDep,
    task_status: Annotated[
        Literal["queued", "scheduled", "running", "failed"], Query(alias="status")
    ] = "queued",
    queue: Annotated[str, Query(pattern=QUEUE_NAME_PATTERN.pattern)] = "default",
    limit: Annotated[int, Query(gt=0, le=1000)] = 100,
    cursor: Annotated[str, Query(pattern=r"^[0-9]{1,12}$")] = "0",
) -> TaskPage:
    """Tasks of a queue in one state, a page at a time: queued in priority order,
    scheduled by due time, running by lease deadline, failed (dead-lettered) oldest first.
    Finished tasks (succeeded, cancelled) have no index; look them up by id."""
    grant.require("read", [queue])
    await known.require(client, queue)
    offset = int(cursor)
    records = await client.list_tasks(queue, task_status, offset, limit)
    next_cursor = str(offset + limit) if len(records) == limit else None
    return TaskPage(tasks=[TaskView.of(r) for r in records], next_cursor=next_cursor)


@router.get("/{task_id}", operation_id="get_task")
async def get_task(task_id: str, client: ClientDep, grant: GrantDep) -> TaskView:
    """A task's record; 404 problem for an unknown (or expired) id."""
    grant.require("read", [_queue_of(task_id)])
    return TaskView.of(await client.get(task_id))


@router.get("/{task_id}/result", operation_id="get_task_result")
async def get_task_result(
    task_id: str,
    client: ClientDep,
    waiter: WaiterDep,
    long_polls: LongPollsDep,
    settings: SettingsDep,
    grant: GrantDep,
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Seconds")] = 0,
) -> TaskView:
    """Long poll: returns when the task ends or after ``wait`` seconds, whichever is first
    (capped at the server's ``max_wait_seconds``). At most ``max_long_polls`` wait at
    once; past that, 429 with Retry-After."""
    grant.require("read", [_queue_of(task_id)])
    wait = min(wait, settings.api.max_wait_seconds)
    if wait <= 0:
        return TaskView.of(await client.get(task_id))
    async with long_polls.slot():
        return TaskView.of(await waiter.wait(task_id, wait))


@router.post("/{task_id}/cancel", operation_id="cancel_task")
async def cancel_task(task_id: str, client: ClientDep, grant: GrantDep) -> CancelResult:
    """Queued or scheduled: cancelled at once. Running: asked to stop (cooperative)."""
    grant.require("operate", [_queue_of(task_id)])
    outcome = await client.cancel(task_id)
    state = "cancelled" if outcome.code is CancelReply.CANCELLED else outcome.state
    return CancelResult(id=task_id, status=state, detail=_CANCEL_DETAIL[outcome.code])


def _queue_of(task_id: str) -> str:
    """The queue a task id names (404 for a malformed id)."""
    return keys_for_task(task_id).name

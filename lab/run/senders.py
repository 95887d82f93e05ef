"""How the load generator reaches the system: the REST API (``lab.run.http_client``) or
Redis (AsyncClient).

Both answer the same three questions: submit one task, submit many (backlog mode), wait
for a task to end (closed loop). A refusal (429 back pressure, 503 Redis unreachable) is a
``Refused`` carrying the server's Retry-After, which the generator honours.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import redis.exceptions

from lab.run.http_client import ConnectFailed, HttpClient, Response
from lab.scenario.model import Scenario, TaskKind
from system.api.grants import parse_entry
from system.client import AsyncClient
from system.config import QueueSettings, Settings
from system.core.constants import MAX_WAIT_SECONDS
from system.core.submission import TaskRequest

BATCH = 1000  # the API's default max_batch
DEFAULT_RETRY_AFTER_SECONDS = 1.0
KEEPALIVE_EXPIRY_SECONDS = 2.0


class Refused(Exception):
    def __init__(self, status: str, retry_after_seconds: float) -> None:
        super().__init__(status, retry_after_seconds)
        self.status = status  # "rejected" (429) or "unavailable" (503, connection refused)
        self.retry_after_seconds = retry_after_seconds


class SubmitFailed(Exception):
    """A submit the API answered with an error other than a refusal: the message is its
    status and the API's own reason (problem+json title and detail), the same for every
    submit that failed alike, so a run's summary can say which reason was most frequent."""


def api_key(scenario: Scenario, environ: Mapping[str, str] = os.environ) -> str | None:
    """The key the lab's API child accepts: its ``TASKQ_API_KEYS`` comes from the lab's
    environment, overridden by the scenario's ``env:``, just as here."""
    raw = scenario.system.env.get("TASKQ_API_KEYS", environ.get("TASKQ_API_KEYS", ""))
    grants = [parse_entry(entry) for entry in Settings(api_keys=raw).api_keys]
    # Entries may carry scopes (KEY:SCOPES[:QUEUES]): the first that may submit, key only.
    submitters = [key for key, grant in grants if "submit" in grant.scopes]
    return submitters[0] if submitters else (grants[0][0] if grants else None)


def _reason(response: Response) -> str:
    try:
        problem = response.json()
        text = f"{problem.get('title', '')}: {problem.get('detail', '')}"
    except (ValueError, AttributeError):
        text = response.reason_phrase
    return f"{response.status_code} {text}"[:200]


class Sender(Protocol):
    async def submit(self, kind: TaskKind) -> str:
        """The task id once acknowledged; raises ``Refused`` or another error."""
        ...

    async def submit_many(self, kinds: Sequence[TaskKind]) -> list[str]: ...
    async def wait(self, task_id: str, timeout_seconds: float) -> None: ...
    async def close(self) -> None: ...


def _body(kind: TaskKind) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task_type": kind.task_type,
        "payload": kind.payload,
        "priority": kind.priority,
    }
    if kind.max_retries is not None:
        body["max_retries"] = kind.max_retries
    return body


def _retry_after(response: Response) -> float:
    try:
        return float(response.headers.get("retry-after", DEFAULT_RETRY_AFTER_SECONDS))
    except ValueError:  # an HTTP date: not sent by our API
        return DEFAULT_RETRY_AFTER_SECONDS


class HttpSender:
    def __init__(self, api_url: str, max_connections: int, key: str | None = None) -> None:
        # Idle connections are dropped well before the server's keep-alive timeout (uvicorn:
        # 5 s): reusing one the server is closing at that very moment would fail the request
        # with an error that says nothing about the system (the client resends it once).
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = HttpClient(
            api_url, max_connections, headers, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS
        )
        # The scenario's few task kinds, each encoded once (``seeded`` kinds are new
        # objects, encoded each time): the id is checked against the kept object.
        self._encoded: dict[int, tuple[TaskKind, bytes]] = {}

    def _check(self, response: Response) -> None:
        if response.status_code == 429:
            raise Refused("rejected", _retry_after(response))
        if response.status_code == 503:
            raise Refused("unavailable", _retry_after(response))
        if response.is_error:
            raise SubmitFailed(_reason(response))

    def _request(self, kind: TaskKind) -> bytes:
        cached = self._encoded.get(id(kind))
        if cached is not None and cached[0] is kind:
            return cached[1]
        request = self._http.encode("POST", "/tasks/", json.dumps(_body(kind)).encode())
        if len(self._encoded) >= 64:  # filled by one-off (seeded) kinds: start over
            self._encoded.clear()
        self._encoded[id(kind)] = (kind, request)
        return request

    async def submit(self, kind: TaskKind) -> str:
        try:
            response = await self._http.request_bytes(self._request(kind))
        except ConnectFailed:
            raise Refused("unavailable", DEFAULT_RETRY_AFTER_SECONDS) from None
        self._check(response)
        return str(response.json()["id"])

    async def submit_many(self, kinds: Sequence[TaskKind]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(kinds), BATCH):
            body = {"tasks": [_body(k) for k in kinds[start : start + BATCH]]}
            response = await self._http.post_json("/tasks/batch", json.dumps(body).encode())
            self._check(response)
            ids.extend(str(t["id"]) for t in response.json()["tasks"])
        return ids

    async def wait(self, task_id: str, timeout_seconds: float) -> None:
        # The API caps a long poll at MAX_WAIT_SECONDS; the HTTP timeout leaves a margin.
        wait = min(timeout_seconds, MAX_WAIT_SECONDS)
        await self._http.get(f"/tasks/{task_id}/result?wait={wait}", timeout=MAX_WAIT_SECONDS + 10)

    async def close(self) -> None:
        await self._http.aclose()


class ClientSender:
    """Straight to Redis: no HTTP in the way (measures the queue without the API)."""

    def __init__(self, redis_url: str, settings: QueueSettings) -> None:
        self._client = AsyncClient(redis_url, settings)

    @staticmethod
    def _request(kind: TaskKind) -> TaskRequest:
        return TaskRequest(
            kind.task_type, kind.payload, priority=kind.priority, max_retries=kind.max_retries
        )

    async def submit(self, kind: TaskKind) -> str:
        try:
            (sub,) = await self._client.submit_many([self._request(kind)])
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            raise Refused("unavailable", DEFAULT_RETRY_AFTER_SECONDS) from None
        return sub.id

    async def submit_many(self, kinds: Sequence[TaskKind]) -> list[str]:
        return [s.id for s in await self._client.submit_many([self._request(k) for k in kinds])]

    async def wait(self, task_id: str, timeout_seconds: float) -> None:
        await self._client.wait(task_id, timeout_seconds)

    async def close(self) -> None:
        await self._client.close()


def queue_settings(scenario: Scenario) -> QueueSettings:
    """The queue settings the lab's own clients use (the same TTL as the system's)."""
    return QueueSettings(
        result_ttl_seconds=scenario.system.result_ttl_seconds, max_finished_records=0
    )


async def create_sender(scenario: Scenario, api_url: str, redis_url: str) -> Sender:
    if scenario.load.submit_via == "client":
        sender = ClientSender(redis_url, queue_settings(scenario))
        await sender._client.connect()
        return sender
    return HttpSender(api_url, scenario.load.max_outstanding_requests, api_key(scenario))

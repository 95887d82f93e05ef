"""HTTP metrics of the API and the ``/metrics`` endpoint (Prometheus text format).

Labels are bounded: the route *template* (``/tasks/{task_id}``), never the raw path.
The full set of queue metrics is the monitoring work's; this is the HTTP part.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from system.api.security import ApiKeys

REQUESTS = Counter(
    "taskq_http_requests_total", "HTTP requests answered by the API.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "taskq_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
)
router = APIRouter(tags=["health"])


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics of this API process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Gate:
    """Pure ASGI middleware (no per-request task group, unlike ``@app.middleware``): checks
    the API key, then times the request and counts it by route template and status."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, open_paths: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.keys.enabled and scope["path"] not in self.open_paths:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            refused = self.keys.check(header)
            if refused is not None:
                await refused(scope, receive, send)
                return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            LATENCY.labels(route, method).observe(time.perf_counter() - start)
            REQUESTS.labels(route, method, str(status)).inc()

"""HTTP metrics of the API and the ``/metrics`` endpoint (Prometheus text format).

Labels are bounded: the route *template* (``/tasks/{task_id}``), never the raw path.
The full set of queue metrics is the monitoring work's; this is the HTTP part.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

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


async def observe(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    start = time.perf_counter()
    response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    LATENCY.labels(route, request.method).observe(time.perf_counter() - start)
    REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    return response

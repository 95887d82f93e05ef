"""Python clients: ``Client`` (blocking) and ``AsyncClient`` (asyncio), with the same
methods. Each operation is written once, as a plan of round trips (``plans``); the two
clients only drive plans over their connection (``clients``).

    from system.client import Client
    with Client("redis://127.0.0.1:6379/0") as c:
        sub = c.submit("echo", {"hello": "world"})
        record = c.wait(sub.id, timeout_seconds=5)
"""

from system.client.clients import AsyncClient, Client
from system.client.models import (
    BreakerStatus,
    QueueStats,
    WorkerInfo,
    finished_rate,
)
from system.client.plans import BULK_CHUNK, CANCEL_REASON, LISTABLE_STATES, WAIT_STEP_MS, now_ms
from system.core.constants import RATE_BUCKET_MS, RATE_BUCKETS

__all__ = [
    "BULK_CHUNK",
    "CANCEL_REASON",
    "LISTABLE_STATES",
    "RATE_BUCKETS",
    "RATE_BUCKET_MS",
    "WAIT_STEP_MS",
    "AsyncClient",
    "BreakerStatus",
    "Client",
    "QueueStats",
    "WorkerInfo",
    "finished_rate",
    "now_ms",
]

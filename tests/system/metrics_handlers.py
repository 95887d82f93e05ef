"""A process-mode handler that records a metric of its own inside the pool child, to
show that a worker's ``/metrics`` adds up all of its processes (``--import
metrics_handlers``)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import Counter

from system.registry import task

CHILD_CALLS = Counter("test_child_calls_total", "Calls of child_count, in pool children.")


@task("child_count", mode="process")
def child_count(payload: Any) -> int:
    CHILD_CALLS.inc()
    return os.getpid()

"""schemathesis hooks for ``test_schemathesis``: rules of the API a JSON Schema cannot say.

An ``eta`` may be at most 366 days from now (as ``delay_seconds``); a schema has no "now",
so generated bodies get a near eta instead of a far one. Loaded through
``SCHEMATHESIS_HOOKS``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis

NEAR_ETA = "2000-01-01T00:00:00Z"  # in the past: runs at once


def _near(task: Any) -> Any:
    if isinstance(task, dict) and isinstance(task.get("eta"), str):
        try:
            eta = datetime.fromisoformat(task["eta"])
        except ValueError:
            return task  # not a date-time: a case meant to be refused
        if eta.tzinfo is not None and (eta - datetime.now(UTC)).days >= 365:
            return {**task, "eta": NEAR_ETA}
    return task


@schemathesis.hook
def map_body(ctx: Any, body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("tasks"), list):
        return {**body, "tasks": [_near(t) for t in body["tasks"]]}
    return _near(body)

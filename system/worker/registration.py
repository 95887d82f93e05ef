"""The worker's entry in the worker registry (``taskq status``, ``GET /workers``).

The entry (``taskq:workers`` ZSET score + ``taskq:worker:WID`` HASH) is rewritten when
what it shows changed, and at least every ``REFRESH_SECONDS``: an idle worker costs Redis
four commands per refresh, not a stream of heartbeats. An entry not refreshed for three
refreshes (or three leases, whichever is longer) is dropped by the next worker that
refreshes its own; a stopping worker removes its entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from system.core.connection import AsyncRedis
from system.core.keys import WORKERS, worker_key

REFRESH_SECONDS = 10.0
Info = dict[str, str | int]


class Registration:
    def __init__(
        self, redis: AsyncRedis, worker_id: str, describe: Callable[[], Info], lease_ms: int
    ) -> None:
        """``describe()``: what the entry shows (compared with the last one written)."""
        self.redis = redis
        self.worker_id = worker_id
        self._describe = describe
        self._ttl_ms = int(3 * max(REFRESH_SECONDS * 1000, lease_ms))
        self._written: Info = {}
        self._written_ms = 0

    async def refresh(self) -> None:
        now = int(time.time() * 1000)
        info = self._describe()
        if info == self._written and now - self._written_ms < REFRESH_SECONDS * 1000:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(WORKERS, {self.worker_id: now})
        # Forget workers that stopped refreshing without deregistering (killed).
        pipe.zremrangebyscore(WORKERS, "-inf", now - self._ttl_ms)
        entry: dict[Any, Any] = {**info, "heartbeat_ms": now}
        pipe.hset(worker_key(self.worker_id), mapping=entry)
        pipe.pexpire(worker_key(self.worker_id), self._ttl_ms)
        await pipe.execute()
        self._written, self._written_ms = info, now

    async def remove(self) -> None:
        await self.redis.zrem(WORKERS, self.worker_id)
        await self.redis.delete(worker_key(self.worker_id))

"""Queue maintenance: promote delayed tasks that are due, reclaim expired leases.

Maintenance of a queue runs in one worker at a time, its leader, under a lease in Redis
with a fencing token (``leader.lua``): a deposed leader's late calls are refused. The
others keep asking, and one takes over when the lease lapses; a worker that stops gives
its lease up, so another takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import redis

from system.client import AsyncClient
from system.config import WorkerSettings
from system.core import ops
from system.worker.retry import OutageLog

log = logging.getLogger("taskq.worker")
REAP_LIMIT = 1000
PROMOTE_LIMIT = 1000


def _now_ms() -> int:
    return int(time.time() * 1000)


class Maintenance:
    def __init__(
        self,
        client: AsyncClient,
        queues: Sequence[str],
        worker_id: str,
        settings: WorkerSettings,
        stop: asyncio.Event,
    ) -> None:
        self.client = client
        self.queues = queues
        self.worker_id = worker_id
        self.ws = settings
        self._stop = stop  # set: the loop ends between rounds
        self._leading: dict[str, int] = {}  # queue -> leader token (0: another worker leads)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def run(self) -> None:
        interval = self.ws.scheduler_interval_seconds
        leader_ms = int(self.ws.leader_lease_seconds * 1000)
        next_reap: dict[str, float] = {}
        outage = OutageLog(log, "maintenance")
        while not self._stop.is_set():
            try:
                for queue in self.queues:
                    token = await self.client.run(ops.lead(queue, self.worker_id, leader_ms))
                    if self._leading.get(queue) != token:
                        self._leading[queue] = token
                        if token:
                            log.info("leading maintenance of %s (token %d)", queue, token)
                    if token:
                        await self._maintain(queue, token, next_reap)
                outage.ok()
            except redis.RedisError as exc:  # Redis away: the next round tries again
                outage.failed(exc)
            except Exception:
                log.exception("maintenance failed; will retry")
            await self._pause(interval)
        for queue, token in self._leading.items():
            if token:  # let another worker take over now rather than after the lease
                with contextlib.suppress(Exception):
                    await self.client.run(ops.lead(queue, self.worker_id, 0))

    async def _maintain(self, queue: str, token: int, next_reap: dict[str, float]) -> None:
        await self.client.run(ops.promote(queue, _now_ms(), PROMOTE_LIMIT, token))
        if time.monotonic() < next_reap.get(queue, 0.0):
            return
        next_reap[queue] = time.monotonic() + self.ws.reap_interval_seconds
        ttl = self.client.result_ttl_ms
        dead_after_ms = int(self.ws.dead_after_seconds * 1000)
        call = ops.reap(queue, _now_ms(), REAP_LIMIT, ttl, token, dead_after_ms)
        reaped = await self.client.run(call)
        if reaped.workers_lost:
            log.warning(
                "%d worker(s) of %s stopped beating: redelivering", reaped.workers_lost, queue
            )
        if reaped.requeued or reaped.dead_lettered:
            log.warning("reclaimed expired leases in %s: %s", queue, reaped)

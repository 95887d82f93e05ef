"""Batches task completions: one ``complete`` script call records many outcomes.

Handlers add completions as they finish; one flusher sends whatever accumulated while the
previous call was in flight. Under load that makes batches large (few round trips); when
idle a completion goes out at once (no added latency).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import redis

from system.client import AsyncClient
from system.core import ops
from system.core.ops import CompleteReply, Completion
from system.worker.retry import Reconnect

MAX_BATCH = 500
log = logging.getLogger("taskq.worker")
Recorded = Callable[[str, Sequence[Completion], Sequence[CompleteReply]], None]


class CompletionBuffer:
    def __init__(self, client: AsyncClient, on_recorded: Recorded) -> None:
        self._client = client
        self._on_recorded = on_recorded
        self._pending: dict[str, list[Completion]] = {}
        self._wakeup = asyncio.Event()
        self._closing = False

    def add(self, queue: str, completion: Completion) -> None:
        self._pending.setdefault(queue, []).append(completion)
        self._wakeup.set()

    def __len__(self) -> int:
        return sum(len(v) for v in self._pending.values())

    async def run(self) -> None:
        """Flush until ``close()`` and nothing is left. Never drops a taken batch: a
        batch leaves the buffer only once its call returned. While Redis is unreachable
        the batches wait and are retried with backoff (the buffer stays small: a worker
        that cannot reach Redis claims nothing new)."""
        reconnect = Reconnect()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self._flush_once()
            except redis.RedisError as exc:
                if reconnect.failures == 0:
                    log.warning("recording %d outcome(s) failed (%s); retrying", len(self), exc)
                await asyncio.sleep(reconnect.next_delay())
                self._wakeup.set()
                continue
            reconnect.reset()
            if self._closing and not self._pending:
                return

    async def _flush_once(self) -> None:
        for queue in list(self._pending):
            items = self._pending.get(queue, [])
            while items:
                batch = items[:MAX_BATCH]
                keep = self._client.retention
                call = ops.complete(queue, int(time.time() * 1000), keep, batch)
                replies = await self._client.run(call)
                del items[: len(batch)]
                self._on_recorded(queue, batch, replies)
            self._pending.pop(queue, None)

    def close(self) -> None:
        self._closing = True
        self._wakeup.set()

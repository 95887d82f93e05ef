"""Which queues exist, as the API checks them: an operation on a queue that does not exist
is 404 (it must not create keys listed nowhere, as pausing one did), and a submit that
would create a queue beyond ``max_queues`` is 409 (each queue keeps keys, a registry
entry and metric series for good).

A queue exists once it is in the registry of queues (``taskq:queues``), where every
client puts a queue before its first task. Queues are never removed, so names found once
are remembered; the rest cost one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable

from system.api.problems import QueueNotFound, TooManyQueues
from system.client import AsyncClient


class KnownQueues:
    def __init__(self, max_queues: int) -> None:
        self.max_queues = max_queues
        self._known: set[str] = set()

    async def _unknown(self, client: AsyncClient, queues: Iterable[str]) -> tuple[list[str], int]:
        """The queues that do not exist, and how many do."""
        asked = sorted(set(queues) - self._known)
        if not asked:
            return [], 0
        flags, count = await client.known_queues(asked)
        self._known.update(q for q, exists in zip(asked, flags, strict=True) if exists)
        return [q for q, exists in zip(asked, flags, strict=True) if not exists], count

    async def require(self, client: AsyncClient, queue: str) -> None:
        """``QueueNotFound`` unless the queue exists."""
        missing, _ = await self._unknown(client, [queue])
        if missing:
            raise QueueNotFound(queue)

    async def admit(self, client: AsyncClient, queues: Iterable[str]) -> None:
        """``TooManyQueues`` if submitting to ``queues`` would create more than allowed.
        (Concurrent submits to new queues may each pass: the bound can be exceeded by
        the number of such submits in flight, not more.)"""
        missing, count = await self._unknown(client, queues)
        if missing and count + len(missing) > self.max_queues:
            raise TooManyQueues(missing, count, self.max_queues)

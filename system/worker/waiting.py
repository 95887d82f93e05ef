"""One blocking wait on wake-up lists that a stop request ends early; shared by the claim
loop (task wake-ups) and the maintenance loop (leader wake-ups)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis


async def blpop_or_stop(
    client: Any, keys: Sequence[str], timeout: float, stop: asyncio.Event
) -> str | None:
    """BLPOP on ``keys`` for up to ``timeout`` seconds, or until ``stop`` is set. The key
    a token was popped from, else None. A Redis error is raised."""
    blpop = asyncio.ensure_future(client.blpop(list(keys), timeout=timeout))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait([blpop, stopped], return_when=asyncio.FIRST_COMPLETED)
    for fut in (blpop, stopped):
        if not fut.done():
            fut.cancel()
    results = await asyncio.gather(blpop, stopped, return_exceptions=True)
    popped: Any = results[0]
    if isinstance(popped, redis.RedisError):
        raise popped
    if isinstance(popped, list | tuple) and popped:
        return str(popped[0])
    return None

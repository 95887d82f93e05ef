"""A wait longer than the connection's reply timeout blocks in steps, so it is not taken
for a dead connection (redis-py's default reply timeout is 5 s; the API's long polls use
that default)."""

from __future__ import annotations

import asyncio
import time

import redis
import redis.asyncio

from system.client import AsyncClient, Client
from system.core.submission import TaskRequest


def test_sync_wait_outlasts_the_reply_timeout(redis_url: str, queue_name: str) -> None:
    conn = redis.Redis.from_url(redis_url, socket_timeout=1.0, decode_responses=True)
    with Client(conn) as client:
        sub = client.submit("echo", {"n": 1}, queue=queue_name)
        start = time.monotonic()
        record = client.wait(sub.id, 2.5)  # 2.5 x the reply timeout, nobody to run it
        assert record.state == "queued"
        assert 2.4 <= time.monotonic() - start < 4
    conn.close()


def test_async_wait_outlasts_the_reply_timeout(redis_url: str, queue_name: str) -> None:
    async def main() -> float:
        conn = redis.asyncio.Redis.from_url(redis_url, socket_timeout=1.0, decode_responses=True)
        async with AsyncClient(conn) as client:
            (sub,) = await client.submit_many([TaskRequest("echo", {"n": 1}, queue=queue_name)])
            start = time.monotonic()
            record = await client.wait(sub.id, 2.5)
            assert record.state == "queued"
            elapsed = time.monotonic() - start
        await conn.aclose()
        return elapsed

    assert 2.4 <= asyncio.run(main()) < 4

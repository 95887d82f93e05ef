"""Client behaviour that the script tests do not cover: the asyncio client, and the
start-up check of the Redis configuration."""

from __future__ import annotations

import asyncio

import pytest

from system.client import RATE_BUCKET_MS, AsyncClient, Client, finished_rate
from system.core.errors import TaskNotFound, UnsafeRedisConfig
from system.core.submission import TaskRequest
from system.core.task import TaskState
from system.redis_server import RedisServer


def test_async_client_submit_get_cancel(redis_url: str, queue_name: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(redis_url) as client:
            one = await client.submit("echo", 1, queue=queue_name, priority=7)
            many = await client.submit_many(
                [
                    TaskRequest("echo", i, queue=queue_name, idempotency_key=f"k{i % 2}")
                    for i in range(4)
                ]
            )
            assert [s.created for s in many] == [True, True, False, False]
            assert many[2].id == many[0].id
            assert (await client.get(one.id)).priority == 7
            assert (await client.cancel(one.id)).code == 1
            assert (await client.get(one.id)).state is TaskState.CANCELLED
            assert (await client.stats(queue_name)).queued == 2
            assert queue_name in await client.queues()
            waited = await client.wait(many[0].id, 0.1)  # nobody runs it: times out
            assert waited.state is TaskState.QUEUED
            with pytest.raises(TaskNotFound):
                await client.get(f"{queue_name}.missing")

    asyncio.run(scenario())


def test_refuses_a_redis_that_may_evict_keys() -> None:
    with RedisServer(extra_args=["--maxmemory-policy", "allkeys-lru"]) as server:
        with pytest.raises(UnsafeRedisConfig, match=r"allkeys-lru.*noeviction"):
            Client(server.url)

        async def connect() -> None:
            await AsyncClient(server.url).connect()

        with pytest.raises(UnsafeRedisConfig):
            asyncio.run(connect())


def test_finished_rate_counts_the_last_minute_of_buckets() -> None:
    now = 1_000 * RATE_BUCKET_MS + 5_000  # 5 s into bucket 1000
    buckets = {"1000": "10", "999": "20", "995": "30", "994": "1000", "1001": "7"}
    # Buckets 995..1000 are in the window (55 s); 994 is too old, 1001 is in the future.
    assert finished_rate(buckets, now) == 60 / 55
    assert finished_rate({}, now) == 0

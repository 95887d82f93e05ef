"""The asyncio client's pipelined connection for script calls (``system.client.async_lane``):
what redis-py's pool, parser and timeouts handled must still hold through it."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import redis
import redis.asyncio

from system.client import AsyncClient
from system.core.connection import connect_async
from system.core.keys import queue_keys
from system.redis_server import RedisServer


def test_concurrent_submits_share_one_connection_and_each_gets_its_own_reply(
    redis_url: str, queue_name: str
) -> None:
    """500 submits in flight at once: one connection carries them (not one per call),
    and each caller gets the id of the task that holds its own payload."""

    async def main() -> None:
        async with AsyncClient(redis_url) as client:
            # The first submit to a queue also registers it (one command, pooled).
            await client.submit("noop", "first", queue=queue_name)
            before = int((await client.redis.info("clients"))["connected_clients"])
            subs = await asyncio.gather(
                *(client.submit("noop", i, queue=queue_name) for i in range(500))
            )
            after = int((await client.redis.info("clients"))["connected_clients"])
            assert after == before  # INFO's connection, back in the pool, and the lane's
            assert len({s.id for s in subs}) == 500
            for i in (0, 1, 250, 499):
                assert (await client.get(subs[i].id)).payload == i
            assert (await client.stats(queue_name)).queued == 501

    asyncio.run(main())


def test_a_server_restart_between_submits_is_not_seen(own_server: RedisServer) -> None:
    """The lane's connection dies with the server and the new server has no scripts:
    the next submit reconnects (with the password) and loads the script again."""

    async def main() -> None:
        async with AsyncClient(own_server.url) as client:
            assert (await client.submit("noop", 1)).created
            own_server.restart()
            await asyncio.sleep(0.2)  # the reader sees the connection close
            sub = await client.submit("noop", 2)
            assert sub.created
            assert (await client.get(sub.id)).payload == 2

    asyncio.run(main())


def test_a_flushed_script_cache_is_reloaded(redis_url: str, queue_name: str) -> None:
    async def main() -> None:
        async with AsyncClient(redis_url) as client:
            await client.submit("noop", 1, queue=queue_name)
            await client.redis.script_flush()
            assert (await client.submit("noop", 2, queue=queue_name)).created
            assert (await client.stats(queue_name)).queued == 2

    asyncio.run(main())


def test_error_replies_are_redis_pys_exceptions_and_the_lane_goes_on(
    redis_url: str, queue_name: str
) -> None:
    """A script's error is raised as redis-py would raise it, to its caller only: the
    calls sent with it in the same write get their own replies."""

    async def main() -> None:
        async with AsyncClient(redis_url) as client:
            broken = queue_name + "-broken"
            await client.redis.set(queue_keys(broken).meta, "not a hash")  # HINCRBY fails
            results = await asyncio.gather(
                client.submit("noop", 1, queue=queue_name),
                client.submit("noop", 2, queue=broken),
                client.submit("noop", 3, queue=queue_name),
                return_exceptions=True,
            )
            assert isinstance(results[1], redis.ResponseError)
            assert "WRONGTYPE" in str(results[1])
            assert [r.created for r in (results[0], results[2])] == [True, True]  # type: ignore[union-attr]
            assert (await client.stats(queue_name)).queued == 2

    asyncio.run(main())


def test_a_cancelled_caller_does_not_shift_the_replies(redis_url: str, queue_name: str) -> None:
    async def main() -> None:
        async with AsyncClient(redis_url) as client:
            calls = [
                asyncio.ensure_future(client.submit("noop", i, queue=queue_name))
                for i in range(200)
            ]
            await asyncio.sleep(0)  # every call is queued; none answered yet
            for call in calls[::3]:
                call.cancel()
            done = await asyncio.gather(*calls, return_exceptions=True)
            for i, sub in enumerate(done):
                if isinstance(sub, BaseException):
                    continue
                assert (await client.get(sub.id)).payload == i
            assert (await client.submit("noop", "after", queue=queue_name)).created

    asyncio.run(main())


def test_a_server_that_stops_answering_fails_the_calls_within_the_reply_timeout(
    own_server: RedisServer,
) -> None:
    """The server is stopped (SIGSTOP) with calls in flight: each fails with redis-py's
    TimeoutError about the reply timeout after they were sent, not later; once the server
    goes on, the lane opens a new connection and every reply is the right one."""

    async def main() -> None:
        handle = connect_async(own_server.url, socket_timeout=0.5, retry=None)
        async with AsyncClient(handle) as client:
            assert (await client.submit("noop", 0)).created
            os.kill(own_server.pid, signal.SIGSTOP)
            started = time.monotonic()
            results = await asyncio.gather(
                *(client.submit("noop", i) for i in range(20)), return_exceptions=True
            )
            waited = time.monotonic() - started
            os.kill(own_server.pid, signal.SIGCONT)
            assert all(isinstance(r, redis.TimeoutError) for r in results), results
            assert 0.4 <= waited < 5  # 0.5 s, with room for a loaded machine
            subs = [await client.submit("noop", f"after-{i}") for i in range(5)]
            for i, sub in enumerate(subs):
                assert (await client.get(sub.id)).payload == f"after-{i}"
        await handle.aclose()

    asyncio.run(main())


def test_close_gives_the_connection_back_to_a_callers_pool(redis_url: str) -> None:
    async def main() -> None:
        handle = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            async with AsyncClient(handle) as client:
                await client.submit("noop", 1)
                assert len(handle.connection_pool._in_use_connections) == 1
            assert len(handle.connection_pool._in_use_connections) == 0
            assert await handle.ping()  # the caller's client still works
        finally:
            await handle.aclose()

    asyncio.run(main())


def test_calls_that_start_together_open_one_connection(redis_url: str, queue_name: str) -> None:
    """The first calls of a client, all at once: one of them opens the lane's connection,
    the others wait for it (the pool's other connections all go back after use)."""

    async def main() -> None:
        async with AsyncClient(redis_url) as client:
            await asyncio.gather(*(client.submit("noop", i, queue=queue_name) for i in range(50)))
            assert len(client.redis.connection_pool._in_use_connections) == 1
            assert (await client.stats(queue_name)).queued == 50

    asyncio.run(main())

"""The blocking client's kept connection for script calls (``system.client.lane``): what
redis-py's pool would have handled must still work through it."""

from __future__ import annotations

import threading

import pytest
import redis

from system.client import Client
from system.core.keys import queue_keys
from system.redis_server import RedisServer


def test_a_server_restart_between_submits_is_not_seen(own_server: RedisServer) -> None:
    """The kept connection is dead after the restart and the new server has no scripts:
    the next submit reconnects and loads the script, as redis-py's pool and Script do."""
    with Client(own_server.url) as client:
        assert client.submit("noop", 1).created
        own_server.restart()
        sub = client.submit("noop", 2)
        assert sub.created
        assert client.get(sub.id).payload == 2


def test_a_flushed_script_cache_is_reloaded(redis_url: str, queue_name: str) -> None:
    with Client(redis_url) as client:
        client.submit("noop", 1, queue=queue_name)
        client.redis.script_flush()
        assert client.submit("noop", 2, queue=queue_name).created
        assert client.stats(queue_name).queued == 2


def test_a_script_error_reaches_the_caller_and_the_lane_goes_on(
    redis_url: str, queue_name: str
) -> None:
    with Client(redis_url) as client:
        client.redis.set(queue_keys(queue_name).meta, "not a hash")  # HINCRBY will fail
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.submit("noop", 1, queue=queue_name)
        client.redis.delete(queue_keys(queue_name).meta)
        assert client.submit("noop", 2, queue=queue_name).created


def test_threads_sharing_a_client_each_get_their_own_reply(redis_url: str, queue_name: str) -> None:
    """One thread has the kept connection at a time; the others take the pool's."""
    ids: list[list[str]] = [[] for _ in range(4)]
    with Client(redis_url) as client:

        def submit_many(n: int) -> None:
            for i in range(200):
                ids[n].append(client.submit("noop", [n, i], queue=queue_name).id)

        threads = [threading.Thread(target=submit_many, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.stats(queue_name).queued == 800
        assert len({i for chunk in ids for i in chunk}) == 800
        # Each id came back to the thread that submitted it: its record holds its payload.
        for n in range(4):
            assert client.get(ids[n][-1]).payload == [n, 199]


def test_close_gives_the_connection_back_to_a_callers_pool(redis_url: str) -> None:
    handle = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with Client(handle) as client:
            client.submit("noop", 1)
            assert len(handle.connection_pool._in_use_connections) == 1
        assert len(handle.connection_pool._in_use_connections) == 0
        assert handle.ping()  # the caller's client still works
    finally:
        handle.close()

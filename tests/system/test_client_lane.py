"""The blocking client's kept connection for script calls (``system.client.lane``): what
redis-py's pool would have handled must still work through it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from system.client import Client
from system.client.plans import BULK_CHUNK
from system.core.keys import queue_keys
from system.core.submission import TaskRequest
from system.redis_server import RedisServer


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


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


def _requests(queue: str, n: int) -> list[TaskRequest]:
    """Mostly the usual options (sent as 3 fields), some not (sent as 8)."""
    out = []
    for i in range(n):
        if i % 7 == 3:
            out.append(TaskRequest("echo", i, queue=queue, priority=5, max_retries=9))
        elif i % 11 == 5:
            out.append(TaskRequest("echo", i, queue=queue, idempotency_key=f"k{i}"))
        elif i % 13 == 6:
            out.append(TaskRequest("echo", i, queue=queue, delay_seconds=60, timeout_seconds=2))
        else:
            out.append(TaskRequest("echo", {"i": i}, queue=queue))
    return out


def test_a_streamed_bulk_stores_what_one_by_one_submits_store(
    redis_url: str, queue_name: str
) -> None:
    """submit_many over several chunks (sent as one stream) writes the same records as
    submit of each request, in input order; a repeated idempotency key is a hit."""
    n = BULK_CHUNK * 2 + 17
    with Client(redis_url) as client:
        bulk = client.submit_many(_requests(queue_name, n))
        other = queue_name + "-single"
        single = [
            client.submit(r.task_type, r.payload, **_options(r, other)) for r in _requests(other, n)
        ]
        assert [s.state for s in bulk] == [s.state for s in single]
        assert all(s.created for s in bulk)
        for b, s in zip(bulk[:: n // 40], single[:: n // 40], strict=True):
            stored_b = client.redis.hgetall(queue_keys(queue_name).task(b.id))
            stored_s = client.redis.hgetall(queue_keys(other).task(s.id))
            for record in (stored_b, stored_s):
                record.pop("created_ms"), record.pop("eligible_ms", None)
            assert stored_b == stored_s
        again = client.submit_many(_requests(queue_name, 20))
        hits = [i for i, s in enumerate(again) if not s.created]
        assert hits == [5, 16] and again[5].id == bulk[5].id
        # The 18 others were created: 2 delayed (positions 6 and 19), 16 queued.
        mine, theirs = client.stats(queue_name), client.stats(other)
        assert (mine.queued, mine.scheduled) == (theirs.queued + 16, theirs.scheduled + 2)


def _options(r: TaskRequest, queue: str) -> dict[str, Any]:
    names = ("priority", "max_retries", "timeout_seconds", "delay_seconds", "idempotency_key")
    return {"queue": queue, **{k: getattr(r, k) for k in names}}


def test_a_streamed_bulk_reloads_a_flushed_script(redis_url: str, queue_name: str) -> None:
    with Client(redis_url) as client:
        client.submit_many(_requests(queue_name, 3))
        client.redis.script_flush()
        subs = client.submit_many(_requests(queue_name, BULK_CHUNK + 5))
        assert all(s.created for s in subs)
        assert len({s.id for s in subs}) == BULK_CHUNK + 5
        assert client.submit("noop", 1, queue=queue_name).created  # the lane still in step


def test_a_script_error_in_a_stream_is_raised_and_the_lane_goes_on(
    redis_url: str, queue_name: str
) -> None:
    with Client(redis_url) as client:
        client.redis.set(queue_keys(queue_name).meta, "not a hash")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            client.submit_many(_requests(queue_name, BULK_CHUNK + 5))
        client.redis.delete(queue_keys(queue_name).meta)
        assert len(client.submit_many(_requests(queue_name, 5))) == 5
        assert client.submit("noop", 1, queue=queue_name).created


def test_a_bulk_over_several_queues_keeps_the_input_order(redis_url: str, queue_name: str) -> None:
    queues = [queue_name + "-a", queue_name + "-b"]
    n = BULK_CHUNK + 300  # queue a gets more than one chunk
    reqs = [TaskRequest("echo", i, queue=queues[i % 3 == 0]) for i in range(n)]
    with Client(redis_url) as client:
        subs = client.submit_many(reqs)
        assert [s.id.rpartition(".")[0] for s in subs] == [r.queue for r in reqs]
        for i in (0, 1, n // 2, n - 1):
            assert client.get(subs[i].id).payload == i
        assert client.stats(queues[0]).queued + client.stats(queues[1]).queued == n

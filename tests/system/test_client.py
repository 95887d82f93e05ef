"""Both clients, one test body each: every operation against the real Redis, with the
round trips it makes; the two classes offer the same methods; the start-up check of the
Redis configuration."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
import redis

from system.client import RATE_BUCKET_MS, AsyncClient, Client, finished_rate
from system.client.plans import BULK_CHUNK, Plans, Streamed
from system.config import QueueSettings
from system.core import ops
from system.core.errors import InvalidSubmission, TaskNotFound, UnsafeRedisConfig
from system.core.keys import WORKERS, queue_keys, worker_key
from system.core.ops import KEEP_ALL, BreakerRules, Completion, Retention
from system.core.submission import TaskRequest, build_task
from system.core.task import TaskState
from system.redis_server import RedisServer


class Blocking:
    """An ``AsyncClient`` whose coroutine methods each run to their end on one event loop,
    so that one test body serves both clients."""

    def __init__(self, client: AsyncClient, runner: asyncio.Runner) -> None:
        self.wrapped = client
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.wrapped, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        return lambda *args, **kwargs: self._runner.run(attr(*args, **kwargs))


@pytest.fixture(params=["Client", "AsyncClient"])
def either(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Any]:
    settings = QueueSettings(result_ttl_seconds=600)
    if request.param == "Client":
        with Client(redis_url, settings) as client:
            yield client
        return
    with asyncio.Runner() as runner:
        client = runner.run(AsyncClient(redis_url, settings).connect())
        try:
            yield Blocking(client, runner)
        finally:
            runner.run(client.close())


@pytest.fixture
def round_trips(either: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Counts the client's round trips (each step of a plan is one) since the last call."""
    client = either.wrapped if isinstance(either, Blocking) else either
    send, steps = client._send, []

    async def counted_async(step: Any) -> Any:
        steps.append(step)
        return await send(step)

    def counted(step: Any) -> Any:
        steps.append(step)
        return send(step)

    monkeypatch.setattr(
        client, "_send", counted_async if isinstance(client, AsyncClient) else counted
    )

    def taken() -> int:
        n = len(steps)
        steps.clear()
        return n

    return taken


def _public(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(getattr(cls, name)).replace(
            return_annotation=inspect.Signature.empty
        )
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def test_both_clients_offer_the_same_methods() -> None:
    sync, asyncio_, plans = _public(Client), _public(AsyncClient), _public(Plans)
    assert sync == asyncio_  # names, and each one's parameters
    assert plans == {name: sync[name] for name in plans}  # each runs its plan, as declared
    for name in sync:
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
    properties = {n for n in dir(Client) if isinstance(getattr(Client, n), property)}
    assert properties == {
        n for n in dir(AsyncClient) if isinstance(getattr(AsyncClient, n), property)
    }
    assert properties == {"settings", "result_ttl_ms", "idem_ttl_ms", "retention"}


def test_submit_get_list_cancel(
    either: Any, round_trips: Callable[[], int], queue_name: str
) -> None:
    one = either.submit("echo", 1, queue=queue_name, priority=7)
    assert round_trips() == 2  # a new queue is added to the registry first
    requests = [
        TaskRequest("echo", i, queue=queue_name, idempotency_key=f"k{i % 2}") for i in range(4)
    ]
    many = either.submit_many(requests)
    assert round_trips() == 1  # one script call per queue and chunk
    assert [s.created for s in many] == [True, True, False, False]
    assert many[2].id == many[0].id
    assert queue_name in either.queues()
    assert round_trips() == 1

    record = either.get(one.id)
    assert (record.priority, record.payload, record.state) == (7, 1, TaskState.QUEUED)
    listed = either.list_tasks(queue_name, "queued")
    assert [r.id for r in listed] == [one.id, many[0].id, many[1].id]  # priority, then FIFO
    assert round_trips() == 3  # get; list: the index, then the records in one pipeline
    assert [r.id for r in either.list_tasks(queue_name, "queued", offset=1, limit=1)] == [
        many[0].id
    ]
    with pytest.raises(InvalidSubmission, match="succeeded"):
        either.list_tasks(queue_name, "succeeded")

    assert either.cancel(one.id).code == 1
    assert either.get(one.id).state is TaskState.CANCELLED
    assert either.cancel(one.id).code == 0  # already ended
    with pytest.raises(TaskNotFound):
        either.get(f"{queue_name}.missing")
    with pytest.raises(TaskNotFound):
        either.cancel(f"{queue_name}.missing")


def test_stats_pause_resume(either: Any, round_trips: Callable[[], int], queue_name: str) -> None:
    empty = either.stats(queue_name, with_age=True)
    assert (empty.queued, empty.oldest_queued_age_seconds, empty.paused) == (0, None, False)
    assert round_trips() == 1  # nothing queued: no oldest task to read
    either.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(3)])
    either.submit("echo", 0, queue=queue_name, delay_seconds=60)
    either.pause(queue_name)
    round_trips()
    stats = either.stats(queue_name)
    assert round_trips() == 1
    assert (stats.queued, stats.scheduled, stats.running, stats.dead) == (3, 1, 0, 0)
    assert stats.paused and stats.oldest_queued_age_seconds is None
    aged = either.stats(queue_name, with_age=True)
    assert round_trips() == 3  # and the oldest queued task's id, then its record
    assert aged.oldest_queued_age_seconds is not None and aged.oldest_queued_age_seconds >= 0
    either.resume(queue_name)
    assert round_trips() == 1
    assert not either.stats(queue_name).paused


def test_wait(either: Any, round_trips: Callable[[], int], redis_url: str, queue_name: str) -> None:
    sub = either.submit("echo", 1, queue=queue_name)
    round_trips()
    assert either.wait(sub.id, 0.1).state is TaskState.QUEUED  # nobody runs it: times out
    assert round_trips() == 3  # register the waiter, one blocking read, the record

    def finish() -> None:  # a worker's part, from another connection
        with Client(redis_url) as worker:
            (task,) = worker.run(ops.claim(queue_name, int(time.time() * 1000), 5000, 1, "w"))
            done = Completion(task.id, task.token, "succeeded", b"2")
            worker.run(
                ops.complete(queue_name, int(time.time() * 1000), Retention(ttl_ms=600_000), [done])
            )

    timer = threading.Timer(0.3, finish)
    timer.start()
    start = time.monotonic()
    record = either.wait(sub.id, 30)
    timer.join()
    assert (record.state, record.result) == (TaskState.SUCCEEDED, 2)
    assert time.monotonic() - start < 10  # woken by the completion, not the timeout
    round_trips()
    assert either.wait(sub.id, 30).state is TaskState.SUCCEEDED  # ended: no blocking read
    assert round_trips() == 2
    with pytest.raises(TaskNotFound):
        either.wait(f"{queue_name}.missing", 0.1)


def test_dead_letters_and_requeue(
    either: Any, round_trips: Callable[[], int], queue_name: str
) -> None:
    subs = either.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(2)])
    now = int(time.time() * 1000)
    for i, task in enumerate(either.run(ops.claim(queue_name, now, 5000, 2, "w"))):
        assert either.run(ops.fail(task.id, task.token, now + i, "E", "", -1, KEEP_ALL)) == 2
    round_trips()
    dead = either.dead_letters(queue_name)
    assert [r.id for r in dead] == [s.id for s in subs]
    assert {r.state for r in dead} == {TaskState.FAILED}
    assert round_trips() == 3  # the index, then each record
    assert either.requeue_dead(queue_name, [subs[1].id]) == [subs[1].id]
    assert either.requeue_dead(queue_name) == [subs[0].id]
    assert round_trips() == 2
    assert either.dead_letters(queue_name) == []
    assert either.stats(queue_name).queued == 2


def test_breakers(either: Any, round_trips: Callable[[], int], queue_name: str) -> None:
    assert either.breakers(queue_name) == []
    rules = BreakerRules(window_ms=60_000, min_calls=2, failure_ratio=0.5, probes=1, open_ms=5000)
    now = int(time.time() * 1000)
    for ok in (False, False):
        either.run(ops.breaker_record(queue_name, "payments", now, ok, rules))
    either.run(ops.breaker_record(queue_name, "mail", now, True, rules))
    round_trips()
    mail, payments = either.breakers(queue_name)
    assert round_trips() == 2  # the task types, then every breaker in one pipeline
    assert (mail.task_type, mail.state, mail.window_calls, mail.opened_ms) == (
        "mail",
        "closed",
        1,
        None,
    )
    assert (payments.task_type, payments.state, payments.opens) == ("payments", "open", 1)
    assert payments.opened_ms == now


def test_workers(
    either: Any, round_trips: Callable[[], int], redis_client: redis.Redis, queue_name: str
) -> None:
    """A worker registered as its heartbeat does it, and removed afterwards (the registry
    of workers is shared by every test of the session)."""
    worker_id, now = f"w-{queue_name}", int(time.time() * 1000)
    info = {
        "id": worker_id,
        "host": "h",
        "pid": 42,
        "queues": f"{queue_name},b",
        "concurrency": 8,
        "in_flight": 1,
        "processed": 5,
        "failed": 2,
        "started_ms": now - 10,
        "heartbeat_ms": now,
    }
    redis_client.zadd(WORKERS, {worker_id: now})
    redis_client.hset(worker_key(worker_id), mapping=info)
    try:
        workers = either.workers()
        assert round_trips() == 1 + len(workers)  # the registry, then each worker's entry
        (mine,) = [w for w in workers if w.id == worker_id]
        assert (mine.host, mine.pid, mine.queues) == ("h", 42, [queue_name, "b"])
        assert (mine.concurrency, mine.in_flight, mine.processed, mine.failed) == (8, 1, 5, 2)
        assert (mine.started_ms, mine.heartbeat_ms) == (now - 10, now)
    finally:
        redis_client.zrem(WORKERS, worker_id)
        redis_client.delete(worker_key(worker_id))


def test_refuses_a_redis_that_may_evict_keys() -> None:
    with RedisServer(extra_args=["--maxmemory-policy", "allkeys-lru"]) as server:
        with pytest.raises(UnsafeRedisConfig, match=r"allkeys-lru.*noeviction"):
            Client(server.url)
        with Client(server.url, check=False) as unchecked:
            assert unchecked.connect() is unchecked  # told not to check: it does not

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


def test_stats_and_breakers_of_many_queues_in_few_round_trips(
    either: Any, round_trips: Callable[[], int]
) -> None:
    queues = [f"many{uuid.uuid4().hex[:8]}" for _ in range(60)]
    either.submit_many([TaskRequest("echo", i, queue=q) for i, q in enumerate(queues[::2])])
    round_trips()
    many = either.stats_many(queues, with_age=True)
    assert round_trips() == 3  # depths; oldest task of each non-empty queue; its record
    assert [s.queued for s in many] == [1, 0] * 30
    assert all((s.oldest_queued_age_seconds is None) == (s.queued == 0) for s in many)
    one = either.stats(queues[0], with_age=True)
    assert (one.queued, one.counters) == (many[0].queued, many[0].counters)
    round_trips()
    assert either.breakers_many(queues) == [[]] * 60
    assert round_trips() == 1  # the sets of breakers; none to read


# submit_many: its chunks are sent as one stream by both clients (the blocking one on its
# lane, the asyncio one on a connection of its pool), with the same outcomes.


def _requests(queue: str, n: int) -> list[TaskRequest]:
    """Mostly the usual options (sent as 3 arguments), some not (their options besides)."""
    out = []
    for i in range(n):
        if i % 7 == 3:
            out.append(TaskRequest("echo", i, queue=queue, priority=5, max_retries=9))
        elif i % 11 == 5:
            out.append(TaskRequest("echo", i, queue=queue, idempotency_key=f"k{i}"))
        elif i % 13 == 6:
            out.append(TaskRequest("echo", i, queue=queue, delay_seconds=60, timeout_seconds=2))
        elif i % 17 == 8:
            out.append(TaskRequest("echo", None, queue=queue))  # JSON null: still usual
        else:
            out.append(TaskRequest("echo", {"i": i, "é": [1.5, None]}, queue=queue))
    return out


def _options(r: TaskRequest, queue: str) -> dict[str, Any]:
    names = ("priority", "max_retries", "timeout_seconds", "delay_seconds", "idempotency_key")
    return {"queue": queue, **{k: getattr(r, k) for k in names}}


def test_a_streamed_bulk_stores_what_one_by_one_submits_store(
    either: Any, round_trips: Callable[[], int], redis_url: str, queue_name: str
) -> None:
    """submit_many over several chunks (one step: a stream) writes the same records as
    submit of each request, in input order; a repeated idempotency key is a hit."""
    n = BULK_CHUNK * 2 + 17
    bulk = either.submit_many(_requests(queue_name, n))
    assert round_trips() == 2  # the new queue into the registry, then the stream
    other = queue_name + "-single"
    single = [
        either.submit(r.task_type, r.payload, **_options(r, other)) for r in _requests(other, n)
    ]
    assert [s.state for s in bulk] == [s.state for s in single]
    assert all(s.created for s in bulk)
    assert [s.id.rpartition(".")[0] for s in bulk] == [queue_name] * n
    assert len({s.id for s in bulk}) == n
    with redis.Redis.from_url(redis_url, decode_responses=True) as raw:
        for b, s in zip(bulk, single, strict=True):
            stored_b = raw.hgetall(queue_keys(queue_name).task(b.id))
            stored_s = raw.hgetall(queue_keys(other).task(s.id))
            for record in (stored_b, stored_s):
                record.pop("created_ms"), record.pop("eligible_ms", None)
            assert stored_b == stored_s
    round_trips()
    again = either.submit_many(_requests(queue_name, 20))
    assert round_trips() == 1
    hits = [i for i, s in enumerate(again) if not s.created]
    assert hits == [5, 16] and again[5].id == bulk[5].id
    # The 18 others were created: 2 delayed (positions 6 and 19), 16 queued.
    mine, theirs = either.stats(queue_name), either.stats(other)
    assert (mine.queued, mine.scheduled) == (theirs.queued + 16, theirs.scheduled + 2)
    # FIFO within a priority, across chunks: the usual tasks are claimed in input order.
    reqs = _requests(queue_name, n)
    fifo = [
        s.id for r, s in zip(reqs, bulk, strict=True) if (r.priority, r.delay_seconds) == (0, None)
    ]
    claimed = either.run(ops.claim(queue_name, int(time.time() * 1000), 5000, 2 * n, "w"))
    assert [t.id for t in claimed if t.id in set(fifo)] == fifo


def test_a_streamed_bulk_reloads_a_flushed_script(
    either: Any, redis_client: redis.Redis, queue_name: str
) -> None:
    either.submit_many(_requests(queue_name, 3))
    redis_client.script_flush()
    subs = either.submit_many(_requests(queue_name, BULK_CHUNK + 5))
    assert all(s.created for s in subs)
    assert len({s.id for s in subs}) == BULK_CHUNK + 5
    assert either.stats(queue_name).queued + either.stats(queue_name).scheduled == BULK_CHUNK + 8
    assert either.submit("noop", 1, queue=queue_name).created  # the connection still in step


def test_a_script_error_in_a_stream_is_raised_and_the_client_goes_on(
    either: Any, redis_client: redis.Redis, queue_name: str
) -> None:
    redis_client.set(queue_keys(queue_name).meta, "not a hash")  # HINCRBY fails
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        either.submit_many(_requests(queue_name, BULK_CHUNK + 5))
    redis_client.delete(queue_keys(queue_name).meta)
    assert len(either.submit_many(_requests(queue_name, 5))) == 5
    assert either.submit("noop", 1, queue=queue_name).created


def test_an_error_while_a_stream_is_made_closes_its_connection(
    either: Any, queue_name: str
) -> None:
    """What was sent before the error ran; the connection, with replies left unread on it,
    is closed, and the client goes on."""
    settings = QueueSettings()

    def calls() -> Iterator[ops.Call[Any]]:
        task = build_task(TaskRequest("echo", 1, queue=queue_name), settings)
        yield ops.submit(task, 1000)
        raise RuntimeError("made badly")

    with pytest.raises(RuntimeError, match="made badly"):
        either._send(Streamed(calls()))
    assert either.stats(queue_name).queued == 1
    assert len(either.submit_many(_requests(queue_name, 5))) == 5


def test_a_bulk_over_several_queues_keeps_the_input_order(either: Any, queue_name: str) -> None:
    queues = [queue_name + "-a", queue_name + "-b"]
    n = BULK_CHUNK + 300  # queue a gets more than one chunk
    reqs = [TaskRequest("echo", i, queue=queues[i % 3 == 0]) for i in range(n)]
    subs = either.submit_many(reqs)
    assert [s.id.rpartition(".")[0] for s in subs] == [r.queue for r in reqs]
    for i in (0, 1, n // 2, n - 1):
        assert either.get(subs[i].id).payload == i
    assert either.stats(queues[0]).queued + either.stats(queues[1]).queued == n


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (TaskRequest("echo", 1, priority=999), "priority"),
        (TaskRequest("echo", {1, 2}), "not JSON-serialisable"),
        (TaskRequest("echo", [1, float("nan")]), "NaN"),
        (TaskRequest("x" * 201, 1), "task_type"),
        (TaskRequest("", 1), "task_type"),
        (TaskRequest("echo", "x" * 2000), "over the limit"),
        (TaskRequest("echo", 1, queue="bad queue"), "queue"),
        (TaskRequest("echo", 1, max_retries=-1), "max_retries"),
        (TaskRequest("echo", 1, delay_seconds=1, eta=1.0), "not both"),
    ],
)
def test_a_bulk_with_one_bad_request_writes_nothing(
    redis_url: str, queue_name: str, bad: TaskRequest, error: str
) -> None:
    """The error build_task gives for the request, before any chunk is sent (the bad one
    last, after a chunk's worth of good ones)."""
    settings = QueueSettings(max_payload_bytes=1000)
    with pytest.raises(InvalidSubmission, match=error) as expected:
        build_task(bad, settings)
    good = [TaskRequest("echo", i, queue=queue_name) for i in range(BULK_CHUNK + 1)]
    bad = replace(bad, queue=queue_name) if bad.queue == "default" else bad
    with Client(redis_url, settings) as client:
        with pytest.raises(InvalidSubmission) as raised:
            client.submit_many([*good, bad])
        assert str(raised.value) == str(expected.value)
        assert client.stats(queue_name).queued == 0
        assert queue_name not in client.queues()


def test_a_stream_sends_every_call_before_reading_a_reply(
    either: Any, redis_client: redis.Redis, queue_name: str
) -> None:
    """While Redis holds back writes, the calls are all made (and sent) at once: a driver
    that waited for each reply would make the second only when the pause ends."""
    settings, made = QueueSettings(), []

    def calls() -> Iterator[ops.Call[Any]]:
        for i in range(3):
            made.append(time.monotonic())
            yield ops.submit(build_task(TaskRequest("echo", i, queue=queue_name), settings), 1)

    start = time.monotonic()
    redis_client.execute_command("CLIENT", "PAUSE", 2000, "WRITE")
    subs = either._send(Streamed(calls()))
    assert [s.created for s in subs] == [True] * 3
    assert made[-1] - start < 1.5 < time.monotonic() - start  # made at once, run after

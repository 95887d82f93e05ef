"""Retention of ended tasks (BullMQ's removeOnComplete / removeOnFail): per queue, at most a
TTL and at most N finished records, dead-lettered ones separately; the stored count, the
start-up warning, and Redis memory reaching a plateau under sustained load."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from system.client import Client
from system.config import QueueSettings
from system.core import ops
from system.core.errors import TaskNotFound
from system.core.keys import queue_keys
from system.core.ops import Completion, Retention
from system.core.submission import TaskRequest
from system.metrics import RedisMemory
from system.redis_server import RedisServer
from system.retention import BYTES_PER_FINISHED_RECORD, footprint_warning, kept_records
from system.supervisor import TaskqProcess

from .conftest import lead

LEASE_MS = 10_000


def run_to_end(client: Client, queue: str, n: int, at_ms: int, keep: Retention) -> list[str]:
    """Submit n tasks and complete them all at ``at_ms`` (one script call)."""
    subs = client.submit_many([TaskRequest("echo", i, queue=queue) for i in range(n)])
    claimed = client.run(ops.claim(queue, at_ms, LEASE_MS, n, "w-test"))
    done = [Completion(t.id, t.token, "succeeded", b"1") for t in claimed]
    assert client.run(ops.complete(queue, at_ms, keep, done)) == [1] * n
    return [s.id for s in subs]


def test_at_most_n_finished_records_the_newest_kept(client: Client, queue_name: str) -> None:
    keep = Retention(ttl_ms=600_000, max_records=5)
    t0 = int(time.time() * 1000)
    first = run_to_end(client, queue_name, 4, t0, keep)
    second = run_to_end(client, queue_name, 4, t0 + 1, keep)
    # The 3 oldest went, record and index entry; the 5 newest stay, with their TTL.
    gone = 0
    for task_id in first:
        with contextlib.suppress(TaskNotFound):
            client.get(task_id)
            continue
        gone += 1
    assert gone == 3 and all(client.get(i).result == 1 for i in second)
    k = queue_keys(queue_name)
    assert client.redis.zcard(k.finished) == 5
    assert 0 < client.redis.pttl(k.task(second[0])) <= 600_000
    assert client.stats(queue_name).finished == 5


def test_the_ttl_comes_first_when_it_is_shorter(client: Client, queue_name: str) -> None:
    keep = Retention(ttl_ms=1000, max_records=100)
    t0 = int(time.time() * 1000)
    old = run_to_end(client, queue_name, 3, t0, keep)
    k = queue_keys(queue_name)
    assert client.redis.zcard(k.finished) == 3
    # Two seconds later (by the scripts' clock): the old ones are out of the index and
    # their records deleted, even before their own PEXPIRE fires.
    run_to_end(client, queue_name, 2, t0 + 2000, keep)
    assert client.redis.zcard(k.finished) == 2
    assert not any(client.redis.exists(k.task(i)) for i in old)


def test_dead_letters_have_their_own_bounds(client: Client, queue_name: str) -> None:
    keep = Retention(ttl_ms=600_000, max_records=1, dead_max_records=3)
    subs = client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(5)])
    t0 = int(time.time() * 1000)
    claimed = client.run(ops.claim(queue_name, t0, LEASE_MS, 5, "w-test"))
    for i, t in enumerate(claimed):
        assert client.run(ops.fail(t.id, t.token, t0 + i, "E", "", -1, keep)) == 2
    k = queue_keys(queue_name)
    assert client.redis.zrange(k.dead, 0, -1) == [s.id for s in subs[2:]]
    assert not client.redis.exists(k.task(subs[0].id)) and client.redis.exists(k.task(subs[4].id))
    assert client.redis.zcard(k.finished) == 0  # the finished bound did not touch them
    # By age: a dead letter older than dead_ttl_ms goes at the next dead-lettering (reap).
    late = client.submit("echo", 9, queue=queue_name, max_retries=0)
    (t,) = client.run(ops.claim(queue_name, t0 + 10, 1, 1, "w-test"))
    aged = Retention(dead_ttl_ms=5000, dead_max_records=3)
    reaped = client.run(ops.reap(queue_name, t0 + 5008, 100, aged, lead(client, queue_name)))
    assert reaped.dead_lettered == 1 and t.id == late.id
    # t0 + 5008 - 5000 = t0 + 8: the dead letters of t0 + 2..4 (older) go; late stays.
    assert client.redis.zrange(k.dead, 0, -1) == [late.id]


def test_cancelled_records_count_as_finished(client: Client, queue_name: str) -> None:
    keep = Retention(ttl_ms=600_000, max_records=2)
    subs = client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(3)])
    t0 = int(time.time() * 1000)
    for i, s in enumerate(subs):
        client.run(ops.cancel(s.id, t0 + i, keep, "no longer needed"))
    assert client.redis.zrange(queue_keys(queue_name).finished, 0, -1) == [s.id for s in subs[1:]]


def test_the_client_applies_its_settings(redis_url: str, queue_name: str) -> None:
    settings = QueueSettings(max_finished_records=7, dead_letter_max_records=8)
    with Client(redis_url, settings) as c:
        assert c.retention == Retention(86_400_000, 7, 0, 8)


def test_kept_records_and_the_start_up_warning() -> None:
    day = QueueSettings(result_ttl_seconds=86400, max_finished_records=0)
    assert kept_records(day, None) is None
    assert kept_records(day, 1000) == 86_400_000
    assert kept_records(QueueSettings(max_finished_records=50), 1000) == 50
    gb = RedisMemory(used_bytes=10**6, max_bytes=10**9)
    # 1,000 tasks/s for a day, no count bound: 86.4 M records, about 50 GB: refused to fit.
    warn = footprint_warning(day.model_copy(update={"expected_tasks_per_second": 1000}), 1, gb)
    assert warn is not None and "RESULT_TTL_SECONDS" in warn and "MAX_FINISHED" in warn
    # The default count bound (100,000 records, about 58 MB) fits in 1 GB.
    assert footprint_warning(QueueSettings(expected_tasks_per_second=1000), 1, gb) is None
    # ... but not 20 queues of it in 1 GB.
    assert footprint_warning(QueueSettings(), 20, gb) is not None
    unbounded = day.model_copy(update={"result_ttl_seconds": 0, "expected_tasks_per_second": 5})
    assert "unbounded" in (footprint_warning(unbounded, 1, gb) or "")


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


@pytest.mark.slow
def test_soak_redis_memory_reaches_a_plateau(tmp_path: Path) -> None:
    """Short form of bench/retention_soak.py: rounds of tasks through a real worker with a
    small retention; after the first rounds fill it, memory stops growing."""
    keep, per_round, rounds = 1000, 3000, 4
    env = {
        "TASKQ_QUEUE__MAX_FINISHED_RECORDS": str(keep),
        "TASKQ_WORKER__PROCESSES": "1",
    }
    with RedisServer(tmp_path / "redis") as server, Client(server.url) as client:
        r = redis.Redis.from_url(server.url)
        after: list[int] = []
        for i in range(rounds):
            client.submit_many([TaskRequest("echo", {"n": j}) for j in range(per_round)])
            log = tmp_path / f"worker-{i}.log"
            worker = TaskqProcess(server.url, ["--burst"], env=env, log_path=log)
            assert worker.wait(120) == 0, log.read_text()
            after.append(used_memory(r))
        stats = client.stats("default")
        assert stats.finished == keep and stats.counters["succeeded"] == per_round * rounds
        # Unbounded, every round would add per_round records (about 1.75 MB). Bounded, the
        # last rounds add (almost) nothing: under a tenth of that, whatever the allocator.
        unbounded_round = per_round * BYTES_PER_FINISHED_RECORD
        assert after[-1] - after[1] < 0.1 * unbounded_round, after
        assert r.dbsize() < keep + 20  # the records kept and a few queue keys


def test_a_starting_worker_logs_the_warning(
    start_worker: Callable[..., TaskqProcess], tmp_path: Path
) -> None:
    env = {
        "TASKQ_QUEUE__MAX_FINISHED_RECORDS": "0",
        "TASKQ_QUEUE__RESULT_TTL_SECONDS": "0",
        "TASKQ_QUEUE__EXPECTED_TASKS_PER_SECOND": "100",
    }
    worker = start_worker("--burst", "-Q", f"q-{uuid.uuid4().hex[:8]}", **env)
    assert worker.wait(60) == 0
    assert "retention is unbounded" in (tmp_path / "worker-0.log").read_text()

"""The same scripts on a real 3-master Redis Cluster: every key a script touches shares the
queue's hash tag, so each call lands on one node without CROSSSLOT errors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from system.client import AsyncClient, Client
from system.core import ops
from system.core.ops import KEEP_ALL, Completion
from system.core.submission import TaskRequest
from system.core.task import TaskState

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def cluster_url(cluster: Any) -> str:
    return cluster.url.replace("redis://", "redis+cluster://", 1)


def test_core_runs_on_a_cluster(redis_cluster: Any) -> None:
    queues = [f"cq{i}" for i in range(6)]  # spread over several slots and nodes
    with Client(cluster_url(redis_cluster)) as client:
        nodes = {client.redis.keyslot(f"{{{q}}}") for q in queues}
        assert len(nodes) > 1
        for q in queues:
            subs = client.submit_many([TaskRequest("echo", i, queue=q) for i in range(20)])
            one = client.submit("echo", "x", queue=q, idempotency_key="k", delay_seconds=0.01)
            now = int(time.time() * 1000)
            claimed = client.run(ops.claim(q, now, 5000, 20, "w"))
            assert [c.id for c in claimed] == [s.id for s in subs]
            beat = client.run(ops.extend(q, now, 5000, [(c.id, c.token) for c in claimed]))
            assert beat.lost == []
            done = [Completion(c.id, c.token, "succeeded", b"1") for c in claimed[:-2]]
            assert client.run(ops.complete(q, now, KEEP_ALL, done)) == [1] * 18
            a, b = claimed[-2:]
            assert client.run(ops.fail(a.id, a.token, now, "E", "", -1, KEEP_ALL)) == 2
            assert client.requeue_dead(q) == [a.id]
            assert client.run(ops.release(q, now, [(b.id, b.token)])) == 1
            token = client.run(ops.lead(q, "test-leader", 60_000))
            assert client.run(ops.promote(q, now + 1000, 100, token)).count == 1
            assert client.cancel(one.id).code == 1
            assert client.run(ops.reap(q, now + 10_000, 100, KEEP_ALL, token)).requeued == 0
            assert client.stats(q).queued == 2
            assert client.get(subs[0].id).state is TaskState.SUCCEEDED


def test_async_client_waits_on_a_cluster(redis_cluster: Any) -> None:
    async def scenario() -> TaskState:
        async with AsyncClient(cluster_url(redis_cluster)) as client:
            sub = await client.submit("echo", 1, queue="cwait")
            claimed = await client.run(ops.claim("cwait", int(time.time() * 1000), 5000, 1, "w"))
            waiter = asyncio.create_task(client.wait(sub.id, 5))
            await asyncio.sleep(0.05)
            c = claimed[0]
            done = [Completion(c.id, c.token, "succeeded", b"2")]
            await client.run(ops.complete("cwait", int(time.time() * 1000), KEEP_ALL, done))
            return (await waiter).state

    assert asyncio.run(scenario()) is TaskState.SUCCEEDED

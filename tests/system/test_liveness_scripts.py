"""The scripts behind liveness and idle waiting, against a real Redis: claim joins the
alive set, beat refreshes it, reap judges workers by it; the wake-ups that let idle
workers and an idle leader block instead of polling."""

from __future__ import annotations

import time

from system.client import Client
from system.core import ops
from system.core.keys import queue_keys
from system.core.ops import KEEP_ALL, CompleteReply, Completion
from system.core.submission import TaskRequest
from system.core.task import TaskState

from .conftest import lead

LEASE_MS = 60_000
WINDOW_MS = 2_000


def now() -> int:
    return int(time.time() * 1000)


def server_ms(client: Client) -> int:
    seconds, micros = client.redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_a_silent_worker_loses_its_tasks_before_their_lease_ends(
    client: Client, queue_name: str
) -> None:
    k = queue_keys(queue_name)
    client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(3)])
    (a,) = client.run(ops.claim(queue_name, now(), LEASE_MS, 1, "w-silent"))
    b, _ = client.run(ops.claim(queue_name, now(), LEASE_MS, 2, "w-alive"))
    assert set(client.redis.zrange(k.alive, 0, -1)) == {"w-silent", "w-alive"}
    token = lead(client, queue_name)
    reaped = client.run(ops.reap(queue_name, now(), 100, KEEP_ALL, token, WINDOW_MS))
    assert (reaped.requeued, reaped.workers_lost, reaped.beating) == (0, 0, 2)
    assert reaped.next_deadline_ms is not None and reaped.next_deadline_ms > now()
    # w-silent's last beat is older than the window; w-alive beats now.
    client.redis.zadd(k.alive, {"w-silent": server_ms(client) - WINDOW_MS - 1000})
    assert client.run(ops.beat(queue_name, "w-alive")) >= server_ms(client) - 1000
    reaped = client.run(ops.reap(queue_name, now(), 100, KEEP_ALL, token, WINDOW_MS))
    assert (reaped.requeued, reaped.workers_lost, reaped.beating) == (1, 1, 1)
    assert client.get(a.id).state is TaskState.QUEUED
    assert client.get(b.id).state is TaskState.RUNNING
    assert client.redis.zrange(k.alive, 0, -1) == ["w-alive"]
    counters = client.stats(queue_name).counters
    assert (counters["workers_lost"], counters["lease_expired"]) == (1, 1)
    # The silent worker comes back: its completion is refused and counted.
    late = Completion(a.id, a.token, "succeeded", b'"late"')
    assert client.run(ops.complete(queue_name, now(), KEEP_ALL, [late])) == [
        CompleteReply.STALE_LEASE
    ]
    assert client.stats(queue_name).counters["stale_rejected"] == 1


def test_an_expired_lease_of_a_beating_worker_is_kept(client: Client, queue_name: str) -> None:
    k = queue_keys(queue_name)
    client.submit("echo", 1, queue=queue_name)
    (t,) = client.run(ops.claim(queue_name, now(), 1_000, 1, "w-busy-loop"))
    token = lead(client, queue_name)
    later = now() + 5_000  # its lease ran out: its event loop renewed nothing
    reaped = client.run(ops.reap(queue_name, later, 100, KEEP_ALL, token, WINDOW_MS))
    assert (reaped.requeued, reaped.dead_lettered) == (0, 0)
    assert client.get(t.id).state is TaskState.RUNNING
    assert int(client.redis.zscore(k.running, t.id)) == later + WINDOW_MS  # looked at again
    assert "lease_expired" not in client.stats(queue_name).counters
    # Without the liveness window (leases alone decide), the same lease is reclaimed.
    reaped = client.run(ops.reap(queue_name, later + WINDOW_MS + 1, 100, KEEP_ALL, token))
    assert reaped.requeued == 1


def test_lead_or_wait_says_how_long_the_holders_lease_has_left(
    client: Client, queue_name: str
) -> None:
    mine = client.run(ops.lead_or_wait(queue_name, "a", 2_000))
    assert mine.token > 0 and mine.wait_ms == 0
    other = client.run(ops.lead_or_wait(queue_name, "b", 2_000))
    assert other.token == 0 and 1_000 < other.wait_ms <= 2_000
    # Giving it up leaves a token for a waiting worker, which then takes over at once.
    free = queue_keys(queue_name).leader_free
    assert client.redis.llen(free) == 0
    client.run(ops.lead_or_wait(queue_name, "a", 0))
    assert client.redis.lpop(free) == "1"
    assert client.run(ops.lead_or_wait(queue_name, "b", 2_000)).token > mine.token


def test_the_leader_is_woken_by_an_earlier_delayed_task_only(
    client: Client, queue_name: str
) -> None:
    wake = queue_keys(queue_name).leader_wake
    client.submit("echo", 1, queue=queue_name, delay_seconds=60)
    assert client.redis.lpop(wake) == "1"  # the first delayed task: the leader's sleep changes
    client.submit("echo", 2, queue=queue_name, delay_seconds=120)
    assert client.redis.llen(wake) == 0  # due after the earliest: its sleep still ends in time
    client.submit_many([TaskRequest("echo", 3, queue=queue_name, delay_seconds=30)])
    assert client.redis.lpop(wake) == "1"
    client.submit("echo", 4, queue=queue_name, delay_seconds=10)
    client.submit("echo", 5, queue=queue_name, delay_seconds=5)
    assert client.redis.llen(wake) == 1  # one token is enough


def test_a_claim_joining_the_alive_set_wakes_the_leader_and_one_that_leaves_work_wakes_a_worker(
    client: Client, queue_name: str
) -> None:
    k = queue_keys(queue_name)
    client.submit_many([TaskRequest("echo", i, queue=queue_name) for i in range(3)])
    client.redis.delete(k.wake, k.leader_wake)
    client.run(ops.claim(queue_name, now(), LEASE_MS, 1, "w1"))
    assert client.redis.llen(k.wake) == 1  # two left: another idle worker is woken
    assert client.redis.lpop(k.leader_wake) == "1"  # w1 joined: the leader checks on it
    client.redis.delete(k.wake)
    client.run(ops.claim(queue_name, now(), LEASE_MS, 5, "w1"))
    assert client.redis.llen(k.wake) == 0  # nothing left
    assert client.redis.llen(k.leader_wake) == 0  # w1 was already in the alive set

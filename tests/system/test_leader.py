"""Leader election for the queue's maintenance (promoting delayed tasks, reclaiming expired
leases): one leader at a time under a lease with a fencing token, a deposed leader's
calls refused, and a new leader within one lease period after the old one is killed."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from system.client import Client
from system.core import ops
from system.core.keys import queue_keys
from system.core.ops import KEEP_ALL
from system.core.task import TaskState
from system.supervisor import TaskqProcess

from .conftest import wait_until_finished

StartWorker = Callable[..., TaskqProcess]


def test_one_leader_at_a_time_and_old_tokens_are_refused(client: Client, queue_name: str) -> None:
    first = client.run(ops.lead(queue_name, "a", 300))
    assert first > 0
    assert client.run(ops.lead(queue_name, "b", 300)) == 0  # a leads
    assert client.run(ops.lead(queue_name, "a", 300)) == first  # renewed, same token
    client.submit("echo", 1, queue=queue_name, delay_seconds=0.05)
    time.sleep(0.4)  # a's lease lapses (a paused, say)
    second = client.run(ops.lead(queue_name, "b", 300))
    assert second > first
    # a still believes it leads: its calls change nothing...
    now = int(time.time() * 1000)
    assert client.run(ops.promote(queue_name, now, 100, first)).refused
    assert client.run(ops.reap(queue_name, now, 100, KEEP_ALL, first)).refused
    assert client.stats(queue_name).scheduled == 1
    # ...and the new leader's do.
    promoted = client.run(ops.promote(queue_name, now, 100, second))
    assert (promoted.count, promoted.refused) == (1, False)
    assert not client.run(ops.reap(queue_name, now, 100, KEEP_ALL, second)).refused
    # Giving the lease up lets another take it at once, with a new token.
    assert client.run(ops.lead(queue_name, "a", 0)) == 0  # not a's to give: no effect
    assert client.run(ops.lead(queue_name, "c", 300)) == 0
    assert client.run(ops.lead(queue_name, "b", 0)) == 0
    assert client.run(ops.lead(queue_name, "c", 300)) > second
    assert "leader_token" not in client.stats(queue_name).counters


def test_without_the_leaders_token_nothing_is_promoted_or_reaped(
    client: Client, queue_name: str
) -> None:
    client.submit("echo", 1, queue=queue_name, delay_seconds=0.01)
    later = int(time.time() * 1000) + 1000
    # Nobody leads: no token passes, not even the 0 that lead() gives a non-leader.
    assert client.run(ops.promote(queue_name, later, 100, 0)).refused
    assert client.run(ops.reap(queue_name, later, 100, KEEP_ALL, 0)).refused
    token = client.run(ops.lead(queue_name, "a", 60_000))
    assert client.run(ops.promote(queue_name, later, 100, token + 1)).refused
    assert client.stats(queue_name).scheduled == 1
    assert client.run(ops.promote(queue_name, later, 100, token)).count == 1


def test_killed_leader_is_replaced_within_one_lease(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    lease_s = 1.0  # FAST_ENV's TASKQ_WORKER__LEADER_LEASE_SECONDS
    workers = [start_worker("-Q", queue_name) for _ in range(3)]
    leader_key = queue_keys(queue_name).leader

    def holder() -> str | None:
        return client.redis.hget(leader_key, "holder")

    deadline = time.monotonic() + 10
    while holder() is None:
        assert time.monotonic() < deadline, "no worker took the lead"
        time.sleep(0.02)
    old = holder()
    assert old is not None
    (leader,) = [w for w in workers if f"-{w.pid}-" in old]
    leader.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    # A delayed task due right away needs a leader to be promoted.
    sub = client.submit("echo", "after", queue=queue_name, delay_seconds=0.01)
    while holder() in (None, old):
        assert time.monotonic() - killed_at < lease_s + 1.0, "no new leader within the lease"
        time.sleep(0.02)
    takeover = time.monotonic() - killed_at
    assert takeover <= lease_s + 0.5
    (rec,) = wait_until_finished(client, [sub.id], 10)
    assert rec.state is TaskState.SUCCEEDED


def test_graceful_stop_hands_the_lead_over_at_once(
    client: Client, queue_name: str, start_worker: StartWorker
) -> None:
    env = {"TASKQ_WORKER__LEADER_LEASE_SECONDS": "30"}  # a lapse would take 30 s
    first = start_worker("-Q", queue_name, **env)
    leader_key = queue_keys(queue_name).leader
    deadline = time.monotonic() + 10
    while client.redis.hget(leader_key, "holder") is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    second = start_worker("-Q", queue_name, **env)
    time.sleep(0.5)
    assert f"-{first.pid}-" in (client.redis.hget(leader_key, "holder") or "")
    first.stop(timeout_seconds=10)
    deadline = time.monotonic() + 3
    while f"-{second.pid}-" not in (client.redis.hget(leader_key, "holder") or ""):
        assert time.monotonic() < deadline, "the lead was not handed over"
        time.sleep(0.02)
